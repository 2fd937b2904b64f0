#include "tools/cxlmgrctl/events.hpp"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <ctime>
#include <iostream>

#include "common/hex.hpp"
#include "tools/cxlmgrctl/render.hpp"

namespace cxlmgrctl {

namespace {

// Events asked per GetEvents call. The daemon may answer fewer (it bounds a page by count and by
// bytes, docs/DBUS.md), so only an empty page ends the listing.
constexpr uint32_t kPage = 1000;

using EventTuple = sdbus::Struct<uint64_t, std::string, std::string, uint64_t, VariantMap>;

// The fields that tell events of one kind apart, as "key=value" words; the whole record is in
// --json.
std::string key_fields(const nlohmann::json& event) {
    const auto& f = event["fields"];
    const std::string kind = event["kind"].get<std::string>();
    std::vector<std::pair<std::string, bool>> keys;  // name, shown in hex
    if (kind == "general-media" || kind == "dram") {
        keys = {{"dpa", true}, {"type", false}, {"transaction_type", false}};
        if (kind == "dram") {
            for (const char* k : {"channel", "rank", "bank_group", "bank", "row", "column"}) {
                keys.emplace_back(k, false);
            }
        }
    } else if (kind == "memory-module") {
        keys = {{"device_event_type", false},
                {"health_status", true},
                {"life_used", false},
                {"temperature", false}};
    } else if (kind == "overflow") {
        keys = {{"count", false}};
    } else {
        keys = {{"uuid", false}};
    }
    std::string out;
    for (const auto& [key, in_hex] : keys) {
        auto it = f.find(key);
        if (it == f.end()) {
            continue;
        }
        std::string value;
        if (it->is_number_unsigned() && in_hex) {
            value = cxlmgr::hex(it->get<uint64_t>());
        } else if (it->is_string()) {
            value = it->get<std::string>();
        } else {
            value = it->dump();
        }
        out += (out.empty() ? "" : " ") + key + "=" + value;
    }
    for (const char* flag : {"permanent", "maintenance_needed", "performance_degraded",
                             "hardware_replacement_needed"}) {
        if (auto it = f.find(flag); it != f.end() && it->is_boolean() && it->get<bool>()) {
            out += (out.empty() ? "" : " ") + std::string(flag);
        }
    }
    return out;
}

}  // namespace

const std::vector<std::string>& event_log_names() {
    static const std::vector<std::string> names = {"informational", "warning", "failure", "fatal"};
    return names;
}

std::vector<EventData> read_events(sdbus::IConnection& bus, const std::string& path,
                                   uint64_t since) {
    EventsProxy events(bus, path);
    std::vector<EventData> out;
    for (;;) {
        std::vector<EventTuple> page = events.GetEvents(since, kPage);
        if (page.empty()) {
            return out;
        }
        for (auto& e : page) {
            out.push_back({e.get<0>(), std::move(e.get<1>()), std::move(e.get<2>()), e.get<3>(),
                           std::move(e.get<4>())});
        }
        since = out.back().seq;
    }
}

std::string device_name(sdbus::IConnection& bus, const std::string& path) {
    return DeviceProxy(bus, path).Name();
}

std::string format_time(uint64_t ns) {
    if (ns == 0) {
        return "";
    }
    const std::time_t seconds = static_cast<std::time_t>(ns / 1000000000);
    std::tm tm{};
    gmtime_r(&seconds, &tm);
    char date[32];
    std::strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm);
    char out[48];
    std::snprintf(out, sizeof out, "%s.%06" PRIu64 "Z", date, (ns % 1000000000) / 1000);
    return out;
}

nlohmann::json event_json(const std::string& device, const std::string& path,
                          const EventData& event) {
    const std::string time = format_time(event.timestamp);
    return {{"seq", event.seq},
            {"device", device},
            {"path", path},
            {"log", event.log},
            {"kind", event.kind},
            {"timestamp", event.timestamp},
            {"time", time.empty() ? nlohmann::json(nullptr) : nlohmann::json(time)},
            {"fields", to_json(event.fields)}};
}

void print_event(const Globals& g, const nlohmann::json& event) {
    if (g.json) {
        std::cout << event.dump() << std::endl;
        return;
    }
    const std::string time = event["time"].is_string() ? event["time"].get<std::string>() : "-";
    std::cout << event["seq"].get<uint64_t>() << "  " << time << "  "
              << event["device"].get<std::string>() << "  " << event["log"].get<std::string>()
              << "  " << event["kind"].get<std::string>() << "  " << key_fields(event) << std::endl;
}

int cmd_events_list(Connector& connector, const Globals& g, const Args& args) {
    auto p = parse(args, {"--since"});
    if (!p.error.empty()) {
        return usage_error(p.error);
    }
    if (p.positional.size() > 1) {
        return usage_error("events list takes at most one DEVICE");
    }
    uint64_t since = 0;
    if (auto s = p.options.find("--since"); s != p.options.end() && !parse_u64(s->second, since)) {
        return usage_error("--since needs a sequence number (0 or more)");
    }
    sdbus::IConnection& bus = connector.get();
    std::vector<std::string> paths;
    if (p.positional.empty()) {
        for (const auto& path : ManagerProxy(bus, kRoot).ListDevices()) {
            paths.push_back(path);
        }
    } else {
        paths.push_back(device_path(p.positional[0]));
    }
    std::vector<nlohmann::json> events;
    for (const auto& path : paths) {
        const std::string name = device_name(bus, path);
        std::vector<EventData> stored;
        try {
            stored = read_events(bus, path, since);
        } catch (const sdbus::Error& e) {
            // A device without an event journal has nothing to merge; named, it is an error.
            bool no_events = e.getName() == "org.freedesktop.DBus.Error.UnknownInterface" ||
                             e.getName() == "org.freedesktop.DBus.Error.UnknownMethod";
            if (!no_events || !p.positional.empty()) {
                throw;
            }
            continue;
        }
        for (const auto& ev : stored) {
            events.push_back(event_json(name, path, ev));
        }
    }
    // Sequence numbers are daemon-wide: sorting merges the devices in the order of storing.
    std::stable_sort(events.begin(), events.end(), [](const auto& a, const auto& b) {
        return a["seq"].template get<uint64_t>() < b["seq"].template get<uint64_t>();
    });
    if (g.json) {
        std::cout << nlohmann::json{{"events", events}}.dump() << "\n";
        return kExitOk;
    }
    for (const auto& ev : events) {
        print_event(g, ev);
    }
    return kExitOk;
}

}  // namespace cxlmgrctl
