// cxlmgr-mkimage: writes an emulated-device firmware image (emu/firmware_image.hpp) for
// tests and demos, streamed in pieces so a 64 MiB image never sits in memory.
//
//   cxlmgr-mkimage [--corrupt] [--seed N] REVISION PAYLOAD_SIZE OUT
//
// --corrupt flips one payload byte after the CRC was computed: the device then refuses the
// image at the end of the transfer (Transfer FW returns FW Verification Failed).
//
// An image larger than any emulated device can hold (emu/firmware_image.hpp,
// kLargestFirmwareImageSize) is refused with exit status 2 before OUT is created; one larger
// than the default device limit is written with a note naming the description key it needs.
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <limits>
#include <string>
#include <vector>

#include "emu/firmware_image.hpp"

namespace {

constexpr int kUsage = 2;

int usage(const char* why) {
    std::cerr << "cxlmgr-mkimage: " << why << "\n"
              << "usage: cxlmgr-mkimage [--corrupt] [--seed N] REVISION PAYLOAD_SIZE OUT\n"
                 "  PAYLOAD_SIZE accepts the suffixes K and M (1024-based)\n";
    return kUsage;
}

bool parse_size(const std::string& text, uint64_t& out) {
    if (text.empty()) {
        return false;
    }
    char* end = nullptr;
    errno = 0;
    unsigned long long v = std::strtoull(text.c_str(), &end, 10);
    std::string suffix(end);
    if (end == text.c_str() || errno == ERANGE || text[0] == '-') {
        return false;
    }
    unsigned shift = 0;
    if (suffix == "K") {
        shift = 10;
    } else if (suffix == "M") {
        shift = 20;
    } else if (!suffix.empty()) {
        return false;
    }
    if (v > (std::numeric_limits<unsigned long long>::max() >> shift)) {
        return false;  // would wrap around to a small size
    }
    v <<= shift;
    out = v;
    return true;
}

}  // namespace

int main(int argc, char** argv) {
    bool corrupt = false;
    uint64_t seed = 0;
    std::vector<std::string> args;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--corrupt") {
            corrupt = true;
        } else if (a == "--seed" && i + 1 < argc) {
            if (!parse_size(argv[++i], seed)) {
                return usage("--seed needs a number");
            }
        } else if (a == "-h" || a == "--help") {
            usage("writes an emulated-device firmware image");
            return 0;
        } else {
            args.push_back(a);
        }
    }
    if (args.size() != 3) {
        return usage("expected REVISION PAYLOAD_SIZE OUT");
    }
    if (auto ok = cxlmgr::emu::check_firmware_revision(args[0]); !ok.ok()) {
        return usage(ok.error().message.c_str());
    }
    uint64_t payload = 0;
    if (!parse_size(args[1], payload) || payload == 0) {
        return usage("PAYLOAD_SIZE must be a positive number");
    }
    // Checked before the output file is created: nothing is written for an image no emulated
    // device could take.
    const uint64_t image_size = cxlmgr::emu::firmware_image_size(payload);
    if (image_size > cxlmgr::emu::kLargestFirmwareImageSize) {
        std::cerr << "cxlmgr-mkimage: an image with a payload of " << payload << " bytes ("
                  << image_size << " bytes in all) is larger than any emulated device can hold: "
                  << "at most " << cxlmgr::emu::kLargestFirmwareImageSize
                  << " bytes (Transfer FW offsets count 32 bits of 128-byte units)\n";
        return kUsage;
    }
    if (image_size > cxlmgr::emu::kDefaultMaxFirmwareImageSize) {
        std::cerr << "cxlmgr-mkimage: note: " << image_size
                  << " bytes exceed the emulated device's default limit ("
                  << cxlmgr::emu::kDefaultMaxFirmwareImageSize
                  << "); the device takes it only with \"firmware\": {\"max_image_size\": "
                  << image_size << "} or more in its description\n";
    }
    cxlmgr::emu::PatternFirmwareImage image(args[0], payload, seed);
    std::ofstream out(args[2], std::ios::binary | std::ios::trunc);
    if (!out) {
        std::cerr << "cxlmgr-mkimage: cannot write " << args[2] << ": " << std::strerror(errno)
                  << "\n";
        return 1;
    }
    std::vector<uint8_t> piece(1 << 20);
    const uint64_t corrupt_at = cxlmgr::emu::kFirmwareHeaderSize + payload / 2;
    for (uint64_t off = 0; off < image.size(); off += piece.size()) {
        size_t n = static_cast<size_t>(std::min<uint64_t>(piece.size(), image.size() - off));
        image.read(off, std::span<uint8_t>(piece.data(), n));
        if (corrupt && corrupt_at >= off && corrupt_at < off + n) {
            piece[corrupt_at - off] ^= 0xff;
        }
        out.write(reinterpret_cast<const char*>(piece.data()), static_cast<std::streamsize>(n));
    }
    out.close();
    if (!out) {
        std::cerr << "cxlmgr-mkimage: writing " << args[2] << " failed\n";
        return 1;
    }
    std::cout << args[2] << ": revision '" << args[0] << "', " << image.size() << " bytes"
              << (corrupt ? " (corrupted)" : "") << "\n";
    return 0;
}
