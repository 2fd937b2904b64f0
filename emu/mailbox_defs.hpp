// Constants of the CXL mailbox as the emulated device sees them: return codes, the opcodes it
// implements, Command Effects Log bits, and little-endian helpers for building payloads. Device
// side only: the host driver in cxl/ has its own definitions, written independently, so a
// misread of the specification on one side shows up as a test failure instead of hiding.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <stdexcept>

namespace cxlmgr::emu {

enum class ReturnCode : uint16_t {
    Success = 0x00,
    BackgroundStarted = 0x01,
    InvalidInput = 0x02,
    Unsupported = 0x03,
    InternalError = 0x04,
    RetryRequired = 0x05,
    Busy = 0x06,
    MediaDisabled = 0x07,
    FwTransferInProgress = 0x08,
    FwTransferOutOfOrder = 0x09,
    FwVerificationFailed = 0x0A,
    InvalidSlot = 0x0B,
    ActivationFailedRolledBack = 0x0C,
    ActivationFailedColdReset = 0x0D,
    InvalidHandle = 0x0E,
    InvalidPhysicalAddress = 0x0F,
    Aborted = 0x12,  // a background operation ended by Request Abort Background Operation
    InvalidSecurityState = 0x13,
    InvalidPayloadLength = 0x16,
    InvalidLog = 0x17,
    UnsupportedFeatureVersion = 0x19,
    UnsupportedFeatureSelectionValue = 0x1A,
    RequestAbortNotSupported = 0x20,  // the running background operation cannot be aborted
};

namespace opcode {
inline constexpr uint16_t kBackgroundOperationStatus = 0x0002;
inline constexpr uint16_t kRequestAbortBackgroundOperation = 0x0005;
inline constexpr uint16_t kGetEventRecords = 0x0100;
inline constexpr uint16_t kClearEventRecords = 0x0101;
inline constexpr uint16_t kGetEventInterruptPolicy = 0x0102;
inline constexpr uint16_t kSetEventInterruptPolicy = 0x0103;
inline constexpr uint16_t kGetFwInfo = 0x0200;
inline constexpr uint16_t kTransferFw = 0x0201;
inline constexpr uint16_t kActivateFw = 0x0202;
inline constexpr uint16_t kGetTimestamp = 0x0300;
inline constexpr uint16_t kSetTimestamp = 0x0301;
inline constexpr uint16_t kGetSupportedLogs = 0x0400;
inline constexpr uint16_t kGetLog = 0x0401;
inline constexpr uint16_t kGetSupportedFeatures = 0x0500;
inline constexpr uint16_t kGetFeature = 0x0501;
inline constexpr uint16_t kSetFeature = 0x0502;
inline constexpr uint16_t kIdentifyMemoryDevice = 0x4000;
inline constexpr uint16_t kGetPartitionInfo = 0x4100;
inline constexpr uint16_t kGetLsa = 0x4102;
inline constexpr uint16_t kSetLsa = 0x4103;
inline constexpr uint16_t kGetHealthInfo = 0x4200;
inline constexpr uint16_t kGetAlertConfig = 0x4201;
inline constexpr uint16_t kSetAlertConfig = 0x4202;
inline constexpr uint16_t kGetPoisonList = 0x4300;
inline constexpr uint16_t kInjectPoison = 0x4301;
inline constexpr uint16_t kClearPoison = 0x4302;
inline constexpr uint16_t kGetScanMediaCapabilities = 0x4303;
inline constexpr uint16_t kScanMedia = 0x4304;
inline constexpr uint16_t kGetScanMediaResults = 0x4305;
inline constexpr uint16_t kSanitize = 0x4400;
inline constexpr uint16_t kSecureErase = 0x4401;
inline constexpr uint16_t kGetSecurityState = 0x4500;
}  // namespace opcode

// Command Effects Log effect bits.
namespace effect {
inline constexpr uint16_t kConfigChangeAfterColdReset = 1u << 0;
inline constexpr uint16_t kImmediateConfigChange = 1u << 1;
inline constexpr uint16_t kImmediateDataChange = 1u << 2;
inline constexpr uint16_t kImmediatePolicyChange = 1u << 3;
inline constexpr uint16_t kImmediateLogChange = 1u << 4;
inline constexpr uint16_t kSecurityStateChange = 1u << 5;
inline constexpr uint16_t kBackgroundOperation = 1u << 6;
inline constexpr uint16_t kSecondaryMailboxSupported = 1u << 7;
// Request Abort Background Operation (0x0005) can end this command while it runs.
inline constexpr uint16_t kRequestAbortSupported = 1u << 8;
}  // namespace effect

// Out-of-range offsets are bugs in the device model (every payload is sized before it is
// filled), hence the exception rather than a Result.
inline void store_le(std::span<uint8_t> out, size_t offset, uint64_t value, unsigned width) {
    if (offset > out.size() || width > out.size() - offset) {
        throw std::out_of_range("emulated mailbox: store outside the buffer");
    }
    for (unsigned i = 0; i < width; ++i) {
        out[offset + i] = static_cast<uint8_t>(value >> (8 * i));
    }
}

inline uint64_t load_le(std::span<const uint8_t> in, size_t offset, unsigned width) {
    if (offset > in.size() || width > in.size() - offset) {
        throw std::out_of_range("emulated mailbox: load outside the buffer");
    }
    uint64_t v = 0;
    for (unsigned i = 0; i < width; ++i) {
        v |= static_cast<uint64_t>(in[offset + i]) << (8 * i);
    }
    return v;
}

}  // namespace cxlmgr::emu
