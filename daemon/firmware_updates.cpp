#include "daemon/firmware_updates.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <fstream>

#include "common/errno_text.hpp"
#include "common/log.hpp"
#include "common/unique_fd.hpp"
#include "daemon/firmware_target.hpp"

namespace cxlmgr::daemon {

namespace {

// The same id as the device's object path: safe as a file name whatever the device name holds.
std::string device_id(const std::string& name) {
    std::string id = name;
    for (char& c : id) {
        bool ok =
            (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
        if (!ok) {
            c = '_';
        }
    }
    return id;
}

}  // namespace

FirmwareUpdates::FirmwareUpdates(std::filesystem::path state_dir, AbortRetry abort_retry)
    : state_dir_(std::move(state_dir)), abort_retry_(abort_retry) {}

std::filesystem::path FirmwareUpdates::marker_path(const std::string& device) const {
    return state_dir_ / ("firmware-" + device_id(device) + ".transfer");
}

void FirmwareUpdates::write_marker(const std::string& device, uint8_t slot) const {
    if (state_dir_.empty()) {
        return;
    }
    auto path = marker_path(device);
    UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    if (!fd.valid()) {
        // Without the marker only crash recovery is lost; the update itself can go on.
        log::warning(device, ": cannot write ", path.string(), ": ", errno_text(errno));
        return;
    }
    std::string text = "device " + device + "\nslot " + std::to_string(slot) + "\npid " +
                       std::to_string(::getpid()) + "\n";
    if (::write(fd.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size()) ||
        ::fsync(fd.get()) != 0) {
        log::warning(device, ": cannot write ", path.string(), ": ", errno_text(errno));
    }
}

void FirmwareUpdates::remove_marker(const std::string& device) const {
    if (state_dir_.empty()) {
        return;
    }
    std::error_code ec;
    std::filesystem::remove(marker_path(device), ec);
    if (ec) {
        log::warning(device, ": cannot remove ", marker_path(device).string(), ": ", ec.message());
    }
}

PendingUpdate::~PendingUpdate() {
    if (owner_) {
        owner_->leave(job_->device()->name());
    }
}

void PendingUpdate::start(FirmwareJob::Listener on_change, FirmwareJob::Listener on_finished) && {
    auto owner = std::move(owner_);
    owner->launch(job_, slot_, std::move(on_change), std::move(on_finished));
}

Result<PendingUpdate> FirmwareUpdates::prepare(const std::shared_ptr<ManagedDevice>& device,
                                               std::shared_ptr<ImageSource> image,
                                               FirmwareJobSpec spec) {
    const std::string& name = device->name();
    CXLMGR_CHECK(check_target(device, spec.slot));
    spec.abort_retry = abort_retry_;
    std::lock_guard lock(mutex_);
    if (stopping_) {
        return Error(Errc::DeviceGone, "the daemon is stopping");
    }
    if (jobs_.count(name) != 0) {
        return Error(Errc::Busy, "a firmware update is already running on " + name);
    }
    auto job = FirmwareJob::create(device, std::move(image), spec);
    jobs_[name] = job;
    return PendingUpdate(shared_from_this(), std::move(job), spec.slot);
}

Result<std::shared_ptr<FirmwareJob>> FirmwareUpdates::start(
    const std::shared_ptr<ManagedDevice>& device, std::shared_ptr<ImageSource> image,
    FirmwareJobSpec spec, FirmwareJob::Listener on_change, FirmwareJob::Listener on_finished) {
    CXLMGR_ASSIGN(PendingUpdate pending, prepare(device, std::move(image), spec));
    auto job = pending.job();
    std::move(pending).start(std::move(on_change), std::move(on_finished));
    return job;
}

void FirmwareUpdates::launch(const std::shared_ptr<FirmwareJob>& job, uint8_t slot,
                             FirmwareJob::Listener on_change, FirmwareJob::Listener on_finished) {
    const std::string name = job->device()->name();
    // Written before the first Transfer FW can reach the device.
    write_marker(name, slot);
    job->start(std::move(on_change),
               [self = shared_from_this(), name,
                on_finished = std::move(on_finished)](const JobStatus& status) {
                   // Out of the table, marker settled, and only then the final state goes on:
                   // whoever hears of it may start the next update on this device at once.
                   self->job_ended(name, status);
                   self->leave(name);
                   if (on_finished) {
                       on_finished(status);
                   }
               });
}

void FirmwareUpdates::job_ended(const std::string& device, const JobStatus& status) {
    if (!status.transfer_left_open) {
        remove_marker(device);
        return;
    }
    // ManagedDevice has no state for "a transfer is open": the log and the marker carry it,
    // and the next start (or the next job's own abort after a refused Initiate) ends it.
    log::error(device,
               ": a firmware transfer is still open on the device (its abort was not "
               "confirmed); ",
               marker_path(device).string(), " stays, and the next start aborts it again");
}

void FirmwareUpdates::leave(const std::string& device) {
    std::function<void()> all_ended;
    {
        std::lock_guard lock(mutex_);
        jobs_.erase(device);
        if (stopping_ && jobs_.empty()) {
            all_ended = std::move(all_ended_);
            all_ended_ = nullptr;
        }
    }
    if (all_ended) {
        all_ended();
    }
}

std::shared_ptr<FirmwareJob> FirmwareUpdates::current(const std::string& device) const {
    std::lock_guard lock(mutex_);
    auto it = jobs_.find(device);
    return it == jobs_.end() ? nullptr : it->second;
}

Status FirmwareUpdates::check_target(const std::shared_ptr<ManagedDevice>& device,
                                     uint8_t slot) const {
    const auto fw = device->properties().firmware;
    if (!fw) {
        if (slot > cxl::kMaxFwSlots) {
            return Error(Errc::InvalidArgument, device->name() + ": slot " + std::to_string(slot) +
                                                    " does not exist (a device has at most " +
                                                    std::to_string(cxl::kMaxFwSlots) + " slots)");
        }
        return ok_status();
    }
    // The job chooses slot 0's slot itself, from a fresh Get FW Info, and checks again; this
    // refuses early what that would refuse, so that no job is made for it.
    if (auto target = update_target_slot(*fw, slot); !target.ok()) {
        return target.error().with_context(device->name());
    }
    return ok_status();
}

Status FirmwareUpdates::check_activate(const std::shared_ptr<ManagedDevice>& device,
                                       uint8_t slot) const {
    const std::string& name = device->name();
    if (auto fw = device->properties().firmware) {
        if (auto valid = check_activate_slot(*fw, slot); !valid.ok()) {
            return valid.error().with_context(name);
        }
    }
    if (current(name)) {
        return Error(Errc::Busy, name + ": a firmware update is running");
    }
    return ok_status();
}

void FirmwareUpdates::recover(const std::shared_ptr<ManagedDevice>& device,
                              std::function<void(bool)> done) {
    std::error_code ec;
    if (state_dir_.empty() || !std::filesystem::exists(marker_path(device->name()), ec)) {
        done(false);
        return;
    }
    log::warning(device->name(), ": ", marker_path(device->name()).string(),
                 " shows a firmware transfer interrupted by a crash; aborting it on the device");
    // The completion holds this table, so `this` outlives the coroutine.
    spawn<void>(device->mailbox_executor(), abort_interrupted(device),
                device->name() + ": firmware transfer recovery",
                [self = shared_from_this(), done = std::move(done)](const Status&) { done(true); });
}

Task<Status> FirmwareUpdates::abort_interrupted(std::shared_ptr<ManagedDevice> device) {
    TransactionOptions opts;
    opts.priority = Priority::Control;
    opts.description = "Transfer FW (abort, recovery)";
    Task<Status> abort = abort_device_transfer(device, std::move(opts), abort_retry_);
    Status aborted = co_await std::move(abort);
    if (!aborted.ok()) {
        // The marker stays: the transfer may still be open, and only a confirmed abort may
        // say otherwise. The next start asks again.
        log::error(device->name(),
                   ": the firmware transfer interrupted by a crash may still be "
                   "open on the device: ",
                   aborted.error().message, "; ", marker_path(device->name()).string(),
                   " stays for the next start");
        co_return ok_status();
    }
    // Success also when the device had nothing open (it may have dropped the transfer itself).
    log::info(device->name(),
              ": recovered: the device confirmed the firmware transfer aborted, the slots are "
              "unchanged");
    remove_marker(device->name());
    co_return ok_status();
}

void FirmwareUpdates::stop_all(std::function<void()> done) {
    std::vector<std::shared_ptr<FirmwareJob>> jobs;
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
        for (const auto& [name, job] : jobs_) {
            jobs.push_back(job);
        }
        if (!jobs.empty()) {
            all_ended_ = std::move(done);
        }
    }
    if (jobs.empty()) {
        if (done) {
            done();
        }
        return;
    }
    for (const auto& job : jobs) {
        log::info(job->device()->name(), ": stopping: cancelling the firmware update");
        // An activating job cannot be cancelled; it ends on its own shortly.
        (void)job->cancel();
    }
}

}  // namespace cxlmgr::daemon
