// Rendering of D-Bus values for people (key: value lines) and for scripts (--json: one object).
#pragma once

#include <sdbus-c++/Types.h>

#include <map>
#include <nlohmann/json.hpp>
#include <string>

namespace cxlmgrctl {

// The variant's value as JSON (basic types, arrays, a{sv}, aa{sv}); a type this cannot show
// becomes {"unsupported": "<signature>"} rather than being dropped.
nlohmann::json to_json(const sdbus::Variant& v);
nlohmann::json to_json(const std::map<std::string, sdbus::Variant>& dict);

// One "key: value" line per member (nested objects indented), in key order.
void print_text(const nlohmann::json& object, int indent = 0);

}  // namespace cxlmgrctl
