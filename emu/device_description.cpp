#include "emu/device_description.hpp"

#include <set>

namespace cxlmgr::emu {
namespace {

using nlohmann::json;

Error bad(const std::string& key, const std::string& why) {
    return Error(Errc::InvalidArgument, "emulated device description: '" + key + "' " + why);
}

template <typename T>
Status read_unsigned(const json& j, const char* key, T& out, uint64_t max = UINT64_MAX) {
    auto it = j.find(key);
    if (it == j.end()) {
        return ok_status();
    }
    if (!it->is_number_unsigned() && !(it->is_number_integer() && it->get<int64_t>() >= 0)) {
        return bad(key, "must be a non-negative integer");
    }
    uint64_t v = it->get<uint64_t>();
    if (v > max || v > std::numeric_limits<T>::max()) {
        return bad(key, "is out of range (" + std::to_string(v) + ")");
    }
    out = static_cast<T>(v);
    return ok_status();
}

Status read_string(const json& j, const char* key, std::string& out) {
    auto it = j.find(key);
    if (it == j.end()) {
        return ok_status();
    }
    if (!it->is_string()) {
        return bad(key, "must be a string");
    }
    out = it->get<std::string>();
    return ok_status();
}

Status read_object(const json& j, const char* key, json& out) {
    auto it = j.find(key);
    if (it == j.end()) {
        return ok_status();
    }
    if (!it->is_object()) {
        return bad(key, "must be an object");
    }
    out = *it;
    return ok_status();
}

}  // namespace

DeviceDescription default_device_description(std::string name) {
    DeviceDescription d;
    d.name = std::move(name);
    return d;
}

Result<DeviceDescription> parse_device_description(const json& j) {
    if (!j.is_object()) {
        return Error(Errc::InvalidArgument, "emulated device description must be a JSON object");
    }
    static const std::set<std::string> kKnown = {"backend",
                                                 "name",
                                                 "vendor_id",
                                                 "device_id",
                                                 "subsystem_vendor_id",
                                                 "subsystem_id",
                                                 "revision",
                                                 "serial",
                                                 "payload_size",
                                                 "volatile_capacity",
                                                 "persistent_capacity",
                                                 "lsa_size",
                                                 "poison_list_max",
                                                 "security_state",
                                                 "fw_revision",
                                                 "cdat",
                                                 "firmware",
                                                 "events",
                                                 "mailbox",
                                                 "timing",
                                                 "state_file"};
    for (const auto& [key, value] : j.items()) {
        if (kKnown.count(key) == 0) {
            return bad(key, "is not a known key");
        }
    }
    DeviceDescription d;
    CXLMGR_CHECK(read_string(j, "name", d.name));
    if (d.name.empty() || d.name.size() > 64) {
        return bad("name", "must be 1 to 64 characters");
    }
    CXLMGR_CHECK(read_unsigned(j, "vendor_id", d.vendor_id));
    CXLMGR_CHECK(read_unsigned(j, "device_id", d.device_id));
    CXLMGR_CHECK(read_unsigned(j, "subsystem_vendor_id", d.subsystem_vendor_id));
    CXLMGR_CHECK(read_unsigned(j, "subsystem_id", d.subsystem_id));
    CXLMGR_CHECK(read_unsigned(j, "revision", d.revision));
    CXLMGR_CHECK(read_unsigned(j, "serial", d.serial));
    CXLMGR_CHECK(read_unsigned(j, "payload_size", d.payload_size));
    if (d.payload_size < 256 || d.payload_size > (1u << 20) ||
        (d.payload_size & (d.payload_size - 1)) != 0) {
        return bad("payload_size", "must be a power of two from 256 to 1048576");
    }
    CXLMGR_CHECK(read_unsigned(j, "volatile_capacity", d.volatile_capacity));
    CXLMGR_CHECK(read_unsigned(j, "persistent_capacity", d.persistent_capacity));
    if (d.volatile_capacity % kCapacityUnit != 0 || d.persistent_capacity % kCapacityUnit != 0) {
        return bad("volatile_capacity/persistent_capacity", "must be multiples of 256 MiB");
    }
    if (d.total_capacity() == 0) {
        return bad("volatile_capacity/persistent_capacity", "must not both be zero");
    }
    CXLMGR_CHECK(read_unsigned(j, "lsa_size", d.lsa_size, 1u << 24));
    CXLMGR_CHECK(read_unsigned(j, "poison_list_max", d.poison_list_max, 0xFFFFFF));
    if (d.poison_list_max == 0) {
        return bad("poison_list_max", "must be at least 1");
    }
    CXLMGR_CHECK(read_unsigned(j, "security_state", d.security_state, 0x3F));
    CXLMGR_CHECK(read_string(j, "fw_revision", d.fw_revision));
    if (d.fw_revision.size() > 16) {
        return bad("fw_revision", "must be at most 16 characters");
    }
    CXLMGR_CHECK(read_object(j, "cdat", d.cdat));
    CXLMGR_CHECK(read_object(j, "firmware", d.firmware));
    CXLMGR_CHECK(read_object(j, "events", d.events));
    CXLMGR_CHECK(read_object(j, "mailbox", d.mailbox));
    CXLMGR_CHECK(read_object(j, "timing", d.timing));
    CXLMGR_CHECK(read_string(j, "state_file", d.state_file));
    if (j.contains("state_file") && d.state_file.empty()) {
        return bad("state_file", "must be a file path (omit the key for no state file)");
    }
    return d;
}

}  // namespace cxlmgr::emu
