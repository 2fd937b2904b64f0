#include "emu/event_records.hpp"

#include <algorithm>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "emu/mailbox_defs.hpp"

namespace cxlmgr::emu {
namespace {

using nlohmann::json;

// Record UUIDs in wire order (the byte order of the written form, as Linux's UUID_INIT).
constexpr std::string_view kGeneralMediaUuid = "fbcd0a77-c260-417f-85a9-088b1621eba6";
constexpr std::string_view kDramUuid = "601dcbb3-9c06-4eab-b8af-4e9bfb5c9624";
constexpr std::string_view kMemoryModuleUuid = "fe927475-dd59-4339-a586-79bab113b774";
// The emulator's own vendor-defined record type, used when a vendor event names no UUID.
constexpr std::string_view kEmulatorVendorUuid = "2f3c5a1e-8b7d-4c6e-9f0a-1b2c3d4e5f60";

constexpr size_t kOffLength = 0x10;
constexpr size_t kOffFlags = 0x11;
constexpr size_t kOffRelatedHandle = 0x16;
constexpr size_t kOffMaintenanceClass = 0x20;
constexpr size_t kOffBody = 0x30;
constexpr size_t kOffValidity = 0x3B;
constexpr size_t kVendorDataSize = kEventRecordSize - kOffBody;

// A plain integer field: name, offset, width, and the validity bit it sets (-1: none).
struct FieldSpec {
    std::string_view name;
    size_t offset;
    unsigned width;
    int valid_bit;
};

constexpr FieldSpec kCommonFields[] = {
    {"flags", kOffFlags, 1, -1},
    {"related_handle", kOffRelatedHandle, 2, -1},
    {"maintenance_op_class", kOffMaintenanceClass, 1, -1},
    {"timestamp", kRecordTimestampOffset, 8, -1},
};

constexpr FieldSpec kGeneralMediaFields[] = {
    {"dpa", 0x30, 8, -1},
    {"descriptor", 0x38, 1, -1},
    {"type", 0x39, 1, -1},
    {"transaction_type", 0x3A, 1, -1},
    {"validity_flags", kOffValidity, 2, -1},
    {"channel", 0x3D, 1, 0},
    {"rank", 0x3E, 1, 1},
    {"device", 0x3F, 3, 2},
};
constexpr int kGeneralMediaComponentValid = 3;
constexpr size_t kGeneralMediaComponentOffset = 0x42;

constexpr FieldSpec kDramFields[] = {
    {"dpa", 0x30, 8, -1},
    {"descriptor", 0x38, 1, -1},
    {"type", 0x39, 1, -1},
    {"transaction_type", 0x3A, 1, -1},
    {"validity_flags", kOffValidity, 2, -1},
    {"channel", 0x3D, 1, 0},
    {"rank", 0x3E, 1, 1},
    {"nibble_mask", 0x3F, 3, 2},
    {"bank_group", 0x42, 1, 3},
    {"bank", 0x43, 1, 4},
    {"row", 0x44, 3, 5},
    {"column", 0x47, 2, 6},
};
constexpr int kDramCorrectionMaskValid = 7;
constexpr size_t kDramCorrectionMaskOffset = 0x49;

Error field_error(std::string_view name, const std::string& why) {
    return Error(Errc::InvalidArgument, "event field '" + std::string(name) + "' " + why);
}

Result<uint64_t> as_uint(const json& v, std::string_view name, unsigned width) {
    if (!v.is_number_unsigned() && !(v.is_number_integer() && v.get<int64_t>() >= 0)) {
        return field_error(name, "must be a non-negative integer");
    }
    uint64_t value = v.get<uint64_t>();
    if (width < 8 && value >> (8 * width) != 0) {
        return field_error(name, "does not fit in " + std::to_string(width) + " byte(s)");
    }
    return value;
}

Result<std::vector<uint8_t>> as_bytes(const json& v, std::string_view name, size_t max) {
    std::vector<uint8_t> out;
    if (v.is_string()) {
        auto s = v.get<std::string>();
        out.assign(s.begin(), s.end());
    } else if (v.is_array()) {
        for (const auto& b : v) {
            CXLMGR_ASSIGN(uint64_t byte, as_uint(b, name, 1));
            out.push_back(static_cast<uint8_t>(byte));
        }
    } else {
        return field_error(name, "must be a string or an array of bytes");
    }
    if (out.size() > max) {
        return field_error(name, "is longer than " + std::to_string(max) + " bytes");
    }
    return out;
}

Result<std::array<uint8_t, 16>> parse_uuid(std::string_view text) {
    std::array<uint8_t, 16> out{};
    size_t n = 0;
    auto hex = [](char c) -> int {
        if (c >= '0' && c <= '9') {
            return c - '0';
        }
        if (c >= 'a' && c <= 'f') {
            return c - 'a' + 10;
        }
        if (c >= 'A' && c <= 'F') {
            return c - 'A' + 10;
        }
        return -1;
    };
    if (text.size() != 36) {
        return field_error("uuid", "must look like xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx");
    }
    for (size_t i = 0; i < text.size(); ++i) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (text[i] != '-') {
                return field_error("uuid", "must look like xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx");
            }
            continue;
        }
        int hi = hex(text[i]);
        int lo = i + 1 < text.size() ? hex(text[i + 1]) : -1;
        if (hi < 0 || lo < 0) {
            return field_error("uuid", "has a character that is not a hex digit");
        }
        out[n++] = static_cast<uint8_t>(hi << 4 | lo);
        ++i;
    }
    return out;
}

