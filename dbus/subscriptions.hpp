// Event subscriptions: /org/cxlmgr1/subscriptions/<n> objects (org.cxlmgr1.Subscription), n
// counting up from 1 per daemon run. Each one holds one count on its device's collector (the
// first arms the device's event sources, the last disarms them). A subscription ends when its
// owner calls Unsubscribe (or root does), or when the owner leaves the bus: the registry watches
// NameOwnerChanged from the bus driver for that, and asks the bus driver once more after creating
// a subscription (NameHasOwner), because the owner's departure may have been announced before
// the subscription existed.
//
// A connection may hold at most kMaxSubscriptionsPerConnection subscriptions at a time (on all
// devices together): each one costs an exported object and log lines, and nothing else bounds
// what an unprivileged caller can make us hold. One more answers LimitsExceeded, before
// anything is exported or armed. A connection that leaves the bus takes its count with it.
//
// Threading: D-Bus thread only.
#pragma once

#include <dbus/generated/Subscription_adaptor.h>
#include <sdbus-c++/IProxy.h>
#include <map>
#include <memory>
#include <string>

#include "daemon/event_collector.hpp"
#include "dbus/json_variant.hpp"
#include "dbus/service_context.hpp"

namespace cxlmgr::dbus {

class SubscriptionRegistry;

// docs/DBUS.md "Events and subscriptions".
inline constexpr size_t kMaxSubscriptionsPerConnection = 64;

class SubscriptionObject final : public org::cxlmgr1::Subscription_adaptor {
public:
    SubscriptionObject(SubscriptionRegistry& registry, std::unique_ptr<sdbus::IObject> object,
                       uint64_t id, std::string device_path, VariantDict filter, std::string owner,
                       std::shared_ptr<daemon::EventCollector> collector);
    ~SubscriptionObject();

    [[nodiscard]] uint64_t id() const { return id_; }
    [[nodiscard]] const std::string& owner() const { return owner_; }
    [[nodiscard]] const std::shared_ptr<daemon::EventCollector>& collector() const {
        return collector_;
    }

private:
    void Unsubscribe(sdbus::Result<>&& result) override;
    sdbus::ObjectPath Device() override { return device_path_; }
    VariantDict Filter() override { return filter_; }
    std::string Owner() override { return owner_; }

    SubscriptionRegistry& registry_;
    std::unique_ptr<sdbus::IObject> object_;
    uint64_t id_;
    std::string device_path_;
    VariantDict filter_;
    std::string owner_;
    std::shared_ptr<daemon::EventCollector> collector_;
};

class SubscriptionRegistry : public std::enable_shared_from_this<SubscriptionRegistry> {
public:
    // Starts watching NameOwnerChanged. sdbus::Error when the match cannot be added.
    explicit SubscriptionRegistry(ServiceContext& service);
    ~SubscriptionRegistry();

    // Exports a subscription of `owner` and counts it on the collector; `done` gets its path
    // once the device is armed (or the arming failed, which is logged: the subscription still
    // gets fast collection). LimitsExceeded (at once, nothing exported) when `owner` holds
    // kMaxSubscriptionsPerConnection already.
    void subscribe(const std::string& device_path, VariantDict filter, const std::string& owner,
                   std::shared_ptr<daemon::EventCollector> collector,
                   std::function<void(Result<std::string>)> done);
    // Ends subscription `id`; `done` once the device is disarmed if it was the last one.
    void end(uint64_t id, std::function<void(Status)> done);
    [[nodiscard]] size_t size() const { return subscriptions_.size(); }
    [[nodiscard]] ServiceContext& service() { return service_; }
    // Drops every subscription (service stopping).
    void clear();

private:
    // Ends subscription `id` if `owner` has left the bus already (asynchronous: the D-Bus loop
    // never waits for the bus driver).
    void check_owner(uint64_t id, const std::string& owner);
    void owner_changed(const std::string& name, const std::string& old_owner,
                       const std::string& new_owner);

    ServiceContext& service_;
    std::unique_ptr<sdbus::IProxy> bus_driver_;
    uint64_t next_id_ = 1;
    std::map<uint64_t, std::unique_ptr<SubscriptionObject>> subscriptions_;
    std::map<std::string, size_t> per_owner_;  // live subscriptions of each connection
    // Removed objects wait here for a posted destruction: end() may run inside their handler.
    std::map<uint64_t, std::unique_ptr<SubscriptionObject>> retiring_;
};

// Checks a Subscribe filter: keys logs (as) and kinds (as) with known values only.
Status validate_subscription_filter(const VariantDict& filter);

}  // namespace cxlmgr::dbus
