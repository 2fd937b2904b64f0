#include "tools/cxlmgrctl/commands.hpp"

#include <fstream>
#include <iostream>

#include "tools/cxlmgrctl/client.hpp"
#include "tools/cxlmgrctl/render.hpp"

namespace cxlmgrctl {

int usage_error(const std::string& why) {
    std::cerr << "cxlmgrctl: " << why << " (see cxlmgrctl --help)\n";
    return kExitUsage;
}

namespace {

void emit(const Globals& g, const nlohmann::json& object) {
    if (g.json) {
        std::cout << object.dump() << "\n";
    } else {
        print_text(object);
    }
}

nlohmann::json firmware_properties(sdbus::IConnection& bus, const std::string& path) {
    DeviceProxy props(bus, path);
    return to_json(props.GetAll("org.cxlmgr1.Firmware"));
}

// Options of the form --name VALUE or --name=VALUE; positional arguments in order.
struct Parsed {
    std::vector<std::string> positional;
    std::map<std::string, std::string> options;
    std::string error;
};

Parsed parse(const Args& args, const std::vector<std::string>& with_value,
             const std::vector<std::string>& flags = {}) {
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

}  // namespace

int cmd_list(sdbus::IConnection& bus, const Globals& g, const Args& args) {
    if (!args.empty()) {
        return usage_error("list takes no arguments");
    }
    ManagerProxy manager(bus, kRoot);
    nlohmann::json devices = nlohmann::json::array();
    for (const auto& path : manager.ListDevices()) {
        DeviceProxy device(bus, path);
        auto p = to_json(device.GetAll("org.cxlmgr1.Device"));
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

int cmd_info(sdbus::IConnection& bus, const Globals& g, const Args& args) {
    if (args.size() != 1) {
        return usage_error("usage: info DEVICE");
    }
    const std::string path = device_path(args[0]);
    DeviceProxy device(bus, path);
    nlohmann::json out = to_json(device.GetAll("org.cxlmgr1.Device"));
    out["identify"] = to_json(device.Identify());
    out["health"] = to_json(device.GetHealth());
    out["firmware"] = firmware_properties(bus, path);
    emit(g, out);
    return kExitOk;
}

int cmd_health(sdbus::IConnection& bus, const Globals& g, const Args& args) {
    if (args.size() != 1) {
        return usage_error("usage: health DEVICE");
    }
    DeviceProxy device(bus, device_path(args[0]));
    emit(g, to_json(device.GetHealth()));
    return kExitOk;
}

int cmd_cdat(sdbus::IConnection& bus, const Globals& g, const Args& args) {
    auto p = parse(args, {"--raw"});
    if (!p.error.empty() || p.positional.size() != 1) {
        return usage_error(p.error.empty() ? "usage: cdat DEVICE [--raw FILE]" : p.error);
    }
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

int cmd_fw(sdbus::IConnection& bus, const Globals& g, const Args& args) {
    if (args.empty()) {
        return usage_error("usage: fw info|update|activate|cancel ...");
    }
    const std::string sub = args[0];
    const Args rest(args.begin() + 1, args.end());
    if (sub == "update") {
        return cmd_fw_update(bus, g, rest);
    }
    if (sub == "info") {
        if (rest.size() != 1) {
            return usage_error("usage: fw info DEVICE");
        }
        const std::string path = device_path(rest[0]);
        FirmwareProxy fw(bus, path);
        nlohmann::json out = to_json(fw.GetInfo());
        out["current_job"] = firmware_properties(bus, path).value("CurrentJob", "/");
        emit(g, out);
        return kExitOk;
    }
    if (sub == "activate") {
        auto p = parse(rest, {"--slot", "--mode"});
        if (!p.error.empty() || p.positional.size() != 1 || p.options.count("--slot") == 0) {
            return usage_error(p.error.empty()
                                   ? "usage: fw activate DEVICE --slot N [--mode online|on-reset]"
                                   : p.error);
        }
        int slot = std::atoi(p.options["--slot"].c_str());
        if (slot < 1 || slot > 4) {
            return usage_error("--slot must be 1..4");
        }
        std::string mode = p.options.count("--mode") ? p.options["--mode"] : "online";
        if (mode != "online" && mode != "on-reset") {
            return usage_error("--mode must be online or on-reset");
        }
        const std::string path = device_path(p.positional[0]);
        FirmwareProxy fw(bus, path);
        fw.Activate(static_cast<uint8_t>(slot), mode);
        emit(g,
             {{"activated", slot}, {"mode", mode}, {"firmware", firmware_properties(bus, path)}});
        return kExitOk;
    }
    if (sub == "cancel") {
        if (rest.size() != 1) {
            return usage_error("usage: fw cancel DEVICE");
        }
        auto job = firmware_properties(bus, device_path(rest[0])).value("CurrentJob", "/");
        if (job == "/") {
            std::cerr << "cxlmgrctl: no firmware update is running on " << rest[0] << "\n";
            return kExitFailed;
        }
        JobProxy(bus, job).Cancel();
        emit(g, {{"cancelled", job}});
        return kExitOk;
    }
    return usage_error("unknown fw command '" + sub + "'");
}

}  // namespace cxlmgrctl
