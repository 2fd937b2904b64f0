// What the device registry (device_registry.hpp) tells the layer that shows its devices: in
// cxlmgrd that is dbus::Service, which puts one object per device on the bus. The daemon core
// knows no D-Bus; this interface is all it says to it.
//
// Every call is made on the registry's executor (the D-Bus thread in cxlmgrd) and never from
// inside a call the sink is handling for one of its own objects.
#pragma once

#include <memory>
#include <string>

#include "common/result.hpp"

namespace cxlmgr::daemon {

class ManagedDevice;
class EventCollector;

// A device the registry serves, as the sink gets it.
struct RegisteredDevice {
    std::shared_ptr<ManagedDevice> device;
    // Its event collector, created but not started: whoever shows the events sets the listener
    // and starts it. The registry stops it. Null when the daemon collects no events.
    std::shared_ptr<EventCollector> events;
};

class DeviceSink {
public:
    virtual ~DeviceSink() = default;

    // A device is open, recovered and ready. An error: it is not shown; the registry logs it,
    // closes the device and serves the others.
    virtual Status added(const RegisteredDevice& device) = 0;

    // The device leaves (it vanished from the bus, or the daemon stops). Its channels are closed
    // already, so nothing sent to it gets through any more. The sink lets go of the device and
    // its collector, at once or in handlers it posts to the registry's executor before
    // returning: the registry lets those run before it stops the pool the device's work runs on.
    virtual void removed(const std::string& name) = 0;

    // Shutdown, after every device was removed: nothing is added any more. The sink ends what it
    // still has pending and stops serving.
    virtual void stopped() = 0;
};

}  // namespace cxlmgr::daemon
