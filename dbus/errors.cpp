#include "dbus/errors.hpp"

namespace cxlmgr::dbus {

std::string dbus_error_name(Errc code) {
    switch (code) {
        case Errc::IoError:
            return std::string(kErrorPrefix) + std::string(errc_name(Errc::DeviceError));
        case Errc::Internal:
            return std::string(kFailedError);
        case Errc::InvalidArgument:
        case Errc::NotFound:
        case Errc::Busy:
        case Errc::PermissionDenied:
        case Errc::DeviceError:
        case Errc::Timeout:
        case Errc::Cancelled:
        case Errc::Unsupported:
        case Errc::DeviceGone:
        case Errc::NotCancellable:
        case Errc::LimitsExceeded:
            break;
    }
    return std::string(kErrorPrefix) + std::string(errc_name(code));
}

sdbus::Error to_dbus_error(const Error& error, std::string_view subject) {
    std::string message = error.message;
    if (message.empty()) {
        // Should not happen (every Error is built with a sentence), but a bare error name would
        // leave the user nothing to act on.
        message = std::string(errc_name(error.code)) + " without further detail";
    }
    if (!subject.empty() && message.find(subject) == std::string::npos) {
        message = std::string(subject) + ": " + message;
    }
    return sdbus::Error(dbus_error_name(error.code), message);
}

sdbus::Error make_dbus_error(Errc code, std::string message) {
    return sdbus::Error(dbus_error_name(code), std::move(message));
}

}  // namespace cxlmgr::dbus
