#include "cxl/wire.hpp"

namespace cxlmgr::cxl {

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
