// DOE extended capability registers and data object framing (PCIe r6 sec 6.30, as quoted by
// Linux include/uapi/linux/pci_regs.h and QEMU hw/pci/pcie_doe.c). Driver side only: the
// emulated responder keeps its own copy on purpose (a shared constant would hide a shared bug).
#pragma once

#include <cstdint>

namespace cxlmgr::doe {

// Offsets from the capability base.
inline constexpr uint32_t kRegCapabilities = 0x04;
inline constexpr uint32_t kRegControl = 0x08;
inline constexpr uint32_t kRegStatus = 0x0C;
inline constexpr uint32_t kRegWriteMailbox = 0x10;
inline constexpr uint32_t kRegReadMailbox = 0x14;
inline constexpr uint32_t kCapabilitySize = 0x18;

inline constexpr uint32_t kControlAbort = 1u << 0;
inline constexpr uint32_t kControlGo = 1u << 31;

inline constexpr uint32_t kStatusBusy = 1u << 0;
inline constexpr uint32_t kStatusInterrupt = 1u << 1;
inline constexpr uint32_t kStatusError = 1u << 2;
inline constexpr uint32_t kStatusReady = 1u << 31;

// Data object header: DW0 vendor [15:0], type [23:16]; DW1 length [17:0] in dwords including
// both header dwords, where 0 encodes the maximum of 2^18.
inline constexpr uint32_t kHeaderDwords = 2;
inline constexpr uint32_t kMaxObjectDwords = 1u << 18;
inline constexpr uint32_t kLengthMask = kMaxObjectDwords - 1;

inline constexpr uint16_t kVendorPciSig = 0x0001;
inline constexpr uint8_t kTypeDiscovery = 0;
inline constexpr uint16_t kVendorCxl = 0x1E98;
inline constexpr uint8_t kTypeCxlTableAccess = 2;

}  // namespace cxlmgr::doe
