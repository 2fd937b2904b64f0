// Collects one device's events (DESIGN.md "Events"): drains the four event logs through the
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
    // listener. Records read but not cleared yet are read again by the next collector.
    void stop();

    // Subscription counting; done runs (on the strand) once the interrupt policy command the
    // change caused has finished, with its outcome (ok at once when nothing had to change).
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
    void clear(std::vector<cxl::EventLog> logs, size_t index, std::vector<uint16_t> handles,
               size_t from, std::vector<StoredEvent> stored);
    void finished_log(std::vector<cxl::EventLog> logs, size_t index,
                      std::vector<StoredEvent> stored, bool again);
    void set_policy(bool armed, std::function<void(Status)> done);
    void warn(const std::string& what);
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

    std::atomic<unsigned> subscribers_{0};
    std::atomic<uint64_t> overflows_{0};
    std::atomic<uint64_t> polls_{0};
};

}  // namespace cxlmgr::daemon
