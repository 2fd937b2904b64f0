#include "tools/cxlmgrctl/client.hpp"

#include <iostream>

namespace cxlmgrctl {

std::unique_ptr<sdbus::IConnection> connect(const BusChoice& bus) {
    try {
        switch (bus.kind) {
            case BusChoice::Kind::System:
                return sdbus::createSystemBusConnection();
            case BusChoice::Kind::Session:
                return sdbus::createSessionBusConnection();
            case BusChoice::Kind::Address:
                return sdbus::createSessionBusConnectionWithAddress(bus.address);
        }
    } catch (const sdbus::Error& e) {
        std::cerr << "cxlmgrctl: cannot connect to the bus: " << e.getMessage() << "\n";
    }
    return nullptr;
}

std::string device_path(const std::string& device) {
    if (!device.empty() && device.front() == '/') {
        return device;
    }
    // The contract's rule (shared/API.md "Bus, names, paths").
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
        name == "org.freedesktop.DBus.Error.Disconnected" ||
        name == "org.freedesktop.DBus.Error.NoServer") {
        return kExitUnreachable;
    }
    return kExitFailed;
}

int report(const sdbus::Error& e) {
    int status = exit_status_for(e);
    if (status == kExitUnreachable) {
        std::cerr << "cxlmgrctl: cxlmgrd cannot be reached: " << e.getMessage() << " ("
                  << e.getName() << ")\n";
    } else if (e.getName() == "org.freedesktop.DBus.Error.UnknownObject") {
        std::cerr << "cxlmgrctl: no such device or object (" << e.getMessage() << ")\n";
    } else {
        std::cerr << "cxlmgrctl: " << e.getMessage() << " (" << e.getName() << ")\n";
    }
    return status;
}

}  // namespace cxlmgrctl
