// Every fault org.cxlmgr1.Emulator can arm, injected over D-Bus into one of two devices: the
// call that meets the fault gets the contract's org.cxlmgr1.Error.* (never a hang, never a
// crash), cxlmgrd stays on the bus, and the other device keeps answering correctly.
#include <gtest/gtest.h>

#include "emu/firmware_image.hpp"
#include "tests/integration/daemon_fixture.hpp"
#include "tests/integration/expected.hpp"
#include "tests/support/eventually.hpp"

namespace cxlmgr::testing {
namespace {

using nlohmann::json;

enum class Trigger { Identify, CdatRefresh };

struct FaultCase {
    const char* fault;
    Trigger trigger;
    std::vector<std::string> errors;  // acceptable error names
    const char* message_contains;     // "" for no check
};

void PrintTo(const FaultCase& c, std::ostream* os) {
    *os << c.fault;
}

class TwoDeviceTest : public DaemonTest {
protected:
    // The bystander must answer exactly as a fresh device does.
    void expect_bystander_answers(sdbus::IConnection& conn) {
        DeviceProxy emu1(conn, device_path("emu1"));
        auto [rc, out] = emu1.Command(0x4000, {});
        EXPECT_EQ(rc, 0);
        EXPECT_EQ(out, reference_command(emulated_device("emu1"), 0x4000).output);
        EXPECT_EQ(emu1.State(), "online");
        EXPECT_TRUE(daemon_on_bus());
    }
};

class FaultTest : public TwoDeviceTest, public ::testing::WithParamInterface<FaultCase> {};

TEST_P(FaultTest, FaultIsAnErrorForItsDeviceOnly) {
    const FaultCase& c = GetParam();
    start_daemon(DaemonOptions::emulated(2));
    auto conn = connect();
    EmulatorProxy emulator(*conn, device_path("emu0"));
    DeviceProxy emu0(*conn, device_path("emu0"));
    CdatProxy cdat(*conn, device_path("emu0"));
    // Read once first so the table is cached and the device known good before the fault.
    ASSERT_FALSE(cdat.ReadRaw().empty());
    wait_for_startup_commands("emu0");

    emulator.InjectFault(c.fault, {});
    std::string message;
    std::string name = dbus_error_name(
        [&] {
            if (c.trigger == Trigger::Identify) {
                emu0.Identify();
            } else {
                cdat.Refresh();
            }
        },
        &message);
    EXPECT_NE(std::find(c.errors.begin(), c.errors.end(), name), c.errors.end())
        << "got " << name << " (" << message << ")";
    if (*c.message_contains != '\0') {
        EXPECT_NE(message.find(c.message_contains), std::string::npos) << message;
    }
    expect_bystander_answers(*conn);
    emulator.ClearFaults();
}

INSTANTIATE_TEST_SUITE_P(
    Emulator, FaultTest,
    ::testing::Values(
        // The doorbell never clears: the daemon gives up after its doorbell timeout.
        FaultCase{"mailbox-timeout", Trigger::Identify, {"org.cxlmgr1.Error.Timeout"}, ""},
        // The doorbell is found set, as if another agent held the mailbox.
        FaultCase{"mailbox-busy", Trigger::Identify, {"org.cxlmgr1.Error.Busy"}, ""},
        // DOE Busy stuck: the exchange cannot start (Busy), or the abort cannot clear it.
        FaultCase{"doe-busy",
                  Trigger::CdatRefresh,
                  {"org.cxlmgr1.Error.Busy", "org.cxlmgr1.Error.Timeout"},
                  ""},
        FaultCase{"doe-error", Trigger::CdatRefresh, {"org.cxlmgr1.Error.DeviceError"}, ""},
        // A malformed table is an error naming the fault, never half-decoded.
        FaultCase{"bad-cdat-checksum",
                  Trigger::CdatRefresh,
                  {"org.cxlmgr1.Error.DeviceError"},
                  "checksum"},
        FaultCase{"surprise-removal", Trigger::Identify, {"org.cxlmgr1.Error.DeviceGone"}, ""}),
    [](const ::testing::TestParamInfo<FaultCase>& param_info) {
        std::string n = param_info.param.fault;
        std::replace(n.begin(), n.end(), '-', '_');
        return n;
    });

TEST_F(TwoDeviceTest, SurpriseRemovalMarksTheDeviceGone) {
    start_daemon(DaemonOptions::emulated(2));
    auto conn = connect();
    EmulatorProxy emulator(*conn, device_path("emu0"));
    DeviceProxy emu0(*conn, device_path("emu0"));
    emulator.InjectFault("surprise-removal", {});
    EXPECT_EQ(dbus_error_name([&] { emu0.Identify(); }), "org.cxlmgr1.Error.DeviceGone");
    // The contract's State for a device that vanished.
    EXPECT_EQ(emu0.State(), "gone");
    expect_bystander_answers(*conn);
}

// Problem 5 over D-Bus: a device whose mailbox was taken out of service by a doorbell timeout
// comes back online by itself once the doorbell clears, with no command sent to it, and says
// why it was failed meanwhile (StateReason).
TEST_F(TwoDeviceTest, FailedMailboxComesBackOnlineByItself) {
    // The stuck doorbell clears after 5 s, well past the daemon's 2 s doorbell timeout.
    start_daemon(DaemonOptions::configured(daemon_config(
        {emulated_device("emu0", {{"timing", {{"mailbox_timeout_fault_us", 5000000}}}}),
         emulated_device("emu1")})));
    auto conn = connect();
    EmulatorProxy emulator(*conn, device_path("emu0"));
    DeviceProxy emu0(*conn, device_path("emu0"));
    EXPECT_EQ(emu0.StateReason(), "");
    wait_for_startup_commands("emu0");

    emulator.InjectFault("mailbox-timeout", {});
    EXPECT_EQ(dbus_error_name([&] { emu0.Identify(); }), "org.cxlmgr1.Error.Timeout");
    EXPECT_EQ(emu0.State(), "failed");
    EXPECT_EQ(emu0.StateReason().rfind("emu0: the doorbell did not clear", 0), 0u)
        << emu0.StateReason();
    emulator.ClearFaults();
    expect_bystander_answers(*conn);

    // Only property reads from here on.
    EXPECT_TRUE(eventually([&] { return emu0.State() == "online"; }, 30s)) << emu0.StateReason();
    EXPECT_EQ(emu0.StateReason(), "");
    EXPECT_NE(daemon().log().find("emu0: state failed -> online"), std::string::npos);
    auto [rc, out] = emu0.Command(0x4000, {});
    EXPECT_EQ(rc, 0);
}

class DeadDoeTest : public TwoDeviceTest {
protected:
    void SetUp() override {
        TwoDeviceTest::SetUp();
        start_daemon(DaemonOptions::emulated(2));
        conn_ = connect();
        emulator_ = std::make_unique<EmulatorProxy>(*conn_, device_path("emu0"));
        device_ = std::make_unique<DeviceProxy>(*conn_, device_path("emu0"));
        cdat_ = std::make_unique<CdatProxy>(*conn_, device_path("emu0"));
        ASSERT_FALSE(cdat_->ReadRaw().empty());
    }
    void TearDown() override {
        cdat_.reset();
        device_.reset();
        emulator_.reset();
        conn_.reset();
        TwoDeviceTest::TearDown();
    }
    // The DOE Busy bit stuck for `count` Aborts; one Cdat.Refresh then kills the DOE mailbox.
    void kill_the_doe(uint32_t count) {
        emulator_->InjectFault("doe-busy", {{"count", sdbus::Variant(count)}});
        std::string name = dbus_error_name([&] { cdat_->Refresh(); });
        EXPECT_TRUE(name == "org.cxlmgr1.Error.Busy" || name == "org.cxlmgr1.Error.Timeout")
            << name;
    }
    // Back online by itself, and the table is read again from the device.
    void expect_recovery() {
        EXPECT_TRUE(eventually([&] { return device_->State() == "online"; }, 30s))
            << device_->StateReason();
        EXPECT_EQ(device_->StateReason(), "");
        EXPECT_NO_THROW(cdat_->Refresh());
        EXPECT_EQ(cdat_->ReadRaw(), reference_cdat(emulated_device("emu0")));
    }

