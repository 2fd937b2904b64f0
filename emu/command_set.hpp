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
#include <set>
#include <span>
#include <vector>

#include "common/result.hpp"
#include "emu/event_logs.hpp"
#include "emu/event_records.hpp"
#include "emu/firmware_slots.hpp"
#include "emu/mailbox_defs.hpp"
#include "emu/media_state.hpp"
#include "emu/register_block.hpp"

namespace cxlmgr::emu {

// Keys of the description's "timing" section that belong to the mailbox. Other parts read their
// own keys from the same section, so only keys with the prefixes "mailbox_", "fw_" and
// "background" are checked for typos here.
struct MailboxTiming {
    std::chrono::nanoseconds latency{0};                                  // mailbox_latency_us
    std::chrono::nanoseconds fw_per_kib{std::chrono::microseconds(2)};    // fw_transfer_us_per_kib
    std::chrono::nanoseconds fw_part_gap{std::chrono::seconds(30)};       // fw_transfer_gap_ms
    std::chrono::nanoseconds busy_fault{std::chrono::milliseconds(200)};  // mailbox_busy_fault_us
    std::chrono::nanoseconds timeout_fault{std::chrono::seconds(10)};  // mailbox_timeout_fault_us
    // background_us: {"transfer-fw": us, "activate-fw": us, "scan-media": us, "sanitize": us,
    // "secure-erase": us}, a fixed background time per invocation (Transfer FW adds it to its
    // per-KiB time; Activate FW runs in the background when it is above 0; the media commands
    // always run in the background, 0 ending at the next mailbox access).
    std::chrono::nanoseconds transfer_fw_fixed{0};
    std::chrono::nanoseconds activate_fw_fixed{0};
    std::chrono::nanoseconds scan_media_fixed{0};
    std::chrono::nanoseconds sanitize_fixed{0};
    std::chrono::nanoseconds secure_erase_fixed{0};

    static Result<MailboxTiming> parse(const nlohmann::json& timing);
};

// The description's "mailbox" section: {"abort_background": true, "unsupported": [opcodes]}.
// Each opcode in "unsupported" (and 0x0005 with abort_background false) is removed from the
// device: absent from the CEL, Unsupported when sent. This is how a test meets a device that
// lacks a command (QEMU 10, say, has no Get Health Info).
struct MailboxOptions {
    bool abort_background = true;
    std::set<uint16_t> unsupported;

    static Result<MailboxOptions> parse(const nlohmann::json& mailbox);
};

// The background operation as Background Operation Status (0x0002) reports it.
struct BackgroundStatus {
    bool running = false;
    uint8_t percent = 0;
    uint16_t opcode = 0;
    uint16_t return_code = 0;
};

// A background command's run. What it does at the end (or on an abort) is state of the command
// set (finish_background(), abort_background()), not a closure, so that it can be saved in the
// state file and finished by another process.
struct BackgroundWork {
    std::chrono::nanoseconds duration{0};
};

struct CommandOutcome {
    ReturnCode rc = ReturnCode::Success;
    std::vector<uint8_t> output;
    std::optional<BackgroundWork> background;  // set with rc == BackgroundStarted
    // Request Abort Background Operation accepted: the mailbox ends the running operation.
    bool abort_background = false;
};

class CommandSet {
public:
    using TimePoint = std::chrono::steady_clock::time_point;

    static Result<std::unique_ptr<CommandSet>> create(DeviceContext& context,
                                                      const MailboxTiming& timing);

    // Every opcode the device can implement (before the description switches any off).
    static const std::vector<uint16_t>& implemented();

    // CEL effect bits of an implemented command; nullopt for an opcode the device does not
    // implement (or has switched off, like 0x0005 with mailbox.abort_background false).
    [[nodiscard]] std::optional<uint16_t> effects(uint16_t opcode) const;

