// The D-Bus clients of events_bench: a subscriber that timestamps every Event signal of one
// device, an injector that calls org.cxlmgr1.Emulator.InjectEvent (one call at a time, or with
// a window of calls in flight), and a bare-signal emitter/receiver pair for the bus's own
// ceiling. Every event carries its own id in `dpa` (id * 0x40), so each received signal is
// matched to its injection.
#pragma once

#include <sdbus-c++/sdbus-c++.h>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace cxlmgr::bench {

using Clock = std::chrono::steady_clock;
using Fields = std::map<std::string, sdbus::Variant>;

// One Event signal as the subscriber saw it.
struct Arrival {
    Clock::time_point at;
    uint64_t seq = 0;
    uint64_t id = 0;  // dpa / 0x40; 0 for an overflow record
    bool overflow = false;
    uint64_t overflow_count = 0;  // records the device dropped, for an overflow record
};

// Collects Arrivals from signals handed to it by any thread.
class ArrivalLog {
public:
    void add(Arrival a);
    [[nodiscard]] size_t size();
    // Waits until at least n arrived, or until nothing arrived for `quiet`.
    size_t wait_for(size_t n, std::chrono::milliseconds quiet);
    [[nodiscard]] std::vector<Arrival> since(size_t index);

private:
    std::mutex mutex_;
    std::condition_variable cv_;
    std::vector<Arrival> arrivals_;
};

// Listens to org.cxlmgr1.Events.Event of one device object on its own connection (event loop
// in a thread of its own); subscribe()/unsubscribe() drive org.cxlmgr1.Events.Subscribe.
class EventSubscriber {
public:
    // Listens only; subscribe() makes it a subscriber.
    EventSubscriber(const std::string& bus_address, const std::string& device_path);
    ~EventSubscriber();
    void subscribe();
    void unsubscribe();
    ArrivalLog& arrivals() { return arrivals_; }
    // The fields of the last Event signal, for the emitter to send the same size.
    [[nodiscard]] Fields last_fields();

private:
    std::unique_ptr<sdbus::IConnection> conn_;
    std::unique_ptr<sdbus::IProxy> proxy_;
    std::string subscription_;
    ArrivalLog arrivals_;
    std::mutex fields_mutex_;
    Fields last_fields_;
};

// InjectEvent calls on its own connection. sent[id] is the time just before the call for id.
class Injector {
public:
    Injector(const std::string& bus_address, const std::string& device_path);
    ~Injector();
    // One synchronous call.
    void inject(uint64_t id);
    // Calls for ids first..first+count-1, keeping up to `window` in flight, each stamped in
    // sent; returns once every reply came (throws on the first error).
    void inject_pipelined(uint64_t first, uint64_t count, unsigned window);
    // org.freedesktop.DBus.Peer.Ping to cxlmgrd: the two-hop round trip with no daemon logic.
    void ping();
    std::map<uint64_t, Clock::time_point> sent;

private:
    std::unique_ptr<sdbus::IConnection> conn_;
    std::unique_ptr<sdbus::IProxy> proxy_;
};

// The bus's own ceiling: this process emits Event signals with the same signature and fields
// from one connection and receives them on another, through the same dbus-daemon.
class BareSignals {
public:
    BareSignals(const std::string& bus_address, Fields fields);
    ~BareSignals();
    // Emits signal id (its seq) now; sent[id] is the time.
    void emit(uint64_t id);
    // Makes sure everything emitted has left the emitter's connection.
    void flush();
    ArrivalLog& arrivals() { return arrivals_; }
    std::map<uint64_t, Clock::time_point> sent;

private:
    std::unique_ptr<sdbus::IConnection> emitter_conn_;
    std::unique_ptr<sdbus::IObject> object_;
    std::unique_ptr<sdbus::IConnection> receiver_conn_;
    std::unique_ptr<sdbus::IProxy> receiver_;
    std::unique_ptr<sdbus::IProxy> driver_;
    Fields fields_;
    ArrivalLog arrivals_;
};

}  // namespace cxlmgr::bench
