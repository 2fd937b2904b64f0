// Get Health Info, 0x12 bytes. The same 0x12-byte layout is embedded in Memory Module event
// records, so the decoder is shared with cxl/event_record.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string_view>

#include "cxl/commands/command.hpp"

namespace cxlmgr::cxl {

inline constexpr size_t kHealthInfoSize = command_spec(opcode::kGetHealthInfo).min_output;

// Health status bits.
inline constexpr uint8_t kHealthMaintenanceNeeded = 1u << 0;
inline constexpr uint8_t kHealthPerformanceDegraded = 1u << 1;
inline constexpr uint8_t kHealthReplacementNeeded = 1u << 2;
inline constexpr uint8_t kHealthCapacityDegraded = 1u << 3;  // r3.1

struct HealthInfo {
    uint8_t health_status = 0;
    uint8_t media_status = 0;
    uint8_t additional_status = 0;
    uint8_t life_used = 0;    // percent
    int16_t temperature = 0;  // degrees Celsius
    uint32_t dirty_shutdown_count = 0;
    uint32_t corrected_volatile_errors = 0;
    uint32_t corrected_persistent_errors = 0;
};

Command<HealthInfo> get_health_info();
Result<HealthInfo> decode_health(ByteSpan output);

// "normal", "not ready", "write persistency lost", ... ("reserved" beyond the table).
std::string_view media_status_name(uint8_t media_status);
// Additional status sub-fields: 0 normal, 1 warning, 2 critical.
std::string_view additional_status_level_name(uint8_t level);

// Keys: health_status, media_status, additional_status, life_used, temperature,
// dirty_shutdown_count, corrected_volatile_errors, corrected_persistent_errors, and the decoded
// maintenance_needed, performance_degraded, replacement_needed, capacity_degraded (bool),
// media_status_name, life_used_status, temperature_status (s), and
// corrected_volatile_error_threshold, corrected_persistent_error_threshold (bool).
nlohmann::json health_to_json(const HealthInfo& health);

}  // namespace cxlmgr::cxl
