#include "daemon/firmware_updates.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <fstream>

#include "common/errno_text.hpp"
#include "common/log.hpp"
#include "common/unique_fd.hpp"

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

FirmwareUpdates::FirmwareUpdates(std::filesystem::path state_dir)
    : state_dir_(std::move(state_dir)) {}

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
                   // Out of the table, marker gone, and only then the final state goes on: whoever
                   // hears of it may start the next update on this device at once.
                   self->remove_marker(name);
                   self->leave(name);
                   if (on_finished) {
                       on_finished(status);
                   }
               });
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
    opts.deadline = Clock::now() + std::chrono::seconds(10);
    opts.description = "Transfer FW (abort, recovery)";
    Status aborted = co_await abort_device_transfer(device, std::move(opts));
    if (aborted.ok()) {
        log::info(device->name(),
                  ": recovered: the interrupted firmware transfer was aborted, the slots are "
                  "unchanged");
    } else if (aborted.error().cxl_return_code) {
        // Nothing open on the device (it dropped the transfer itself): clean already.
        log::info(device->name(), ": recovered: no firmware transfer was open (",
                  aborted.error().message, ")");
    } else {
        // No answer (a mailbox that never opened, a timeout): nothing more can be done here.
        log::warning(device->name(), ": recovered without an abort: ", aborted.error().message);
    }
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
