#include "daemon/config.hpp"

#include <fstream>
#include <set>

namespace cxlmgr::daemon {
namespace {

using nlohmann::json;

Error bad(const std::string& where, const std::string& why) {
    return Error(Errc::InvalidArgument, "configuration: " + where + ": " + why);
}

Result<DeviceSpec> parse_device(const json& j, size_t index) {
    std::string where = "devices[" + std::to_string(index) + "]";
    if (!j.is_object()) {
        return bad(where, "must be an object");
    }
    auto backend = j.find("backend");
    if (backend == j.end() || !backend->is_string()) {
        return bad(where, "needs \"backend\": \"sysfs\", \"vfio\" or \"emulated\"");
    }
    DeviceSpec spec;
    std::string name = backend->get<std::string>();
    if (name == "emulated") {
        spec.backend = Backend::Emulated;
        auto desc = emu::parse_device_description(j);
        if (!desc.ok()) {
            return desc.error().with_context("configuration: " + where);
        }
        spec.emulated = std::move(desc).value();
        return spec;
    }
    if (name != "sysfs" && name != "vfio") {
        return bad(where, "unknown backend \"" + name + "\" (use sysfs, vfio or emulated)");
    }
    spec.backend = name == "sysfs" ? Backend::Sysfs : Backend::Vfio;
    for (const auto& [key, value] : j.items()) {
        if (key != "backend" && key != "address") {
            return bad(where, "unknown key \"" + key + "\" for a " + name + " device");
        }
    }
    auto address = j.find("address");
    if (address == j.end() || !address->is_string() || address->get<std::string>().empty()) {
        return bad(where, "a " + name + " device needs \"address\" (e.g. \"0000:0d:00.0\")");
    }
    spec.address = address->get<std::string>();
    return spec;
}

std::string device_key(const DeviceSpec& spec) {
    return spec.backend == Backend::Emulated ? spec.emulated.name : spec.address;
}

}  // namespace

std::string_view backend_name(Backend backend) {
    switch (backend) {
        case Backend::Sysfs:
            return "sysfs";
        case Backend::Vfio:
            return "vfio";
        case Backend::Emulated:
            return "emulated";
    }
    return "?";
}

namespace {

// "events": poll intervals of the collectors and the journal's size bound.
Status parse_events(const json& value, DaemonConfig& config) {
    if (!value.is_object()) {
        return bad("events", "must be an object");
    }
    for (const auto& [ekey, evalue] : value.items()) {
        if (!evalue.is_number_unsigned() || evalue.get<uint64_t>() == 0) {
            return bad("events." + ekey, "must be a positive integer");
        }
        const uint64_t n = evalue.get<uint64_t>();
        if (ekey == "fast_poll_ms" || ekey == "slow_poll_ms") {
            // An hour bounds a typo (seconds given as milliseconds the other way round).
            if (n > 3600000) {
                return bad("events." + ekey, "must be at most 3600000 (one hour)");
            }
            (ekey == "fast_poll_ms" ? config.events_fast_poll : config.events_slow_poll) =
                std::chrono::milliseconds(n);
        } else if (ekey == "journal_max_events") {
            config.events_journal_max_events = n;
        } else {
            return bad("\"events." + ekey + "\"", "is not a known key");
        }
    }
    if (config.events_fast_poll > config.events_slow_poll) {
        return bad("events", "fast_poll_ms must not be longer than slow_poll_ms");
    }
    return {};
}

}  // namespace

Result<DaemonConfig> parse_config(const json& j) {
    if (!j.is_object()) {
        return bad("top level", "must be a JSON object");
    }
    DaemonConfig config;
    for (const auto& [key, value] : j.items()) {
        if (key == "devices") {
            if (!value.is_array()) {
                return bad("devices", "must be an array");
            }
            for (size_t i = 0; i < value.size(); ++i) {
                CXLMGR_ASSIGN(auto spec, parse_device(value[i], i));
                config.devices.push_back(std::move(spec));
            }
        } else if (key == "discover") {
            if (!value.is_boolean()) {
                return bad("discover", "must be true or false");
            }
            config.discover = value.get<bool>();
        } else if (key == "authorized_group") {
            if (!value.is_string()) {
                return bad("authorized_group", "must be a group name (or \"\" for root only)");
            }
            config.authorized_group = value.get<std::string>();
        } else if (key == "firmware") {
            if (!value.is_object()) {
                return bad("firmware", "must be an object");
            }
            for (const auto& [fkey, fvalue] : value.items()) {
                if (!fvalue.is_number_unsigned() || fvalue.get<uint64_t>() == 0) {
                    return bad("firmware." + fkey, "must be a positive integer");
                }
                if (fkey == "read_timeout_ms") {
                    config.firmware_read_timeout =
                        std::chrono::milliseconds(fvalue.get<uint64_t>());
                } else if (fkey == "max_image_size") {
                    config.firmware_max_image_size = fvalue.get<uint64_t>();
                } else {
                    return bad("\"firmware." + fkey + "\"", "is not a known key");
                }
            }
        } else if (key == "events") {
            CXLMGR_CHECK(parse_events(value, config));
        } else {
            return bad("\"" + key + "\"", "is not a known key");
        }
    }
    std::set<std::string> seen;
    for (const auto& spec : config.devices) {
        if (!seen.insert(device_key(spec)).second) {
            return bad("devices", "\"" + device_key(spec) + "\" is listed twice");
        }
    }
    return config;
}

Result<DaemonConfig> load_config(const std::filesystem::path& path) {
    std::ifstream in(path);
    if (!in) {
        return Error(Errc::NotFound, "cannot open configuration file " + path.string());
    }
    json j = json::parse(in, nullptr, /*allow_exceptions=*/false, /*ignore_comments=*/true);
    if (j.is_discarded()) {
        return Error(Errc::InvalidArgument,
                     "configuration file " + path.string() + " is not valid JSON");
    }
    auto config = parse_config(j);
    if (!config.ok()) {
        return config.error().with_context(path.string());
    }
    return config;
}

void add_default_emulated_devices(DaemonConfig& config, unsigned count) {
    std::set<std::string> used;
    for (const auto& spec : config.devices) {
        used.insert(device_key(spec));
    }
    unsigned n = 0;
    for (unsigned added = 0; added < count; ++n) {
        std::string name = "emu" + std::to_string(n);
        if (used.count(name) != 0) {
            continue;
        }
        DeviceSpec spec;
        spec.backend = Backend::Emulated;
        spec.emulated = emu::default_device_description(name);
        spec.emulated.serial = 0x1000 + n;
        config.devices.push_back(std::move(spec));
        ++added;
    }
}

}  // namespace cxlmgr::daemon
