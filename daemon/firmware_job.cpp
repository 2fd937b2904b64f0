#include "daemon/firmware_job.hpp"

#include "common/log.hpp"
#include "cxl/return_code.hpp"
#include "daemon/firmware_target.hpp"

namespace cxlmgr::daemon {

namespace {

Error cancelled() {
    return Error(Errc::Cancelled, "cancelled");
}

// Get FW Info through ManagedDevice::firmware_info, which also refreshes the device's firmware
// properties (slots, revision) from the answer.
Task<Result<cxl::FwInfo>> refresh_firmware_info(std::shared_ptr<ManagedDevice> device) {
    auto start = [device](std::function<void(Result<cxl::FwInfo>)> deliver) {
        device->firmware_info(std::move(deliver));
    };
    co_return co_await await_callback<cxl::FwInfo>(std::move(start));
}

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
    // The completion holds the job, so `this` outlives the coroutine.
    spawn<void>(device_->mailbox_executor(), run(), device_->name() + ": firmware update",
                [self = shared_from_this()](Status outcome) { self->finish(std::move(outcome)); });
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

Task<Status> FirmwareJob::run() {
    if (cancel_.cancelled()) {
        co_return cancelled();
    }
    session_ = device_->open_mailbox_session("firmware");
    payload_size_ = device_->properties().payload_size;
    set_state(JobState::Running);

    CXLMGR_CO_ASSIGN(const uint8_t slot, co_await choose_slot());
    Status transferred = co_await transfer(slot);
    if (!transferred.ok()) {
        co_await abort_open_transfer();
        co_return transferred;
    }
    {
        std::lock_guard lock(mutex_);
        status_.bytes_total = offset_;  // known now also for a pipe
    }
    log::info(device_->name(), ": firmware image of ", offset_, " bytes written to slot ",
              unsigned{slot});

    Status activated = ok_status();
    if (spec_.activate) {
        set_state(JobState::Activating);
        activated = co_await activate(*spec_.activate, slot);
    }
    // Whatever the activation did, the properties show the slots as they are now.
    if (auto info = co_await refresh_firmware_info(device_); !info.ok()) {
        log::warning(device_->name(), ": Get FW Info after the update: ", info.error().message);
    }
    co_return activated;
}

Task<Result<uint8_t>> FirmwareJob::choose_slot() {
    auto info = co_await device_->co_call(cxl::get_fw_info(), bulk("Get FW Info"));
    if (!info.ok()) {
        co_return std::move(info).error().with_context("Get FW Info");
    }
    CXLMGR_CO_ASSIGN(const uint8_t slot, update_target_slot(*info, spec_.slot));
    {
        std::lock_guard lock(mutex_);
        status_.slot = slot;
    }
    notify(true);
    co_return slot;
}

Task<Status> FirmwareJob::transfer(uint8_t slot) {
    const uint32_t part_size = cxl::transfer_fw_max_data(payload_size_);
    if (part_size == 0) {
        co_return Error(Errc::DeviceError, "the mailbox payload area is too small for Transfer FW");
    }
    // One part read ahead of the one sent: an empty read after a part makes that part the last.
    CXLMGR_CO_ASSIGN(std::vector<uint8_t> part, co_await read_part(part_size));
    for (;;) {
        CXLMGR_CO_ASSIGN(std::vector<uint8_t> next, co_await read_part(part_size));
        const bool last = next.empty();
        CXLMGR_CO_CHECK(co_await send_part(std::move(part), slot, last));
        if (last) {
            co_return ok_status();
        }
        part = std::move(next);
    }
}

Task<Result<std::vector<uint8_t>>> FirmwareJob::read_part(uint32_t size) {
    if (cancel_.cancelled()) {
        co_return cancelled();
    }
    auto data = co_await image_->read(size, cancel_);
    if (!data.ok()) {
        co_return std::move(data).error().with_context("reading the image");
    }
    co_return std::move(data).value();
}

Task<Status> FirmwareJob::send_part(std::vector<uint8_t> data, uint8_t slot, bool last) {
    if (cancel_.cancelled()) {
        co_return cancelled();
    }
    using cxl::TransferAction;
    cxl::TransferFwPart part;
    part.action = offset_ == 0 ? (last ? TransferAction::Full : TransferAction::Initiate)
                               : (last ? TransferAction::End : TransferAction::Continue);
    part.slot = last ? slot : 0;  // Full and End name the slot, the others must not
    part.offset_bytes = offset_;
    part.data = data;
    const std::string what = "Transfer FW (" + std::string(cxl::transfer_action_name(part.action)) +
                             ") at offset " + std::to_string(offset_);
    auto command = cxl::transfer_fw(part, payload_size_);
    if (!command.ok()) {
        co_return std::move(command).error();
    }
    command->request.options.background_timeout = spec_.background_timeout;
    if (part.action == TransferAction::Initiate) {
        // From here the device may hold a partial transfer, even if the answer is lost.
        transfer_open_ = true;
    }
    auto sent = co_await device_->co_call(std::move(command).value(), bulk(what));
    if (!sent.ok()) {
        co_return std::move(sent).error().with_context(what);
    }
    if (last) {
        transfer_open_ = false;  // End and Full close it
    }
    offset_ += data.size();
    progress(offset_);
    co_return ok_status();
}

Task<void> FirmwareJob::abort_open_transfer() {
    if (!transfer_open_) {
        co_return;
    }
    transfer_open_ = false;
    TransactionOptions opts;
    opts.priority = Priority::Control;
    opts.session = session_;
    opts.description = "Transfer FW (abort)";
    Task<Status> abort = abort_device_transfer(device_, std::move(opts), spec_.abort_retry);
    Status aborted = co_await std::move(abort);
    if (aborted.ok()) {
        log::info(device_->name(), ": device-side firmware transfer aborted");
        co_return;
    }
    log::error(device_->name(),
               ": the device-side firmware transfer may still be open: ", aborted.error().message);
    std::lock_guard lock(mutex_);
    status_.transfer_left_open = true;
}

Task<Status> FirmwareJob::activate(cxl::ActivateMode mode, uint8_t slot) {
    const std::string what = "Activate FW (" + std::string(cxl::activate_mode_name(mode)) + ")";
    CXLMGR_CO_ASSIGN(auto command, cxl::activate_fw(mode, slot));
    command.request.options.background_timeout = spec_.background_timeout;
    TransactionOptions opts = bulk("Activate FW");
    opts.cancel = CancelToken{};  // not cancellable once activating
    auto activated = co_await device_->co_call(std::move(command), std::move(opts));
    if (!activated.ok()) {
        co_return std::move(activated).error().with_context(what);
    }
    co_return ok_status();
}

void FirmwareJob::finish(Status outcome) {
    if (session_) {
        session_->close();
        session_.reset();
    }
    image_.reset();  // closes the descriptor now, not when the job object goes
    const JobState state = outcome.ok()                              ? JobState::Completed
                           : outcome.error().code == Errc::Cancelled ? JobState::Cancelled
                                                                     : JobState::Failed;
    JobStatus final_status;
    {
        std::lock_guard lock(mutex_);
        status_.state = state;
        status_.error = state == JobState::Failed ? outcome.error().message : "";
        final_status = status_;
    }
    if (state == JobState::Failed) {
        log::warning(device_->name(), ": firmware update failed: ", final_status.error);
    } else {
        log::info(device_->name(), ": firmware update ", job_state_name(state));
    }
    on_change_ = nullptr;
    auto finished = std::move(on_finished_);
    on_finished_ = nullptr;
    if (finished) {
        finished(final_status);
    }
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

namespace {

Task<Status> activate_and_refresh(std::shared_ptr<ManagedDevice> device, cxl::ActivateMode mode,
                                  uint8_t slot) {
    CXLMGR_CO_ASSIGN(auto command, cxl::activate_fw(mode, slot));
    TransactionOptions opts;
    opts.priority = Priority::Interactive;
    opts.deadline = Clock::now() + std::chrono::seconds(10);
    opts.description = "Activate FW";
    auto activated = co_await device->co_call(std::move(command), std::move(opts));
    // The properties follow whatever the activation did; its own outcome is what counts.
    (void)co_await refresh_firmware_info(device);
    if (!activated.ok()) {
        co_return std::move(activated).error();
    }
    co_return ok_status();
}

}  // namespace

void activate_firmware(const std::shared_ptr<ManagedDevice>& device, cxl::ActivateMode mode,
                       uint8_t slot, std::function<void(Status)> done) {
    spawn<void>(device->mailbox_executor(), activate_and_refresh(device, mode, slot),
                device->name() + ": Activate FW", std::move(done));
}

}  // namespace cxlmgr::daemon
