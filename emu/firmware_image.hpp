// The emulated device's firmware image format (documented in docs/EMULATED-DEVICE.md).
//
//   0x00  magic "CXLEMUFW" (8 bytes)
//   0x08  format version u16 (1)
//   0x0A  header size u16 (0x40)
//   0x0C  reserved u32 (0)
//   0x10  revision, 16 ASCII bytes, NUL-padded (what Get FW Info reports once installed)
//   0x20  payload length u64
//   0x28  CRC32 of the payload u32 (IEEE 802.3, as zlib computes it)
//   0x2C  CRC32 of header bytes 0x00..0x2B u32
//   0x30  reserved (16 bytes, 0)
//   0x40  payload, then zero padding up to a multiple of 128 bytes (Transfer FW moves whole
//         128-byte units)
//
// All integers little-endian. The device checks an image while it streams in (running CRC), so
// it never holds a whole image in memory; tests, benchmarks and the CLI build images with the
// helpers below.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"

namespace cxlmgr::emu {

inline constexpr size_t kFirmwareHeaderSize = 0x40;
inline constexpr size_t kFirmwareImageAlignment = 128;
inline constexpr uint16_t kFirmwareFormatVersion = 1;
inline constexpr size_t kFirmwareRevisionSize = 16;
inline constexpr std::array<uint8_t, 8> kFirmwareMagic = {'C', 'X', 'L', 'E', 'M', 'U', 'F', 'W'};
// The images a device takes (description key firmware.max_image_size): 64 MiB unless the
// description says otherwise, and never more than Transfer FW's offset field reaches (32 bits
// of 128-byte units, 512 GiB): no description can make a device hold a larger image.
inline constexpr uint64_t kDefaultMaxFirmwareImageSize = 64ull << 20;
inline constexpr uint64_t kLargestFirmwareImageSize =
    (uint64_t{UINT32_MAX} + 1) * kFirmwareImageAlignment;

// Table-driven CRC32 (reflected polynomial 0xEDB88320, slicing by eight).
class Crc32 {
public:
    void update(std::span<const uint8_t> bytes);
    [[nodiscard]] uint32_t value() const { return ~state_; }
    // The running state, so a computation can be saved and resumed (the device's state file).
    [[nodiscard]] uint32_t state() const { return state_; }
    static Crc32 resume(uint32_t state) {
        Crc32 c;
        c.state_ = state;
        return c;
    }

private:
    uint32_t state_ = 0xFFFFFFFFu;
};

uint32_t crc32(std::span<const uint8_t> bytes);

struct FirmwareImageHeader {
    uint16_t format_version = kFirmwareFormatVersion;
    std::string revision;
    uint64_t payload_length = 0;
    uint32_t payload_crc = 0;
};

// A revision is 1..16 printable ASCII characters. Check outside input with this before calling
// the builders, which treat an invalid revision as a caller bug.
Status check_firmware_revision(std::string_view revision);

// Header plus payload, rounded up to 128 bytes.
uint64_t firmware_image_size(uint64_t payload_length);

// Throws std::invalid_argument when check_firmware_revision() would fail.
std::array<uint8_t, kFirmwareHeaderSize> encode_firmware_header(std::string_view revision,
                                                                uint64_t payload_length,
                                                                uint32_t payload_crc);

// The whole image in memory. Throws std::invalid_argument for an invalid revision.
std::vector<uint8_t> build_firmware_image(std::string revision, std::span<const uint8_t> payload);

// A synthetic image of any size whose bytes are computed on demand, so benchmarks can stream a
// 64 MiB image without holding it. The payload is a deterministic function of `seed`.
class PatternFirmwareImage {
public:
    // Throws std::invalid_argument for an invalid revision. Computes the payload CRC once.
    PatternFirmwareImage(std::string revision, uint64_t payload_length, uint64_t seed = 0);

    [[nodiscard]] uint64_t size() const { return firmware_image_size(payload_length_); }
    [[nodiscard]] uint32_t payload_crc() const { return payload_crc_; }
    // Fills `out` with the image bytes at [offset, offset + out.size()); bytes past the end of
    // the image are a caller bug (std::out_of_range).
    void read(uint64_t offset, std::span<uint8_t> out) const;

private:
    void payload(uint64_t offset, std::span<uint8_t> out) const;

    uint64_t payload_length_;
    uint64_t seed_;
    uint32_t payload_crc_ = 0;
    std::array<uint8_t, kFirmwareHeaderSize> header_{};
};

// Checks an image fed to it in order, in pieces of any size, keeping only the header and a
// running CRC. Copyable, so a caller can keep the state before a piece and roll back to it.
class FirmwareImageVerifier {
public:
    // Everything the verifier keeps, so that a device can save a half-received image's check
    // and resume it in another process (the device's state file).
    struct Snapshot {
        std::array<uint8_t, kFirmwareHeaderSize> header_bytes{};
        uint64_t received = 0;
        uint32_t crc_state = 0;
    };
    [[nodiscard]] Snapshot snapshot() const { return {header_bytes_, received_, crc_.state()}; }
    static FirmwareImageVerifier resume(const Snapshot& snapshot);

    void feed(std::span<const uint8_t> bytes);
    [[nodiscard]] uint64_t received() const { return received_; }
    // The whole image's size as its header announces it, once a valid header has arrived.
    [[nodiscard]] std::optional<uint64_t> announced_size() const;
    // The header if the image is complete and intact; otherwise InvalidArgument saying why
    // (short image, bad magic, unknown version, header CRC, length mismatch, payload CRC).
    [[nodiscard]] Result<FirmwareImageHeader> finish() const;

private:
    void parse_header();

    std::array<uint8_t, kFirmwareHeaderSize> header_bytes_{};
    uint64_t received_ = 0;
    Crc32 crc_;
    FirmwareImageHeader header_;
    std::string header_error_;  // empty while the header is unknown or valid
};

}  // namespace cxlmgr::emu
