#include "daemon/managed_device.hpp"

#include <atomic>
#include <boost/asio/post.hpp>

#include "common/log.hpp"
#include "cxl/command_table.hpp"
#include "cxl/commands/background.hpp"
#include "cxl/commands/health.hpp"
#include "cxl/commands/identify.hpp"
#include "cxl/commands/logs.hpp"
#include "doe/cdat_reader.hpp"
#include "doe/discovery.hpp"
#include "pci/capabilities.hpp"
#include "pci/registers.hpp"

namespace cxlmgr::daemon {

std::string_view device_state_name(DeviceState state) {
    switch (state) {
        case DeviceState::Online:
            return "online";
        case DeviceState::Degraded:
            return "degraded";
        case DeviceState::Failed:
            return "failed";
        case DeviceState::Gone:
            return "gone";
    }
    return "?";
}

namespace {

std::string hex_offset(uint32_t v) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "0x%x", v);
    return buf;
}

TransactionOptions supervision_transaction(std::string description) {
    TransactionOptions opts;
    opts.priority = Priority::Control;
    opts.description = "supervision: " + std::move(description);
    return opts;
}

// Puts a mailbox taken out of service by a stuck doorbell back once the doorbell is idle again.
// Register reads only, so it cannot hang; called inside a mailbox channel transaction.
Status revive_mailbox(cxl::Mailbox& mailbox) {
    if (!mailbox.failure()) {
        return ok_status();
    }
    Status reset = mailbox.reset();
    if (reset.ok()) {
        log::info(mailbox.name(), ": mailbox back in service");
    }
    return reset;
}

// One supervision probe: `check` runs as a Control-priority transaction on `channel` and calls
// its callback with true when it found the transport whole again. An error: the channel refused
// the transaction (it is closing).
Task<Result<bool>> probe_on(std::shared_ptr<Channel> channel, std::string description,
                            std::function<void(std::function<void(bool)>)> check) {
    // Lambdas given to a coroutine inside a co_await expression are named first: GCC 12
    // destroys such a temporary twice (its captured shared_ptrs with it).
    auto start = [channel, description, check](std::function<void(Result<bool>)> deliver) {
        channel->submit<bool>(
            supervision_transaction(description),
            [check](CancelToken, std::function<void(Result<bool>)> done) {
                check([done](bool whole) { done(whole); });
            },
            std::move(deliver));
    };
    auto probed = co_await await_callback<bool>(std::move(start));
    co_return probed;
}

uint64_t read_serial(pci::ConfigSpace& config) {
    auto dsn = pci::find_ext_capability(config, pci::kExtCapIdSerialNumber);
    if (!dsn.ok() || !dsn->has_value()) {
        return 0;
    }
    auto lo = config.read32(**dsn + 4);
    auto hi = config.read32(**dsn + 8);
    return lo.ok() && hi.ok() ? (uint64_t{*hi} << 32) | *lo : 0;
}

}  // namespace

ManagedDevice::ManagedDevice(std::string name, OpenedDevice opened, ManagedDeviceOptions options)
    : name_(std::move(name)),
      options_(std::move(options)),
      device_(std::move(opened.device)),
      emulator_(std::move(opened.emulator)) {
    pci::ConfigSpace& config = device_->config();
    const auto& id = config.identity();
    properties_.name = name_;
    properties_.address = id.address;
    properties_.backend = std::string(device_->backend());
    properties_.vendor_id = id.vendor_id;
    properties_.device_id = id.device_id;
    properties_.serial = read_serial(config);
}

// The start-up sequence: DOE instances (Discovery on each, keep the one serving CDAT), then the
// mailbox, then Identify and Get FW Info. Each step's failure degrades the device rather than
// dropping it, so an operator sees it on the bus with the reason.
class ManagedDevice::Opener : public std::enable_shared_from_this<ManagedDevice::Opener> {
public:
    Opener(std::shared_ptr<ManagedDevice> device, Arbiter& arbiter,
           Callback<std::shared_ptr<ManagedDevice>> done)
        : device_(std::move(device)), arbiter_(arbiter), done_(std::move(done)) {}