    std::unique_ptr<sdbus::IConnection> conn_;
    std::unique_ptr<EmulatorProxy> emulator_;
    std::unique_ptr<DeviceProxy> device_;
    std::unique_ptr<CdatProxy> cdat_;
};

// Problem 5: a dead DOE mailbox used to fail every CDAT call until the daemon restarted, while
// State said online. Now the device is degraded, says why, and comes back once the Busy bit
// clears.
TEST_F(DeadDoeTest, DeadDoeDegradesTheDeviceWithAReasonUntilItComesBack) {
    // Many more Aborts than supervision tries before ClearFaults: the DOE stays dead till then.
    kill_the_doe(100000);
    EXPECT_EQ(device_->State(), "degraded");
    EXPECT_EQ(
        device_->StateReason().rfind("emu0: CDAT unavailable: DOE mailbox at 0x110 is dead", 0), 0u)
        << device_->StateReason();
    std::string message;
    EXPECT_EQ(dbus_error_name([&] { cdat_->Refresh(); }, &message),
              "org.cxlmgr1.Error.DeviceError");
    EXPECT_EQ(message.rfind("emu0: ", 0), 0u) << message;
    EXPECT_NE(message.find("DOE mailbox at 0x110 is dead after an earlier failure"),
              std::string::npos)
        << message;
    expect_bystander_answers(*conn_);

    emulator_->ClearFaults();
    expect_recovery();
    EXPECT_NE(daemon().log().find("emu0: DOE mailbox at 0x110: an Abort completed"),
              std::string::npos);
}

// The sequence of the report: doe-busy twice, one Cdat.Refresh, ClearFaults; CDAT used to stay
// unreadable until the daemon restarted.
TEST_F(DeadDoeTest, CdatIsReadableAgainAfterTheFaultsAreCleared) {
    kill_the_doe(2);
    emulator_->ClearFaults();
    expect_recovery();
}

// Transfer FW (0x0201), full transfer, built here from the specification's layout: action,
// slot, offset in 128-byte units, then the data from byte 0x80.
ByteVector transfer_fw_full(uint8_t slot, const ByteVector& image) {
    ByteVector input(0x80, 0);
    input[0] = 0;  // full transfer
    input[1] = slot;
    input.insert(input.end(), image.begin(), image.end());
    return input;
}

// fw-verify-fail needs no firmware-update job: a raw Transfer FW through Device.Command (with
// --allow-raw-writes) reaches it. The device's verdict is a return code, not a D-Bus error.
TEST_F(TwoDeviceTest, FirmwareVerifyFailIsTheDevicesReturnCode) {
    start_daemon(DaemonOptions::emulated(2).raw_writes());
    auto conn = connect();
    EmulatorProxy emulator(*conn, device_path("emu0"));
    DeviceProxy emu0(*conn, device_path("emu0"));
    const ByteVector payload(100, 0x5a);
    const ByteVector image = emu::build_firmware_image("IT FW 3.0", payload);
    ASSERT_LE(image.size() + 0x80, 2048u) << "one part must fit the default payload";

    emulator.InjectFault("fw-verify-fail", {});
    auto [rc, out] = emu0.Command(0x0201, transfer_fw_full(2, image));
    EXPECT_EQ(rc, 0x0A) << "FW Verification Failed";
    expect_bystander_answers(*conn);
    // The fault was used up: the same image now installs.
    auto [rc2, out2] = emu0.Command(0x0201, transfer_fw_full(2, image));
    EXPECT_EQ(rc2, 0);
}

TEST_F(TwoDeviceTest, RawWritesAreRefusedWithoutAllowRawWrites) {
    start_daemon(DaemonOptions::emulated(1));
    auto conn = connect();
    DeviceProxy emu0(*conn, device_path("emu0"));
    const ByteVector image = emu::build_firmware_image("IT FW 3.0", ByteVector(100, 1));
    std::string name = dbus_error_name([&] { emu0.Command(0x0201, transfer_fw_full(2, image)); });
    EXPECT_TRUE(name == "org.cxlmgr1.Error.PermissionDenied" ||
                name == "org.cxlmgr1.Error.Unsupported")
        << name;
    // Reads still go through.
    auto [rc, out] = emu0.Command(0x4000, {});
    EXPECT_EQ(rc, 0);
}

}  // namespace
}  // namespace cxlmgr::testing
