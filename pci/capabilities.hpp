// Walking the standard and extended capability lists. The lists come from the device, so they
// are input like any other: a walk always terminates and reports loops, pointers outside the
// config space and all-ones reads (a device that vanished) as errors naming the offset.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "common/result.hpp"
#include "pci/config_space.hpp"

namespace cxlmgr::pci {

struct Capability {
    uint8_t id = 0;
    uint32_t offset = 0;
};

struct ExtCapability {
    uint16_t id = 0;
    uint8_t version = 0;
    uint32_t offset = 0;
};

struct Dvsec {
    uint32_t offset = 0;  // of the extended capability header
    uint16_t vendor = 0;
    uint16_t id = 0;
    uint8_t revision = 0;
    uint16_t length = 0;  // bytes, from DVSEC Header 1
};

// Standard capabilities (empty when the Status register says there is no list).
Result<std::vector<Capability>> list_capabilities(ConfigSpace& config);
// Extended capabilities (empty for a 256-byte config space or an empty list).
Result<std::vector<ExtCapability>> list_ext_capabilities(ConfigSpace& config);
// Every DVSEC with its vendor, ID and length (lengths running past the space are errors).
Result<std::vector<Dvsec>> list_dvsecs(ConfigSpace& config);

Result<std::optional<uint32_t>> find_capability(ConfigSpace& config, uint8_t id);
Result<std::optional<uint32_t>> find_ext_capability(ConfigSpace& config, uint16_t id);
Result<std::optional<uint32_t>> find_dvsec(ConfigSpace& config, uint16_t vendor, uint16_t id);

}  // namespace cxlmgr::pci
