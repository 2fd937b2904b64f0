#include "cxl/commands/health.hpp"

#include <array>

namespace cxlmgr::cxl {
namespace {

constexpr const CommandSpec& kSpec = command_spec(opcode::kGetHealthInfo);

constexpr std::array<std::string_view, 10> kMediaStatus = {
    "normal",
    "not ready",
    "write persistency lost",
    "all data lost",
    "write persistency loss in the event of power loss",
    "write persistency loss in the event of shutdown",
    "write persistency loss imminent",
    "all data loss in the event of power loss",
    "all data loss in the event of shutdown",
    "all data loss imminent",
};

}  // namespace

std::string_view media_status_name(uint8_t media_status) {
    return media_status < kMediaStatus.size() ? kMediaStatus[media_status] : "reserved";
}

std::string_view additional_status_level_name(uint8_t level) {
    switch (level) {
        case 0:
            return "normal";
        case 1:
            return "warning";
        case 2:
            return "critical";
        default:
            return "reserved";
    }
}

Command<HealthInfo> get_health_info() {
    return make_command<HealthInfo>(kSpec, {}, decode_health);
}

Result<HealthInfo> decode_health(ByteSpan out) {
    CXLMGR_CHECK(check_min_length(out, kHealthInfoSize, kSpec.name));
    HealthInfo h;
    h.health_status = u8_at(out, 0);
    h.media_status = u8_at(out, 1);
    h.additional_status = u8_at(out, 2);
    h.life_used = u8_at(out, 3);
    h.temperature = static_cast<int16_t>(u16_at(out, 4));
    h.dirty_shutdown_count = u32_at(out, 6);
    h.corrected_volatile_errors = u32_at(out, 0x0A);
    h.corrected_persistent_errors = u32_at(out, 0x0E);
    return h;
}

nlohmann::json health_to_json(const HealthInfo& h) {
    const uint8_t as = h.additional_status;
    return {
        {"health_status", h.health_status},
        {"media_status", h.media_status},
        {"additional_status", h.additional_status},
        {"life_used", h.life_used},
        {"temperature", h.temperature},
        {"dirty_shutdown_count", h.dirty_shutdown_count},
        {"corrected_volatile_errors", h.corrected_volatile_errors},
        {"corrected_persistent_errors", h.corrected_persistent_errors},
        {"maintenance_needed", (h.health_status & kHealthMaintenanceNeeded) != 0},
        {"performance_degraded", (h.health_status & kHealthPerformanceDegraded) != 0},
        {"replacement_needed", (h.health_status & kHealthReplacementNeeded) != 0},
        {"capacity_degraded", (h.health_status & kHealthCapacityDegraded) != 0},
        {"media_status_name", media_status_name(h.media_status)},
        {"life_used_status", additional_status_level_name(as & 0x3)},
        {"temperature_status", additional_status_level_name((as >> 2) & 0x3)},
        {"corrected_volatile_error_threshold", (as & 0x10) != 0},
        {"corrected_persistent_error_threshold", (as & 0x20) != 0},
    };
}

}  // namespace cxlmgr::cxl
