#include "daemon/event_hub.hpp"

#include <atomic>
#include <boost/asio/post.hpp>

namespace cxlmgr::daemon {

Result<std::shared_ptr<EventHub>> EventHub::open(const std::string& state_dir,
                                                 EventHubOptions options) {
    CXLMGR_ASSIGN(auto journal, EventJournal::open(state_dir + "/events.sqlite", options.journal));
    return std::make_shared<EventHub>(Private{}, std::move(journal), options);
}

EventHub::EventHub(Private, std::shared_ptr<EventJournal> journal, EventHubOptions options)
    : journal_(std::move(journal)), options_(options) {}

EventHub::~EventHub() {
    io_thread_.join();
}

std::shared_ptr<EventCollector> EventHub::collector(std::shared_ptr<ManagedDevice> device) {
    auto c = EventCollector::create(std::move(device), journal_, io_thread_.get_executor(),
                                    options_.collector);
    std::lock_guard lock(mutex_);
    // Devices come and go (rescan): forget the collectors that went with them.
    std::erase_if(collectors_, [](const auto& w) { return w.expired(); });
    collectors_.push_back(c);
    return c;
}

void EventHub::stop_all(std::function<void()> stopped) {
    std::vector<std::shared_ptr<EventCollector>> live;
    {
        std::lock_guard lock(mutex_);
        for (const auto& w : collectors_) {
            if (auto c = w.lock()) {
                live.push_back(std::move(c));
            }
        }
    }
    auto remaining = std::make_shared<std::atomic<size_t>>(live.size() + 1);
    auto done = std::make_shared<std::function<void()>>(std::move(stopped));
    auto one = [remaining, done] {
        if (remaining->fetch_sub(1) == 1) {
            (*done)();
        }
    };
    for (const auto& c : live) {
        c->stop(one);
    }
    one();
}

void EventHub::drain(std::function<void()> drained) {
    // One thread, first in first out: this runs after everything posted before it.
    boost::asio::post(io_thread_, std::move(drained));
}

}  // namespace cxlmgr::daemon
