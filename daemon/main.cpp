// cxlmgrd: the one owner of CXL memory devices' DOE and mailboxes on a server.
//
// This file is the composition root: the only file of daemon/ that includes dbus/. The D-Bus
// loop runs on the main thread's io_context; device transports run on the arbiter's pool.
#include <grp.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "common/log.hpp"
#include "daemon/arbiter.hpp"
#include "daemon/config.hpp"
#include "daemon/device_factory.hpp"
#include "daemon/event_hub.hpp"
#include "daemon/firmware_updates.hpp"
#include "daemon/managed_device.hpp"
#include "daemon/options.hpp"
#include "daemon/probe.hpp"
#include "dbus/service.hpp"
#include "pci/config_dump.hpp"
#include "common/errno_text.hpp"

namespace {

using namespace cxlmgr;

constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

std::string spec_name(const daemon::DeviceSpec& spec) {
    return spec.backend == daemon::Backend::Emulated ? spec.emulated.name : spec.address;
}

int run_probe(const daemon::Options& opts, const daemon::DaemonConfig& config) {
    int status = 0;
    bool dumped = false;
    for (const auto& spec : config.devices) {
        std::string name = spec_name(spec);
        if (opts.mode == daemon::Options::Mode::DumpConfig && name != opts.dump_device) {
            continue;
        }
        auto opened = daemon::open_device(spec);
        if (!opened.ok()) {
            log::error(name, ": ", opened.error().message);
            status = kExitFailure;
            continue;
        }
        pci::PciDevice& device = *opened->device;
        if (opts.mode == daemon::Options::Mode::DumpConfig) {
            std::string address = spec.address.empty() ? "0000:00:00.0" : spec.address;
            auto dump = pci::dump_config_lspci(device.config(), address, "cxlmgrd " + name);
            if (!dump.ok()) {
                log::error(name, ": ", dump.error().message);
                return kExitFailure;
            }
            std::cout << *dump;
            dumped = true;
            continue;
        }
        auto report = daemon::print_probe_report(device, std::cout);
        if (!report.ok()) {
            log::error(name, ": ", report.error().message);
            status = kExitFailure;
        }
    }
    if (opts.mode == daemon::Options::Mode::DumpConfig && !dumped) {
        log::error("no configured device is named '", opts.dump_device, "'");
        return kExitFailure;
    }
    if (config.devices.empty()) {
        log::warning("no devices configured (use --config or --emulate)");
    }
    return status;
}

Result<std::optional<gid_t>> resolve_group(const std::string& name) {
    if (name.empty()) {
        return std::optional<gid_t>();
    }
    struct group* g = getgrnam(name.c_str());
    if (g == nullptr) {
        // The group is created by the package; without it only root may change anything.
        log::info("group '", name, "' does not exist: changing methods are for root only");
        return std::optional<gid_t>();
    }
    return std::optional<gid_t>(g->gr_gid);
}

Status prepare_state_dir(const std::string& dir) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) {
        return Error(Errc::IoError,
                     "cannot create the state directory " + dir + ": " + ec.message());
    }
    if (::access(dir.c_str(), W_OK) != 0) {
        return Error(Errc::PermissionDenied, "the state directory " + dir + " is not writable");
    }
    // The journal and transfer markers are the daemon's alone.
    if (::chmod(dir.c_str(), 0700) != 0) {
        return Error(Errc::IoError, "cannot restrict the state directory " + dir +
                                        " to its owner: " + errno_text(errno));
    }
    return ok_status();
}

// systemd's watchdog (WatchdogSec= in cxlmgrd.service), petted by a timer on the main
// io_context. That loop runs the D-Bus connection and every device completion handed back to it,
// so a handler that blocks it also stops the pets, and systemd kills and restarts the daemon
// (Restart=on-failure) rather than leaving a process that holds the devices and answers nobody.
// A thread of its own would keep petting a wedged loop: the very case the watchdog is for.
class Watchdog {
public:
    explicit Watchdog(boost::asio::io_context& io) : timer_(io) {}

