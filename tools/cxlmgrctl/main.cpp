// cxlmgrctl: the command-line client of cxlmgrd (shared/API.md "cxlmgrctl").
//
//   cxlmgrctl [--session | --bus-address=ADDR] [--json] COMMAND ...
//
// Exit status: 0 success, 1 the operation failed, 2 usage error, 3 the daemon could not be
// reached.
#include <iostream>

#include "tools/cxlmgrctl/client.hpp"
#include "tools/cxlmgrctl/commands.hpp"

namespace {

using namespace cxlmgrctl;

constexpr const char* kUsage =
    "usage: cxlmgrctl [--session | --bus-address=ADDR] [--json] COMMAND ...\n"
    "  list                                   devices and their state\n"
    "  info DEVICE                            identity, health, firmware slots\n"
    "  cdat DEVICE [--raw FILE]               decoded CDAT (or the raw table to FILE)\n"
    "  fw info DEVICE\n"
    "  fw update DEVICE IMAGE [--slot N] [--activate none|online|on-reset] [--no-wait]\n"
    "  fw activate DEVICE --slot N [--mode online|on-reset]\n"
    "  fw cancel DEVICE\n"
    "  health DEVICE\n"
    "DEVICE is a device name (emu0, 0000:0d:00.0) or an object path.\n"
    "Exit status: 0 success, 1 the operation failed, 2 usage error, 3 cxlmgrd unreachable.\n";

}  // namespace

int main(int argc, char** argv) {
    BusChoice bus;
    Globals globals;
    Args rest;
    int i = 1;
    for (; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--session") {
            bus.kind = BusChoice::Kind::Session;
        } else if (a.rfind("--bus-address=", 0) == 0) {
            bus.kind = BusChoice::Kind::Address;
            bus.address = a.substr(std::string("--bus-address=").size());
        } else if (a == "--bus-address" && i + 1 < argc) {
            bus.kind = BusChoice::Kind::Address;
            bus.address = argv[++i];
        } else if (a == "--json") {
            globals.json = true;
        } else if (a == "-h" || a == "--help") {
            std::cout << kUsage;
            return kExitOk;
        } else if (a.rfind("--", 0) == 0) {
            std::cerr << "cxlmgrctl: unknown option " << a << "\n" << kUsage;
            return kExitUsage;
        } else {
            break;
        }
    }
    for (; i < argc; ++i) {
        std::string a = argv[i];
        // --json is also accepted after the command.
        if (a == "--json") {
            globals.json = true;
        } else {
            rest.emplace_back(a);
        }
    }
    if (rest.empty()) {
        std::cerr << kUsage;
        return kExitUsage;
    }
    const std::string command = rest.front();
    const Args args(rest.begin() + 1, rest.end());
    int (*handler)(sdbus::IConnection&, const Globals&, const Args&) = nullptr;
    if (command == "list") {
        handler = cmd_list;
    } else if (command == "info") {
        handler = cmd_info;
    } else if (command == "health") {
        handler = cmd_health;
    } else if (command == "cdat") {
        handler = cmd_cdat;
    } else if (command == "fw") {
        handler = cmd_fw;
    } else {
        std::cerr << "cxlmgrctl: unknown command '" << command << "'\n" << kUsage;
        return kExitUsage;
    }
    auto connection = connect(bus);
    if (!connection) {
        return kExitUnreachable;
    }
    try {
        return handler(*connection, globals, args);
    } catch (const sdbus::Error& e) {
        return report(e);
    }
}
