#include "daemon/firmware_updates.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <fstream>

#include "common/log.hpp"
#include "common/unique_fd.hpp"
#include "common/errno_text.hpp"

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

Result<std::shared_ptr<FirmwareJob>> FirmwareUpdates::start(
    const std::shared_ptr<ManagedDevice>& device, std::shared_ptr<ImageSource> image,
    FirmwareJobSpec spec, FirmwareJob::Listener on_change, FirmwareJob::Listener on_finished) {
    const std::string name = device->name();
    std::shared_ptr<FirmwareJob> job;
    {
        std::lock_guard lock(mutex_);
        if (stopping_) {
            return Error(Errc::DeviceGone, "the daemon is stopping");
        }
        if (running_.count(name) != 0) {
            return Error(Errc::Busy, "a firmware update is already running on " + name);
        }
        job = FirmwareJob::create(device, std::move(image), spec);
        running_[name] = job;
    }
    // Written before the first Transfer FW can reach the device.
    write_marker(name, spec.slot);
    std::weak_ptr<FirmwareUpdates> weak = weak_from_this();
    job->start(std::move(on_change),
               [weak, name, on_finished = std::move(on_finished)](const JobStatus& status) {
                   if (auto self = weak.lock()) {
                       self->ended(name);
                   }
                   if (on_finished) {
                       on_finished(status);
                   }
               });
    return job;
}

void FirmwareUpdates::ended(const std::string& device) {
    remove_marker(device);
    std::function<void()> all_ended;
    {
        std::lock_guard lock(mutex_);
        running_.erase(device);
        if (stopping_ && running_.empty()) {
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
    auto it = running_.find(device);
    return it == running_.end() ? nullptr : it->second;
}

void FirmwareUpdates::recover(const std::shared_ptr<ManagedDevice>& device,
                              std::function<void(bool)> done) {
    if (state_dir_.empty()) {
        done(false);
        return;
    }
    std::error_code ec;
    auto path = marker_path(device->name());
    if (!std::filesystem::exists(path, ec)) {
        done(false);
        return;
    }
    log::warning(device->name(), ": ", path.string(),
                 " shows a firmware transfer interrupted by a crash; aborting it on the device");
    cxl::TransferFwPart part;
    part.action = cxl::TransferAction::Abort;
    auto request = cxl::transfer_fw_request(part, device->properties().payload_size);
    if (!request.ok()) {
        // A device whose mailbox never opened has no transfer to abort.
        log::warning(device->name(), ": cannot abort: ", request.error().message);
        remove_marker(device->name());
        done(true);
        return;
    }
    TransactionOptions opts;
    opts.priority = Priority::Control;
    opts.deadline = Clock::now() + std::chrono::seconds(10);
    opts.description = "Transfer FW (abort, recovery)";
    auto self = shared_from_this();
    device->mailbox_command(
        std::move(request).value(), opts,
        [self, device, done = std::move(done)](Result<cxl::MailboxResponse> r) {
            Status s = r.ok() ? cxl::parse_transfer_fw(*r) : Status(r.error());
            if (s.ok()) {
                log::info(device->name(),
                          ": recovered: the interrupted firmware transfer was aborted, the "
                          "slots are unchanged");
            } else {
                // Nothing open on the device (it dropped the transfer itself): clean already.
                log::info(device->name(), ": recovered: no firmware transfer was open (",
                          s.error().message, ")");
            }
            self->remove_marker(device->name());
            done(true);
        });
}

void FirmwareUpdates::stop_all(std::function<void()> done) {
    std::vector<std::shared_ptr<FirmwareJob>> jobs;
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
        if (running_.empty()) {
            jobs.clear();
        } else {
            all_ended_ = std::move(done);
            for (const auto& [name, job] : running_) {
                jobs.push_back(job);
            }
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
