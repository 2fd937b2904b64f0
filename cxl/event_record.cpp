#include "cxl/event_record.hpp"

#include <algorithm>

namespace cxlmgr::cxl {
namespace {

MediaEventFields decode_media(ByteSpan r) {
    MediaEventFields m;
    const uint64_t dpa = u64_at(r, 0x30);
    m.dpa = dpa & ~0x3Full;
    m.dpa_flags = static_cast<uint8_t>(dpa & 0x3F);
    m.descriptor = u8_at(r, 0x38);
    m.type = u8_at(r, 0x39);
    m.transaction_type = u8_at(r, 0x3A);
    m.validity_flags = u16_at(r, 0x3B);
    m.channel = u8_at(r, 0x3D);
    m.rank = u8_at(r, 0x3E);
    return m;
}

template <size_t N>
std::array<uint8_t, N> copy_array(ByteSpan r, size_t offset) {
    std::array<uint8_t, N> a{};
    std::copy_n(r.begin() + static_cast<std::ptrdiff_t>(offset), N, a.begin());
    return a;
}

template <size_t N>
nlohmann::json binary(const std::array<uint8_t, N>& bytes) {
    return nlohmann::json::binary(std::vector<uint8_t>(bytes.begin(), bytes.end()));
}

void media_to_json(nlohmann::json& j, const MediaEventFields& m) {
    j["dpa"] = m.dpa;
    j["dpa_flags"] = m.dpa_flags;
    j["descriptor"] = m.descriptor;
    j["type"] = m.type;
    j["transaction_type"] = m.transaction_type;
    j["validity_flags"] = m.validity_flags;
    j["channel"] = m.channel;
    j["rank"] = m.rank;
}

}  // namespace

std::string_view event_severity_name(EventSeverity severity) {
    switch (severity) {
        case EventSeverity::Informational:
            return "informational";
        case EventSeverity::Warning:
            return "warning";
        case EventSeverity::Failure:
            return "failure";
        case EventSeverity::Fatal:
            return "fatal";
    }
    return "unknown";
}

std::string_view event_record_kind_name(EventRecordKind kind) {
    switch (kind) {
        case EventRecordKind::GeneralMedia:
            return "general-media";
        case EventRecordKind::Dram:
            return "dram";
        case EventRecordKind::MemoryModule:
            return "memory-module";
        case EventRecordKind::Vendor:
            return "vendor";
    }
    return "vendor";
}

Result<EventRecord> decode_event_record(ByteSpan r) {
    if (r.size() != kEventRecordSize) {
        return Error(Errc::DeviceError, "event record of " + std::to_string(r.size()) +
                                            " bytes (records are 128 bytes)");
    }
    EventRecord rec;
    std::copy(r.begin(), r.end(), rec.raw.begin());
    EventRecordHeader& h = rec.header;
    h.uuid = Uuid::from_bytes(r.subspan(0, 16));
    h.length = u8_at(r, 0x10);
    h.flags = u24_at(r, 0x11);
    h.handle = u16_at(r, 0x14);
    h.related_handle = u16_at(r, 0x16);
    h.timestamp = u64_at(r, 0x18);
    h.maintenance_op_class = u8_at(r, 0x20);
    h.maintenance_op_subclass = u8_at(r, 0x21);
    if (h.length != kEventRecordSize) {
        return Error(Errc::DeviceError, "event record with handle " + std::to_string(h.handle) +
                                            " (type " + h.uuid.to_string() + ") has length " +
                                            hex(h.length) + ", not 0x80");
    }

    static const Uuid kGeneralMedia = known_uuid(uuids::kGeneralMedia);
    static const Uuid kDram = known_uuid(uuids::kDram);
    static const Uuid kMemoryModule = known_uuid(uuids::kMemoryModule);
    if (h.uuid == kGeneralMedia) {
        GeneralMediaEvent g;
        g.media = decode_media(r);
        g.device = u24_at(r, 0x3F);
        g.component_id = copy_array<16>(r, 0x42);
        rec.kind = EventRecordKind::GeneralMedia;
        rec.body = g;
    } else if (h.uuid == kDram) {
        DramEvent d;
        d.media = decode_media(r);
        d.nibble_mask = u24_at(r, 0x3F);
        d.bank_group = u8_at(r, 0x42);
        d.bank = u8_at(r, 0x43);
        d.row = u24_at(r, 0x44);
        d.column = u16_at(r, 0x47);
        d.correction_mask = copy_array<32>(r, 0x49);
        rec.kind = EventRecordKind::Dram;
        rec.body = d;
    } else if (h.uuid == kMemoryModule) {
        MemoryModuleEvent m;
        m.device_event_type = u8_at(r, 0x30);
        CXLMGR_ASSIGN(m.health, decode_health(r.subspan(0x31, kHealthInfoSize)));
        rec.kind = EventRecordKind::MemoryModule;
        rec.body = m;
    }
    return rec;
}

nlohmann::json event_record_to_json(const EventRecord& rec) {
    const EventRecordHeader& h = rec.header;
    nlohmann::json j = {
        {"uuid", h.uuid.to_string()},
        {"length", h.length},
        {"flags", h.flags},
        {"severity", event_severity_name(h.severity())},
        {"permanent", (h.flags & kEventFlagPermanent) != 0},
        {"maintenance_needed", (h.flags & kEventFlagMaintenanceNeeded) != 0},
        {"performance_degraded", (h.flags & kEventFlagPerformanceDegraded) != 0},
        {"hardware_replacement_needed", (h.flags & kEventFlagHardwareReplacementNeeded) != 0},
        {"handle", h.handle},
        {"related_handle", h.related_handle},
        {"timestamp", h.timestamp},
        {"maintenance_op_class", h.maintenance_op_class},
        {"maintenance_op_subclass", h.maintenance_op_subclass},
        {"raw", binary(rec.raw)},
    };
    if (const auto* g = std::get_if<GeneralMediaEvent>(&rec.body)) {
        media_to_json(j, g->media);
        j["device"] = g->device;
        j["component_id"] = binary(g->component_id);
    } else if (const auto* d = std::get_if<DramEvent>(&rec.body)) {
        media_to_json(j, d->media);
        j["nibble_mask"] = d->nibble_mask;
        j["bank_group"] = d->bank_group;
        j["bank"] = d->bank;
        j["row"] = d->row;
        j["column"] = d->column;
        j["correction_mask"] = binary(d->correction_mask);
    } else if (const auto* m = std::get_if<MemoryModuleEvent>(&rec.body)) {
        j["device_event_type"] = m->device_event_type;
        // Health flags share names with header flags (maintenance_needed, ...) but mean the
        // device's state rather than this event's: those get a health_ prefix.
        const nlohmann::json health = health_to_json(m->health);
        for (const auto& [key, value] : health.items()) {
            j[j.contains(key) ? "health_" + key : key] = value;
        }
    }
    return j;
}

}  // namespace cxlmgr::cxl
