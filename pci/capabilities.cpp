#include "pci/capabilities.hpp"

#include <cstdio>
#include <set>
#include <string>

#include "pci/registers.hpp"
#include "common/hex.hpp"

namespace cxlmgr::pci {
namespace {

Error malformed(const std::string& what) {
    return Error(Errc::DeviceError, what);
}

Error gone(uint32_t offset) {
    return Error(Errc::DeviceGone,
                 "config space reads all-ones at " + hex(offset) + " (device absent or removed)");
}

// The first standard capability lives in the device-specific header area after 0x40.
constexpr uint32_t kFirstCapabilityOffset = 0x40;

}  // namespace

Result<std::vector<Capability>> list_capabilities(ConfigSpace& config) {
    std::vector<Capability> caps;
    CXLMGR_ASSIGN(uint16_t status, config.read16(kCfgStatus));
    if (status == 0xFFFF) {
        return gone(kCfgStatus);
    }
    if ((status & kStatusCapabilitiesList) == 0) {
        return caps;
    }
    CXLMGR_ASSIGN(uint8_t ptr, config.read8(kCfgCapabilitiesPointer));
    std::set<uint32_t> seen;
    uint32_t offset = ptr & 0xFCu;  // the low two bits are reserved
    while (offset != 0) {
        if (offset < kFirstCapabilityOffset || offset + 2 > kConfigSpaceLegacySize) {
            return malformed("capability pointer " + hex(offset) +
                             " points outside the capability area (0x40-0xff)");
        }
        if (!seen.insert(offset).second) {
            return malformed("capability list loops back to " + hex(offset));
        }
        CXLMGR_ASSIGN(uint16_t header, config.read16(offset));
        if (header == 0xFFFF) {
            return gone(offset);
        }
        caps.push_back(Capability{static_cast<uint8_t>(header & 0xFF), offset});
        offset = (header >> 8) & 0xFCu;
    }
    return caps;
}

Result<std::vector<ExtCapability>> list_ext_capabilities(ConfigSpace& config) {
    std::vector<ExtCapability> caps;
    if (config.size() < kConfigSpaceExtendedSize) {
        return caps;
    }
    std::set<uint32_t> seen;
    uint32_t offset = kExtCapStart;
    while (true) {
        if (offset < kExtCapStart || offset + 4 > config.size()) {
            return malformed("extended capability pointer " + hex(offset) +
                             " points outside the extended config space (0x100-0xfff)");
        }
        if (!seen.insert(offset).second) {
            return malformed("extended capability list loops back to " + hex(offset));
        }
        CXLMGR_ASSIGN(uint32_t header, config.read32(offset));
        if (header == 0xFFFFFFFFu) {
            return gone(offset);
        }
        // An all-zero header at 0x100 means the function has no extended capabilities.
        if (header == 0 && offset == kExtCapStart) {
            return caps;
        }
        caps.push_back(ExtCapability{static_cast<uint16_t>(header & 0xFFFF),
                                     static_cast<uint8_t>((header >> 16) & 0xF), offset});
        uint32_t next = (header >> 20) & 0xFFCu;
        if (next == 0) {
            return caps;
        }
        offset = next;
    }
}

Result<std::vector<Dvsec>> list_dvsecs(ConfigSpace& config) {
    CXLMGR_ASSIGN(auto caps, list_ext_capabilities(config));
    std::vector<Dvsec> out;
    for (const auto& cap : caps) {
        if (cap.id != kExtCapIdDvsec) {
            continue;
        }
        if (cap.offset + kDvsecHeader2 + 2 > config.size()) {
            return malformed("DVSEC at " + hex(cap.offset) + " runs past the config space");
        }
        CXLMGR_ASSIGN(uint32_t h1, config.read32(cap.offset + kDvsecHeader1));
        CXLMGR_ASSIGN(uint16_t h2, config.read16(cap.offset + kDvsecHeader2));
        Dvsec d;
        d.offset = cap.offset;
        d.vendor = static_cast<uint16_t>(h1 & 0xFFFF);
        d.revision = static_cast<uint8_t>((h1 >> 16) & 0xF);
        d.length = static_cast<uint16_t>(h1 >> 20);
        d.id = h2;
        if (d.length < kDvsecHeader2 + 2 || cap.offset + d.length > config.size()) {
            return malformed("DVSEC at " + hex(cap.offset) + " has length " + hex(d.length) +
                             ", which does not fit the config space");
        }
        out.push_back(d);
    }
    return out;
}

Result<std::optional<uint32_t>> find_capability(ConfigSpace& config, uint8_t id) {
    CXLMGR_ASSIGN(auto caps, list_capabilities(config));
    for (const auto& c : caps) {
        if (c.id == id) {
            return std::optional<uint32_t>(c.offset);
        }
    }
    return std::optional<uint32_t>();
}

Result<std::optional<uint32_t>> find_ext_capability(ConfigSpace& config, uint16_t id) {
    CXLMGR_ASSIGN(auto caps, list_ext_capabilities(config));
    for (const auto& c : caps) {
        if (c.id == id) {
            return std::optional<uint32_t>(c.offset);
        }
    }
    return std::optional<uint32_t>();
}

Result<std::optional<uint32_t>> find_dvsec(ConfigSpace& config, uint16_t vendor, uint16_t id) {
    CXLMGR_ASSIGN(auto dvsecs, list_dvsecs(config));
    for (const auto& d : dvsecs) {
        if (d.vendor == vendor && d.id == id) {
            return std::optional<uint32_t>(d.offset);
        }
    }
    return std::optional<uint32_t>();
}

}  // namespace cxlmgr::pci
