#include "emu/command_set.hpp"

#include <algorithm>
#include <string>

namespace cxlmgr::emu {
namespace {

using namespace std::chrono;

}  // namespace

Result<MailboxTiming> MailboxTiming::parse(const nlohmann::json& timing) {
    struct Key {
        std::string_view name;
        nanoseconds MailboxTiming::*field;
        nanoseconds unit;
    };
    static const Key kKeys[] = {
        {"mailbox_latency_us", &MailboxTiming::latency, microseconds(1)},
        {"mailbox_busy_fault_us", &MailboxTiming::busy_fault, microseconds(1)},
        {"mailbox_timeout_fault_us", &MailboxTiming::timeout_fault, microseconds(1)},
        {"fw_transfer_us_per_kib", &MailboxTiming::fw_per_kib, microseconds(1)},
        {"fw_transfer_gap_ms", &MailboxTiming::fw_part_gap, milliseconds(1)},
    };
    constexpr nanoseconds kMax = hours(1);
    MailboxTiming t;
    for (const auto& item : timing.items()) {
        // Named copies, not a structured binding: C++20 lambdas may not capture those (clang
        // refuses, GCC accepts).
        const std::string& key = item.key();
        const auto& value = item.value();
        auto it = std::find_if(std::begin(kKeys), std::end(kKeys),
                               [&key](const Key& k) { return k.name == key; });
        if (it == std::end(kKeys)) {
            if (key.rfind("mailbox_", 0) == 0 || key.rfind("fw_", 0) == 0) {
                return Error(Errc::InvalidArgument, "emulated device description: 'timing." + key +
                                                        "' is not a known key");
            }
            continue;  // another part's key
        }
        if (!value.is_number_integer() || value.get<int64_t>() < 0 ||
            value.get<int64_t>() > kMax / it->unit) {
            return Error(Errc::InvalidArgument,
                         "emulated device description: 'timing." + key +
                             "' must be a non-negative integer up to one hour");
        }
        t.*(it->field) = it->unit * value.get<int64_t>();
    }
    return t;
}

const std::vector<CommandSet::Command>& CommandSet::table() {
    using namespace opcode;
    using namespace effect;
    static const std::vector<Command> kTable = {
        {kBackgroundOperationStatus, 0, 0, &CommandSet::background_operation_status},
        {kGetEventRecords, 0, 1, &CommandSet::get_event_records},
        {kClearEventRecords, kImmediateLogChange, -1, &CommandSet::clear_event_records},
        {kGetEventInterruptPolicy, 0, 0, &CommandSet::get_event_interrupt_policy},
        {kSetEventInterruptPolicy, kImmediateConfigChange, -1,
         &CommandSet::set_event_interrupt_policy},
        {kGetFwInfo, 0, 0, &CommandSet::get_fw_info},
        {kTransferFw, kBackgroundOperation, -1, &CommandSet::transfer_fw},
        // Synchronous here; online activation changes the running firmware at once, on-reset
        // activation changes it after the next cold reset.
        {kActivateFw, kConfigChangeAfterColdReset | kImmediateConfigChange, 2,
         &CommandSet::activate_fw},
        {kGetTimestamp, 0, 0, &CommandSet::get_timestamp},
        {kSetTimestamp, kImmediatePolicyChange, 8, &CommandSet::set_timestamp},
        {kGetSupportedLogs, 0, 0, &CommandSet::get_supported_logs},
        {kGetLog, 0, 0x18, &CommandSet::get_log},
        {kIdentifyMemoryDevice, 0, 0, &CommandSet::identify_memory_device},
        {kGetHealthInfo, 0, 0, &CommandSet::get_health_info},
    };
    return kTable;
}

Result<std::unique_ptr<CommandSet>> CommandSet::create(DeviceContext& context,
                                                       const MailboxTiming& timing) {
    CXLMGR_ASSIGN(auto firmware, FirmwareSlots::create(context.description, timing.fw_part_gap));
    CXLMGR_ASSIGN(auto events, EventLogs::create(context.description));
    return std::unique_ptr<CommandSet>(
        new CommandSet(context, timing, std::move(firmware), std::move(events)));
}

CommandSet::CommandSet(DeviceContext& context, const MailboxTiming& timing, FirmwareSlots firmware,
                       EventLogs events)
    : context_(context),
      timing_(timing),
      firmware_(std::move(firmware)),
      events_(std::move(events)) {}

std::optional<uint16_t> CommandSet::effects(uint16_t opcode) const {
    for (const auto& c : table()) {
        if (c.opcode == opcode) {
            return c.effects;
        }
    }
    return std::nullopt;
}

CommandOutcome CommandSet::execute(uint16_t opcode, std::span<const uint8_t> input, TimePoint now,
                                   const BackgroundStatus& background) {
    const auto& t = table();
    auto it =
        std::find_if(t.begin(), t.end(), [&](const Command& c) { return c.opcode == opcode; });
    if (it == t.end()) {
        return {ReturnCode::Unsupported, {}, {}};
    }
    if (it->fixed_input >= 0 && input.size() != static_cast<size_t>(it->fixed_input)) {
        return {ReturnCode::InvalidPayloadLength, {}, {}};
    }
    background_ = background;
    return (this->*(it->handler))(input, now);
}

uint64_t CommandSet::device_time_ns(TimePoint now) const {
    if (!timestamp_set_) {
        return 0;
    }
    auto [value, at] = *timestamp_set_;
    return value + static_cast<uint64_t>(duration_cast<nanoseconds>(now - at).count());
}

std::vector<uint8_t> CommandSet::command_effects_log() const {
    std::vector<uint8_t> cel(4 * table().size());
    size_t off = 0;
    for (const auto& c : table()) {
        store_le(cel, off, c.opcode, 2);
        store_le(cel, off + 2, c.effects, 2);
        off += 4;
    }
    return cel;
}

Status CommandSet::inject_event(EventLog log, EventKind kind, const nlohmann::json& fields,
                                TimePoint now) {
    uint64_t t = device_time_ns(now);
    CXLMGR_ASSIGN(EventRecord record, build_event_record(log, kind, fields, t, health_));
    events_.add(log, record, t);
    return ok_status();
}

}  // namespace cxlmgr::emu
