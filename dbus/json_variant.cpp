#include "dbus/json_variant.hpp"

#include <vector>

namespace cxlmgr::dbus {
namespace {

using nlohmann::json;

std::string describe_key(std::string_view key) {
    return key.empty() ? std::string("a value") : "the value of '" + std::string(key) + "'";
}

template <typename T>
json array_of(const sdbus::Variant& v) {
    return json(v.get<std::vector<T>>());
}

}  // namespace

Result<json> variant_to_json(const sdbus::Variant& value, std::string_view key) {
    const std::string sig = value.peekValueType();
    // Scalars: the JSON number kind follows the D-Bus signedness, so range checks downstream
    // (e.g. "count must be positive") see what the caller sent.
    if (sig == "y")
        return json(value.get<uint8_t>());
    if (sig == "q")
        return json(value.get<uint16_t>());
    if (sig == "u")
        return json(value.get<uint32_t>());
    if (sig == "t")
        return json(value.get<uint64_t>());
    if (sig == "n")
        return json(value.get<int16_t>());
    if (sig == "i")
        return json(value.get<int32_t>());
    if (sig == "x")
        return json(value.get<int64_t>());
    if (sig == "s")
        return json(value.get<std::string>());
    if (sig == "b")
        return json(value.get<bool>());
    if (sig == "d")
        return json(value.get<double>());
    if (sig == "ay")
        return array_of<uint8_t>(value);
    if (sig == "aq")
        return array_of<uint16_t>(value);
    if (sig == "au")
        return array_of<uint32_t>(value);
    if (sig == "at")
        return array_of<uint64_t>(value);
    if (sig == "an")
        return array_of<int16_t>(value);
    if (sig == "ai")
        return array_of<int32_t>(value);
    if (sig == "ax")
        return array_of<int64_t>(value);
    if (sig == "as")
        return array_of<std::string>(value);
    if (sig == "ab")
        return array_of<bool>(value);
    if (sig == "ad")
        return array_of<double>(value);
    if (sig == "av") {
        json out = json::array();
        for (const auto& v : value.get<std::vector<sdbus::Variant>>()) {
            CXLMGR_ASSIGN(auto e, variant_to_json(v, key));
            out.push_back(std::move(e));
        }
        return out;
    }
    if (sig == "a{sv}") {
        return dict_to_json(value.get<VariantDict>());
    }
    if (sig == "aa{sv}") {
        json out = json::array();
        for (const auto& d : value.get<std::vector<VariantDict>>()) {
            CXLMGR_ASSIGN(auto e, dict_to_json(d));
            out.push_back(std::move(e));
        }
        return out;
    }
    return Error(Errc::InvalidArgument, describe_key(key) + " has the D-Bus type '" + sig +
                                            "'; only integers, s, b, d, arrays of them, av and "
                                            "a{sv} are accepted");
}

Result<json> dict_to_json(const VariantDict& dict) {
    json out = json::object();
    for (const auto& [k, v] : dict) {
        CXLMGR_ASSIGN(auto e, variant_to_json(v, k));
        out[k] = std::move(e);
    }
    return out;
}

}  // namespace cxlmgr::dbus