const FieldSpec* find_spec(std::span<const FieldSpec> specs, std::string_view name) {
    auto it = std::find_if(specs.begin(), specs.end(),
                           [&](const FieldSpec& s) { return s.name == name; });
    return it == specs.end() ? nullptr : &*it;
}

std::span<const FieldSpec> kind_fields(EventKind kind) {
    switch (kind) {
        case EventKind::GeneralMedia:
            return kGeneralMediaFields;
        case EventKind::Dram:
            return kDramFields;
        case EventKind::MemoryModule:
        case EventKind::Vendor:
            break;
    }
    return {};
}

std::string_view kind_name(EventKind kind) {
    switch (kind) {
        case EventKind::GeneralMedia:
            return "general-media";
        case EventKind::Dram:
            return "dram";
        case EventKind::MemoryModule:
            return "memory-module";
        case EventKind::Vendor:
            return "vendor";
    }
    return "?";
}

std::string_view kind_uuid(EventKind kind) {
    switch (kind) {
        case EventKind::GeneralMedia:
            return kGeneralMediaUuid;
        case EventKind::Dram:
            return kDramUuid;
        case EventKind::MemoryModule:
            return kMemoryModuleUuid;
        case EventKind::Vendor:
            break;
    }
    return kEmulatorVendorUuid;
}

// Applies one Memory Module field to the health copy; false if the name is not one of them.
Result<bool> apply_health_field(HealthInfo& h, std::string_view name, const json& v) {
    if (name == "temperature") {
        if (!v.is_number_integer() || v.get<int64_t>() < INT16_MIN ||
            v.get<int64_t>() > INT16_MAX) {
            return field_error(name, "must be an integer from -32768 to 32767");
        }
        h.temperature = static_cast<int16_t>(v.get<int64_t>());
        return true;
    }
    struct U8 {
        std::string_view n;
        uint8_t HealthInfo::*m;
    };
    struct U32 {
        std::string_view n;
        uint32_t HealthInfo::*m;
    };
    static constexpr U8 kU8[] = {{"health_status", &HealthInfo::health_status},
                                 {"media_status", &HealthInfo::media_status},
                                 {"additional_status", &HealthInfo::additional_status},
                                 {"life_used", &HealthInfo::life_used}};
    static constexpr U32 kU32[] = {
        {"dirty_shutdown_count", &HealthInfo::dirty_shutdown_count},
        {"corrected_volatile_errors", &HealthInfo::corrected_volatile_errors},
        {"corrected_persistent_errors", &HealthInfo::corrected_persistent_errors}};
    for (const auto& f : kU8) {
        if (f.n == name) {
            CXLMGR_ASSIGN(uint64_t x, as_uint(v, name, 1));
            if (name == "life_used" && x > 100) {
                return field_error(name, "is a percentage (0..100)");
            }
            h.*f.m = static_cast<uint8_t>(x);
            return true;
        }
    }
    for (const auto& f : kU32) {
        if (f.n == name) {
            CXLMGR_ASSIGN(uint64_t x, as_uint(v, name, 4));
            h.*f.m = static_cast<uint32_t>(x);
            return true;
        }
    }
    return false;
}

// Fills the kind-specific fields; returns the validity bits the optional fields imply.
Result<uint16_t> fill_body(EventRecord& rec, EventKind kind, std::string_view name, const json& v,
                           HealthInfo& health, bool& handled) {
    handled = true;
    if (const FieldSpec* s = find_spec(kind_fields(kind), name)) {
        CXLMGR_ASSIGN(uint64_t x, as_uint(v, name, s->width));
        store_le(rec, s->offset, x, s->width);
        return static_cast<uint16_t>(s->valid_bit >= 0 ? 1u << s->valid_bit : 0u);
    }
    if (kind == EventKind::GeneralMedia && name == "component_id") {
        CXLMGR_ASSIGN(auto bytes, as_bytes(v, name, 16));
        std::copy(bytes.begin(), bytes.end(), rec.begin() + kGeneralMediaComponentOffset);
        return static_cast<uint16_t>(1u << kGeneralMediaComponentValid);
    }
    if (kind == EventKind::Dram && name == "correction_mask") {
        if (!v.is_array() || v.size() > 4) {
            return field_error(name, "must be an array of up to 4 64-bit integers");
        }
        for (size_t i = 0; i < v.size(); ++i) {
            CXLMGR_ASSIGN(uint64_t x, as_uint(v[i], name, 8));
            store_le(rec, kDramCorrectionMaskOffset + 8 * i, x, 8);
        }
        return static_cast<uint16_t>(1u << kDramCorrectionMaskValid);
    }
    if (kind == EventKind::MemoryModule) {
        if (name == "type") {
            CXLMGR_ASSIGN(uint64_t x, as_uint(v, name, 1));
            rec[kOffBody] = static_cast<uint8_t>(x);
            return uint16_t{0};
        }
        CXLMGR_ASSIGN(bool applied, apply_health_field(health, name, v));
        handled = applied;
        return uint16_t{0};
    }
    if (kind == EventKind::Vendor && name == "uuid") {
        if (!v.is_string()) {
            return field_error(name, "must be a string");
        }
        CXLMGR_ASSIGN(auto uuid, parse_uuid(v.get<std::string>()));
        std::copy(uuid.begin(), uuid.end(), rec.begin());
        return uint16_t{0};
    }
    if (kind == EventKind::Vendor && name == "data") {
        CXLMGR_ASSIGN(auto bytes, as_bytes(v, name, kVendorDataSize));
        std::copy(bytes.begin(), bytes.end(), rec.begin() + kOffBody);
        return uint16_t{0};
    }
    handled = false;
    return uint16_t{0};
}

}  // namespace

