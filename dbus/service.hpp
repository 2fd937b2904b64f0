// The org.cxlmgr1 D-Bus service: the root object /org/cxlmgr1 (ObjectManager, Manager) and one
// object per device the daemon serves, served from the io_context of the D-Bus thread (BusLoop,
// no library thread). docs/DBUS.md describes the conventions.
//
// The devices belong to daemon::DeviceRegistry, which opens, rescans and closes them; the
// service is its DeviceSink: it shows a device while the registry serves it and keeps only
// what it needs for that (the device's object, which uses the device and its collector).
//
// Threading: every method of Service must be called on the D-Bus thread (a handler running in
// `io`), or before `io` runs. Daemon callbacks (pool threads) are hopped to that thread
// internally. Destroy the Service on the D-Bus thread or after `io` stopped; `io` must outlive
// it.
//
// Order of use (systemd Type=dbus counts the daemon ready once the name is taken, so the name
// comes last):
//   auto service = Service::create(io, options);   // connects, exports /org/cxlmgr1
//   service->set_rescan_hook(...);                  // optional
//   service->add_device(device, collector);         // for each opened device (DeviceSink::added)
//   service->request_name();                        // org.cxlmgr1: clients may come now
//   ... io.run() ...; add_device/remove_device as devices come and go
//   service->release_name_and_stop();               // DeviceSink::stopped
#pragma once

#include <sys/types.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "daemon/device_sink.hpp"
#include "daemon/firmware_image_source.hpp"
#include "daemon/managed_device.hpp"

namespace cxlmgr::daemon {
class FirmwareUpdates;
class EventCollector;
}  // namespace cxlmgr::daemon

namespace cxlmgr::dbus {

struct ServiceOptions {
    enum class Bus { System, Session, Address };
    Bus bus = Bus::System;
    std::string address;  // Bus::Address only, e.g. "unix:path=/run/test/bus"
    // Pass Device.Command opcodes that change the device (--allow-raw-writes).
    bool allow_raw_writes = false;
    // Members of this group may call the changing methods besides root (Command stays root only).
    std::optional<gid_t> authorized_gid;
    std::string version;  // Manager.Version
    // A deferred call the daemon has not answered after this long ends with Timeout. Transports
    // have their own, much shorter deadlines: this only guards against a lost callback.
    std::chrono::milliseconds call_guard{std::chrono::minutes(5)};
    // Firmware jobs (one per device, crash-recovery markers); null: a table without markers.
    std::shared_ptr<daemon::FirmwareUpdates> firmware_updates;
    daemon::ImageLimits image_limits;
    // org.cxlmgr1.Events: devices added with a collector carry the interface, and clients may
    // subscribe. false: no Events interface.
    bool events = false;
    // How long a finished job object stays on the bus (the contract says at least 60 s).
    std::chrono::milliseconds job_linger{std::chrono::seconds(60)};
};

class Service final : public daemon::DeviceSink {
public:
    // Completion of a rescan; callable from any thread, once.
    using RescanDone = std::function<void(Status)>;
    // Called on the D-Bus thread for Manager.Rescan (after authorization); must not block. It
    // makes its add_device/remove_device calls (on the D-Bus thread) before calling done; the
    // reply then lists the devices. Without a hook, Rescan answers Unsupported.
    using RescanHook = std::function<void(RescanDone done)>;

    // Connects to the bus (without requesting the name) and exports /org/cxlmgr1. IoError when
    // the bus cannot be reached.
    static Result<std::unique_ptr<Service>> create(boost::asio::io_context& io,
                                                   ServiceOptions options);
    ~Service() override;
    Service(const Service&) = delete;
    Service& operator=(const Service&) = delete;

    void set_rescan_hook(RescanHook hook);
    // Called on the D-Bus thread when the connection fails (the bus went away): the daemon
    // cannot serve any more and should stop.
    using FailureHook = std::function<void(const Error&)>;
    void set_failure_hook(FailureHook hook);

    // Exports /org/cxlmgr1/devices/<id> and announces it (InterfacesAdded); with a collector
    // (not started yet) and options.events, with org.cxlmgr1.Events, which starts it.
    // InvalidArgument when a device of that name, or of a name mapping to the same object path,
    // is exported already; DeviceGone after release_name_and_stop().
    Status add_device(std::shared_ptr<daemon::ManagedDevice> device,
                      std::shared_ptr<daemon::EventCollector> collector = nullptr);
    // Announces the removal (InterfacesRemoved); calls in flight on it end with DeviceGone. The
    // object is unregistered from a posted handler (never inside one of its own handlers).
    // NotFound for an unknown name.
    Status remove_device(const std::string& name);
    // Device names exported, sorted.
    [[nodiscard]] std::vector<std::string> device_names() const;

    // Takes org.cxlmgr1. Busy when another process owns it, IoError otherwise.
    Status request_name();
    // Shutdown: ends pending calls with DeviceGone, removes every device object, releases the
    // name (flushing what is queued) and stops serving. Idempotent.
    void release_name_and_stop();

    // daemon::DeviceSink: add_device, remove_device (an unknown name is logged),
    // release_name_and_stop.
    Status added(const daemon::RegisteredDevice& device) override;
    void removed(const std::string& name) override;
    void stopped() override;

    [[nodiscard]] std::string unique_name() const;
    [[nodiscard]] size_t pending_call_count() const;

private:
    struct Core;
    explicit Service(std::shared_ptr<Core> core);
    std::shared_ptr<Core> core_;
};

}  // namespace cxlmgr::dbus
