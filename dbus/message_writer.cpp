#include "dbus/message_writer.hpp"

#include <systemd/sd-bus.h>

#include <cstring>
#include <span>
#include <string>
#include <variant>

namespace cxlmgr::dbus {
namespace {

// Worst-case body bytes of the items appended (docs/DBUS.md "Values" for the wire types): a
// length-prefixed string with its NUL, and the padding an item may need before it.
constexpr size_t kMaxPadding = 7;
constexpr size_t string_bytes(size_t length) {
    return 4 + length + 1 + 3;
}

// sdbus-c++ 1.2.0 appends an array element by element (a call per byte); sd-bus appends a
// fixed-size array in one. The message pointer is protected in sdbus::Message: named through a
// derived class, its pointer to member reads it from any Message.
struct MessageAccess : sdbus::Message {
    static sd_bus_message* raw(sdbus::Message& m) {
        return static_cast<sd_bus_message*>(m.*(&MessageAccess::msg_));
    }
};

void append_bytes(sdbus::Message& m, std::span<const uint8_t> bytes) {
    const int r =
        sd_bus_message_append_array(MessageAccess::raw(m), 'y', bytes.data(), bytes.size());
    if (r < 0) {
        throw sdbus::createError(-r, "cannot append a byte array");
    }
}

}  // namespace

// One a{sv} being appended; close() ends it. Each entry is {key, variant(value)} written in
// place.
class MessageWriter::Dict {
public:
    explicit Dict(MessageWriter& w) : w_(w) {
        w_.message_.openContainer("{sv}");
        w_.bytes_ += 4 + kMaxPadding;
    }
    void close() { w_.message_.closeContainer(); }

    void u(const char* key, uint64_t v) {
        open(key, "t", 8);
        w_.message_ << v;
        done();
    }
    void x(const char* key, int64_t v) {
        open(key, "x", 8);
        w_.message_ << v;
        done();
    }
    void b(const char* key, bool v) {
        open(key, "b", 4);
        w_.message_ << v;
        done();
    }
    void s(const char* key, std::string_view v) {
        open(key, "s", string_bytes(v.size()));
        w_.message_ << std::string(v);
        done();
    }
    // ay; av when empty (an empty array has no element type to show).
    void bytes(const char* key, std::span<const uint8_t> v) {
        if (v.empty()) {
            open(key, "av", 4);
            w_.message_.openContainer("v").closeContainer();
            done();
            return;
        }
        open(key, "ay", 4 + v.size());
        append_bytes(w_.message_, v);
        done();
    }

private:
    void open(const char* key, const char* signature, size_t value_bytes) {
        w_.bytes_ += kMaxPadding + string_bytes(std::strlen(key)) + 2 + std::strlen(signature) +
                     kMaxPadding + value_bytes;
        w_.message_.openDictEntry("sv");
        w_.message_ << key;
        w_.message_.openVariant(signature);
    }
    void done() {
        w_.message_.closeVariant();
        w_.message_.closeDictEntry();
    }

