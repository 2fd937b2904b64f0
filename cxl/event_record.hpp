// Event records (128 bytes each, as Get Event Records returns them): the common 0x30-byte header
// and the General Media, DRAM and Memory Module bodies. Any other record type is kept raw as a
// vendor record, so nothing the device reports is dropped.
#pragma once

#include <array>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string_view>
#include <variant>

#include "common/result.hpp"
#include "cxl/commands/health.hpp"
#include "cxl/uuid.hpp"
#include "cxl/wire.hpp"

namespace cxlmgr::cxl {

inline constexpr size_t kEventRecordSize = 0x80;
inline constexpr size_t kEventRecordHeaderSize = 0x30;

// Header flag bits ([1:0] severity).
inline constexpr uint32_t kEventFlagPermanent = 1u << 2;
inline constexpr uint32_t kEventFlagMaintenanceNeeded = 1u << 3;
inline constexpr uint32_t kEventFlagPerformanceDegraded = 1u << 4;
inline constexpr uint32_t kEventFlagHardwareReplacementNeeded = 1u << 5;
inline constexpr uint32_t kEventFlagMaintenanceSubclassValid = 1u << 6;

enum class EventSeverity : uint8_t { Informational = 0, Warning = 1, Failure = 2, Fatal = 3 };
std::string_view event_severity_name(EventSeverity severity);  // "informational", ...

struct EventRecordHeader {
    Uuid uuid;
    uint8_t length = 0;
    uint32_t flags = 0;  // 24 bits
    uint16_t handle = 0;
    uint16_t related_handle = 0;
    uint64_t timestamp = 0;  // ns since the Unix epoch, device clock
    uint8_t maintenance_op_class = 0;
    uint8_t maintenance_op_subclass =
        0;  // r3.1; meaningful with kEventFlagMaintenanceSubclassValid

    [[nodiscard]] EventSeverity severity() const { return static_cast<EventSeverity>(flags & 0x3); }
};

// Fields common to General Media and DRAM records (offsets 0x30..0x3E).
struct MediaEventFields {
    uint64_t dpa = 0;       // address, low 6 bits cleared
    uint8_t dpa_flags = 0;  // the low 6 bits of the DPA field (bit0 volatile, bit1 not repairable)
    uint8_t descriptor = 0;
    uint8_t type = 0;
    uint8_t transaction_type = 0;
    uint16_t validity_flags = 0;
    uint8_t channel = 0;
    uint8_t rank = 0;
};

struct GeneralMediaEvent {
    MediaEventFields media;
    uint32_t device = 0;  // 24 bits
    std::array<uint8_t, 16> component_id{};
};

struct DramEvent {
    MediaEventFields media;
    uint32_t nibble_mask = 0;  // 24 bits
    uint8_t bank_group = 0;
    uint8_t bank = 0;
    uint32_t row = 0;  // 24 bits
    uint16_t column = 0;
    std::array<uint8_t, 32> correction_mask{};
};

struct MemoryModuleEvent {
    uint8_t device_event_type = 0;  // 0 health status change, 1 media status, 2 life used, ...
    HealthInfo health;
};

enum class EventRecordKind { GeneralMedia, Dram, MemoryModule, Vendor };
// "general-media", "dram", "memory-module", "vendor": the kind strings of org.cxlmgr1.Events.
std::string_view event_record_kind_name(EventRecordKind kind);

struct EventRecord {
    EventRecordHeader header;
    EventRecordKind kind = EventRecordKind::Vendor;
    std::variant<std::monostate, GeneralMediaEvent, DramEvent, MemoryModuleEvent> body;
    std::array<uint8_t, kEventRecordSize> raw{};
};

// `bytes` must be exactly one record (kEventRecordSize bytes). A record whose length field is
// not 0x80 is malformed (every record type defined so far is 128 bytes).
Result<EventRecord> decode_event_record(ByteSpan bytes);

// Keys: uuid, length, flags, severity, permanent, maintenance_needed, performance_degraded,
// hardware_replacement_needed, handle, related_handle, timestamp, maintenance_op_class,
// maintenance_op_subclass, raw (binary, all 128 bytes); then per kind:
//   general-media / dram: dpa, dpa_flags, descriptor, type, transaction_type, validity_flags,
//     channel, rank; general-media: device, component_id (binary); dram: nibble_mask,
//     bank_group, bank, row, column, correction_mask (binary);
//   memory-module: device_event_type and the health_to_json() keys, those that collide with
//     header keys prefixed with health_ (health_maintenance_needed, ...).
nlohmann::json event_record_to_json(const EventRecord& record);

}  // namespace cxlmgr::cxl
