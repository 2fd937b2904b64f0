// Collects one device's events (docs/DESIGN.md "Events"): drains the four event logs through the
// arbiter at Background priority (Get Event Records until a page comes back empty, so More
// Records paging is followed), writes what it read to the journal and waits until that is
// durable, then clears exactly the handles it read, then hands the stored events to the
// listener. A crash between the write and the clear re-reads the same records later; the journal
// recognises them, so nothing is lost and nothing is stored twice.
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
// Stopping: stop() ends collection and, if the device is armed, disarms it (policy none). For
// the disarm to reach the device, the daemon has to stop its collectors (EventHub::stop_all)
// before it closes the devices' channels. A disarm the channel refuses because the device is
// gone or being removed is logged as skipped, at info: there is nothing left to disarm.
//
// Threading: all state lives on the device's mailbox strand; journal I/O runs on the hub's
// journal executor, so neither the D-Bus thread nor the arbiter's pool waits for the disk.
// Every callback holds a shared_ptr to the collector; stop() makes the late ones do nothing.
#pragma once

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "daemon/event_journal.hpp"
#include "daemon/managed_device.hpp"

namespace cxlmgr::daemon {

struct CollectorOptions {
    std::chrono::milliseconds slow_poll{2000};
    std::chrono::milliseconds fast_poll{5};
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
    // No more polls; work in flight finishes without touching the device again or calling the
    // listener. Records read but not cleared yet are read again by the next collector. If the
    // device is armed, it is disarmed once any arm/disarm in flight has finished; `stopped`
    // (optional) runs on the strand after that. Idempotent.
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

private:
    void set_clock();
    void schedule(std::chrono::milliseconds after);
    void poll();
    void drain(std::vector<cxl::EventLog> logs);
    void drain_log(std::vector<cxl::EventLog> logs, size_t index);
    void store(std::vector<cxl::EventLog> logs, size_t index, cxl::EventRecordsPage page);
    // A page stored and not cleared yet.
    struct Uncleared;
    void check_overflow(std::shared_ptr<Uncleared> page);
    void count_overflows(const std::vector<StoredEvent>& stored);
    // Clears page->handles from `from` on, in as many commands as the payload needs.
    void clear(std::shared_ptr<Uncleared> page, size_t from);
    void finished_log(std::vector<cxl::EventLog> logs, size_t index,
                      std::vector<StoredEvent> stored, bool again);
    void set_policy(bool armed, std::function<void(Status)> done);
    void disarm_at_stop(std::function<void()> stopped);
    // One line per failure streak; at info level when the device is gone or being removed.
    void warn(const std::string& what, const Error& cause);
    TransactionOptions background(std::string description) const;

    const std::string name_;
    std::shared_ptr<ManagedDevice> device_;
    std::shared_ptr<EventJournal> journal_;
    boost::asio::any_io_executor strand_;
    boost::asio::any_io_executor journal_executor_;
    CollectorOptions options_;
    boost::asio::steady_timer timer_;

    // Strand-only state.
    CollectorListener listener_;
    bool stopped_ = false;
    bool draining_ = false;
    bool warned_ = false;  // one log line per failure streak, not one per poll
    // Overflow states read right before a clear, for the next write (header comment).
    std::vector<EventEntry> pending_overflows_;
    bool armed_ = false;  // the policy the device accepted last (arm/disarm in flight excluded)
    unsigned policy_in_flight_ = 0;
    std::vector<std::function<void()>> policy_idle_;  // run when policy_in_flight_ drops to 0

    std::atomic<unsigned> subscribers_{0};
    std::atomic<uint64_t> overflows_{0};
    std::atomic<uint64_t> polls_{0};
};

}  // namespace cxlmgr::daemon
