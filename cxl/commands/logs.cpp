#include "cxl/commands/logs.hpp"

#include <array>
#include <string_view>

namespace cxlmgr::cxl {
namespace {

constexpr const CommandSpec& kSupportedSpec = command_spec(opcode::kGetSupportedLogs);
constexpr const CommandSpec& kGetLogSpec = command_spec(opcode::kGetLog);

Result<Bytes> copy_log(ByteSpan out) {
    return Bytes(out.begin(), out.end());
}

constexpr std::array<std::string_view, 9> kEffectNames = {
    "config_change_after_cold_reset",
    "immediate_config_change",
    "immediate_data_change",
    "immediate_policy_change",
    "immediate_log_change",
    "security_state_change",
    "background_operation",
    "secondary_mailbox_supported",
    "request_abort_background_supported",
};

}  // namespace

Command<std::vector<SupportedLog>> get_supported_logs() {
    return make_command<std::vector<SupportedLog>>(kSupportedSpec, {}, decode_supported_logs);
}

Result<std::vector<SupportedLog>> decode_supported_logs(ByteSpan out) {
    CXLMGR_CHECK(check_min_length(out, kSupportedLogsHeaderSize, kSupportedSpec.name));
    const size_t count = u16_at(out, 0);
    const size_t needed = kSupportedLogsHeaderSize + count * kSupportedLogEntrySize;
    if (out.size() < needed) {
        return Error(Errc::DeviceError, std::string(kSupportedSpec.name) + " claims " +
                                            std::to_string(count) + " entries (" +
                                            std::to_string(needed) + " bytes) but returned " +
                                            std::to_string(out.size()) + " bytes");
    }
    std::vector<SupportedLog> logs;
    logs.reserve(count);
    for (size_t i = 0; i < count; ++i) {
        const size_t at = kSupportedLogsHeaderSize + i * kSupportedLogEntrySize;
        logs.push_back(SupportedLog{Uuid::from_bytes(out.subspan(at, 16)), u32_at(out, at + 16)});
    }
    return logs;
}

nlohmann::json supported_logs_to_json(const std::vector<SupportedLog>& logs) {
    nlohmann::json j = nlohmann::json::array();
    for (const auto& l : logs) {
        j.push_back({{"uuid", l.uuid.to_string()}, {"size", l.size}});
    }
    return j;
}

Result<Command<Bytes>> get_log(const Uuid& log, uint32_t offset, uint32_t length,
                               uint32_t payload_size) {
    if (length == 0 || length > payload_size) {
        return Error(Errc::InvalidArgument,
                     std::string(kGetLogSpec.name) + ": length " + std::to_string(length) +
                         " must be between 1 and the " + std::to_string(payload_size) +
                         "-byte payload size");
    }
    Bytes in(kGetLogInputSize, 0);
    std::copy(log.bytes.begin(), log.bytes.end(), in.begin());
    store_le(in, 16, offset, 4);
    store_le(in, 20, length, 4);
    return make_command<Bytes>(kGetLogSpec, std::move(in), copy_log);
}

Result<std::vector<CommandEffect>> decode_command_effects_log(ByteSpan log) {
    if (log.size() % kCelEntrySize != 0) {
        return Error(Errc::DeviceError, "the Command Effects Log is " + std::to_string(log.size()) +
                                            " bytes long, not a whole number of 4-byte entries");
    }
    std::vector<CommandEffect> cel;
    cel.reserve(log.size() / kCelEntrySize);
    for (size_t at = 0; at < log.size(); at += kCelEntrySize) {
        cel.push_back(CommandEffect{u16_at(log, at), u16_at(log, at + 2)});
    }
    return cel;
}

nlohmann::json command_effects_log_to_json(const std::vector<CommandEffect>& cel) {
    nlohmann::json j = nlohmann::json::array();
    for (const auto& e : cel) {
        nlohmann::json names = nlohmann::json::array();
        for (size_t bit = 0; bit < kEffectNames.size(); ++bit) {
            if ((e.effects & (1u << bit)) != 0) {
                names.push_back(kEffectNames[bit]);
            }
        }
        j.push_back({{"opcode", e.opcode},
                     {"name", opcode::name(e.opcode)},
                     {"effects", e.effects},
                     {"effect_names", std::move(names)}});
    }
    return j;
}

}  // namespace cxlmgr::cxl
