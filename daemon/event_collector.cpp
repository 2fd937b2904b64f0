#include "daemon/event_collector.hpp"

#include <boost/asio/post.hpp>

#include "common/log.hpp"
#include "cxl/commands/timestamp.hpp"

namespace cxlmgr::daemon {

namespace {

// Linux's order: the most severe log first.
constexpr cxl::EventLog kLogOrder[] = {cxl::EventLog::Fatal, cxl::EventLog::Failure,
                                       cxl::EventLog::Warning, cxl::EventLog::Informational};

}  // namespace

struct EventCollector::Uncleared {
    std::vector<cxl::EventLog> logs;
    size_t index = 0;
    std::vector<uint16_t> handles;
    std::vector<StoredEvent> stored;
    cxl::EventRecordsPage known;  // the overflow state stored with the page (records not kept)
};

std::shared_ptr<EventCollector> EventCollector::create(
    std::shared_ptr<ManagedDevice> device, std::shared_ptr<EventJournal> journal,
    boost::asio::any_io_executor journal_executor, CollectorOptions options) {
    return std::make_shared<EventCollector>(Private{}, std::move(device), std::move(journal),
                                            std::move(journal_executor), options);
}

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
      timer_(strand_) {}

void EventCollector::set_listener(CollectorListener listener) {
    boost::asio::post(strand_, [self = shared_from_this(), listener = std::move(listener)] {
        self->listener_ = listener;
    });
}

void EventCollector::start() {
    boost::asio::post(journal_executor_, [self = shared_from_this()] {
        auto total = self->journal_->overflows(self->name_);
        boost::asio::post(self->strand_, [self, total = std::move(total)] {
            if (!total.ok()) {
                log::error(self->name_,
                           ": Overflows not read from the journal: ", total.error().message);
            } else if (*total != 0) {
                self->overflows_ = *total;
                if (self->listener_.overflows && !self->stopped_) {
                    self->listener_.overflows(*total);
                }
            }
            self->set_clock();
        });
    });
}

// Record timestamps come from the device clock, which stays at 0 until the host sets it (Linux
// sets it at probe too). Set, they tell events apart across daemon runs (the journal's duplicate
// key) and tell the user when something happened.
void EventCollector::set_clock() {
    if (stopped_) {
        return;
    }
    const auto now = std::chrono::duration_cast<std::chrono::nanoseconds>(
        std::chrono::system_clock::now().time_since_epoch());
    device_->mailbox_command(
        cxl::set_timestamp_request(static_cast<uint64_t>(now.count())), background("Set Timestamp"),
        [self = shared_from_this()](Result<cxl::MailboxResponse> r) {
            Status set = r.ok() ? cxl::parse_set_timestamp(*r) : Status(r.error());
            if (!set.ok()) {
                log::emit(
                    set.error().code == Errc::DeviceGone ? log::Level::Info : log::Level::Warning,
                    self->name_,
                    ": device clock not set, event timestamps may be 0: ", set.error().message);
            }
            self->poll();
        });
}

void EventCollector::stop(std::function<void()> stopped) {
    boost::asio::post(strand_, [self = shared_from_this(), stopped = std::move(stopped)]() mutable {
        self->stopped_ = true;
        self->timer_.cancel();
        self->listener_ = {};
        // An arm or disarm in flight decides what the device ends up with: wait for it.
        if (self->policy_in_flight_ != 0) {
            self->policy_idle_.push_back([self, stopped = std::move(stopped)]() mutable {
                self->disarm_at_stop(std::move(stopped));
            });
            return;
        }
        self->disarm_at_stop(std::move(stopped));
    });
}

void EventCollector::disarm_at_stop(std::function<void()> stopped) {
    auto finish = [stopped = std::move(stopped)] {
        if (stopped) {
            stopped();
        }
    };
    if (!armed_) {
        finish();
        return;
    }
    set_policy(false, [self = shared_from_this(), finish = std::move(finish)](Status s) {
        if (s.ok()) {
            log::info(self->name_, ": collection stopped, event sources disarmed");
        } else if (s.error().code == Errc::DeviceGone) {
            log::info(self->name_,
                      ": collection stopped, event sources not disarmed: ", s.error().message);
        } else {
            // The device answered and refused, or did not answer: it may stay armed.
            log::warning(self->name_,
                         ": collection stopped, event sources not disarmed: ", s.error().message);
        }
        finish();
    });
}

void EventCollector::warn(const std::string& what, const Error& cause) {
    if (warned_) {
        return;
    }
    warned_ = true;
    // A device gone or being removed (surprise removal, daemon stop) is not a collection fault.
    const auto level = cause.code == Errc::DeviceGone ? log::Level::Info : log::Level::Warning;
    log::emit(level, name_, ": event collection: ", what, ": ", cause.message);
}

TransactionOptions EventCollector::background(std::string description) const {
    TransactionOptions opts;
    opts.priority = Priority::Background;
    opts.description = std::move(description);
    return opts;
}

void EventCollector::schedule(std::chrono::milliseconds after) {
    if (stopped_ || draining_) {
        return;  // a drain reschedules when it ends
    }
    timer_.expires_after(after);
    timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
        if (!ec) {
            self->poll();
        }
    });
}

