#include "dbus/events_interface.hpp"

#include "common/log.hpp"
#include "daemon/event_values.hpp"
#include "dbus/subscriptions.hpp"
#include "dbus/values.hpp"

namespace cxlmgr::dbus {

namespace {

// The signal's and GetEvents' tuple; the daemon decodes the stored bytes.
Result<std::tuple<uint64_t, std::string, std::string, uint64_t, VariantDict>> to_tuple(
    const daemon::StoredEvent& stored) {
    CXLMGR_ASSIGN(auto ev, daemon::decode_event(stored));
    return std::make_tuple(ev.seq, std::string(daemon::event_log_name(ev.log)), std::move(ev.kind),
                           ev.timestamp, event_fields_to_dict(ev));
}

}  // namespace

EventsInterface::EventsInterface(DeviceContext& context,
                                 std::shared_ptr<daemon::EventCollector> collector,
                                 std::shared_ptr<SubscriptionRegistry> subscriptions)
    : Events_adaptor(context.object),
      context_(context),
      collector_(std::move(collector)),
      subscriptions_(std::move(subscriptions)) {}

EventsInterface::~EventsInterface() {
    collector_->stop();
}

void EventsInterface::start() {
    // The callbacks run on the collector's strand and hop to the D-Bus thread while the object
    // is on the bus; `this` is alive then (the parts go in the same turn as `alive`).
    daemon::CollectorListener listener;
    listener.events = context_.on_dbus_thread_if_alive(
        [this](std::vector<daemon::StoredEvent> events) { emit(events); });
    listener.overflows =
        context_.on_dbus_thread_if_alive([this](uint64_t total) { overflows_changed(total); });
    collector_->set_listener(std::move(listener));
    collector_->start();
}

void EventsInterface::emit(const std::vector<daemon::StoredEvent>& events) {
    for (const auto& ev : events) {
        auto t = to_tuple(ev);
        if (!t.ok()) {
            // Stored and retrievable; only this rendering failed (a record that does not decode).
            log::error(context_.name, ": event ", ev.seq, " not signalled: ", t.error().message);
            continue;
        }
        try {
            std::apply([this](const auto&... v) { emitEvent(v...); }, *t);
        } catch (const sdbus::Error& e) {
            log::warning(context_.name, ": Event signal not sent: ", e.getMessage());
        }
    }
    context_.service.loop->kick();
}

void EventsInterface::overflows_changed(uint64_t total) {
    overflows_ = total;
    try {
        context_.object.emitPropertiesChangedSignal(INTERFACE_NAME, {"Overflows"});
    } catch (const sdbus::Error& e) {
        log::warning(context_.name, ": Overflows change not sent: ", e.getMessage());
    }
    context_.service.loop->kick();
}

void EventsInterface::GetEvents(sdbus::Result<std::vector<EventTuple>>&& result, uint64_t since_seq,
                                uint32_t max) {
    using Events = std::vector<daemon::StoredEvent>;
    collector_->read(since_seq, max,
                     context_.service.calls->defer<Events>(
                         std::move(result), context_.subject(),
                         [](Events&& events) -> Result<std::tuple<std::vector<EventTuple>>> {
                             std::vector<EventTuple> out;
                             out.reserve(events.size());
                             for (const auto& ev : events) {
                                 CXLMGR_ASSIGN(auto t, to_tuple(ev));
                                 out.emplace_back(std::get<0>(t), std::get<1>(t), std::get<2>(t),
                                                  std::get<3>(t), std::get<4>(t));
                             }
                             return std::tuple<std::vector<EventTuple>>(std::move(out));
                         }));
}

void EventsInterface::Subscribe(sdbus::Result<sdbus::ObjectPath>&& result,
                                std::map<std::string, sdbus::Variant> filter) {
    if (auto valid = validate_subscription_filter(filter); !valid.ok()) {
        result.returnError(to_dbus_error(valid.error(), context_.name));
        return;
    }
    const sdbus::Message* message = context_.object.getCurrentlyProcessedMessage();
    if (message == nullptr) {
        result.returnError(make_dbus_error(Errc::Internal, "Subscribe outside of a call"));
        return;
    }
    auto done = context_.service.calls->defer<std::string>(
        std::move(result), context_.subject(),
        [](std::string&& path) -> Result<std::tuple<sdbus::ObjectPath>> {
            return std::tuple<sdbus::ObjectPath>(sdbus::ObjectPath(path));
        });
    subscriptions_->subscribe(context_.object.getObjectPath(), std::move(filter),
                              message->getSender(), collector_, std::move(done));
}

}  // namespace cxlmgr::dbus
