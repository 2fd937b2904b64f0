// Event commands: Get/Clear Event Records, Get/Set Event Interrupt Policy.
#include "emu/command_set.hpp"

namespace cxlmgr::emu {
namespace {

constexpr uint8_t kDynamicCapacityLog = 4;
constexpr uint8_t kClearAll = 1u << 0;
constexpr size_t kClearHeaderSize = 6;

// Log 4 (Dynamic Capacity, r3.x) exists in the specification but this device has no DC
// regions, so it is a valid log id the device does not implement.
std::optional<ReturnCode> check_log_id(uint8_t log) {
    if (log == kDynamicCapacityLog) {
        return ReturnCode::Unsupported;
    }
    if (log >= kEventLogCount) {
        return ReturnCode::InvalidInput;
    }
    return std::nullopt;
}

}  // namespace

CommandOutcome CommandSet::get_event_records(std::span<const uint8_t> in, TimePoint) {
    if (auto rc = check_log_id(in[0])) {
        return {*rc, {}, {}};
    }
    size_t max_records =
        (context_.description.payload_size - EventLogs::kGetHeaderSize) / kEventRecordSize;
    return {ReturnCode::Success, events_.get(static_cast<EventLog>(in[0]), max_records), {}};
}

CommandOutcome CommandSet::clear_event_records(std::span<const uint8_t> in, TimePoint) {
    if (in.size() < kClearHeaderSize || in.size() != kClearHeaderSize + 2u * in[2]) {
        return {ReturnCode::InvalidPayloadLength, {}, {}};
    }
    if (auto rc = check_log_id(in[0])) {
        return {*rc, {}, {}};
    }
    std::vector<uint16_t> handles(in[2]);
    for (size_t i = 0; i < handles.size(); ++i) {
        handles[i] = static_cast<uint16_t>(load_le(in, kClearHeaderSize + 2 * i, 2));
    }
    bool all = (in[1] & kClearAll) != 0;
    return {events_.clear(static_cast<EventLog>(in[0]), all, handles), {}, {}};
}

CommandOutcome CommandSet::get_event_interrupt_policy(std::span<const uint8_t>, TimePoint) {
    const auto& s = events_.policy().settings;
    return {ReturnCode::Success, std::vector<uint8_t>(s.begin(), s.end()), {}};
}

CommandOutcome CommandSet::set_event_interrupt_policy(std::span<const uint8_t> in, TimePoint) {
    // CXL 2.0/3.0 hosts send 4 bytes, r3.1 hosts a 5th for the DCD log, which this device does
    // not have: its byte is accepted and ignored.
    if (in.size() != kEventLogCount && in.size() != kEventLogCount + 1) {
        return {ReturnCode::InvalidPayloadLength, {}, {}};
    }
    return {events_.set_policy(in.first(kEventLogCount)), {}, {}};
}

}  // namespace cxlmgr::emu
