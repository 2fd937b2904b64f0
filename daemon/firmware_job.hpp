// A firmware update job: streams an image into a slot through Transfer FW and optionally
// activates it (docs/DESIGN.md "Firmware update").
//
// Every chunk is one Bulk-priority mailbox transaction inside a "firmware" session, so a second
// transfer on the same device cannot interleave while interactive calls (Identify, health) still
// get through between chunks. Chunks are the largest whole 128-byte units that fit the payload
// area; the image is read one chunk ahead (to know which chunk is the last, for End), so at most
// two chunks are in memory.
//
// Cancel is a flag, observed before every read and every chunk and while a background Transfer
// FW is followed; the device-side transfer is then aborted (Transfer FW action 4) so the slot is
// unchanged. A failed transfer is aborted too (best effort: the device may have dropped it
// already). All job logic runs on the device's mailbox strand; status() and cancel() may be
// called from any thread.
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
#include "common/result.hpp"
#include "cxl/commands/firmware.hpp"
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
};

class FirmwareJob : public std::enable_shared_from_this<FirmwareJob> {
    struct Private {};

public:
    // on_change: any thread (the mailbox strand), after a state change or progress (throttled).
    // on_finished: once, after the final state is set.
    using Listener = std::function<void(const JobStatus&)>;

    static std::shared_ptr<FirmwareJob> create(std::shared_ptr<ManagedDevice> device,
                                               std::shared_ptr<ImageSource> image,
                                               FirmwareJobSpec spec);
    FirmwareJob(Private, std::shared_ptr<ManagedDevice> device, std::shared_ptr<ImageSource> image,
                FirmwareJobSpec spec);

    void start(Listener on_change, Listener on_finished);
    // NotCancellable once activating or finished.
    Status cancel();
    [[nodiscard]] JobStatus status() const;
    [[nodiscard]] const std::shared_ptr<ManagedDevice>& device() const { return device_; }

private:
    void choose_slot();
    void read_next();
    void send(std::vector<uint8_t> chunk, bool last);
    void after_transfer();
    void activate();
    void abort_then(JobState state, std::string error);
    void send_abort(unsigned attempt, JobState state, std::string error);
    void refresh_then(std::function<void()> next);
    void finish(JobState state, std::string error);
    void set_state(JobState state);
    void progress(uint64_t bytes_done);
    void notify(bool force);
    TransactionOptions bulk(std::string description) const;

    std::shared_ptr<ManagedDevice> device_;
    std::shared_ptr<ImageSource> image_;
    FirmwareJobSpec spec_;
    CancelToken cancel_;
    Listener on_change_;
    Listener on_finished_;

    // Strand-only.
    std::shared_ptr<Session> session_;
    uint32_t chunk_size_ = 0;
    uint64_t offset_ = 0;
    std::vector<uint8_t> pending_;  // the chunk read ahead, not yet sent
    bool transfer_open_ = false;    // an Initiate was accepted and no End/abort since
    std::chrono::steady_clock::time_point last_notify_{};

    mutable std::mutex mutex_;
    JobStatus status_;
};

// Firmware.Activate outside a job: Activate FW, then Get FW Info so the properties follow.
void activate_firmware(const std::shared_ptr<ManagedDevice>& device, cxl::ActivateMode mode,
                       uint8_t slot, std::function<void(Status)> done);

}  // namespace cxlmgr::daemon
