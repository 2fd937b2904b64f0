// One device under the daemon's management: its transports (the DOE instance that serves CDAT,
// the primary mailbox), each behind its own arbitration channel, and what the D-Bus layer shows
// of it. Every exchange with the device goes through the channels; nothing else touches the
// mailboxes.
//
// State: `gone` once removed or found gone (all-ones reads); `failed` while the mailbox is out
// of service (a doorbell timeout, or it never opened); `degraded` while one capability is
// unusable (CDAT: the DOE mailbox is dead or no DOE instance could be used; the firmware
// information could not be read; events cannot be stored); `online` otherwise. state_reason
// says why, naming the device.
// Background operations (docs/DESIGN.md "Arbitration"): a command that may run in the
// background takes the mailbox channel's background slot; after Background Command Started the
// channel serves other commands while it runs. At open the device's Command Effects Log says
// whether it implements Request Abort Background Operation; if so, cancelling such a command
// while it runs in the background (the caller's token) sends that as its own Control-priority
// transaction and the command ends as soon as the device reports the operation over; without
// it the caller hears Cancelled at once, the device finishes the operation, and the mailbox
// refuses other background commands until it has. close() asks for the same abort first.
// A background operation found running at open (left by a previous owner) is waited for,
// bounded by ManagedDeviceOptions::leftover_background_wait, before the device counts as open.
//
// Supervision (daemon/device_supervisor.hpp) probes what is out of service with backoff, each
// probe a Control-priority transaction on the device's channel, and the device returns to
// `online` by itself; close() ends it.
//
// Threading: methods may be called from any thread. Callbacks run on the channel's strand (a
// pool thread): the D-Bus layer hops back to its own loop. Property changes are announced
// through the listener, also from a pool thread.
#pragma once

#include <atomic>
#include <boost/asio/post.hpp>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "common/coro.hpp"
#include "common/result.hpp"
#include "cxl/commands/command.hpp"
#include "cxl/commands/firmware.hpp"
#include "cxl/mailbox.hpp"
#include "daemon/arbiter.hpp"
#include "daemon/device_factory.hpp"
#include "daemon/device_supervisor.hpp"
#include "daemon/device_values.hpp"
#include "doe/cdat.hpp"
#include "doe/doe_mailbox.hpp"

namespace cxlmgr::daemon {

enum class DeviceState { Online, Degraded, Failed, Gone };
std::string_view device_state_name(DeviceState state);  // "online", "degraded", ...

// What org.cxlmgr1.Device (and .Firmware's slot properties) show.
struct DeviceProperties {
    std::string name;
    std::string address;  // empty for emulated devices
    std::string backend;
    uint16_t vendor_id = 0;
    uint16_t device_id = 0;
    uint64_t serial = 0;  // Device Serial Number capability; 0 when absent
    DeviceState state = DeviceState::Online;
    std::string state_reason;  // why the device is degraded, failed or gone ("emu0: ...")
    uint32_t payload_size = 0;
    std::string firmware_revision;
    std::optional<cxl::FwInfo> firmware;
};

struct CdatSnapshot {
    std::vector<uint8_t> raw;
    doe::CdatTable table;
};

struct ManagedDeviceOptions {
    doe::DoeTimeouts doe_timeouts;
    cxl::MailboxConfig mailbox_config;
    // How long an interactive request may wait for its channel before it fails with Timeout.
    std::chrono::milliseconds queue_deadline{10000};
    // How often what is out of service is probed (backoff from first_probe to max_interval).
    SupervisionOptions supervision;
    // A background operation found running when the mailbox opens is waited for this long
    // before the opening goes on: the longest a firmware part may take, since a part left by a
    // daemon that crashed is the likely case. Past it the device opens anyway (logged); the
    // mailbox refuses background commands until the operation is over.
    std::chrono::milliseconds leftover_background_wait = cxl::kFirmwareBackgroundTimeout;
};

class ManagedDevice : public std::enable_shared_from_this<ManagedDevice> {
public:
    using Done = std::function<void(Status)>;
    template <typename T>
    using Callback = std::function<void(Result<T>)>;

    // Creates the channels, finds the DOE instance serving CDAT (Discovery), opens the mailbox
    // and reads Identify and Get FW Info. A device whose mailbox cannot be opened is still
    // returned, in state Failed with the reason; a device without CDAT has has_cdat() false.
    // Fails only when no channel can be created (daemon stopping).
    static void async_open(Arbiter& arbiter, OpenedDevice opened, ManagedDeviceOptions options,
                           Callback<std::shared_ptr<ManagedDevice>> done);

