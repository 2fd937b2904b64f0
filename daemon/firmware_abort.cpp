#include "daemon/firmware_abort.hpp"

#include <algorithm>

#include "common/log.hpp"
#include "cxl/commands/firmware.hpp"
#include "cxl/return_code.hpp"

namespace cxlmgr::daemon {

namespace {

bool transient_return_code(uint16_t code) {
    using cxl::ReturnCode;
    return code == static_cast<uint16_t>(ReturnCode::Busy) ||
           code == static_cast<uint16_t>(ReturnCode::FwTransferInProgress) ||
           code == static_cast<uint16_t>(ReturnCode::RetryRequired);
}

// One Transfer FW Abort; ok when the device answered Success.
Task<Status> send_abort(std::shared_ptr<ManagedDevice> device, cxl::Command<cxl::Unit> command,
                        TransactionOptions options) {
    auto answered = co_await device->co_call(std::move(command), std::move(options));
    if (!answered.ok()) {
        co_return std::move(answered).error();
    }
    co_return ok_status();
}

}  // namespace

bool abort_refusal_is_transient(const Error& error) {
    if (error.cxl_return_code) {
        return transient_return_code(*error.cxl_return_code);
    }
    // No answer from the device: the transport's Busy (doorbell set by another agent), a
    // timeout (doorbell, or the deadline to get the channel), or the mailbox out of service
    // since a doorbell timeout (DeviceError without a return code), which supervision repairs.
    return error.code == Errc::Busy || error.code == Errc::Timeout ||
           error.code == Errc::DeviceError;
}

Task<Status> abort_until_confirmed(AbortAttempt attempt, std::string device, AbortRetry retry) {
    const auto give_up_at = Clock::now() + retry.deadline;
    auto delay = retry.first_delay;
    for (unsigned attempts = 1;; ++attempts) {
        Task<Status> one = attempt();
        Status answer = co_await std::move(one);
        if (answer.ok()) {
            co_return ok_status();
        }
        const Error& e = answer.error();
        if (!abort_refusal_is_transient(e)) {
            co_return e.with_context("Transfer FW abort");
        }
        if (Clock::now() + delay > give_up_at) {
            Error gave_up(e.code, "Transfer FW abort not confirmed after " +
                                      std::to_string(attempts) + " attempts in " +
                                      std::to_string(retry.deadline.count()) + " ms: " + e.message);
            gave_up.cxl_return_code = e.cxl_return_code;
            co_return gave_up;
        }
        if (attempts == 1) {
            log::info(device, ": Transfer FW abort refused for now (", e.message,
                      "); asking again until it is confirmed");
        }
        co_await sleep_for(delay);
        delay = std::min(delay * 2, retry.max_delay);
    }
}

Task<Status> abort_device_transfer(std::shared_ptr<ManagedDevice> device,
                                   TransactionOptions options, AbortRetry retry) {
    cxl::TransferFwPart part;
    part.action = cxl::TransferAction::Abort;
    CXLMGR_CO_ASSIGN(cxl::Command<cxl::Unit> command,
                     cxl::transfer_fw(part, device->properties().payload_size));
    if (!options.deadline) {
        options.deadline = Clock::now() + retry.deadline;
    }
    // Not a coroutine itself (a lambda coroutine's captures die with the lambda): it returns
    // the task of a plain coroutine that owns copies of what it needs.
    AbortAttempt attempt = [device, command, options]() {
        return send_abort(device, command, options);
    };
    const std::string name = device->name();
    Task<Status> aborted = abort_until_confirmed(std::move(attempt), name, retry);
    co_return co_await std::move(aborted);
}

}  // namespace cxlmgr::daemon
