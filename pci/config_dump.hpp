// Config space in the hex format of `lspci -xxxx`, which `lspci -F FILE` reads back. This lets
// the standard tool decode any device the daemon sees (emulated ones included): the best check
// that an emulated layout is what real tools expect.
#pragma once

#include <string>

#include "common/result.hpp"
#include "pci/config_space.hpp"

namespace cxlmgr::pci {

// address: "DDDD:BB:DD.F" to put on the header line (lspci needs one even for emulated devices).
Result<std::string> dump_config_lspci(ConfigSpace& config, const std::string& address,
                                      const std::string& description);

}  // namespace cxlmgr::pci
