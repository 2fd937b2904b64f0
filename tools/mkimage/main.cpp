// cxlmgr-mkimage: writes an emulated-device firmware image (emu/firmware_image.hpp) for
// tests and demos, streamed in pieces so a 64 MiB image never sits in memory.
//
//   cxlmgr-mkimage [--corrupt] [--seed N] REVISION PAYLOAD_SIZE OUT
//
// --corrupt flips one payload byte after the CRC was computed: the device then refuses the
// image at the end of the transfer (Transfer FW returns FW Verification Failed).
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
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
    unsigned long long v = std::strtoull(text.c_str(), &end, 10);
    std::string suffix(end);
    if (end == text.c_str()) {
        return false;
    }
    if (suffix == "K") {
        v <<= 10;
    } else if (suffix == "M") {
        v <<= 20;
    } else if (!suffix.empty()) {
        return false;
    }
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
