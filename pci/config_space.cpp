#include "pci/config_space.hpp"

#include <cstdio>

#include "pci/registers.hpp"

namespace cxlmgr::pci {

Status ConfigSpace::check_access(uint32_t offset, unsigned width) const {
    if (offset % width != 0 || offset + width > size() || offset + width < offset) {
        char buf[96];
        std::snprintf(buf, sizeof buf, "config access of %u bytes at 0x%x is %s", width, offset,
                      offset % width != 0 ? "misaligned" : "outside the config space");
        return Error(Errc::InvalidArgument, buf);
    }
    return ok_status();
}

Result<uint8_t> ConfigSpace::read8(uint32_t offset) {
    CXLMGR_CHECK(check_access(offset, 1));
    CXLMGR_ASSIGN(uint32_t v, do_read(offset, 1));
    return static_cast<uint8_t>(v);
}

Result<uint16_t> ConfigSpace::read16(uint32_t offset) {
    CXLMGR_CHECK(check_access(offset, 2));
    CXLMGR_ASSIGN(uint32_t v, do_read(offset, 2));
    return static_cast<uint16_t>(v);
}

Result<uint32_t> ConfigSpace::read32(uint32_t offset) {
    CXLMGR_CHECK(check_access(offset, 4));
    return do_read(offset, 4);
}

Status ConfigSpace::write8(uint32_t offset, uint8_t value) {
    CXLMGR_CHECK(check_access(offset, 1));
    return do_write(offset, 1, value);
}

Status ConfigSpace::write16(uint32_t offset, uint16_t value) {
    CXLMGR_CHECK(check_access(offset, 2));
    return do_write(offset, 2, value);
}

Status ConfigSpace::write32(uint32_t offset, uint32_t value) {
    CXLMGR_CHECK(check_access(offset, 4));
    return do_write(offset, 4, value);
}

Result<DeviceIdentity> read_identity(ConfigSpace& config, std::string address) {
    DeviceIdentity id;
    id.address = std::move(address);
    CXLMGR_ASSIGN(uint32_t ids, config.read32(kCfgVendorId));
    if (ids == 0xFFFFFFFFu) {
        return Error(Errc::DeviceGone, "config space reads all-ones (device absent or removed)");
    }
    id.vendor_id = static_cast<uint16_t>(ids & 0xFFFF);
    id.device_id = static_cast<uint16_t>(ids >> 16);
    CXLMGR_ASSIGN(uint32_t class_rev, config.read32(kCfgClassRevision));
    id.class_code = class_rev >> 8;
    return id;
}

}  // namespace cxlmgr::pci