    void start() {
        auto mailbox_channel = arbiter_.create_channel(device_->name_ + "/mailbox");
        if (!mailbox_channel.ok()) {
            done_(std::move(mailbox_channel).error());
            return;
        }
        device_->mailbox_channel_ = *mailbox_channel;
        auto does = doe::find_doe_capabilities(device_->device_->config());
        if (!does.ok()) {
            degrade_cdat("cannot list DOE capabilities: " + does.error().message);
        } else {
            doe_offsets_ = std::move(does).value();
        }
        next_doe(0);
    }

private:
    void degrade_cdat(const std::string& why) {
        log::warning(device_->name_, ": ", why);
        device_->impair(Capability::Cdat, "CDAT unavailable: " + why);
    }

    void next_doe(size_t index) {
        if (index >= doe_offsets_.size()) {
            if (!device_->doe_) {
                log::info(device_->name_, ": no DOE instance serves CDAT");
            }
            open_mailbox();
            return;
        }
        uint32_t offset = doe_offsets_[index];
        auto channel = arbiter_.create_channel(device_->name_ + "/doe@" + hex_offset(offset));
        if (!channel.ok()) {
            done_(std::move(channel).error());
            return;
        }
        std::shared_ptr<pci::ConfigSpace> config(device_->device_, &device_->device_->config());
        auto mailbox = doe::DoeMailbox::create(device_->name_, (*channel)->executor(), config,
                                               offset, device_->options_.doe_timeouts);
        if (!mailbox.ok()) {
            degrade_cdat(mailbox.error().message);
            next_doe(index + 1);
            return;
        }
        device_->doe_channel_ = *channel;
        device_->doe_ = *mailbox;
        doe::async_discover(
            device_->arbitrated_exchange(nullptr), (*mailbox)->capability_version(), CancelToken{},
            [self = shared_from_this(), index, offset,
             channel = *channel](Result<std::vector<doe::DoeProtocol>> protocols) {
                bool cdat = false;
                if (protocols.ok()) {
                    for (const auto& p : *protocols) {
                        cdat |= p == doe::kProtocolCdat;
                    }
                } else {
                    self->degrade_cdat("DOE at " + hex_offset(offset) + ": " +
                                       protocols.error().message);
                }
                if (cdat) {
                    log::info(self->device_->name_, ": CDAT served by the DOE instance at ",
                              hex_offset(offset));
                    self->device_->restore(Capability::Cdat);
                    self->open_mailbox();
                    return;
                }
                channel->close(Error(Errc::Unsupported, "DOE instance not used"));
                self->device_->doe_channel_.reset();
                self->device_->doe_.reset();
                self->next_doe(index + 1);
            });
    }

    void open_mailbox() {
        auto self = shared_from_this();
        TransactionOptions opts;
        opts.priority = Priority::Control;
        opts.description = "open mailbox";
        auto device = device_->device_;
        auto config = device_->options_.mailbox_config;
        device_->mailbox_channel_->submit<std::shared_ptr<cxl::Mailbox>>(
            opts,
            [device, config, executor = device_->mailbox_channel_->executor()](
                CancelToken cancel,
                std::function<void(Result<std::shared_ptr<cxl::Mailbox>>)> deliver) {
                cxl::Mailbox::async_open(executor, device, config, std::move(cancel),
                                         std::move(deliver));
            },
            [self](Result<std::shared_ptr<cxl::Mailbox>> mailbox) {
                if (!mailbox.ok()) {
                    log::error(self->device_->name_,
                               ": mailbox unusable: ", mailbox.error().message);
                    {
                        std::lock_guard lock(self->device_->mutex_);
                        self->device_->open_failure_ = mailbox.error();
                    }
                    self->device_->refresh_state();
                    self->finish();
                    return;
                }
                self->device_->mailbox_ = *mailbox;
                self->device_->update([&](DeviceProperties& p) {
                    p.payload_size = (*mailbox)->payload_size();
                    return true;
                });
                self->wait_leftover_background();
            });
    }

