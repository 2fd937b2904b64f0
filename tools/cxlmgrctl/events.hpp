// What `events list` and `events watch` share: reading a device's stored events (GetEvents,
// paged), the JSON object of one event, and its one-line human rendering.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tools/cxlmgrctl/client.hpp"
#include "tools/cxlmgrctl/commands.hpp"

namespace cxlmgrctl {

// One event as the Event signal and GetEvents carry it.
struct EventData {
    uint64_t seq = 0;
    std::string log;
    std::string kind;
    uint64_t timestamp = 0;  // ns since the epoch, as the device stamped it (0: clock unset)
    VariantMap fields;
};

// The events of the device at `path` with seq > since, oldest first, every page of them.
std::vector<EventData> read_events(sdbus::IConnection& bus, const std::string& path,
                                   uint64_t since);

// The device's Name property.
std::string device_name(sdbus::IConnection& bus, const std::string& path);

// {"seq", "device", "path", "log", "kind", "timestamp", "time", "fields"} (docs/CLI.md).
nlohmann::json event_json(const std::string& device, const std::string& path,
                          const EventData& event);

// One event on stdout: its JSON object on one line with --json, otherwise
// "SEQ  TIME  DEVICE  LOG  KIND  key=value ...". Flushed: a reader of a pipe sees it at once.
void print_event(const Globals& g, const nlohmann::json& event);

// 2024-11-21T16:31:02.123456Z, or "" for 0.
std::string format_time(uint64_t ns_since_epoch);

// The event logs the contract names, in its order.
const std::vector<std::string>& event_log_names();

}  // namespace cxlmgrctl