    // Starts petting when the service manager asked this process for it (WATCHDOG_USEC, and
    // WATCHDOG_PID naming this process if set); otherwise does nothing.
    void start() {
        uint64_t usec = 0;
        // 0: keep the variables; unsetenv would race with getenv on the threads already running.
        int enabled = sd_watchdog_enabled(0, &usec);
        if (enabled < 0) {
            log::warning("ignoring the systemd watchdog settings: ", errno_text(-enabled));
            return;
        }
        if (enabled == 0) {
            return;
        }
        // Half the interval: a late wake-up of up to half an interval is still in time.
        period_ = std::chrono::microseconds(usec / 2);
        log::info("systemd watchdog: ", usec / 1000, " ms, petted every ", usec / 2000, " ms");
        pet();
    }

private:
    void pet() {
        sd_notify(0, "WATCHDOG=1");
        timer_.expires_after(period_);
        timer_.async_wait([this](const boost::system::error_code& ec) {
            if (!ec) {
                pet();
            }
        });
    }

    boost::asio::steady_timer timer_;
    std::chrono::microseconds period_{0};
};

// Opens every configured device, exports each as soon as it is ready, then takes the name.
class Startup : public std::enable_shared_from_this<Startup> {
public:
    Startup(boost::asio::io_context& io, daemon::Arbiter& arbiter, dbus::Service& service,
            std::vector<std::shared_ptr<daemon::ManagedDevice>>& devices)
        : io_(io), arbiter_(arbiter), service_(service), devices_(devices) {}

    void run(const daemon::DaemonConfig& config) {
        remaining_ = config.devices.size() + 1;  // +1 until every open has been started
        for (const auto& spec : config.devices) {
            open(spec, [self = shared_from_this()] { self->one_done(); });
        }
        one_done();
    }

    // Opens one device and exports it; then (on the D-Bus thread) calls next. A device that
    // cannot be opened is reported and skipped: the others are served.
    void open(const daemon::DeviceSpec& spec, std::function<void()> next) {
        auto opened = daemon::open_device(spec);
        if (!opened.ok()) {
            log::error(spec_name(spec), ": not managed: ", opened.error().message);
            next();
            return;
        }
        daemon::ManagedDevice::async_open(
            arbiter_, std::move(opened).value(), {},
            [self = shared_from_this(), next = std::move(next)](
                Result<std::shared_ptr<daemon::ManagedDevice>> device) mutable {
                auto exported = [self, device, next = std::move(next)](bool) mutable {
                    boost::asio::post(self->io_, [self, device = std::move(device),
                                                  next = std::move(next)]() mutable {
                        self->opened(std::move(device));
                        next();
                    });
                };
                // A transfer a crash left half done is aborted before anyone sees the device.
                if (device.ok() && self->firmware) {
                    self->firmware->recover(*device, std::move(exported));
                } else {
                    exported(false);
                }
            });
    }

    // Manager.Rescan: CXL memory devices libpci finds now that are not managed yet are opened
    // and exported; managed real devices it no longer finds are marked gone.
    void rescan(dbus::Service::RescanDone done) {
        daemon::DaemonConfig found;
        found.discover = true;
        auto discovered = daemon::add_discovered_devices(found);
        if (!discovered.ok()) {
            done(discovered.error().with_context("rescan"));
            return;
        }
        std::set<std::string> present;
        for (const auto& spec : found.devices) {
            present.insert(spec.address);
        }
        std::set<std::string> managed;
        for (const auto& device : devices_) {
            auto p = device->properties();
            if (p.address.empty()) {
                continue;  // emulated devices do not come and go with the PCI bus
            }
            managed.insert(p.address);
            if (present.count(p.address) == 0 && p.state != daemon::DeviceState::Gone) {
                log::warning(p.name, ": no longer found on the PCI bus");
                device->mark_gone("no longer found on the PCI bus at rescan");
            }
        }
        auto pending = std::make_shared<size_t>(1);
        auto finished = std::make_shared<dbus::Service::RescanDone>(std::move(done));
        auto one = [pending, finished] {
            if (--*pending == 0) {
                (*finished)(ok_status());
            }
        };
        for (const auto& spec : found.devices) {
            if (managed.count(spec.address) == 0) {
                ++*pending;
                open(spec, one);
            }
        }
        one();
    }

private:
    void opened(Result<std::shared_ptr<daemon::ManagedDevice>> device) {
        if (!device.ok()) {
            log::error("device not managed: ", device.error().message);
        } else {
            auto added = service_.add_device(*device);
            if (!added.ok()) {
                log::error((*device)->name(), ": not exported: ", added.error().message);
            } else {
                devices_.push_back(*device);
            }
        }
    }