    // A background operation left running (by a previous owner, or a daemon that crashed in
    // the middle of a firmware part) is waited for, bounded, so the device starts clean.
    void wait_leftover_background() {
        const auto& mailbox = device_->mailbox_;
        const std::optional<uint16_t> leftover = mailbox->background_opcode();
        if (!leftover) {
            read_abort_support();
            return;
        }
        const auto wait = device_->options_.leftover_background_wait;
        log::warning(name(), ": ", cxl::opcode::describe(*leftover),
                     " is still running in the background; waiting up to ", wait.count(),
                     " ms for it before the device goes online");
        const cxl::CommandSpec* spec = cxl::find_command(*leftover);
        mailbox->async_wait_background_idle(
            Clock::now() + wait, spec != nullptr ? spec->expected_duration : wait, CancelToken{},
            [self = shared_from_this(), leftover](Status s) {
                if (s.ok()) {
                    log::info(self->name(), ": ", cxl::opcode::describe(*leftover),
                              " left in the background has ended");
                } else {
                    log::warning(self->name(), ": ", cxl::opcode::describe(*leftover),
                                 " left in the background: ", s.error().message,
                                 "; background commands wait until it ends");
                }
                self->read_abort_support();
            });
    }

    void read_abort_support() {
        spawn<bool>(device_->mailbox_channel_->executor(),
                    ManagedDevice::read_abort_support(device_), name() + ": Command Effects Log",
                    [self = shared_from_this()](Result<bool> supported) {
                        if (!supported.ok()) {
                            log::warning(self->name(), ": Command Effects Log unreadable (",
                                         supported.error().message,
                                         "); background operations are waited out, not "
                                         "aborted");
                        } else {
                            self->device_->abort_supported_ = *supported;
                            log::info(self->name(), ": Request Abort Background Operation ",
                                      *supported ? "supported" : "not supported");
                        }
                        self->read_firmware();
                    });
    }

    void read_firmware() {
        device_->firmware_info([self = shared_from_this()](Result<cxl::FwInfo> info) {
            if (!info.ok()) {
                log::warning(self->device_->name_, ": Get FW Info failed: ", info.error().message);
                self->device_->impair(
                    Capability::Firmware,
                    "firmware information unknown: Get FW Info failed: " + info.error().message);
            }
            self->finish();
        });
    }

    void finish() {
        // Supervision starts only now: until here the opening changes the transports.
        std::weak_ptr<ManagedDevice> weak = device_;
        device_->supervisor_ = DeviceSupervisor::create(
            device_->name_, device_->mailbox_channel_->executor(), device_->options_.supervision,
            [weak] { return ManagedDevice::supervise(weak); });
        device_->refresh_state();
        auto p = device_->properties();
        log::info(name(), ": ", p.backend, " device ", device_state_name(p.state),
                  p.state_reason.empty() ? "" : " (" + p.state_reason + ")", ", payload ",
                  p.payload_size, " bytes, firmware '", p.firmware_revision, "'",
                  device_->doe_ ? ", CDAT over DOE" : "");
        done_(device_);
    }

    const std::string& name() const { return device_->name_; }

    std::shared_ptr<ManagedDevice> device_;
    Arbiter& arbiter_;
    Callback<std::shared_ptr<ManagedDevice>> done_;
    std::vector<uint32_t> doe_offsets_;
};

void ManagedDevice::async_open(Arbiter& arbiter, OpenedDevice opened, ManagedDeviceOptions options,
                               Callback<std::shared_ptr<ManagedDevice>> done) {
    std::string name = opened.device->name();
    auto device =
        std::make_shared<ManagedDevice>(std::move(name), std::move(opened), std::move(options));
    std::make_shared<Opener>(std::move(device), arbiter, std::move(done))->start();
}

DeviceProperties ManagedDevice::properties() const {
    std::lock_guard lock(mutex_);
    return properties_;
}

bool ManagedDevice::has_cdat() const {
    return doe_ != nullptr;
}

