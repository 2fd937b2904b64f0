// cxlmgrctl events watch: subscribe and print events as they come, missing none and printing
// none twice, also across daemon restarts.
//
// Race-free watching (docs/DBUS.md "Bus facts"): the match for Event signals is installed first,
// then each device is subscribed, then its stored events are read (GetEvents) from the last
// sequence number handled. The daemon signals an event only after storing it, so every event is
// either in that read or arrives as a signal after the match existed: the union misses nothing,
// and a per-device "last sequence number handled" drops the overlap.
//
// Everything the bus thread receives (signals, owner changes) goes through one queue that the
// main thread empties in arrival order, doing its calls in between; signals that arrive while a
// catch-up read runs wait in the queue and are compared with what the read printed. When the
// daemon's unique name leaves the bus, the watch waits for a new owner, subscribes again and
// catches up from the last sequence number it handled per device (the journal keeps numbering
// across restarts).
#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <iostream>
#include <mutex>
#include <optional>

#include "tools/cxlmgrctl/client.hpp"
#include "tools/cxlmgrctl/commands.hpp"
#include "tools/cxlmgrctl/events.hpp"

namespace cxlmgrctl {

namespace {

using namespace std::chrono_literals;

std::atomic<bool> g_stop{false};

extern "C" void on_stop_signal(int) {
    g_stop.store(true);
}

struct Item {
    enum class Type { Event, OwnerChanged, DeviceAdded } type = Type::Event;
    std::string path;  // Event, DeviceAdded
    EventData event;
    std::string old_owner, new_owner;  // OwnerChanged (of org.cxlmgr1)
};

class Inbox {
public:
    void push(Item item) {
        std::lock_guard lock(mutex_);
        items_.push_back(std::move(item));
        cv_.notify_one();
    }
    // The oldest item, or nothing after `wait`.
    std::optional<Item> pop(std::chrono::milliseconds wait) {
        std::unique_lock lock(mutex_);
        if (!cv_.wait_for(lock, wait, [&] { return !items_.empty(); })) {
            return std::nullopt;
        }
        Item item = std::move(items_.front());
        items_.pop_front();
        return item;
    }

private:
    std::mutex mutex_;
    std::condition_variable cv_;
    std::deque<Item> items_;
};

class Watch {
public:
    Watch(sdbus::IConnection& bus, const Globals& g, std::vector<std::string> named,
          std::vector<std::string> logs, std::optional<uint64_t> since)
        : bus_(bus),
          g_(g),
          named_(std::move(named)),
          logs_(std::move(logs)),
          since_(since),
          baseline_(since.value_or(0)),
          inbox_(std::make_shared<Inbox>()),
          driver_(sdbus::createProxy(bus, "org.freedesktop.DBus", "/org/freedesktop/DBus")) {}

    int run();

private:
    struct Device {
        std::string name;
        std::string subscription;
    };

    void install_matches();
    void start_session(bool first);
    void add_device(const std::string& path, bool first);
    void handle(const std::string& path, const EventData& event);
    bool wait_for_daemon();
    void unsubscribe_all();
    bool daemon_on_bus();

