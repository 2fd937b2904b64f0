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
                log::warning(self->name_, ": device clock not set, event timestamps may be 0: ",
                             set.error().message);
            }
            self->poll();
        });
}

void EventCollector::stop() {
    boost::asio::post(strand_, [self = shared_from_this()] {
        self->stopped_ = true;
        self->timer_.cancel();
        self->listener_ = {};
    });
}

void EventCollector::warn(const std::string& what) {
    if (!warned_) {
        log::warning(name_, ": event collection: ", what);
        warned_ = true;
    }
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
        warn("Event Status unreadable: " + status.error().message);
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
                self->warn(std::string(cxl::event_log_name(log)) +
                           " log not drained: " + page.error().message);
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
    std::vector<EventEntry> entries;
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
    boost::asio::post(journal_executor_, [self = shared_from_this(), logs = std::move(logs), index,
                                          entries = std::move(entries),
                                          handles = std::move(handles)]() mutable {
        auto stored = self->journal_->append(self->name_, entries);
        boost::asio::post(self->strand_, [self, logs = std::move(logs), index,
                                          handles = std::move(handles),
                                          stored = std::move(stored)]() mutable {
            if (self->stopped_) {
                return;
            }
            if (!stored.ok()) {
                // Not durable, so not cleared: the device keeps the records for the next try.
                log::error(self->name_,
                           ": events not stored, left on the device: ", stored.error().message);
                self->drain_log(std::move(logs), index + 1);
                return;
            }
            uint64_t added = 0;
            for (const auto& ev : *stored) {
                added += ev.entry.overflow_count;
            }
            if (added != 0) {
                self->overflows_ += added;
                if (self->listener_.overflows) {
                    self->listener_.overflows(self->overflows_.load());
                }
            }
            if (handles.empty()) {
                // An overflow without records cannot be cleared by handle; it stays reported.
                self->finished_log(std::move(logs), index, std::move(stored).value(), false);
                return;
            }
            self->clear(std::move(logs), index, std::move(handles), 0, std::move(stored).value());
        });
    });
}

void EventCollector::clear(std::vector<cxl::EventLog> logs, size_t index,
                           std::vector<uint16_t> handles, size_t from,
                           std::vector<StoredEvent> stored) {
    const auto log = logs[index];
    if (from >= handles.size()) {
        finished_log(std::move(logs), index, std::move(stored), true);
        return;
    }
    auto request = cxl::clear_event_records_request(
        log, std::span<const uint16_t>(handles).subspan(from), device_->properties().payload_size);
    if (!request.ok()) {
        warn("cannot build Clear Event Records: " + request.error().message);
        finished_log(std::move(logs), index, std::move(stored), false);
        return;
    }
    const size_t next = from + request->consumed;
    device_->mailbox_command(
        std::move(request->request),
        background("Clear Event Records (" + std::string(cxl::event_log_name(log)) + ")"),
        [self = shared_from_this(), logs = std::move(logs), index, handles = std::move(handles),
         next, stored = std::move(stored)](Result<cxl::MailboxResponse> r) mutable {
            if (self->stopped_) {
                return;
            }
            Status cleared = r.ok() ? cxl::parse_clear_event_records(*r) : Status(r.error());
            if (!cleared.ok()) {
                // Stored already: the next drain reads them again and the journal skips them.
                self->warn("Clear Event Records failed: " + cleared.error().message);
                self->finished_log(std::move(logs), index, std::move(stored), false);
                return;
            }
            self->clear(std::move(logs), index, std::move(handles), next, std::move(stored));
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
    device_->mailbox_command(
        std::move(request).value(), std::move(opts),
        [done = std::move(done)](Result<cxl::MailboxResponse> r) {
            done(r.ok() ? cxl::parse_set_event_interrupt_policy(*r) : Status(r.error()));
        });
}

void EventCollector::subscribe(std::function<void(Status)> done) {
    boost::asio::post(strand_, [self = shared_from_this(), done = std::move(done)]() mutable {
        if (self->subscribers_++ != 0) {
            done(ok_status());
            return;
        }
        log::info(self->name_, ": first subscriber: event sources armed");
        // Fast polling from now on; a wait on the slow timer is cut short.
        if (!self->draining_ && !self->stopped_) {
            self->timer_.cancel();
            self->schedule(std::chrono::milliseconds(0));
        }
        self->set_policy(true, std::move(done));
    });
}

void EventCollector::unsubscribe(std::function<void(Status)> done) {
    boost::asio::post(strand_, [self = shared_from_this(), done = std::move(done)]() mutable {
        if (self->subscribers_ == 0 || --self->subscribers_ != 0) {
            done(ok_status());
            return;
        }
        log::info(self->name_, ": last subscriber gone: event sources disarmed");
        self->set_policy(false, std::move(done));
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
