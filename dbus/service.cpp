#include "dbus/service.hpp"

#include <unistd.h>

#include <sdbus-c++/Error.h>
#include <sdbus-c++/IConnection.h>
#include <sdbus-c++/IObject.h>
#include <map>

#include "common/log.hpp"
#include "daemon/firmware_updates.hpp"
#include "dbus/bus_loop.hpp"
#include "dbus/device_object.hpp"
#include "dbus/job_object.hpp"
#include "dbus/manager_object.hpp"
#include "dbus/object_paths.hpp"
#include "dbus/service_context.hpp"
#include "dbus/subscriptions.hpp"

namespace cxlmgr::dbus {

// Declared in the order of construction; destroyed in reverse, so the objects go before the
// context they use and the connection goes last.
struct Service::Core : std::enable_shared_from_this<Service::Core> {
    Core(boost::asio::io_context& io_context, ServiceOptions opts,
         std::unique_ptr<sdbus::IConnection> conn)
        : io(io_context),
          options(std::move(opts)),
          connection(std::move(conn)),
          loop(BusLoop::create(io, *connection)),
          dispatcher(std::make_shared<Dispatcher>(io)),
          calls(std::make_shared<PendingCalls>(io, dispatcher, loop, options.call_guard)),
          context{io,
                  *connection,
                  loop,
                  dispatcher,
                  calls,
                  Authorizer(options.authorized_gid, geteuid()),
                  options.allow_raw_writes,
                  {},
                  {},
                  {},
                  {}} {
        context.firmware_updates = options.firmware_updates
                                       ? options.firmware_updates
                                       : std::make_shared<daemon::FirmwareUpdates>("");
        context.image_limits = options.image_limits;
        context.jobs = std::make_shared<JobObjects>(context, options.job_linger);
    }

    ~Core() {
        // Late pool callbacks are dropped from here on; the loop must not touch the
        // connection once it is gone.
        dispatcher->close();
        loop->stop();
        if (context.subscriptions) {
            context.subscriptions->clear();
        }
        retiring.clear();
        devices.clear();
        context.jobs->clear();
        manager.reset();
    }

    [[nodiscard]] std::vector<sdbus::ObjectPath> device_paths() const {
        std::vector<sdbus::ObjectPath> paths;
        paths.reserve(devices.size());
        for (const auto& [name, object] : devices) {
            paths.emplace_back(object->path());
        }
        return paths;
    }

    // Takes `object` off the bus now and destroys it from a posted handler: remove_device may
    // run inside one of the object's own handlers.
    void retire(std::shared_ptr<DeviceObject> object) {
        object->retire();
        const std::string path = object->path();
        retiring[path] = std::move(object);
        boost::asio::post(io, [weak = weak_from_this(), path] {
            if (auto self = weak.lock()) {
                self->retiring.erase(path);
            }
        });
    }