    sdbus::IConnection& bus_;
    Globals g_;
    std::vector<std::string> named_;  // object paths; empty: every device
    std::vector<std::string> logs_;   // empty: every log
    std::optional<uint64_t> since_;
    uint64_t baseline_;  // where a device not seen before starts (--since, or the newest at start)
    std::shared_ptr<Inbox> inbox_;
    std::unique_ptr<sdbus::IProxy> driver_;
    std::vector<sdbus::Slot> slots_;
    std::string owner_;                      // the daemon's unique name; "" while it is away
    std::map<std::string, Device> devices_;  // subscribed in this session, by path
    std::map<std::string, uint64_t> last_;   // last seq handled per path, across sessions
};

void Watch::install_matches() {
    // The handlers run inside sd-bus (C code): nothing may be thrown through it. A signal that
    // does not parse is not the contract's and is dropped.
    auto guarded = [inbox = inbox_](auto parse) {
        return [inbox, parse](sdbus::Message& msg) {
            try {
                if (std::optional<Item> item = parse(msg)) {
                    inbox->push(std::move(*item));
                }
            } catch (const sdbus::Error&) {
            }
        };
    };
    slots_.push_back(bus_.addMatch(
        "type='signal',sender='org.cxlmgr1',interface='org.cxlmgr1.Events',member='Event'",
        guarded([](sdbus::Message& msg) -> std::optional<Item> {
            Item item;
            item.path = msg.getPath();
            auto& e = item.event;
            msg >> e.seq >> e.log >> e.kind >> e.timestamp >> e.fields;
            return item;
        })));
    slots_.push_back(bus_.addMatch(
        "type='signal',sender='org.freedesktop.DBus',interface='org.freedesktop.DBus',"
        "member='NameOwnerChanged',arg0='org.cxlmgr1'",
        guarded([](sdbus::Message& msg) -> std::optional<Item> {
            Item item;
            item.type = Item::Type::OwnerChanged;
            std::string name;
            msg >> name >> item.old_owner >> item.new_owner;
            return item;
        })));
    // Devices that appear later (Manager.Rescan) when watching every device.
    slots_.push_back(bus_.addMatch(
        "type='signal',sender='org.cxlmgr1',interface='org.freedesktop.DBus.ObjectManager',"
        "member='InterfacesAdded',path='/org/cxlmgr1'",
        guarded([](sdbus::Message& msg) -> std::optional<Item> {
            sdbus::ObjectPath path;
            std::map<std::string, VariantMap> interfaces;
            msg >> path >> interfaces;
            if (interfaces.count("org.cxlmgr1.Events") == 0) {
                return std::nullopt;
            }
            Item item;
            item.type = Item::Type::DeviceAdded;
            item.path = path;
            return item;
        })));
}

bool Watch::daemon_on_bus() {
    bool owned = false;
    driver_->callMethod("NameHasOwner")
        .onInterface("org.freedesktop.DBus")
        .withArguments(std::string(kService))
        .storeResultsTo(owned);
    return owned;
}

void Watch::start_session(bool first) {
    devices_.clear();
    // NameHasNoOwner here is "cxlmgrd is not running" (status 3 on the first session).
    driver_->callMethod("GetNameOwner")
        .onInterface("org.freedesktop.DBus")
        .withArguments(std::string(kService))
        .storeResultsTo(owner_);
    std::vector<std::string> paths = named_;
    if (paths.empty()) {
        for (const auto& path : ManagerProxy(bus_, kRoot).ListDevices()) {
            paths.push_back(path);
        }
    }
    for (const auto& path : paths) {
        if (first) {
            add_device(path, true);  // a bad device name ends the command (status 1)
            continue;
        }
        try {
            add_device(path, false);
        } catch (const sdbus::Error& e) {
            if (exit_status_for(e) == kExitUnreachable) {
                throw;
            }
            std::cerr << "cxlmgrctl: not watching " << path << " now: " << e.getMessage() << " ("
                      << e.getName() << ")\n";
        }
    }
}

void Watch::add_device(const std::string& path, bool first) {
    Device device;
    device.name = device_name(bus_, path);
    VariantMap filter;
    if (!logs_.empty()) {
        filter["logs"] = sdbus::Variant(logs_);
    }
    device.subscription = EventsProxy(bus_, path).Subscribe(filter);
    devices_[path] = std::move(device);

    if (first && !since_) {
        // The current-time view: what is stored now is the past, not printed.
        auto stored = read_events(bus_, path, 0);
        last_[path] = stored.empty() ? 0 : stored.back().seq;
        baseline_ = std::max(baseline_, last_[path]);
        return;
    }
    // A device seen before continues where it stopped; a new one starts at the baseline.
    auto known = last_.try_emplace(path, baseline_).first;
    for (const auto& event : read_events(bus_, path, known->second)) {
        handle(path, event);
    }
}

void Watch::handle(const std::string& path, const EventData& event) {
    auto device = devices_.find(path);
    if (device == devices_.end()) {
        return;  // not watched, or not subscribed yet: its catch-up read brings the event
    }
    uint64_t& last = last_[path];
    if (event.seq <= last) {
        return;  // printed already (a catch-up read and a signal overlap)
    }
    last = event.seq;
    if (!logs_.empty() && std::find(logs_.begin(), logs_.end(), event.log) == logs_.end()) {
        return;
    }
    print_event(g_, event_json(device->second.name, path, event));
}

bool Watch::wait_for_daemon() {
    std::cerr << "cxlmgrctl: cxlmgrd left " << bus_description()
              << "; waiting for it to come back (Ctrl-C to stop)\n";
    std::string last_error;
    auto next_check = std::chrono::steady_clock::now() + 1s;
    while (!g_stop.load()) {
        // Signals of a daemon that is starting are dropped here: the catch-up reads them.
        auto item = inbox_->pop(200ms);
        bool try_now = item && item->type == Item::Type::OwnerChanged && !item->new_owner.empty();
        if (!try_now && std::chrono::steady_clock::now() >= next_check) {
            next_check = std::chrono::steady_clock::now() + 1s;
            try {
                try_now = daemon_on_bus();
            } catch (const sdbus::Error&) {
                try_now = false;
            }
        }
        if (!try_now) {
            continue;
        }
        try {
            start_session(false);
            std::cerr << "cxlmgrctl: cxlmgrd is back on " << bus_description()
                      << "; subscribed again and caught up\n";
            return true;
        } catch (const sdbus::Error& e) {
            owner_.clear();
            devices_.clear();
            if (exit_status_for(e) != kExitUnreachable && e.getMessage() != last_error) {
                last_error = e.getMessage();
                std::cerr << "cxlmgrctl: cannot subscribe again yet: " << e.getMessage() << " ("
                          << e.getName() << ")\n";
            }
        }
    }
    return false;
}

void Watch::unsubscribe_all() {
    if (owner_.empty()) {
        return;
    }
    // The last calls of the watch: a daemon that does not answer must not hold up the exit
    // for the bus's default 25 s per device.
    bus_.setMethodCallTimeout(2s);
    for (const auto& [path, device] : devices_) {
        try {
            SubscriptionProxy(bus_, device.subscription).Unsubscribe();
        } catch (const sdbus::Error&) {
            // Leaving the bus ends the subscription too.
        }
    }
}

int Watch::run() {
    install_matches();
    // The bus thread must not take SIGINT/SIGTERM: they are the main thread's to notice.
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
    bus_.enterEventLoopAsync();
    struct sigaction sa {};
    sa.sa_handler = on_stop_signal;
    ::sigaction(SIGINT, &sa, nullptr);
    ::sigaction(SIGTERM, &sa, nullptr);
    pthread_sigmask(SIG_UNBLOCK, &stop_signals, nullptr);

    try {
        start_session(true);
    } catch (const sdbus::Error& e) {
        bus_.leaveEventLoop();
        return report(e);
    }
    // Also the moment from which nothing is missed: scripts may wait for this line.
    std::string names;
    for (const auto& [path, device] : devices_) {
        names += (names.empty() ? "" : ", ") + device.name;
    }
    std::cerr << "cxlmgrctl: watching " << (named_.empty() ? "every device" : "")
              << (named_.empty() && !names.empty() ? " (" + names + ")" : names)
              << "; Ctrl-C to stop" << std::endl;
    while (!g_stop.load()) {
        auto item = inbox_->pop(100ms);
        if (!item) {
            continue;
        }
        switch (item->type) {
            case Item::Type::Event:
                handle(item->path, item->event);
                break;
            case Item::Type::DeviceAdded:
                if (named_.empty() && !owner_.empty() && devices_.count(item->path) == 0) {
                    try {
                        add_device(item->path, false);
                    } catch (const sdbus::Error& e) {
                        std::cerr << "cxlmgrctl: not watching " << item->path << ": "
                                  << e.getMessage() << " (" << e.getName() << ")\n";
                    }
                }
                break;
            case Item::Type::OwnerChanged:
                if (!owner_.empty() && item->old_owner == owner_) {
                    owner_.clear();
                    devices_.clear();
                    if (!wait_for_daemon()) {
                        break;
                    }
                }
                break;
        }
    }
    unsubscribe_all();
    bus_.leaveEventLoop();
    return kExitOk;
}

}  // namespace

int cmd_events_watch(Connector& connector, const Globals& g, const Args& args) {
    auto p = parse(args, {"--log", "--since"});
    if (!p.error.empty()) {
        return usage_error(p.error);
    }
    std::vector<std::string> logs;
    if (auto it = p.options.find("--log"); it != p.options.end()) {
        std::string list = it->second;
        size_t start = 0;
        while (start <= list.size()) {
            size_t comma = std::min(list.find(',', start), list.size());
            std::string log = list.substr(start, comma - start);
            const auto& known = event_log_names();
            if (std::find(known.begin(), known.end(), log) == known.end()) {
                return usage_error("unknown log '" + log +
                                   "' (known: informational, warning, failure, fatal)");
            }
            if (std::find(logs.begin(), logs.end(), log) == logs.end()) {
                logs.push_back(log);
            }
            start = comma + 1;
        }
    }
    std::optional<uint64_t> since;
    if (auto it = p.options.find("--since"); it != p.options.end()) {
        uint64_t value = 0;
        if (!parse_u64(it->second, value)) {
            return usage_error("--since needs a sequence number (0 or more)");
        }
        since = value;
    }
    std::vector<std::string> paths;
    for (const auto& device : p.positional) {
        std::string path = device_path(device);
        if (std::find(paths.begin(), paths.end(), path) == paths.end()) {
            paths.push_back(path);
        }
    }
    Watch watch(connector.get(), g, std::move(paths), std::move(logs), since);
    return watch.run();
}

}  // namespace cxlmgrctl
