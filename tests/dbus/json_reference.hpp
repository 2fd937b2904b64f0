// The v1 contract's a{sv} replies as the D-Bus layer built them up to the typed converters
// (dbus/values.hpp): the decoders' JSON renderings (identify_to_json, cdat_to_json, ...) mapped to
// variants by these rules, kept here as the reference the converters are measured against:
//   object                    a{sv}
//   string                    s
//   boolean                   b
//   unsigned integer          t   (nlohmann's number_unsigned: values read from a device)
//   signed integer            x   (number_integer, also when the value happens to be >= 0)
//   float                     d
//   array, empty              av
//   array of strings          as
//   array of booleans         ab
//   array of objects          aa{sv}
//   array of unsigned ints    at, or ay under the key "raw" when every element is 0..255
//   array of integers         ax  (some element signed)
//   array of numbers          ad  (some element a float)
//   any other array           av  (nested arrays, mixed element kinds)
//   binary                    ay  (undecoded device bytes)
//   null                      refused: D-Bus has no null, and dropping a key would hide data.
#pragma once

#include <sdbus-c++/Types.h>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"

namespace cxlmgr::dbus::reference {

using VariantDict = std::map<std::string, sdbus::Variant>;

// `key` is the name the value sits under in its dictionary (it selects ay for "raw").
Result<sdbus::Variant> json_to_variant(const nlohmann::json& value, std::string_view key = {});
// A JSON object as a{sv}; anything else is InvalidArgument.
Result<VariantDict> json_to_dict(const nlohmann::json& object);
// A JSON array of objects as aa{sv}.
Result<std::vector<VariantDict>> json_to_dict_array(const nlohmann::json& array);

}  // namespace cxlmgr::dbus::reference
