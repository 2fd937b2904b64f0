#include "tests/integration/daemon_fixture.hpp"
#include "tests/support/eventually.hpp"

#include <signal.h>
#include <algorithm>

#include <iostream>

#ifndef CXLMGR_IT_CLIENT_PATH
#error "CXLMGR_IT_CLIENT_PATH (the it_client helper) must be defined by the build"
#endif

namespace cxlmgr::testing {

void DaemonTest::SetUp() {
    dir_ = std::make_unique<TempDir>("cxlmgr-it");
    bus_ = std::make_unique<TestBus>(dir_->path(), bus_limits());
}

void DaemonTest::TearDown() {
    if (daemon_ && daemon_->running()) {
        // The contract: SIGTERM ends cxlmgrd cleanly with status 0, also under ASan/UBSan
        // (a leak or an error report changes the status).
        auto status = daemon_->terminate(10s);
        if (!status) {
            ADD_FAILURE() << "cxlmgrd did not exit within 10 s of SIGTERM";
            daemon_->kill();
        } else {
            EXPECT_EQ(*status, 0) << "cxlmgrd's exit status after SIGTERM";
        }
    }
    if (daemon_ && HasFailure()) {
        std::cerr << "----- cxlmgrd log (" << daemon_->log_path() << ") -----\n"
                  << daemon_->log() << "----- end of cxlmgrd log -----\n";
    }
    daemon_.reset();
    bus_.reset();
    dir_.reset();
}

void DaemonTest::start_daemon(const DaemonOptions& options) {
    if (daemon_) {
        throw std::logic_error("one daemon per test");
    }
    // Throws when cxlmgrd does not come up: GoogleTest reports the exception, with the
    // daemon's log, and ends the test there.
    daemon_ = std::make_unique<DaemonProcess>(address(), dir_->path(), options);
}

std::optional<int> DaemonTest::stop_daemon(std::chrono::milliseconds timeout) {
    if (!daemon_) {
        ADD_FAILURE() << "no daemon to stop";
        return std::nullopt;
    }
    auto status = daemon_->terminate(timeout);
    if (!status) {
        daemon_->kill();
    }
    return status;
}

void DaemonTest::kill_daemon() {
    if (daemon_) {
        daemon_->kill();
    }
}

bool DaemonTest::daemon_on_bus() const {
    return name_has_owner(address(), kService);
}

CommandResult DaemonTest::busctl(const std::vector<std::string>& args) const {
    std::vector<std::string> argv = {"busctl", "--address=" + address()};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_command(argv);
}

CommandResult DaemonTest::busctl_as_nobody(const std::vector<std::string>& args) const {
    std::vector<std::string> argv = {"busctl", "--address=" + address()};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_command(as_nobody(argv));
}

CommandResult DaemonTest::client_as_nobody(const std::vector<std::string>& args) const {
    // A copy in the world-accessible temp dir: the build tree may sit where nobody cannot
    // reach (a clone under /root).
    const auto client = dir_->path() / "it_client";
    if (!std::filesystem::exists(client)) {
        std::filesystem::copy_file(CXLMGR_IT_CLIENT_PATH, client);
        std::filesystem::permissions(client, std::filesystem::perms(0755));
    }
    std::vector<std::string> argv = {client.string(), address()};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_command(as_nobody(argv));
}

nlohmann::json DaemonTest::busctl_json(const std::vector<std::string>& args) const {
    std::vector<std::string> full = {"--json=short"};
    full.insert(full.end(), args.begin(), args.end());
    CommandResult r = busctl(full);
    if (r.exit_code != 0) {
        ADD_FAILURE() << "busctl " << ::testing::PrintToString(args) << ": " << r.describe();
        return nullptr;
    }
    try {
        return nlohmann::json::parse(r.out);
    } catch (const std::exception& e) {
        ADD_FAILURE() << "busctl printed no JSON (" << e.what() << "): " << r.out;
        return nullptr;
    }
}

std::unique_ptr<sdbus::IConnection> DaemonTest::connect() const {
    return sdbus::createSessionBusConnectionWithAddress(address());
}

void DaemonTest::wait_for_startup_commands(const std::string& id) const {
    auto conn = connect();
    DeviceProxy device(*conn, device_path(id));
    const bool set = eventually([&] {
        auto [rc, out] = device.Command(0x0300, {});  // Get Timestamp: 0 until set
        return rc == 0 && std::any_of(out.begin(), out.end(), [](uint8_t b) { return b != 0; });
    });
    ASSERT_TRUE(set) << "the daemon never set " << id << "'s clock";
}

sdbus::ObjectPath start_firmware_update(sdbus::IConnection& connection, const std::string& id,
                                        const std::filesystem::path& image) {
    auto firmware = sdbus::createProxy(connection, kService, device_path(id));
    sdbus::ObjectPath job;
    firmware->callMethod("StartUpdate")
        .onInterface("org.cxlmgr1.Firmware")
        .withArguments(image.string(), uint8_t{0}, std::map<std::string, sdbus::Variant>{})
        .storeResultsTo(job);
    return job;
}

std::string wait_final_state(sdbus::IConnection& connection, const sdbus::ObjectPath& job,
                             std::chrono::milliseconds timeout) {
    std::string state;
    eventually(
        [&] {
            state = job_property<std::string>(connection, job, "State");
            return state == "completed" || state == "failed" || state == "cancelled";
        },
        timeout, std::chrono::milliseconds(20));
    return state;
}

}  // namespace cxlmgr::testing
