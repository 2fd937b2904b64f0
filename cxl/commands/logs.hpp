// Log commands: Get Supported Logs and Get Log, with the Command Effects Log (CEL) decoder: which
// opcodes the device implements and what each one affects.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <vector>

#include "cxl/commands/command.hpp"
#include "cxl/uuid.hpp"

namespace cxlmgr::cxl {

inline constexpr size_t kSupportedLogsHeaderSize =
    command_spec(opcode::kGetSupportedLogs).min_output;
inline constexpr size_t kSupportedLogEntrySize = 20;
inline constexpr size_t kGetLogInputSize = command_spec(opcode::kGetLog).input.bytes;
inline constexpr size_t kCelEntrySize = 4;

struct SupportedLog {
    Uuid uuid;
    uint32_t size = 0;  // bytes
};

Command<std::vector<SupportedLog>> get_supported_logs();
Result<std::vector<SupportedLog>> decode_supported_logs(ByteSpan output);
// Array of {"uuid": s, "size": n}.
nlohmann::json supported_logs_to_json(const std::vector<SupportedLog>& logs);

// Reads `length` bytes of a log from `offset`; the length must fit the payload. The output is
// the log bytes (any length up to what was asked; a log's tail is shorter).
Result<Command<Bytes>> get_log(const Uuid& log, uint32_t offset, uint32_t length,
                               uint32_t payload_size);

// Command effect bits.
inline constexpr uint16_t kEffectConfigChangeColdReset = 1u << 0;
inline constexpr uint16_t kEffectImmediateConfigChange = 1u << 1;
inline constexpr uint16_t kEffectImmediateDataChange = 1u << 2;
inline constexpr uint16_t kEffectImmediatePolicyChange = 1u << 3;
inline constexpr uint16_t kEffectImmediateLogChange = 1u << 4;
inline constexpr uint16_t kEffectSecurityStateChange = 1u << 5;
inline constexpr uint16_t kEffectBackground = 1u << 6;
inline constexpr uint16_t kEffectSecondaryMailbox = 1u << 7;
inline constexpr uint16_t kEffectAbortSupported = 1u << 8;

struct CommandEffect {
    uint16_t opcode = 0;
    uint16_t effects = 0;
};

// The whole CEL (the concatenated Get Log outputs); its length must be a multiple of 4.
Result<std::vector<CommandEffect>> decode_command_effects_log(ByteSpan log);
// Array of {"opcode": n, "name": s (empty if unknown), "effects": n, "effect_names": [s...]}.
nlohmann::json command_effects_log_to_json(const std::vector<CommandEffect>& cel);

}  // namespace cxlmgr::cxl
