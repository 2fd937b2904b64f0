#include "tools/cxlmgrctl/commands.hpp"

#include <algorithm>
#include <charconv>
#include <fstream>
#include <iostream>

#include "tools/cxlmgrctl/client.hpp"
#include "tools/cxlmgrctl/help.hpp"
#include "tools/cxlmgrctl/render.hpp"

namespace cxlmgrctl {

int usage_error(const std::string& why) {
    std::cerr << "cxlmgrctl: " << why << "\n";
    if (const CommandHelp* h = find_command(current_command())) {
        std::cerr << "usage: cxlmgrctl " << h->synopsis << "\n"
                  << "See 'cxlmgrctl " << h->name << " --help'.\n";
    } else {
        std::cerr << "See 'cxlmgrctl --help'.\n";
    }
    return kExitUsage;
}

void emit(const Globals& g, const nlohmann::json& object) {
    if (g.json) {
        std::cout << object.dump() << "\n";
    } else {
        print_text(object);
    }
}

Parsed parse(const Args& args, const std::vector<std::string>& with_value,
             const std::vector<std::string>& flags) {
    Parsed p;
    for (size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        if (a.rfind("--", 0) != 0) {
            p.positional.push_back(a);
            continue;
        }
        auto eq = a.find('=');
        std::string name = a.substr(0, eq);
        bool takes = std::find(with_value.begin(), with_value.end(), name) != with_value.end();
        bool flag = std::find(flags.begin(), flags.end(), name) != flags.end();
        if (flag && eq == std::string::npos) {
            p.options[name] = "";
        } else if (takes && eq != std::string::npos) {
            p.options[name] = a.substr(eq + 1);
        } else if (takes && i + 1 < args.size()) {
            p.options[name] = args[++i];
        } else {
            p.error = takes ? name + " needs a value" : "unknown option " + name;
            return p;
        }
    }
    return p;
}

bool parse_u64(const std::string& text, uint64_t& value) {
    if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos) {
        return false;
    }
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    return ec == std::errc() && end == text.data() + text.size();
}

namespace {

nlohmann::json firmware_properties(sdbus::IConnection& bus, const std::string& path) {
    DeviceProxy props(bus, path);
    return to_json(props.GetAll(org::cxlmgr1::Firmware_proxy::INTERFACE_NAME));
}

}  // namespace

int cmd_list(Connector& connector, const Globals& g, const Args& args) {
    if (!args.empty()) {
        return usage_error("list takes no arguments");
    }
    sdbus::IConnection& bus = connector.get();
    ManagerProxy manager(bus, kRoot);
    nlohmann::json devices = nlohmann::json::array();
    for (const auto& path : manager.ListDevices()) {
        DeviceProxy device(bus, path);
        auto p = to_json(device.GetAll(org::cxlmgr1::Device_proxy::INTERFACE_NAME));
        devices.push_back({{"path", std::string(path)},
                           {"name", p.value("Name", "")},
                           {"state", p.value("State", "")},
                           {"backend", p.value("Backend", "")},
                           {"firmware_revision", p.value("FirmwareRevision", "")}});
    }
    if (g.json) {
        std::cout << nlohmann::json{{"devices", devices}}.dump() << "\n";
        return kExitOk;
    }
    for (const auto& d : devices) {
        std::cout << d["name"].get<std::string>() << "\t" << d["state"].get<std::string>() << "\t"
                  << d["backend"].get<std::string>() << "\t"
                  << d["firmware_revision"].get<std::string>() << "\n";
    }
    return kExitOk;
}

int cmd_info(Connector& connector, const Globals& g, const Args& args) {
    auto p = parse(args, {});
    if (!p.error.empty() || p.positional.size() != 1) {
        return usage_error(p.error.empty() ? "info needs exactly one DEVICE" : p.error);
    }
    const std::string path = device_path(p.positional[0]);
    sdbus::IConnection& bus = connector.get();
    DeviceProxy device(bus, path);
    nlohmann::json out = to_json(device.GetAll(org::cxlmgr1::Device_proxy::INTERFACE_NAME));
    out["identify"] = to_json(device.Identify());
    // Health is optional for a device (QEMU 7.2 answers Get Health Info with Unsupported): the
    // rest of the report still stands, so show "not supported" instead of failing it all.
    bool health_unsupported = false;
    try {
        out["health"] = to_json(device.GetHealth());
    } catch (const sdbus::Error& e) {
        if (e.getName() != "org.cxlmgr1.Error.Unsupported") {
            throw;
        }
        out["health"] = nullptr;
        health_unsupported = true;
    }
    out["firmware"] = firmware_properties(bus, path);
    if (health_unsupported && !g.json) {
        out["health"] = "not supported by this device";
    }
    emit(g, out);
    return kExitOk;
}

