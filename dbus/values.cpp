#include "dbus/values.hpp"

#include <sdbus-c++/Message.h>

#include <span>
#include <string_view>
#include <type_traits>
#include <variant>

namespace cxlmgr::dbus {
namespace {

// The contract's types (values.hpp): every unsigned field is t, however narrow the field, so a
// client reads each key with one type.
sdbus::Variant unsigned_value(uint64_t v) {
    return sdbus::Variant(v);
}

sdbus::Variant flag(bool v) {
    return sdbus::Variant(v);
}

sdbus::Variant text(std::string_view v) {
    return sdbus::Variant(std::string(v));
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

}  // namespace cxlmgr::dbus
