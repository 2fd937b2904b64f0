#include "pci/config_dump.hpp"

#include <cstdio>

namespace cxlmgr::pci {

Result<std::string> dump_config_lspci(ConfigSpace& config, const std::string& address,
                                      const std::string& description) {
    std::string out = address + " " + description + "\n";
    char buf[16];
    for (uint32_t row = 0; row < config.size(); row += 16) {
        // lspci writes two hex digits for the first 256 bytes and three after.
        std::snprintf(buf, sizeof buf, row < 0x100 ? "%02x:" : "%03x:", row);
        out += buf;
        for (uint32_t i = 0; i < 16; i += 4) {
            CXLMGR_ASSIGN(uint32_t dword, config.read32(row + i));
            for (unsigned b = 0; b < 4; ++b) {
                std::snprintf(buf, sizeof buf, " %02x", (dword >> (8 * b)) & 0xFF);
                out += buf;
            }
        }
        out += "\n";
    }
    out += "\n";
    return out;
}

}  // namespace cxlmgr::pci
