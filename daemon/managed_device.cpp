#include "daemon/managed_device.hpp"

#include <atomic>
#include <boost/asio/post.hpp>

#include "common/log.hpp"
#include "cxl/command_table.hpp"
#include "cxl/commands/health.hpp"
#include "cxl/commands/identify.hpp"
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
            degrade("cannot list DOE capabilities: " + does.error().message);
        } else {
            doe_offsets_ = std::move(does).value();
        }
        next_doe(0);
    }

private:
    void degrade(const std::string& why) {
        log::warning(device_->name_, ": ", why);
        device_->update([&](DeviceProperties& p) {
            return p.state == DeviceState::Online &&
                   device_->set_state(p, DeviceState::Degraded, why);
        });
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
        auto mailbox = doe::DoeMailbox::create((*channel)->executor(), config, offset,
                                               device_->options_.doe_timeouts);
        if (!mailbox.ok()) {
            degrade(mailbox.error().message);
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
                    self->degrade("DOE at " + hex_offset(offset) + ": " +
                                  protocols.error().message);
                }
                if (cdat) {
                    log::info(self->device_->name_, ": CDAT served by the DOE instance at ",
                              hex_offset(offset));
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
                    self->device_->update([&](DeviceProperties& p) {
                        return self->device_->set_state(p,
                                                        mailbox.error().code == Errc::DeviceGone
                                                            ? DeviceState::Gone
                                                            : DeviceState::Failed,
                                                        mailbox.error().message);
                    });
                    self->finish();
                    return;
                }
                self->device_->mailbox_ = *mailbox;
                self->device_->update([&](DeviceProperties& p) {
                    p.payload_size = (*mailbox)->payload_size();
                    return true;
                });
                self->read_firmware();
            });
    }

    void read_firmware() {
        device_->firmware_info([self = shared_from_this()](Result<cxl::FwInfo> info) {
            if (!info.ok()) {
                self->degrade("Get FW Info failed: " + info.error().message);
            }
            self->finish();
        });
    }

    void finish() {
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

void ManagedDevice::note_outcome(const Status& status) {
    std::optional<Error> failure = mailbox_ ? mailbox_->failure() : std::nullopt;
    update([&](DeviceProperties& p) {
        if (!status.ok() && status.error().code == Errc::DeviceGone) {
            return set_state(p, DeviceState::Gone, status.error().message);
        }
        if (failure) {
            return set_state(p, DeviceState::Failed, failure->message);
        }
        if (status.ok() && (p.state == DeviceState::Failed || p.state == DeviceState::Gone)) {
            return set_state(p, doe_ && doe_->dead() ? DeviceState::Degraded : DeviceState::Online,
                             doe_ && doe_->dead() ? doe_->dead_reason()->message : "");
        }
        return false;
    });
}

void ManagedDevice::mark_gone(const std::string& reason) {
    update([&](DeviceProperties& p) { return set_state(p, DeviceState::Gone, reason); });
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
    return [channel, mailbox, session, deadline](doe::DoeRequest request, CancelToken cancel,
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
            std::move(done));
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
    mailbox_channel_->submit<cxl::MailboxResponse>(
        std::move(options),
        [mailbox = mailbox_, request = std::move(request)](
            CancelToken cancel, std::function<void(Result<cxl::MailboxResponse>)> deliver) mutable {
            // A mailbox taken out of service by a stuck doorbell comes back once the doorbell
            // is idle again. If reset() refuses, async_command fails at once with the reason
            // the mailbox was taken out of service, which is the error the caller should see.
            if (mailbox->failure()) {
                Status reset = mailbox->reset();
                if (reset.ok()) {
                    log::info(mailbox->name(), ": mailbox back in service");
                }
            }
            mailbox->async_command(std::move(request), std::move(cancel), std::move(deliver));
        },
        [weak, done = std::move(done)](Result<cxl::MailboxResponse> r) {
            if (auto self = weak.lock()) {
                self->note_outcome(r.ok() ? ok_status() : Status(r.error()));
            }
            done(std::move(r));
        });
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

void ManagedDevice::identify(Callback<nlohmann::json> done) {
    auto command = cxl::identify_memory_device();
    auto options = interactive(std::string(command.spec->name));
    call(std::move(command), std::move(options),
         [done = std::move(done)](Result<cxl::IdentifyInfo> info) {
             if (!info.ok()) {
                 done(std::move(info).error());
                 return;
             }
             done(cxl::identify_to_json(*info));
         });
}

void ManagedDevice::health(Callback<nlohmann::json> done) {
    auto command = cxl::get_health_info();
    auto options = interactive(std::string(command.spec->name));
    call(std::move(command), std::move(options),
         [done = std::move(done)](Result<cxl::HealthInfo> info) {
             if (!info.ok()) {
                 done(std::move(info).error());
                 return;
             }
             done(cxl::health_to_json(*info));
         });
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
    // background timeout.
    cxl::MailboxRequest request;
    request.opcode = opcode;
    request.input = std::move(input);
    if (const cxl::CommandSpec* spec = cxl::find_command(opcode)) {
        request.options.background_timeout = spec->background_timeout;
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
    mark_gone(name_ + " is being removed");
    std::vector<std::shared_ptr<Channel>> channels;
    for (const auto& c : {mailbox_channel_, doe_channel_}) {
        if (c) {
            channels.push_back(c);
        }
    }
    if (channels.empty()) {
        drained();
        return;
    }
    auto remaining = std::make_shared<std::atomic<size_t>>(channels.size());
    auto shared_drained = std::make_shared<std::function<void()>>(std::move(drained));
    for (const auto& c : channels) {
        c->close(Error(Errc::DeviceGone, name_ + " is being removed"), [remaining, shared_drained] {
            if (remaining->fetch_sub(1) == 1) {
                (*shared_drained)();
            }
        });
    }
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
