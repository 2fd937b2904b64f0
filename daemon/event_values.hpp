// Stored events as typed values: what org.cxlmgr1.Events signals and GetEvents return, decoded
// from the journal's bytes once, here, for any layer above to render. Also the log and kind
// names a subscription filter may name.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <variant>

#include "common/result.hpp"
#include "daemon/device_values.hpp"
#include "daemon/event_journal.hpp"

namespace cxlmgr::daemon {

// What an overflow event reports: the records the device dropped since the episode was last
// stored, and the episode's first and last overflow times (device clock, ns).
struct OverflowFields {
    uint64_t count = 0;
    uint64_t first_overflow_timestamp = 0;
    uint64_t last_overflow_timestamp = 0;
};

struct DecodedEvent {
    uint64_t seq = 0;
    EventLog log = EventLog::Informational;
    std::string kind;        // event_kind_names()
    uint64_t timestamp = 0;  // device clock, ns; the first overflow's for an overflow
    std::variant<EventRecord, OverflowFields> fields;
};

// DeviceError when the stored record does not decode (see cxl::decode_event_record).
Result<DecodedEvent> decode_event(const StoredEvent& event);

// "informational", "warning", "failure", "fatal": the logs the collector drains.
std::span<const std::string_view> collected_event_log_names();
// "general-media", "dram", "memory-module", "overflow", "vendor".
std::span<const std::string_view> event_kind_names();

}  // namespace cxlmgr::daemon
