#include "bench/events_bench_clients.hpp"

#include <stdexcept>

namespace cxlmgr::bench {

namespace {

constexpr const char* kEvents = "org.cxlmgr1.Events";

// The id an injection put into `dpa`; 0 (an overflow record, or no dpa) otherwise.
uint64_t id_of(const std::string& kind, const Fields& fields) {
    if (kind == "overflow") {
        return 0;
    }
    auto it = fields.find("dpa");
    return it == fields.end() ? 0 : it->second.get<uint64_t>() / 0x40;
}

}  // namespace

void ArrivalLog::add(Arrival a) {
    std::lock_guard lock(mutex_);
    arrivals_.push_back(a);
    cv_.notify_all();
}

size_t ArrivalLog::size() {
    std::lock_guard lock(mutex_);
    return arrivals_.size();
}

size_t ArrivalLog::wait_for(size_t n, std::chrono::milliseconds quiet) {
    std::unique_lock lock(mutex_);
    while (arrivals_.size() < n) {
        const size_t before = arrivals_.size();
        // A stall longer than `quiet` ends the wait: what is missing by then is lost.
        if (!cv_.wait_for(lock, quiet, [&] { return arrivals_.size() != before; })) {
            break;
        }
    }
    return arrivals_.size();
}

std::vector<Arrival> ArrivalLog::since(size_t index) {
    std::lock_guard lock(mutex_);
    if (index >= arrivals_.size()) {
        return {};
    }
    return {arrivals_.begin() + static_cast<std::ptrdiff_t>(index), arrivals_.end()};
}

EventSubscriber::EventSubscriber(const std::string& bus_address, const std::string& device_path)
    : conn_(sdbus::createSessionBusConnectionWithAddress(bus_address)),
      proxy_(sdbus::createProxy(*conn_, "org.cxlmgr1", device_path)) {
    proxy_->uponSignal("Event").onInterface(kEvents).call([this](uint64_t seq, const std::string&,
                                                                 const std::string& kind, uint64_t,
                                                                 const Fields& fields) {
        const auto at = Clock::now();
        const bool overflow = kind == "overflow";
        arrivals_.add({at, seq, id_of(kind, fields), overflow,
                       overflow ? fields.at("count").get<uint64_t>() : 0});
        if (kind != "overflow") {
            std::lock_guard lock(fields_mutex_);
            if (last_fields_.empty()) {
                last_fields_ = fields;
            }
        }
    });
    proxy_->finishRegistration();
    conn_->enterEventLoopAsync();
}

EventSubscriber::~EventSubscriber() {
    conn_->leaveEventLoop();
}

void EventSubscriber::subscribe() {
    sdbus::ObjectPath path;
    proxy_->callMethod("Subscribe")
        .onInterface(kEvents)
        .withArguments(Fields{})
        .storeResultsTo(path);
    subscription_ = path;
}

void EventSubscriber::unsubscribe() {
    auto sub = sdbus::createProxy(*conn_, "org.cxlmgr1", subscription_);
    sub->callMethod("Unsubscribe").onInterface("org.cxlmgr1.Subscription");
    subscription_.clear();
}

Fields EventSubscriber::last_fields() {
    std::lock_guard lock(fields_mutex_);
    return last_fields_;
}

Injector::Injector(const std::string& bus_address, const std::string& device_path)
    : conn_(sdbus::createSessionBusConnectionWithAddress(bus_address)),
      proxy_(sdbus::createProxy(*conn_, "org.cxlmgr1", device_path)) {
    proxy_->finishRegistration();
    conn_->enterEventLoopAsync();  // for the replies of inject_pipelined
}

Injector::~Injector() {
    conn_->leaveEventLoop();
}

void Injector::inject(uint64_t id) {
    const Fields fields{{"dpa", sdbus::Variant(id * 0x40)}};
    sent[id] = Clock::now();
    proxy_->callMethod("InjectEvent")
        .onInterface("org.cxlmgr1.Emulator")
        .withArguments(std::string("informational"), std::string("general-media"), fields);
}

void Injector::inject_pipelined(uint64_t first, uint64_t count, unsigned window) {
    // Shared with the reply callbacks, which may outlive an early return.
    struct State {
        std::mutex mutex;
        std::condition_variable cv;
        uint64_t in_flight = 0;
        std::string error;
    };
    auto state = std::make_shared<State>();
    auto wait_until = [&](uint64_t at_most) {
        std::unique_lock lock(state->mutex);
        state->cv.wait(lock, [&] { return state->in_flight <= at_most; });
        return state->error;
    };
    for (uint64_t id = first; id < first + count; ++id) {
        if (auto error = wait_until(window - 1); !error.empty()) {
            wait_until(0);
            throw std::runtime_error("InjectEvent: " + error);
        }
        {
            std::lock_guard lock(state->mutex);
            ++state->in_flight;
        }
        const Fields fields{{"dpa", sdbus::Variant(id * 0x40)}};
        sent[id] = Clock::now();
        proxy_->callMethodAsync("InjectEvent")
            .onInterface("org.cxlmgr1.Emulator")
            .withArguments(std::string("informational"), std::string("general-media"), fields)
            .uponReplyInvoke([state](const sdbus::Error* e) {
                std::lock_guard lock(state->mutex);
                if (e != nullptr && state->error.empty()) {
                    state->error = e->getName() + ": " + e->getMessage();
                }
                --state->in_flight;
                state->cv.notify_all();
            });
    }
    if (auto error = wait_until(0); !error.empty()) {
        throw std::runtime_error("InjectEvent: " + error);
    }
}

void Injector::ping() {
    proxy_->callMethod("Ping").onInterface("org.freedesktop.DBus.Peer");
}

BareSignals::BareSignals(const std::string& bus_address, Fields fields)
    : emitter_conn_(sdbus::createSessionBusConnectionWithAddress(bus_address)),
      object_(sdbus::createObject(*emitter_conn_, "/org/cxlmgr1bench/emitter")),
      receiver_conn_(sdbus::createSessionBusConnectionWithAddress(bus_address)),
      fields_(std::move(fields)) {
    object_->registerSignal("Event")
        .onInterface(kEvents)
        .withParameters<uint64_t, std::string, std::string, uint64_t, Fields>();
    object_->finishRegistration();
    driver_ = sdbus::createProxy(*emitter_conn_, "org.freedesktop.DBus", "/org/freedesktop/DBus");
    receiver_ = sdbus::createProxy(*receiver_conn_, emitter_conn_->getUniqueName(),
                                   "/org/cxlmgr1bench/emitter");
    receiver_->uponSignal("Event").onInterface(kEvents).call(
        [this](uint64_t seq, const std::string&, const std::string&, uint64_t, const Fields&) {
            arrivals_.add({Clock::now(), seq, seq, false, 0});
        });
    receiver_->finishRegistration();
    receiver_conn_->enterEventLoopAsync();
    flush();  // the receiver's match rule is in place before the first emit
}

BareSignals::~BareSignals() {
    receiver_conn_->leaveEventLoop();
}

void BareSignals::emit(uint64_t id) {
    sent[id] = Clock::now();
    object_->emitSignal("Event").onInterface(kEvents).withArguments(
        id, std::string("informational"), std::string("general-media"), uint64_t{0}, fields_);
}

void BareSignals::flush() {
    // A synchronous call writes everything queued on the connection before it; a round trip
    // through the receiver's connection proves its AddMatch has been processed.
    std::string id;
    driver_->callMethod("GetId").onInterface("org.freedesktop.DBus").storeResultsTo(id);
    auto receiver_driver =
        sdbus::createProxy(*receiver_conn_, "org.freedesktop.DBus", "/org/freedesktop/DBus");
    receiver_driver->callMethod("GetId").onInterface("org.freedesktop.DBus").storeResultsTo(id);
}

}  // namespace cxlmgr::bench
