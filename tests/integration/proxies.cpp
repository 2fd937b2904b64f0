#include "tests/integration/proxies.hpp"

#include <stdexcept>
#include <vector>

namespace cxlmgr::testing {

namespace {

template <typename T>
nlohmann::json array_of(const sdbus::Variant& value) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& v : value.get<std::vector<T>>()) {
        if constexpr (std::is_same_v<T, sdbus::ObjectPath>) {
            out.push_back(std::string(v));
        } else {
            out.push_back(v);
        }
    }
    return out;
}

}  // namespace

nlohmann::json to_json(const VariantMap& map) {
    nlohmann::json out = nlohmann::json::object();
    for (const auto& [key, value] : map) {
        out[key] = to_json(value);
    }
    return out;
}

nlohmann::json to_json(const sdbus::Variant& value) {
    const std::string sig = value.peekValueType();
    if (sig == "y")
        return value.get<uint8_t>();
    if (sig == "b")
        return value.get<bool>();
    if (sig == "n")
        return value.get<int16_t>();
    if (sig == "q")
        return value.get<uint16_t>();
    if (sig == "i")
        return value.get<int32_t>();
    if (sig == "u")
        return value.get<uint32_t>();
    if (sig == "x")
        return value.get<int64_t>();
    if (sig == "t")
        return value.get<uint64_t>();
    if (sig == "d")
        return value.get<double>();
    if (sig == "s")
        return value.get<std::string>();
    if (sig == "o")
        return std::string(value.get<sdbus::ObjectPath>());
    if (sig == "ay")
        return array_of<uint8_t>(value);
    if (sig == "an")
        return array_of<int16_t>(value);
    if (sig == "aq")
        return array_of<uint16_t>(value);
    if (sig == "ai")
        return array_of<int32_t>(value);
    if (sig == "au")
        return array_of<uint32_t>(value);
    if (sig == "ax")
        return array_of<int64_t>(value);
    if (sig == "at")
        return array_of<uint64_t>(value);
    if (sig == "ad")
        return array_of<double>(value);
    if (sig == "as")
        return array_of<std::string>(value);
    if (sig == "ao")
        return array_of<sdbus::ObjectPath>(value);
    if (sig == "v")
        return to_json(value.get<sdbus::Variant>());
    if (sig == "a{sv}")
        return to_json(value.get<VariantMap>());
    if (sig == "aa{sv}") {
        nlohmann::json out = nlohmann::json::array();
        for (const auto& m : value.get<std::vector<VariantMap>>()) {
            out.push_back(to_json(m));
        }
        return out;
    }
    throw std::invalid_argument("to_json: no conversion for signature " + sig);
}

nlohmann::json unwrap_busctl(const nlohmann::json& typed) {
    if (typed.is_object()) {
        if (typed.size() == 2 && typed.contains("type") && typed["type"].is_string() &&
            typed.contains("data")) {
            return unwrap_busctl(typed["data"]);
        }
        nlohmann::json out = nlohmann::json::object();
        for (const auto& [key, value] : typed.items()) {
            out[key] = unwrap_busctl(value);
        }
        return out;
    }
    if (typed.is_array()) {
        nlohmann::json out = nlohmann::json::array();
        for (const auto& v : typed) {
            out.push_back(unwrap_busctl(v));
        }
        return out;
    }
    return typed;
}

}  // namespace cxlmgr::testing
