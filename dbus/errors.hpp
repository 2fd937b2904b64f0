// The daemon's errors as D-Bus errors: org.cxlmgr1.Error.<Name> (docs/API.md), with a message
// that is a human sentence naming the device it concerns.
//
// Mapping: each Errc with a name in the contract maps to org.cxlmgr1.Error.<that name>; IoError
// (the operating system refused an access to the device) is DeviceError for the client;
// Internal (a broken invariant of the daemon) is org.freedesktop.DBus.Error.Failed, because no
// client can act on it beyond reporting it.
#pragma once

#include <sdbus-c++/Error.h>
#include <string>
#include <string_view>

#include "common/result.hpp"

namespace cxlmgr::dbus {

inline constexpr std::string_view kErrorPrefix = "org.cxlmgr1.Error.";
inline constexpr std::string_view kFailedError = "org.freedesktop.DBus.Error.Failed";

// "org.cxlmgr1.Error.Timeout", ...
std::string dbus_error_name(Errc code);

// `subject` is what the error concerns (a device name, "cxlmgrd"); it is prefixed as
// "<subject>: " unless the message already names it.
sdbus::Error to_dbus_error(const Error& error, std::string_view subject);

// Shorthand for errors the D-Bus layer raises itself (bad arguments, refused callers).
sdbus::Error make_dbus_error(Errc code, std::string message);

}  // namespace cxlmgr::dbus
