// Access to one PCI function's configuration space, whatever the backend (sysfs, VFIO, emulated).
#pragma once

#include <cstdint>
#include <string>

#include "common/result.hpp"

namespace cxlmgr::pci {

struct DeviceIdentity {
    uint16_t vendor_id = 0;
    uint16_t device_id = 0;
    uint32_t class_code = 0;  // base class << 16 | subclass << 8 | programming interface
    std::string address;      // "0000:0d:00.0" for real devices, empty for emulated ones
};

inline constexpr uint32_t kConfigSpaceLegacySize = 256;
inline constexpr uint32_t kConfigSpaceExtendedSize = 4096;

// Reads and writes are naturally aligned and inside size(); anything else is refused with
// InvalidArgument before the backend sees it. A device that vanished reads as all-ones (as real
// hardware does) or fails with DeviceGone/IoError when the backend can tell.
class ConfigSpace {
public:
    virtual ~ConfigSpace() = default;

    Result<uint8_t> read8(uint32_t offset);
    Result<uint16_t> read16(uint32_t offset);
    Result<uint32_t> read32(uint32_t offset);
    Status write8(uint32_t offset, uint8_t value);
    Status write16(uint32_t offset, uint16_t value);
    Status write32(uint32_t offset, uint32_t value);

    // 256 (conventional) or 4096 (PCIe extended configuration space).
    [[nodiscard]] virtual uint32_t size() const = 0;
    [[nodiscard]] virtual const DeviceIdentity& identity() const = 0;

protected:
    // width is 1, 2 or 4; offset is aligned and in range.
    virtual Result<uint32_t> do_read(uint32_t offset, unsigned width) = 0;
    virtual Status do_write(uint32_t offset, unsigned width, uint32_t value) = 0;

private:
    Status check_access(uint32_t offset, unsigned width) const;
};

// Reads the identity registers of a config space (used by backends that read them from hardware).
Result<DeviceIdentity> read_identity(ConfigSpace& config, std::string address);

}  // namespace cxlmgr::pci
