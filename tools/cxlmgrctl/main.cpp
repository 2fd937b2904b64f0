// cxlmgrctl: the command-line client of cxlmgrd (docs/CLI.md; its D-Bus contract: docs/API.md).
//
//   cxlmgrctl [--session | --bus-address=ADDR] [--json] COMMAND ...
//
// Exit status: 0 success, 1 the operation failed, 2 usage error, 3 the daemon could not be
// reached.
#include <iostream>
#include <utility>

#include "tools/cxlmgrctl/client.hpp"
#include "tools/cxlmgrctl/commands.hpp"
#include "tools/cxlmgrctl/help.hpp"

namespace {

using namespace cxlmgrctl;

const std::vector<std::pair<std::string, Handler>>& handlers() {
    static const std::vector<std::pair<std::string, Handler>> table = {
        {"list", cmd_list},
        {"info", cmd_info},
        {"cdat", cmd_cdat},
        {"health", cmd_health},
        {"fw info", cmd_fw_info},
        {"fw update", cmd_fw_update},
        {"fw activate", cmd_fw_activate},
        {"fw cancel", cmd_fw_cancel},
        {"events list", cmd_events_list},
        {"events watch", cmd_events_watch},
    };
    return table;
}

Handler find_handler(const std::string& name) {
    for (const auto& [n, h] : handlers()) {
        if (n == name) {
            return h;
        }
    }
    return nullptr;
}

// Global options are taken anywhere on the line, so `cxlmgrctl list --json` works as well.
// Returns false when `a` is none of them.
bool take_global(const std::string& a, int& i, int argc, char** argv, BusChoice& bus,
                 Globals& globals, bool& help) {
    if (a == "--session") {
        bus.kind = BusChoice::Kind::Session;
    } else if (a.rfind("--bus-address=", 0) == 0) {
        bus.kind = BusChoice::Kind::Address;
        bus.address = a.substr(std::string("--bus-address=").size());
    } else if (a == "--bus-address") {
        bus.kind = BusChoice::Kind::Address;
        bus.address = i + 1 < argc ? argv[++i] : "";  // an empty one is refused later
    } else if (a == "--json") {
        globals.json = true;
    } else if (a == "-h" || a == "--help") {
        help = true;
    } else {
        return false;
    }
    return true;
}

}  // namespace

int main(int argc, char** argv) {
    BusChoice bus;
    Globals globals;
    bool help = false;
    Args rest;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (take_global(a, i, argc, argv, bus, globals, help)) {
            continue;
        }
        if (rest.empty() && a.rfind("-", 0) == 0) {
            std::cerr << "cxlmgrctl: unknown option " << a << "\nSee 'cxlmgrctl --help'.\n";
            return kExitUsage;
        }
        rest.emplace_back(a);
    }
    if (!rest.empty() && rest.front() == "help") {
        help = true;
        rest.erase(rest.begin());
    }
    if (help) {
        if (rest.empty()) {
            print_overview(std::cout);
            return kExitOk;
        }
        if (print_help(std::cout, rest)) {
            return kExitOk;
        }
        std::cerr << "cxlmgrctl: unknown command '" << rest.front() << "'\n";
        print_overview(std::cerr);
        return kExitUsage;
    }
    if (bus.kind == BusChoice::Kind::Address && bus.address.empty()) {
        std::cerr << "cxlmgrctl: --bus-address needs an address\nSee 'cxlmgrctl --help'.\n";
        return kExitUsage;
    }
    if (rest.empty()) {
        print_overview(std::cerr);
        return kExitUsage;
    }
    // One-word commands, or a group and its member ("fw update").
    std::string name = rest.front();
    size_t words = 1;
    if (is_group(name)) {
        if (rest.size() < 2) {
            print_help(std::cerr, {name});
            return kExitUsage;
        }
        name += " " + rest[1];
        words = 2;
    }
    Handler handler = find_handler(name);
    if (handler == nullptr) {
        std::cerr << "cxlmgrctl: unknown command '" << name << "'\nSee 'cxlmgrctl --help'.\n";
        return kExitUsage;
    }
    set_current_command(name);
    const Args args(rest.begin() + static_cast<std::ptrdiff_t>(words), rest.end());
    Connector connector(bus);
    try {
        return handler(connector, globals, args);
    } catch (const Unreachable&) {
        return kExitUnreachable;
    } catch (const sdbus::Error& e) {
        return report(e);
    }
}
