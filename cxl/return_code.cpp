#include "cxl/return_code.hpp"

#include <array>

#include "cxl/wire.hpp"

namespace cxlmgr::cxl {
namespace {

// Indexed by code; names as the CXL specification's return code table spells them.
constexpr std::array<std::string_view, kLastKnownReturnCode + 1> kNames = {
    "Success",
    "Background Command Started",
    "Invalid Input",
    "Unsupported",
    "Internal Error",
    "Retry Required",
    "Busy",
    "Media Disabled",
    "FW Transfer In Progress",
    "FW Transfer Out Of Order",
    "FW Verification Failed",
    "Invalid Slot",
    "Activation Failed, FW Rolled Back",
    "Activation Failed, Cold Reset Required",
    "Invalid Handle",
    "Invalid Physical Address",
    "Inject Poison Limit Reached",
    "Permanent Media Failure",
    "Aborted",
    "Invalid Security State",
    "Incorrect Passphrase",
    "Unsupported Mailbox or CCI",
    "Invalid Payload Length",
    "Invalid Log",
    "Interrupted",
    "Unsupported Feature Version",
    "Unsupported Feature Selection Value",
    "Feature Transfer In Progress",
    "Feature Transfer Out Of Order",
    "Resources Exhausted",
    "Invalid Extent List",
    "Transfer Out Of Order",
    "Request Abort Not Supported",
};

}  // namespace

std::string_view return_code_name(uint16_t code) {
    return code < kNames.size() ? kNames[code] : std::string_view("Unknown");
}

std::string describe_return_code(uint16_t code) {
    return hex(code, 2) + " " + std::string(return_code_name(code));
}

Error return_code_error(uint16_t code, std::string_view command) {
    const std::string cmd(command);
    const std::string tail = " (CXL return code " + describe_return_code(code) + ")";
    Error e;
    switch (static_cast<ReturnCode>(code)) {
        case ReturnCode::Unsupported:
            e = Error(Errc::Unsupported, cmd + " is not supported by this device" + tail);
            break;
        case ReturnCode::Busy:
            e = Error(Errc::Busy, cmd + " was refused because the device is busy" + tail);
            break;
        case ReturnCode::Success:
        case ReturnCode::BackgroundCommandStarted:
            // Not failures: reaching here means a caller mapped a code it should have handled.
            e = Error(Errc::DeviceError, cmd + " returned an unexpected status" + tail);
            break;
        default:
            e = Error(Errc::DeviceError, cmd + " failed" + tail);
            break;
    }
    e.cxl_return_code = code;
    return e;
}

}  // namespace cxlmgr::cxl
