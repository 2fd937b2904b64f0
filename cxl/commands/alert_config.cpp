#include "cxl/commands/alert_config.hpp"

#include <array>
#include <string_view>

namespace cxlmgr::cxl {
namespace {

constexpr const CommandSpec& kGetSpec = command_spec(opcode::kGetAlertConfig);
constexpr const CommandSpec& kSetSpec = command_spec(opcode::kSetAlertConfig);

constexpr uint8_t kAllAlerts = kAlertLifeUsed | kAlertOverTemperature | kAlertUnderTemperature |
                               kAlertCorrectedVolatileErrors | kAlertCorrectedPersistentErrors;

constexpr std::array<std::string_view, 5> kAlertNames = {
    "life_used", "over_temperature", "under_temperature", "corrected_volatile_errors",
    "corrected_persistent_errors"};

nlohmann::json alert_names(uint8_t bits) {
    nlohmann::json names = nlohmann::json::array();
    for (size_t i = 0; i < kAlertNames.size(); ++i) {
        if ((bits & (1u << i)) != 0) {
            names.push_back(kAlertNames[i]);
        }
    }
    return names;
}

}  // namespace

Command<AlertConfig> get_alert_config() {
    return make_command<AlertConfig>(kGetSpec, {}, decode_alert_config);
}

Result<AlertConfig> decode_alert_config(ByteSpan out) {
    CXLMGR_CHECK(check_min_length(out, kAlertConfigSize, kGetSpec.name));
    AlertConfig c;
    c.valid_alerts = u8_at(out, 0);
    c.programmable_alerts = u8_at(out, 1);
    c.life_used_critical = u8_at(out, 2);
    c.life_used_warning = u8_at(out, 3);
    c.over_temperature_critical = static_cast<int16_t>(u16_at(out, 4));
    c.under_temperature_critical = static_cast<int16_t>(u16_at(out, 6));
    c.over_temperature_warning = static_cast<int16_t>(u16_at(out, 8));
    c.under_temperature_warning = static_cast<int16_t>(u16_at(out, 0x0A));
    c.corrected_volatile_warning = u16_at(out, 0x0C);
    c.corrected_persistent_warning = u16_at(out, 0x0E);
    return c;
}

Result<Command<Unit>> set_alert_config(const AlertConfigUpdate& u) {
    if (((u.valid_actions | u.enable_actions) & ~kAllAlerts) != 0) {
        return Error(Errc::InvalidArgument,
                     std::string(kSetSpec.name) + ": alert bits beyond bit 4 are reserved (valid " +
                         hex(u.valid_actions, 2) + ", enable " + hex(u.enable_actions, 2) + ")");
    }
    Bytes in(kSetAlertConfigSize, 0);
    in[0] = u.valid_actions;
    in[1] = u.enable_actions;
    in[2] = u.life_used_warning;
    store_le(in, 4, static_cast<uint16_t>(u.over_temperature_warning), 2);
    store_le(in, 6, static_cast<uint16_t>(u.under_temperature_warning), 2);
    store_le(in, 8, u.corrected_volatile_warning, 2);
    store_le(in, 0x0A, u.corrected_persistent_warning, 2);
    return make_command<Unit>(kSetSpec, std::move(in), decode_nothing);
}

nlohmann::json alert_config_to_json(const AlertConfig& c) {
    return {
        {"valid_alerts", c.valid_alerts},
        {"programmable_alerts", c.programmable_alerts},
        {"valid", alert_names(c.valid_alerts)},
        {"programmable", alert_names(c.programmable_alerts)},
        {"life_used_critical", c.life_used_critical},
        {"life_used_warning", c.life_used_warning},
        {"over_temperature_critical", c.over_temperature_critical},
        {"under_temperature_critical", c.under_temperature_critical},
        {"over_temperature_warning", c.over_temperature_warning},
        {"under_temperature_warning", c.under_temperature_warning},
        {"corrected_volatile_warning", c.corrected_volatile_warning},
        {"corrected_persistent_warning", c.corrected_persistent_warning},
    };
}

}  // namespace cxlmgr::cxl
