// The primary mailbox transport: one foreground command at a time through the doorbell
// protocol, and at most one background operation beside it. Waits are Asio timers
// (common/async_poll), never sleeping threads.
//
// A command the device answers with Background Command Started (BCS) leaves the foreground at
// once: the doorbell is clear, the mailbox takes other (foreground) commands, and the background
// operation is followed apart from them, by register reads only (Status bit 0 and the Background
// Command Status register), never by a mailbox command. The first check comes at once, later
// ones back off with background_poll_backoff(), scaled to the command's expected duration. Its
// result (return code, percentage) comes from the Background Command Status register, checked
// to name the same opcode; a foreground command completing meanwhile reads only the Status
// register. So a foreground result and a background result are never taken for each other.
// While a background operation is tracked, another command that may run in the background is
// refused here with Busy before anything is written (the daemon's channel never sends one; this
// is the safety net). docs/PROTOCOL.md "Background commands".
//
// A non-success return code is an answer, not a transport error: async_command completes with
// a MailboxResponse carrying it, and only the typed command layer (cxl/commands) maps it to an
// Error. Transport errors are: Busy (another command in flight here, a background operation
// already running, or the doorbell found set by another agent), Timeout (doorbell or background
// deadline), Cancelled, DeviceGone (all-ones reads), DeviceError (the device broke the protocol,
// e.g. claimed more output than its payload area holds, or reported another opcode's background
// result), InvalidArgument (input larger than the payload area).
//
// After a doorbell timeout the mailbox is out of service: every later command fails at once
// with the recorded reason until reset() finds the doorbell idle again.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/async_poll.hpp"
#include "common/cancel.hpp"
#include "common/result.hpp"
#include "cxl/command_table.hpp"
#include "cxl/register_map.hpp"
#include "cxl/wire.hpp"
#include "pci/pci_device.hpp"

namespace cxlmgr::cxl {

inline constexpr uint32_t kMinPayloadSize = 256;
inline constexpr uint32_t kMaxPayloadSize = 1u << 20;

// Primary mailbox registers, relative to the capability.
namespace mbox_reg {
inline constexpr uint64_t kCapabilities = 0x00;      // 32 bit
inline constexpr uint64_t kControl = 0x04;           // 32 bit
inline constexpr uint64_t kCommand = 0x08;           // 64 bit
inline constexpr uint64_t kStatus = 0x10;            // 64 bit
inline constexpr uint64_t kBackgroundStatus = 0x18;  // 64 bit
inline constexpr uint64_t kPayload = 0x20;
}  // namespace mbox_reg

struct MemdevStatus {
    uint64_t raw = 0;
    bool fatal = false;
    bool fw_halt = false;
    uint8_t media_status = 0;  // 0 not ready, 1 ready, 2 error, 3 disabled
    bool mailbox_ready = false;
    uint8_t reset_needed = 0;  // 0 none, 1 cold, 2 warm, 3 hot, 4 CXL
};
MemdevStatus decode_memdev_status(uint64_t raw);

struct MailboxConfig {
    std::chrono::milliseconds doorbell_timeout{2000};  // as Linux's CXL_MAILBOX_TIMEOUT_MS
    std::chrono::milliseconds ready_timeout{60000};    // async_open: Linux's mbox_ready_timeout
    // Fast devices answer within microseconds: check early, then back off to a few ms.
    Backoff doorbell_backoff{std::chrono::microseconds(2), std::chrono::microseconds(2000), 2};
};

// How a background operation expected to run `expected` is polled for completion (after the
// immediate first check). The first interval is 1/50 of the expected run, so an operation that
// ends early is seen early; the interval doubles up to 1/4 of it, so past the expected end a
// completion is seen at most a quarter late and a long run costs a few dozen register reads,
// not thousands. Bounded below (50 us first, 2 ms cap: shorter timers only burn CPU) and above
// (20 ms first, 1 s cap: a completion is never noticed more than a second late, even for a
// sanitize expected to run for minutes). An expected duration of 0 (unknown: a vendor command)
// counts as 100 ms.
Backoff background_poll_backoff(std::chrono::microseconds expected);

struct MailboxCommandOptions {
    // How long a background operation may run once started (firmware transfer needs tens of
    // seconds on real devices).
    std::chrono::milliseconds background_timeout = kDefaultBackgroundTimeout;
    // How long a background run usually takes (the command table's row): scales the polling.
    std::chrono::milliseconds expected_duration{0};
    // Called on the executor once the device answered Background Command Started: the
    // foreground part is over and the mailbox takes other commands from here on.
    std::function<void()> on_background_started;
    // Called on the executor when the cancel token is seen while following the background
    // operation. True: the caller asked the device to end it (Request Abort Background
    // Operation, sent as its own command); the mailbox then follows it on to its end, ignoring
    // the token, and reports Cancelled unless it still ended in Success. False (or unset): the
    // following ends at once with Cancelled and the operation stays tracked.
    std::function<bool()> on_cancel_in_background;
    // Called on the executor whenever the reported percentage changes.
    std::function<void(unsigned percent)> on_progress;
};

struct MailboxRequest {
    uint16_t opcode = 0;
    Bytes input;
    MailboxCommandOptions options;
};

struct MailboxResponse {
    uint16_t opcode = 0;
    uint16_t return_code = 0;  // final code: for background commands, the one at completion
    uint16_t vendor_status = 0;
    bool background = false;  // the device ran the command as a background operation
    // Only filled when return_code is Success, and never for a background operation: by its
    // completion the payload area may hold a later foreground command's output.
    Bytes output;
    unsigned percent = 0;  // background only: the last percentage the device reported
};

class Mailbox : public std::enable_shared_from_this<Mailbox> {
    struct Private {};

public:
    using Callback = std::function<void(Result<MailboxResponse>)>;
    using OpenCallback = std::function<void(Result<std::shared_ptr<Mailbox>>)>;

