// Job objects: /org/cxlmgr1/jobs/<n> with org.cxlmgr1.Job (docs/API.md), n counting from 1
// per daemon run.
//
// A job object shows the daemon job's status as last reported (a Get never disagrees with the
// PropertiesChanged a client saw), emits Finished once when the job ends, and stays on the bus
// for `linger` after that (clients that poll still see the outcome) before InterfacesRemoved.
// Everything here runs on the D-Bus thread; daemon reports are hopped over by the Dispatcher.
#pragma once

#include <dbus/generated/Job_adaptor.h>
#include <sdbus-c++/IObject.h>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "daemon/firmware_job.hpp"
#include "dbus/authorization.hpp"

namespace cxlmgr::dbus {

struct ServiceContext;
class JobObjects;

class JobObject final : public sdbus::AdaptorInterfaces<org::cxlmgr1::Job_adaptor> {
public:
    JobObject(ServiceContext& service, std::string path, std::string device_path,
              std::shared_ptr<daemon::FirmwareJob> job);
    ~JobObject();

    // Shows `now`; emits PropertiesChanged for what changed and Finished on the final state.
    // Returns true when the job has just finished.
    bool update(const daemon::JobStatus& now);
    [[nodiscard]] const std::string& path() const { return path_; }
    [[nodiscard]] bool finished() const { return finished_; }
    // InterfacesRemoved, before the object is destroyed.
    void announce_removal();

private:
    std::string Kind() override { return "firmware-update"; }
    sdbus::ObjectPath Device() override { return device_path_; }
    std::string State() override;
    double Progress() override { return shown_.progress(); }
    uint64_t BytesDone() override { return shown_.bytes_done; }
    uint64_t BytesTotal() override { return shown_.bytes_total; }
    std::string Error() override { return shown_.error; }
    uint64_t StartedAt() override { return started_at_us_; }
    bool Cancelable() override { return shown_.cancelable(); }
    void Cancel() override;

    ServiceContext& service_;
    std::string path_;
    std::string device_path_;
    std::shared_ptr<daemon::FirmwareJob> job_;
    daemon::JobStatus shown_;
    uint64_t started_at_us_;
    bool finished_ = false;
};

// The table of job objects. Owned by the service context.
class JobObjects : public std::enable_shared_from_this<JobObjects> {
public:
    JobObjects(ServiceContext& service, std::chrono::milliseconds linger);
    ~JobObjects();

    // The path the next job object gets ("/org/cxlmgr1/jobs/<n>").
    std::string reserve_path();
    // Exports a job object for `job` at a reserved path and announces it.
    Status add(const std::string& path, const std::string& device_path,
               std::shared_ptr<daemon::FirmwareJob> job);
    // A report from the daemon (any thread): posted to the D-Bus thread. `done` runs there after
    // the object showed the final state (for the device's CurrentJob).
    std::function<void(const daemon::JobStatus&)> reporter(const std::string& path);
    void on_finished(const std::string& path, std::function<void()> done);
    // Removes every job object at once (service stopping).
    void clear();

private:
    void show(const std::string& path, const daemon::JobStatus& status);
    void remove_later(const std::string& path);

    ServiceContext& service_;
    std::chrono::milliseconds linger_;
    uint64_t next_ = 1;
    std::map<std::string, std::unique_ptr<JobObject>> objects_;
    std::map<std::string, std::function<void()>> finished_hooks_;
    std::map<std::string, std::unique_ptr<boost::asio::steady_timer>> timers_;
};

}  // namespace cxlmgr::dbus