int cmd_health(Connector& connector, const Globals& g, const Args& args) {
    auto p = parse(args, {});
    if (!p.error.empty() || p.positional.size() != 1) {
        return usage_error(p.error.empty() ? "health needs exactly one DEVICE" : p.error);
    }
    sdbus::IConnection& bus = connector.get();
    DeviceProxy device(bus, device_path(p.positional[0]));
    emit(g, to_json(device.GetHealth()));
    return kExitOk;
}

int cmd_cdat(Connector& connector, const Globals& g, const Args& args) {
    auto p = parse(args, {"--raw"});
    if (!p.error.empty() || p.positional.size() != 1) {
        return usage_error(p.error.empty() ? "cdat needs exactly one DEVICE" : p.error);
    }
    sdbus::IConnection& bus = connector.get();
    CdatProxy cdat(bus, device_path(p.positional[0]));
    if (auto raw = p.options.find("--raw"); raw != p.options.end()) {
        auto bytes = cdat.ReadRaw();
        std::ofstream out(raw->second, std::ios::binary | std::ios::trunc);
        out.write(reinterpret_cast<const char*>(bytes.data()),
                  static_cast<std::streamsize>(bytes.size()));
        out.close();
        if (!out) {
            std::cerr << "cxlmgrctl: cannot write " << raw->second << "\n";
            return kExitFailed;
        }
        emit(g, {{"file", raw->second}, {"bytes", bytes.size()}});
        return kExitOk;
    }
    nlohmann::json entries = nlohmann::json::array();
    for (const auto& e : cdat.Read()) {
        entries.push_back(to_json(e));
    }
    emit(g, {{"entries", entries}});
    return kExitOk;
}

int cmd_fw_info(Connector& connector, const Globals& g, const Args& args) {
    auto p = parse(args, {});
    if (!p.error.empty() || p.positional.size() != 1) {
        return usage_error(p.error.empty() ? "fw info needs exactly one DEVICE" : p.error);
    }
    const std::string path = device_path(p.positional[0]);
    sdbus::IConnection& bus = connector.get();
    FirmwareProxy fw(bus, path);
    nlohmann::json out = to_json(fw.GetInfo());
    out["current_job"] = firmware_properties(bus, path).value("CurrentJob", "/");
    emit(g, out);
    return kExitOk;
}

int cmd_fw_activate(Connector& connector, const Globals& g, const Args& args) {
    auto p = parse(args, {"--slot", "--mode"});
    if (!p.error.empty()) {
        return usage_error(p.error);
    }
    if (p.positional.size() != 1 || p.options.count("--slot") == 0) {
        return usage_error("fw activate needs one DEVICE and --slot N");
    }
    uint64_t slot = 0;
    if (!parse_u64(p.options["--slot"], slot) || slot < 1 || slot > 4) {
        return usage_error("--slot must be 1..4");
    }
    std::string mode = p.options.count("--mode") ? p.options["--mode"] : "online";
    if (mode != "online" && mode != "on-reset") {
        return usage_error("--mode must be online or on-reset");
    }
    const std::string path = device_path(p.positional[0]);
    sdbus::IConnection& bus = connector.get();
    FirmwareProxy fw(bus, path);
    fw.Activate(static_cast<uint8_t>(slot), mode);
    emit(g, {{"activated", slot}, {"mode", mode}, {"firmware", firmware_properties(bus, path)}});
    return kExitOk;
}

int cmd_fw_cancel(Connector& connector, const Globals& g, const Args& args) {
    auto p = parse(args, {});
    if (!p.error.empty() || p.positional.size() != 1) {
        return usage_error(p.error.empty() ? "fw cancel needs exactly one DEVICE" : p.error);
    }
    sdbus::IConnection& bus = connector.get();
    auto job = firmware_properties(bus, device_path(p.positional[0])).value("CurrentJob", "/");
    if (job == "/") {
        std::cerr << "cxlmgrctl: no firmware update is running on " << p.positional[0] << "\n";
        return kExitFailed;
    }
    JobProxy(bus, job).Cancel();
    emit(g, {{"cancelled", job}});
    return kExitOk;
}

}  // namespace cxlmgrctl
