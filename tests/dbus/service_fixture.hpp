// In-process service tests: a private dbus-daemon, the Service on its own io_context thread
// with emulated devices opened through the real daemon core (open_device, ManagedDevice on an
// Arbiter), and clients on their own connection using the generated proxies, the way
// cxlmgrctl talks to cxlmgrd.
#pragma once

#include <gtest/gtest.h>

#include <dbus/generated/Cdat_proxy.h>
#include <dbus/generated/Device_proxy.h>
#include <dbus/generated/Emulator_proxy.h>
#include <dbus/generated/Manager_proxy.h>
#include <sdbus-c++/sdbus-c++.h>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "daemon/arbiter.hpp"
#include "daemon/managed_device.hpp"
#include "dbus/service.hpp"
#include "tests/support/private_bus.hpp"

namespace cxlmgr::dbus::test {

using namespace std::chrono_literals;
using Dict = std::map<std::string, sdbus::Variant>;

class OpenBus;

// Signals as a client received them, for tests to wait on.
class SignalLog {
public:
    void add(std::string entry) {
        std::lock_guard lock(mutex_);
        entries_.push_back(std::move(entry));
        changed_.notify_all();
    }
    // True once an entry equal to `entry` arrived within `timeout`.
    bool wait_for(const std::string& entry, std::chrono::milliseconds timeout = 5000ms) {
        std::unique_lock lock(mutex_);
        return changed_.wait_for(lock, timeout, [&] {
            return std::find(entries_.begin(), entries_.end(), entry) != entries_.end();
        });
    }
    std::vector<std::string> entries() {
        std::lock_guard lock(mutex_);
        return entries_;
    }

private:
    std::mutex mutex_;
    std::condition_variable changed_;
    std::vector<std::string> entries_;
};

// Renders a property value for SignalLog entries ("org.cxlmgr1.Device.State=gone").
std::string render(const sdbus::Variant& value);

class DeviceClient final
    : public sdbus::ProxyInterfaces<org::cxlmgr1::Device_proxy, org::cxlmgr1::Cdat_proxy,
                                    org::cxlmgr1::Emulator_proxy, sdbus::Properties_proxy> {
public:
    DeviceClient(sdbus::IConnection& connection, std::string path)
        : ProxyInterfaces(connection, "org.cxlmgr1", std::move(path)) {
        registerProxy();
    }
    ~DeviceClient() { unregisterProxy(); }
    SignalLog changes;  // "<interface>.<property>=<value>"

private:
    void onPropertiesChanged(const std::string& interface, const Dict& changed,
                             const std::vector<std::string>& invalidated) override;
};

class RootClient final
    : public sdbus::ProxyInterfaces<org::cxlmgr1::Manager_proxy, sdbus::ObjectManager_proxy> {
public:
    explicit RootClient(sdbus::IConnection& connection)
        : ProxyInterfaces(connection, "org.cxlmgr1", "/org/cxlmgr1") {
        registerProxy();
    }
    ~RootClient() { unregisterProxy(); }
    // "added <path>", "removed <path>", and "<path> Cdat.<property>=<value>" as added
    SignalLog objects;

private:
    void onInterfacesAdded(const sdbus::ObjectPath& path,
                           const std::map<std::string, Dict>& interfaces) override;
    void onInterfacesRemoved(const sdbus::ObjectPath& path,
                             const std::vector<std::string>& interfaces) override;
};

// The error name and message a call ended with; empty name if it succeeded.
struct CallError {
    std::string name;
    std::string message;
};
CallError error_of(const std::function<void()>& call);

class ServiceFixture : public ::testing::Test {
protected:
    ServiceFixture();
    ~ServiceFixture() override;

    // Starts a bus (the tests/support PrivateBus, or an OpenBus other users may join), opens
    // the emulated devices `names` (in that order), starts the service with them, takes the
    // bus name, and connects a client.
    enum class BusKind { Private, Open };
    void start(std::vector<std::string> names, ServiceOptions options = {},
               BusKind bus = BusKind::Private);

    // Runs `f` on the D-Bus thread and returns its result.
    template <typename F>
    auto on_io(F f) -> decltype(f()) {
        std::packaged_task<decltype(f())()> task(std::move(f));
        auto result = task.get_future();
        boost::asio::post(io_, [&task] { task(); });
        return result.get();
    }

    std::shared_ptr<daemon::ManagedDevice> open_device(const std::string& name);
    std::unique_ptr<DeviceClient> device_client(const std::string& name);
    // Waits until the Cdat properties of `name` are known (its background read is done).
    bool wait_cdat_known(const std::string& name);
    // Waits until the service holds `n` deferred calls (a call reached the daemon).
    bool wait_pending(size_t n, std::chrono::milliseconds timeout = 5000ms);

    // Declared first: the bus goes last, after the service and the clients.
    std::unique_ptr<cxlmgr::testing::PrivateBus> private_bus_;
    std::unique_ptr<OpenBus> open_bus_;
    std::string address_;
    boost::asio::io_context io_;
    daemon::Arbiter arbiter_{2};
    std::map<std::string, std::shared_ptr<daemon::ManagedDevice>> devices_;
    std::unique_ptr<Service> service_;
    std::unique_ptr<sdbus::IConnection> client_;
    std::unique_ptr<RootClient> root_;

private:
    void stop();
    std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_;
    std::thread io_thread_;
};

// A dbus-daemon any user may connect to, so calls can be made as another user (setpriv).
class OpenBus {
public:
    OpenBus();
    ~OpenBus();
    OpenBus(const OpenBus&) = delete;
    OpenBus& operator=(const OpenBus&) = delete;
    [[nodiscard]] const std::string& address() const { return address_; }

private:
    std::string config_path_;
    std::string address_;
    pid_t pid_ = -1;
};

// Runs `gdbus call` as uid/gid 65534 (nobody), with `group` as its only supplementary group if
// given; returns gdbus's exit status and combined output.
struct CommandOutcome {
    int status = -1;
    std::string output;
};
CommandOutcome gdbus_call_as_nobody(const std::string& address, std::optional<gid_t> group,
                                    const std::string& path, const std::string& method,
                                    const std::string& arguments = {});

}  // namespace cxlmgr::dbus::test