void ManagedDevice::set_properties_listener(std::function<void()> listener) {
    std::lock_guard lock(mutex_);
    listener_ = std::move(listener);
}

void ManagedDevice::update(const std::function<bool(DeviceProperties&)>& change) {
    std::function<void()> listener;
    {
        std::lock_guard lock(mutex_);
        if (!change(properties_)) {
            return;
        }
        listener = listener_;
    }
    if (listener) {
        listener();
    }
}

bool ManagedDevice::set_state(DeviceProperties& p, DeviceState state, std::string reason) {
    if (p.state == state && p.state_reason == reason) {
        return false;
    }
    if (p.state != state) {
        log::info(name_, ": state ", device_state_name(p.state), " -> ", device_state_name(state),
                  reason.empty() ? "" : " (" + reason + ")");
    }
    p.state = state;
    p.state_reason = std::move(reason);
    return true;
}

std::string ManagedDevice::named(const std::string& reason) const {
    if (reason.rfind(name_ + ":", 0) == 0 || reason.rfind(name_ + " ", 0) == 0) {
        return reason;
    }
    return name_ + ": " + reason;
}

bool ManagedDevice::update_state() {
    bool probeable = false;
    update([&](DeviceProperties& p) {
        // The transports are asked under our lock (they never call back into the device), so
        // two outcomes noted at once cannot leave the older reading announced last.
        std::optional<Error> mailbox_failure = mailbox_ ? mailbox_->failure() : std::nullopt;
        std::optional<Error> doe_dead = doe_ ? doe_->dead_reason() : std::nullopt;
        probeable = mailbox_failure || doe_dead || impaired_.count(Capability::Firmware) != 0;
        if (removed_) {
            return set_state(p, DeviceState::Gone, *removed_);
        }
        if (vanished_) {
            return set_state(p, DeviceState::Gone, named(*vanished_));
        }
        if (open_failure_) {
            return set_state(
                p,
                open_failure_->code == Errc::DeviceGone ? DeviceState::Gone : DeviceState::Failed,
                named(open_failure_->message));
        }
        if (mailbox_failure) {
            return set_state(p, DeviceState::Failed, named(mailbox_failure->message));
        }
        auto impaired = impaired_;
        if (doe_dead) {
            impaired[Capability::Cdat] =
                "CDAT unavailable: " + doe_->describe() + " is dead (" + doe_dead->message + ")";
        }
        if (impaired.empty()) {
            return set_state(p, DeviceState::Online, "");
        }
        std::string reason;
        for (const auto& [capability, why] : impaired) {
            reason += (reason.empty() ? "" : "; ") + named(why);
        }
        return set_state(p, DeviceState::Degraded, std::move(reason));
    });
    return probeable;
}

void ManagedDevice::refresh_state() {
    if (update_state() && supervisor_) {
        supervisor_->wake();
    }
}

void ManagedDevice::impair(Capability capability, std::string reason) {
    {
        std::lock_guard lock(mutex_);
        impaired_[capability] = std::move(reason);
    }
    refresh_state();
}

void ManagedDevice::restore(Capability capability) {
    {
        std::lock_guard lock(mutex_);
        impaired_.erase(capability);
    }
    refresh_state();
}

void ManagedDevice::events_not_stored(std::string reason) {
    impair(Capability::Events, std::move(reason));
}

void ManagedDevice::events_stored() {
    restore(Capability::Events);
}

void ManagedDevice::note_outcome(const Status& status) {
    {
        std::lock_guard lock(mutex_);
        if (!status.ok() && status.error().code == Errc::DeviceGone) {
            vanished_ = status.error().message;
        } else if (status.ok()) {
            vanished_.reset();
        }
    }
    refresh_state();
}

void ManagedDevice::mark_gone(const std::string& reason) {
    {
        std::lock_guard lock(mutex_);
        if (!removed_) {
            removed_ = named(reason);
        }
    }
    refresh_state();
}

