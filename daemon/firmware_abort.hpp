// Ending a device-side firmware transfer for certain (docs/FIRMWARE-UPDATE.md "Stop and crash
// recovery"): Transfer FW action Abort, asked again with backoff until the device confirms it.
//
// Only a Success answer confirms: the device then holds no open transfer, whether it had one or
// not (a device with nothing open answers Abort with Success: docs/EMULATED-DEVICE.md "Firmware
// transfer rules"; QEMU does the same). Every answer that means "not now" is asked again until a
// deadline: Busy (0x06: a part still runs in the background, or another background command),
// FW Transfer In Progress (0x08), Retry Required (0x05), and the transport's own Busy (the
// doorbell found set by another agent), Timeout and "out of service" (a doorbell timeout, which
// supervision repairs). Anything else is a definite answer that asking again cannot change
// (Unsupported, Invalid Input, the device gone, the daemon stopping): it ends the retries at
// once. Both the firmware job (after a failure or cancel mid-transfer) and crash recovery
// (FirmwareUpdates::recover) end transfers through here, so the crash marker is removed only
// once this returned ok.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "common/coro.hpp"
#include "common/result.hpp"
#include "daemon/managed_device.hpp"

namespace cxlmgr::daemon {

// How long and how often an abort is asked again.
struct AbortRetry {
    // 30 s: a Transfer FW part runs at most a few seconds in the background (QEMU: 2 s), a
    // supervision probe brings a mailbox back within its backoff; well inside systemd's stop
    // timeout (90 s), since a stop waits for it too.
    std::chrono::milliseconds deadline{30000};
    // The wait after the first refusal, doubled after each one up to max_delay.
    std::chrono::milliseconds first_delay{10};
    std::chrono::milliseconds max_delay{500};
};

// Whether asking again may get a different answer (header comment).
[[nodiscard]] bool abort_refusal_is_transient(const Error& error);

// One attempt: the device's answer to one Transfer FW Abort (ok = Success).
using AbortAttempt = std::function<Task<Status>()>;

// Runs `attempt` until it returns ok, returns a definite refusal, or `retry.deadline` has
// passed since the call; logs each refusal it retries, naming `device`. The error of the last
// attempt, with how many were made, when no confirmation came.
Task<Status> abort_until_confirmed(AbortAttempt attempt, std::string device, AbortRetry retry);

// abort_until_confirmed with Transfer FW action Abort on `device`. `options` serve every attempt
// (priority, session); their deadline, if unset, becomes the retry deadline.
Task<Status> abort_device_transfer(std::shared_ptr<ManagedDevice> device,
                                   TransactionOptions options, AbortRetry retry);

}  // namespace cxlmgr::daemon
