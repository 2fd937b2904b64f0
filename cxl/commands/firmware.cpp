#include "cxl/commands/firmware.hpp"

namespace cxlmgr::cxl {
namespace {

constexpr const CommandSpec& kInfoSpec = command_spec(opcode::kGetFwInfo);
constexpr const CommandSpec& kTransferSpec = command_spec(opcode::kTransferFw);
constexpr const CommandSpec& kActivateSpec = command_spec(opcode::kActivateFw);

Error invalid(std::string_view command, const std::string& what) {
    return Error(Errc::InvalidArgument, std::string(command) + ": " + what);
}

Status check_slot(std::string_view command, uint8_t slot) {
    if (slot < 1 || slot > kMaxFwSlots) {
        return invalid(command, "slot " + std::to_string(slot) + " is not a slot number (1-4)");
    }
    return ok_status();
}

}  // namespace

Command<FwInfo> get_fw_info() {
    return make_command<FwInfo>(kInfoSpec, {}, decode_fw_info);
}

Result<FwInfo> decode_fw_info(ByteSpan out) {
    CXLMGR_CHECK(check_min_length(out, kFwInfoOutputSize, kInfoSpec.name));
    FwInfo info;
    info.slot_count = u8_at(out, 0);
    const uint8_t slot_info = u8_at(out, 1);
    info.active_slot = slot_info & 0x7;
    info.staged_slot = (slot_info >> 3) & 0x7;
    info.online_activation = (u8_at(out, 2) & 0x1) != 0;
    const std::string prefix = std::string(kInfoSpec.name) + " reports ";
    if (info.slot_count < 1 || info.slot_count > kMaxFwSlots) {
        return Error(Errc::DeviceError,
                     prefix + std::to_string(info.slot_count) + " firmware slots (expected 1-4)");
    }
    if (info.active_slot < 1 || info.active_slot > info.slot_count) {
        return Error(Errc::DeviceError, prefix + "active slot " + std::to_string(info.active_slot) +
                                            " of " + std::to_string(info.slot_count));
    }
    if (info.staged_slot > info.slot_count) {
        return Error(Errc::DeviceError, prefix + "staged slot " + std::to_string(info.staged_slot) +
                                            " of " + std::to_string(info.slot_count));
    }
    for (uint8_t s = 0; s < info.slot_count; ++s) {
        info.slot_revisions.push_back(ascii_field(out.subspan(0x10 + 0x10 * s, 16)));
    }
    return info;
}

nlohmann::json fw_info_to_json(const FwInfo& i) {
    return {
        {"slot_count", i.slot_count},         {"active_slot", i.active_slot},
        {"staged_slot", i.staged_slot},       {"online_activation", i.online_activation},
        {"slot_revisions", i.slot_revisions},
    };
}

std::string_view transfer_action_name(TransferAction action) {
    switch (action) {
        case TransferAction::Full:
            return "full";
        case TransferAction::Initiate:
            return "initiate";
        case TransferAction::Continue:
            return "continue";
        case TransferAction::End:
            return "end";
        case TransferAction::Abort:
            return "abort";
    }
    return "unknown";
}

uint32_t transfer_fw_max_data(uint32_t payload_size) {
    // Whole 128-byte units, so every part but the last keeps the next offset aligned.
    if (payload_size <= kTransferFwHeaderSize) {
        return 0;
    }
    return (payload_size - kTransferFwHeaderSize) / kTransferFwAlignment * kTransferFwAlignment;
}

Result<Bytes> encode_transfer_fw(const TransferFwPart& part, uint32_t payload_size) {
    const std::string what =
        std::string(kTransferSpec.name) + " " + std::string(transfer_action_name(part.action));
    if (static_cast<uint8_t>(part.action) > static_cast<uint8_t>(TransferAction::Abort)) {
        return invalid(
            kTransferSpec.name,
            "action " + std::to_string(static_cast<unsigned>(part.action)) + " does not exist");
    }
    if (part.offset_bytes % kTransferFwAlignment != 0) {
        return invalid(what, "offset " + std::to_string(part.offset_bytes) +
                                 " is not a multiple of 128 bytes");
    }
    if (part.offset_bytes / kTransferFwAlignment > UINT32_MAX) {
        return invalid(what, "offset " + std::to_string(part.offset_bytes) + " is too large");
    }
    const bool takes_slot =
        part.action == TransferAction::Full || part.action == TransferAction::End;
    if (takes_slot) {
        CXLMGR_CHECK(check_slot(what, part.slot));
    } else if (part.slot != 0) {
        return invalid(what, "a slot is only given with the full and end actions");
    }
    if (part.action == TransferAction::Abort && !part.data.empty()) {
        return invalid(what, "an abort carries no data");
    }
    if (part.action != TransferAction::Abort && part.data.empty()) {
        return invalid(what, "no data to transfer");
    }
    if (kTransferFwHeaderSize + part.data.size() > payload_size) {
        return invalid(what, std::to_string(part.data.size()) + " data bytes do not fit the " +
                                 std::to_string(payload_size) + "-byte payload after the " +
                                 "128-byte header");
    }
    Bytes in(kTransferFwHeaderSize + part.data.size(), 0);
    in[0] = static_cast<uint8_t>(part.action);
    in[1] = part.slot;
    store_le(in, 4, part.offset_bytes / kTransferFwAlignment, 4);
    std::copy(part.data.begin(), part.data.end(), in.begin() + kTransferFwHeaderSize);
    return in;
}

Result<Command<Unit>> transfer_fw(const TransferFwPart& part, uint32_t payload_size) {
    CXLMGR_ASSIGN(Bytes in, encode_transfer_fw(part, payload_size));
    return make_command<Unit>(kTransferSpec, std::move(in), decode_nothing);
}

std::string_view activate_mode_name(ActivateMode mode) {
    return mode == ActivateMode::Online ? "online" : "on-reset";
}

Result<ActivateMode> parse_activate_mode(std::string_view text) {
    if (text == "online") {
        return ActivateMode::Online;
    }
    if (text == "on-reset") {
        return ActivateMode::OnReset;
    }
    return Error(Errc::InvalidArgument,
                 "activation mode '" + std::string(text) + "' is neither 'online' nor 'on-reset'");
}

Result<Bytes> encode_activate_fw(ActivateMode mode, uint8_t slot) {
    if (mode != ActivateMode::Online && mode != ActivateMode::OnReset) {
        return invalid(
            kActivateSpec.name,
            "activation mode " + std::to_string(static_cast<unsigned>(mode)) + " does not exist");
    }
    CXLMGR_CHECK(check_slot(kActivateSpec.name, slot));
    return Bytes{static_cast<uint8_t>(mode), slot};
}

Result<Command<Unit>> activate_fw(ActivateMode mode, uint8_t slot) {
    CXLMGR_ASSIGN(Bytes in, encode_activate_fw(mode, slot));
    return make_command<Unit>(kActivateSpec, std::move(in), decode_nothing);
}

MailboxRequest fw_info_request() {
    return get_fw_info().request;
}

Result<FwInfo> parse_fw_info(const MailboxResponse& response) {
    return parse(get_fw_info(), response);
}

Result<MailboxRequest> transfer_fw_request(const TransferFwPart& part, uint32_t payload_size) {
    CXLMGR_ASSIGN(auto command, transfer_fw(part, payload_size));
    return std::move(command.request);
}

Status parse_transfer_fw(const MailboxResponse& response) {
    return check_success(response, kTransferSpec.name);
}

Result<MailboxRequest> activate_fw_request(ActivateMode mode, uint8_t slot) {
    CXLMGR_ASSIGN(auto command, activate_fw(mode, slot));
    return std::move(command.request);
}

Status parse_activate_fw(const MailboxResponse& response) {
    return check_success(response, kActivateSpec.name);
}

}  // namespace cxlmgr::cxl