    // The background operation the mailbox ran reached 100%: its effect applies now (a slot is
    // installed, an activation done). Returns the background return code.
    ReturnCode finish_background();
    // The running background operation was aborted at `percent`: its effect is dropped (a scan
    // keeps what it found so far and where to restart).
    void abort_background(uint8_t percent);
    // True while background work is waiting for finish_background() or abort_background().
    [[nodiscard]] bool background_pending() const {
        return firmware_.in_flight() || media_.in_flight.has_value();
    }

    // The state file's pieces of the command set (emu/device_state.hpp): "firmware",
    // "events", "health" and "media" members of `out`. restore_state() reads them back ("media"
    // may be absent: a file from before it existed).
    void save_state(nlohmann::json& out, TimePoint now) const;
    Status restore_state(const nlohmann::json& in, TimePoint now, std::chrono::nanoseconds aged);

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

    CommandSet(DeviceContext& context, const MailboxTiming& timing, const MailboxOptions& options,
               FirmwareSlots firmware, EventLogs events);
    [[nodiscard]] const Command* find(uint16_t opcode) const;
    [[nodiscard]] uint16_t effects_of(const Command& command) const;
    [[nodiscard]] uint64_t device_time_ns(TimePoint now) const;
    [[nodiscard]] std::vector<uint8_t> command_effects_log() const;
    // Whether media commands must answer Media Disabled (Sanitize or Secure Erase is running).
    [[nodiscard]] bool media_disabled() const;
    // Adds a poisoned granule to the list, or marks the list overflowed when it is full.
    void add_poison(uint64_t dpa, uint8_t source, TimePoint now);
    std::vector<uint8_t> encode_records(const std::vector<PoisonRecord>& records, size_t first,
                                        size_t count, size_t offset, size_t total) const;

    // commands_generic.cpp
    CommandOutcome request_abort_background_operation(std::span<const uint8_t> in, TimePoint now);
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
    CommandOutcome get_alert_config(std::span<const uint8_t> in, TimePoint now);
    CommandOutcome set_alert_config(std::span<const uint8_t> in, TimePoint now);
    CommandOutcome get_partition_info(std::span<const uint8_t> in, TimePoint now);
    CommandOutcome get_lsa(std::span<const uint8_t> in, TimePoint now);
    CommandOutcome set_lsa(std::span<const uint8_t> in, TimePoint now);
    CommandOutcome get_security_state(std::span<const uint8_t> in, TimePoint now);
    // commands_media.cpp
    CommandOutcome get_poison_list(std::span<const uint8_t> in, TimePoint now);
    CommandOutcome inject_poison(std::span<const uint8_t> in, TimePoint now);
    CommandOutcome clear_poison(std::span<const uint8_t> in, TimePoint now);
    CommandOutcome get_scan_media_capabilities(std::span<const uint8_t> in, TimePoint now);
    CommandOutcome scan_media(std::span<const uint8_t> in, TimePoint now);
    CommandOutcome get_scan_media_results(std::span<const uint8_t> in, TimePoint now);
    CommandOutcome sanitize(std::span<const uint8_t> in, TimePoint now);
    CommandOutcome secure_erase(std::span<const uint8_t> in, TimePoint now);
    // The end of a media background operation (finish_background()), and its abort.
    ReturnCode finish_media_operation();
    void abort_media_operation(uint8_t percent);
    // commands_features.cpp
    CommandOutcome get_supported_features(std::span<const uint8_t> in, TimePoint now);
    CommandOutcome get_feature(std::span<const uint8_t> in, TimePoint now);
    CommandOutcome set_feature(std::span<const uint8_t> in, TimePoint now);

    DeviceContext& context_;
    MailboxTiming timing_;
    MailboxOptions options_;
    FirmwareSlots firmware_;
    EventLogs events_;
    HealthInfo health_;
    MediaState media_;
    BackgroundStatus background_;  // valid during execute()
    // Get/Set Timestamp: the device clock runs from the host's last Set (0 before any).
    std::optional<std::pair<uint64_t, TimePoint>> timestamp_set_;
};

}  // namespace cxlmgr::emu
