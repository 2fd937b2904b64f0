#include "daemon/event_collector.hpp"

#include <boost/asio/post.hpp>

#include "common/log.hpp"
#include "cxl/commands/events.hpp"
#include "cxl/commands/timestamp.hpp"

namespace cxlmgr::daemon {

namespace {

using namespace std::chrono_literals;

// Linux's order: the most severe log first.
constexpr cxl::EventLog kLogOrder[] = {cxl::EventLog::Fatal, cxl::EventLog::Failure,
                                       cxl::EventLog::Warning, cxl::EventLog::Informational};

}  // namespace

std::shared_ptr<EventCollector> EventCollector::create(
    std::shared_ptr<ManagedDevice> device, std::shared_ptr<EventJournal> journal,
    boost::asio::any_io_executor journal_executor, CollectorOptions options) {
    return std::make_shared<EventCollector>(Private{}, std::move(device), std::move(journal),
                                            std::move(journal_executor), options);
}

// The drain calls back into `this` only from inside the collection coroutine, which holds the
// collector.
EventCollector::EventCollector(Private, std::shared_ptr<ManagedDevice> device,
                               std::shared_ptr<EventJournal> journal,
                               boost::asio::any_io_executor journal_executor,
                               CollectorOptions options)
    : name_(device->name()),
      device_(std::move(device)),
      journal_(std::move(journal)),
      strand_(device_->mailbox_executor()),
      journal_executor_(std::move(journal_executor)),
      options_(options),
      timer_(strand_),
      failures_(name_),
      drain_(device_, journal_, journal_executor_, failures_,
             {.first = options.store_retry, .max = options.store_retry_max},
             {.events =
                  [this](std::vector<StoredEvent> stored) {
                      if (listener_.events) {
                          listener_.events(std::move(stored));
                      }
                  },
              .overflows = [this](uint64_t added) { add_overflows(added); }}) {}

void EventCollector::set_listener(CollectorListener listener) {
    boost::asio::post(strand_, [self = shared_from_this(), listener = std::move(listener)] {
        self->listener_ = listener;
    });
}

void EventCollector::start() {
    boost::asio::post(strand_, [self = shared_from_this()] {
        if (self->started_ || self->stopped_) {
            return;
        }
        self->started_ = true;
        // Set here, not when the coroutine first runs: a stop() posted next must wait for it.
        self->collecting_ = true;
        spawn<void>(self->strand_, self->collect(), self->name_ + ": event collection",
                    [self](Status) {
                        self->collecting_ = false;
                        self->wake_idle();
                    });
    });
}

Task<Status> EventCollector::collect() {
    auto read_total = [journal = journal_, name = name_] { return journal->overflows(name); };
    auto total = co_await await_io<uint64_t>(journal_executor_, std::move(read_total));
    if (stopped_) {
        co_return ok_status();
    }
    if (!total.ok()) {
        log::error(name_, ": Overflows not read from the journal: ", total.error().message);
    } else if (*total != 0) {
        overflows_ = *total;
        if (listener_.overflows) {
            listener_.overflows(*total);
        }
    }
    co_await set_clock();

    while (!stopped_) {
        auto next = subscribers_ > 0 ? options_.fast_poll : options_.slow_poll;
        if (const auto backoff = drain_.store_backoff(); backoff > 0ms) {
            // The journal failed: the events wait on the device until the backoff has passed,
            // however often the timer is cut short.
            next = backoff;
        } else if (auto logs = flagged_logs(); !logs.empty()) {
            co_await drain_.run(std::move(logs));
            // Look again soon while subscribed: more may have come during the drain. After a
            // failed write, not before the backoff.
            const auto retry = drain_.store_backoff();
            next = retry > 0ms ? retry : (subscribers_ > 0 ? 0ms : options_.slow_poll);
        }
        if (stopped_) {
            break;
        }
        // Cut short by a first subscriber (poll at once) or by stop().
        timer_.expires_after(next);
        boost::system::error_code ec;
        co_await timer_.async_wait(boost::asio::redirect_error(boost::asio::use_awaitable, ec));
    }
    co_return ok_status();
}

// Record timestamps come from the device clock, which stays at 0 until the host sets it (Linux
// sets it at probe too). Set, they tell events apart across daemon runs (the journal's duplicate
// key) and tell the user when something happened.
Task<void> EventCollector::set_clock() {
    const auto now = std::chrono::duration_cast<std::chrono::nanoseconds>(
        std::chrono::system_clock::now().time_since_epoch());
    auto set = co_await device_->co_call(cxl::set_timestamp(static_cast<uint64_t>(now.count())),
                                         background_transaction("Set Timestamp"));
    if (!set.ok()) {
        log::emit(set.error().code == Errc::DeviceGone ? log::Level::Info : log::Level::Warning,
                  name_,
                  ": device clock not set, event timestamps may be 0: ", set.error().message);
    }
}

std::vector<cxl::EventLog> EventCollector::flagged_logs() {
    ++polls_;
    auto status = device_->event_status();
    if (!status.ok()) {
        failures_.failed("Event Status unreadable", status.error());
        return {};
    }
    std::vector<cxl::EventLog> logs;
    for (auto log : kLogOrder) {
        if (*status & (1u << static_cast<unsigned>(log))) {
            logs.push_back(log);
        }
    }
    return logs;
}

void EventCollector::add_overflows(uint64_t added) {
    overflows_ += added;
    if (listener_.overflows) {
        listener_.overflows(overflows_.load());
    }
}

void EventCollector::stop(std::function<void()> stopped) {
    boost::asio::post(strand_, [self = shared_from_this(), stopped = std::move(stopped)]() mutable {
        self->stopped_ = true;
        self->drain_.stop();
        self->timer_.cancel();
        self->listener_ = {};
        spawn<void>(self->strand_, self->shut_down(), self->name_ + ": stopping event collection",
                    [self, stopped = std::move(stopped)](Status) {
                        if (stopped) {
                            stopped();
                        }
                    });
    });
}

Task<Status> EventCollector::shut_down() {
    // The collection coroutine ends at its next step boundary; an arm or disarm in flight decides
    // what the device ends up with.
    co_await idle();
    if (!armed_) {
        co_return ok_status();
    }
    ++policy_in_flight_;
    Status s = co_await set_policy(false);
    policy_finished();
    if (s.ok()) {
        log::info(name_, ": collection stopped, event sources disarmed");
    } else if (s.error().code == Errc::DeviceGone) {
        log::info(name_, ": collection stopped, event sources not disarmed: ", s.error().message);
    } else {
        // The device answered and refused, or did not answer: it may stay armed.
        log::warning(name_,
                     ": collection stopped, event sources not disarmed: ", s.error().message);
    }
    co_return s;
}

Task<void> EventCollector::idle() {
    while (collecting_ || policy_in_flight_ != 0) {
        // Runs here, on the strand, before the coroutine suspends.
        auto wait = [this](std::function<void(Result<bool>)> wake) {
            idle_waiters_.push_back(std::move(wake));
        };
        // The wake-up carries no news: the loop looks at the state again.
        static_cast<void>(co_await await_callback<bool>(std::move(wait)));
    }
}

void EventCollector::wake_idle() {
    if (collecting_ || policy_in_flight_ != 0) {
        return;
    }
    for (auto& wake : std::exchange(idle_waiters_, {})) {
        wake(true);
    }
}

Task<Status> EventCollector::set_policy(bool armed) {
    cxl::EventInterruptPolicy policy;
    const uint8_t mode =
        static_cast<uint8_t>(armed ? cxl::InterruptMode::MsiMsix : cxl::InterruptMode::None);
    for (auto* s : {&policy.informational, &policy.warning, &policy.failure, &policy.fatal}) {
        s->mode = mode;
    }
    CXLMGR_CO_ASSIGN(auto command, cxl::set_event_interrupt_policy(policy));
    TransactionOptions opts;
    opts.priority = Priority::Interactive;  // a client waits for it
    opts.description = armed ? "arm event interrupts" : "disarm event interrupts";
    auto set = co_await device_->co_call(std::move(command), std::move(opts));
    if (set.ok()) {
        armed_ = armed;
    } else if (set.error().code == Errc::DeviceGone) {
        armed_ = false;  // gone or being removed: nothing left we could disarm
    }
    co_return set.ok() ? ok_status() : Status(std::move(set).error());
}

void EventCollector::change_policy(bool armed, std::function<void(Status)> done) {
    ++policy_in_flight_;
    spawn<void>(strand_, set_policy(armed),
                name_ + (armed ? ": arming" : ": disarming") + " event interrupts",
                [self = shared_from_this(), done = std::move(done)](Status s) {
                    done(std::move(s));
                    self->policy_finished();
                });
}

void EventCollector::policy_finished() {
    --policy_in_flight_;
    wake_idle();
}

void EventCollector::subscribe(std::function<void(Status)> done) {
    boost::asio::post(strand_, [self = shared_from_this(), done = std::move(done)]() mutable {
        if (self->subscribers_++ != 0 || self->stopped_) {
            done(ok_status());
            return;
        }
        // Fast polling from now on; a wait on the slow timer is cut short.
        self->timer_.cancel();
        self->change_policy(true, [name = self->name_, done = std::move(done)](Status s) {
            if (s.ok()) {
                log::info(name, ": first subscriber: event sources armed");
            }
            done(std::move(s));  // the caller reports a failure
        });
    });
}

void EventCollector::unsubscribe(std::function<void(Status)> done) {
    boost::asio::post(strand_, [self = shared_from_this(), done = std::move(done)]() mutable {
        if (self->subscribers_ == 0 || --self->subscribers_ != 0 || self->stopped_) {
            done(ok_status());  // after stop(), stop() does the disarming
            return;
        }
        self->change_policy(false, [name = self->name_, done = std::move(done)](Status s) {
            if (s.ok()) {
                log::info(name, ": last subscriber gone: event sources disarmed");
            } else if (s.error().code == Errc::DeviceGone) {
                // Gone or being removed: no device left to disarm, and no failure to report.
                log::info(name, ": last subscriber gone: event sources not disarmed: ",
                          s.error().message);
                s = ok_status();
            }
            done(std::move(s));  // the caller reports a failure
        });
    });
}

void EventCollector::read(uint64_t since, uint32_t max,
                          std::function<void(Result<std::vector<StoredEvent>>)> done) {
    boost::asio::post(journal_executor_,
                      [journal = journal_, name = name_, since, max, done = std::move(done)] {
                          done(journal->read(name, since, max));
                      });
}

}  // namespace cxlmgr::daemon
