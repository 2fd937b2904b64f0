// Conversions between the daemon's JSON renderings (identify_to_json, cdat_to_json, ...) and
// D-Bus variants, so that every a{sv} the service returns has types a client can rely on.
//
// JSON -> D-Bus (what Identify, GetHealth and Cdat.Read return):
//   object                    a{sv}
//   string                    s
//   boolean                   b
//   unsigned integer          t   (nlohmann's number_unsigned: values read from a device)
//   signed integer            x   (number_integer, also when the value happens to be >= 0, so a
//                                  signed field such as a temperature keeps one signature)
//   float                     d
//   array, empty              av
//   array of strings          as
//   array of booleans         ab
//   array of objects          aa{sv}
//   array of unsigned ints    at, or ay under the key "raw" when every element is 0..255
//                             (undecoded bytes; "uuid" is rendered as a string upstream and
//                             so stays s)
//   array of integers         ax  (some element signed)
//   array of numbers          ad  (some element a float)
//   any other array           av  (nested arrays, mixed element kinds)
//   null                      refused: D-Bus has no null, and dropping a key would hide data.
//
// D-Bus -> JSON (InjectEvent fields, option dictionaries): y q u t become unsigned numbers,
// n i x signed numbers, s strings, b booleans, d floats; arrays of those (a?) and av become
// arrays, a{sv} becomes an object. Any other type is InvalidArgument naming the key.
#pragma once

#include <sdbus-c++/Types.h>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"

namespace cxlmgr::dbus {

using VariantDict = std::map<std::string, sdbus::Variant>;

// `key` is the name the value sits under in its dictionary (it selects ay for "raw").
Result<sdbus::Variant> json_to_variant(const nlohmann::json& value, std::string_view key = {});
// A JSON object as a{sv}; anything else is InvalidArgument.
Result<VariantDict> json_to_dict(const nlohmann::json& object);
// A JSON array of objects as aa{sv}.
Result<std::vector<VariantDict>> json_to_dict_array(const nlohmann::json& array);

Result<nlohmann::json> variant_to_json(const sdbus::Variant& value, std::string_view key = {});
// a{sv} as a JSON object.
Result<nlohmann::json> dict_to_json(const VariantDict& dict);

}  // namespace cxlmgr::dbus
