#include "tests/dbus/json_reference.hpp"

#include <cstdint>
#include <limits>

namespace cxlmgr::dbus::reference {
namespace {

using nlohmann::json;

std::string describe_key(std::string_view key) {
    return key.empty() ? std::string("a value") : "the value of '" + std::string(key) + "'";
}

// What the elements of a JSON array have in common, to pick one D-Bus array signature.
struct ArrayShape {
    bool all_strings = true;
    bool all_booleans = true;
    bool all_objects = true;
    bool all_numbers = true;
    bool any_float = false;
    bool any_signed = false;       // some number_integer element
    bool any_above_int64 = false;  // some unsigned element that does not fit int64
    bool all_fit_byte = true;      // every element an unsigned integer 0..255
};

ArrayShape shape_of(const json& array) {
    ArrayShape s;
    for (const auto& e : array) {
        s.all_strings = s.all_strings && e.is_string();
        s.all_booleans = s.all_booleans && e.is_boolean();
        s.all_objects = s.all_objects && e.is_object();
        s.all_numbers = s.all_numbers && e.is_number();
        if (e.is_number_float()) {
            s.any_float = true;
        }
        if (e.is_number_integer() && !e.is_number_unsigned()) {
            s.any_signed = true;
        }
        if (e.is_number_unsigned() &&
            e.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
            s.any_above_int64 = true;
        }
        if (!e.is_number_unsigned() || e.get<uint64_t>() > 0xff) {
            s.all_fit_byte = false;
        }
    }
    return s;
}

template <typename T>
std::vector<T> elements_as(const json& array) {
    std::vector<T> out;
    out.reserve(array.size());
    for (const auto& e : array) {
        out.push_back(e.get<T>());
    }
    return out;
}

Result<sdbus::Variant> array_to_variant(const json& array, std::string_view key) {
    if (array.empty()) {
        return sdbus::Variant(std::vector<sdbus::Variant>{});
    }
    const ArrayShape s = shape_of(array);
    if (s.all_strings) {
        return sdbus::Variant(elements_as<std::string>(array));
    }
    if (s.all_booleans) {
        return sdbus::Variant(elements_as<bool>(array));
    }
    if (s.all_objects) {
        CXLMGR_ASSIGN(auto dicts, json_to_dict_array(array));
        return sdbus::Variant(dicts);
    }
    if (s.all_numbers) {
        if (s.any_float) {
            return sdbus::Variant(elements_as<double>(array));
        }
        if (!s.any_signed) {
            if (key == "raw" && s.all_fit_byte) {
                return sdbus::Variant(elements_as<uint8_t>(array));
            }
            return sdbus::Variant(elements_as<uint64_t>(array));
        }
        if (!s.any_above_int64) {
            return sdbus::Variant(elements_as<int64_t>(array));
        }
        // Signed and very large unsigned elements together: no integer array holds both.
    }
    std::vector<sdbus::Variant> variants;
    variants.reserve(array.size());
    for (const auto& e : array) {
        CXLMGR_ASSIGN(auto v, json_to_variant(e, key));
        variants.push_back(std::move(v));
    }
    return sdbus::Variant(variants);
}

}  // namespace

Result<sdbus::Variant> json_to_variant(const json& value, std::string_view key) {
    switch (value.type()) {
        case json::value_t::object: {
            CXLMGR_ASSIGN(auto dict, json_to_dict(value));
            return sdbus::Variant(dict);
        }
        case json::value_t::array:
            return array_to_variant(value, key);
        case json::value_t::string:
            return sdbus::Variant(value.get<std::string>());
        case json::value_t::boolean:
            return sdbus::Variant(value.get<bool>());
        case json::value_t::number_unsigned:
            return sdbus::Variant(value.get<uint64_t>());
        case json::value_t::number_integer:
            return sdbus::Variant(value.get<int64_t>());
        case json::value_t::number_float:
            return sdbus::Variant(value.get<double>());
        case json::value_t::binary:
            // Undecoded device bytes (an event record's raw, component_id, ...): ay on the bus.
            return sdbus::Variant(std::vector<uint8_t>(value.get_binary()));
        case json::value_t::null:
        case json::value_t::discarded:
            break;
    }
    return Error(Errc::InvalidArgument, describe_key(key) + " is a JSON " + value.type_name() +
                                            ", which D-Bus cannot carry");
}

Result<VariantDict> json_to_dict(const json& object) {
    if (!object.is_object()) {
        return Error(
            Errc::InvalidArgument,
            std::string("expected a JSON object for a{sv}, got a JSON ") + object.type_name());
    }
    VariantDict dict;
    for (const auto& [k, v] : object.items()) {
        CXLMGR_ASSIGN(auto variant, json_to_variant(v, k));
        dict.emplace(k, std::move(variant));
    }
    return dict;
}

Result<std::vector<VariantDict>> json_to_dict_array(const json& array) {
    if (!array.is_array()) {
        return Error(
            Errc::InvalidArgument,
            std::string("expected a JSON array for aa{sv}, got a JSON ") + array.type_name());
    }
    std::vector<VariantDict> dicts;
    dicts.reserve(array.size());
    for (const auto& e : array) {
        CXLMGR_ASSIGN(auto dict, json_to_dict(e));
        dicts.push_back(std::move(dict));
    }
    return dicts;
}

}  // namespace cxlmgr::dbus::reference
