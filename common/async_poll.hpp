// Waiting for hardware without sleeping threads or unbounded spins: a condition is checked once
// at once, then on a Boost.Asio timer whose interval grows geometrically up to a cap, until it
// holds, a deadline passes, or the operation is cancelled. Idle waits cost no CPU; fast devices
// are seen at the first check.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <functional>

#include "common/cancel.hpp"
#include "common/result.hpp"

namespace cxlmgr {

struct Backoff {
    std::chrono::microseconds first{10};  // delay before the second check
    std::chrono::microseconds max{8000};  // the interval stops growing here
    unsigned factor = 2;
};

// check(): true when the awaited condition holds, false to wait more, or an error to stop.
// done(): called exactly once, never from inside async_poll itself, with
//   ok                       the condition held,
//   Errc::Timeout            the deadline passed (the condition was checked once more at it),
//   Errc::Cancelled          the token was cancelled,
//   the check's own error    otherwise.
using PollCheck = std::function<Result<bool>()>;
using PollDone = std::function<void(Status)>;

void async_poll(const boost::asio::any_io_executor& executor, Backoff backoff,
                std::chrono::steady_clock::time_point deadline, CancelToken cancel, PollCheck check,
                PollDone done);

}  // namespace cxlmgr
