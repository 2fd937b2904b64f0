// Daemon values written straight into an sd-bus message as the v1 contract's a{sv}, with the
// keys and D-Bus types dbus/values.hpp documents (unsigned t, signed x, flags b, names s,
// device bytes ay, av for an empty array). No sdbus::Variant is built: each entry is appended
// in place (openDictEntry / openVariant / operator<<), so a value costs its wire bytes only.
//
// These writers are where the keys of events and health live:
//   health (Device.GetHealth, and inside memory-module events): health_status, media_status,
//     additional_status, life_used, temperature, dirty_shutdown_count,
//     corrected_volatile_errors, corrected_persistent_errors, and decoded maintenance_needed,
//     performance_degraded, replacement_needed, capacity_degraded, media_status_name,
//     life_used_status, temperature_status, corrected_volatile_error_threshold,
//     corrected_persistent_error_threshold.
//   event fields (the Event signal and GetEvents): a record's uuid, length, flags, severity,
//     permanent, maintenance_needed, performance_degraded, hardware_replacement_needed, handle,
//     related_handle, timestamp, maintenance_op_class, maintenance_op_subclass, raw (all 128
//     bytes); then per kind
//       general-media / dram: dpa, dpa_flags, descriptor, type, transaction_type,
//         validity_flags, channel, rank; general-media: device, component_id; dram:
//         nibble_mask, bank_group, bank, row, column, correction_mask;
//       memory-module: device_event_type and the health keys, those that collide with the keys
//         above prefixed with health_ (health_maintenance_needed, health_performance_degraded).
//     An overflow: count, first_overflow_timestamp, last_overflow_timestamp.
//
// Threads: writing touches only the message (sd-bus appends to an unsealed message without
// touching its bus), so a message may be written on any thread that owns it exclusively. Who
// may hold the message where, and why, is in docs/DBUS.md "Threading and lifetimes".
#pragma once

#include <sdbus-c++/Message.h>
#include <cstddef>

#include "daemon/device_values.hpp"
#include "daemon/event_values.hpp"

namespace cxlmgr::dbus {

class MessageWriter {
public:
    explicit MessageWriter(sdbus::Message& message) : message_(message) {}

    // An upper bound of the body bytes this writer appended (every item counted with its
    // worst-case alignment padding); GetEvents closes a page by it.
    [[nodiscard]] size_t bytes() const { return bytes_; }

    // An Event's arguments: seq (t), log (s), kind (s), timestamp (t), fields (a{sv}); the
    // signal's body, and the members of one GetEvents struct (the caller opens the struct).
    void event(const daemon::DecodedEvent& event);
    // The `fields` a{sv} of an Event.
    void event_fields(const daemon::DecodedEvent& event);
    // GetHealth's a{sv}.
    void health(const daemon::HealthInfo& health);

    // GetEvents' element signature, "(tssta{sv})", and its struct contents.
    static constexpr const char* kEventStruct = "tssta{sv}";

    void open_struct(const char* contents);
    void close_struct();
    void open_array(const char* element);
    void close_array();

    // One a{sv} being written (message_writer.cpp).
    class Dict;

private:
    void u64(uint64_t v);
    void text(std::string_view v);

    sdbus::Message& message_;
    size_t bytes_ = 0;
};

}  // namespace cxlmgr::dbus
