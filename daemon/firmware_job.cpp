#include "daemon/firmware_job.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include "common/log.hpp"

namespace cxlmgr::daemon {

namespace {
// Up to about 6 s of retries (more than the background time of any part of 1 MiB at most).
constexpr unsigned kAbortBusyRetries = 600;
constexpr std::chrono::milliseconds kAbortBusyDelay{10};
}  // namespace

std::string_view job_state_name(JobState state) {
    switch (state) {
        case JobState::Queued:
            return "queued";
        case JobState::Running:
            return "running";
        case JobState::Activating:
            return "activating";
        case JobState::Completed:
            return "completed";
        case JobState::Failed:
            return "failed";
        case JobState::Cancelled:
            return "cancelled";
    }
    return "?";
}

double JobStatus::progress() const {
    if (state == JobState::Completed || state == JobState::Activating) {
        return 1.0;
    }
    if (bytes_total == 0) {
        return 0.0;
    }
    return static_cast<double>(bytes_done) / static_cast<double>(bytes_total);
}

std::shared_ptr<FirmwareJob> FirmwareJob::create(std::shared_ptr<ManagedDevice> device,
                                                 std::shared_ptr<ImageSource> image,
                                                 FirmwareJobSpec spec) {
    return std::make_shared<FirmwareJob>(Private{}, std::move(device), std::move(image), spec);
}

FirmwareJob::FirmwareJob(Private, std::shared_ptr<ManagedDevice> device,
                         std::shared_ptr<ImageSource> image, FirmwareJobSpec spec)
    : device_(std::move(device)), image_(std::move(image)), spec_(spec) {
    status_.bytes_total = image_->size().value_or(0);
}

void FirmwareJob::start(Listener on_change, Listener on_finished) {
    on_change_ = std::move(on_change);
    on_finished_ = std::move(on_finished);
    boost::asio::post(device_->mailbox_executor(), [self = shared_from_this()] {
        if (self->cancel_.cancelled()) {
            self->finish(JobState::Cancelled, "");
            return;
        }
        self->session_ = self->device_->open_mailbox_session("firmware");
        self->set_state(JobState::Running);
        self->choose_slot();
    });
}

Status FirmwareJob::cancel() {
    std::lock_guard lock(mutex_);
    if (!status_.cancelable()) {
        return Error(Errc::NotCancellable, "the job is " +
                                               std::string(job_state_name(status_.state)) +
                                               " and can no longer be cancelled");
    }
    cancel_.cancel();
    return ok_status();
}

JobStatus FirmwareJob::status() const {
    std::lock_guard lock(mutex_);
    return status_;
}

TransactionOptions FirmwareJob::bulk(std::string description) const {
    TransactionOptions opts;
    opts.priority = Priority::Bulk;
    opts.cancel = cancel_;
    opts.session = session_;
    opts.description = std::move(description);
    return opts;
}

void FirmwareJob::choose_slot() {
    auto self = shared_from_this();
    device_->mailbox_command(
        cxl::fw_info_request(), bulk("Get FW Info"), [self](Result<cxl::MailboxResponse> r) {
            if (!r.ok()) {
                self->finish(
                    r.error().code == Errc::Cancelled ? JobState::Cancelled : JobState::Failed,
                    "Get FW Info: " + r.error().message);
                return;
            }
            auto info = cxl::parse_fw_info(*r);
            if (!info.ok()) {
                self->finish(JobState::Failed, info.error().message);
                return;
            }
            uint8_t slot = self->spec_.slot;
            if (slot == 0) {
                for (uint8_t s = 1; s <= info->slot_count; ++s) {
                    if (s != info->active_slot && s != info->staged_slot) {
                        slot = s;
                        break;
                    }
                }
                if (slot == 0) {
                    self->finish(JobState::Failed,
                                 "no slot is free: every slot is active or staged");
                    return;
                }
            }
            self->chunk_size_ = cxl::transfer_fw_max_data(self->device_->properties().payload_size);
            if (self->chunk_size_ == 0) {
                self->finish(JobState::Failed,
                             "the mailbox payload area is too small for Transfer FW");
                return;
            }
            {
                std::lock_guard lock(self->mutex_);
                self->status_.slot = slot;
            }
            self->notify(true);
            // The first chunk; read_next() then reads one ahead of what it sends.
            self->image_->read(
                self->chunk_size_, self->cancel_, [self](Result<std::vector<uint8_t>> chunk) {
                    if (!chunk.ok()) {
                        bool cancelled = chunk.error().code == Errc::Cancelled;
                        self->finish(
                            cancelled ? JobState::Cancelled : JobState::Failed,
                            cancelled ? "" : "reading the image: " + chunk.error().message);
                        return;
                    }
                    self->pending_ = std::move(chunk).value();
                    self->read_next();
                });
        });
}

void FirmwareJob::read_next() {
    if (cancel_.cancelled()) {
        abort_then(JobState::Cancelled, "");
        return;
    }
    image_->read(
        chunk_size_, cancel_, [self = shared_from_this()](Result<std::vector<uint8_t>> next) {
            if (!next.ok()) {
                bool cancelled = next.error().code == Errc::Cancelled;
                self->abort_then(cancelled ? JobState::Cancelled : JobState::Failed,
                                 cancelled ? "" : "reading the image: " + next.error().message);
                return;
            }
            auto chunk = std::move(self->pending_);
            self->pending_ = std::move(next).value();
            bool last = self->pending_.empty();
            self->send(std::move(chunk), last);
        });
}

void FirmwareJob::send(std::vector<uint8_t> chunk, bool last) {
    if (cancel_.cancelled()) {
        abort_then(JobState::Cancelled, "");
        return;
    }
    uint8_t slot = status().slot;
    cxl::TransferFwPart part;
    part.action = offset_ == 0 ? (last ? cxl::TransferAction::Full : cxl::TransferAction::Initiate)
                               : (last ? cxl::TransferAction::End : cxl::TransferAction::Continue);
    bool with_slot =
        part.action == cxl::TransferAction::Full || part.action == cxl::TransferAction::End;
    part.slot = with_slot ? slot : 0;
    part.offset_bytes = offset_;
    part.data = chunk;
    auto request = cxl::transfer_fw_request(part, device_->properties().payload_size);
    if (!request.ok()) {
        abort_then(JobState::Failed, request.error().message);
        return;
    }
    request->options.background_timeout = spec_.background_timeout;
    const std::string what = "Transfer FW (" + std::string(cxl::transfer_action_name(part.action)) +
                             ") at offset " + std::to_string(offset_);
    if (part.action == cxl::TransferAction::Initiate) {
        // From here the device may hold a partial transfer, even if the answer is lost.
        transfer_open_ = true;
    }
    auto self = shared_from_this();
    device_->mailbox_command(
        std::move(request).value(), bulk(what),
        [self, what, last, size = chunk.size(),
         action = part.action](Result<cxl::MailboxResponse> r) {
            if (!r.ok()) {
                bool cancelled = r.error().code == Errc::Cancelled;
                self->abort_then(cancelled ? JobState::Cancelled : JobState::Failed,
                                 cancelled ? "" : what + ": " + r.error().message);
                return;
            }
            if (auto s = cxl::parse_transfer_fw(*r); !s.ok()) {
                self->abort_then(JobState::Failed, what + ": " + s.error().message);
                return;
            }
            if (action == cxl::TransferAction::End || action == cxl::TransferAction::Full) {
                self->transfer_open_ = false;
            }
            self->offset_ += size;
            self->progress(self->offset_);
            if (last) {
                self->after_transfer();
            } else {
                self->read_next();
            }
        });
}

void FirmwareJob::after_transfer() {
    {
        std::lock_guard lock(mutex_);
        status_.bytes_total = offset_;  // known now also for a pipe
    }
    log::info(device_->name(), ": firmware image of ", offset_, " bytes written to slot ",
              unsigned{status().slot});
    if (!spec_.activate) {
        refresh_then([self = shared_from_this()] { self->finish(JobState::Completed, ""); });
        return;
    }
    set_state(JobState::Activating);
    activate();
}

void FirmwareJob::activate() {
    auto mode = *spec_.activate;
    uint8_t slot = status().slot;
    auto request = cxl::activate_fw_request(mode, slot);
    if (!request.ok()) {
        finish(JobState::Failed, request.error().message);
        return;
    }
    request->options.background_timeout = spec_.background_timeout;
    TransactionOptions opts = bulk("Activate FW");
    opts.cancel = CancelToken{};  // not cancellable once activating
    auto self = shared_from_this();
    device_->mailbox_command(
        std::move(request).value(), opts, [self, mode](Result<cxl::MailboxResponse> r) {
            Status s = r.ok() ? cxl::parse_activate_fw(*r) : Status(r.error());
            self->refresh_then([self, s, mode] {
                if (s.ok()) {
                    self->finish(JobState::Completed, "");
                } else {
                    self->finish(JobState::Failed, "Activate FW (" +
                                                       std::string(cxl::activate_mode_name(mode)) +
                                                       "): " + s.error().message);
                }
            });
        });
}

void FirmwareJob::abort_then(JobState state, std::string error) {
    if (!transfer_open_) {
        finish(state, std::move(error));
        return;
    }
    transfer_open_ = false;
    send_abort(0, state, std::move(error));
}

void FirmwareJob::send_abort(unsigned attempt, JobState state, std::string error) {
    cxl::TransferFwPart part;
    part.action = cxl::TransferAction::Abort;
    auto request = cxl::transfer_fw_request(part, device_->properties().payload_size);
    if (!request.ok()) {
        finish(state, std::move(error));
        return;
    }
    TransactionOptions opts;
    opts.priority = Priority::Control;
    opts.session = session_;
    opts.description = "Transfer FW (abort)";
    auto self = shared_from_this();
    device_->mailbox_command(
        std::move(request).value(), opts,
        [self, attempt, state, error = std::move(error)](Result<cxl::MailboxResponse> r) mutable {
            Status s = r.ok() ? cxl::parse_transfer_fw(*r) : Status(r.error());
            // A cancel seen while following a part's background operation leaves that part
            // still running on the device, which refuses the abort as Busy until it ends: ask
            // again shortly (the part ends within its background time).
            if (!s.ok() &&
                s.error().cxl_return_code == static_cast<uint16_t>(cxl::ReturnCode::Busy) &&
                attempt < kAbortBusyRetries) {
                auto timer = std::make_shared<boost::asio::steady_timer>(
                    self->device_->mailbox_executor(), kAbortBusyDelay);
                timer->async_wait([self, timer, attempt, state, error = std::move(error)](
                                      const boost::system::error_code&) mutable {
                    self->send_abort(attempt + 1, state, std::move(error));
                });
                return;
            }
            if (s.ok()) {
                log::info(self->device_->name(), ": device-side firmware transfer aborted");
            } else {
                // The device may have dropped the transfer itself (a refused part ends it).
                log::info(self->device_->name(), ": Transfer FW abort: ", s.error().message);
            }
            self->finish(state, std::move(error));
        });
}

void FirmwareJob::refresh_then(std::function<void()> next) {
    device_->firmware_info([name = device_->name(), next = std::move(next)](Result<cxl::FwInfo> r) {
        if (!r.ok()) {
            log::warning(name, ": Get FW Info after the update: ", r.error().message);
        }
        next();
    });
}

void FirmwareJob::finish(JobState state, std::string error) {
    if (session_) {
        session_->close();
        session_.reset();
    }
    image_.reset();  // closes the descriptor now, not when the job object goes
    JobStatus final_status;
    {
        std::lock_guard lock(mutex_);
        status_.state = state;
        status_.error = std::move(error);
        final_status = status_;
    }
    if (state == JobState::Failed) {
        log::warning(device_->name(), ": firmware update failed: ", final_status.error);
    } else {
        log::info(device_->name(), ": firmware update ", job_state_name(state));
    }
    if (on_change_) {
        on_change_(final_status);
    }
    if (on_finished_) {
        auto finished = std::move(on_finished_);
        on_finished_ = nullptr;
        finished(final_status);
    }
    on_change_ = nullptr;
}

void FirmwareJob::set_state(JobState state) {
    {
        std::lock_guard lock(mutex_);
        status_.state = state;
    }
    notify(true);
}

void FirmwareJob::progress(uint64_t bytes_done) {
    {
        std::lock_guard lock(mutex_);
        status_.bytes_done = bytes_done;
    }
    notify(false);
}

void FirmwareJob::notify(bool force) {
    auto now = std::chrono::steady_clock::now();
    if (!force && now - last_notify_ < spec_.progress_interval) {
        return;
    }
    last_notify_ = now;
    if (on_change_) {
        on_change_(status());
    }
}

void activate_firmware(const std::shared_ptr<ManagedDevice>& device, cxl::ActivateMode mode,
                       uint8_t slot, std::function<void(Status)> done) {
    auto request = cxl::activate_fw_request(mode, slot);
    if (!request.ok()) {
        done(request.error());
        return;
    }
    request->options.background_timeout = cxl::kFirmwareBackgroundTimeout;
    TransactionOptions opts;
    opts.priority = Priority::Interactive;
    opts.deadline = Clock::now() + std::chrono::seconds(10);
    opts.description = "Activate FW";
    device->mailbox_command(std::move(request).value(), opts,
                            [device, done = std::move(done)](Result<cxl::MailboxResponse> r) {
                                Status s = r.ok() ? cxl::parse_activate_fw(*r) : Status(r.error());
                                device->firmware_info([s, done](Result<cxl::FwInfo>) { done(s); });
                            });
}

}  // namespace cxlmgr::daemon
