#include "daemon/event_drain.hpp"

#include <algorithm>
#include <span>
#include <utility>

#include "common/log.hpp"
#include "cxl/commands/events.hpp"

namespace cxlmgr::daemon {

TransactionOptions background_transaction(std::string description) {
    TransactionOptions opts;
    opts.priority = Priority::Background;
    opts.description = std::move(description);
    return opts;
}

void FailureStreak::failed(const std::string& what, const Error& cause) {
    if (failing_) {
        return;
    }
    failing_ = true;
    const auto level = cause.code == Errc::DeviceGone ? log::Level::Info : log::Level::Warning;
    log::emit(level, device_, ": event collection: ", what, ": ", cause.message);
}

StoreOutage::StoreOutage(std::shared_ptr<ManagedDevice> device, StoreRetry retry)
    : device_(std::move(device)), retry_(retry) {}

void StoreOutage::failed(const Error& cause) {
    ++failures_;
    const auto now = std::chrono::steady_clock::now();
    if (attempts_++ == 0) {
        started_ = now;
        delay_ = retry_.first;
        log::error(device_->name(), ": events not stored (", cause.message,
                   "): they stay on the device, the write is tried again with backoff");
        device_->events_not_stored("events not stored (" + cause.message +
                                   "), they stay on the device");
    } else {
        delay_ = std::min(delay_ * 2, retry_.max);
    }
    retry_at_ = now + delay_;
}

void StoreOutage::succeeded() {
    if (attempts_ == 0) {
        return;
    }
    const auto lasted = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - started_);
    log::info(device_->name(), ": events stored again after ", attempts_, " failed attempt",
              attempts_ == 1 ? "" : "s", " over ", lasted.count(), " ms");
    attempts_ = 0;
    device_->events_stored();
}

std::chrono::milliseconds StoreOutage::backoff() const {
    if (attempts_ == 0) {
        return std::chrono::milliseconds(0);
    }
    const auto left = retry_at_ - std::chrono::steady_clock::now();
    return std::max(std::chrono::ceil<std::chrono::milliseconds>(left),
                    std::chrono::milliseconds(0));
}

EventDrain::EventDrain(std::shared_ptr<ManagedDevice> device, std::shared_ptr<EventJournal> journal,
                       boost::asio::any_io_executor journal_executor, FailureStreak& failures,
                       StoreRetry retry, DrainOutput output)
    : name_(device->name()),
      device_(std::move(device)),
      journal_(std::move(journal)),
      journal_executor_(std::move(journal_executor)),
      failures_(failures),
      output_(std::move(output)),
      outage_(device_, retry) {}

Task<void> EventDrain::run(std::vector<cxl::EventLog> logs) {
    const uint64_t failed_before = outage_.failures();
    for (const auto log : logs) {
        // After a failed write the other logs wait too: the journal is what failed.
        if (stopped_ || outage_.failures() != failed_before) {
            co_return;
        }
        co_await drain_log(log);
    }
}

// The protocol of the header comment; stopped_ is checked after every step that waited.
Task<void> EventDrain::drain_log(cxl::EventLog log) {
    const std::string log_name(cxl::event_log_name(log));
    // Linux's loop: read the same log again until a Get comes back empty.
    while (!stopped_) {
        auto page = co_await device_->co_call(
            cxl::get_event_records(log),
            background_transaction("Get Event Records (" + log_name + ")"));
        if (stopped_) {
            co_return;
        }
        if (!page.ok()) {
            failures_.failed(log_name + " log not drained", page.error());
            co_return;
        }
        failures_.ended();

        PageWrite write = take_page(log, std::move(page).value());
        if (write.entries.empty()) {
            co_return;  // the log is empty
        }
        auto stored = co_await store(std::move(write.entries));
        if (stopped_) {
            co_return;
        }
        if (!stored.ok()) {
            // Not durable, so not cleared: the device keeps the records for the next try. The
            // overflow readings of earlier checks exist nowhere else: keep them.
            outage_.failed(stored.error());
            pending_overflows_.insert(pending_overflows_.begin(), write.earlier_readings.begin(),
                                      write.earlier_readings.end());
            co_return;
        }
        outage_.succeeded();
        count_overflows(*stored);
        if (write.handles.empty()) {
            // An overflow without records cannot be cleared by handle; it stays reported.
            hand_over(std::move(stored).value());
            co_return;
        }
        Status cleared = co_await check_overflow(log, std::move(write.overflow_state));
        if (stopped_) {
            co_return;
        }
        if (!cleared.ok()) {
            // Unverified: keep the records (and any overflow state) for the next pass.
            failures_.failed(log_name + " log not cleared, overflow check failed", cleared.error());
        } else {
            cleared = co_await clear(log, std::move(write.handles));
            if (stopped_) {
                co_return;
            }
            if (!cleared.ok()) {
                // Stored already: the next pass reads them again and the journal skips them.
                failures_.failed(log_name + " log not cleared", cleared.error());
            }
        }
        hand_over(std::move(stored).value());
        if (!cleared.ok()) {
            co_return;
        }
    }
}

