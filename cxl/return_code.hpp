// Mailbox return codes (Status register [47:32]). A non-success code is an answer, not a
// transport failure: the transport hands it up unchanged (the raw D-Bus Command method returns
// it), and the typed command layer turns it into an Error here.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.hpp"

namespace cxlmgr::cxl {

enum class ReturnCode : uint16_t {
    Success = 0x00,
    BackgroundCommandStarted = 0x01,
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
    ActivationFailedFwRolledBack = 0x0C,
    ActivationFailedColdResetRequired = 0x0D,
    InvalidHandle = 0x0E,
    InvalidPhysicalAddress = 0x0F,
    InjectPoisonLimitReached = 0x10,
    PermanentMediaFailure = 0x11,
    Aborted = 0x12,
    InvalidSecurityState = 0x13,
    IncorrectPassphrase = 0x14,
    UnsupportedMailboxOrCci = 0x15,
    InvalidPayloadLength = 0x16,
    InvalidLog = 0x17,
    Interrupted = 0x18,
    UnsupportedFeatureVersion = 0x19,
    UnsupportedFeatureSelectionValue = 0x1A,
    FeatureTransferInProgress = 0x1B,
    FeatureTransferOutOfOrder = 0x1C,
    ResourcesExhausted = 0x1D,
    InvalidExtentList = 0x1E,
    TransferOutOfOrder = 0x1F,
    RequestAbortNotSupported = 0x20,
};

inline constexpr uint16_t kLastKnownReturnCode = 0x20;

// "Unsupported", "FW Transfer In Progress", ...; "Unknown" past the table.
std::string_view return_code_name(uint16_t code);
// "0x03 Unsupported": how every message names a code.
std::string describe_return_code(uint16_t code);

// The error for a command answered with `code` (not Success): Unsupported (0x03) maps to
// Errc::Unsupported, Busy (0x06) to Errc::Busy, every other code to Errc::DeviceError. The error
// carries cxl_return_code, and the message names the command and the code, e.g. "Get Health
// Info is not supported by this device (CXL return code 0x03 Unsupported)".
Error return_code_error(uint16_t code, std::string_view command);

}  // namespace cxlmgr::cxl
