// D-Bus arguments as JSON: the InjectEvent fields and InjectFault parameters a caller sends are
// handed to the daemon as JSON, which the emulated device's event builder reads.
//
// y q u t become unsigned numbers, n i x signed numbers, s strings, b booleans, d floats; arrays
// of those (a?) and av become arrays, a{sv} becomes an object. Any other type is InvalidArgument
// naming the key. (The other direction, replies, goes from typed values: dbus/values.hpp.)
#pragma once

#include <sdbus-c++/Types.h>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "common/result.hpp"

namespace cxlmgr::dbus {

using VariantDict = std::map<std::string, sdbus::Variant>;

// `key` is the name the value sits under in its dictionary (named in errors).
Result<nlohmann::json> variant_to_json(const sdbus::Variant& value, std::string_view key = {});
// a{sv} as a JSON object.
Result<nlohmann::json> dict_to_json(const VariantDict& dict);

}  // namespace cxlmgr::dbus