Task<Result<bool>> ManagedDevice::supervise(std::weak_ptr<ManagedDevice> weak) {
    auto self = weak.lock();
    if (!self) {
        co_return Error(Errc::DeviceGone, "the device is gone");
    }
    // A gone device is not probed; close() marks it gone before it stops supervision, so no
    // probe starts after that.
    auto gone = [&self] { return self->properties().state == DeviceState::Gone; };
    bool whole = true;
    if (!gone() && self->mailbox_ && self->mailbox_->failure()) {
        CXLMGR_CO_ASSIGN(bool revived, co_await probe_mailbox(self));
        whole = revived;
    }
    if (!gone() && self->doe_ && self->doe_->dead()) {
        CXLMGR_CO_ASSIGN(bool revived, co_await probe_doe(self));
        whole = whole && revived;
    }
    bool firmware_unknown = false;
    {
        std::lock_guard lock(self->mutex_);
        firmware_unknown = self->impaired_.count(Capability::Firmware) != 0;
    }
    // Get FW Info is a mailbox command: only once the mailbox is back.
    if (!gone() && firmware_unknown && whole) {
        CXLMGR_CO_ASSIGN(bool read, co_await probe_firmware(self));
        whole = read;
    }
    // No wake-up from here: this round is the supervision, and it goes on unless whole.
    self->update_state();
    co_return whole;
}

Task<Result<bool>> ManagedDevice::probe_mailbox(std::shared_ptr<ManagedDevice> self) {
    std::function<void(std::function<void(bool)>)> check =
        [mailbox = self->mailbox_](std::function<void(bool)> done) {
            Status s = revive_mailbox(*mailbox);
            if (!s.ok()) {
                log::debug(mailbox->name(),
                           ": supervision: mailbox still out of service: ", s.error().message);
            }
            done(s.ok());
        };
    auto probed = co_await probe_on(self->mailbox_channel_, "mailbox probe", std::move(check));
    co_return probed;
}

Task<Result<bool>> ManagedDevice::probe_doe(std::shared_ptr<ManagedDevice> self) {
    std::function<void(std::function<void(bool)>)> check =
        [doe = self->doe_](std::function<void(bool)> done) {
            doe->async_revive([doe, done = std::move(done)](Status s) {
                if (!s.ok()) {
                    log::debug(doe->device_name(), ": supervision: ", s.error().message);
                }
                done(s.ok());
            });
        };
    auto probed = co_await probe_on(self->doe_channel_, self->doe_->describe() + " revival",
                                    std::move(check));
    co_return probed;
}

Task<Result<bool>> ManagedDevice::probe_firmware(std::shared_ptr<ManagedDevice> self) {
    // Named: see probe_on.
    auto start = [self](std::function<void(Result<cxl::FwInfo>)> deliver) {
        self->firmware_info(std::move(deliver));
    };
    auto info = co_await await_callback<cxl::FwInfo>(std::move(start));
    if (!info.ok()) {
        if (info.error().code == Errc::DeviceGone) {
            co_return std::move(info).error();
        }
        log::debug(self->name_, ": supervision: Get FW Info failed again: ", info.error().message);
        co_return false;
    }
    log::info(self->name_, ": firmware information read again");
    std::lock_guard lock(self->mutex_);
    self->impaired_.erase(Capability::Firmware);
    co_return true;
}

uint64_t ManagedDevice::supervision_probes() const {
    return supervisor_ ? supervisor_->probes() : 0;
}

TransactionOptions ManagedDevice::interactive(std::string description) const {
    TransactionOptions opts;
    opts.priority = Priority::Interactive;
    opts.deadline = Clock::now() + options_.queue_deadline;
    opts.description = std::move(description);
    return opts;
}