    boost::asio::io_context& io;
    ServiceOptions options;
    std::unique_ptr<sdbus::IConnection> connection;
    std::shared_ptr<BusLoop> loop;
    std::shared_ptr<Dispatcher> dispatcher;
    std::shared_ptr<PendingCalls> calls;
    ServiceContext context;
    std::unique_ptr<ManagerObject> manager;
    std::map<std::string, std::shared_ptr<DeviceObject>> devices;   // by name: ListDevices order
    std::map<std::string, std::shared_ptr<DeviceObject>> retiring;  // by path
    bool name_owned = false;
    bool stopped = false;
};

namespace {

Result<std::unique_ptr<sdbus::IConnection>> connect(const ServiceOptions& options) {
    std::string which;
    try {
        switch (options.bus) {
            case ServiceOptions::Bus::System:
                which = "the system bus";
                return sdbus::createSystemBusConnection();
            case ServiceOptions::Bus::Session:
                which = "the session bus";
                return sdbus::createSessionBusConnection();
            case ServiceOptions::Bus::Address:
                which = "the bus at " + options.address;
                return sdbus::createSessionBusConnectionWithAddress(options.address);
        }
    } catch (const sdbus::Error& e) {
        return Error(Errc::IoError, "cannot connect to " + which + ": " + e.getMessage());
    }
    return Error(Errc::Internal, "unknown bus kind");
}

}  // namespace

Result<std::unique_ptr<Service>> Service::create(boost::asio::io_context& io,
                                                 ServiceOptions options) {
    CXLMGR_ASSIGN(auto connection, connect(options));
    auto core = std::make_shared<Core>(io, std::move(options), std::move(connection));
    try {
        Core* raw = core.get();
        core->manager = std::make_unique<ManagerObject>(
            core->context, sdbus::createObject(*core->connection, std::string(kRootPath)),
            core->options.version, [raw] { return raw->device_paths(); });
        if (core->options.events) {
            // Watches NameOwnerChanged: a subscription ends with its owner's connection.
            core->context.subscriptions = std::make_shared<SubscriptionRegistry>(core->context);
        }
    } catch (const sdbus::Error& e) {
        return Error(Errc::IoError, "cannot export " + std::string(kRootPath) + ": " + e.getName() +
                                        ": " + e.getMessage());
    }
    core->loop->start();
    return std::unique_ptr<Service>(new Service(std::move(core)));
}

Service::Service(std::shared_ptr<Core> core) : core_(std::move(core)) {}

Service::~Service() = default;

void Service::set_rescan_hook(RescanHook hook) {
    core_->manager->set_rescan_hook(std::move(hook));
}

void Service::set_failure_hook(FailureHook hook) {
    core_->loop->set_failure_handler([hook = std::move(hook)](const std::string& why) {
        if (hook) {
            hook(Error(Errc::IoError, "the D-Bus connection failed: " + why));
        }
    });
}

Status Service::added(const daemon::RegisteredDevice& device) {
    return add_device(device.device, device.events);
}

void Service::removed(const std::string& name) {
    if (auto status = remove_device(name); !status.ok()) {
        log::warning(name, ": not removed from the bus: ", status.error().message);
    }
}

void Service::stopped() {
    release_name_and_stop();
}

Status Service::add_device(std::shared_ptr<daemon::ManagedDevice> device,
                           std::shared_ptr<daemon::EventCollector> collector) {
    Core& core = *core_;
    const std::string& name = device->name();
    if (core.stopped) {
        return Error(Errc::DeviceGone, name + " is not exported: cxlmgrd is stopping");
    }
    if (core.devices.count(name) != 0) {
        return Error(Errc::InvalidArgument, name + " is already on the bus");
    }
    const std::string path = device_object_path(name);
    for (const auto& [other, object] : core.devices) {
        if (object->path() == path) {
            return Error(Errc::InvalidArgument, name + " would share the object path " + path +
                                                    " with " + other + "; rename one of them");
        }
    }
    // A removed object of the same path still awaiting its posted destruction goes now: we are
    // not inside one of its handlers (device handlers never add devices).
    core.retiring.erase(path);
    if (!core.options.events) {
        collector.reset();  // no Events interface in this configuration
    }
    CXLMGR_ASSIGN(auto object,
                  DeviceObject::create(core.context, std::move(device), std::move(collector)));
    core.devices.emplace(name, std::move(object));
    return ok_status();
}

Status Service::remove_device(const std::string& name) {
    auto it = core_->devices.find(name);
    if (it == core_->devices.end()) {
        return Error(Errc::NotFound, name + " is not on the bus");
    }
    auto object = std::move(it->second);
    core_->devices.erase(it);
    core_->retire(std::move(object));
    return ok_status();
}

std::vector<std::string> Service::device_names() const {
    std::vector<std::string> names;
    names.reserve(core_->devices.size());
    for (const auto& [name, object] : core_->devices) {
        names.push_back(name);
    }
    return names;
}

Status Service::request_name() {
    if (core_->stopped) {
        return Error(Errc::DeviceGone, "cxlmgrd is stopping");
    }
    try {
        core_->connection->requestName(std::string(kServiceName));
    } catch (const sdbus::Error& e) {
        // sd-bus reports a name owned by another connection as EEXIST, which sdbus-c++ names
        // after the errno.
        const bool taken = e.getName() == "org.freedesktop.DBus.Error.FileExists";
        return Error(taken ? Errc::Busy : Errc::IoError,
                     "cannot take the bus name " + std::string(kServiceName) +
                         (taken ? ": another process owns it (is cxlmgrd running already?)"
                                : ": " + e.getMessage()));
    }
    core_->name_owned = true;
    core_->loop->kick();
    log::info("D-Bus: serving ", kServiceName, " as ", core_->connection->getUniqueName());
    return ok_status();
}

void Service::release_name_and_stop() {
    Core& core = *core_;
    if (core.stopped) {
        return;
    }
    core.stopped = true;
    core.calls->fail_all(to_dbus_error(
        Error(Errc::DeviceGone, "cxlmgrd is stopping; the call was not completed"), "cxlmgrd"));
    // Subscriptions first: their devices are disarmed while the channels still take work.
    if (core.context.subscriptions) {
        core.context.subscriptions->clear();
    }
    while (!core.devices.empty()) {
        auto object = std::move(core.devices.begin()->second);
        core.devices.erase(core.devices.begin());
        core.retire(std::move(object));
    }
    if (core.name_owned) {
        // A synchronous call: sd-bus writes everything queued before it (replies, signals)
        // before the bus answers it.
        try {
            core.connection->releaseName(std::string(kServiceName));
        } catch (const sdbus::Error& e) {
            log::warning("D-Bus: releasing ", kServiceName, " failed: ", e.getMessage());
        }
        core.name_owned = false;
    }
    core.loop->stop();
}

std::string Service::unique_name() const {
    return core_->connection->getUniqueName();
}

size_t Service::pending_call_count() const {
    return core_->calls->size();
}

}  // namespace cxlmgr::dbus
