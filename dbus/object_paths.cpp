#include "dbus/object_paths.hpp"

namespace cxlmgr::dbus {

std::string object_id(std::string_view device_name) {
    if (device_name.empty()) {
        return "_";
    }
    std::string id(device_name);
    for (char& c : id) {
        const bool keep =
            (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
        if (!keep) {
            c = '_';
        }
    }
    return id;
}

std::string device_object_path(std::string_view device_name) {
    return std::string(kDevicesPath) + "/" + object_id(device_name);
}

}  // namespace cxlmgr::dbus
