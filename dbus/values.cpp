#include "dbus/values.hpp"

#include <span>
#include <string_view>
#include <type_traits>
#include <variant>

namespace cxlmgr::dbus {
namespace {

// The contract's types (values.hpp): every unsigned field is t and every signed one x, however
// narrow the field, so a client reads each key with one type.
sdbus::Variant unsigned_value(uint64_t v) {
    return sdbus::Variant(v);
}

sdbus::Variant signed_value(int64_t v) {
    return sdbus::Variant(v);
}

sdbus::Variant flag(bool v) {
    return sdbus::Variant(v);
}

sdbus::Variant text(std::string_view v) {
    return sdbus::Variant(std::string(v));
}

sdbus::Variant bytes(std::span<const uint8_t> v) {
    return sdbus::Variant(std::vector<uint8_t>(v.begin(), v.end()));
}

// An array with its element type, or av when it is empty.
template <typename T>
sdbus::Variant array(std::vector<T> elements) {
    if (elements.empty()) {
        return sdbus::Variant(std::vector<sdbus::Variant>{});
    }
    return sdbus::Variant(std::move(elements));
}

template <typename Range>
std::vector<uint64_t> unsigned_array(const Range& values) {
    return std::vector<uint64_t>(std::begin(values), std::end(values));
}

struct CdatEntryToDict {
    VariantDict operator()(const daemon::CdatDsmas& s) const {
        return {{"dsmad_handle", unsigned_value(s.dsmad_handle)},
                {"flags", unsigned_value(s.flags)},
                {"dpa_base", unsigned_value(s.dpa_base)},
                {"dpa_length", unsigned_value(s.dpa_length)}};
    }
    VariantDict operator()(const daemon::CdatDslbis& s) const {
        return {{"handle", unsigned_value(s.handle)},
                {"flags", unsigned_value(s.flags)},
                {"data_type", unsigned_value(s.data_type)},
                {"entry_base_unit", unsigned_value(s.entry_base_unit)},
                {"entries", array(unsigned_array(s.entries))}};
    }
    VariantDict operator()(const daemon::CdatDsmscis& s) const {
        return {{"dsmas_handle", unsigned_value(s.dsmas_handle)},
                {"side_cache_size", unsigned_value(s.side_cache_size)},
                {"cache_attributes", unsigned_value(s.cache_attributes)}};
    }
    VariantDict operator()(const daemon::CdatDsis& s) const {
        return {{"flags", unsigned_value(s.flags)}, {"handle", unsigned_value(s.handle)}};
    }
    VariantDict operator()(const daemon::CdatDsemts& s) const {
        return {{"dsmas_handle", unsigned_value(s.dsmas_handle)},
                {"efi_memory_type_attr", unsigned_value(s.efi_memory_type_attr)},
                {"dpa_offset", unsigned_value(s.dpa_offset)},
                {"dpa_length", unsigned_value(s.dpa_length)}};
    }
    VariantDict operator()(const daemon::CdatSslbis& s) const {
        std::vector<VariantDict> entries;
        entries.reserve(s.entries.size());
        for (const auto& e : s.entries) {
            entries.push_back({{"port_x_id", unsigned_value(e.port_x_id)},
                               {"port_y_id", unsigned_value(e.port_y_id)},
                               {"latency_or_bandwidth", unsigned_value(e.latency_or_bandwidth)}});
        }
        return {{"data_type", unsigned_value(s.data_type)},
                {"entry_base_unit", unsigned_value(s.entry_base_unit)},
                {"entries", array(std::move(entries))}};
    }
    VariantDict operator()(const daemon::CdatUnknown& s) const {
        return {{"type_id", unsigned_value(s.type_id)}, {"raw", array(s.raw)}};
    }
};

void add_media_fields(VariantDict& d, const daemon::MediaEventFields& m) {
    d["dpa"] = unsigned_value(m.dpa);
    d["dpa_flags"] = unsigned_value(m.dpa_flags);
    d["descriptor"] = unsigned_value(m.descriptor);
    d["type"] = unsigned_value(m.type);
    d["transaction_type"] = unsigned_value(m.transaction_type);
    d["validity_flags"] = unsigned_value(m.validity_flags);
    d["channel"] = unsigned_value(m.channel);
    d["rank"] = unsigned_value(m.rank);
}

VariantDict record_to_dict(const daemon::EventRecord& record) {
    const daemon::EventRecordHeader& h = record.header;
    VariantDict d = {
        {"uuid", text(h.uuid.to_string())},
        {"length", unsigned_value(h.length)},
        {"flags", unsigned_value(h.flags)},
        {"severity", text(daemon::event_severity_name(h.severity()))},
        {"permanent", flag((h.flags & daemon::kEventFlagPermanent) != 0)},
        {"maintenance_needed", flag((h.flags & daemon::kEventFlagMaintenanceNeeded) != 0)},
        {"performance_degraded", flag((h.flags & daemon::kEventFlagPerformanceDegraded) != 0)},
        {"hardware_replacement_needed",
         flag((h.flags & daemon::kEventFlagHardwareReplacementNeeded) != 0)},
        {"handle", unsigned_value(h.handle)},
        {"related_handle", unsigned_value(h.related_handle)},
        {"timestamp", unsigned_value(h.timestamp)},
        {"maintenance_op_class", unsigned_value(h.maintenance_op_class)},
        {"maintenance_op_subclass", unsigned_value(h.maintenance_op_subclass)},
        {"raw", bytes(record.raw)},
    };
    if (const auto* g = std::get_if<daemon::GeneralMediaEvent>(&record.body)) {
        add_media_fields(d, g->media);
        d["device"] = unsigned_value(g->device);
        d["component_id"] = bytes(g->component_id);
    } else if (const auto* r = std::get_if<daemon::DramEvent>(&record.body)) {
        add_media_fields(d, r->media);
        d["nibble_mask"] = unsigned_value(r->nibble_mask);
        d["bank_group"] = unsigned_value(r->bank_group);
        d["bank"] = unsigned_value(r->bank);
        d["row"] = unsigned_value(r->row);
        d["column"] = unsigned_value(r->column);
        d["correction_mask"] = bytes(r->correction_mask);
    } else if (const auto* m = std::get_if<daemon::MemoryModuleEvent>(&record.body)) {
        d["device_event_type"] = unsigned_value(m->device_event_type);
        // The health flags share names with the header's (maintenance_needed, ...) but tell the
        // device's state rather than this event's: those get a health_ prefix.
        for (auto& [key, value] : health_to_dict(m->health)) {
            d[d.count(key) != 0 ? "health_" + key : key] = std::move(value);
        }
    }
    return d;
}

}  // namespace

VariantDict identify_to_dict(const daemon::IdentifyInfo& i) {
    VariantDict d = {
        {"fw_revision", text(i.fw_revision)},
        {"total_capacity", unsigned_value(i.total_capacity)},
        {"volatile_capacity", unsigned_value(i.volatile_capacity)},
        {"persistent_capacity", unsigned_value(i.persistent_capacity)},
        {"partition_align", unsigned_value(i.partition_align)},
        {"info_event_log_size", unsigned_value(i.info_event_log_size)},
        {"warning_event_log_size", unsigned_value(i.warning_event_log_size)},
        {"failure_event_log_size", unsigned_value(i.failure_event_log_size)},
        {"fatal_event_log_size", unsigned_value(i.fatal_event_log_size)},
        {"lsa_size", unsigned_value(i.lsa_size)},
        {"poison_list_max", unsigned_value(i.poison_list_max)},
        {"inject_poison_limit", unsigned_value(i.inject_poison_limit)},
        {"poison_caps", unsigned_value(i.poison_caps)},
        {"qos_telemetry_caps", unsigned_value(i.qos_telemetry_caps)},
    };
    if (i.dc_event_log_size) {
        d["dc_event_log_size"] = unsigned_value(*i.dc_event_log_size);
    }
    return d;
}

VariantDict health_to_dict(const daemon::HealthInfo& h) {
    const uint8_t as = h.additional_status;
    return {
        {"health_status", unsigned_value(h.health_status)},
        {"media_status", unsigned_value(h.media_status)},
        {"additional_status", unsigned_value(h.additional_status)},
        {"life_used", unsigned_value(h.life_used)},
        {"temperature", signed_value(h.temperature)},
        {"dirty_shutdown_count", unsigned_value(h.dirty_shutdown_count)},
        {"corrected_volatile_errors", unsigned_value(h.corrected_volatile_errors)},
        {"corrected_persistent_errors", unsigned_value(h.corrected_persistent_errors)},
        {"maintenance_needed", flag((h.health_status & daemon::kHealthMaintenanceNeeded) != 0)},
        {"performance_degraded", flag((h.health_status & daemon::kHealthPerformanceDegraded) != 0)},
        {"replacement_needed", flag((h.health_status & daemon::kHealthReplacementNeeded) != 0)},
        {"capacity_degraded", flag((h.health_status & daemon::kHealthCapacityDegraded) != 0)},
        {"media_status_name", text(daemon::media_status_name(h.media_status))},
        // Additional status: life used in [1:0], temperature in [3:2], the corrected error
        // thresholds in bits 4 and 5.
        {"life_used_status", text(daemon::additional_status_level_name(as & 0x3))},
        {"temperature_status", text(daemon::additional_status_level_name((as >> 2) & 0x3))},
        {"corrected_volatile_error_threshold", flag((as & 0x10) != 0)},
        {"corrected_persistent_error_threshold", flag((as & 0x20) != 0)},
    };
}

VariantDict fw_info_to_dict(const daemon::FwInfo& i) {
    return {
        {"slot_count", unsigned_value(i.slot_count)},
        {"active_slot", unsigned_value(i.active_slot)},
        {"staged_slot", unsigned_value(i.staged_slot)},
        {"online_activation", flag(i.online_activation)},
        {"slot_revisions", array(i.slot_revisions)},
    };
}

std::vector<VariantDict> cdat_to_dicts(const daemon::CdatTable& table) {
    std::vector<VariantDict> out;
    out.reserve(table.entries.size() + 1);
    out.push_back({{"type", text("header")},
                   {"length", unsigned_value(table.header.length)},
                   {"revision", unsigned_value(table.header.revision)},
                   {"checksum", unsigned_value(table.header.checksum)},
                   {"sequence", unsigned_value(table.header.sequence)}});
    for (const auto& entry : table.entries) {
        VariantDict d = std::visit(CdatEntryToDict{}, entry.structure);
        d["type"] = text(daemon::cdat_structure_name(entry.structure));
        out.push_back(std::move(d));
    }
    return out;
}

VariantDict event_fields_to_dict(const daemon::DecodedEvent& event) {
    if (const auto* overflow = std::get_if<daemon::OverflowFields>(&event.fields)) {
        return {{"count", unsigned_value(overflow->count)},
                {"first_overflow_timestamp", unsigned_value(overflow->first_overflow_timestamp)},
                {"last_overflow_timestamp", unsigned_value(overflow->last_overflow_timestamp)}};
    }
    return record_to_dict(std::get<daemon::EventRecord>(event.fields));
}

}  // namespace cxlmgr::dbus
