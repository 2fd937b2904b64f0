#include "common/hex.hpp"

namespace cxlmgr {

std::string hex_digits(uint64_t value, int digits) {
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string body;
    do {
        body.insert(body.begin(), kDigits[value & 0xF]);
        value >>= 4;
    } while (value != 0);
    if (static_cast<int>(body.size()) < digits) {
        body.insert(0, static_cast<size_t>(digits) - body.size(), '0');
    }
    return body;
}

std::string hex(uint64_t value, int digits) {
    return "0x" + hex_digits(value, digits);
}

}  // namespace cxlmgr
