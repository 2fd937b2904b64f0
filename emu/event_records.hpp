// Event records as the emulated device stores them: 128 bytes each, with the common header and
// the General Media, DRAM, Memory Module or vendor-defined body at the offsets of CXL r3.x
// 8.2.9.2.1 (docs/PROTOCOL.md "Event records"). Built from named fields, as QEMU's cxl-inject-* QMP
// commands take them, so tests and the D-Bus Emulator interface never deal in raw offsets.
#pragma once

#include <array>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string_view>

#include "common/result.hpp"

namespace cxlmgr::emu {

enum class EventLog : uint8_t { Informational = 0, Warning = 1, Failure = 2, Fatal = 3 };
inline constexpr unsigned kEventLogCount = 4;

enum class EventKind { GeneralMedia, Dram, MemoryModule, Vendor };

// "informational" | "warning" | "failure" | "fatal" (the names of the org.cxlmgr1 API).
Result<EventLog> parse_event_log(std::string_view name);
// "general-media" | "dram" | "memory-module" | "vendor".
Result<EventKind> parse_event_kind(std::string_view name);

inline constexpr size_t kEventRecordSize = 0x80;
using EventRecord = std::array<uint8_t, kEventRecordSize>;

// Record header offsets the logs need.
inline constexpr size_t kRecordHandleOffset = 0x14;
inline constexpr size_t kRecordTimestampOffset = 0x18;

// What Get Health Info reports; a Memory Module event carries a copy of it.
struct HealthInfo {
    uint8_t health_status = 0;  // bit0 maintenance needed, bit1 performance degraded, ...
    uint8_t media_status = 0;   // 0 normal
    uint8_t additional_status = 0;
    uint8_t life_used = 3;     // percent
    int16_t temperature = 35;  // degrees Celsius
    uint32_t dirty_shutdown_count = 0;
    uint32_t corrected_volatile_errors = 0;
    uint32_t corrected_persistent_errors = 0;

    static constexpr size_t kSize = 0x12;
    [[nodiscard]] std::array<uint8_t, kSize> encode() const;
};

// Builds a record for `log` (its severity goes into the flags) stamped with `timestamp_ns`
// unless the fields carry "timestamp". The handle is left 0 for the log to assign. Fields:
//   all kinds:      flags (extra flag bits [7:2]), related_handle, maintenance_op_class,
//                   timestamp
//   general-media:  dpa, descriptor, type, transaction_type, validity_flags, channel, rank,
//                   device, component_id (string or byte array, up to 16)
//   dram:           dpa, descriptor, type, transaction_type, validity_flags, channel, rank,
//                   nibble_mask, bank_group, bank, row, column, correction_mask (up to 4 u64)
//   memory-module:  type (device event type), health_status, media_status, additional_status,
//                   life_used, temperature, dirty_shutdown_count, corrected_volatile_errors,
//                   corrected_persistent_errors
//   vendor:         uuid (string), data (up to 0x50 bytes)
// Validity flags follow from the optional fields given unless validity_flags is set. A
// Memory Module event reports a health change: the health fields given update `health`
// (only when the whole record is valid) and the record carries the updated copy.
// Unknown names and out-of-range values are InvalidArgument.
Result<EventRecord> build_event_record(EventLog log, EventKind kind, const nlohmann::json& fields,
                                       uint64_t timestamp_ns, HealthInfo& health);

}  // namespace cxlmgr::emu
