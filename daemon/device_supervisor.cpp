#include "daemon/device_supervisor.hpp"

#include <algorithm>
#include <boost/asio/post.hpp>

#include "common/log.hpp"

namespace cxlmgr::daemon {

std::shared_ptr<DeviceSupervisor> DeviceSupervisor::create(std::string name,
                                                           boost::asio::any_io_executor strand,
                                                           SupervisionOptions options,
                                                           Probe probe) {
    return std::make_shared<DeviceSupervisor>(Private{}, std::move(name), std::move(strand),
                                              options, std::move(probe));
}

DeviceSupervisor::DeviceSupervisor(Private, std::string name, boost::asio::any_io_executor strand,
                                   SupervisionOptions options, Probe probe)
    : name_(std::move(name)),
      strand_(std::move(strand)),
      options_(options),
      probe_(std::move(probe)),
      timer_(strand_) {}

void DeviceSupervisor::wake() {
    boost::asio::post(strand_, [self = shared_from_this()] {
        if (self->stopping_) {
            return;
        }
        self->woken_ = true;
        if (!self->running_) {
            self->start();
        }
    });
}

void DeviceSupervisor::stop(std::function<void()> stopped) {
    boost::asio::post(strand_, [self = shared_from_this(), stopped = std::move(stopped)]() mutable {
        self->stopping_ = true;
        self->timer_.cancel();
        if (!self->running_) {
            if (stopped) {
                stopped();
            }
            return;
        }
        if (stopped) {
            self->on_stopped_.push_back(std::move(stopped));
        }
    });
}

void DeviceSupervisor::start() {
    running_ = true;
    log::debug(name_, ": supervision: probing with backoff");
    spawn<bool>(strand_, run(shared_from_this()), name_ + ": supervision",
                [self = shared_from_this()](Result<bool> ended) {
                    if (!ended.ok()) {
                        log::debug(self->name_, ": supervision ended: ", ended.error().message);
                    }
                    self->running_ = false;
                    // A wake() that came after the loop's last look starts a new loop.
                    if (ended.ok() && *ended && self->woken_ && !self->stopping_) {
                        self->start();
                        return;
                    }
                    auto stopped = std::move(self->on_stopped_);
                    self->on_stopped_.clear();
                    for (auto& s : stopped) {
                        s();
                    }
                });
}

Task<Result<bool>> DeviceSupervisor::run(std::shared_ptr<DeviceSupervisor> self) {
    auto wait = self->options_.first_probe;
    while (!self->stopping_) {
        self->timer_.expires_after(wait);
        boost::system::error_code ec;  // operation_aborted from stop(): checked just below
        co_await self->timer_.async_wait(
            boost::asio::redirect_error(boost::asio::use_awaitable, ec));
        if (self->stopping_) {
            break;
        }
        self->woken_ = false;
        self->probes_.fetch_add(1);
        Result<bool> whole = co_await self->probe_();
        if (!whole.ok()) {
            co_return std::move(whole).error();
        }
        if (*whole && !self->woken_) {
            log::debug(self->name_, ": supervision: nothing left out of service");
            co_return true;
        }
        // Something broke again while the round ran: start over at the first interval.
        wait = *whole ? self->options_.first_probe
                      : std::min<std::chrono::milliseconds>(wait * 2, self->options_.max_interval);
    }
    co_return false;
}

}  // namespace cxlmgr::daemon
