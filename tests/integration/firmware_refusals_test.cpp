// Issue 14 over D-Bus: what the device would refuse late is refused at the call (a target slot
// that is active or does not exist, slot 0 with no free slot, Activate on a slot that does not
// exist), before any job exists or any byte is streamed; and a second cxlmgrd on the same state
// directory leaves at once, touching nothing of the first's.
#include <sdbus-c++/sdbus-c++.h>

#include <filesystem>
#include <fstream>
#include <map>

#include "emu/firmware_image.hpp"
#include "tests/integration/daemon_fixture.hpp"
#include "tests/integration/expected.hpp"

#ifndef CXLMGRD_PATH
#error "CXLMGRD_PATH (the cxlmgrd binary) must be defined by the build"
#endif

namespace cxlmgr::testing {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

constexpr const char* kFirmware = "org.cxlmgr1.Firmware";
constexpr const char* kInvalidArgument = "org.cxlmgr1.Error.InvalidArgument";

class FirmwareRefusalsTest : public DaemonTest {
protected:
    void start(const nlohmann::json& firmware) {
        start_daemon(DaemonOptions::configured(
            daemon_config({emulated_device("emu0", {{"firmware", firmware}})})));
        connection_ = connect();
        proxy_ = sdbus::createProxy(*connection_, kService, device_path("emu0"));
        image_ = work_dir() / "fw.bin";
        auto bytes = emu::build_firmware_image("EMU FW 8.0", std::vector<uint8_t>(5000, 0x5a));
        std::ofstream(image_, std::ios::binary)
            .write(reinterpret_cast<const char*>(bytes.data()),
                   static_cast<std::streamsize>(bytes.size()));
    }

    // The D-Bus error name StartUpdate gets for `slot` ("" and a test failure if it succeeds).
    std::string start_update_error(uint8_t slot, std::string* message) {
        return dbus_error_name(
            [&] {
                sdbus::ObjectPath job;
                proxy_->callMethod("StartUpdate")
                    .onInterface(kFirmware)
                    .withArguments(image_.string(), slot, std::map<std::string, sdbus::Variant>{})
                    .storeResultsTo(job);
            },
            message);
    }

    std::string activate_error(uint8_t slot, std::string* message) {
        return dbus_error_name(
            [&] {
                proxy_->callMethod("Activate")
                    .onInterface(kFirmware)
                    .withArguments(slot, std::string("online"));
            },
            message);
    }

    // Nothing started: no current job, no marker.
    void expect_no_job() {
        sdbus::ObjectPath current =
            proxy_->getProperty("CurrentJob").onInterface(kFirmware).get<sdbus::ObjectPath>();
        EXPECT_EQ(current, "/");
        EXPECT_FALSE(fs::exists(work_dir() / "state" / "firmware-emu0.transfer"));
        EXPECT_EQ(daemon().log().find("firmware update starting"), std::string::npos)
            << daemon().log();
    }

    std::unique_ptr<sdbus::IConnection> connection_;
    std::unique_ptr<sdbus::IProxy> proxy_;
    fs::path image_;
};

TEST_F(FirmwareRefusalsTest, TheActiveSlotIsRefusedAtTheCall) {
    start({{"slots", 3}, {"active", 2}, {"revisions", {"EMU FW 1.0", "EMU FW 1.1", ""}}});
    std::string message;
    EXPECT_EQ(start_update_error(2, &message), kInvalidArgument);
    EXPECT_NE(message.find("slot 2"), std::string::npos) << message;
    EXPECT_NE(message.find("emu0"), std::string::npos) << message;
    expect_no_job();
}

TEST_F(FirmwareRefusalsTest, SlotsBeyondTheCountAreRefusedAtTheCall) {
    start({{"slots", 2}});
    std::string message;
    EXPECT_EQ(start_update_error(3, &message), kInvalidArgument);
    EXPECT_NE(message.find("does not exist"), std::string::npos) << message;
    expect_no_job();
}

TEST_F(FirmwareRefusalsTest, SlotZeroWithNoFreeSlotIsRefusedAtTheCall) {
    start({{"slots", 1}});
    std::string message;
    EXPECT_EQ(start_update_error(0, &message), kInvalidArgument);
    EXPECT_NE(message.find("name the slot"), std::string::npos) << message;
    expect_no_job();
}

TEST_F(FirmwareRefusalsTest, ActivateOnASlotThatDoesNotExistIsInvalidArgument) {
    start({{"slots", 2}, {"revisions", {"EMU FW 1.0", "EMU FW 1.1"}}});
    std::string message;
    EXPECT_EQ(activate_error(3, &message), kInvalidArgument);
    EXPECT_NE(message.find("slot 3 does not exist"), std::string::npos) << message;
    EXPECT_EQ(activate_error(0, &message), kInvalidArgument);
    EXPECT_NE(message.find("slot 0"), std::string::npos) << message;
    // A slot that exists still reaches the device.
    proxy_->callMethod("Activate")
        .onInterface(kFirmware)
        .withArguments(uint8_t{2}, std::string("online"));
    EXPECT_EQ(proxy_->getProperty("ActiveSlot").onInterface(kFirmware).get<uint8_t>(), 2);
}

// Issue 14: a second cxlmgrd on the same --state-dir "recovered" the first's transfer marker
// (aborting its transfer and deleting the marker) before it failed to take the bus name.
TEST_F(FirmwareRefusalsTest, ASecondDaemonOnTheSameStateDirectoryTouchesNothing) {
    start(nlohmann::json::object());
    const fs::path state = work_dir() / "state";
    const fs::path marker = state / "firmware-emu0.transfer";
    // What the first daemon writes while it streams an image.
    std::ofstream(marker) << "device emu0\nslot 2\npid " << daemon().pid() << "\n";

    auto r = run_command({CXLMGRD_PATH, "--bus-address=" + address(),
                          "--state-dir=" + state.string(), "--emulate=1"},
                         60s);
    ASSERT_FALSE(r.timed_out) << r.describe();
    EXPECT_EQ(r.exit_code, 1) << r.describe();
    EXPECT_NE(r.err.find("in use by another cxlmgrd"), std::string::npos) << r.describe();
    EXPECT_NE(r.err.find(state.string()), std::string::npos) << r.describe();
    EXPECT_NE(r.err.find("pid " + std::to_string(daemon().pid())), std::string::npos)
        << r.describe();
    EXPECT_EQ(r.err.find("interrupted by a crash"), std::string::npos) << r.describe();
    EXPECT_TRUE(fs::exists(marker)) << "the second daemon removed the first's marker";
    EXPECT_TRUE(daemon_running());
    EXPECT_TRUE(daemon_on_bus());
    fs::remove(marker);
}

}  // namespace
}  // namespace cxlmgr::testing
