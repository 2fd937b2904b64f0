// PCI and PCIe configuration-space constants used across the layers (from the PCI Local Bus and
// PCIe Base specifications, as quoted by Linux include/uapi/linux/pci_regs.h and pciutils).
#pragma once

#include <cstdint>

namespace cxlmgr::pci {

inline constexpr uint32_t kCfgVendorId = 0x00;
inline constexpr uint32_t kCfgCommand = 0x04;
inline constexpr uint32_t kCfgStatus = 0x06;
inline constexpr uint32_t kCfgClassRevision = 0x08;
inline constexpr uint32_t kCfgHeaderType = 0x0E;
inline constexpr uint32_t kCfgBar0 = 0x10;
inline constexpr uint32_t kCfgSubsystemVendorId = 0x2C;
inline constexpr uint32_t kCfgCapabilitiesPointer = 0x34;
inline constexpr uint32_t kCfgInterruptPin = 0x3D;

inline constexpr uint16_t kStatusCapabilitiesList = 1u << 4;
inline constexpr uint16_t kCommandMemorySpace = 1u << 1;
inline constexpr uint16_t kCommandBusMaster = 1u << 2;

inline constexpr uint32_t kBarMemory64 = 0x4;  // type field [2:1] = 10b
inline constexpr uint32_t kBarPrefetchable = 0x8;

// Standard capability IDs.
inline constexpr uint8_t kCapIdPowerManagement = 0x01;
inline constexpr uint8_t kCapIdMsi = 0x05;
inline constexpr uint8_t kCapIdPcie = 0x10;
inline constexpr uint8_t kCapIdMsix = 0x11;

// Extended capabilities start here, in the 4 KiB PCIe configuration space.
inline constexpr uint32_t kExtCapStart = 0x100;
inline constexpr uint16_t kExtCapIdAer = 0x0001;
inline constexpr uint16_t kExtCapIdSerialNumber = 0x0003;
inline constexpr uint16_t kExtCapIdDvsec = 0x0023;
inline constexpr uint16_t kExtCapIdDoe = 0x002E;

// DVSEC header registers, relative to the capability.
inline constexpr uint32_t kDvsecHeader1 = 0x04;  // vendor [15:0], revision [19:16], length [31:20]
inline constexpr uint32_t kDvsecHeader2 = 0x08;  // DVSEC ID [15:0]

// CXL (vendor 0x1E98) DVSEC IDs and class code.
inline constexpr uint16_t kCxlVendorId = 0x1E98;
inline constexpr uint16_t kCxlDvsecDevice = 0x0000;
inline constexpr uint16_t kCxlDvsecRegisterLocator = 0x0008;
inline constexpr uint32_t kClassCxlMemory = 0x050210;  // memory controller, CXL, prog-if 0x10

}  // namespace cxlmgr::pci
