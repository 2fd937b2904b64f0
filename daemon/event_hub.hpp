// The daemon's event machinery: the journal (under the state directory), the one thread that
// does the journal's file I/O, and a collector per device.
//
// Lifetime: create it before the Arbiter and destroy it after the Arbiter's pool has stopped
// (collectors post to the journal thread from pool threads and back). Its destructor joins the
// journal thread.
//
// Daemon stop (DeviceRegistry's shutdown): call stop_all() before the devices' channels are
// closed. It stops every collector and disarms the devices that are armed (Set Event Interrupt
// Policy back to none), which needs the channels still open; a device closed first is skipped
// with an info line. Then drain(), before the pool stops: work the collectors gave the journal
// thread earlier (a start's journal read, a write) ends by posting to the collector's strand on
// the pool and holds the collector, whose timer belongs to the pool.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/thread_pool.hpp>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "daemon/event_collector.hpp"
#include "daemon/event_journal.hpp"

namespace cxlmgr::daemon {

struct EventHubOptions {
    JournalLimits journal;
    CollectorOptions collector;
};

class EventHub {
    struct Private {};

public:
    // Opens (or creates) <state_dir>/events.sqlite.
    static Result<std::shared_ptr<EventHub>> open(const std::string& state_dir,
                                                  EventHubOptions options = {});
    EventHub(Private, std::shared_ptr<EventJournal> journal, EventHubOptions options);
    ~EventHub();
    EventHub(const EventHub&) = delete;
    EventHub& operator=(const EventHub&) = delete;

    // A new collector for `device`, not started yet (the caller sets its listener first).
    std::shared_ptr<EventCollector> collector(std::shared_ptr<ManagedDevice> device);

    // Stops every collector made here that is still alive (EventCollector::stop) and calls
    // `stopped` once all of them have finished stopping, disarming included; from a pool
    // thread, or at once when there is none. Callable from any thread.
    void stop_all(std::function<void()> stopped);

    // Calls `drained` on the journal thread once everything posted to it before has run (and
    // posted what it posts). Callable from any thread.
    void drain(std::function<void()> drained);

    // The journal thread, for tests that hold it up.
    [[nodiscard]] boost::asio::any_io_executor journal_executor() {
        return io_thread_.get_executor();
    }

    [[nodiscard]] const std::shared_ptr<EventJournal>& journal() const { return journal_; }

private:
    std::shared_ptr<EventJournal> journal_;
    EventHubOptions options_;
    std::mutex mutex_;
    std::vector<std::weak_ptr<EventCollector>> collectors_;
    boost::asio::thread_pool io_thread_{1};
};

}  // namespace cxlmgr::daemon
