// One managed device on the bus: /org/cxlmgr1/devices/<id> with org.cxlmgr1.Device, plus
// org.cxlmgr1.Cdat when the device has a CDAT responder and org.cxlmgr1.Emulator when it is
// emulated. Later interfaces (Firmware, Events) are further parts composed the same way.
//
// Lifetime, all on the D-Bus thread: create() exports the object and announces it
// (InterfacesAdded on the root); retire() expires its liveness token (calls still running end
// with DeviceGone, late callbacks find nothing), detaches the property listener and announces
// the removal (InterfacesRemoved); destroying it unregisters it. The owner destroys it later
// than retire(), from a posted handler, since retire() may run inside one of its own handlers.
#pragma once

#include <sdbus-c++/IObject.h>
#include <memory>
#include <string>

#include "daemon/managed_device.hpp"
#include "dbus/cdat_interface.hpp"
#include "dbus/device_interface.hpp"
#include "dbus/emulator_interface.hpp"
#include "dbus/events_interface.hpp"
#include "dbus/firmware_interface.hpp"
#include "dbus/service_context.hpp"

namespace cxlmgr::dbus {

class DeviceObject : public std::enable_shared_from_this<DeviceObject> {
    struct Private {};

public:
    // With a collector (created by the daemon's DeviceRegistry, not started yet) and the
    // service's subscriptions, the object carries org.cxlmgr1.Events, which starts collection
    // once the object can carry the signals. Registration failures (the path already taken on
    // this connection) are sdbus::Errors turned into InvalidArgument.
    static Result<std::shared_ptr<DeviceObject>> create(
        ServiceContext& service, std::shared_ptr<daemon::ManagedDevice> device,
        std::shared_ptr<daemon::EventCollector> collector = nullptr);
    DeviceObject(Private, ServiceContext& service, std::shared_ptr<daemon::ManagedDevice> device);
    ~DeviceObject();
    DeviceObject(const DeviceObject&) = delete;
    DeviceObject& operator=(const DeviceObject&) = delete;

    void retire();

    [[nodiscard]] const std::string& path() const { return path_; }
    [[nodiscard]] const std::string& name() const { return context_.name; }
    [[nodiscard]] const std::shared_ptr<daemon::ManagedDevice>& device() const {
        return context_.device;
    }

private:
    // D-Bus thread: the daemon reported a property change.
    void refresh_properties();

    const std::string path_;
    std::shared_ptr<const void> alive_;  // see DeviceContext::alive
    std::unique_ptr<sdbus::IObject> object_;
    DeviceContext context_;
    bool retired_ = false;
    bool listening_ = false;  // our listener is installed on the device
    // The parts register their members on object_ in their constructors; they are declared
    // after it, so they are destroyed before it. Nothing can call them in between: both
    // happen in one turn of the D-Bus thread.
    std::unique_ptr<DeviceInterface> device_interface_;
    std::unique_ptr<CdatInterface> cdat_interface_;
    std::unique_ptr<EmulatorInterface> emulator_interface_;
    std::unique_ptr<FirmwareInterface> firmware_interface_;
    std::unique_ptr<EventsInterface> events_interface_;
};

}  // namespace cxlmgr::dbus
