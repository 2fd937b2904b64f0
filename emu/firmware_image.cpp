#include "emu/firmware_image.hpp"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <stdexcept>

#include "emu/mailbox_defs.hpp"

namespace cxlmgr::emu {
namespace {

using CrcTables = std::array<std::array<uint32_t, 256>, 8>;

// Slicing by eight: table s maps a byte to its CRC contribution s bytes further on, so eight
// input bytes fold into the state with eight lookups instead of eight dependent steps. The
// benchmarks stream 64 MiB images through the device, so this matters.
constexpr CrcTables make_crc_tables() {
    CrcTables t{};
    for (uint32_t i = 0; i < 256; ++i) {
        uint32_t c = i;
        for (int k = 0; k < 8; ++k) {
            c = (c & 1u) != 0 ? (c >> 1) ^ 0xEDB88320u : c >> 1;
        }
        t[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; ++i) {
        for (size_t s = 1; s < 8; ++s) {
            t[s][i] = (t[s - 1][i] >> 8) ^ t[0][t[s - 1][i] & 0xFFu];
        }
    }
    return t;
}

constexpr CrcTables kCrcTables = make_crc_tables();

uint32_t load32(const uint8_t* p) {
    return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) |
           (static_cast<uint32_t>(p[2]) << 16) | (static_cast<uint32_t>(p[3]) << 24);
}

uint64_t splitmix64(uint64_t x) {
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

std::string hex32(uint32_t v) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "0x%08x", v);
    return buf;
}

constexpr size_t kOffVersion = 0x08;
constexpr size_t kOffHeaderSize = 0x0A;
constexpr size_t kOffRevision = 0x10;
constexpr size_t kOffPayloadLength = 0x20;
constexpr size_t kOffPayloadCrc = 0x28;
constexpr size_t kOffHeaderCrc = 0x2C;

}  // namespace

void Crc32::update(std::span<const uint8_t> bytes) {
    const auto& t = kCrcTables;
    const uint8_t* p = bytes.data();
    size_t n = bytes.size();
    uint32_t c = state_;
    while (n >= 8) {
        uint32_t lo = c ^ load32(p);
        uint32_t hi = load32(p + 4);
        c = t[7][lo & 0xFFu] ^ t[6][(lo >> 8) & 0xFFu] ^ t[5][(lo >> 16) & 0xFFu] ^ t[4][lo >> 24] ^
            t[3][hi & 0xFFu] ^ t[2][(hi >> 8) & 0xFFu] ^ t[1][(hi >> 16) & 0xFFu] ^ t[0][hi >> 24];
        p += 8;
        n -= 8;
    }
    while (n-- > 0) {
        c = (c >> 8) ^ t[0][(c ^ *p++) & 0xFFu];
    }
    state_ = c;
}

uint32_t crc32(std::span<const uint8_t> bytes) {
    Crc32 crc;
    crc.update(bytes);
    return crc.value();
}

Status check_firmware_revision(std::string_view revision) {
    if (revision.empty() || revision.size() > kFirmwareRevisionSize) {
        return Error(Errc::InvalidArgument, "firmware revision must be 1 to 16 characters");
    }
    for (char ch : revision) {
        if (ch < 0x20 || ch > 0x7E) {
            return Error(Errc::InvalidArgument, "firmware revision must be printable ASCII");
        }
    }
    return ok_status();
}

uint64_t firmware_image_size(uint64_t payload_length) {
    constexpr uint64_t kOverhead = kFirmwareHeaderSize + kFirmwareImageAlignment - 1;
    if (payload_length > UINT64_MAX - kOverhead) {
        return UINT64_MAX;  // no such image can exist; callers compare and find a mismatch
    }
    uint64_t raw = kFirmwareHeaderSize + payload_length;
    return (raw + kFirmwareImageAlignment - 1) / kFirmwareImageAlignment * kFirmwareImageAlignment;
}

std::array<uint8_t, kFirmwareHeaderSize> encode_firmware_header(std::string_view revision,
                                                                uint64_t payload_length,
                                                                uint32_t payload_crc) {
    if (auto st = check_firmware_revision(revision); !st.ok()) {
        throw std::invalid_argument(st.error().message);
    }
    std::array<uint8_t, kFirmwareHeaderSize> h{};
    std::copy(kFirmwareMagic.begin(), kFirmwareMagic.end(), h.begin());
    store_le(h, kOffVersion, kFirmwareFormatVersion, 2);
    store_le(h, kOffHeaderSize, kFirmwareHeaderSize, 2);
    std::copy(revision.begin(), revision.end(), h.begin() + kOffRevision);
    store_le(h, kOffPayloadLength, payload_length, 8);
    store_le(h, kOffPayloadCrc, payload_crc, 4);
    store_le(h, kOffHeaderCrc, crc32(std::span(h).first(kOffHeaderCrc)), 4);
    return h;
}

std::vector<uint8_t> build_firmware_image(std::string revision, std::span<const uint8_t> payload) {
    auto header = encode_firmware_header(revision, payload.size(), crc32(payload));
    std::vector<uint8_t> image(firmware_image_size(payload.size()), 0);
    std::copy(header.begin(), header.end(), image.begin());
    std::copy(payload.begin(), payload.end(), image.begin() + kFirmwareHeaderSize);
    return image;
}

