// The command set behind the emulated device's primary mailbox: a table of the commands it
// implements (with their Command Effects Log bits) and their handlers, plus the state they act
// on (firmware slots, event logs, health, timestamp). The mailbox model (mailbox_model.hpp)
// owns the registers and the timing and calls execute() when a command completes; background
// work comes back as a BackgroundWork the mailbox runs down against the clock.
//
// Handlers live in commands_*.cpp by topic; everything runs under the device lock.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <vector>

#include "common/result.hpp"
#include "emu/event_logs.hpp"
#include "emu/event_records.hpp"
#include "emu/firmware_slots.hpp"
#include "emu/mailbox_defs.hpp"
#include "emu/register_block.hpp"

namespace cxlmgr::emu {

// Keys of the description's "timing" section that belong to the mailbox. Other parts read their
// own keys from the same section, so only keys with the prefixes "mailbox_" and "fw_" are
// checked for typos here.
struct MailboxTiming {
    std::chrono::nanoseconds latency{0};                                  // mailbox_latency_us
    std::chrono::nanoseconds fw_per_kib{std::chrono::microseconds(2)};    // fw_transfer_us_per_kib
    std::chrono::nanoseconds fw_part_gap{std::chrono::seconds(30)};       // fw_transfer_gap_ms
    std::chrono::nanoseconds busy_fault{std::chrono::milliseconds(200)};  // mailbox_busy_fault_us
    std::chrono::nanoseconds timeout_fault{std::chrono::seconds(10)};  // mailbox_timeout_fault_us

    static Result<MailboxTiming> parse(const nlohmann::json& timing);
};

// The background operation as Background Operation Status (0x0002) reports it.
struct BackgroundStatus {
    bool running = false;
    uint8_t percent = 0;
    uint16_t opcode = 0;
    uint16_t return_code = 0;
};

struct BackgroundWork {
    std::chrono::nanoseconds duration{0};
    std::function<ReturnCode()> finish;  // runs when the operation reaches 100%
};

struct CommandOutcome {
    ReturnCode rc = ReturnCode::Success;
    std::vector<uint8_t> output;
    std::optional<BackgroundWork> background;  // set with rc == BackgroundStarted
};

class CommandSet {
public:
    using TimePoint = std::chrono::steady_clock::time_point;

    static Result<std::unique_ptr<CommandSet>> create(DeviceContext& context,
                                                      const MailboxTiming& timing);

    // CEL effect bits of an implemented command; nullopt for an unknown opcode.
    [[nodiscard]] std::optional<uint16_t> effects(uint16_t opcode) const;

    // Runs one command whose input is `input`, at device time `now`. `background` describes the
    // running background operation (the mailbox has already refused a second one).
    CommandOutcome execute(uint16_t opcode, std::span<const uint8_t> input, TimePoint now,
                           const BackgroundStatus& background);

    // Emulator control.
    Status inject_event(EventLog log, EventKind kind, const nlohmann::json& fields, TimePoint now);
    [[nodiscard]] const EventInterruptPolicy& event_interrupt_policy() const {
        return events_.policy();
    }
    [[nodiscard]] uint32_t event_status() const { return events_.status_bits(); }
    [[nodiscard]] bool firmware_transfer_open(TimePoint now) const {
        return firmware_.transfer_open(now);
    }

private:
    using Handler = CommandOutcome (CommandSet::*)(std::span<const uint8_t> input, TimePoint now);
    struct Command {
        uint16_t opcode;
        uint16_t effects;
        int fixed_input;  // exact input length, or -1 when the handler checks it
        Handler handler;
    };
    static const std::vector<Command>& table();

    CommandSet(DeviceContext& context, const MailboxTiming& timing, FirmwareSlots firmware,
               EventLogs events);
    [[nodiscard]] uint64_t device_time_ns(TimePoint now) const;
    [[nodiscard]] std::vector<uint8_t> command_effects_log() const;

    // commands_generic.cpp
    CommandOutcome background_operation_status(std::span<const uint8_t> in, TimePoint now);
    CommandOutcome get_timestamp(std::span<const uint8_t> in, TimePoint now);
    CommandOutcome set_timestamp(std::span<const uint8_t> in, TimePoint now);
    CommandOutcome get_supported_logs(std::span<const uint8_t> in, TimePoint now);
    CommandOutcome get_log(std::span<const uint8_t> in, TimePoint now);
    // commands_events.cpp
    CommandOutcome get_event_records(std::span<const uint8_t> in, TimePoint now);
    CommandOutcome clear_event_records(std::span<const uint8_t> in, TimePoint now);
    CommandOutcome get_event_interrupt_policy(std::span<const uint8_t> in, TimePoint now);
    CommandOutcome set_event_interrupt_policy(std::span<const uint8_t> in, TimePoint now);
    // commands_firmware.cpp
    CommandOutcome get_fw_info(std::span<const uint8_t> in, TimePoint now);
    CommandOutcome transfer_fw(std::span<const uint8_t> in, TimePoint now);
    CommandOutcome activate_fw(std::span<const uint8_t> in, TimePoint now);
    // commands_memdev.cpp
    CommandOutcome identify_memory_device(std::span<const uint8_t> in, TimePoint now);
    CommandOutcome get_health_info(std::span<const uint8_t> in, TimePoint now);

    DeviceContext& context_;
    MailboxTiming timing_;
    FirmwareSlots firmware_;
    EventLogs events_;
    HealthInfo health_;
    BackgroundStatus background_;  // valid during execute()
    // Get/Set Timestamp: the device clock runs from the host's last Set (0 before any).
    std::optional<std::pair<uint64_t, TimePoint>> timestamp_set_;
};

}  // namespace cxlmgr::emu
