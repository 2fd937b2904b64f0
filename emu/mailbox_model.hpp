// The emulated Type-3 primary mailbox (CXL r3.x 8.2.8.4; docs/PROTOCOL.md "Primary mailbox"),
// following the specification where QEMU takes shortcuts:
//  - the doorbell stays set while a command runs, for timing.mailbox_latency_us (0: until the
//    first register access after the ring). The model has no threads: every access first
//    brings the state up to the clock (context.now()), completing whatever is due, in time
//    order. A command runs when it completes, at its completion time.
//  - while the doorbell is set the device owns the mailbox: writes to Command and the payload
//    are dropped, and ringing again is ignored (a host bug).
//  - background commands (Transfer FW; Activate FW when timed) answer Background Command
//    Started at once; Status bit0 and BG Command Status report progress against the clock; the
//    final return code appears in BG Command Status at 100%. A second background-capable
//    command meanwhile gets Busy; other commands run normally. Request Abort Background
//    Operation (0x0005) ends an abortable one at once: Status bit0 clears, BG Command Status
//    keeps the percentage reached and reports Aborted (0x12).
//  - with the description's "state_file", the device's state (firmware slots, open transfer,
//    the background operation and its remaining time, event logs, health) is written to that
//    file after every change and read back when a device is created (emu/device_state.hpp).
//
// Access widths: registers (below 0x20) honour 32- and 64-bit accesses and ignore others
// (reads of other widths return 0). Command is a 64-bit latch whose two 32-bit halves can be
// written separately (low then high, or the reverse) before ringing; the doorbell uses whatever
// the latch holds. Real devices with a 32-bit register path behave this way; QEMU drops 32-bit
// writes to it. The payload is a buffer and accepts any naturally aligned 1/2/4/8-byte access.
//
// Capabilities: payload size from the description; no doorbell or background interrupt
// capability (bits 5 and 6 clear), because the emulated function has no MSI/MSI-X to signal
// with, so the IRQ enable bits in Control read as zero.
//
// Faults: mailbox-busy (at the first access while idle the doorbell reads set for
// timing.mailbox_busy_fault_us as if another agent held the mailbox; no command runs),
// mailbox-timeout (the next rung command never runs; the doorbell stays set for
// timing.mailbox_timeout_fault_us, then clears with Internal Error), mailbox-length-lie (the
// next completion reports payload size + 64 as output length), fw-verify-fail (firmware_slots).
#pragma once

#include <memory>
#include <vector>

#include "emu/command_set.hpp"
#include "emu/register_block.hpp"

namespace cxlmgr::emu {

class MailboxModel final : public MailboxBlock {
public:
    using TimePoint = std::chrono::steady_clock::time_point;

    static constexpr uint64_t kPayloadOffset = 0x20;

    static Result<std::unique_ptr<MailboxModel>> create(DeviceContext& context);

    uint64_t read(uint64_t offset, unsigned width) override;
    void write(uint64_t offset, unsigned width, uint64_t value) override;
    [[nodiscard]] uint32_t event_status() const override { return commands_->event_status(); }
    [[nodiscard]] uint64_t memdev_status_bits() const override { return 0; }

    // Emulator control; the caller holds the device lock like for register accesses.
    Status inject_event(EventLog log, EventKind kind, const nlohmann::json& fields);
    [[nodiscard]] EventInterruptPolicy event_interrupt_policy() const {
        return commands_->event_interrupt_policy();
    }
    // A multi-part firmware transfer is open (the state a host must abort after a crash).
    [[nodiscard]] bool firmware_transfer_open();

private:
    enum class Doorbell {
        Idle,
        Running,      // a command completes at doorbell_until_
        Hung,         // mailbox-timeout fault
        ForeignBusy,  // mailbox-busy fault
    };
    // The run of the background operation; what it does at its end is the command set's
    // (CommandSet::finish_background()).
    struct Background {
        bool running = false;
        uint16_t opcode = 0;
        TimePoint start{};
        TimePoint end{};
        uint16_t return_code = 0;
        uint8_t final_percent = 0;  // once ended: 100, or where an abort stopped it
        bool ever_ran = false;
    };

    MailboxModel(DeviceContext& context, const MailboxTiming& timing,
                 std::unique_ptr<CommandSet> commands);
    void enter(TimePoint now);  // brings the state up to `now` and applies the busy fault
    void advance(TimePoint now);
    void complete_command(TimePoint at);
    void complete_background();
    void abort_background(TimePoint at);
    [[nodiscard]] uint8_t running_percent(TimePoint now) const;
    [[nodiscard]] BackgroundStatus background_status(TimePoint now) const;
    // The state file (no-ops without one). A failed save at run time is logged: the register
    // access that caused it has no way to report it.
    [[nodiscard]] nlohmann::json state(TimePoint now) const;
    Status restore(const nlohmann::json& state, TimePoint now);
    Status save(TimePoint now);
    void save_logged(TimePoint now);
    uint32_t read_register(uint64_t offset, TimePoint now);
    void write_register(uint64_t offset, uint32_t value, TimePoint now);

    DeviceContext& context_;
    MailboxTiming timing_;
    std::unique_ptr<CommandSet> commands_;
    uint32_t capabilities_ = 0;
    uint64_t command_ = 0;
    uint16_t return_code_ = 0;
    std::vector<uint8_t> payload_;
    Doorbell doorbell_ = Doorbell::Idle;
    TimePoint doorbell_until_{};
    Background background_;
};

}  // namespace cxlmgr::emu
