// A firmware update job: streams an image into a slot through Transfer FW and optionally
// activates it (docs/FIRMWARE-UPDATE.md).
//
// The job is one coroutine on the device's mailbox strand and follows the protocol step by step:
// Get FW Info (choose the slot), then the Transfer FW parts (Initiate, Continue..., End; Full
// when the image fits one part), then Activate FW if asked, then Get FW Info again so the
// device's properties follow. On cancel or failure after an Initiate, the device-side transfer
// is aborted until the device confirms it (daemon/firmware_abort.hpp) so the slot is unchanged;
// an abort never confirmed shows as JobStatus::transfer_left_open.
//
// Every part is one Bulk-priority mailbox transaction inside a "firmware" session, so a second
// transfer on the same device cannot interleave while interactive calls (Identify, health) still
// get through between parts, and while a part runs in the background (the channel's background
// slot, daemon/channel.hpp). Parts are the largest whole 128-byte units that fit the payload
// area; the image is read one part ahead (to know which part is the last, for End), so at most
// two parts are in memory.
//
// Cancel is a flag, observed before every read and every part and while a background Transfer
// FW is followed: a part running in the background is then ended with Request Abort Background
// Operation where the device lists it (ManagedDevice does that), or waited out where not,
// before the transfer is aborted. Once activating, the job can no longer be cancelled
// (NotCancellable).
// status() and cancel() may be called from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/cancel.hpp"
#include "common/coro.hpp"
#include "common/result.hpp"
#include "cxl/commands/firmware.hpp"
#include "daemon/firmware_abort.hpp"
#include "daemon/firmware_image_source.hpp"
#include "daemon/managed_device.hpp"

namespace cxlmgr::daemon {

enum class JobState { Queued, Running, Activating, Completed, Failed, Cancelled };
std::string_view job_state_name(JobState state);  // "queued", "running", ...
[[nodiscard]] inline bool job_state_final(JobState s) {
    return s == JobState::Completed || s == JobState::Failed || s == JobState::Cancelled;
}

struct JobStatus {
    JobState state = JobState::Queued;
    uint64_t bytes_done = 0;
    uint64_t bytes_total = 0;  // 0 while unknown (an image from a pipe, until its end)
    std::string error;         // empty unless failed
    uint8_t slot = 0;          // the slot written, once chosen
    // Final states only: the job's abort of its device-side transfer was not confirmed, so a
    // transfer may still be open there (daemon/firmware_abort.hpp).
    bool transfer_left_open = false;
    [[nodiscard]] bool cancelable() const {
        return state == JobState::Queued || state == JobState::Running;
    }
    [[nodiscard]] double progress() const;
};

struct FirmwareJobSpec {
    uint8_t slot = 0;  // 0 = the first slot neither active nor staged
    std::optional<cxl::ActivateMode> activate;
    std::chrono::milliseconds background_timeout = cxl::kFirmwareBackgroundTimeout;
    // Progress reports are at most this frequent (state changes are always reported).
    std::chrono::milliseconds progress_interval{50};
    // How long the abort after a failure or cancel mid-transfer is asked again.
    AbortRetry abort_retry;
};

class FirmwareJob : public std::enable_shared_from_this<FirmwareJob> {
    struct Private {};

public:
    // Both run on the mailbox strand (a pool thread).
    // on_change: after a state change or progress (at most every spec.progress_interval) while
    //   the job runs; never with the final state.
    // on_finished: once, with the final state (which status() shows from then on), after the
    //   job let go of the device: its session is closed and its image released. The final
    //   state goes nowhere else, so whoever keeps the table of running jobs (FirmwareUpdates)
    //   takes the job out of it here before passing the state on: whoever hears of the end
    //   finds the device free.
    using Listener = std::function<void(const JobStatus&)>;

    static std::shared_ptr<FirmwareJob> create(std::shared_ptr<ManagedDevice> device,
                                               std::shared_ptr<ImageSource> image,
                                               FirmwareJobSpec spec);
    FirmwareJob(Private, std::shared_ptr<ManagedDevice> device, std::shared_ptr<ImageSource> image,
                FirmwareJobSpec spec);

    // Runs the job; call once. Nothing reaches the device before this.
    void start(Listener on_change, Listener on_finished);
    // NotCancellable once activating or finished. Before start(), the job ends Cancelled at
    // once when started.
    Status cancel();
    [[nodiscard]] JobStatus status() const;
    [[nodiscard]] const std::shared_ptr<ManagedDevice>& device() const { return device_; }

private:
    // The whole job: ok once the image is in the slot (and activated, if asked); Cancelled, or
    // the error that failed it.
    Task<Status> run();
    Task<Result<uint8_t>> choose_slot();
    // The parts, from the first read to the End (or Full) part.
    Task<Status> transfer(uint8_t slot);
    // The next `size` bytes of the image, fewer at its end, none past it.
    Task<Result<std::vector<uint8_t>>> read_part(uint32_t size);
    Task<Status> send_part(std::vector<uint8_t> data, uint8_t slot, bool last);
    Task<Status> activate(cxl::ActivateMode mode, uint8_t slot);
    // Transfer FW Abort when an Initiate may have left a partial transfer on the device.
    Task<void> abort_open_transfer();
    void finish(Status outcome);
    void set_state(JobState state);
    void progress(uint64_t bytes_done);
    void notify(bool force);
    TransactionOptions bulk(std::string description) const;

    const std::shared_ptr<ManagedDevice> device_;
    std::shared_ptr<ImageSource> image_;
    const FirmwareJobSpec spec_;
    CancelToken cancel_;
    Listener on_change_;
    Listener on_finished_;

    // Strand-only.
    std::shared_ptr<Session> session_;
    uint32_t payload_size_ = 0;
    uint64_t offset_ = 0;         // bytes the device has taken
    bool transfer_open_ = false;  // an Initiate was sent and no End, Full or abort since
    std::chrono::steady_clock::time_point last_notify_{};

    mutable std::mutex mutex_;
    JobStatus status_;
};

// Firmware.Activate outside a job: Activate FW, then Get FW Info so the properties follow.
// done runs on the mailbox strand.
void activate_firmware(const std::shared_ptr<ManagedDevice>& device, cxl::ActivateMode mode,
                       uint8_t slot, std::function<void(Status)> done);

}  // namespace cxlmgr::daemon