PatternFirmwareImage::PatternFirmwareImage(std::string revision, uint64_t payload_length,
                                           uint64_t seed)
    : payload_length_(payload_length), seed_(seed) {
    if (auto st = check_firmware_revision(revision); !st.ok()) {
        throw std::invalid_argument(st.error().message);
    }
    Crc32 crc;
    std::vector<uint8_t> chunk(64 * 1024);
    for (uint64_t off = 0; off < payload_length_; off += chunk.size()) {
        auto piece =
            std::span(chunk).first(std::min<uint64_t>(chunk.size(), payload_length_ - off));
        payload(off, piece);
        crc.update(piece);
    }
    payload_crc_ = crc.value();
    header_ = encode_firmware_header(revision, payload_length_, payload_crc_);
}

void PatternFirmwareImage::payload(uint64_t offset, std::span<uint8_t> out) const {
    size_t i = 0;
    while (i < out.size()) {
        uint64_t pos = offset + i;
        uint64_t word = splitmix64(seed_ ^ (pos / 8));
        for (unsigned b = pos % 8; b < 8 && i < out.size(); ++b, ++i) {
            out[i] = static_cast<uint8_t>(word >> (8 * b));
        }
    }
}

void PatternFirmwareImage::read(uint64_t offset, std::span<uint8_t> out) const {
    if (offset > size() || out.size() > size() - offset) {
        throw std::out_of_range("PatternFirmwareImage::read past the end of the image");
    }
    std::fill(out.begin(), out.end(), uint8_t{0});
    // Header, payload and padding regions, each clipped to the requested window.
    uint64_t end = offset + out.size();
    for (uint64_t pos = offset; pos < std::min<uint64_t>(end, kFirmwareHeaderSize); ++pos) {
        out[pos - offset] = header_[pos];
    }
    uint64_t p_begin = std::max<uint64_t>(offset, kFirmwareHeaderSize);
    uint64_t p_end = std::min<uint64_t>(end, kFirmwareHeaderSize + payload_length_);
    if (p_begin < p_end) {
        payload(p_begin - kFirmwareHeaderSize, out.subspan(p_begin - offset, p_end - p_begin));
    }
}

FirmwareImageVerifier FirmwareImageVerifier::resume(const Snapshot& snapshot) {
    FirmwareImageVerifier v;
    v.header_bytes_ = snapshot.header_bytes;
    v.received_ = snapshot.received;
    v.crc_ = Crc32::resume(snapshot.crc_state);
    if (v.received_ >= kFirmwareHeaderSize) {
        v.parse_header();
    }
    return v;
}

std::optional<uint64_t> FirmwareImageVerifier::announced_size() const {
    if (received_ < kFirmwareHeaderSize || !header_error_.empty()) {
        return std::nullopt;
    }
    return firmware_image_size(header_.payload_length);
}

void FirmwareImageVerifier::feed(std::span<const uint8_t> bytes) {
    while (!bytes.empty()) {
        if (received_ < kFirmwareHeaderSize) {
            size_t n = std::min<size_t>(kFirmwareHeaderSize - received_, bytes.size());
            std::copy_n(bytes.begin(), n, header_bytes_.begin() + received_);
            received_ += n;
            bytes = bytes.subspan(n);
            if (received_ == kFirmwareHeaderSize) {
                parse_header();
            }
            continue;
        }
        uint64_t pos = received_ - kFirmwareHeaderSize;
        if (header_error_.empty() && pos < header_.payload_length) {
            size_t n =
                static_cast<size_t>(std::min<uint64_t>(header_.payload_length - pos, bytes.size()));
            crc_.update(bytes.first(n));
            received_ += n;
            bytes = bytes.subspan(n);
            continue;
        }
        received_ += bytes.size();  // padding, or anything after a header already known bad
        return;
    }
}

void FirmwareImageVerifier::parse_header() {
    const auto& h = header_bytes_;
    if (!std::equal(kFirmwareMagic.begin(), kFirmwareMagic.end(), h.begin())) {
        header_error_ = "bad magic";
        return;
    }
    header_.format_version = static_cast<uint16_t>(load_le(h, kOffVersion, 2));
    if (header_.format_version != kFirmwareFormatVersion ||
        load_le(h, kOffHeaderSize, 2) != kFirmwareHeaderSize) {
        header_error_ = "unsupported format version " + std::to_string(header_.format_version);
        return;
    }
    uint32_t want = static_cast<uint32_t>(load_le(h, kOffHeaderCrc, 4));
    uint32_t got = crc32(std::span(h).first(kOffHeaderCrc));
    if (want != got) {
        header_error_ = "header CRC32 " + hex32(got) + " does not match " + hex32(want);
        return;
    }
    const auto* rev = reinterpret_cast<const char*>(h.data() + kOffRevision);
    header_.revision.assign(rev, strnlen(rev, kFirmwareRevisionSize));
    header_.payload_length = load_le(h, kOffPayloadLength, 8);
    header_.payload_crc = static_cast<uint32_t>(load_le(h, kOffPayloadCrc, 4));
}

Result<FirmwareImageHeader> FirmwareImageVerifier::finish() const {
    auto fail = [](const std::string& why) {
        return Error(Errc::InvalidArgument, "firmware image: " + why);
    };
    if (received_ < kFirmwareHeaderSize) {
        return fail("only " + std::to_string(received_) + " bytes, shorter than the header");
    }
    if (!header_error_.empty()) {
        return fail(header_error_);
    }
    if (auto st = check_firmware_revision(header_.revision); !st.ok()) {
        return fail(st.error().message);
    }
    uint64_t expected = firmware_image_size(header_.payload_length);
    if (received_ != expected) {
        return fail(std::to_string(received_) + " bytes received, the header announces " +
                    std::to_string(expected));
    }
    if (crc_.value() != header_.payload_crc) {
        return fail("payload CRC32 " + hex32(crc_.value()) + " does not match the header's " +
                    hex32(header_.payload_crc));
    }
    return header_;
}

}  // namespace cxlmgr::emu
