// Supervision of one device: while something of it is out of service (the mailbox after a
// doorbell timeout, a DOE mailbox marked dead), a probe runs with backoff until the device is
// whole again, so it recovers by itself instead of waiting for someone to send a command.
//
// The supervisor only schedules: what a probe checks and how it reports is the owner's
// (ManagedDevice, which sends each check through the device's channel as a Control-priority
// transaction, so a probe never races a command). Probing starts on wake(), waits
// options.first_probe, then doubles the wait after every probe that leaves something out of
// service, up to options.max_interval; it goes idle once a probe finds the device whole, and the
// next wake() starts over at first_probe.
//
// Stopping: stop() is the only way to end supervision for good (ManagedDevice::close calls it):
// the wait is cancelled, a probe in flight finishes (its channel is closing too), and `stopped`
// runs once no timer and no probe of this supervisor is pending, so nothing of it is left on the
// pool. A probe that fails (its channel refused it: closed, the daemon stopping) also ends
// supervision, so an arbiter shut down without closing the device still drains.
//
// Threading: all state lives on the strand given at creation; wake() and stop() may be called
// from any thread. The probe loop is a coroutine holding a shared_ptr to the supervisor.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/coro.hpp"
#include "common/result.hpp"

namespace cxlmgr::daemon {

struct SupervisionOptions {
    std::chrono::milliseconds first_probe{100};
    std::chrono::milliseconds max_interval{30000};
};

class DeviceSupervisor : public std::enable_shared_from_this<DeviceSupervisor> {
    struct Private {};

public:
    // One round of checks: true when nothing is left out of service (supervision goes idle),
    // false to probe again later, an error to end supervision (the device's channels refuse
    // work). The function must not be a coroutine lambda with captures (the frame would
    // outlive them): let it call a coroutine taking its arguments by value.
    using Probe = std::function<Task<Result<bool>>()>;

    // `name` (the device's) starts every log line; `strand` serializes the supervisor's state.
    static std::shared_ptr<DeviceSupervisor> create(std::string name,
                                                    boost::asio::any_io_executor strand,
                                                    SupervisionOptions options, Probe probe);
    DeviceSupervisor(Private, std::string name, boost::asio::any_io_executor strand,
                     SupervisionOptions options, Probe probe);

    // Something went out of service: probing starts unless it runs already (then the round in
    // progress, or the next one, sees it). Does nothing after stop().
    void wake();
    // Ends supervision; `stopped` runs on the strand once nothing of it is pending. Idempotent.
    void stop(std::function<void()> stopped);

    // Probe rounds run so far, for tests and diagnostics.
    [[nodiscard]] uint64_t probes() const { return probes_.load(); }

private:
    static Task<Result<bool>> run(std::shared_ptr<DeviceSupervisor> self);
    void start();

    const std::string name_;
    boost::asio::any_io_executor strand_;
    const SupervisionOptions options_;
    const Probe probe_;
    boost::asio::steady_timer timer_;

    // Strand-only state.
    bool running_ = false;
    bool stopping_ = false;
    bool woken_ = false;  // wake() arrived since the current round began
    std::vector<std::function<void()>> on_stopped_;

    std::atomic<uint64_t> probes_{0};
};

}  // namespace cxlmgr::daemon
