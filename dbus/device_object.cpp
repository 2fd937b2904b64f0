#include "dbus/device_object.hpp"

#include <sdbus-c++/Error.h>

#include "common/log.hpp"
#include "dbus/object_paths.hpp"

namespace cxlmgr::dbus {

DeviceObject::DeviceObject(Private, ServiceContext& service,
                           std::shared_ptr<daemon::ManagedDevice> device)
    : path_(device_object_path(device->name())),
      alive_(std::make_shared<int>(0)),
      object_(sdbus::createObject(service.connection, path_)),
      context_{service, *object_, device, device->name(), alive_} {}

DeviceObject::~DeviceObject() {
    // Only our own listener is detached: a failed export must not silence another object's.
    if (listening_ && !retired_) {
        context_.device->set_properties_listener(nullptr);
    }
}

Result<std::shared_ptr<DeviceObject>> DeviceObject::create(
    ServiceContext& service, std::shared_ptr<daemon::ManagedDevice> device,
    std::shared_ptr<daemon::EventCollector> collector) {
    auto self = std::make_shared<DeviceObject>(Private{}, service, device);
    try {
        self->device_interface_ = std::make_unique<DeviceInterface>(self->context_);
        if (device->has_cdat()) {
            self->cdat_interface_ = std::make_unique<CdatInterface>(self->context_);
        }
        self->firmware_interface_ = std::make_unique<FirmwareInterface>(self->context_);
        if (auto emulator = daemon::EmulatorControl::of(*device)) {
            self->emulator_interface_ =
                std::make_unique<EmulatorInterface>(self->context_, std::move(emulator));
        }
        if (collector && service.subscriptions) {
            self->events_interface_ = std::make_unique<EventsInterface>(
                self->context_, std::move(collector), service.subscriptions);
        }
        self->object_->finishRegistration();
        // InterfacesAdded carries every property, so the Cdat ones would start their read
        // anyway; starting it first says so.
        if (self->cdat_interface_) {
            self->cdat_interface_->prefetch();
        }
        self->object_->emitInterfacesAddedSignal();
        // Collection starts once the object can carry the signals.
        if (self->events_interface_) {
            self->events_interface_->start();
        }
    } catch (const sdbus::Error& e) {
        return Error(Errc::InvalidArgument, device->name() + ": cannot export " + self->path_ +
                                                ": " + e.getName() + ": " + e.getMessage());
    }
    // Installed after the object exists, and reading the properties again afterwards, so a
    // change in between is never lost.
    std::weak_ptr<DeviceObject> weak = self;
    device->set_properties_listener([dispatcher = service.dispatcher, weak] {
        dispatcher->post([weak] {
            if (auto object = weak.lock(); object && !object->retired_) {
                object->refresh_properties();
            }
        });
    });
    self->listening_ = true;
    self->refresh_properties();
    service.loop->kick();
    log::info(device->name(), ": exported as ", self->path_);
    return self;
}

void DeviceObject::refresh_properties() {
    auto properties = context_.device->properties();
    auto changed = device_interface_->update(properties);
    auto firmware_changed = firmware_interface_->update(properties);
    if (changed.empty() && firmware_changed.empty()) {
        return;
    }
    if (!changed.empty()) {
        object_->emitPropertiesChangedSignal(org::cxlmgr1::Device_adaptor::INTERFACE_NAME, changed);
    }
    if (!firmware_changed.empty()) {
        object_->emitPropertiesChangedSignal(org::cxlmgr1::Firmware_adaptor::INTERFACE_NAME,
                                             firmware_changed);
    }
    context_.service.loop->kick();
}

void DeviceObject::retire() {
    if (retired_) {
        return;
    }
    retired_ = true;
    alive_.reset();
    if (listening_) {
        context_.device->set_properties_listener(nullptr);
    }
    try {
        object_->emitInterfacesRemovedSignal();
    } catch (const sdbus::Error& e) {
        // Only a broken connection makes the emission fail; the object goes regardless.
        log::warning(context_.name, ": InterfacesRemoved not sent: ", e.getMessage());
    }
    context_.service.loop->kick();
    log::info(context_.name, ": removed from the bus");
}

}  // namespace cxlmgr::dbus
