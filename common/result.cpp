#include "common/result.hpp"

namespace cxlmgr {

std::string_view errc_name(Errc code) {
    switch (code) {
        case Errc::InvalidArgument:
            return "InvalidArgument";
        case Errc::NotFound:
            return "NotFound";
        case Errc::Busy:
            return "Busy";
        case Errc::PermissionDenied:
            return "PermissionDenied";
        case Errc::DeviceError:
            return "DeviceError";
        case Errc::Timeout:
            return "Timeout";
        case Errc::Cancelled:
            return "Cancelled";
        case Errc::Unsupported:
            return "Unsupported";
        case Errc::DeviceGone:
            return "DeviceGone";
        case Errc::LimitsExceeded:
            return "LimitsExceeded";
        case Errc::NotCancellable:
            return "NotCancellable";
        case Errc::IoError:
            return "IoError";
        case Errc::Internal:
            return "Internal";
    }
    return "Unknown";
}

Error Error::with_context(std::string_view context) const {
    Error e = *this;
    e.message = std::string(context) + ": " + message;
    return e;
}

std::string Error::describe() const {
    return std::string(errc_name(code)) + ": " + message;
}

}  // namespace cxlmgr