doe::DoeExchange ManagedDevice::arbitrated_exchange(std::shared_ptr<Session> session) {
    auto channel = doe_channel_;
    auto mailbox = doe_;
    auto deadline = options_.queue_deadline;
    std::weak_ptr<ManagedDevice> weak = weak_from_this();
    return [channel, mailbox, session, deadline, weak](doe::DoeRequest request, CancelToken cancel,
                                                       doe::DoeMailbox::Callback done) {
        TransactionOptions opts;
        opts.priority = Priority::Interactive;
        opts.deadline = Clock::now() + deadline;
        opts.cancel = cancel;
        opts.session = session;
        opts.description = "DOE " + doe::to_string(request.protocol);
        channel->submit<doe::DoeResponse>(
            opts,
            [mailbox, request = std::move(request)](
                CancelToken token, std::function<void(Result<doe::DoeResponse>)> deliver) mutable {
                mailbox->async_exchange(std::move(request), std::move(token), std::move(deliver));
            },
            [weak, done = std::move(done)](Result<doe::DoeResponse> r) {
                // A failed exchange may have left the DOE mailbox dead: State says so.
                if (!r.ok()) {
                    if (auto self = weak.lock()) {
                        self->refresh_state();
                    }
                }
                done(std::move(r));
            });
    };
}

void ManagedDevice::mailbox_call(cxl::MailboxRequest request, TransactionOptions options,
                                 Callback<cxl::MailboxResponse> done) {
    if (!mailbox_) {
        auto p = properties();
        done(Error(p.state == DeviceState::Gone ? Errc::DeviceGone : Errc::DeviceError,
                   name_ + ": the mailbox is not usable: " + p.state_reason));
        return;
    }
    std::weak_ptr<ManagedDevice> weak = weak_from_this();
    auto deliver = std::make_shared<Callback<cxl::MailboxResponse>>(
        [weak, done = std::move(done)](Result<cxl::MailboxResponse> r) {
            if (auto self = weak.lock()) {
                self->note_outcome(r.ok() ? ok_status() : Status(r.error()));
            }
            done(std::move(r));
        });
    Transaction t;
    t.options = std::move(options);
    t.options.background_slot = cxl::command_may_run_in_background(request.opcode);
    t.run = [weak, mailbox = mailbox_, request = std::move(request), deliver,
             slot = t.options.background_slot](CancelToken cancel, Completion completion) mutable {
        if (slot) {
            request.options.on_background_started =
                [completion, then = std::move(request.options.on_background_started)] {
                    completion.foreground_done();
                    if (then) {
                        then();
                    }
                };
            request.options.on_cancel_in_background = [weak, opcode = request.opcode] {
                auto self = weak.lock();
                if (!self || !self->abort_supported_) {
                    return false;
                }
                self->request_abort("cancelled: " + cxl::opcode::describe(opcode), {});
                return true;
            };
        }
        // A command need not wait for supervision's next probe. If the mailbox stays out of
        // service, async_command fails at once with the reason it was taken out of service,
        // which is the error the caller should see.
        (void)revive_mailbox(*mailbox);
        mailbox->async_command(std::move(request), std::move(cancel),
                               [completion, deliver](Result<cxl::MailboxResponse> r) {
                                   // Counters and the slot first, then the caller.
                                   completion.finished(r.ok());
                                   (*deliver)(std::move(r));
                               });
    };
    t.reject = [deliver](Error e) { (*deliver)(std::move(e)); };
    mailbox_channel_->submit(std::move(t));
}

void ManagedDevice::request_abort(std::string why, std::function<void()> then) {
    auto command = cxl::request_abort_background_operation();
    TransactionOptions opts;
    opts.priority = Priority::Control;
    opts.description = std::string(command.spec->name) + " (" + why + ")";
    log::info(name_, ": ", opts.description);
    call(std::move(command), std::move(opts),
         [name = name_, then = std::move(then)](Result<cxl::Unit> r) {
             if (!r.ok()) {
                 // The operation then runs to its own end, which is still waited for.
                 log::warning(name, ": Request Abort Background Operation: ", r.error().message);
             }
             if (then) {
                 then();
             }
         });
}

