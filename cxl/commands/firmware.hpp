// Firmware commands: Get FW Info, Transfer FW, Activate FW. Transfer FW input is a 0x80-byte
// header (action, slot, offset in 128-byte units) followed by
// the data; it may run as a background command, as may Activate FW.
#pragma once

#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cxl/commands/command.hpp"

namespace cxlmgr::cxl {

inline constexpr size_t kFwInfoOutputSize = command_spec(opcode::kGetFwInfo).min_output;
inline constexpr uint8_t kMaxFwSlots = 4;
inline constexpr size_t kTransferFwHeaderSize = command_spec(opcode::kTransferFw).input.bytes;
inline constexpr uint32_t kTransferFwAlignment = 128;

struct FwInfo {
    uint8_t slot_count = 0;
    uint8_t active_slot = 0;
    uint8_t staged_slot = 0;  // 0 = none
    bool online_activation = false;
    std::vector<std::string> slot_revisions;  // slot_count entries, slot 1 first
};

Command<FwInfo> get_fw_info();
// Refuses slot counts outside 1..4 and active/staged slots outside the slot count.
Result<FwInfo> decode_fw_info(ByteSpan output);
// Keys: slot_count, active_slot, staged_slot, online_activation, slot_revisions (array).
nlohmann::json fw_info_to_json(const FwInfo& info);

enum class TransferAction : uint8_t { Full = 0, Initiate = 1, Continue = 2, End = 3, Abort = 4 };
std::string_view transfer_action_name(TransferAction action);

struct TransferFwPart {
    TransferAction action = TransferAction::Full;
    uint8_t slot = 0;           // Full and End only
    uint64_t offset_bytes = 0;  // a multiple of 128
    ByteSpan data;              // empty for Abort
};

// Data bytes that fit one Transfer FW with this payload size.
uint32_t transfer_fw_max_data(uint32_t payload_size);
// InvalidArgument for a misaligned or too large offset, data that does not fit the payload,
// a slot missing (Full/End, 1..4) or given where it means nothing, or data with Abort.
Result<Bytes> encode_transfer_fw(const TransferFwPart& part, uint32_t payload_size);
Result<Command<Unit>> transfer_fw(const TransferFwPart& part, uint32_t payload_size);

enum class ActivateMode : uint8_t { Online = 0, OnReset = 1 };
std::string_view activate_mode_name(ActivateMode mode);  // "online", "on-reset"
Result<ActivateMode> parse_activate_mode(std::string_view text);

Result<Bytes> encode_activate_fw(ActivateMode mode, uint8_t slot);
Result<Command<Unit>> activate_fw(ActivateMode mode, uint8_t slot);

// Untyped forms for daemon/firmware_job.cpp and daemon/firmware_updates.cpp until they send
// Command<T>s; do not add users.
MailboxRequest fw_info_request();
Result<FwInfo> parse_fw_info(const MailboxResponse& response);
Result<MailboxRequest> transfer_fw_request(const TransferFwPart& part, uint32_t payload_size);
Status parse_transfer_fw(const MailboxResponse& response);
Result<MailboxRequest> activate_fw_request(ActivateMode mode, uint8_t slot);
Status parse_activate_fw(const MailboxResponse& response);

}  // namespace cxlmgr::cxl
