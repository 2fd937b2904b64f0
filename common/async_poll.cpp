#include "common/async_poll.hpp"

#include <algorithm>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <memory>

namespace cxlmgr {
namespace {

using Clock = std::chrono::steady_clock;

// Owns the timer and callbacks; every pending timer wait holds a shared_ptr to it.
class PollOperation : public std::enable_shared_from_this<PollOperation> {
public:
    PollOperation(const boost::asio::any_io_executor& executor, Backoff backoff,
                  Clock::time_point deadline, CancelToken cancel, PollCheck check, PollDone done)
        : timer_(executor),
          backoff_(backoff),
          interval_(backoff.first),
          deadline_(deadline),
          cancel_(std::move(cancel)),
          check_(std::move(check)),
          done_(std::move(done)) {}

    // Runs one check; finishing through post() so done_ never runs inside async_poll.
    void step(bool first) {
        if (auto outcome = evaluate()) {
            finish(std::move(*outcome), first);
            return;
        }
        auto now = Clock::now();
        if (now >= deadline_) {
            finish(Error(Errc::Timeout, "deadline passed"), first);
            return;
        }
        auto wait = std::min<Clock::duration>(interval_, deadline_ - now);
        interval_ = std::min<std::chrono::microseconds>(interval_ * backoff_.factor, backoff_.max);
        if (interval_.count() == 0) {
            interval_ = std::chrono::microseconds(1);
        }
        timer_.expires_after(wait);
        timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
            if (ec) {
                self->finish(Error(Errc::Internal, "poll timer failed: " + ec.message()), false);
                return;
            }
            self->step(false);
        });
    }

private:
    // nullopt: keep waiting.
    std::optional<Status> evaluate() {
        if (cancel_.cancelled()) {
            return Status(Error(Errc::Cancelled, "cancelled"));
        }
        Result<bool> r = check_();
        if (!r.ok()) {
            return Status(std::move(r).error());
        }
        if (*r) {
            return ok_status();
        }
        return std::nullopt;
    }

    void finish(Status status, bool defer) {
        if (defer) {
            boost::asio::post(timer_.get_executor(),
                              [self = shared_from_this(), status = std::move(status)]() mutable {
                                  self->done_(std::move(status));
                              });
            return;
        }
        done_(std::move(status));
    }

    boost::asio::steady_timer timer_;
    Backoff backoff_;
    std::chrono::microseconds interval_;
    Clock::time_point deadline_;
    CancelToken cancel_;
    PollCheck check_;
    PollDone done_;
};

}  // namespace

void async_poll(const boost::asio::any_io_executor& executor, Backoff backoff,
                Clock::time_point deadline, CancelToken cancel, PollCheck check, PollDone done) {
    auto op = std::make_shared<PollOperation>(executor, backoff, deadline, std::move(cancel),
                                              std::move(check), std::move(done));
    op->step(true);
}

}  // namespace cxlmgr
