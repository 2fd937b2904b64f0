#include "daemon/event_hub.hpp"

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
    return EventCollector::create(std::move(device), journal_, io_thread_.get_executor(),
                                  options_.collector);
}

}  // namespace cxlmgr::daemon
