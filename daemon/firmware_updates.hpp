// The daemon's firmware jobs: at most one per device (a second gets Busy), recovery of
// transfers a crash left half done, and aborting running transfers at shutdown.
//
// A job is made in two steps so that its D-Bus object can be exported between them: prepare()
// reserves the device for a new job (Busy while another holds it) and hands back a
// PendingUpdate; nothing reaches the device and no marker is written until PendingUpdate::start.
// A PendingUpdate dropped unstarted gives the device back.
//
// A job leaves the table (and its marker is removed) before its final state is passed on: a
// caller who learns that a job ended can start the next one at once.
//
// Crash recovery (docs/FIRMWARE-UPDATE.md): when a job starts, a marker file
// `<state-dir>/firmware-<device id>.transfer` is written (fsync'd). It is removed when the job
// ends with no transfer open on the device: completed, or failed or cancelled with its abort
// confirmed (daemon/firmware_abort.hpp). A marker found at start means the daemon died
// mid-transfer, or gave up aborting: the device may hold a partial transfer, so recover()
// aborts it, asking again while the device answers "not now", and removes the marker only once
// the device confirmed, before the device is offered on the bus. Without a confirmation the
// marker stays for the next start, and an error names the device and the open transfer.
//
// Checks before anything reaches the device (daemon/firmware_target.hpp): prepare() refuses a
// target slot the device's firmware information (as last read) rules out, check_activate() a
// slot to activate.
//
// Threading: every method may be called from any thread (a mutex guards the table).
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "daemon/firmware_abort.hpp"
#include "daemon/firmware_job.hpp"

namespace cxlmgr::daemon {

class FirmwareUpdates;

// A job holding its device's place in the table, not started yet. Move-only.
class PendingUpdate {
public:
    PendingUpdate(PendingUpdate&& other) noexcept = default;
    PendingUpdate& operator=(PendingUpdate&&) = delete;
    PendingUpdate(const PendingUpdate&) = delete;
    PendingUpdate& operator=(const PendingUpdate&) = delete;
    // Unstarted: gives the device back (no marker was written, nothing reached the device).
    ~PendingUpdate();

    [[nodiscard]] const std::shared_ptr<FirmwareJob>& job() const { return job_; }

    // Writes the marker and starts the job; on_change and on_finished as FirmwareJob::start
    // (on_finished runs after the job left the table and its marker was removed).
    void start(FirmwareJob::Listener on_change, FirmwareJob::Listener on_finished) &&;

private:
    friend class FirmwareUpdates;
    PendingUpdate(std::shared_ptr<FirmwareUpdates> owner, std::shared_ptr<FirmwareJob> job,
                  uint8_t slot)
        : owner_(std::move(owner)), job_(std::move(job)), slot_(slot) {}

    std::shared_ptr<FirmwareUpdates> owner_;  // null once started or moved from
    std::shared_ptr<FirmwareJob> job_;
    uint8_t slot_ = 0;
};

class FirmwareUpdates : public std::enable_shared_from_this<FirmwareUpdates> {
public:
    // state_dir empty: no markers (tests that do not care). abort_retry: how long transfer
    // aborts (jobs' and recovery's) are asked again.
    explicit FirmwareUpdates(std::filesystem::path state_dir, AbortRetry abort_retry = {});

    // Makes a job and reserves the device for it. InvalidArgument for a target slot the
    // device's firmware information rules out (update_target_slot; not checked while that
    // information is unknown: the job reads it again before its first part and checks then).
    // Busy while another job holds the device, DeviceGone once stop_all() was called.
    Result<PendingUpdate> prepare(const std::shared_ptr<ManagedDevice>& device,
                                  std::shared_ptr<ImageSource> image, FirmwareJobSpec spec);

    // prepare() and PendingUpdate::start() at once.
    Result<std::shared_ptr<FirmwareJob>> start(const std::shared_ptr<ManagedDevice>& device,
                                               std::shared_ptr<ImageSource> image,
                                               FirmwareJobSpec spec,
                                               FirmwareJob::Listener on_change,
                                               FirmwareJob::Listener on_finished);

    // The job holding the device (started or not), if any.
    [[nodiscard]] std::shared_ptr<FirmwareJob> current(const std::string& device) const;

    // prepare()'s check of the target slot alone, for callers that want it before they open
    // the image. While the firmware information is unknown only slots beyond the protocol's
    // four are refused.
    Status check_target(const std::shared_ptr<ManagedDevice>& device, uint8_t slot) const;

    // Firmware.Activate's checks: InvalidArgument for a slot that does not exist (from the
    // firmware information as last read; nothing is checked while it is unknown), Busy while
    // a job holds the device.
    Status check_activate(const std::shared_ptr<ManagedDevice>& device, uint8_t slot) const;

    // Start-up: a marker for this device means a transfer may be open on the device: abort it
    // (asking again until confirmed or abort_retry.deadline), log it, and remove the marker
    // once the device confirmed. done(true) when a marker was found.
    void recover(const std::shared_ptr<ManagedDevice>& device, std::function<void(bool)> done);

    // Shutdown: cancels every job in the table (each aborts its device-side transfer) and calls
    // done once all have left it. Refuses new jobs from then on.
    void stop_all(std::function<void()> done);

    [[nodiscard]] std::filesystem::path marker_path(const std::string& device) const;

private:
    friend class PendingUpdate;
    void launch(const std::shared_ptr<FirmwareJob>& job, uint8_t slot,
                FirmwareJob::Listener on_change, FirmwareJob::Listener on_finished);
    Task<Status> abort_interrupted(std::shared_ptr<ManagedDevice> device);
    // A job's end: the marker goes unless the job's abort was not confirmed.
    void job_ended(const std::string& device, const JobStatus& status);
    void write_marker(const std::string& device, uint8_t slot) const;
    void remove_marker(const std::string& device) const;
    // The job of `device` leaves the table.
    void leave(const std::string& device);

    const std::filesystem::path state_dir_;
    const AbortRetry abort_retry_;
    mutable std::mutex mutex_;
    std::map<std::string, std::shared_ptr<FirmwareJob>> jobs_;  // by device name
    bool stopping_ = false;
    std::function<void()> all_ended_;
};

}  // namespace cxlmgr::daemon
