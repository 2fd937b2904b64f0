// The root object /org/cxlmgr1: org.freedesktop.DBus.ObjectManager (device objects below it
// are announced with InterfacesAdded/InterfacesRemoved from here) and org.cxlmgr1.Manager.
#pragma once

#include <dbus/generated/Manager_adaptor.h>
#include <sdbus-c++/IObject.h>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "dbus/service_context.hpp"

namespace cxlmgr::dbus {

class ManagerObject final : public org::cxlmgr1::Manager_adaptor {
public:
    using RescanDone = std::function<void(Status)>;
    using RescanHook = std::function<void(RescanDone)>;
    using DeviceList = std::function<std::vector<sdbus::ObjectPath>()>;

    // Exports the root object. `devices` lists the device objects, sorted by device name.
    ManagerObject(ServiceContext& service, std::unique_ptr<sdbus::IObject> object,
                  std::string version, DeviceList devices);
    virtual ~ManagerObject() = default;

    void set_rescan_hook(RescanHook hook) { rescan_ = std::move(hook); }

private:
    std::vector<sdbus::ObjectPath> ListDevices() override { return devices_(); }
    void Rescan(sdbus::Result<std::vector<sdbus::ObjectPath>>&& result) override;
    std::string Version() override { return version_; }

    ServiceContext& service_;
    std::unique_ptr<sdbus::IObject> object_;
    std::shared_ptr<const void> alive_;  // the root lives as long as the service
    std::string version_;
    DeviceList devices_;
    RescanHook rescan_;
};

}  // namespace cxlmgr::dbus
