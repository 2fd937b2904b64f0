#include "dbus/bus_loop.hpp"

#include <poll.h>

#include <sdbus-c++/Error.h>
#include <boost/asio/post.hpp>

#include "common/log.hpp"

namespace cxlmgr::dbus {
namespace {

// Messages handled per turn before other handlers of the io_context get their chance.
constexpr int kBatch = 64;

}  // namespace

std::shared_ptr<BusLoop> BusLoop::create(boost::asio::io_context& io,
                                         sdbus::IConnection& connection) {
    return std::shared_ptr<BusLoop>(new BusLoop(io, connection));
}

BusLoop::BusLoop(boost::asio::io_context& io, sdbus::IConnection& connection)
    : io_(io), connection_(connection), descriptor_(io), timer_(io) {}

BusLoop::~BusLoop() {
    if (descriptor_.is_open()) {
        descriptor_.release();  // sd-bus owns the fd: never close it here
    }
}

void BusLoop::start() {
    descriptor_.assign(connection_.getEventLoopPollData().fd);
    kick();
}

void BusLoop::stop() {
    stopped_ = true;
    timer_.cancel();
    if (descriptor_.is_open()) {
        descriptor_.cancel();
        descriptor_.release();
    }
}

void BusLoop::set_failure_handler(std::function<void(const std::string&)> handler) {
    on_failure_ = std::move(handler);
}

void BusLoop::kick() {
    if (stopped_ || process_posted_) {
        return;
    }
    process_posted_ = true;
    boost::asio::post(io_, [self = shared_from_this()] {
        self->process_posted_ = false;
        self->process();
    });
}

void BusLoop::process() {
    if (stopped_) {
        return;
    }
    for (int i = 0; i < kBatch; ++i) {
        bool more = false;
        try {
            more = connection_.processPendingRequest();
        } catch (const sdbus::Error& e) {
            // A broken connection (the bus went away) ends the loop; the daemon's owner notices.
            const std::string why = e.getName() + ": " + e.getMessage();
            log::error("D-Bus connection failed: ", why);
            stop();
            if (auto failed = std::move(on_failure_)) {
                on_failure_ = nullptr;
                failed(why);
            }
            return;
        }
        if (!more) {
            arm();
            return;
        }
    }
    kick();  // more may be pending: continue after other handlers ran
}

void BusLoop::arm() {
    auto poll = connection_.getEventLoopPollData();
    bool want_write = (poll.events & POLLOUT) != 0;
    if (fd_wait_pending_ && want_write != waiting_for_write_) {
        // sd-bus now waits for the other direction (a full socket): re-arm from the handler.
        descriptor_.cancel();
    } else if (!fd_wait_pending_) {
        fd_wait_pending_ = true;
        waiting_for_write_ = want_write;
        auto kind = want_write ? boost::asio::posix::stream_descriptor::wait_write
                               : boost::asio::posix::stream_descriptor::wait_read;
        descriptor_.async_wait(
            kind, [self = shared_from_this()](const boost::system::error_code& ec) {
                self->fd_wait_pending_ = false;
                if (!ec) {
                    self->process();
                } else if (ec == boost::asio::error::operation_aborted && !self->stopped_) {
                    self->arm();
                }
            });
    }
    if (poll.timeout_usec == UINT64_MAX) {
        timer_.cancel();
        return;
    }
    // sd-bus reports an absolute CLOCK_MONOTONIC time, which is steady_clock's clock on Linux.
    timer_.expires_at(
        std::chrono::steady_clock::time_point(std::chrono::microseconds(poll.timeout_usec)));
    timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
        if (!ec) {
            self->process();
        }
    });
}

}  // namespace cxlmgr::dbus
