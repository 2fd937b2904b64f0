#include "cxl/wire.hpp"

namespace cxlmgr::cxl {

std::string hex(uint64_t value, int digits) {
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string body;
    do {
        body.insert(body.begin(), kDigits[value & 0xF]);
        value >>= 4;
    } while (value != 0);
    if (static_cast<int>(body.size()) < digits) {
        body.insert(0, static_cast<size_t>(digits) - body.size(), '0');
    }
    return "0x" + body;
}

std::string ascii_field(ByteSpan bytes) {
    std::string out;
    for (uint8_t b : bytes) {
        if (b == 0) {
            break;
        }
        out.push_back(b >= 0x20 && b < 0x7F ? static_cast<char>(b) : '?');
    }
    while (!out.empty() && out.back() == ' ') {
        out.pop_back();
    }
    return out;
}

}  // namespace cxlmgr::cxl
