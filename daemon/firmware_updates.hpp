// The daemon's firmware jobs: at most one per device (a second gets Busy), recovery of
// transfers a crash left half done, and aborting running transfers at shutdown.
//
// Crash recovery (docs/FIRMWARE-UPDATE.md): when a job starts, a marker file
// `<state-dir>/firmware-<device id>.transfer` is written (fsync'd); it is removed when the job
// ends, whatever the outcome. A marker found at start means the daemon died mid-transfer: the
// device may hold a partial transfer, so recover() sends Transfer FW abort, logs it and removes
// the marker before the device is offered on the bus.
//
// Threading: every method may be called from any thread (a mutex guards the table).
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "daemon/firmware_job.hpp"

namespace cxlmgr::daemon {

class FirmwareUpdates : public std::enable_shared_from_this<FirmwareUpdates> {
public:
    // state_dir empty: no markers (tests that do not care).
    explicit FirmwareUpdates(std::filesystem::path state_dir);

    // Creates and starts a job; Busy while another runs on the device. on_change and
    // on_finished as FirmwareJob::start (on_finished runs after the job left the table).
    Result<std::shared_ptr<FirmwareJob>> start(const std::shared_ptr<ManagedDevice>& device,
                                               std::shared_ptr<ImageSource> image,
                                               FirmwareJobSpec spec,
                                               FirmwareJob::Listener on_change,
                                               FirmwareJob::Listener on_finished);

    [[nodiscard]] std::shared_ptr<FirmwareJob> current(const std::string& device) const;

    // Start-up: a marker for this device means a crash mid-transfer: abort the device-side
    // transfer, log it, remove the marker. done(true) when a recovery happened.
    void recover(const std::shared_ptr<ManagedDevice>& device, std::function<void(bool)> done);

    // Shutdown: cancels every running job (each aborts its device-side transfer) and calls
    // done once all have ended. Refuses new jobs from then on.
    void stop_all(std::function<void()> done);

    [[nodiscard]] std::filesystem::path marker_path(const std::string& device) const;

private:
    void write_marker(const std::string& device, uint8_t slot) const;
    void remove_marker(const std::string& device) const;
    void ended(const std::string& device);

    std::filesystem::path state_dir_;
    mutable std::mutex mutex_;
    std::map<std::string, std::shared_ptr<FirmwareJob>> running_;
    bool stopping_ = false;
    std::function<void()> all_ended_;
};

}  // namespace cxlmgr::daemon
