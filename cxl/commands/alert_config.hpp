// Get Alert Configuration (0x4201) and Set Alert Configuration (0x4202): the device's warning
// thresholds for life used, temperature and corrected error counts. The two layouts differ (Get
// also reports the critical thresholds the host cannot change; Set carries which alerts to
// change and whether to enable them): docs/PROTOCOL.md "Alert configuration".
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>

#include "cxl/commands/command.hpp"

namespace cxlmgr::cxl {

inline constexpr size_t kAlertConfigSize = command_spec(opcode::kGetAlertConfig).min_output;
inline constexpr size_t kSetAlertConfigSize = command_spec(opcode::kSetAlertConfig).input.bytes;

// Alert bits, the same in Get's valid/programmable bytes and Set's valid/enable action bytes.
inline constexpr uint8_t kAlertLifeUsed = 1u << 0;
inline constexpr uint8_t kAlertOverTemperature = 1u << 1;
inline constexpr uint8_t kAlertUnderTemperature = 1u << 2;
inline constexpr uint8_t kAlertCorrectedVolatileErrors = 1u << 3;
inline constexpr uint8_t kAlertCorrectedPersistentErrors = 1u << 4;

struct AlertConfig {
    uint8_t valid_alerts = 0;               // warning thresholds in force
    uint8_t programmable_alerts = 0;        // warning thresholds the host may set
    uint8_t life_used_critical = 0;         // percent
    uint8_t life_used_warning = 0;          // percent
    int16_t over_temperature_critical = 0;  // degrees Celsius
    int16_t under_temperature_critical = 0;
    int16_t over_temperature_warning = 0;
    int16_t under_temperature_warning = 0;
    uint16_t corrected_volatile_warning = 0;  // errors
    uint16_t corrected_persistent_warning = 0;

    bool operator==(const AlertConfig&) const = default;
};

// What Set Alert Configuration changes: the thresholds of the alerts in `valid_actions`, each
// enabled or disabled by its bit in `enable_actions`; the other thresholds are ignored.
struct AlertConfigUpdate {
    uint8_t valid_actions = 0;
    uint8_t enable_actions = 0;
    uint8_t life_used_warning = 0;
    int16_t over_temperature_warning = 0;
    int16_t under_temperature_warning = 0;
    uint16_t corrected_volatile_warning = 0;
    uint16_t corrected_persistent_warning = 0;
};

Command<AlertConfig> get_alert_config();
Result<AlertConfig> decode_alert_config(ByteSpan output);
// InvalidArgument for alert bits beyond the five defined ones.
Result<Command<Unit>> set_alert_config(const AlertConfigUpdate& update);

// Keys: the AlertConfig field names, plus "valid" and "programmable" as lists of alert names
// ("life_used", "over_temperature", "under_temperature", "corrected_volatile_errors",
// "corrected_persistent_errors").
nlohmann::json alert_config_to_json(const AlertConfig& config);

}  // namespace cxlmgr::cxl
