#include "dbus/manager_object.hpp"

namespace cxlmgr::dbus {

ManagerObject::ManagerObject(ServiceContext& service, std::unique_ptr<sdbus::IObject> object,
                             std::string version, DeviceList devices)
    : Manager_adaptor(*object),
      service_(service),
      object_(std::move(object)),
      alive_(std::make_shared<int>(0)),
      version_(std::move(version)),
      devices_(std::move(devices)) {
    object_->addObjectManager();
    object_->finishRegistration();
}

void ManagerObject::Rescan(sdbus::Result<std::vector<sdbus::ObjectPath>>&& result) {
    const sdbus::Message* message = object_->getCurrentlyProcessedMessage();
    Status allowed = message == nullptr
                         ? Status(Error(Errc::Internal, "authorization outside of a method call"))
                         : service_.authorizer.check(*message, Access::Manage, "Rescan");
    if (!allowed.ok()) {
        result.returnError(to_dbus_error(allowed.error(), "cxlmgrd"));
        return;
    }
    if (!rescan_) {
        result.returnError(make_dbus_error(
            Errc::Unsupported, "cxlmgrd: Rescan is not available in this configuration"));
        return;
    }
    // The hook finishes its additions and removals before calling done; the reply then lists
    // the devices as they are when it reaches the D-Bus thread.
    auto done = service_.calls->defer<std::monostate>(
        std::move(result), CallSubject{"cxlmgrd", alive_},
        [this](std::monostate) -> Result<std::tuple<std::vector<sdbus::ObjectPath>>> {
            return std::tuple<std::vector<sdbus::ObjectPath>>(devices_());
        });
    rescan_([done = std::move(done)](Status status) {
        if (status.ok()) {
            done(std::monostate{});
        } else {
            done(std::move(status).error());
        }
    });
}

}  // namespace cxlmgr::dbus