    [[nodiscard]] DeviceProperties properties() const;
    [[nodiscard]] const std::string& name() const { return name_; }
    [[nodiscard]] bool has_cdat() const;
    // The emulated device model, for org.cxlmgr1.Emulator; null for real devices.
    [[nodiscard]] const std::shared_ptr<emu::Type3Device>& emulator() const { return emulator_; }

    // One typed command through the mailbox channel with the caller's transaction options
    // (priority, deadline, session, cancel), updating State like every other command. The input
    // is checked against the command's row of the command table first: a length the row
    // refuses fails with InvalidArgument naming the command and never reaches the device.
    // `done` runs on the mailbox channel's strand (inside this call only when the mailbox never
    // opened, as for every mailbox command).
    template <typename T>
    void call(cxl::Command<T> command, TransactionOptions options,
              std::type_identity_t<Callback<T>> done);
    // The same for coroutines (common/coro.hpp): `co_await device->co_call(command, options)`
    // resumes on the awaiting coroutine's executor. The returned task holds the device.
    // GCC 12 miscompiles brace-initialized temporaries inside a co_await expression (a string
    // member is freed from the coroutine frame): pass a named object or a function's result,
    // never `TransactionOptions{}` or `cxl::Command<T>{...}` written in place.
    template <typename T>
    Task<Result<T>> co_call(cxl::Command<T> command, TransactionOptions options);

    // Decoded Identify Memory Device.
    void identify(Callback<IdentifyInfo> done);
    // Decoded Get Health Info.
    void health(Callback<HealthInfo> done);
    // Get FW Info, also refreshing the firmware properties.
    void firmware_info(Callback<cxl::FwInfo> done);
    // One raw mailbox command, sent as given (no input check) with its answer returned whatever
    // the return code. The policy (which opcodes callers may send) is the caller's:
    // cxl::command_is_read_only() says which only read.
    void command(uint16_t opcode, std::vector<uint8_t> input, Callback<cxl::MailboxResponse> done);
    // The CDAT, read once over DOE (every exchange one transaction, the whole read one "cdat"
    // session) and cached; refresh drops the cache first. A malformed table is a DeviceError
    // naming the fault and is not cached.
    void cdat(bool refresh, Callback<std::shared_ptr<const CdatSnapshot>> done);
    // The table read last, if any (never reads).
    [[nodiscard]] std::shared_ptr<const CdatSnapshot> cached_cdat() const;

    // Multi-step mailbox work driven from outside (the firmware job): a session on the mailbox
    // channel, the channel's executor (a strand: work posted there is serialized with the
    // channel's own completions) and one command with the caller's transaction options
    // (priority, session, cancel). The command updates State like every other.
    std::shared_ptr<Session> open_mailbox_session(std::string kind);
    [[nodiscard]] boost::asio::any_io_executor mailbox_executor() const;
    void mailbox_command(cxl::MailboxRequest request, TransactionOptions options,
                         Callback<cxl::MailboxResponse> done);

    // Whether the device's Command Effects Log lists Request Abort Background Operation (read
    // at open; false when it could not be read).
    [[nodiscard]] bool abort_background_supported() const { return abort_supported_.load(); }

    // Event Status (Device Status capability): bit n set while event log n holds records. An
    // MMIO read, no mailbox command, so it is cheap enough to poll and needs no arbitration.
    // DeviceError when the mailbox never opened, DeviceGone when the device reads all-ones.
    Result<uint32_t> event_status();

    // The event collector's word on this device's events: while the journal cannot store them
    // (they stay on the device) State is degraded with `reason`; events_stored() once a write
    // succeeds again. Not probed by supervision: the collector's retries end it.
    void events_not_stored(std::string reason);
    void events_stored();

    // Called after any property changed.
    void set_properties_listener(std::function<void()> listener);

    // Marks the device gone (surprise removal, rescan) with the reason; it stays gone.
    void mark_gone(const std::string& reason);

    // Teardown, and the one place supervision ends: asks the device to abort a background
    // operation still running (where it can: Request Abort Background Operation, a Control
    // transaction), then stops supervision and new submissions, rejects queued transactions
    // and drains the running ones (a background operation included), then calls drained (on a
    // pool thread) once no transaction, probe or supervision timer of this device is pending.
    void close(std::function<void()> drained);

    // Supervision probe rounds run so far (0 before the first), for tests and diagnostics.
    [[nodiscard]] uint64_t supervision_probes() const;

    // Counters of this device's channels, for diagnostics.
    [[nodiscard]] std::vector<Arbiter::ChannelReport> channel_report() const;

    // Implementation detail of async_open; use async_open.
    ManagedDevice(std::string name, OpenedDevice opened, ManagedDeviceOptions options);

private:
    class Opener;
    // What can be unusable while the mailbox works (State degraded).
    enum class Capability { Cdat, Firmware, Events };

