// cxlmgrctl's side of the bus: the connection (system, session or an address), proxies
// generated from the contract's XML, device name -> object path, and the exit status a D-Bus
// error maps to (docs/CLI.md "Exit status and messages": 1 it failed, 3 cxlmgrd could not be
// reached).
#pragma once

#include <sdbus-c++/sdbus-c++.h>

#include <map>
#include <memory>
#include <optional>
#include <string>

#include "dbus/generated/Cdat_proxy.h"
#include "dbus/generated/Device_proxy.h"
#include "dbus/generated/Events_proxy.h"
#include "dbus/generated/Firmware_proxy.h"
#include "dbus/generated/Job_proxy.h"
#include "dbus/generated/Manager_proxy.h"
#include "dbus/generated/Subscription_proxy.h"

namespace cxlmgrctl {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitUnreachable = 3;

inline constexpr const char* kService = "org.cxlmgr1";
inline constexpr const char* kRoot = "/org/cxlmgr1";

using VariantMap = std::map<std::string, sdbus::Variant>;

template <typename... Interfaces>
class Proxy final : public sdbus::ProxyInterfaces<Interfaces...> {
public:
    Proxy(sdbus::IConnection& connection, std::string path)
        : sdbus::ProxyInterfaces<Interfaces...>(connection, kService, std::move(path)) {
        this->registerProxy();
    }
    ~Proxy() { this->unregisterProxy(); }
};

using ManagerProxy = Proxy<org::cxlmgr1::Manager_proxy>;
// Device calls plus Properties.GetAll (for any interface of any object).
class DeviceProxy final
    : public sdbus::ProxyInterfaces<org::cxlmgr1::Device_proxy, sdbus::Properties_proxy> {
public:
    DeviceProxy(sdbus::IConnection& connection, std::string path)
        : ProxyInterfaces(connection, kService, std::move(path)) {
        registerProxy();
    }
    ~DeviceProxy() { unregisterProxy(); }

private:
    // Calls only; property signals are watched with match rules where needed.
    void onPropertiesChanged(const std::string&, const std::map<std::string, sdbus::Variant>&,
                             const std::vector<std::string>&) override {}
};
using FirmwareProxy = Proxy<org::cxlmgr1::Firmware_proxy>;
using CdatProxy = Proxy<org::cxlmgr1::Cdat_proxy>;

// Signals of org.cxlmgr1.Job are handled in fw_update.cpp; this proxy only calls.
class JobProxy final : public sdbus::ProxyInterfaces<org::cxlmgr1::Job_proxy> {
public:
    JobProxy(sdbus::IConnection& connection, std::string path)
        : ProxyInterfaces(connection, kService, std::move(path)) {
        registerProxy();
    }
    ~JobProxy() { unregisterProxy(); }

private:
    void onFinished(const std::string&, const std::string&) override {}
};

// Calls only (GetEvents, Subscribe): `events watch` takes the Event signal of every device with
// one match of its own, so this proxy is never registered and adds no match rule per object.
class EventsProxy final : public sdbus::ProxyInterfaces<org::cxlmgr1::Events_proxy> {
public:
    EventsProxy(sdbus::IConnection& connection, std::string path)
        : ProxyInterfaces(connection, kService, std::move(path)) {}

private:
    void onEvent(const uint64_t&, const std::string&, const std::string&, const uint64_t&,
                 const std::map<std::string, sdbus::Variant>&) override {}
};
using SubscriptionProxy = Proxy<org::cxlmgr1::Subscription_proxy>;

struct BusChoice {
    enum class Kind { System, Session, Address } kind = Kind::System;
    std::string address;

    // "the system bus", "the session bus" or the address, for messages.
    [[nodiscard]] std::string describe() const;
};

// The connection, or nullptr after printing why (the caller exits with kExitUnreachable). The
// bus is remembered for the messages of report().
std::unique_ptr<sdbus::IConnection> connect(const BusChoice& bus);

// Thrown by Connector::get() when the bus cannot be reached (the reason is printed already).
struct Unreachable {};

// Connects on first use, so that a command checks its arguments (usage errors, status 2)
// before it needs the bus.
class Connector {
public:
    explicit Connector(BusChoice bus) : bus_(std::move(bus)) {}
    sdbus::IConnection& get() {
        if (!connection_) {
            connection_ = connect(bus_);
            if (!connection_) {
                throw Unreachable{};
            }
        }
        return *connection_;
    }

private:
    BusChoice bus_;
    std::unique_ptr<sdbus::IConnection> connection_;
};

// The bus connect() was given, as BusChoice::describe() puts it.
const std::string& bus_description();

// "emu0", "0000:0d:00.0" or "/org/cxlmgr1/devices/emu0" -> the object path.
std::string device_path(const std::string& device);

// The exit status for an error: 3 when the daemon is not there, 1 otherwise.
int exit_status_for(const sdbus::Error& e);

// What went wrong, on stderr, in words a user can act on: "cxlmgrd is not running on <bus>",
// "permission denied: <the daemon's sentence>", otherwise "<message> (<error name>)". Returns
// exit_status_for(e).
int report(const sdbus::Error& e);

// Whether the error says the caller was refused (the daemon's PermissionDenied or the bus
// policy's AccessDenied).
bool is_permission_error(const sdbus::Error& e);

}  // namespace cxlmgrctl
