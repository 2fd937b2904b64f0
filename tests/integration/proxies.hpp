// Client-side proxies generated from the contract's XML (cxlmgr_dbus_interfaces), on a
// connection the caller owns (a proxy created without one would start its own thread), and a
// conversion of received variants to JSON so answers can be compared field by field.
#pragma once

#include <sdbus-c++/sdbus-c++.h>
#include <nlohmann/json.hpp>
#include <string>

#include "dbus/generated/Cdat_proxy.h"
#include "dbus/generated/Device_proxy.h"
#include "dbus/generated/Emulator_proxy.h"
#include "dbus/generated/Events_proxy.h"
#include "dbus/generated/Manager_proxy.h"

namespace cxlmgr::testing {

template <typename... Interfaces>
class Proxy final : public sdbus::ProxyInterfaces<Interfaces...> {
public:
    Proxy(sdbus::IConnection& connection, std::string path)
        : sdbus::ProxyInterfaces<Interfaces...>(connection, "org.cxlmgr1", std::move(path)) {
        this->registerProxy();
    }
    ~Proxy() { this->unregisterProxy(); }
};

using ManagerProxy = Proxy<org::cxlmgr1::Manager_proxy>;
using DeviceProxy = Proxy<org::cxlmgr1::Device_proxy>;
using CdatProxy = Proxy<org::cxlmgr1::Cdat_proxy>;
using EmulatorProxy = Proxy<org::cxlmgr1::Emulator_proxy>;

using VariantMap = std::map<std::string, sdbus::Variant>;

// org.cxlmgr1.Events for its calls (GetEvents, Subscribe): the Event signal is not watched.
class EventsCalls final : public sdbus::ProxyInterfaces<org::cxlmgr1::Events_proxy> {
public:
    EventsCalls(sdbus::IConnection& connection, std::string path)
        : ProxyInterfaces(connection, "org.cxlmgr1", std::move(path)) {
        registerProxy();
    }
    ~EventsCalls() { unregisterProxy(); }

private:
    void onEvent(const uint64_t&, const std::string&, const std::string&, const uint64_t&,
                 const VariantMap&) override {}
};

// Scalars, strings, object paths, arrays of those, a{sv} and arrays of a{sv} (what the
// contract's dictionaries hold); throws std::invalid_argument naming any other signature.
nlohmann::json to_json(const sdbus::Variant& value);
nlohmann::json to_json(const VariantMap& map);

// busctl --json=short renders a variant as {"type": SIG, "data": VALUE}; this drops the type
// wrappers of a{sv} values recursively so both sources compare as plain JSON.
nlohmann::json unwrap_busctl(const nlohmann::json& typed);

}  // namespace cxlmgr::testing