EventDrain::PageWrite EventDrain::take_page(cxl::EventLog log, cxl::EventRecordsPage page) {
    PageWrite write;
    // Overflow readings of earlier checks first: they were read before this page.
    write.entries = std::exchange(pending_overflows_, {});
    write.earlier_readings = write.entries;
    if (page.overflow) {
        write.entries.push_back(overflow_entry(log, page));
    }
    for (const auto& record : page.records) {
        write.entries.push_back(record_entry(log, record));
        write.handles.push_back(record.header.handle);
    }
    page.records.clear();  // stored as entries; the overflow check needs only the header
    write.overflow_state = std::move(page);
    return write;
}

void EventDrain::count_overflows(const std::vector<StoredEvent>& stored) {
    uint64_t added = 0;
    for (const auto& ev : stored) {
        added += ev.entry.overflow_count;
    }
    if (added != 0 && output_.overflows) {
        output_.overflows(added);
    }
}

Task<Result<std::vector<StoredEvent>>> EventDrain::store(std::vector<EventEntry> entries) {
    auto append = [journal = journal_, name = name_, entries = std::move(entries)] {
        return journal->append(name, entries);
    };
    co_return co_await await_io<std::vector<StoredEvent>>(journal_executor_, std::move(append));
}

// The clear about to come resets the device's overflow state, so the state is read once more
// right before it. What changed since the page was read goes with the next write (the journal
// stores only what is new in an overflow episode).
Task<Status> EventDrain::check_overflow(cxl::EventLog log, cxl::EventRecordsPage read) {
    CXLMGR_CO_ASSIGN(
        const auto now,
        co_await device_->co_call(
            cxl::get_event_records(log),
            background_transaction("Get Event Records (" + std::string(cxl::event_log_name(log)) +
                                   ", overflow check)")));
    const bool unchanged =
        !now.overflow || now.overflow_count == 0 ||
        (read.overflow && read.first_overflow_timestamp == now.first_overflow_timestamp &&
         read.overflow_count == now.overflow_count);
    if (!unchanged && !stopped_) {
        pending_overflows_.push_back(overflow_entry(log, now));
    }
    co_return ok_status();
}

Task<Status> EventDrain::clear(cxl::EventLog log, std::vector<uint16_t> handles) {
    const uint32_t payload_size = device_->properties().payload_size;
    const std::string description =
        "Clear Event Records (" + std::string(cxl::event_log_name(log)) + ")";
    for (size_t from = 0; from < handles.size() && !stopped_;) {
        CXLMGR_CO_ASSIGN(auto clear,
                         cxl::clear_event_records(
                             log, std::span<const uint16_t>(handles).subspan(from), payload_size));
        from += clear.consumed;
        CXLMGR_CO_CHECK(co_await device_->co_call(std::move(clear.command),
                                                  background_transaction(description)));
    }
    co_return ok_status();
}

void EventDrain::hand_over(std::vector<StoredEvent> stored) {
    if (!stored.empty() && output_.events) {
        output_.events(std::move(stored));
    }
}

}  // namespace cxlmgr::daemon