    // change returns whether it changed anything; the listener hears only of real changes.
    void update(const std::function<bool(DeviceProperties&)>& change);
    bool set_state(DeviceProperties& p, DeviceState state, std::string reason);
    // Keeps State in line with what the last mailbox command showed.
    void note_outcome(const Status& status);
    // Recomputes State from what is out of service now (announcing a change) and wakes
    // supervision when something it can probe is out of service.
    void refresh_state();
    // The recomputation alone; returns whether something supervision can probe is out of
    // service.
    bool update_state();
    void impair(Capability capability, std::string reason);
    void restore(Capability capability);
    // `reason` as a sentence naming the device ("emu0: ...").
    std::string named(const std::string& reason) const;

    // Supervision (header comment): one round, and its probes, each a Control-priority
    // transaction on the channel concerned. True when the probe found it whole again; an
    // error when the channel refused the probe (closing), which ends supervision.
    static Task<Result<bool>> supervise(std::weak_ptr<ManagedDevice> weak);
    static Task<Result<bool>> probe_mailbox(std::shared_ptr<ManagedDevice> self);
    static Task<Result<bool>> probe_doe(std::shared_ptr<ManagedDevice> self);
    static Task<Result<bool>> probe_firmware(std::shared_ptr<ManagedDevice> self);

    TransactionOptions interactive(std::string description) const;
    // Reads the CEL: whether Request Abort Background Operation is there.
    static Task<Result<bool>> read_abort_support(std::shared_ptr<ManagedDevice> self);
    // Request Abort Background Operation as its own Control transaction, `then` (may be empty)
    // once answered or refused.
    void request_abort(std::string why, std::function<void()> then);
    // close() once no abort is to be asked for.
    void close_channels(std::function<void()> drained);
    void mailbox_call(cxl::MailboxRequest request, TransactionOptions options,
                      Callback<cxl::MailboxResponse> done);
    // call()'s input check against the row and the payload size: InvalidArgument naming the
    // device and the command.
    Status check_input(const cxl::CommandSpec& spec, size_t input_size) const;
    doe::DoeExchange arbitrated_exchange(std::shared_ptr<Session> session);

    const std::string name_;
    ManagedDeviceOptions options_;
    std::shared_ptr<pci::PciDevice> device_;
    std::shared_ptr<emu::Type3Device> emulator_;
    std::shared_ptr<Channel> mailbox_channel_;
    std::shared_ptr<Channel> doe_channel_;  // null without a CDAT-serving DOE instance
    std::shared_ptr<cxl::Mailbox> mailbox_;
    std::shared_ptr<doe::DoeMailbox> doe_;
    std::shared_ptr<DeviceSupervisor> supervisor_;  // set when the opening finishes
    std::atomic<bool> abort_supported_{false};      // set once while opening

    mutable std::mutex mutex_;
    DeviceProperties properties_;
    // What State is computed from (besides the transports' own failure and dead states).
    std::optional<std::string> removed_;          // mark_gone, close: final
    std::optional<std::string> vanished_;         // a command found the device gone
    std::optional<Error> open_failure_;           // the mailbox never opened
    std::map<Capability, std::string> impaired_;  // reasons, for degraded
    std::shared_ptr<const CdatSnapshot> cdat_cache_;
    std::function<void()> listener_;
};

template <typename T>
void ManagedDevice::call(cxl::Command<T> command, TransactionOptions options,
                         std::type_identity_t<Callback<T>> done) {
    if (Status input = check_input(*command.spec, command.request.input.size()); !input.ok()) {
        boost::asio::post(mailbox_executor(),
                          [done = std::move(done), e = std::move(input).error()]() mutable {
                              done(std::move(e));
                          });
        return;
    }
    cxl::MailboxRequest request = std::move(command.request);
    mailbox_call(
        std::move(request), std::move(options),
        [command = std::move(command), done = std::move(done)](Result<cxl::MailboxResponse> r) {
            if (!r.ok()) {
                done(std::move(r).error());
                return;
            }
            done(cxl::parse(command, *r));
        });
}

// Deliberately not a coroutine itself: GCC 12 corrupts by-value parameters of a coroutine
// called inside another coroutine's co_await expression, which is exactly how co_call is used.
// A plain function moves its arguments into the awaited callback before any frame exists.
template <typename T>
Task<Result<T>> ManagedDevice::co_call(cxl::Command<T> command, TransactionOptions options) {
    return await_callback<T>(
        [self = shared_from_this(), command = std::move(command),
         options = std::move(options)](std::function<void(Result<T>)> deliver) mutable {
            self->call(std::move(command), std::move(options), std::move(deliver));
        });
}

}  // namespace cxlmgr::daemon
