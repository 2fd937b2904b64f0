// org.cxlmgr1.Events on a device object: the Event signal for every event the device's collector
// stored (in sequence order: the collector hands them over in order and the Dispatcher keeps
// it), GetEvents from the journal in bounded pages (read, decoded and written into the reply on
// the journal thread; only created and sent on the D-Bus thread), Subscribe
// (daemon-wide SubscriptionRegistry) and the Overflows property.
//
// The device registry creates the device's collector and stops it before the device is closed
// (docs/DESIGN.md "Lifetimes"). The interface starts it once the object can carry the signals,
// and stops it (idempotent) should the object go first.
#pragma once

#include <dbus/generated/Events_adaptor.h>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "daemon/event_collector.hpp"
#include "dbus/service_context.hpp"

namespace cxlmgr::dbus {

class SubscriptionRegistry;

class EventsInterface final : public org::cxlmgr1::Events_adaptor {
public:
    EventsInterface(DeviceContext& context, std::shared_ptr<daemon::EventCollector> collector,
                    std::shared_ptr<SubscriptionRegistry> subscriptions);
    virtual ~EventsInterface();

    // After finishRegistration(): installs the listener and starts collecting.
    void start();

    // GetEvents answers at most this many events, whatever `max` asks (docs/DBUS.md "GetEvents
    // pages"): about 280 KB. Every reply queues behind the page before it on our one connection,
    // so the page size bounds what any other caller waits; 1,000-event pages measured no faster.
    static constexpr uint32_t kGetEventsMaxEvents = 256;
    // ... and adds no event once its reply's body has reached this many bytes, so that a page
    // stays far below the system bus's 32 MiB message limit. Clients page on with `since`.
    static constexpr size_t kGetEventsMaxBytes = 1024 * 1024;

private:
    using EventTuple = sdbus::Struct<uint64_t, std::string, std::string, uint64_t,
                                     std::map<std::string, sdbus::Variant>>;

    void GetEvents(sdbus::Result<std::vector<EventTuple>>&& result, uint64_t since_seq,
                   uint32_t max) override;
    void Subscribe(sdbus::Result<sdbus::ObjectPath>&& result,
                   std::map<std::string, sdbus::Variant> filter) override;
    uint64_t Overflows() override { return overflows_; }

    // D-Bus thread.
    void emit(const std::vector<daemon::StoredEvent>& events);
    void overflows_changed(uint64_t total);

    DeviceContext& context_;
    std::shared_ptr<daemon::EventCollector> collector_;
    std::shared_ptr<SubscriptionRegistry> subscriptions_;
    uint64_t overflows_ = 0;
};

}  // namespace cxlmgr::dbus
