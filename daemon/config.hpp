// The daemon's configuration file (JSON), e.g.
//   {"devices": [{"backend": "sysfs", "address": "0000:0d:00.0"},
//                {"backend": "vfio", "address": "0000:0e:00.0"},
//                {"backend": "emulated", "name": "emu0", "serial": 4660}],
//    "discover": true, "authorized_group": "cxlmgr",
//    "firmware": {"read_timeout_ms": 30000, "max_image_size": 268435456},
//    "events": {"fast_poll_ms": 5, "slow_poll_ms": 2000, "journal_max_events": 100000}}
// Unknown keys are refused with the key named, so a typo never silently changes behaviour.
#pragma once

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "emu/device_description.hpp"

namespace cxlmgr::daemon {

enum class Backend { Sysfs, Vfio, Emulated };

std::string_view backend_name(Backend backend);

struct DeviceSpec {
    Backend backend = Backend::Emulated;
    std::string address;              // sysfs and vfio: "DDDD:BB:DD.F"
    emu::DeviceDescription emulated;  // emulated only
};

struct DaemonConfig {
    std::vector<DeviceSpec> devices;
    bool discover = false;  // add every CXL memory device libpci finds (sysfs backend)
    // Members of this group may call the changing methods besides root (the D-Bus policy
    // grants the same group; the daemon checks again). Empty: root only.
    std::string authorized_group = "cxlmgr";
    // Firmware images: how long a pipe may deliver nothing before the update fails, and the
    // largest image accepted (docs/FIRMWARE-UPDATE.md).
    std::chrono::milliseconds firmware_read_timeout{30000};
    uint64_t firmware_max_image_size = 256ull << 20;
    // Event collection (docs/BENCHMARKS.md "Events (issue 7)"): poll interval while a device has a
    // subscriber (the latency of its events), while it has none (the idle cost), and how many
    // events the journal keeps before dropping the oldest.
    std::chrono::milliseconds events_fast_poll{5};
    std::chrono::milliseconds events_slow_poll{2000};
    uint64_t events_journal_max_events = 100000;
};

Result<DaemonConfig> parse_config(const nlohmann::json& json);
Result<DaemonConfig> load_config(const std::filesystem::path& path);

// Adds `count` default emulated devices named emu0, emu1, ... (skipping names already used).
void add_default_emulated_devices(DaemonConfig& config, unsigned count);

}  // namespace cxlmgr::daemon
