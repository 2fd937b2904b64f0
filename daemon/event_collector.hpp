// Collects one device's events: drains the four event logs through the arbiter at Background
// priority (Get Event Records until a page comes back empty, so More Records paging is
// followed), writes what it read to the journal and waits until that is durable, then clears
// exactly the handles it read, then hands the stored events to the listener. A crash between
// the write and the clear re-reads the same records later; the journal recognises them, so
// nothing is lost and nothing is stored twice.
//
// Polling: none of our backends can deliver the device's interrupts to user space, so the
// collector polls the Event Status register (an MMIO read of the Device Status capability, no
// mailbox command) and drains only the logs whose bit is set: every `slow_poll` while nobody is
// subscribed (near zero idle cost, also with hundreds of devices), every `fast_poll` while
// someone is. Subscriptions are counted here: the first arms the device (Set Event Interrupt
// Policy: MSI/MSI-X for the four logs, so a backend that can take interrupts gets them, and fast
// polling), the last disarms it (policy none, slow polling).
//
// Overflow: the device keeps its overflow state (count, first and last time) until the next
// successful Clear Event Records, which resets it. Our clear follows a durable write that takes
// milliseconds (an fsync), far longer than Linux's read-then-clear, and a log that overflowed in
// that window would have its overflow erased by our own clear, unseen. So the collector reads
// the log's page once more right before the clear and keeps any change of the overflow state for
// its next write (with the next page, or alone when the log turns out empty): no extra fsync, so
// a device that overflows is not drained any slower. What the device drops is thus counted,
// except what overflows in the microseconds between that read and the clear (the protocol cannot
// read and clear atomically); and a reading kept for the next write is lost if the daemon dies
// before it (the count of records the device dropped, never a record).
//
// Journal failures: records are cleared only once stored, so while the journal cannot write
// (a full disk, an I/O error) they stay on the device (a full log overflows there, and that
// is counted once it can be stored). The device is degraded meanwhile, with the journal's
// error as the reason, and back online by itself once a write succeeds. No poll drains until
// the backoff has passed (store_retry doubling to store_retry_max), fast polling and a first
// subscriber included, so a journal that cannot write is not hammered. One log line when the
// failures start, one when they end (daemon/event_drain.hpp, StoreOutage).
//
// Stopping: stop() ends collection and, if the device is armed, disarms it (policy none). For
// the disarm to reach the device, the daemon has to stop its collectors (EventHub::stop_all)
// before it closes the devices' channels. A disarm the channel refuses because the device is
// gone or being removed is logged as skipped, at info: there is nothing left to disarm.
//
// Threading: all state lives on the device's mailbox strand, where the collection runs as one
// coroutine (start-up, then poll and drain, in daemon/event_drain.hpp); journal I/O runs on the
// hub's journal executor, so neither the D-Bus thread nor the arbiter's pool waits for the disk.
// The coroutine checks for a stop at every step boundary, and stop() reports only once it has
// ended (and the disarm is done): after that no timer, coroutine frame or callback of the
// collector is left on the pool, which may then stop.
#pragma once

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/coro.hpp"
#include "daemon/event_drain.hpp"
#include "daemon/event_journal.hpp"
#include "daemon/managed_device.hpp"

namespace cxlmgr::daemon {

struct CollectorOptions {
    std::chrono::milliseconds slow_poll{2000};
    std::chrono::milliseconds fast_poll{5};
    // A failed journal write is tried again after store_retry, doubling up to store_retry_max,
    // whatever the polling ("Journal failures" above).
    std::chrono::milliseconds store_retry{100};
    std::chrono::milliseconds store_retry_max{5000};
};

struct CollectorListener {
    // Newly stored events, in sequence order, after their clear was attempted.
    std::function<void(std::vector<StoredEvent>)> events;
    // The device's Overflows total changed (also once at start with the stored total).
    std::function<void(uint64_t)> overflows;
};

class EventCollector : public std::enable_shared_from_this<EventCollector> {
    struct Private {};

public:
    static std::shared_ptr<EventCollector> create(std::shared_ptr<ManagedDevice> device,
                                                  std::shared_ptr<EventJournal> journal,
                                                  boost::asio::any_io_executor journal_executor,
                                                  CollectorOptions options = {});
    EventCollector(Private, std::shared_ptr<ManagedDevice> device,
                   std::shared_ptr<EventJournal> journal,
                   boost::asio::any_io_executor journal_executor, CollectorOptions options);

