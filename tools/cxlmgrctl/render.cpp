#include "tools/cxlmgrctl/render.hpp"

#include <iostream>
#include <vector>

namespace cxlmgrctl {

namespace {

template <typename T>
bool take(const sdbus::Variant& v, nlohmann::json& out) {
    if (!v.containsValueOfType<T>()) {
        return false;
    }
    out = v.get<T>();
    return true;
}

}  // namespace

nlohmann::json to_json(const sdbus::Variant& v) {
    nlohmann::json out;
    if (take<std::string>(v, out) || take<bool>(v, out) || take<uint8_t>(v, out) ||
        take<uint16_t>(v, out) || take<uint32_t>(v, out) || take<uint64_t>(v, out) ||
        take<int16_t>(v, out) || take<int32_t>(v, out) || take<int64_t>(v, out) ||
        take<double>(v, out) || take<std::vector<std::string>>(v, out) ||
        take<std::vector<uint8_t>>(v, out) || take<std::vector<uint16_t>>(v, out) ||
        take<std::vector<uint32_t>>(v, out) || take<std::vector<uint64_t>>(v, out)) {
        return out;
    }
    if (v.containsValueOfType<sdbus::ObjectPath>()) {
        return std::string(v.get<sdbus::ObjectPath>());
    }
    if (v.containsValueOfType<std::map<std::string, sdbus::Variant>>()) {
        return to_json(v.get<std::map<std::string, sdbus::Variant>>());
    }
    if (v.containsValueOfType<std::vector<std::map<std::string, sdbus::Variant>>>()) {
        nlohmann::json array = nlohmann::json::array();
        for (const auto& d : v.get<std::vector<std::map<std::string, sdbus::Variant>>>()) {
            array.push_back(to_json(d));
        }
        return array;
    }
    return nlohmann::json{{"unsupported", v.peekValueType()}};
}

nlohmann::json to_json(const std::map<std::string, sdbus::Variant>& dict) {
    nlohmann::json out = nlohmann::json::object();
    for (const auto& [key, value] : dict) {
        out[key] = to_json(value);
    }
    return out;
}

void print_text(const nlohmann::json& object, int indent) {
    const std::string pad(static_cast<size_t>(indent), ' ');
    for (const auto& [key, value] : object.items()) {
        if (value.is_object()) {
            std::cout << pad << key << ":\n";
            print_text(value, indent + 2);
        } else if (value.is_array() && !value.empty() && value.front().is_object()) {
            std::cout << pad << key << ":\n";
            for (const auto& item : value) {
                std::cout << pad << "  -\n";
                print_text(item, indent + 4);
            }
        } else if (value.is_string()) {
            std::cout << pad << key << ": " << value.get<std::string>() << "\n";
        } else {
            std::cout << pad << key << ": " << value.dump() << "\n";
        }
    }
}

}  // namespace cxlmgrctl