    MessageWriter& w_;
};

namespace {

using Dict = MessageWriter::Dict;

void media_fields(Dict& d, const daemon::MediaEventFields& m) {
    d.u("dpa", m.dpa);
    d.u("dpa_flags", m.dpa_flags);
    d.u("descriptor", m.descriptor);
    d.u("type", m.type);
    d.u("transaction_type", m.transaction_type);
    d.u("validity_flags", m.validity_flags);
    d.u("channel", m.channel);
    d.u("rank", m.rank);
}

// The GetHealth keys. Inside a memory-module event the health flags that share a name with the
// record header's (maintenance_needed, performance_degraded) tell the device's state rather
// than this event's: those get a health_ prefix there.
void health_fields(Dict& d, const daemon::HealthInfo& h, bool inside_event) {
    const uint8_t as = h.additional_status;
    d.u("health_status", h.health_status);
    d.u("media_status", h.media_status);
    d.u("additional_status", h.additional_status);
    d.u("life_used", h.life_used);
    d.x("temperature", h.temperature);
    d.u("dirty_shutdown_count", h.dirty_shutdown_count);
    d.u("corrected_volatile_errors", h.corrected_volatile_errors);
    d.u("corrected_persistent_errors", h.corrected_persistent_errors);
    d.b(inside_event ? "health_maintenance_needed" : "maintenance_needed",
        (h.health_status & daemon::kHealthMaintenanceNeeded) != 0);
    d.b(inside_event ? "health_performance_degraded" : "performance_degraded",
        (h.health_status & daemon::kHealthPerformanceDegraded) != 0);
    d.b("replacement_needed", (h.health_status & daemon::kHealthReplacementNeeded) != 0);
    d.b("capacity_degraded", (h.health_status & daemon::kHealthCapacityDegraded) != 0);
    d.s("media_status_name", daemon::media_status_name(h.media_status));
    // Additional status: life used in [1:0], temperature in [3:2], the corrected error
    // thresholds in bits 4 and 5.
    d.s("life_used_status", daemon::additional_status_level_name(as & 0x3));
    d.s("temperature_status", daemon::additional_status_level_name((as >> 2) & 0x3));
    d.b("corrected_volatile_error_threshold", (as & 0x10) != 0);
    d.b("corrected_persistent_error_threshold", (as & 0x20) != 0);
}

void record_fields(Dict& d, const daemon::EventRecord& record) {
    const daemon::EventRecordHeader& h = record.header;
    d.s("uuid", h.uuid.to_string());
    d.u("length", h.length);
    d.u("flags", h.flags);
    d.s("severity", daemon::event_severity_name(h.severity()));
    d.b("permanent", (h.flags & daemon::kEventFlagPermanent) != 0);
    d.b("maintenance_needed", (h.flags & daemon::kEventFlagMaintenanceNeeded) != 0);
    d.b("performance_degraded", (h.flags & daemon::kEventFlagPerformanceDegraded) != 0);
    d.b("hardware_replacement_needed",
        (h.flags & daemon::kEventFlagHardwareReplacementNeeded) != 0);
    d.u("handle", h.handle);
    d.u("related_handle", h.related_handle);
    d.u("timestamp", h.timestamp);
    d.u("maintenance_op_class", h.maintenance_op_class);
    d.u("maintenance_op_subclass", h.maintenance_op_subclass);
    d.bytes("raw", record.raw);
    if (const auto* g = std::get_if<daemon::GeneralMediaEvent>(&record.body)) {
        media_fields(d, g->media);
        d.u("device", g->device);
        d.bytes("component_id", g->component_id);
    } else if (const auto* r = std::get_if<daemon::DramEvent>(&record.body)) {
        media_fields(d, r->media);
        d.u("nibble_mask", r->nibble_mask);
        d.u("bank_group", r->bank_group);
        d.u("bank", r->bank);
        d.u("row", r->row);
        d.u("column", r->column);
        d.bytes("correction_mask", r->correction_mask);
    } else if (const auto* m = std::get_if<daemon::MemoryModuleEvent>(&record.body)) {
        d.u("device_event_type", m->device_event_type);
        health_fields(d, m->health, true);
    }
}

}  // namespace

void MessageWriter::u64(uint64_t v) {
    bytes_ += kMaxPadding + 8;
    message_ << v;
}

void MessageWriter::text(std::string_view v) {
    bytes_ += string_bytes(v.size());
    message_ << std::string(v);
}

void MessageWriter::event(const daemon::DecodedEvent& event) {
    u64(event.seq);
    text(daemon::event_log_name(event.log));
    text(event.kind);
    u64(event.timestamp);
    event_fields(event);
}

void MessageWriter::event_fields(const daemon::DecodedEvent& event) {
    Dict d(*this);
    if (const auto* overflow = std::get_if<daemon::OverflowFields>(&event.fields)) {
        d.u("count", overflow->count);
        d.u("first_overflow_timestamp", overflow->first_overflow_timestamp);
        d.u("last_overflow_timestamp", overflow->last_overflow_timestamp);
    } else {
        record_fields(d, std::get<daemon::EventRecord>(event.fields));
    }
    d.close();
}

void MessageWriter::health(const daemon::HealthInfo& health) {
    Dict d(*this);
    health_fields(d, health, false);
    d.close();
}

void MessageWriter::open_struct(const char* contents) {
    bytes_ += kMaxPadding;
    message_.openStruct(contents);
}

void MessageWriter::close_struct() {
    message_.closeStruct();
}

void MessageWriter::open_array(const char* element) {
    bytes_ += 4 + kMaxPadding;
    message_.openContainer(element);
}

void MessageWriter::close_array() {
    message_.closeContainer();
}

}  // namespace cxlmgr::dbus
