// The owner of every managed device, from its opening to its closing, in one place:
//
//   open      the device's transport (DeviceSpec -> OpenedDevice), then its channels and
//             mailbox (ManagedDevice::async_open) on the registry's arbiter;
//   recover   a firmware transfer a crash left half done is aborted (FirmwareUpdates::recover)
//             before anyone sees the device;
//   export    its event collector is created (EventHub) and the device handed to the sink
//             (DeviceSink::added), in the order the devices were asked for;
//   rescan    devices the discovery finds that are not managed are opened and exported; a
//             managed real device it no longer finds is marked gone, its collector stopped,
//             its channels drained, and then it leaves the sink (DeviceSink::removed); one that
//             comes back later is opened again, as a new ManagedDevice. Emulated devices do not
//             come and go;
//   shutdown  one order, the same whatever made the daemon stop (ShutdownStep, below).
//
// Discovery and the transport's opening are functions of the options, so tests make devices
// appear, vanish and return without hardware.
//
// Threading: the registry's state lives on its executor, which must be serial (cxlmgrd: the
// D-Bus thread's io_context). Its methods may be called from any thread; their callbacks and the
// sink's calls run on that executor. Start, rescans and the shutdown each take the device table
// in turn, in the order they were asked for, so a rescan never sees a half-opened start and the
// shutdown waits for whatever open is still in flight.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/coro.hpp"
#include "common/result.hpp"
#include "daemon/arbiter.hpp"
#include "daemon/config.hpp"
#include "daemon/device_factory.hpp"
#include "daemon/device_sink.hpp"
#include "daemon/managed_device.hpp"

namespace cxlmgr::daemon {

class EventHub;
class FirmwareUpdates;

// The shutdown, in this order and only this order:
enum class ShutdownStep {
    Settle,        // the start or rescan in progress finishes (its new devices are closed)
    FirmwareJobs,  // running firmware transfers are cancelled and end (FirmwareUpdates::stop_all)
    Collectors,    // event collection stops and armed devices are disarmed (EventHub::stop_all):
                   // disarming needs the channels still open
    EventJournal,  // the journal thread finishes what the collectors gave it (EventHub::drain):
                   // its handlers post to the pool and hold collectors, whose timers belong to
                   // the pool, so none may be left when the pool stops
    Channels,      // every device's channels drain (ManagedDevice::close)
    BusObjects,    // every device leaves the sink (DeviceSink::removed), then DeviceSink::stopped
    Pool,          // the arbiter's threads finish what was posted to them and stop
    Done,          // the registry lets go of every device; destroying objects is safe now
};
std::string_view shutdown_step_name(ShutdownStep step);  // "ending firmware transfers", ...

struct DeviceRegistryOptions {
    ManagedDeviceOptions device;
    unsigned pool_threads = 2;
    // Opens a device's transport; tests make emulated devices stand for real ones.
    std::function<Result<OpenedDevice>(const DeviceSpec&)> open = open_device;
    // The real devices present now (cxlmgrd: libpci discovery), for rescan; null: Rescan is
    // Unsupported.
    std::function<Result<std::vector<DeviceSpec>>()> discover;
    // Transfer markers recovered at open, jobs ended at shutdown; null: no firmware jobs.
    std::shared_ptr<FirmwareUpdates> firmware;
    // A collector per device; null: no event collection.
    std::shared_ptr<EventHub> events;
    // Called on the executor as each shutdown step begins (cxlmgrd: systemd's STATUS line).
    std::function<void(ShutdownStep)> on_shutdown_step;
};

class DeviceRegistry : public std::enable_shared_from_this<DeviceRegistry> {
    struct Private {};

public:
    using Done = std::function<void(Status)>;

    static std::shared_ptr<DeviceRegistry> create(boost::asio::any_io_executor executor,
                                                  std::shared_ptr<DeviceSink> sink,
                                                  DeviceRegistryOptions options);
    DeviceRegistry(Private, boost::asio::any_io_executor executor, std::shared_ptr<DeviceSink> sink,
                   DeviceRegistryOptions options);
    ~DeviceRegistry();
    DeviceRegistry(const DeviceRegistry&) = delete;
    DeviceRegistry& operator=(const DeviceRegistry&) = delete;

    // Opens every device of `specs` at once and exports each, in the order of `specs`, once it
    // is open and recovered. A device that cannot be opened or exported is logged and skipped.
    // done: ok once every device was handled; DeviceGone when the shutdown began first (the
    // devices opened by then are closed, not exported). Call once.
    void start(std::vector<DeviceSpec> specs, Done done);

    // Manager.Rescan (header comment). done once the additions and removals are made: the
    // sink shows the devices as they are now. Unsupported without a discovery function,
    // DeviceGone once the shutdown began, the discovery's error if it fails.
    void rescan(Done done);

    // Runs the shutdown (ShutdownStep) and calls done once it is over; `reason` goes to the log.
    // Every way out of the daemon comes here. A second call waits for the first; done runs at
    // once (posted) when the shutdown is over already.
    void shutdown(std::string reason, std::function<void()> done);

    // On the executor: the devices exported now, in the order they were exported.
    [[nodiscard]] std::vector<std::shared_ptr<ManagedDevice>> devices() const;

private:
    struct Entry {
        DeviceSpec spec;
        std::shared_ptr<ManagedDevice> device;
        std::shared_ptr<EventCollector> events;
    };
    using Self = std::shared_ptr<DeviceRegistry>;  // what a sequence holds to keep us alive

    // The sequences. Each takes `self` (this registry), which keeps the registry alive for it.
    Task<Status> run_start(Self self, std::vector<DeviceSpec> specs);
    Task<Status> run_rescan(Self self);
    Task<Status> rescan_devices(Self self);
    Task<Status> run_shutdown(Self self, std::string reason);
    // Opens every spec at once, then exports them in the order of `specs`.
    Task<Status> open_and_export(Self self, std::vector<DeviceSpec> specs);
    // Transport, channels and mailbox, then firmware recovery.
    Task<Result<std::shared_ptr<ManagedDevice>>> open_one(Self self, DeviceSpec spec);
    // Collector, then the sink; the device is closed instead when stopping or refused.
    Task<void> export_one(Self self, DeviceSpec spec, std::shared_ptr<ManagedDevice> device);
    // A vanished device: gone, collection stopped, channels drained, then it leaves the sink.
    Task<void> remove_one(Self self, Entry entry, std::string why);

    // The device table is taken by one sequence at a time, first come first served.
    Task<Status> take_table(Self self);
    void release_table();

    void step(ShutdownStep step);

    boost::asio::any_io_executor executor_;
    std::shared_ptr<DeviceSink> sink_;
    DeviceRegistryOptions options_;
    std::unique_ptr<Arbiter> arbiter_;

    // Executor-only state.
    std::vector<Entry> entries_;                    // exported, in export order
    std::map<std::string, DeviceSpec> configured_;  // real devices by address: a device that
                                                    // returns keeps its configured backend
    bool table_taken_ = false;
    std::deque<std::function<void()>> table_waiters_;
    bool stopping_ = false;
    bool stopped_ = false;
    std::vector<std::function<void()>> shutdown_waiters_;
};

}  // namespace cxlmgr::daemon
