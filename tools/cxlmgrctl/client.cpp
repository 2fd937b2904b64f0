#include "tools/cxlmgrctl/client.hpp"

#include <cstdlib>
#include <iostream>

namespace cxlmgrctl {

namespace {

std::string g_bus = "the system bus";

}  // namespace

std::string BusChoice::describe() const {
    switch (kind) {
        case Kind::System:
            return "the system bus";
        case Kind::Session:
            return "the session bus";
        case Kind::Address:
            return address;
    }
    return "the bus";
}

const std::string& bus_description() {
    return g_bus;
}

std::unique_ptr<sdbus::IConnection> connect(const BusChoice& bus) {
    g_bus = bus.describe();
    try {
        switch (bus.kind) {
            case BusChoice::Kind::System:
                return sdbus::createSystemBusConnection();
            case BusChoice::Kind::Session:
                return sdbus::createSessionBusConnection();
            case BusChoice::Kind::Address:
                // Not createSessionBusConnectionWithAddress: sdbus-c++ 1.2.0 leaks the sd_bus
                // when that connection fails (a bus that is not there), while sd-bus's own
                // session-bus opener, which takes the address from this variable, cleans up.
                // Single-threaded here, and cxlmgrctl starts no other programs.
                ::setenv("DBUS_SESSION_BUS_ADDRESS", bus.address.c_str(), 1);
                return sdbus::createSessionBusConnection();
        }
    } catch (const sdbus::Error& e) {
        std::cerr << "cxlmgrctl: cannot connect to " << g_bus << ": " << e.getMessage() << "\n";
    }
    return nullptr;
}

std::string device_path(const std::string& device) {
    if (!device.empty() && device.front() == '/') {
        return device;
    }
    // The contract's rule (docs/API.md "Bus, names, paths").
    std::string id = device.empty() ? "_" : device;
    for (char& c : id) {
        bool keep =
            (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
        if (!keep) {
            c = '_';
        }
    }
    return std::string(kRoot) + "/devices/" + id;
}

int exit_status_for(const sdbus::Error& e) {
    const std::string& name = e.getName();
    if (name == "org.freedesktop.DBus.Error.ServiceUnknown" ||
        name == "org.freedesktop.DBus.Error.NameHasNoOwner" ||
        name == "org.freedesktop.DBus.Error.NoReply" ||
        name == "org.freedesktop.DBus.Error.Timeout" ||
        name == "org.freedesktop.DBus.Error.Disconnected" ||
        name == "org.freedesktop.DBus.Error.NoServer") {
        return kExitUnreachable;
    }
    return kExitFailed;
}

bool is_permission_error(const sdbus::Error& e) {
    return e.getName() == "org.cxlmgr1.Error.PermissionDenied" ||
           e.getName() == "org.freedesktop.DBus.Error.AccessDenied";
}

int report(const sdbus::Error& e) {
    const std::string& name = e.getName();
    int status = exit_status_for(e);
    if (name == "org.freedesktop.DBus.Error.ServiceUnknown" ||
        name == "org.freedesktop.DBus.Error.NameHasNoOwner") {
        std::cerr << "cxlmgrctl: cxlmgrd is not running on " << g_bus << " (nobody owns "
                  << kService << ")\n";
    } else if (name == "org.freedesktop.DBus.Error.NoReply" ||
               name == "org.freedesktop.DBus.Error.Timeout") {
        std::cerr << "cxlmgrctl: cxlmgrd on " << g_bus << " did not answer: " << e.getMessage()
                  << " (" << name << ")\n";
    } else if (status == kExitUnreachable) {
        std::cerr << "cxlmgrctl: lost the connection to " << g_bus << ": " << e.getMessage() << " ("
                  << name << ")\n";
    } else if (is_permission_error(e)) {
        std::cerr << "cxlmgrctl: permission denied: " << e.getMessage() << " (" << name << ")\n";
    } else if (name == "org.freedesktop.DBus.Error.UnknownObject") {
        std::cerr << "cxlmgrctl: no such device or object: " << e.getMessage()
                  << " (see cxlmgrctl list)\n";
    } else {
        std::cerr << "cxlmgrctl: " << e.getMessage() << " (" << name << ")\n";
    }
    return status;
}

}  // namespace cxlmgrctl
