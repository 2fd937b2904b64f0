// cxlmgrctl's side of the bus: the connection (system, session or an address), proxies
// generated from the contract's XML, device name -> object path, and the exit status a D-Bus
// error maps to (shared/API.md "cxlmgrctl": 1 the operation failed, 3 the daemon could not be
// reached).
#pragma once

#include <sdbus-c++/sdbus-c++.h>

#include <map>
#include <memory>
#include <optional>
#include <string>

#include "dbus/generated/Cdat_proxy.h"
#include "dbus/generated/Device_proxy.h"
#include "dbus/generated/Firmware_proxy.h"
#include "dbus/generated/Job_proxy.h"
#include "dbus/generated/Manager_proxy.h"

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

struct BusChoice {
    enum class Kind { System, Session, Address } kind = Kind::System;
    std::string address;
};

// The connection, or nullptr after printing why (the caller exits with kExitUnreachable).
std::unique_ptr<sdbus::IConnection> connect(const BusChoice& bus);

// "emu0", "0000:0d:00.0" or "/org/cxlmgr1/devices/emu0" -> the object path.
std::string device_path(const std::string& device);

// The exit status for an error: 3 when the daemon is not there, 1 otherwise.
int exit_status_for(const sdbus::Error& e);

// "cxlmgrctl: <message> (<name>)" on stderr; returns exit_status_for(e).
int report(const sdbus::Error& e);

}  // namespace cxlmgrctl
