// What the objects of the service share. Everything here lives on the D-Bus thread (the one
// running the io_context that drives the connection); only Dispatcher::post may be used from
// other threads.
#pragma once

#include <sdbus-c++/IConnection.h>
#include <sdbus-c++/IObject.h>
#include <boost/asio/io_context.hpp>
#include <memory>
#include <string>

#include "daemon/firmware_image_source.hpp"
#include "daemon/managed_device.hpp"
#include "dbus/authorization.hpp"
#include "dbus/bus_loop.hpp"
#include "dbus/pending_calls.hpp"

namespace cxlmgr::daemon {
class FirmwareUpdates;
}  // namespace cxlmgr::daemon

namespace cxlmgr::dbus {

class JobObjects;
class SubscriptionRegistry;

struct ServiceContext {
    boost::asio::io_context& io;
    sdbus::IConnection& connection;
    std::shared_ptr<BusLoop> loop;
    std::shared_ptr<Dispatcher> dispatcher;
    std::shared_ptr<PendingCalls> calls;
    Authorizer authorizer;
    bool allow_raw_writes = false;
    // Firmware update jobs (org.cxlmgr1.Firmware) and their objects (org.cxlmgr1.Job).
    std::shared_ptr<daemon::FirmwareUpdates> firmware_updates;
    std::shared_ptr<JobObjects> jobs;
    daemon::ImageLimits image_limits;
    // The daemon-wide event subscriptions (org.cxlmgr1.Events); null without event collection.
    std::shared_ptr<SubscriptionRegistry> subscriptions;
};

// One device object's share, handed to each of its interface parts (org.cxlmgr1.Device, .Cdat,
// .Emulator; later .Firmware, .Events). `alive` expires when the object is removed from the bus,
// before the parts are destroyed: work hopping back to the D-Bus thread checks it first.
struct DeviceContext {
    ServiceContext& service;
    sdbus::IObject& object;
    std::shared_ptr<daemon::ManagedDevice> device;
    std::string name;
    std::weak_ptr<const void> alive;

    [[nodiscard]] CallSubject subject() const { return {name, alive}; }

    // Checks the sender of the call being processed for `method` (named with the device in a
    // refusal).
    [[nodiscard]] Status authorize(Access access, std::string_view method) const {
        const sdbus::Message* message = object.getCurrentlyProcessedMessage();
        if (message == nullptr) {
            return Error(Errc::Internal, "authorization outside of a method call");
        }
        return service.authorizer.check(*message, access, std::string(method) + " on " + name);
    }

    // A callable for daemon callbacks (any thread) that runs `f(args...)` on the D-Bus thread
    // if the object is still on the bus by then. It holds no reference to this context, which
    // may be gone when a pool thread calls it.
    template <typename F>
    auto on_dbus_thread_if_alive(F f) const {
        return [dispatcher = service.dispatcher, alive = alive, f = std::move(f)](auto... args) {
            dispatcher->post([alive, f, args...]() mutable {
                if (!alive.expired()) {
                    f(std::move(args)...);
                }
            });
        };
    }
};

}  // namespace cxlmgr::dbus
