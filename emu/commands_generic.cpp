// Generic commands: Request Abort Background Operation, Background Operation Status, Get/Set
// Timestamp, Get Supported Logs and Get Log (the Command Effects Log is the only log).
#include <algorithm>

#include "emu/command_set.hpp"

namespace cxlmgr::emu {
namespace {

constexpr std::array<uint8_t, 16> kCelUuid = {0x0d, 0xa9, 0xc0, 0xb5, 0xbf, 0x41, 0x4b, 0x78,
                                              0x8f, 0x79, 0x96, 0xb1, 0x62, 0x3b, 0x3f, 0x17};

}  // namespace

// CXL r3.x 8.2.9.1.5 (docs/PROTOCOL.md "Background commands"): with nothing running there is
// nothing to abort, which is a success; a running command whose CEL entry lacks "request abort
// background operation supported" cannot be aborted (0x20). Otherwise the mailbox ends the
// operation at once with Aborted (0x12) in BG Command Status.
CommandOutcome CommandSet::request_abort_background_operation(std::span<const uint8_t>, TimePoint) {
    if (!background_.running) {
        return {ReturnCode::Success, {}, {}};
    }
    auto running = effects(background_.opcode);
    if (!running || (*running & effect::kRequestAbortSupported) == 0) {
        return {ReturnCode::RequestAbortNotSupported, {}, {}};
    }
    CommandOutcome out{ReturnCode::Success, {}, {}};
    out.abort_background = true;
    return out;
}

CommandOutcome CommandSet::background_operation_status(std::span<const uint8_t>, TimePoint) {
    std::vector<uint8_t> out(8, 0);
    out[0] = static_cast<uint8_t>((background_.running ? 1u : 0u) | (background_.percent << 1));
    store_le(out, 2, background_.opcode, 2);
    store_le(out, 4, background_.return_code, 2);
    return {ReturnCode::Success, std::move(out), {}};
}

CommandOutcome CommandSet::get_timestamp(std::span<const uint8_t>, TimePoint now) {
    std::vector<uint8_t> out(8);
    store_le(out, 0, device_time_ns(now), 8);
    return {ReturnCode::Success, std::move(out), {}};
}

CommandOutcome CommandSet::set_timestamp(std::span<const uint8_t> in, TimePoint now) {
    timestamp_set_ = std::make_pair(load_le(in, 0, 8), now);
    return {ReturnCode::Success, {}, {}};
}

CommandOutcome CommandSet::get_supported_logs(std::span<const uint8_t>, TimePoint) {
    std::vector<uint8_t> out(8 + 20, 0);
    store_le(out, 0, 1, 2);
    std::copy(kCelUuid.begin(), kCelUuid.end(), out.begin() + 8);
    store_le(out, 8 + 16, command_effects_log().size(), 4);
    return {ReturnCode::Success, std::move(out), {}};
}

CommandOutcome CommandSet::get_log(std::span<const uint8_t> in, TimePoint) {
    if (!std::equal(kCelUuid.begin(), kCelUuid.end(), in.begin())) {
        return {ReturnCode::InvalidLog, {}, {}};
    }
    uint64_t offset = load_le(in, 16, 4);
    uint64_t length = load_le(in, 20, 4);
    auto cel = command_effects_log();
    if (length > context_.description.payload_size || offset > cel.size() ||
        length > cel.size() - offset) {
        return {ReturnCode::InvalidInput, {}, {}};
    }
    auto first = cel.begin() + static_cast<ptrdiff_t>(offset);
    return {ReturnCode::Success,
            std::vector<uint8_t>(first, first + static_cast<ptrdiff_t>(length)),
            {}};
}

}  // namespace cxlmgr::emu
