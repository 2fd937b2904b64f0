#include "dbus/events_interface.hpp"

#include <algorithm>

#include "common/log.hpp"
#include "daemon/event_values.hpp"
#include "dbus/message_writer.hpp"
#include "dbus/subscriptions.hpp"

namespace cxlmgr::dbus {

namespace {

// One GetEvents page: the events read, decoded one at a time and written straight into the
// reply (no Variant tree), until kGetEventsMaxEvents events or kGetEventsMaxBytes of body.
// Runs on the journal thread (docs/DBUS.md "Threading and lifetimes").
Status write_page(sdbus::Message& reply, const std::vector<daemon::StoredEvent>& events) {
    MessageWriter writer(reply);
    writer.open_array("(tssta{sv})");
    for (const auto& stored : events) {
        if (writer.bytes() >= EventsInterface::kGetEventsMaxBytes) {
            break;  // the client pages on from the last seq it got
        }
        CXLMGR_ASSIGN(auto event, daemon::decode_event(stored));
        writer.open_struct(MessageWriter::kEventStruct);
        writer.event(event);
        writer.close_struct();
    }
    writer.close_array();
    return ok_status();
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
    for (const auto& stored : events) {
        auto event = daemon::decode_event(stored);
        if (!event.ok()) {
            // Stored and retrievable; only this rendering failed (a record that does not decode).
            log::error(context_.name, ": event ", stored.seq,
                       " not signalled: ", event.error().message);
            continue;
        }
        try {
            sdbus::Signal signal = context_.object.createSignal(INTERFACE_NAME, "Event");
            MessageWriter(signal).event(*event);
            context_.object.emitSignal(signal);
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
    // The reply is created here, on the D-Bus thread, from the call being handled; the journal
    // thread writes it and the D-Bus thread sends it (docs/DBUS.md "Threading and lifetimes").
    auto call = current_call(context_.object);
    if (!call) {
        result.returnError(make_dbus_error(Errc::Internal, "GetEvents outside of a call"));
        return;
    }
    using Events = std::vector<daemon::StoredEvent>;
    collector_->read(
        since_seq, std::min(max, kGetEventsMaxEvents),
        context_.service.calls->defer_written<Events>(
            std::move(result), context_.subject(), call->createReply(),
            [](sdbus::Message& reply, Events&& events) { return write_page(reply, events); }));
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
