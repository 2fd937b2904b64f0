#include "cxl/commands/events.hpp"

#include <algorithm>

namespace cxlmgr::cxl {
namespace {

constexpr const CommandSpec& kGetSpec = command_spec(opcode::kGetEventRecords);
constexpr const CommandSpec& kClearSpec = command_spec(opcode::kClearEventRecords);
constexpr const CommandSpec& kGetPolicySpec = command_spec(opcode::kGetEventInterruptPolicy);
constexpr const CommandSpec& kSetPolicySpec = command_spec(opcode::kSetEventInterruptPolicy);

constexpr size_t kClearHeaderSize = kClearSpec.input.bytes;
constexpr uint8_t kClearAll = 1u << 0;
constexpr size_t kMaxClearHandles = 255;

InterruptSetting decode_setting(uint8_t byte) {
    return InterruptSetting{static_cast<uint8_t>(byte & 0x3), static_cast<uint8_t>(byte >> 4)};
}

Result<uint8_t> encode_setting(const InterruptSetting& s, std::string_view log) {
    if (s.mode > static_cast<uint8_t>(InterruptMode::Firmware)) {
        return Error(Errc::InvalidArgument, std::string(kSetPolicySpec.name) + ": mode " +
                                                std::to_string(s.mode) + " for the " +
                                                std::string(log) + " log is reserved");
    }
    if (s.message_number > 15) {
        return Error(Errc::InvalidArgument, std::string(kSetPolicySpec.name) + ": message number " +
                                                std::to_string(s.message_number) + " for the " +
                                                std::string(log) + " log exceeds 15");
    }
    return static_cast<uint8_t>(s.mode | (s.message_number << 4));
}

nlohmann::json setting_to_json(const InterruptSetting& s) {
    return {{"mode", interrupt_mode_name(s.mode)}, {"message_number", s.message_number}};
}

}  // namespace

std::string_view event_log_name(EventLog log) {
    switch (log) {
        case EventLog::Informational:
            return "informational";
        case EventLog::Warning:
            return "warning";
        case EventLog::Failure:
            return "failure";
        case EventLog::Fatal:
            return "fatal";
        case EventLog::DynamicCapacity:
            return "dynamic-capacity";
    }
    return "unknown";
}

Result<EventLog> parse_event_log(std::string_view name) {
    for (uint8_t i = 0; i <= static_cast<uint8_t>(EventLog::DynamicCapacity); ++i) {
        if (event_log_name(static_cast<EventLog>(i)) == name) {
            return static_cast<EventLog>(i);
        }
    }
    // Appended piecewise: GCC 12 -O3 reports a bogus -Wrestrict for "'" + std::string(...).
    std::string message = "'";
    message.append(name).append("' is not an event log name");
    return Error(Errc::InvalidArgument, std::move(message));
}

Command<EventRecordsPage> get_event_records(EventLog log) {
    return make_command<EventRecordsPage>(kGetSpec, {static_cast<uint8_t>(log)},
                                          decode_event_records);
}

Result<EventRecordsPage> decode_event_records(ByteSpan out) {
    CXLMGR_CHECK(check_min_length(out, kEventRecordsHeaderSize, kGetSpec.name));
    EventRecordsPage page;
    const uint8_t flags = u8_at(out, 0);
    page.overflow = (flags & kEventRecordsOverflow) != 0;
    page.more_records = (flags & kEventRecordsMoreRecords) != 0;
    page.overflow_count = u16_at(out, 2);
    page.first_overflow_timestamp = u64_at(out, 4);
    page.last_overflow_timestamp = u64_at(out, 0x0C);
    const size_t count = u16_at(out, 0x14);
    const size_t needed = kEventRecordsHeaderSize + count * kEventRecordSize;
    if (out.size() < needed) {
        return Error(Errc::DeviceError, std::string(kGetSpec.name) + " claims " +
                                            std::to_string(count) + " records (" +
                                            std::to_string(needed) + " bytes) but returned " +
                                            std::to_string(out.size()) + " bytes");
    }
    page.records.reserve(count);
    for (size_t i = 0; i < count; ++i) {
        auto rec = decode_event_record(
            out.subspan(kEventRecordsHeaderSize + i * kEventRecordSize, kEventRecordSize));
        const std::string ctx = std::string(kGetSpec.name) + ": record " + std::to_string(i);
        if (!rec.ok()) {
            return std::move(rec).error().with_context(ctx);
        }
        if (rec->header.handle == 0) {
            return Error(Errc::DeviceError, ctx + " has handle 0, which is never valid");
        }
        page.records.push_back(std::move(*rec));
    }
    return page;
}

nlohmann::json event_records_to_json(const EventRecordsPage& page) {
    nlohmann::json records = nlohmann::json::array();
    for (const auto& r : page.records) {
        records.push_back(event_record_to_json(r));
    }
    return {
        {"overflow", page.overflow},
        {"more_records", page.more_records},
        {"overflow_count", page.overflow_count},
        {"first_overflow_timestamp", page.first_overflow_timestamp},
        {"last_overflow_timestamp", page.last_overflow_timestamp},
        {"records", std::move(records)},
    };
}

size_t clear_event_records_capacity(uint32_t payload_size) {
    if (payload_size <= kClearHeaderSize) {
        return 0;
    }
    return std::min(kMaxClearHandles, (payload_size - kClearHeaderSize) / 2);
}

Result<ClearEventRecords> clear_event_records(EventLog log, std::span<const uint16_t> handles,
                                              uint32_t payload_size) {
    if (handles.empty()) {
        return Error(Errc::InvalidArgument,
                     std::string(kClearSpec.name) + ": no handles given (use clear-all instead)");
    }
    const size_t n = std::min(handles.size(), clear_event_records_capacity(payload_size));
    if (n == 0) {
        return Error(Errc::InvalidArgument, std::string(kClearSpec.name) + ": a " +
                                                std::to_string(payload_size) +
                                                "-byte payload holds no handles");
    }
    Bytes in(kClearHeaderSize + 2 * n, 0);
    in[0] = static_cast<uint8_t>(log);
    in[2] = static_cast<uint8_t>(n);
    for (size_t i = 0; i < n; ++i) {
        if (handles[i] == 0) {
            return Error(Errc::InvalidArgument, std::string(kClearSpec.name) +
                                                    ": handle 0 is never a valid record handle");
        }
        store_le(in, kClearHeaderSize + 2 * i, handles[i], 2);
    }
    return ClearEventRecords{make_command<Unit>(kClearSpec, std::move(in), decode_nothing), n};
}

Command<Unit> clear_all_event_records(EventLog log) {
    Bytes in(kClearHeaderSize, 0);
    in[0] = static_cast<uint8_t>(log);
    in[1] = kClearAll;
    return make_command<Unit>(kClearSpec, std::move(in), decode_nothing);
}

std::string_view interrupt_mode_name(uint8_t mode) {
    switch (mode) {
        case 0:
            return "none";
        case 1:
            return "msi";
        case 2:
            return "firmware";
        default:
            return "reserved";
    }
}

Command<EventInterruptPolicy> get_event_interrupt_policy() {
    return make_command<EventInterruptPolicy>(kGetPolicySpec, {}, decode_event_interrupt_policy);
}

Result<EventInterruptPolicy> decode_event_interrupt_policy(ByteSpan out) {
    CXLMGR_CHECK(check_min_length(out, kGetPolicySpec.min_output, kGetPolicySpec.name));
    EventInterruptPolicy p;
    p.informational = decode_setting(out[0]);
    p.warning = decode_setting(out[1]);
    p.failure = decode_setting(out[2]);
    p.fatal = decode_setting(out[3]);
    if (out.size() >= 5) {
        p.dynamic_capacity = decode_setting(out[4]);
    }
    return p;
}

Result<Bytes> encode_event_interrupt_policy(const EventInterruptPolicy& p) {
    Bytes in;
    CXLMGR_ASSIGN(uint8_t info, encode_setting(p.informational, "informational"));
    CXLMGR_ASSIGN(uint8_t warn, encode_setting(p.warning, "warning"));
    CXLMGR_ASSIGN(uint8_t fail, encode_setting(p.failure, "failure"));
    CXLMGR_ASSIGN(uint8_t fatal, encode_setting(p.fatal, "fatal"));
    in = {info, warn, fail, fatal};
    if (p.dynamic_capacity) {
        CXLMGR_ASSIGN(uint8_t dc, encode_setting(*p.dynamic_capacity, "dynamic-capacity"));
        in.push_back(dc);
    }
    return in;
}

Result<Command<Unit>> set_event_interrupt_policy(const EventInterruptPolicy& policy) {
    CXLMGR_ASSIGN(Bytes in, encode_event_interrupt_policy(policy));
    return make_command<Unit>(kSetPolicySpec, std::move(in), decode_nothing);
}

nlohmann::json event_interrupt_policy_to_json(const EventInterruptPolicy& p) {
    nlohmann::json j = {
        {"informational", setting_to_json(p.informational)},
        {"warning", setting_to_json(p.warning)},
        {"failure", setting_to_json(p.failure)},
        {"fatal", setting_to_json(p.fatal)},
    };
    if (p.dynamic_capacity) {
        j["dynamic-capacity"] = setting_to_json(*p.dynamic_capacity);
    }
    return j;
}

MailboxRequest get_event_records_request(EventLog log) {
    return get_event_records(log).request;
}

Result<EventRecordsPage> parse_event_records(const MailboxResponse& response) {
    return parse(get_event_records(EventLog::Informational), response);
}

Result<ClearEventRecordsRequest> clear_event_records_request(EventLog log,
                                                             std::span<const uint16_t> handles,
                                                             uint32_t payload_size) {
    CXLMGR_ASSIGN(auto clear, clear_event_records(log, handles, payload_size));
    return ClearEventRecordsRequest{std::move(clear.command.request), clear.consumed};
}

Status parse_clear_event_records(const MailboxResponse& response) {
    return check_success(response, kClearSpec.name);
}

Result<MailboxRequest> set_event_interrupt_policy_request(const EventInterruptPolicy& policy) {
    CXLMGR_ASSIGN(auto command, set_event_interrupt_policy(policy));
    return std::move(command.request);
}

Status parse_set_event_interrupt_policy(const MailboxResponse& response) {
    return check_success(response, kSetPolicySpec.name);
}

}  // namespace cxlmgr::cxl