    // Discovers the registers and reads the payload size. Busy when the Memory Device Status
    // says the mailbox interface is not ready yet (async_open waits for it). The mailbox keeps
    // the device, and so its mapped BAR, alive.
    static Result<std::shared_ptr<Mailbox>> open(boost::asio::any_io_executor executor,
                                                 std::shared_ptr<pci::PciDevice> device,
                                                 MailboxConfig config = {});
    // Waits up to config.ready_timeout for "mailbox interface ready" and an idle doorbell (a
    // command left by a previous owner), then opens.
    static void async_open(boost::asio::any_io_executor executor,
                           std::shared_ptr<pci::PciDevice> device, MailboxConfig config,
                           CancelToken cancel, OpenCallback done);

    Mailbox(Private, boost::asio::any_io_executor executor, std::shared_ptr<pci::PciDevice> device,
            DeviceRegisterMap map, MailboxConfig config, uint32_t payload_size);

    // `done` runs exactly once, on the executor, never inside this call. The token is observed
    // while following a background operation; the doorbell phase itself is short and always
    // runs to its end, so a command the device has executed is never reported as cancelled.
    // A background operation whose following was cancelled (or timed out) stays tracked until
    // a register read shows it ended: the device still runs it. Ending it is the caller's
    // business (Request Abort Background Operation is an ordinary foreground command here).
    void async_command(MailboxRequest request, CancelToken cancel, Callback done);

    // Waits (register reads only, with background_poll_backoff of `expected`) until no
    // background operation runs on the device, e.g. one found running at open, left by a
    // previous owner. Ok at once when none runs; Timeout at the deadline.
    void async_wait_background_idle(std::chrono::steady_clock::time_point deadline,
                                    std::chrono::milliseconds expected, CancelToken cancel,
                                    std::function<void(Status)> done);

    [[nodiscard]] uint32_t payload_size() const;
    [[nodiscard]] const DeviceRegisterMap& registers() const { return map_; }
    [[nodiscard]] const std::string& name() const { return name_; }
    // A foreground command is between its doorbell and its answer.
    [[nodiscard]] bool in_flight() const;
    // The opcode of the background operation tracked here (started through this mailbox, or
    // found running at open), if any.
    [[nodiscard]] std::optional<uint16_t> background_opcode() const;
    // Status bit 0 as the device reports it now (a register read).
    Result<bool> background_running();
    // The reason the mailbox is out of service, if it is.
    [[nodiscard]] std::optional<Error> failure() const;

    // Puts a failed mailbox back in service once the doorbell is idle and the interface ready,
    // re-reading the payload size. Busy while a command is in flight or the doorbell is set.
    Status reset();

    // Device Status: Event Status (bit n set = event log n has records).
    Result<uint32_t> read_event_status();
    Result<MemdevStatus> read_memdev_status();

private:
    struct Op;
    using StatusNext = std::function<void(Result<uint64_t>)>;

    Status begin(const MailboxRequest& request);
    Status ring(uint16_t opcode, ByteSpan input);
    void wait_doorbell(std::shared_ptr<Op> op, uint16_t opcode, StatusNext next);
    void on_status(std::shared_ptr<Op> op, uint64_t status);
    void follow_background(std::shared_ptr<Op> op, CancelToken cancel);
    void on_background_done(std::shared_ptr<Op> op, Status status);
    Result<Bytes> read_output(uint16_t opcode);
    // Ends the foreground phase (the doorbell answered, or was never rung) with its result.
    void finish(const std::shared_ptr<Op>& op, Result<MailboxResponse> result);
    // Ends the following of a background operation; `ended`: the device reported it over.
    void finish_background(const std::shared_ptr<Op>& op, bool ended,
                           Result<MailboxResponse> result);
    Error gone(const std::string& what) const;

    uint64_t reg(uint64_t offset) const { return map_.mailbox.offset + offset; }

    boost::asio::any_io_executor executor_;
    std::shared_ptr<pci::PciDevice> device_;
    DeviceRegisterMap map_;
    pci::MmioRegion& bar_;
    MailboxConfig config_;
    std::string name_;

    mutable std::mutex mutex_;
    uint32_t payload_size_;
    bool in_flight_ = false;
    uint16_t in_flight_opcode_ = 0;
    struct Background {
        uint16_t opcode = 0;
        bool followed = false;  // an async_command is following it to its completion
    };
    std::optional<Background> background_;
    std::optional<Error> failure_;
};

// Payload size from the Capabilities register: 2^[4:0], refused below 256 bytes, clamped to
// 1 MiB (Linux does the same).
Result<uint32_t> payload_size_from_capabilities(uint32_t capabilities);

}  // namespace cxlmgr::cxl
