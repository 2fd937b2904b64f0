// Event log commands: Get Event Records, Clear Event Records, Get/Set Event Interrupt Policy.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "cxl/commands/command.hpp"
#include "cxl/event_record.hpp"

namespace cxlmgr::cxl {

enum class EventLog : uint8_t {
    Informational = 0,
    Warning = 1,
    Failure = 2,
    Fatal = 3,
    DynamicCapacity = 4,  // r3.0+; Linux stops at Fatal
};
// "informational", "warning", "failure", "fatal", "dynamic-capacity" (the log names of
// org.cxlmgr1.Events).
std::string_view event_log_name(EventLog log);
Result<EventLog> parse_event_log(std::string_view name);

inline constexpr size_t kEventRecordsHeaderSize = command_spec(opcode::kGetEventRecords).min_output;
inline constexpr uint8_t kEventRecordsOverflow = 1u << 0;
inline constexpr uint8_t kEventRecordsMoreRecords = 1u << 1;

struct EventRecordsPage {
    bool overflow = false;
    bool more_records = false;
    uint16_t overflow_count = 0;
    uint64_t first_overflow_timestamp = 0;
    uint64_t last_overflow_timestamp = 0;
    std::vector<EventRecord> records;
};

Command<EventRecordsPage> get_event_records(EventLog log);
// Refuses a record count whose records do not fit the output, malformed records and handle 0
// (never valid, and such a record could never be cleared).
Result<EventRecordsPage> decode_event_records(ByteSpan output);
// Keys: overflow, more_records, overflow_count, first_overflow_timestamp,
// last_overflow_timestamp, records (array of event_record_to_json objects).
nlohmann::json event_records_to_json(const EventRecordsPage& page);

// Handles that fit one Clear Event Records input (the count field is one byte).
size_t clear_event_records_capacity(uint32_t payload_size);

struct ClearEventRecords {
    Command<Unit> command;
    size_t consumed = 0;  // handles taken from the front of the list
};
// Clears as many of `handles` as fit, in the order given (the device wants them oldest first).
// InvalidArgument for an empty list or a zero handle.
Result<ClearEventRecords> clear_event_records(EventLog log, std::span<const uint16_t> handles,
                                              uint32_t payload_size);
Command<Unit> clear_all_event_records(EventLog log);

enum class InterruptMode : uint8_t { None = 0, MsiMsix = 1, Firmware = 2 };
std::string_view interrupt_mode_name(uint8_t mode);  // "none", "msi", "firmware", "reserved"

struct InterruptSetting {
    uint8_t mode = 0;            // InterruptMode value as reported ([1:0])
    uint8_t message_number = 0;  // [7:4]
};

struct EventInterruptPolicy {
    InterruptSetting informational;
    InterruptSetting warning;
    InterruptSetting failure;
    InterruptSetting fatal;
    std::optional<InterruptSetting> dynamic_capacity;  // r3.1 fifth byte
};

Command<EventInterruptPolicy> get_event_interrupt_policy();
Result<EventInterruptPolicy> decode_event_interrupt_policy(ByteSpan output);
// Four bytes (CXL 2.0 layout, accepted by every device), five with dynamic_capacity.
// InvalidArgument for a reserved mode or a message number above 15.
Result<Bytes> encode_event_interrupt_policy(const EventInterruptPolicy& policy);
Result<Command<Unit>> set_event_interrupt_policy(const EventInterruptPolicy& policy);
// Keys per log name ("informational", ...): {"mode": s, "message_number": n}.
nlohmann::json event_interrupt_policy_to_json(const EventInterruptPolicy& policy);

// Untyped forms for daemon/event_collector.cpp until it sends Command<T>s; do not add users.
MailboxRequest get_event_records_request(EventLog log);
Result<EventRecordsPage> parse_event_records(const MailboxResponse& response);
struct ClearEventRecordsRequest {
    MailboxRequest request;
    size_t consumed = 0;
};
Result<ClearEventRecordsRequest> clear_event_records_request(EventLog log,
                                                             std::span<const uint16_t> handles,
                                                             uint32_t payload_size);
Status parse_clear_event_records(const MailboxResponse& response);
Result<MailboxRequest> set_event_interrupt_policy_request(const EventInterruptPolicy& policy);
Status parse_set_event_interrupt_policy(const MailboxResponse& response);

}  // namespace cxlmgr::cxl
