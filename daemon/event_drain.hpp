// The drain of one device's event logs, the protocol at the heart of the collector; its
// guarantees (durable before clear, nothing lost or stored twice across a crash, overflow
// accounting, Background priority) are stated in daemon/event_collector.hpp. One pass takes the
// logs whose Event Status bit was set, most severe first, and for each log loops:
//
//   page = Get Event Records; if it holds nothing: next log
//   store the page durably (the journal, on the journal thread)
//   re-read the log right before the clear, keeping any change of its overflow state
//   Clear Event Records of exactly the handles read (as many commands as the payload needs)
//   hand the stored events to the collector
//
// A step that fails ends the log's turn: what is left waits on the device for the next pass. A
// journal write that fails (a full disk, an I/O error) ends the pass and starts a store outage:
// the records stay on the device, the device is degraded, and the collector drains again only
// after a backoff (StoreOutage).
//
// Threading: a pass runs as a coroutine on the device's mailbox strand, where all of this
// object's state lives; journal I/O runs on the journal executor. Whoever awaits run() keeps
// this object alive (the collector owns it and its coroutine holds the collector).
#pragma once

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/post.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/coro.hpp"
#include "daemon/event_journal.hpp"
#include "daemon/managed_device.hpp"

namespace cxlmgr::daemon {

// Runs `io` (file I/O that may block) on `executor` as one handler and resumes the awaiting
// coroutine with its result on the coroutine's own executor: no pool thread waits for the disk.
template <typename T, typename F>
Task<Result<T>> await_io(boost::asio::any_io_executor executor, F io) {
    auto start = [executor = std::move(executor),
                  io = std::move(io)](std::function<void(Result<T>)> deliver) mutable {
        boost::asio::post(executor, [io = std::move(io), deliver = std::move(deliver)]() mutable {
            deliver(io());
        });
    };
    co_return co_await await_callback<T>(std::move(start));
}

// Collection's mailbox commands yield to everything a client waits for.
TransactionOptions background_transaction(std::string description);

// One log line per failure streak, not one per poll: the first failure after a success is
// logged, at info level when the device is gone or being removed (surprise removal, daemon stop:
// not a collection fault), at warning level otherwise.
class FailureStreak {
public:
    explicit FailureStreak(std::string device) : device_(std::move(device)) {}
    void failed(const std::string& what, const Error& cause);
    void ended() { failing_ = false; }

private:
    std::string device_;
    bool failing_ = false;
};

// How soon a failed journal write is tried again: `first`, doubling with every failure up to
// `max`.
struct StoreRetry {
    std::chrono::milliseconds first{100};
    std::chrono::milliseconds max{5000};
};

// An episode of journal writes failing for one device. Its events stay on the device until
// stored (nothing is cleared before its write is durable); meanwhile the device is degraded with
// the reason, and writing is retried with backoff, never in a loop. One log line when it starts
// (the device, the journal's error) and one when a write succeeds again (failed attempts, how
// long). Strand-only, but failures() may be read from any thread.
class StoreOutage {
public:
    StoreOutage(std::shared_ptr<ManagedDevice> device, StoreRetry retry);

    void failed(const Error& cause);
    void succeeded();
    // How long from now until the next write may be tried; zero when it may be tried now.
    [[nodiscard]] std::chrono::milliseconds backoff() const;
    // Failed writes since the collector started, for tests and diagnostics.
    [[nodiscard]] uint64_t failures() const { return failures_.load(); }

private:
    std::shared_ptr<ManagedDevice> device_;
    StoreRetry retry_;
    unsigned attempts_ = 0;  // failed writes of the outage going on; 0: none
    std::chrono::steady_clock::time_point started_;
    std::chrono::steady_clock::time_point retry_at_;
    std::chrono::milliseconds delay_{0};
    std::atomic<uint64_t> failures_{0};
};

// Where a drain's results go; called on the strand.
struct DrainOutput {
    // A page's newly stored events, in sequence order, after their clear was attempted.
    std::function<void(std::vector<StoredEvent>)> events;
    // Overflow records newly stored (the growth the journal counted), never 0.
    std::function<void(uint64_t)> overflows;
};

class EventDrain {
public:
    EventDrain(std::shared_ptr<ManagedDevice> device, std::shared_ptr<EventJournal> journal,
               boost::asio::any_io_executor journal_executor, FailureStreak& failures,
               StoreRetry retry, DrainOutput output);

    // One pass over `logs`, in the order given, each until a Get Event Records comes back empty
    // (so More Records paging is followed) or a step fails. A failed journal write ends the
    // pass.
    Task<void> run(std::vector<cxl::EventLog> logs);
    // While journal writes fail: how long until the next pass may try again (zero: now).
    [[nodiscard]] std::chrono::milliseconds store_backoff() const { return outage_.backoff(); }
    [[nodiscard]] uint64_t store_failures() const { return outage_.failures(); }
    // No step begins after this: a step in flight ends without touching the device again or
    // calling the output. Records read but not cleared are read again by the next collector.
    void stop() { stopped_ = true; }

private:
    // What one page puts in the journal, and what its clear needs.
    struct PageWrite {
        // Overflow readings kept from earlier checks (read before the page, so first), the
        // page's overflow state, its records.
        std::vector<EventEntry> entries;
        std::vector<EventEntry> earlier_readings;  // kept again when the write fails
        std::vector<uint16_t> handles;             // the records', oldest first
        cxl::EventRecordsPage overflow_state;      // the page without its records
    };

    Task<void> drain_log(cxl::EventLog log);
    PageWrite take_page(cxl::EventLog log, cxl::EventRecordsPage page);
    void count_overflows(const std::vector<StoredEvent>& stored);
    // The journal write of `entries`, durable when it returns ok (on the journal executor).
    Task<Result<std::vector<StoredEvent>>> store(std::vector<EventEntry> entries);
    // Reads `log` once more right before its clear and keeps any change of the overflow state
    // since `read` for the next write (event_collector.hpp, "Overflow").
    Task<Status> check_overflow(cxl::EventLog log, cxl::EventRecordsPage read);
    // Clears `handles` (oldest first) in as many commands as the payload needs.
    Task<Status> clear(cxl::EventLog log, std::vector<uint16_t> handles);
    void hand_over(std::vector<StoredEvent> stored);

    const std::string name_;
    std::shared_ptr<ManagedDevice> device_;
    std::shared_ptr<EventJournal> journal_;
    boost::asio::any_io_executor journal_executor_;
    FailureStreak& failures_;
    DrainOutput output_;

    // Strand-only state.
    bool stopped_ = false;
    // Overflow states read right before a clear, for the next write, across passes.
    std::vector<EventEntry> pending_overflows_;
    StoreOutage outage_;
};

}  // namespace cxlmgr::daemon