    // Set before start(); called on the collector's strand.
    void set_listener(CollectorListener listener);
    // Reads the stored Overflows total, sets the device clock (Set Timestamp), then polls at once
    // and keeps polling.
    void start();
    // No more polls; the step in flight finishes without touching the device again or calling
    // the listener. Records read but not cleared yet are read again by the next collector. If
    // the device is armed, it is disarmed once any arm/disarm in flight has finished. `stopped`
    // (optional) runs on the strand once the collection coroutine has ended and the disarm is
    // done. Idempotent.
    void stop(std::function<void()> stopped = {});

    // Subscription counting; done runs (on the strand) once the interrupt policy command the
    // change caused has finished, with its outcome (ok at once when nothing had to change, and
    // after stop(), which owns the last disarm).
    void subscribe(std::function<void(Status)> done);
    void unsubscribe(std::function<void(Status)> done);

    // The device's stored events (GetEvents); done runs on the journal executor.
    void read(uint64_t since, uint32_t max,
              std::function<void(Result<std::vector<StoredEvent>>)> done);

    [[nodiscard]] const std::string& device_name() const { return name_; }
    [[nodiscard]] uint64_t overflows() const { return overflows_.load(); }
    [[nodiscard]] unsigned subscribers() const { return subscribers_.load(); }
    [[nodiscard]] uint64_t polls() const { return polls_.load(); }
    // Journal writes that failed since start, for tests and diagnostics.
    [[nodiscard]] uint64_t store_failures() const { return drain_.store_failures(); }

private:
    // Start-up (stored Overflows total, Set Timestamp), then poll and drain until stop().
    Task<Status> collect();
    Task<void> set_clock();
    // Reads Event Status: the logs that hold records, most severe first.
    std::vector<cxl::EventLog> flagged_logs();
    void add_overflows(uint64_t added);
    // Sends the interrupt policy; armed_ follows what the device accepted. The caller counts it
    // in policy_in_flight_ from the moment it decides to send, and calls policy_finished() after.
    Task<Status> set_policy(bool armed);
    void change_policy(bool armed, std::function<void(Status)> done);
    void policy_finished();
    // Ends collection: waits for the collection coroutine and any arm/disarm in flight, then
    // disarms an armed device.
    Task<Status> shut_down();
    // Resumes once neither the collection coroutine nor an arm/disarm is running.
    Task<void> idle();
    void wake_idle();

    const std::string name_;
    std::shared_ptr<ManagedDevice> device_;
    std::shared_ptr<EventJournal> journal_;
    boost::asio::any_io_executor strand_;
    boost::asio::any_io_executor journal_executor_;
    CollectorOptions options_;

    // Strand-only state.
    boost::asio::steady_timer timer_;  // the wait between polls; cancelled to poll at once
    CollectorListener listener_;
    FailureStreak failures_;
    EventDrain drain_;
    bool started_ = false;
    bool stopped_ = false;
    bool collecting_ = false;  // the collection coroutine runs
    bool armed_ = false;  // the policy the device accepted last (arm/disarm in flight excluded)
    unsigned policy_in_flight_ = 0;
    std::vector<std::function<void(Result<bool>)>> idle_waiters_;

    std::atomic<unsigned> subscribers_{0};
    std::atomic<uint64_t> overflows_{0};
    std::atomic<uint64_t> polls_{0};
};

}  // namespace cxlmgr::daemon