void EventCollector::poll() {
    if (stopped_ || draining_) {
        return;
    }
    ++polls_;
    auto status = device_->event_status();
    const auto interval = subscribers_ > 0 ? options_.fast_poll : options_.slow_poll;
    if (!status.ok()) {
        warn("Event Status unreadable", status.error());
        schedule(interval);
        return;
    }
    std::vector<cxl::EventLog> logs;
    for (auto log : kLogOrder) {
        if (*status & (1u << static_cast<unsigned>(log))) {
            logs.push_back(log);
        }
    }
    if (logs.empty()) {
        schedule(interval);
        return;
    }
    drain(std::move(logs));
}

void EventCollector::drain(std::vector<cxl::EventLog> logs) {
    draining_ = true;
    drain_log(std::move(logs), 0);
}

void EventCollector::drain_log(std::vector<cxl::EventLog> logs, size_t index) {
    if (stopped_) {
        return;
    }
    if (index >= logs.size()) {
        draining_ = false;
        // Look again soon while subscribed: more may have come during the drain.
        schedule(subscribers_ > 0 ? std::chrono::milliseconds(0) : options_.slow_poll);
        return;
    }
    const auto log = logs[index];
    device_->mailbox_command(
        cxl::get_event_records_request(log),
        background("Get Event Records (" + std::string(cxl::event_log_name(log)) + ")"),
        [self = shared_from_this(), logs = std::move(logs), index,
         log](Result<cxl::MailboxResponse> r) mutable {
            if (self->stopped_) {
                return;
            }
            auto page = r.ok() ? cxl::parse_event_records(*r)
                               : Result<cxl::EventRecordsPage>(std::move(r).error());
            if (!page.ok()) {
                self->warn(std::string(cxl::event_log_name(log)) + " log not drained",
                           page.error());
                self->drain_log(std::move(logs), index + 1);
                return;
            }
            self->warned_ = false;
            self->store(std::move(logs), index, std::move(page).value());
        });
}

void EventCollector::store(std::vector<cxl::EventLog> logs, size_t index,
                           cxl::EventRecordsPage page) {
    const auto log = logs[index];
    // Overflow readings of earlier checks first: they were read before this page.
    std::vector<EventEntry> entries = std::move(pending_overflows_);
    pending_overflows_.clear();
    const size_t pending_count = entries.size();
    if (page.overflow) {
        entries.push_back(overflow_entry(log, page));
    }
    std::vector<uint16_t> handles;
    for (const auto& record : page.records) {
        entries.push_back(record_entry(log, record));
        handles.push_back(record.header.handle);
    }
    if (entries.empty()) {
        drain_log(std::move(logs), index + 1);
        return;
    }
    page.records.clear();  // stored as entries; the overflow check needs only the header
    std::vector<EventEntry> pending(entries.begin(),
                                    entries.begin() + static_cast<std::ptrdiff_t>(pending_count));
    boost::asio::post(journal_executor_, [self = shared_from_this(), logs = std::move(logs), index,
                                          entries = std::move(entries),
                                          handles = std::move(handles), page = std::move(page),
                                          pending = std::move(pending)]() mutable {
        auto stored = self->journal_->append(self->name_, entries);
        boost::asio::post(self->strand_, [self, logs = std::move(logs), index,
                                          handles = std::move(handles), stored = std::move(stored),
                                          page = std::move(page),
                                          pending = std::move(pending)]() mutable {
            if (self->stopped_) {
                return;
            }
            if (!stored.ok()) {
                // Not durable, so not cleared: the device keeps the records for the next try.
                // The overflow readings of earlier checks exist nowhere else: keep them.
                log::error(self->name_,
                           ": events not stored, left on the device: ", stored.error().message);
                self->pending_overflows_.insert(self->pending_overflows_.begin(), pending.begin(),
                                                pending.end());
                self->drain_log(std::move(logs), index + 1);
                return;
            }
            self->count_overflows(*stored);
            if (handles.empty()) {
                // An overflow without records cannot be cleared by handle; it stays reported.
                self->finished_log(std::move(logs), index, std::move(stored).value(), false);
                return;
            }
            self->check_overflow(
                std::make_shared<Uncleared>(Uncleared{std::move(logs), index, std::move(handles),
                                                      std::move(stored).value(), std::move(page)}));
        });
    });
}

void EventCollector::count_overflows(const std::vector<StoredEvent>& stored) {
    uint64_t added = 0;
    for (const auto& ev : stored) {
        added += ev.entry.overflow_count;
    }
    if (added != 0) {
        overflows_ += added;
        if (listener_.overflows) {
            listener_.overflows(overflows_.load());
        }
    }
}