    void one_done() {
        if (--remaining_ != 0) {
            return;
        }
        auto named = service_.request_name();
        if (!named.ok()) {
            log::error("cannot take the name org.cxlmgr1: ", named.error().message);
            sd_notifyf(0, "STATUS=Cannot take the name org.cxlmgr1: %s",
                       named.error().message.c_str());
            failed = true;
            io_.stop();
            return;
        }
        log::info("serving ", devices_.size(), " device(s) as org.cxlmgr1");
        sd_notifyf(0, "READY=1\nSTATUS=Serving %zu device(s)", devices_.size());
    }

    boost::asio::io_context& io_;
    daemon::Arbiter& arbiter_;
    dbus::Service& service_;
    std::vector<std::shared_ptr<daemon::ManagedDevice>>& devices_;
    size_t remaining_ = 0;

public:
    bool failed = false;
    std::shared_ptr<daemon::FirmwareUpdates> firmware;
};

// docs/DESIGN.md "Lifetimes": stop new work (the name and the objects go), drain every device's
// channels, then stop the pool and the loop.
void shutdown(boost::asio::io_context& io, daemon::Arbiter& arbiter, dbus::Service& service,
              std::vector<std::shared_ptr<daemon::ManagedDevice>>& devices) {
    sd_notifyf(0, "STATUS=Stopping: closing %zu device(s)", devices.size());
    service.release_name_and_stop();
    auto remaining = std::make_shared<std::atomic<size_t>>(devices.size() + 1);
    auto finish = [&io, &arbiter, remaining] {
        if (remaining->fetch_sub(1) == 1) {
            boost::asio::post(io, [&io, &arbiter] {
                arbiter.shutdown();
                io.stop();
            });
        }
    };
    for (const auto& device : devices) {
        for (const auto& channel : device->channel_report()) {
            const auto& c = channel.counters;
            log::info(channel.name, ": ", c.completed, " completed, ", c.failed, " failed, ",
                      c.rejected, " never started, mean wait ",
                      c.completed + c.failed == 0 ? 0 : c.total_wait_us / (c.completed + c.failed),
                      " us, max wait ", c.max_wait_us, " us");
        }
        device->close(finish);
    }
    finish();
}

