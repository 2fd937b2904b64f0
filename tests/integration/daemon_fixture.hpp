// GoogleTest fixture for tests that drive the real cxlmgrd over D-Bus: every test gets its own
// temp dir, private bus (daemon_harness.hpp) and, once it calls start_daemon(), its own cxlmgrd
// with a fresh --state-dir. TearDown stops cxlmgrd with SIGTERM and expects exit status 0
// (unless the test killed or stopped it itself), and prints the daemon's log when the test
// failed. Helpers run busctl as root or as nobody and open sdbus-c++ proxies.
#pragma once

#include <gtest/gtest.h>

#include <sdbus-c++/sdbus-c++.h>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "harness/daemon_harness.hpp"
#include "tests/integration/proxies.hpp"

namespace cxlmgr::testing {

inline constexpr const char* kService = "org.cxlmgr1";
inline constexpr const char* kRootPath = "/org/cxlmgr1";

inline std::string device_path(const std::string& id) {
    return std::string("/org/cxlmgr1/devices/") + id;
}

class DaemonTest : public ::testing::Test {
protected:
    void SetUp() override;
    void TearDown() override;
    // The limits of the test's private bus (daemon_harness.hpp); a fixture overrides this.
    [[nodiscard]] virtual BusLimits bus_limits() const { return BusLimits::Default; }

    // Starts cxlmgrd on this test's bus and waits until it owns org.cxlmgr1; throws (ending
    // the test, with the daemon's log) otherwise.
    void start_daemon(const DaemonOptions& options = {});
    // SIGTERM; expects an exit within `timeout` and returns the status (nullopt: still
    // running, then killed). TearDown then has nothing left to check.
    std::optional<int> stop_daemon(std::chrono::milliseconds timeout = 10s);
    // SIGKILL, for tests that want the daemon gone without its exit status.
    void kill_daemon();
    [[nodiscard]] bool daemon_running() const { return daemon_ && daemon_->running(); }
    [[nodiscard]] bool daemon_on_bus() const;
    [[nodiscard]] DaemonProcess& daemon() { return *daemon_; }

    [[nodiscard]] const std::string& address() const { return bus_->address(); }
    [[nodiscard]] const std::filesystem::path& work_dir() const { return dir_->path(); }

    // `busctl --address=ADDR args...` (as root, or as nobody).
    CommandResult busctl(const std::vector<std::string>& args) const;
    CommandResult busctl_as_nobody(const std::vector<std::string>& args) const;
    // The same with --json=short, expecting success; returns the parsed output
    // ({"type": SIG, "data": [...]}), or null after recording a test failure.
    nlohmann::json busctl_json(const std::vector<std::string>& args) const;
    // busctl prints only an error's message, never its name. it_client (it_client.cpp) makes
    // one call with sdbus-c++ and prints "error NAME\nMESSAGE" or "ok\n...": run as nobody it
    // shows which error a refused caller gets.
    CommandResult client_as_nobody(const std::vector<std::string>& args) const;

    // A new client connection to the test's bus.
    [[nodiscard]] std::unique_ptr<sdbus::IConnection> connect() const;

    // Waits until the event collector of device `id` has set the device clock, its one
    // start-up mailbox command sent in the background. A test that then sticks the mailbox
    // (mailbox-timeout, mailbox-busy) knows its own call is the one that meets the fault.
    void wait_for_startup_commands(const std::string& id) const;

private:
    std::unique_ptr<TempDir> dir_;
    std::unique_ptr<TestBus> bus_;
    std::unique_ptr<DaemonProcess> daemon_;
};

// Runs `call`, expecting an sdbus::Error; returns its name ("" when none was thrown, after
// recording a failure) so tests can compare it with the contract's error names.
template <typename F>
std::string dbus_error_name(F&& call, std::string* message = nullptr) {
    try {
        call();
    } catch (const sdbus::Error& e) {
        if (message != nullptr) {
            *message = e.getMessage();
        }
        return e.getName();
    }
    ADD_FAILURE() << "the call succeeded where an error was expected";
    return "";
}

// org.cxlmgr1.Firmware.StartUpdate(image, slot 0, no options) on device `id`: the job's path.
sdbus::ObjectPath start_firmware_update(sdbus::IConnection& connection, const std::string& id,
                                        const std::filesystem::path& image);

// One property of a job object.
template <typename T>
T job_property(sdbus::IConnection& connection, const sdbus::ObjectPath& job,
               const std::string& name) {
    auto proxy = sdbus::createProxy(connection, kService, job);
    return proxy->getProperty(name).onInterface("org.cxlmgr1.Job").template get<T>();
}

// The job's State once it is final (completed, failed, cancelled), polled for up to `timeout`;
// the last State seen when it never became final.
std::string wait_final_state(sdbus::IConnection& connection, const sdbus::ObjectPath& job,
                             std::chrono::milliseconds timeout = 120s);

}  // namespace cxlmgr::testing