Result<EventLog> parse_event_log(std::string_view name) {
    constexpr std::string_view kNames[kEventLogCount] = {"informational", "warning", "failure",
                                                         "fatal"};
    for (unsigned i = 0; i < kEventLogCount; ++i) {
        if (kNames[i] == name) {
            return static_cast<EventLog>(i);
        }
    }
    return Error(Errc::InvalidArgument, "unknown event log '" + std::string(name) +
                                            "' (known: informational, warning, failure, fatal)");
}

Result<EventKind> parse_event_kind(std::string_view name) {
    for (auto kind :
         {EventKind::GeneralMedia, EventKind::Dram, EventKind::MemoryModule, EventKind::Vendor}) {
        if (kind_name(kind) == name) {
            return kind;
        }
    }
    return Error(Errc::InvalidArgument,
                 "unknown event kind '" + std::string(name) +
                     "' (known: general-media, dram, memory-module, vendor)");
}

std::array<uint8_t, HealthInfo::kSize> HealthInfo::encode() const {
    std::array<uint8_t, kSize> out{};
    out[0] = health_status;
    out[1] = media_status;
    out[2] = additional_status;
    out[3] = life_used;
    store_le(out, 4, static_cast<uint16_t>(temperature), 2);
    store_le(out, 6, dirty_shutdown_count, 4);
    store_le(out, 0x0A, corrected_volatile_errors, 4);
    store_le(out, 0x0E, corrected_persistent_errors, 4);
    return out;
}

Result<EventRecord> build_event_record(EventLog log, EventKind kind, const json& fields,
                                       uint64_t timestamp_ns, HealthInfo& health) {
    if (!fields.is_object()) {
        return Error(Errc::InvalidArgument, "event fields must be an object");
    }
    EventRecord rec{};
    auto uuid = parse_uuid(kind_uuid(kind));
    if (!uuid.ok()) {
        throw std::logic_error("built-in event UUID does not parse");
    }
    std::copy(uuid->begin(), uuid->end(), rec.begin());
    rec[kOffLength] = static_cast<uint8_t>(kEventRecordSize);
    store_le(rec, kRecordTimestampOffset, timestamp_ns, 8);

    HealthInfo new_health = health;
    uint16_t validity = 0;
    std::optional<uint16_t> explicit_validity;
    for (const auto& [key, value] : fields.items()) {
        if (const FieldSpec* s = find_spec(kCommonFields, key)) {
            CXLMGR_ASSIGN(uint64_t x, as_uint(value, key, s->width));
            if (key == "flags" && (x & 0x3u) != 0) {
                return field_error(key, "must leave bits [1:0] clear: the log sets the severity");
            }
            store_le(rec, s->offset, x, s->width);
            continue;
        }
        bool handled = false;
        CXLMGR_ASSIGN(uint16_t bits, fill_body(rec, kind, key, value, new_health, handled));
        if (!handled) {
            return field_error(key,
                               "is not known for a " + std::string(kind_name(kind)) + " event");
        }
        if (key == "validity_flags") {
            explicit_validity = static_cast<uint16_t>(load_le(rec, kOffValidity, 2));
        }
        validity |= bits;
    }
    rec[kOffFlags] = static_cast<uint8_t>(rec[kOffFlags] | static_cast<uint8_t>(log));
    if (kind == EventKind::GeneralMedia || kind == EventKind::Dram) {
        store_le(rec, kOffValidity, explicit_validity.value_or(validity), 2);
    }
    if (kind == EventKind::MemoryModule) {
        auto bytes = new_health.encode();
        std::copy(bytes.begin(), bytes.end(), rec.begin() + kOffBody + 1);
        health = new_health;
    }
    return rec;
}

}  // namespace cxlmgr::emu