int run_service(const daemon::Options& opts, const daemon::DaemonConfig& config) {
    auto state = prepare_state_dir(opts.state_dir);
    if (!state.ok()) {
        log::error(state.error().message);
        return kExitFailure;
    }
    auto gid = resolve_group(config.authorized_group);
    if (!gid.ok()) {
        log::error(gid.error().message);
        return kExitFailure;
    }
    // Before the arbiter: collectors post between its pool and the journal thread, so the
    // journal thread must outlive the pool.
    daemon::EventHubOptions event_options;
    event_options.collector.fast_poll = config.events_fast_poll;
    event_options.collector.slow_poll = config.events_slow_poll;
    event_options.journal.max_events = config.events_journal_max_events;
    auto events = daemon::EventHub::open(opts.state_dir, event_options);
    if (!events.ok()) {
        log::error(events.error().message);
        return kExitFailure;
    }
    boost::asio::io_context io;
    daemon::Arbiter arbiter(2);
    dbus::ServiceOptions service_options;
    service_options.bus =
        opts.bus == daemon::Options::Bus::System    ? dbus::ServiceOptions::Bus::System
        : opts.bus == daemon::Options::Bus::Session ? dbus::ServiceOptions::Bus::Session
                                                    : dbus::ServiceOptions::Bus::Address;
    service_options.address = opts.bus_address;
    service_options.allow_raw_writes = opts.allow_raw_writes;
    service_options.authorized_gid = *gid;
    service_options.version = CXLMGR_VERSION;
    auto firmware = std::make_shared<daemon::FirmwareUpdates>(opts.state_dir);
    service_options.firmware_updates = firmware;
    service_options.image_limits.read_timeout = config.firmware_read_timeout;
    service_options.image_limits.max_size = config.firmware_max_image_size;
    service_options.events = *events;
    auto service = dbus::Service::create(io, service_options);
    if (!service.ok()) {
        log::error("cannot connect to the bus: ", service.error().message);
        return kExitFailure;
    }
    std::vector<std::shared_ptr<daemon::ManagedDevice>> devices;
    auto startup = std::make_shared<Startup>(io, arbiter, **service, devices);
    startup->firmware = firmware;
    (*service)->set_rescan_hook(
        [startup](dbus::Service::RescanDone done) { startup->rescan(std::move(done)); });

    boost::asio::signal_set signals(io, SIGTERM, SIGINT);
    bool stopping = false;
    signals.async_wait([&](const boost::system::error_code& ec, int signal) {
        if (ec) {
            return;
        }
        log::info("signal ", signal, ": stopping");
        // At once, not when the devices are closed: systemd then knows the stop is ours.
        sd_notify(0, "STOPPING=1\nSTATUS=Stopping: ending firmware transfers");
        stopping = true;
        // Running firmware transfers are aborted on their devices first (docs/DESIGN.md "Firmware
        // update"); the devices are closed once every job has ended.
        firmware->stop_all([&io, &arbiter, &service, &devices, &events] {
            // Collectors stop and disarm their devices while the channels still take work.
            (*events)->stop_all([&io, &arbiter, &service, &devices] {
                boost::asio::post(io, [&io, &arbiter, &service, &devices] {
                    shutdown(io, arbiter, **service, devices);
                });
            });
        });
    });
    // Before the devices open: opening many devices takes a while, and the loop runs meanwhile.
    Watchdog watchdog(io);
    watchdog.start();
    sd_notifyf(0, "STATUS=Opening %zu device(s)", config.devices.size());
    startup->run(config);
    io.run();
    if (!stopping) {
        // The loop ended without a signal (the name could not be taken): drain the devices as a
        // stop does. Their closing completes on this loop, so it runs again until shutdown()
        // stops it; without it the event collectors would keep polling, the arbiter's pool
        // would never idle, and the daemon would never exit.
        io.restart();
        (*events)->stop_all([&io, &arbiter, &service, &devices] {
            boost::asio::post(io, [&io, &arbiter, &service, &devices] {
                shutdown(io, arbiter, **service, devices);
            });
        });
        io.run();
    }
    service->reset();
    return startup->failed ? kExitFailure : 0;
}

}  // namespace

int main(int argc, char** argv) {
    std::vector<std::string> args(argv + 1, argv + argc);
    auto opts = daemon::parse_options(args);
    if (!opts.ok()) {
        std::cerr << "cxlmgrd: " << opts.error().message << "\n" << daemon::usage();
        return kExitUsage;
    }
    if (opts->mode == daemon::Options::Mode::Help) {
        std::cout << daemon::usage();
        return 0;
    }
    if (opts->mode == daemon::Options::Mode::Version) {
        std::cout << "cxlmgrd " << CXLMGR_VERSION << "\n";
        return 0;
    }
    if (opts->log_level) {
        log::set_level(*opts->log_level);
    }
    // Under systemd stderr goes to the journal: priority prefixes instead of timestamps.
    log::set_journal_prefixes(std::getenv("JOURNAL_STREAM") != nullptr);

    daemon::DaemonConfig config;
    if (opts->config_path) {
        auto loaded = daemon::load_config(*opts->config_path);
        if (!loaded.ok()) {
            log::error(loaded.error().message);
            return kExitUsage;
        }
        config = std::move(loaded).value();
    }
    daemon::add_default_emulated_devices(config, opts->emulate);
    if (config.discover) {
        auto discovered = daemon::add_discovered_devices(config);
        if (!discovered.ok()) {
            log::error("discovery failed: ", discovered.error().message);
            return kExitFailure;
        }
    }
    if (opts->mode == daemon::Options::Mode::Probe ||
        opts->mode == daemon::Options::Mode::DumpConfig) {
        return run_probe(*opts, config);
    }
    return run_service(*opts, config);
}
