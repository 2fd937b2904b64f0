#include "emu/media_state.hpp"

#include "emu/device_state.hpp"
#include "emu/mailbox_defs.hpp"

namespace cxlmgr::emu {
namespace {

using nlohmann::json;

json records_json(const std::vector<PoisonRecord>& records) {
    json a = json::array();
    for (const auto& r : records) {
        a.push_back({{"dpa", r.dpa}, {"length", r.length}, {"source", r.source}});
    }
    return a;
}

Result<std::vector<PoisonRecord>> records_from(const json& j, std::string_view key) {
    CXLMGR_ASSIGN(const json* a, state::member(j, key));
    if (!a->is_array()) {
        return Error(Errc::InvalidArgument, "'" + std::string(key) + "' must be an array");
    }
    std::vector<PoisonRecord> out;
    for (const auto& r : *a) {
        PoisonRecord p;
        CXLMGR_ASSIGN(p.dpa, state::get_uint(r, "dpa"));
        CXLMGR_ASSIGN(p.length, state::get_uint(r, "length"));
        CXLMGR_ASSIGN(uint64_t source, state::get_uint(r, "source", 7));
        p.source = static_cast<uint8_t>(source);
        out.push_back(p);
    }
    return out;
}

}  // namespace

json MediaState::save() const {
    return {
        {"alerts",
         {{"enabled", alerts.enabled},
          {"life_used_warning", alerts.life_used_warning},
          {"over_temperature_warning", alerts.over_temperature_warning},
          {"under_temperature_warning", alerts.under_temperature_warning},
          {"corrected_volatile_warning", alerts.corrected_volatile_warning},
          {"corrected_persistent_warning", alerts.corrected_persistent_warning}}},
        {"poison", records_json(poison)},
        {"overflow_time", overflow_time ? json(*overflow_time) : json(nullptr)},
        {"scan",
         {{"done", scan_done},
          {"stopped", scan_stopped},
          {"restart_dpa", scan_restart_dpa},
          {"restart_length", scan_restart_length},
          {"results", records_json(scan_results)}}},
        {"lsa", state::bytes_hex(lsa)},
        {"scrub", {{"cycle_hours", scrub_cycle_hours}, {"enabled", scrub_enabled}}},
        {"in_flight", in_flight
                          ? json{{"opcode", *in_flight}, {"dpa", scan_dpa}, {"length", scan_length}}
                          : json(nullptr)},
    };
}

Result<MediaState> MediaState::restore(const json& j, size_t lsa_size, size_t poison_max) {
    MediaState m;
    CXLMGR_ASSIGN(const json* a, state::member(j, "alerts"));
    CXLMGR_ASSIGN(uint64_t enabled, state::get_uint(*a, "enabled", 0x1F));
    CXLMGR_ASSIGN(uint64_t life, state::get_uint(*a, "life_used_warning", 100));
    CXLMGR_ASSIGN(int64_t over, state::get_int(*a, "over_temperature_warning"));
    CXLMGR_ASSIGN(int64_t under, state::get_int(*a, "under_temperature_warning"));
    CXLMGR_ASSIGN(uint64_t cvol, state::get_uint(*a, "corrected_volatile_warning", UINT16_MAX));
    CXLMGR_ASSIGN(uint64_t cper, state::get_uint(*a, "corrected_persistent_warning", UINT16_MAX));
    if (over < INT16_MIN || over > INT16_MAX || under < INT16_MIN || under > INT16_MAX) {
        return Error(Errc::InvalidArgument, "'alerts' temperatures are out of range");
    }
    m.alerts.enabled = static_cast<uint8_t>(enabled);
    m.alerts.life_used_warning = static_cast<uint8_t>(life);
    m.alerts.over_temperature_warning = static_cast<int16_t>(over);
    m.alerts.under_temperature_warning = static_cast<int16_t>(under);
    m.alerts.corrected_volatile_warning = static_cast<uint16_t>(cvol);
    m.alerts.corrected_persistent_warning = static_cast<uint16_t>(cper);

    CXLMGR_ASSIGN(m.poison, records_from(j, "poison"));
    if (m.poison.size() > poison_max) {
        return Error(Errc::InvalidArgument, "'poison' holds more than poison_list_max records");
    }
    CXLMGR_ASSIGN(const json* ot, state::member(j, "overflow_time"));
    if (!ot->is_null()) {
        CXLMGR_ASSIGN(m.overflow_time, state::get_uint(j, "overflow_time"));
    }
    CXLMGR_ASSIGN(const json* s, state::member(j, "scan"));
    CXLMGR_ASSIGN(m.scan_done, state::get_bool(*s, "done"));
    CXLMGR_ASSIGN(m.scan_stopped, state::get_bool(*s, "stopped"));
    CXLMGR_ASSIGN(m.scan_restart_dpa, state::get_uint(*s, "restart_dpa"));
    CXLMGR_ASSIGN(m.scan_restart_length, state::get_uint(*s, "restart_length"));
    CXLMGR_ASSIGN(m.scan_results, records_from(*s, "results"));

    CXLMGR_ASSIGN(m.lsa, state::get_bytes(j, "lsa", lsa_size));
    CXLMGR_ASSIGN(const json* sc, state::member(j, "scrub"));
    CXLMGR_ASSIGN(uint64_t hours, state::get_uint(*sc, "cycle_hours", UINT8_MAX));
    CXLMGR_ASSIGN(m.scrub_enabled, state::get_bool(*sc, "enabled"));
    m.scrub_cycle_hours = static_cast<uint8_t>(hours);

    CXLMGR_ASSIGN(const json* f, state::member(j, "in_flight"));
    if (!f->is_null()) {
        CXLMGR_ASSIGN(uint64_t opcode, state::get_uint(*f, "opcode", UINT16_MAX));
        CXLMGR_ASSIGN(m.scan_dpa, state::get_uint(*f, "dpa"));
        CXLMGR_ASSIGN(m.scan_length, state::get_uint(*f, "length"));
        if (opcode != opcode::kScanMedia && opcode != opcode::kSanitize &&
            opcode != opcode::kSecureErase) {
            return Error(Errc::InvalidArgument,
                         "'in_flight' names opcode " + std::to_string(opcode) +
                             ", which is not a media operation (Scan Media, Sanitize, Secure "
                             "Erase)");
        }
        m.in_flight = static_cast<uint16_t>(opcode);
    }
    return m;
}

}  // namespace cxlmgr::emu
