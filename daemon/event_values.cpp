#include "daemon/event_values.hpp"

#include <array>

namespace cxlmgr::daemon {

Result<DecodedEvent> decode_event(const StoredEvent& event) {
    const EventEntry& entry = event.entry;
    DecodedEvent out;
    out.seq = event.seq;
    out.log = entry.log;
    out.kind = entry.kind;
    out.timestamp = entry.timestamp;
    if (entry.kind == kOverflowKind) {
        out.fields = OverflowFields{.count = entry.overflow_count,
                                    .first_overflow_timestamp = entry.first_overflow,
                                    .last_overflow_timestamp = entry.last_overflow};
        return out;
    }
    CXLMGR_ASSIGN(out.fields, cxl::decode_event_record(entry.record));
    return out;
}

std::span<const std::string_view> collected_event_log_names() {
    static const std::array<std::string_view, 4> names = {
        event_log_name(EventLog::Informational), event_log_name(EventLog::Warning),
        event_log_name(EventLog::Failure), event_log_name(EventLog::Fatal)};
    return names;
}

std::span<const std::string_view> event_kind_names() {
    using cxl::EventRecordKind;
    static const std::array<std::string_view, 5> names = {
        cxl::event_record_kind_name(EventRecordKind::GeneralMedia),
        cxl::event_record_kind_name(EventRecordKind::Dram),
        cxl::event_record_kind_name(EventRecordKind::MemoryModule), kOverflowKind,
        cxl::event_record_kind_name(EventRecordKind::Vendor)};
    return names;
}

}  // namespace cxlmgr::daemon
