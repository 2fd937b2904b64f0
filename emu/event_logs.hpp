// The four event logs of the emulated device with the semantics of CXL r3.x 8.2.9.2 rather than
// QEMU's (docs/PROTOCOL.md "QEMU's shortcuts"): Get leaves records in place, sets More Records only
// when more remain than it returned; a full log keeps its old records, drops the new one and
// counts the overflow; Clear removes records oldest first (a handle that is not the next oldest
// is Invalid Handle and nothing is cleared) or all of them with Clear All.
//
// Description section "events" (optional): {"capacity": 32} records per log (1..4096).
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <span>
#include <vector>

#include "common/result.hpp"
#include "emu/device_description.hpp"
#include "emu/event_records.hpp"
#include "emu/mailbox_defs.hpp"

namespace cxlmgr::emu {

// Get/Set Event Interrupt Policy: one byte per log, [1:0] mode, [7:4] message number.
struct EventInterruptPolicy {
    static constexpr uint8_t kNone = 0;
    static constexpr uint8_t kMsi = 1;  // MSI/MSI-X
    static constexpr uint8_t kFirmware = 2;

    std::array<uint8_t, kEventLogCount> settings{};

    [[nodiscard]] uint8_t mode(EventLog log) const {
        return settings[static_cast<unsigned>(log)] & 0x3u;
    }
    [[nodiscard]] uint8_t message_number(EventLog log) const {
        return settings[static_cast<unsigned>(log)] >> 4;
    }
    bool operator==(const EventInterruptPolicy&) const = default;
};

class EventLogs {
public:
    static constexpr size_t kGetHeaderSize = 0x20;

    static Result<EventLogs> create(const DeviceDescription& description);

    [[nodiscard]] uint16_t capacity() const { return capacity_; }
    [[nodiscard]] size_t size(EventLog log) const { return at(log).records.size(); }

    // Appends a record, giving it the next handle; a full log counts an overflow at
    // `device_time_ns` instead.
    void add(EventLog log, EventRecord record, uint64_t device_time_ns);

    // Get Event Records output with at most `max_records` records, oldest first.
    [[nodiscard]] std::vector<uint8_t> get(EventLog log, size_t max_records) const;

    // Clear Event Records. Success also resets the log's overflow state.
    ReturnCode clear(EventLog log, bool clear_all, std::span<const uint16_t> handles);

    // Event Status register: bit n set while log n holds records.
    [[nodiscard]] uint32_t status_bits() const;

    [[nodiscard]] const EventInterruptPolicy& policy() const { return policy_; }
    // Set Event Interrupt Policy: a reserved mode (3) is Invalid Input.
    ReturnCode set_policy(std::span<const uint8_t> settings);

    // The state file's "events" piece (emu/device_state.hpp): every log's records, next handle
    // and overflow state, and the interrupt policy.
    [[nodiscard]] nlohmann::json save_state() const;
    Status restore_state(const nlohmann::json& state);

private:
    struct Log {
        std::deque<EventRecord> records;
        uint16_t next_handle = 1;
        uint32_t overflow_count = 0;
        uint64_t first_overflow_ns = 0;
        uint64_t last_overflow_ns = 0;
    };
    EventLogs() = default;
    [[nodiscard]] const Log& at(EventLog log) const { return logs_.at(static_cast<unsigned>(log)); }
    Log& at(EventLog log) { return logs_.at(static_cast<unsigned>(log)); }

    uint16_t capacity_ = 32;
    std::array<Log, kEventLogCount> logs_;
    EventInterruptPolicy policy_;
};

}  // namespace cxlmgr::emu
