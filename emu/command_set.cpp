#include "emu/command_set.hpp"

#include <algorithm>
#include <functional>
#include <string>

#include "emu/device_state.hpp"

namespace cxlmgr::emu {
namespace {

using namespace std::chrono;

constexpr nanoseconds kMaxTiming = hours(1);

// The commands timing.background_us may name: those that run in the background (Transfer FW
// always, Activate FW when given a time).
struct BackgroundTimingKey {
    std::string_view name;
    nanoseconds MailboxTiming::*field;
};
constexpr BackgroundTimingKey kBackgroundTimingKeys[] = {
    {"transfer-fw", &MailboxTiming::transfer_fw_fixed},
    {"activate-fw", &MailboxTiming::activate_fw_fixed},
    {"scan-media", &MailboxTiming::scan_media_fixed},
    {"sanitize", &MailboxTiming::sanitize_fixed},
    {"secure-erase", &MailboxTiming::secure_erase_fixed},
};

Error bad_timing(const std::string& key, const std::string& why) {
    return Error(Errc::InvalidArgument, "emulated device description: 'timing." + key + "' " + why);
}

Status parse_background_us(const nlohmann::json& value, MailboxTiming& t) {
    if (!value.is_object()) {
        return bad_timing("background_us",
                          "must be an object of command name to microseconds, e.g. "
                          "{\"transfer-fw\": 2000000}");
    }
    for (const auto& item : value.items()) {
        const std::string& name = item.key();
        const auto& us = item.value();
        auto it = std::find_if(std::begin(kBackgroundTimingKeys), std::end(kBackgroundTimingKeys),
                               [&name](const BackgroundTimingKey& k) { return k.name == name; });
        if (it == std::end(kBackgroundTimingKeys)) {
            return bad_timing("background_us." + name,
                              "is not a background command of this device (transfer-fw, "
                              "activate-fw, scan-media, sanitize, secure-erase)");
        }
        if (!us.is_number_integer() || us.get<int64_t>() < 0 ||
            us.get<int64_t>() > kMaxTiming / microseconds(1)) {
            return bad_timing("background_us." + name,
                              "must be a non-negative integer up to one hour");
        }
        t.*(it->field) = microseconds(us.get<int64_t>());
    }
    return ok_status();
}

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
    MailboxTiming t;
    for (const auto& item : timing.items()) {
        // Named copies, not a structured binding: C++20 lambdas may not capture those (clang
        // refuses, GCC accepts).
        const std::string& key = item.key();
        const auto& value = item.value();
        if (key == "background_us") {
            CXLMGR_CHECK(parse_background_us(value, t));
            continue;
        }
        auto it = std::find_if(std::begin(kKeys), std::end(kKeys),
                               [&key](const Key& k) { return k.name == key; });
        if (it == std::end(kKeys)) {
            if (key.rfind("mailbox_", 0) == 0 || key.rfind("fw_", 0) == 0 ||
                key.rfind("background", 0) == 0) {
                return Error(Errc::InvalidArgument, "emulated device description: 'timing." + key +
                                                        "' is not a known key");
            }
            continue;  // another part's key
        }
        if (!value.is_number_integer() || value.get<int64_t>() < 0 ||
            value.get<int64_t>() > kMaxTiming / it->unit) {
            return Error(Errc::InvalidArgument,
                         "emulated device description: 'timing." + key +
                             "' must be a non-negative integer up to one hour");
        }
        t.*(it->field) = it->unit * value.get<int64_t>();
    }
    return t;
}

Result<MailboxOptions> MailboxOptions::parse(const nlohmann::json& mailbox) {
    MailboxOptions o;
    for (const auto& item : mailbox.items()) {
        const std::string& key = item.key();
        if (key == "unsupported") {
            const auto& list = item.value();
            if (!list.is_array()) {
                return Error(Errc::InvalidArgument,
                             "emulated device description: 'mailbox.unsupported' must be an "
                             "array of opcodes, e.g. [16896] for Get Health Info (0x4200)");
            }
            for (const auto& op : list) {
                // Numbers from JSON text are unsigned; numbers built in code may be signed.
                const bool known =
                    op.is_number_integer() && (op.is_number_unsigned() || op.get<int64_t>() >= 0) &&
                    op.get<uint64_t>() <= UINT16_MAX &&
                    std::any_of(CommandSet::implemented().begin(), CommandSet::implemented().end(),
                                [&op](uint16_t c) { return c == op.get<uint64_t>(); });
                if (!known) {
                    return Error(Errc::InvalidArgument,
                                 "emulated device description: 'mailbox.unsupported' entry " +
                                     op.dump() + " is not an opcode this device implements");
                }
                o.unsupported.insert(static_cast<uint16_t>(op.get<uint64_t>()));
            }
            continue;
        }
        if (key != "abort_background") {
            return Error(Errc::InvalidArgument,
                         "emulated device description: 'mailbox." + key + "' is not a known key");
        }
        if (!item.value().is_boolean()) {
            return Error(Errc::InvalidArgument,
                         "emulated device description: 'mailbox.abort_background' must be true "
                         "or false");
        }
        o.abort_background = item.value().get<bool>();
    }
    return o;
}

const std::vector<CommandSet::Command>& CommandSet::table() {
    using namespace opcode;
    using namespace effect;
    static const std::vector<Command> kTable = {
        {kBackgroundOperationStatus, 0, 0, &CommandSet::background_operation_status},
        // Absent when the description's mailbox.abort_background is false. Ending an operation
        // changes what the device does at once, hence the immediate configuration change (QEMU
        // lists no effect, which would make it look like a command that only reads).
        {kRequestAbortBackgroundOperation, kImmediateConfigChange, 0,
         &CommandSet::request_abort_background_operation},
        {kGetEventRecords, 0, 1, &CommandSet::get_event_records},
        {kClearEventRecords, kImmediateLogChange, -1, &CommandSet::clear_event_records},
        {kGetEventInterruptPolicy, 0, 0, &CommandSet::get_event_interrupt_policy},
        {kSetEventInterruptPolicy, kImmediateConfigChange, -1,
         &CommandSet::set_event_interrupt_policy},
        {kGetFwInfo, 0, 0, &CommandSet::get_fw_info},
        {kTransferFw, kBackgroundOperation | kRequestAbortSupported, -1, &CommandSet::transfer_fw},
        // Online activation changes the running firmware at once, on-reset activation after the
        // next cold reset. Synchronous unless timing.background_us gives it a time; then it is a
        // background command too (effects_of()), one that cannot be aborted.
        {kActivateFw, kConfigChangeAfterColdReset | kImmediateConfigChange, 2,
         &CommandSet::activate_fw},
        {kGetTimestamp, 0, 0, &CommandSet::get_timestamp},
        {kSetTimestamp, kImmediatePolicyChange, 8, &CommandSet::set_timestamp},
        {kGetSupportedLogs, 0, 0, &CommandSet::get_supported_logs},
        {kGetLog, 0, 0x18, &CommandSet::get_log},
        // Only reads; Set Feature changes the feature's value, a configuration (the patrol
        // scrub control is the only changeable feature).
        {kGetSupportedFeatures, 0, 8, &CommandSet::get_supported_features},
        {kGetFeature, 0, 0x15, &CommandSet::get_feature},
        {kSetFeature, kImmediateConfigChange, -1, &CommandSet::set_feature},
        {kIdentifyMemoryDevice, 0, 0, &CommandSet::identify_memory_device},
        // Present only on devices with persistent capacity (partition info) or a label storage
        // area (LSA): the specification makes them mandatory for persistent memory devices.
        {kGetPartitionInfo, 0, 0, &CommandSet::get_partition_info},
        {kGetLsa, 0, 8, &CommandSet::get_lsa},
        {kSetLsa, kImmediateConfigChange | kImmediateDataChange, -1, &CommandSet::set_lsa},
        {kGetHealthInfo, 0, 0, &CommandSet::get_health_info},
        {kGetAlertConfig, 0, 0, &CommandSet::get_alert_config},
        {kSetAlertConfig, kImmediatePolicyChange, 0x0C, &CommandSet::set_alert_config},
        {kGetPoisonList, 0, 0x10, &CommandSet::get_poison_list},
        // Poisoning or clearing changes what reads of the media return, and the poison list.
        {kInjectPoison, kImmediateDataChange | kImmediateLogChange, 8, &CommandSet::inject_poison},
        {kClearPoison, kImmediateDataChange | kImmediateLogChange, 0x48, &CommandSet::clear_poison},
        {kGetScanMediaCapabilities, 0, 0x10, &CommandSet::get_scan_media_capabilities},
        // Scan Media adds what it finds to the poison list.
        {kScanMedia, kImmediateLogChange | kBackgroundOperation | kRequestAbortSupported, 0x11,
         &CommandSet::scan_media},
        {kGetScanMediaResults, 0, 0, &CommandSet::get_scan_media_results},
        // An aborted Sanitize leaves the media partly overwritten, which is still safe to
        // abort; an aborted Secure Erase could leave some data under the old key and some
        // under the new, so it cannot be aborted.
        {kSanitize,
         kImmediateDataChange | kSecurityStateChange | kBackgroundOperation |
             kRequestAbortSupported,
         0, &CommandSet::sanitize},
        {kSecureErase, kImmediateDataChange | kSecurityStateChange | kBackgroundOperation, 0,
         &CommandSet::secure_erase},
        {kGetSecurityState, 0, 0, &CommandSet::get_security_state},
    };
    return kTable;
}

Result<std::unique_ptr<CommandSet>> CommandSet::create(DeviceContext& context,
                                                       const MailboxTiming& timing) {
    CXLMGR_ASSIGN(auto firmware, FirmwareSlots::create(context.description, timing.fw_part_gap));
    CXLMGR_ASSIGN(auto events, EventLogs::create(context.description));
    CXLMGR_ASSIGN(auto options, MailboxOptions::parse(context.description.mailbox));
    return std::unique_ptr<CommandSet>(
        new CommandSet(context, timing, options, std::move(firmware), std::move(events)));
}

CommandSet::CommandSet(DeviceContext& context, const MailboxTiming& timing,
                       const MailboxOptions& options, FirmwareSlots firmware, EventLogs events)
    : context_(context),
      timing_(timing),
      options_(options),
      firmware_(std::move(firmware)),
      events_(std::move(events)) {
    media_.lsa.assign(context_.description.lsa_size, 0);
}

const std::vector<uint16_t>& CommandSet::implemented() {
    static const std::vector<uint16_t> kOpcodes = [] {
        std::vector<uint16_t> v;
        for (const auto& c : table()) {
            v.push_back(c.opcode);
        }
        return v;
    }();
    return kOpcodes;
}

const CommandSet::Command* CommandSet::find(uint16_t opcode) const {
    if (opcode == opcode::kRequestAbortBackgroundOperation && !options_.abort_background) {
        return nullptr;
    }
    if (options_.unsupported.count(opcode) != 0) {
        return nullptr;
    }
    const auto& d = context_.description;
    if (opcode == opcode::kGetPartitionInfo && d.persistent_capacity == 0) {
        return nullptr;
    }
    if ((opcode == opcode::kGetLsa || opcode == opcode::kSetLsa) && d.lsa_size == 0) {
        return nullptr;
    }
    const auto& t = table();
    auto it =
        std::find_if(t.begin(), t.end(), [&](const Command& c) { return c.opcode == opcode; });
    return it == t.end() ? nullptr : &*it;
}

uint16_t CommandSet::effects_of(const Command& command) const {
    uint16_t e = command.effects;
    if (command.opcode == opcode::kActivateFw && timing_.activate_fw_fixed.count() > 0) {
        e |= effect::kBackgroundOperation;
    }
    if (find(opcode::kRequestAbortBackgroundOperation) == nullptr) {
        e &= static_cast<uint16_t>(~effect::kRequestAbortSupported);
    }
    return e;
}

std::optional<uint16_t> CommandSet::effects(uint16_t opcode) const {
    const Command* c = find(opcode);
    if (c == nullptr) {
        return std::nullopt;
    }
    return effects_of(*c);
}

ReturnCode CommandSet::finish_background() {
    if (media_.in_flight) {
        return finish_media_operation();
    }
    bool verify_fault =
        firmware_.in_flight_installs() && context_.faults.consume(Fault::FwVerifyFail);
    return firmware_.complete_in_flight(verify_fault);
}

void CommandSet::abort_background(uint8_t percent) {
    if (media_.in_flight) {
        abort_media_operation(percent);
        return;
    }
    firmware_.abort_in_flight();
}

CommandOutcome CommandSet::execute(uint16_t opcode, std::span<const uint8_t> input, TimePoint now,
                                   const BackgroundStatus& background) {
    const Command* it = find(opcode);
    if (it == nullptr) {
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
    std::vector<uint8_t> cel;
    for (const auto& c : table()) {
        if (find(c.opcode) == nullptr) {
            continue;
        }
        size_t off = cel.size();
        cel.resize(off + 4);
        store_le(cel, off, c.opcode, 2);
        store_le(cel, off + 2, effects_of(c), 2);
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

void CommandSet::save_state(nlohmann::json& out, TimePoint now) const {
    out["firmware"] = firmware_.save_state(now);
    out["events"] = events_.save_state();
    out["health"] = {{"health_status", health_.health_status},
                     {"media_status", health_.media_status},
                     {"additional_status", health_.additional_status},
                     {"life_used", health_.life_used},
                     {"temperature", health_.temperature},
                     {"dirty_shutdown_count", health_.dirty_shutdown_count},
                     {"corrected_volatile_errors", health_.corrected_volatile_errors},
                     {"corrected_persistent_errors", health_.corrected_persistent_errors}};
    out["media"] = media_.save();
}

namespace {

Status restore_health(const nlohmann::json& j, HealthInfo& h) {
    HealthInfo r;
    CXLMGR_ASSIGN(uint64_t health_status, state::get_uint(j, "health_status", UINT8_MAX));
    CXLMGR_ASSIGN(uint64_t media_status, state::get_uint(j, "media_status", UINT8_MAX));
    CXLMGR_ASSIGN(uint64_t additional, state::get_uint(j, "additional_status", UINT8_MAX));
    CXLMGR_ASSIGN(uint64_t life_used, state::get_uint(j, "life_used", 100));
    CXLMGR_ASSIGN(int64_t temperature, state::get_int(j, "temperature"));
    if (temperature < INT16_MIN || temperature > INT16_MAX) {
        return Error(Errc::InvalidArgument, "'temperature' is out of range");
    }
    CXLMGR_ASSIGN(uint64_t dirty, state::get_uint(j, "dirty_shutdown_count", UINT32_MAX));
    CXLMGR_ASSIGN(uint64_t cvol, state::get_uint(j, "corrected_volatile_errors", UINT32_MAX));
    CXLMGR_ASSIGN(uint64_t cper, state::get_uint(j, "corrected_persistent_errors", UINT32_MAX));
    r.health_status = static_cast<uint8_t>(health_status);
    r.media_status = static_cast<uint8_t>(media_status);
    r.additional_status = static_cast<uint8_t>(additional);
    r.life_used = static_cast<uint8_t>(life_used);
    r.temperature = static_cast<int16_t>(temperature);
    r.dirty_shutdown_count = static_cast<uint32_t>(dirty);
    r.corrected_volatile_errors = static_cast<uint32_t>(cvol);
    r.corrected_persistent_errors = static_cast<uint32_t>(cper);
    h = r;
    return ok_status();
}

// Runs one piece's restore, naming the piece in its error.
Status piece(const nlohmann::json& in, std::string_view key,
             const std::function<Status(const nlohmann::json&)>& restore) {
    auto j = state::member(in, key);
    Status st = j.ok() ? restore(**j) : Status(j.error());
    if (!st.ok()) {
        return st.error().with_context("'" + std::string(key) + "'");
    }
    return ok_status();
}

}  // namespace

Status CommandSet::restore_state(const nlohmann::json& in, TimePoint now, nanoseconds aged) {
    // All or nothing: pieces are restored into copies and committed together.
    FirmwareSlots firmware = firmware_;
    EventLogs events = events_;
    HealthInfo health = health_;
    CXLMGR_CHECK(piece(in, "firmware", [&](const nlohmann::json& j) {
        return firmware.restore_state(j, now, aged);
    }));
    CXLMGR_CHECK(
        piece(in, "events", [&](const nlohmann::json& j) { return events.restore_state(j); }));
    CXLMGR_CHECK(
        piece(in, "health", [&](const nlohmann::json& j) { return restore_health(j, health); }));
    MediaState media = media_;
    if (in.contains("media")) {
        CXLMGR_CHECK(piece(in, "media", [&](const nlohmann::json& j) -> Status {
            CXLMGR_ASSIGN(media, MediaState::restore(j, context_.description.lsa_size,
                                                     context_.description.poison_list_max));
            return ok_status();
        }));
    }
    firmware_ = std::move(firmware);
    events_ = std::move(events);
    health_ = health;
    media_ = std::move(media);
    return ok_status();
}

}  // namespace cxlmgr::emu
