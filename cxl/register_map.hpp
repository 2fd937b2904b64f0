// Finding a CXL memory device's registers: the Register Locator DVSEC (vendor 0x1E98, ID 8) in
// config space names the BAR and offset of the CXL Memory Device register block; that block
// starts with the Device Capabilities Array, whose headers locate Device Status, the Primary
// Mailbox and Memory Device Status.
//
// Everything here is device input. Every offset and length is checked against the BAR before any
// MMIO access relies on it, so the accessors above this layer never trip MmioRegion's range
// checks, and a malformed or vanished device is an error naming the faulty piece.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "common/result.hpp"
#include "pci/pci_device.hpp"

namespace cxlmgr::cxl {

// Register Locator block identifiers.
inline constexpr uint8_t kBlockEmpty = 0x00;
inline constexpr uint8_t kBlockComponent = 0x01;
inline constexpr uint8_t kBlockBarVirtualizationAcl = 0x02;
inline constexpr uint8_t kBlockMemoryDevice = 0x03;
inline constexpr uint8_t kBlockCpmu = 0x04;

// Device capability IDs.
inline constexpr uint16_t kCapDeviceStatus = 0x0001;
inline constexpr uint16_t kCapPrimaryMailbox = 0x0002;
inline constexpr uint16_t kCapSecondaryMailbox = 0x0003;
inline constexpr uint16_t kCapMemoryDeviceStatus = 0x4000;

struct RegisterBlockLocation {
    uint8_t bir = 0;
    uint8_t block_id = 0;
    uint64_t offset = 0;  // from the BAR start, 64 KiB aligned
};

struct DeviceCapability {
    uint16_t id = 0;
    uint8_t version = 0;
    uint64_t offset = 0;  // absolute in the BAR (block offset + header offset)
    uint64_t length = 0;
};

struct DeviceRegisterMap {
    pci::MmioRegion* bar = nullptr;  // owned by the PciDevice
    unsigned bar_index = 0;
    uint64_t block_offset = 0;
    DeviceCapability device_status;
    DeviceCapability mailbox;
    DeviceCapability memdev_status;
    std::vector<DeviceCapability> capabilities;  // every header, in array order
};

// The entries of the Register Locator DVSEC. NotFound when there is no such DVSEC.
Result<std::vector<RegisterBlockLocation>> read_register_locator(pci::ConfigSpace& config);

// Locator -> memory device block -> capability array. Unsupported when the function has no
// Register Locator, no memory device block or no Primary Mailbox; DeviceError for layouts that
// overrun the BAR or break the format; DeviceGone when the registers read all-ones.
Result<DeviceRegisterMap> discover_device_registers(pci::PciDevice& device);

std::string_view capability_name(uint16_t id);

}  // namespace cxlmgr::cxl