Task<Result<bool>> ManagedDevice::read_abort_support(std::shared_ptr<ManagedDevice> self) {
    auto logs =
        co_await self->co_call(cxl::get_supported_logs(), self->interactive("Get Supported Logs"));
    if (!logs.ok()) {
        co_return std::move(logs).error();
    }
    CXLMGR_CO_ASSIGN(const cxl::Uuid cel_uuid, cxl::Uuid::parse(cxl::uuids::kCommandEffectsLog));
    uint32_t size = 0;
    for (const auto& log : *logs) {
        if (log.uuid == cel_uuid) {
            size = log.size;
        }
    }
    const uint32_t payload = self->properties().payload_size;
    cxl::Bytes cel;
    while (cel.size() < size) {
        const auto length = std::min<uint32_t>(payload, size - static_cast<uint32_t>(cel.size()));
        CXLMGR_CO_ASSIGN(auto command, cxl::get_log(cel_uuid, static_cast<uint32_t>(cel.size()),
                                                    length, payload));
        auto part = co_await self->co_call(std::move(command), self->interactive("Get Log (CEL)"));
        if (!part.ok()) {
            co_return std::move(part).error();
        }
        if (part->empty()) {
            break;  // a log shorter than announced
        }
        cel.insert(cel.end(), part->begin(), part->end());
    }
    CXLMGR_CO_ASSIGN(const auto effects, cxl::decode_command_effects_log(cel));
    co_return cxl::cel_lists_abort_background(effects);
}

std::shared_ptr<Session> ManagedDevice::open_mailbox_session(std::string kind) {
    return mailbox_channel_->open_session(std::move(kind));
}

boost::asio::any_io_executor ManagedDevice::mailbox_executor() const {
    return mailbox_channel_->executor();
}

void ManagedDevice::mailbox_command(cxl::MailboxRequest request, TransactionOptions options,
                                    Callback<cxl::MailboxResponse> done) {
    mailbox_call(std::move(request), std::move(options), std::move(done));
}

Result<uint32_t> ManagedDevice::event_status() {
    if (!mailbox_) {
        return Error(Errc::DeviceError, name_ + ": the mailbox is not usable");
    }
    return mailbox_->read_event_status();
}

Status ManagedDevice::check_input(const cxl::CommandSpec& spec, size_t input_size) const {
    Status s = cxl::check_input(spec, input_size, properties().payload_size);
    if (!s.ok()) {
        return std::move(s).error().with_context(name_);
    }
    return ok_status();
}

void ManagedDevice::identify(Callback<IdentifyInfo> done) {
    auto command = cxl::identify_memory_device();
    auto options = interactive(std::string(command.spec->name));
    call(std::move(command), std::move(options), std::move(done));
}

void ManagedDevice::health(Callback<HealthInfo> done) {
    auto command = cxl::get_health_info();
    auto options = interactive(std::string(command.spec->name));
    call(std::move(command), std::move(options), std::move(done));
}

void ManagedDevice::firmware_info(Callback<cxl::FwInfo> done) {
    std::weak_ptr<ManagedDevice> weak = weak_from_this();
    auto command = cxl::get_fw_info();
    auto options = interactive(std::string(command.spec->name));
    call(std::move(command), std::move(options),
         [weak, done = std::move(done)](Result<cxl::FwInfo> info) {
             if (!info.ok()) {
                 done(std::move(info).error());
                 return;
             }
             if (auto self = weak.lock()) {
                 self->update([&](DeviceProperties& p) {
                     std::string active;
                     if (info->active_slot >= 1 &&
                         info->active_slot <= info->slot_revisions.size()) {
                         active = info->slot_revisions[info->active_slot - 1];
                     }
                     bool changed = p.firmware_revision != active || !p.firmware ||
                                    p.firmware->active_slot != info->active_slot ||
                                    p.firmware->staged_slot != info->staged_slot ||
                                    p.firmware->slot_revisions != info->slot_revisions;
                     p.firmware_revision = active;
                     p.firmware = *info;
                     return changed;
                 });
             }
             done(std::move(info).value());
         });
}

