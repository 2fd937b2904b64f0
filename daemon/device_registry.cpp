#include "daemon/device_registry.hpp"

#include <atomic>
#include <boost/asio/post.hpp>
#include <optional>
#include <set>

#include "common/log.hpp"
#include "daemon/event_hub.hpp"
#include "daemon/firmware_updates.hpp"

namespace cxlmgr::daemon {

namespace {

// GCC 12 destroys a lambda temporary twice when it is part of a co_await expression (found with
// AddressSanitizer: `co_await await_callback<T>([p] {...})` frees what `p` holds too early). So
// the coroutines below never await a call that is given a lambda: the small functions here make
// the lambdas and return the awaitable, and the coroutines await what they return.

// The result of a sequence started now and awaited later, on one serial executor: how the opens
// run side by side while their exports keep the order of the specs.
template <typename T>
class Eventual {
public:
    void set(Result<T> result) {
        if (waiter_) {
            auto waiter = std::move(waiter_);
            waiter(std::move(result));
        } else {
            result_.emplace(std::move(result));
        }
    }

    static Task<Result<T>> get(std::shared_ptr<Eventual> self) {
        return await_callback<T>([self](std::function<void(Result<T>)> deliver) {
            if (self->result_) {
                auto result = std::move(*self->result_);
                self->result_.reset();
                deliver(std::move(result));
            } else {
                self->waiter_ = std::move(deliver);
            }
        });
    }

private:
    std::optional<Result<T>> result_;
    std::function<void(Result<T>)> waiter_;
};

// Awaits an API that reports only its end: start(done) begins it, done() runs once, from any
// thread. Always ok: such an API has no failure to report.
template <typename Start>
Task<Status> completion(Start start) {
    return await_callback<void>(
        [start = std::move(start)](std::function<void(Status)> deliver) mutable {
            start([deliver] { deliver(ok_status()); });
        });
}

Task<Status> drained(std::shared_ptr<ManagedDevice> device) {
    return completion([device](std::function<void()> done) { device->close(std::move(done)); });
}

Task<Status> all_drained(std::vector<std::shared_ptr<ManagedDevice>> devices) {
    return completion([devices](std::function<void()> done) {
        if (devices.empty()) {
            done();
            return;
        }
        auto remaining = std::make_shared<std::atomic<size_t>>(devices.size());
        for (const auto& d : devices) {
            d->close([remaining, done] {
                if (remaining->fetch_sub(1) == 1) {
                    done();
                }
            });
        }
    });
}

Task<Status> stopped(std::shared_ptr<EventCollector> collector) {
    return completion(
        [collector](std::function<void()> done) { collector->stop(std::move(done)); });
}

Task<Status> all_stopped(std::shared_ptr<EventHub> events) {
    return completion([events](std::function<void()> done) { events->stop_all(std::move(done)); });
}

Task<Status> journal_drained(std::shared_ptr<EventHub> events) {
    return completion([events](std::function<void()> done) { events->drain(std::move(done)); });
}

Task<Status> jobs_ended(std::shared_ptr<FirmwareUpdates> firmware) {
    return completion(
        [firmware](std::function<void()> done) { firmware->stop_all(std::move(done)); });
}

Task<Status> recovered(std::shared_ptr<FirmwareUpdates> firmware,
                       std::shared_ptr<ManagedDevice> device) {
    // recover() logs what it did; whether there was anything to recover does not matter here.
    return completion([firmware, device](std::function<void()> done) {
        firmware->recover(device, [done](bool /*recovered*/) { done(); });
    });
}

Task<Result<std::shared_ptr<ManagedDevice>>> managed(std::shared_ptr<DeviceRegistry> keep,
                                                     Arbiter& arbiter, OpenedDevice transport,
                                                     ManagedDeviceOptions options) {
    auto shared = std::make_shared<OpenedDevice>(std::move(transport));
    return await_callback<std::shared_ptr<ManagedDevice>>(
        [keep, &arbiter, shared,
         options](std::function<void(Result<std::shared_ptr<ManagedDevice>>)> deliver) {
            ManagedDevice::async_open(arbiter, std::move(*shared), options, std::move(deliver));
        });
}

void log_channel_counters(const ManagedDevice& device) {
    for (const auto& channel : device.channel_report()) {
        const auto& c = channel.counters;
        const uint64_t ran = c.completed + c.failed;
        log::info(channel.name, ": ", c.completed, " completed, ", c.failed, " failed, ",
                  c.rejected, " never started, mean wait ", ran == 0 ? 0 : c.total_wait_us / ran,
                  " us, max wait ", c.max_wait_us, " us");
    }
}

}  // namespace

std::string_view shutdown_step_name(ShutdownStep step) {
    switch (step) {
        case ShutdownStep::Settle:
            return "finishing device opens in progress";
        case ShutdownStep::FirmwareJobs:
            return "ending firmware transfers";
        case ShutdownStep::Collectors:
            return "stopping event collection";
        case ShutdownStep::EventJournal:
            return "finishing event journal work";
        case ShutdownStep::Channels:
            return "draining device channels";
        case ShutdownStep::BusObjects:
            return "removing the devices";
        case ShutdownStep::Pool:
            return "stopping the device threads";
        case ShutdownStep::Done:
            return "stopped";
    }
    return "?";
}

std::shared_ptr<DeviceRegistry> DeviceRegistry::create(boost::asio::any_io_executor executor,
                                                       std::shared_ptr<DeviceSink> sink,
                                                       DeviceRegistryOptions options) {
    return std::make_shared<DeviceRegistry>(Private{}, std::move(executor), std::move(sink),
                                            std::move(options));
}

DeviceRegistry::DeviceRegistry(Private, boost::asio::any_io_executor executor,
                               std::shared_ptr<DeviceSink> sink, DeviceRegistryOptions options)
    : executor_(std::move(executor)),
      sink_(std::move(sink)),
      options_(std::move(options)),
      arbiter_(std::make_unique<Arbiter>(options_.pool_threads)) {}

DeviceRegistry::~DeviceRegistry() {
    // After shutdown() both are empty or stopped already. Without it (the daemon failed before
    // its loop ran), the devices still go before the pool their channels' strands belong to.
    entries_.clear();
    arbiter_.reset();
}

void DeviceRegistry::step(ShutdownStep step) {
    log::info("stopping: ", shutdown_step_name(step));
    if (options_.on_shutdown_step) {
        options_.on_shutdown_step(step);
    }
}

std::vector<std::shared_ptr<ManagedDevice>> DeviceRegistry::devices() const {
    std::vector<std::shared_ptr<ManagedDevice>> out;
    out.reserve(entries_.size());
    for (const auto& e : entries_) {
        out.push_back(e.device);
    }
    return out;
}

// ---- The device table: one sequence at a time -------------------------------------------

Task<Status> DeviceRegistry::take_table(Self self) {
    // Decided when awaited: release_table() hands the table over without freeing it between.
    return await_callback<void>([self](std::function<void(Status)> deliver) {
        if (!self->table_taken_) {
            self->table_taken_ = true;
            deliver(ok_status());
            return;
        }
        self->table_waiters_.push_back([deliver] { deliver(ok_status()); });
    });
}

void DeviceRegistry::release_table() {
    if (table_waiters_.empty()) {
        table_taken_ = false;
        return;
    }
    auto next = std::move(table_waiters_.front());
    table_waiters_.pop_front();
    next();
}

// ---- Start and rescan -----------------------------------------------------------------------

void DeviceRegistry::start(std::vector<DeviceSpec> specs, Done done) {
    auto self = shared_from_this();
    spawn<void>(executor_, run_start(self, std::move(specs)), "device registry: start",
                std::move(done));
}

Task<Status> DeviceRegistry::run_start(Self self, std::vector<DeviceSpec> specs) {
    for (const auto& spec : specs) {
        if (spec.backend != Backend::Emulated) {
            configured_[spec.address] = spec;
        }
    }
    (void)co_await take_table(self);  // always ok
    Status status = Error(Errc::DeviceGone, "the daemon is stopping");
    if (!stopping_) {
        status = co_await open_and_export(self, std::move(specs));
    }
    release_table();
    co_return status;
}

void DeviceRegistry::rescan(Done done) {
    auto self = shared_from_this();
    spawn<void>(executor_, run_rescan(self), "device registry: rescan", std::move(done));
}

Task<Status> DeviceRegistry::run_rescan(Self self) {
    if (!options_.discover) {
        co_return Error(Errc::Unsupported, "rescan: this daemon has no device discovery");
    }
    if (stopping_) {
        co_return Error(Errc::DeviceGone, "rescan: the daemon is stopping");
    }
    (void)co_await take_table(self);  // always ok
    Status status = co_await rescan_devices(self);
    release_table();
    co_return status;
}

Task<Status> DeviceRegistry::rescan_devices(Self self) {
    // Decided once the table is ours: the shutdown may have begun, another rescan may have
    // changed the table meanwhile.
    if (stopping_) {
        co_return Error(Errc::DeviceGone, "rescan: the daemon is stopping");
    }
    auto found = options_.discover();
    if (!found.ok()) {
        co_return found.error().with_context("rescan");
    }
    std::set<std::string> present;
    for (const auto& spec : *found) {
        present.insert(spec.address);
    }
    std::vector<Entry> vanished;
    std::set<std::string> managed;
    for (const auto& e : entries_) {
        if (e.spec.backend == Backend::Emulated) {
            continue;  // not on the PCI bus: they do not come and go
        }
        managed.insert(e.spec.address);
        if (present.count(e.spec.address) == 0) {
            vanished.push_back(e);
        }
    }
    std::vector<DeviceSpec> fresh;
    for (const auto& spec : *found) {
        if (managed.count(spec.address) != 0) {
            continue;
        }
        // A configured device comes back with its configured backend (vfio, say).
        auto known = configured_.find(spec.address);
        fresh.push_back(known != configured_.end() ? known->second : spec);
    }
    log::info("rescan: ", found->size(), " CXL memory device(s) found, ", fresh.size(),
              " to open, ", vanished.size(), " vanished");
    const std::string why = "no longer found on the PCI bus";
    for (auto& e : vanished) {
        co_await remove_one(self, std::move(e), why);
    }
    co_return co_await open_and_export(self, std::move(fresh));
}

Task<Status> DeviceRegistry::open_and_export(Self self, std::vector<DeviceSpec> specs) {
    using Opened = Result<std::shared_ptr<ManagedDevice>>;
    using Pending = Eventual<std::shared_ptr<ManagedDevice>>;
    std::vector<std::shared_ptr<Pending>> opening;
    opening.reserve(specs.size());
    for (const auto& spec : specs) {
        auto pending = std::make_shared<Pending>();
        spawn<std::shared_ptr<ManagedDevice>>(executor_, open_one(self, spec),
                                              spec_name(spec) + ": open",
                                              [pending](Opened r) { pending->set(std::move(r)); });
        opening.push_back(std::move(pending));
    }
    for (size_t i = 0; i < specs.size(); ++i) {
        Opened opened = co_await Pending::get(opening[i]);
        if (!opened.ok()) {
            log::error(spec_name(specs[i]), ": not managed: ", opened.error().message);
            continue;
        }
        co_await export_one(self, specs[i], std::move(opened).value());
    }
    if (stopping_) {
        co_return Error(Errc::DeviceGone, "the daemon is stopping: devices opened were closed");
    }
    co_return ok_status();
}

Task<Result<std::shared_ptr<ManagedDevice>>> DeviceRegistry::open_one(Self self, DeviceSpec spec) {
    if (stopping_) {
        co_return Error(Errc::DeviceGone, "the daemon is stopping");
    }
    auto transport = options_.open(spec);
    if (!transport.ok()) {
        co_return std::move(transport).error();
    }
    auto device = co_await managed(self, *arbiter_, std::move(transport).value(), options_.device);
    if (device.ok() && options_.firmware) {
        // A transfer a crash left half done is aborted before anyone sees the device.
        (void)co_await recovered(options_.firmware, *device);  // always ok
    }
    co_return device;
}

Task<void> DeviceRegistry::export_one(Self /*self*/, DeviceSpec spec,
                                      std::shared_ptr<ManagedDevice> device) {
    const std::string name = device->name();
    if (stopping_) {
        log::info(name, ": not exported: the daemon is stopping");
        (void)co_await drained(device);  // always ok
        log_channel_counters(*device);
        co_return;
    }
    RegisteredDevice registered{device,
                                options_.events ? options_.events->collector(device) : nullptr};
    Status added = sink_->added(registered);
    if (!added.ok()) {
        log::error(name, ": not exported: ", added.error().message);
        if (registered.events) {
            (void)co_await stopped(registered.events);  // always ok
        }
        (void)co_await drained(device);  // always ok
        log_channel_counters(*device);
        co_return;
    }
    entries_.push_back({std::move(spec), std::move(device), std::move(registered.events)});
}

Task<void> DeviceRegistry::remove_one(Self /*self*/, Entry entry, std::string why) {
    const std::string name = entry.device->name();
    log::warning(name, ": ", why, ": removing it once its work has drained");
    entry.device->mark_gone(why);
    if (entry.events) {
        (void)co_await stopped(entry.events);  // always ok
    }
    (void)co_await drained(entry.device);  // always ok
    log_channel_counters(*entry.device);
    std::erase_if(entries_, [&](const Entry& e) { return e.device == entry.device; });
    sink_->removed(name);
}

// ---- Shutdown -------------------------------------------------------------------------------

void DeviceRegistry::shutdown(std::string reason, std::function<void()> done) {
    boost::asio::post(executor_, [self = shared_from_this(), reason = std::move(reason),
                                  done = std::move(done)]() mutable {
        if (self->stopped_) {
            if (done) {
                done();
            }
            return;
        }
        if (done) {
            self->shutdown_waiters_.push_back(std::move(done));
        }
        if (self->stopping_) {
            return;  // the first call runs it; this one waits with it
        }
        // From here on, sequences in progress close what they open instead of exporting it.
        self->stopping_ = true;
        spawn<void>(self->executor_, self->run_shutdown(self, std::move(reason)),
                    "device registry: shutdown", [self](Status) {
                        auto waiters = std::move(self->shutdown_waiters_);
                        self->shutdown_waiters_.clear();
                        for (auto& w : waiters) {
                            w();
                        }
                    });
    });
}

Task<Status> DeviceRegistry::run_shutdown(Self self, std::string reason) {
    log::info("stopping (", reason, "): ", entries_.size(), " device(s) to close");

    // The steps' waits are always ok: what they wait for reports no failure.
    step(ShutdownStep::Settle);
    (void)co_await take_table(self);  // never released: no start or rescan runs after this

    step(ShutdownStep::FirmwareJobs);
    if (options_.firmware) {
        (void)co_await jobs_ended(options_.firmware);
    }

    step(ShutdownStep::Collectors);
    if (options_.events) {
        (void)co_await all_stopped(options_.events);
    }

    step(ShutdownStep::EventJournal);
    if (options_.events) {
        (void)co_await journal_drained(options_.events);
    }

    step(ShutdownStep::Channels);
    const std::vector<std::shared_ptr<ManagedDevice>> devices = this->devices();
    (void)co_await all_drained(devices);
    for (const auto& d : devices) {
        log_channel_counters(*d);
    }

    step(ShutdownStep::BusObjects);
    for (const auto& d : devices) {
        sink_->removed(d->name());
    }
    sink_->stopped();
    // The sink's own posted handlers (DeviceSink::removed) run before this resumes: what they
    // release and what that posts to the pool finds the pool still running.
    co_await boost::asio::post(executor_, boost::asio::use_awaitable);

    step(ShutdownStep::Pool);
    arbiter_->shutdown();

    entries_.clear();
    sink_.reset();  // the sink may hold us (its rescan hook): that cycle ends here
    stopped_ = true;
    step(ShutdownStep::Done);
    co_return ok_status();
}

}  // namespace cxlmgr::daemon
