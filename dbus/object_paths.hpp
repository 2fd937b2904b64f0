// Bus name and object paths of the org.cxlmgr1 service (docs/API.md "Bus, names, paths").
#pragma once

#include <string>
#include <string_view>

namespace cxlmgr::dbus {

inline constexpr std::string_view kServiceName = "org.cxlmgr1";
inline constexpr std::string_view kRootPath = "/org/cxlmgr1";
inline constexpr std::string_view kDevicesPath = "/org/cxlmgr1/devices";

// The device name with every character outside [A-Za-z0-9_] replaced by '_'
// ("0000:0d:00.0" -> "0000_0d_00_0"); an empty name becomes "_" (a path element may not be
// empty). Distinct names can collide ("a.b" and "a:b"): the service refuses the second.
std::string object_id(std::string_view device_name);

// "/org/cxlmgr1/devices/<object_id(name)>"
std::string device_object_path(std::string_view device_name);

}  // namespace cxlmgr::dbus