// The header comment's "Overflow": the clear about to come resets the device's overflow state,
// so the state is read once more right before it. What changed since the page was read goes
// with the next write (the journal stores only what is new in an overflow episode).
void EventCollector::check_overflow(std::shared_ptr<Uncleared> page) {
    const auto log = page->logs[page->index];
    device_->mailbox_command(
        cxl::get_event_records_request(log),
        background("Get Event Records (" + std::string(cxl::event_log_name(log)) +
                   ", overflow check)"),
        [self = shared_from_this(), page, log](Result<cxl::MailboxResponse> r) {
            if (self->stopped_) {
                return;
            }
            auto now = r.ok() ? cxl::parse_event_records(*r)
                              : Result<cxl::EventRecordsPage>(std::move(r).error());
            if (!now.ok()) {
                // Unverified: keep the records (and any overflow state) for the next drain.
                self->warn(std::string(cxl::event_log_name(log)) +
                               " log not cleared, overflow check failed",
                           now.error());
                self->finished_log(std::move(page->logs), page->index, std::move(page->stored),
                                   false);
                return;
            }
            const auto& known = page->known;
            const bool unchanged =
                !now->overflow || now->overflow_count == 0 ||
                (known.overflow &&
                 known.first_overflow_timestamp == now->first_overflow_timestamp &&
                 known.overflow_count == now->overflow_count);
            if (!unchanged) {
                self->pending_overflows_.push_back(overflow_entry(log, *now));
            }
            self->clear(std::move(page), 0);
        });
}

void EventCollector::clear(std::shared_ptr<Uncleared> page, size_t from) {
    const auto log = page->logs[page->index];
    if (from >= page->handles.size()) {
        finished_log(std::move(page->logs), page->index, std::move(page->stored), true);
        return;
    }
    auto request = cxl::clear_event_records_request(
        log, std::span<const uint16_t>(page->handles).subspan(from),
        device_->properties().payload_size);
    if (!request.ok()) {
        warn("cannot build Clear Event Records", request.error());
        finished_log(std::move(page->logs), page->index, std::move(page->stored), false);
        return;
    }
    const size_t next = from + request->consumed;
    device_->mailbox_command(
        std::move(request->request),
        background("Clear Event Records (" + std::string(cxl::event_log_name(log)) + ")"),
        [self = shared_from_this(), page, next](Result<cxl::MailboxResponse> r) {
            if (self->stopped_) {
                return;
            }
            Status status = r.ok() ? cxl::parse_clear_event_records(*r) : Status(r.error());
            if (!status.ok()) {
                // Stored already: the next drain reads them again and the journal skips them.
                self->warn("Clear Event Records failed", status.error());
                self->finished_log(std::move(page->logs), page->index, std::move(page->stored),
                                   false);
                return;
            }
            self->clear(std::move(page), next);
        });
}

void EventCollector::finished_log(std::vector<cxl::EventLog> logs, size_t index,
                                  std::vector<StoredEvent> stored, bool again) {
    if (!stored.empty() && listener_.events) {
        listener_.events(std::move(stored));
    }
    // Linux's loop: read the same log again until a Get comes back empty.
    drain_log(std::move(logs), again ? index : index + 1);
}

void EventCollector::set_policy(bool armed, std::function<void(Status)> done) {
    cxl::EventInterruptPolicy policy;
    const uint8_t mode =
        static_cast<uint8_t>(armed ? cxl::InterruptMode::MsiMsix : cxl::InterruptMode::None);
    for (auto* s : {&policy.informational, &policy.warning, &policy.failure, &policy.fatal}) {
        s->mode = mode;
    }
    auto request = cxl::set_event_interrupt_policy_request(policy);
    if (!request.ok()) {
        done(request.error());
        return;
    }
    TransactionOptions opts;
    opts.priority = Priority::Interactive;  // a client waits for it
    opts.description = armed ? "arm event interrupts" : "disarm event interrupts";
    ++policy_in_flight_;
    device_->mailbox_command(
        std::move(request).value(), std::move(opts),
        [self = shared_from_this(), armed, done = std::move(done)](Result<cxl::MailboxResponse> r) {
            Status s = r.ok() ? cxl::parse_set_event_interrupt_policy(*r) : Status(r.error());
            if (s.ok()) {
                self->armed_ = armed;
            } else if (s.error().code == Errc::DeviceGone) {
                self->armed_ = false;  // gone or being removed: nothing left we could disarm
            }
            done(std::move(s));
            if (--self->policy_in_flight_ == 0) {
                auto waiting = std::move(self->policy_idle_);
                self->policy_idle_.clear();
                for (auto& w : waiting) {
                    w();
                }
            }
        });
}

void EventCollector::subscribe(std::function<void(Status)> done) {
    boost::asio::post(strand_, [self = shared_from_this(), done = std::move(done)]() mutable {
        if (self->subscribers_++ != 0 || self->stopped_) {
            done(ok_status());
            return;
        }
        // Fast polling from now on; a wait on the slow timer is cut short.
        if (!self->draining_) {
            self->timer_.cancel();
            self->schedule(std::chrono::milliseconds(0));
        }
        self->set_policy(true, [name = self->name_, done = std::move(done)](Status s) {
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
        self->set_policy(false, [name = self->name_, done = std::move(done)](Status s) {
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
