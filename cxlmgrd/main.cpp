// cxlmgrd: the one owner of CXL memory devices' DOE and mailboxes on a server.
//
// The composition root, and the only code that uses both daemon/ and dbus/: it reads the
// configuration and wires the device registry (daemon/device_registry.hpp: every device from
// its opening to its closing, and the one shutdown order), the D-Bus service (the registry's
// DeviceSink), signals and the systemd watchdog. The D-Bus loop and the registry run on the main
// thread's io_context; device transports run on the registry's pool.
#include <grp.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <sdbus-c++/Error.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/errno_text.hpp"
#include "common/log.hpp"
#include "cxlmgrd/watchdog.hpp"
#include "daemon/config.hpp"
#include "daemon/device_factory.hpp"
#include "daemon/device_registry.hpp"
#include "daemon/event_hub.hpp"
#include "daemon/firmware_updates.hpp"
#include "daemon/options.hpp"
#include "daemon/probe.hpp"
#include "daemon/state_dir_lock.hpp"
#include "dbus/service.hpp"
#include "pci/config_dump.hpp"

namespace {

using namespace cxlmgr;

constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

int run_probe(const daemon::Options& opts, const daemon::DaemonConfig& config) {
    int status = 0;
    bool dumped = false;
    for (const auto& spec : config.devices) {
        std::string name = daemon::spec_name(spec);
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

// Creates the state directory and locks it (daemon/state_dir_lock.hpp) before anything else
// there is read or written: a second daemon on the same directory leaves here, having changed
// nothing but the lock file's existence.
Result<daemon::StateDirLock> prepare_state_dir(const std::string& dir) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) {
        return Error(Errc::IoError,
                     "cannot create the state directory " + dir + ": " + ec.message());
    }
    CXLMGR_ASSIGN(daemon::StateDirLock lock, daemon::StateDirLock::acquire(dir));
    if (::access(dir.c_str(), W_OK) != 0) {
        return Error(Errc::PermissionDenied, "the state directory " + dir + " is not writable");
    }
    // The journal and transfer markers are the daemon's alone.
    if (::chmod(dir.c_str(), 0700) != 0) {
        return Error(Errc::IoError, "cannot restrict the state directory " + dir +
                                        " to its owner: " + errno_text(errno));
    }
    return lock;
}

// What the main loop's handlers share. They run on io_ only, inside run(), and io_ is destroyed
// with this object: no handler runs after it, none on another thread.
class Daemon {
public:
    Daemon(std::shared_ptr<daemon::EventHub> events,
           std::shared_ptr<daemon::FirmwareUpdates> firmware)
        : events_(std::move(events)), firmware_(std::move(firmware)) {}

    // Connects to the bus and creates the registry with the service as its sink.
    Status connect(dbus::ServiceOptions service_options,
                   daemon::DeviceRegistryOptions registry_options) {
        CXLMGR_ASSIGN(std::shared_ptr<dbus::Service> service,
                      dbus::Service::create(io_, std::move(service_options)));
        service_ = std::move(service);
        registry_options.firmware = firmware_;
        registry_options.events = events_;
        registry_options.on_shutdown_step = [this](daemon::ShutdownStep step) {
            // A failure keeps its reason on the status line systemctl shows.
            const std::string status = "STATUS=Stopping" +
                                       (exit_code_ == 0 ? "" : " (" + stop_reason_ + ")") + ": " +
                                       std::string(daemon::shutdown_step_name(step));
            sd_notify(0, status.c_str());
        };
        registry_ = daemon::DeviceRegistry::create(io_.get_executor(), service_,
                                                   std::move(registry_options));
        return ok_status();
    }

    // Serves until a way out (a signal, the name refused, the bus lost) has run the registry's
    // shutdown; returns the exit status.
    int run(std::vector<daemon::DeviceSpec> specs) {
        signals_.async_wait([this](const boost::system::error_code& ec, int signal) {
            if (ec) {
                return;
            }
            log::info("signal ", signal, ": stopping");
            // At once, not when the devices are closed: systemd then knows the stop is ours.
            sd_notify(0, "STOPPING=1");
            stop(0, "signal " + std::to_string(signal));
        });
        service_->set_failure_hook([this](const Error& e) {
            bus_lost_ = true;
            stop(kExitFailure, e.message);
        });
        service_->set_rescan_hook([registry = registry_](dbus::Service::RescanDone done) {
            registry->rescan(std::move(done));
        });
        // Before the devices open: opening many devices takes a while, and the loop runs
        // meanwhile.
        watchdog_.start();
        sd_notifyf(0, "STATUS=Opening %zu device(s)", specs.size());
        registry_->start(std::move(specs), [this](Status opened) { started(std::move(opened)); });
        run_loop();

        // The shutdown is over: only now are objects destroyed. The service first (its objects
        // and finished jobs still hold devices), then the registry (the arbiter's pool, whose
        // strands the devices' channels and timers belong to), then the firmware table and the
        // event hub (its journal thread, idle since the shutdown's EventJournal step).
        service_.reset();
        registry_.reset();
        firmware_.reset();
        events_.reset();
        return exit_code_;
    }

private:
    // Runs the loop until stop() has run the shutdown. Once the bus connection is lost, the
    // D-Bus objects' signals (a property that changes while the devices close, a job that ends)
    // can only fail: sdbus-c++ throws, out of the handler and out of run(). Those failures are
    // logged and the loop goes on with the shutdown; any other exception is a bug and ends the
    // process as before.
    void run_loop() {
        for (;;) {
            try {
                io_.run();
                return;
            } catch (const sdbus::Error& e) {
                // A signal emitted in the instant between the peer closing the connection and
                // the bus loop noticing fails first: Disconnected is that same loss, seen early.
                if (!bus_lost_ && e.getName() == "org.freedesktop.DBus.Error.Disconnected") {
                    log::error("D-Bus connection failed: ", e.getMessage());
                    bus_lost_ = true;
                    stop(kExitFailure, "the D-Bus connection failed: " + e.getMessage());
                    continue;
                }
                if (!bus_lost_) {
                    throw;
                }
                log::info("D-Bus: not sent, the connection is gone: ", e.getMessage());
            }
        }
    }