void ManagedDevice::command(uint16_t opcode, std::vector<uint8_t> input,
                            Callback<cxl::MailboxResponse> done) {
    // No input check and no parse: a raw command goes to the device as given and its answer,
    // whatever the return code, goes back as it came. A known opcode still gets its row's
    // background timeout and expected duration.
    cxl::MailboxRequest request;
    request.opcode = opcode;
    request.input = std::move(input);
    if (const cxl::CommandSpec* spec = cxl::find_command(opcode)) {
        request.options.background_timeout = spec->background_timeout;
        request.options.expected_duration = spec->expected_duration;
    }
    mailbox_call(std::move(request), interactive("raw " + cxl::opcode::describe(opcode)),
                 std::move(done));
}

void ManagedDevice::cdat(bool refresh, Callback<std::shared_ptr<const CdatSnapshot>> done) {
    if (!doe_) {
        done(Error(Errc::Unsupported, name_ + " has no DOE instance serving CDAT"));
        return;
    }
    {
        std::lock_guard lock(mutex_);
        if (refresh) {
            cdat_cache_.reset();
        } else if (cdat_cache_) {
            auto cached = cdat_cache_;
            boost::asio::post(doe_channel_->executor(),
                              [cached, done = std::move(done)] { done(cached); });
            return;
        }
    }
    // One session for the whole read: another reader's table walk cannot interleave with this
    // one, while short exchanges from others still get through between entries.
    auto session = doe_channel_->open_session("cdat");
    std::weak_ptr<ManagedDevice> weak = weak_from_this();
    doe::async_read_cdat(
        arbitrated_exchange(session), CancelToken{},
        [weak, session, name = name_, done = std::move(done)](Result<std::vector<uint8_t>> raw) {
            session->close();
            if (!raw.ok()) {
                done(std::move(raw).error().with_context(name));
                return;
            }
            auto table = doe::parse_cdat(*raw);
            if (!table.ok()) {
                done(std::move(table).error().with_context(name + ": CDAT"));
                return;
            }
            auto snapshot = std::make_shared<const CdatSnapshot>(
                CdatSnapshot{std::move(raw).value(), std::move(table).value()});
            if (auto self = weak.lock()) {
                std::lock_guard lock(self->mutex_);
                self->cdat_cache_ = snapshot;
            }
            done(snapshot);
        });
}

std::shared_ptr<const CdatSnapshot> ManagedDevice::cached_cdat() const {
    std::lock_guard lock(mutex_);
    return cdat_cache_;
}

void ManagedDevice::close(std::function<void()> drained) {
    // A background operation still running would hold the channel's drain until its own end
    // (hours for a sanitize): asked to end first, where the device can.
    if (mailbox_ && abort_supported_ && mailbox_->background_opcode()) {
        request_abort("the device is being removed",
                      [self = shared_from_this(), drained = std::move(drained)]() mutable {
                          self->close_channels(std::move(drained));
                      });
        return;
    }
    close_channels(std::move(drained));
}

void ManagedDevice::close_channels(std::function<void()> drained) {
    mark_gone("the device is being removed");
    std::vector<std::shared_ptr<Channel>> channels;
    for (const auto& c : {mailbox_channel_, doe_channel_}) {
        if (c) {
            channels.push_back(c);
        }
    }
    // The supervisor and every channel report once drained; the last report is `drained`.
    auto remaining =
        std::make_shared<std::atomic<size_t>>(channels.size() + (supervisor_ ? 1 : 0) + 1);
    auto shared_drained = std::make_shared<std::function<void()>>(std::move(drained));
    auto one = [remaining, shared_drained] {
        if (remaining->fetch_sub(1) == 1) {
            (*shared_drained)();
        }
    };
    // The device is gone from here on, so supervision starts no further probe; a probe already
    // queued is rejected by its channel's close below, a running one is drained with it.
    if (supervisor_) {
        supervisor_->stop(one);
    }
    for (const auto& c : channels) {
        c->close(Error(Errc::DeviceGone, name_ + " is being removed"), one);
    }
    one();
}

std::vector<Arbiter::ChannelReport> ManagedDevice::channel_report() const {
    std::vector<Arbiter::ChannelReport> out;
    for (const auto& c : {mailbox_channel_, doe_channel_}) {
        if (c) {
            out.push_back({c->name(), c->counters()});
        }
    }
    return out;
}

}  // namespace cxlmgr::daemon
