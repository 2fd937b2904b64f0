#include "dbus/subscriptions.hpp"

#include <sdbus-c++/Error.h>
#include <algorithm>
#include <boost/asio/post.hpp>
#include <span>

#include "common/log.hpp"
#include "daemon/event_values.hpp"
#include "dbus/errors.hpp"

namespace cxlmgr::dbus {

namespace {

constexpr std::string_view kSubscriptionsPath = "/org/cxlmgr1/subscriptions";

Status check_strings(const VariantDict& filter, const std::string& key,
                     std::span<const std::string_view> known) {
    auto it = filter.find(key);
    if (it == filter.end()) {
        return ok_status();
    }
    if (it->second.peekValueType() != "as") {
        return Error(Errc::InvalidArgument, "Subscribe: filter key '" + key +
                                                "' must be an array of strings (as), not '" +
                                                it->second.peekValueType() + "'");
    }
    for (const auto& value : it->second.get<std::vector<std::string>>()) {
        if (std::find(known.begin(), known.end(), value) == known.end()) {
            std::string list;
            for (auto k : known) {
                list += (list.empty() ? "" : ", ") + std::string(k);
            }
            return Error(Errc::InvalidArgument, "Subscribe: unknown " + key + " value '" + value +
                                                    "' (known: " + list + ")");
        }
    }
    return ok_status();
}

}  // namespace

Status validate_subscription_filter(const VariantDict& filter) {
    for (const auto& [key, value] : filter) {
        if (key != "logs" && key != "kinds") {
            return Error(Errc::InvalidArgument,
                         "Subscribe: unknown filter key '" + key + "' (known: logs, kinds)");
        }
    }
    CXLMGR_CHECK(check_strings(filter, "logs", daemon::collected_event_log_names()));
    return check_strings(filter, "kinds", daemon::event_kind_names());
}

SubscriptionObject::SubscriptionObject(SubscriptionRegistry& registry,
                                       std::unique_ptr<sdbus::IObject> object, uint64_t id,
                                       std::string device_path, VariantDict filter,
                                       std::string owner,
                                       std::shared_ptr<daemon::EventCollector> collector)
    : Subscription_adaptor(*object),
      registry_(registry),
      object_(std::move(object)),
      id_(id),
      device_path_(std::move(device_path)),
      filter_(std::move(filter)),
      owner_(std::move(owner)),
      collector_(std::move(collector)) {
    object_->finishRegistration();
}

SubscriptionObject::~SubscriptionObject() {
    object_->unregister();
}

void SubscriptionObject::Unsubscribe(sdbus::Result<>&& result) {
    const sdbus::Message* message = object_->getCurrentlyProcessedMessage();
    if (message == nullptr) {
        result.returnError(make_dbus_error(Errc::Internal, "Unsubscribe outside of a call"));
        return;
    }
    // The owner may always; anyone else needs root (a credentials query only then).
    if (message->getSender() != owner_) {
        auto allowed = registry_.service().authorizer.check(
            *message, Access::Privileged,
            "Unsubscribe on subscription " + std::to_string(id_) + " of " + owner_);
        if (!allowed.ok()) {
            result.returnError(to_dbus_error(allowed.error(), "cxlmgrd"));
            return;
        }
    }
    auto done = registry_.service().calls->defer<std::monostate>(
        std::move(result), CallSubject{"cxlmgrd", registry_.shared_from_this()},
        [](std::monostate) { return Result<std::tuple<>>(std::tuple<>()); });
    registry_.end(id_, [done](Status s) {
        done(s.ok() ? Result<std::monostate>(std::monostate{}) : Result<std::monostate>(s.error()));
    });
}

SubscriptionRegistry::SubscriptionRegistry(ServiceContext& service)
    : service_(service),
      bus_driver_(
          sdbus::createProxy(service.connection, "org.freedesktop.DBus", "/org/freedesktop/DBus")) {
    bus_driver_->uponSignal("NameOwnerChanged")
        .onInterface("org.freedesktop.DBus")
        .call([this](const std::string& name, const std::string& old_owner,
                     const std::string& new_owner) { owner_changed(name, old_owner, new_owner); });
    bus_driver_->finishRegistration();
}

SubscriptionRegistry::~SubscriptionRegistry() = default;

void SubscriptionRegistry::subscribe(const std::string& device_path, VariantDict filter,
                                     const std::string& owner,
                                     std::shared_ptr<daemon::EventCollector> collector,
                                     std::function<void(Result<std::string>)> done) {
    if (auto it = per_owner_.find(owner);
        it != per_owner_.end() && it->second >= kMaxSubscriptionsPerConnection) {
        done(Error(Errc::LimitsExceeded,
                   owner + " holds " + std::to_string(it->second) +
                       " subscriptions, the most one connection may hold: end one "
                       "(Unsubscribe) before making another"));
        return;
    }
    const uint64_t id = next_id_++;
    const std::string path = std::string(kSubscriptionsPath) + "/" + std::to_string(id);
    std::unique_ptr<SubscriptionObject> object;
    try {
        object = std::make_unique<SubscriptionObject>(
            *this, sdbus::createObject(service_.connection, path), id, device_path,
            std::move(filter), owner, collector);
    } catch (const sdbus::Error& e) {
        done(Error(Errc::Internal, "cannot export " + path + ": " + e.getMessage()));
        return;
    }
    subscriptions_.emplace(id, std::move(object));
    ++per_owner_[owner];
    log::info(collector->device_name(), ": subscription ", id, " for ", owner);
    check_owner(id, owner);
    // The reply waits for the arming, so a caller that reads the policy next sees it armed.
    collector->subscribe(
        [path, name = collector->device_name(), done = std::move(done)](Status armed) {
            if (!armed.ok()) {
                log::warning(name, ": event interrupts not armed (fast polling still on): ",
                             armed.error().message);
            }
            done(path);
        });
}

void SubscriptionRegistry::end(uint64_t id, std::function<void(Status)> done) {
    auto it = subscriptions_.find(id);
    if (it == subscriptions_.end()) {
        done(Error(Errc::NotFound, "subscription " + std::to_string(id) + " has ended already"));
        return;
    }
    auto collector = it->second->collector();
    log::info(collector->device_name(), ": subscription ", id, " of ", it->second->owner(),
              " ended");
    if (auto count = per_owner_.find(it->second->owner());
        count != per_owner_.end() && --count->second == 0) {
        per_owner_.erase(count);
    }
    retiring_.emplace(id, std::move(it->second));
    subscriptions_.erase(it);
    boost::asio::post(service_.io, [weak = weak_from_this(), id] {
        if (auto self = weak.lock()) {
            self->retiring_.erase(id);
        }
    });
    collector->unsubscribe([done = std::move(done), name = collector->device_name()](Status s) {
        if (!s.ok()) {
            // The subscription is gone either way; the device may stay armed.
            log::warning(name, ": event interrupts not disarmed: ", s.error().message);
        }
        done(ok_status());
    });
}

void SubscriptionRegistry::check_owner(uint64_t id, const std::string& owner) {
    // A NameOwnerChanged announcing the owner's departure may have gone by before this
    // subscription existed (the match sees only departures after it). The bus driver answers
    // this question after it has sent any such signal, and a departure after its answer still
    // comes as NameOwnerChanged: together they miss nothing.
    try {
        bus_driver_->callMethodAsync("NameHasOwner")
            .onInterface("org.freedesktop.DBus")
            .withArguments(owner)
            .uponReplyInvoke(
                [weak = weak_from_this(), id, owner](const sdbus::Error* error, bool has_owner) {
                    auto self = weak.lock();
                    if (!self || self->subscriptions_.count(id) == 0) {
                        return;
                    }
                    if (error != nullptr) {
                        // Kept: the subscription still ends with a later NameOwnerChanged.
                        log::warning("subscription ", id, ": cannot ask whether ", owner,
                                     " is still on the bus: ", error->getMessage());
                        return;
                    }
                    if (!has_owner) {
                        log::info("subscription ", id, ": ", owner,
                                  " left the bus before its subscription was made");
                        self->end(id, [](Status) {});
                        self->service_.loop->kick();
                    }
                });
    } catch (const sdbus::Error& e) {
        log::warning("subscription ", id, ": cannot ask whether ", owner,
                     " is still on the bus: ", e.getMessage());
    }
    service_.loop->kick();
}

void SubscriptionRegistry::owner_changed(const std::string& name, const std::string& old_owner,
                                         const std::string& new_owner) {
    // A unique name that goes away: its connection left the bus.
    if (!new_owner.empty() || old_owner.empty() || name != old_owner) {
        return;
    }
    std::vector<uint64_t> gone;
    for (const auto& [id, sub] : subscriptions_) {
        if (sub->owner() == name) {
            gone.push_back(id);
        }
    }
    for (uint64_t id : gone) {
        end(id, [](Status) {});
    }
    if (!gone.empty()) {
        service_.loop->kick();
    }
}

void SubscriptionRegistry::clear() {
    std::vector<uint64_t> ids;
    for (const auto& [id, sub] : subscriptions_) {
        ids.push_back(id);
    }
    for (uint64_t id : ids) {
        end(id, [](Status) {});
    }
}

}  // namespace cxlmgr::dbus