    // Every device was handled (or a stop came first): take the name, which tells systemd
    // (Type=dbus) and clients that we serve.
    void started(Status opened) {
        if (stopping_) {
            return;
        }
        if (!opened.ok()) {
            log::error("cannot start: ", opened.error().message);
            stop(kExitFailure, "start failed");
            return;
        }
        auto named = service_->request_name();
        if (!named.ok()) {
            log::error("cannot take the name org.cxlmgr1: ", named.error().message);
            sd_notifyf(0, "STATUS=Cannot take the name org.cxlmgr1: %s",
                       named.error().message.c_str());
            stop(kExitFailure, "cannot take the name org.cxlmgr1");
            return;
        }
        const size_t serving = registry_->devices().size();
        log::info("serving ", serving, " device(s) as org.cxlmgr1");
        sd_notifyf(0, "READY=1\nSTATUS=Serving %zu device(s)", serving);
    }

    // The one way out: the registry's shutdown, then the loop ends.
    void stop(int exit_code, std::string reason) {
        if (stopping_) {
            return;
        }
        stopping_ = true;
        exit_code_ = exit_code;
        stop_reason_ = reason;
        registry_->shutdown(std::move(reason), [this] { io_.stop(); });
    }

    boost::asio::io_context io_;  // first: destroyed last, with the handlers it still holds
    boost::asio::signal_set signals_{io_, SIGTERM, SIGINT};
    Watchdog watchdog_{io_};
    std::shared_ptr<daemon::EventHub> events_;
    std::shared_ptr<daemon::FirmwareUpdates> firmware_;
    std::shared_ptr<dbus::Service> service_;
    std::shared_ptr<daemon::DeviceRegistry> registry_;
    bool stopping_ = false;
    bool bus_lost_ = false;
    std::string stop_reason_;
    int exit_code_ = 0;
};

// Manager.Rescan's discovery: every CXL memory device libpci finds now.
Result<std::vector<daemon::DeviceSpec>> discover_devices() {
    daemon::DaemonConfig found;
    CXLMGR_CHECK(daemon::add_discovered_devices(found));
    return std::move(found.devices);
}

int run_service(const daemon::Options& opts, const daemon::DaemonConfig& config) {
    // Held until this function returns, after the shutdown: the process's whole service life.
    auto state_lock = prepare_state_dir(opts.state_dir);
    if (!state_lock.ok()) {
        log::error("cannot start: ", state_lock.error().message);
        return kExitFailure;
    }
    auto gid = resolve_group(config.authorized_group);
    if (!gid.ok()) {
        log::error(gid.error().message);
        return kExitFailure;
    }
    daemon::EventHubOptions event_options;
    event_options.collector.fast_poll = config.events_fast_poll;
    event_options.collector.slow_poll = config.events_slow_poll;
    event_options.journal.max_events = config.events_journal_max_events;
    auto events = daemon::EventHub::open(opts.state_dir, event_options);
    if (!events.ok()) {
        log::error(events.error().message);
        return kExitFailure;
    }
    auto firmware = std::make_shared<daemon::FirmwareUpdates>(opts.state_dir);

    dbus::ServiceOptions service_options;
    service_options.bus =
        opts.bus == daemon::Options::Bus::System    ? dbus::ServiceOptions::Bus::System
        : opts.bus == daemon::Options::Bus::Session ? dbus::ServiceOptions::Bus::Session
                                                    : dbus::ServiceOptions::Bus::Address;
    service_options.address = opts.bus_address;
    service_options.allow_raw_writes = opts.allow_raw_writes;
    service_options.authorized_gid = *gid;
    service_options.version = CXLMGR_VERSION;
    service_options.firmware_updates = firmware;
    service_options.image_limits.read_timeout = config.firmware_read_timeout;
    service_options.image_limits.max_size = config.firmware_max_image_size;
    service_options.events = true;

    daemon::DeviceRegistryOptions registry_options;
    registry_options.discover = discover_devices;

    Daemon d(std::move(events).value(), std::move(firmware));
    auto connected = d.connect(std::move(service_options), std::move(registry_options));
    if (!connected.ok()) {
        log::error("cannot connect to the bus: ", connected.error().message);
        return kExitFailure;
    }
    return d.run(config.devices);
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
