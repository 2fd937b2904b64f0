// A caller that is not root (nobody, through setpriv) may read but not change: Identify and the
// properties answer, Emulator.InjectFault, Emulator.ClearFaults and Device.Command are refused.
// The test bus admits every user and allows every message (daemon_harness.hpp), so a refusal
// here is cxlmgrd's own check of the caller, which the contract requires in addition to any
// bus policy.
#include <gtest/gtest.h>

#include "tests/integration/daemon_fixture.hpp"
#include "tests/integration/expected.hpp"

namespace cxlmgr::testing {
namespace {

using nlohmann::json;

bool is_refusal(const CommandResult& r) {
    return r.exit_code == 1 &&
           (r.out.rfind("error org.cxlmgr1.Error.PermissionDenied\n", 0) == 0 ||
            r.out.rfind("error org.freedesktop.DBus.Error.AccessDenied\n", 0) == 0);
}

// Guards the tests below, and needs no cxlmgrd: the fixture's bus admits other users, so a
// refusal must come from cxlmgrd, not from a bus that turned nobody away.
TEST_F(DaemonTest, PrivateBusAdmitsNobody) {
    auto r = busctl_as_nobody(
        {"call", "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", "GetId"});
    ASSERT_EQ(r.exit_code, 0) << r.describe();
    auto root = busctl(
        {"call", "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", "GetId"});
    EXPECT_EQ(root.out, r.out) << "same bus";
}

class PermissionTest : public DaemonTest {
protected:
    void SetUp() override {
        DaemonTest::SetUp();
        start_daemon(DaemonOptions::emulated(1));
    }
};

TEST_F(PermissionTest, NobodyCanRead) {
    const std::string path = device_path("emu0");
    auto r = busctl_as_nobody({"get-property", kService, path, "org.cxlmgr1.Device", "Name"});
    EXPECT_EQ(r.exit_code, 0) << r.describe();
    EXPECT_EQ(r.out, "s \"emu0\"\n");
    r = busctl_as_nobody({"call", kService, kRootPath, "org.cxlmgr1.Manager", "ListDevices"});
    EXPECT_EQ(r.exit_code, 0) << r.describe();
    EXPECT_EQ(r.out, "ao 1 \"/org/cxlmgr1/devices/emu0\"\n");
    r = busctl_as_nobody({"call", kService, path, "org.cxlmgr1.Device", "Identify"});
    EXPECT_EQ(r.exit_code, 0) << r.describe();

    r = client_as_nobody({"identify", path});
    ASSERT_EQ(r.exit_code, 0) << r.describe();
    json got = json::parse(r.out.substr(r.out.find('\n') + 1));
    EXPECT_EQ(field_mismatches(
                  decode_identify(reference_command(emulated_device("emu0"), 0x4000).output), got),
              "");
    r = client_as_nobody({"get-property", path, "org.cxlmgr1.Device", "State"});
    EXPECT_EQ(r.exit_code, 0) << r.describe();
    EXPECT_EQ(r.out, "ok\n\"online\"\n");
}

TEST_F(PermissionTest, NobodyCannotInjectFaultsOrSendRawCommands) {
    const std::string path = device_path("emu0");
    auto r = client_as_nobody({"inject-fault", path, "surprise-removal"});
    EXPECT_TRUE(is_refusal(r)) << r.describe();
    r = client_as_nobody({"clear-faults", path});
    EXPECT_TRUE(is_refusal(r)) << r.describe();
    r = client_as_nobody({"command", path, "0x4000"});
    EXPECT_TRUE(is_refusal(r)) << r.describe();
    // busctl as nobody is refused as well (it only shows the message).
    auto b = busctl_as_nobody({"call", kService, path, "org.cxlmgr1.Emulator", "InjectFault",
                               "sa{sv}", "mailbox-busy", "0"});
    EXPECT_NE(b.exit_code, 0) << b.describe();
    b = busctl_as_nobody(
        {"call", kService, path, "org.cxlmgr1.Device", "Command", "qay", "16384", "0"});
    EXPECT_NE(b.exit_code, 0) << b.describe();

    // Nothing was armed: the device answers root as before.
    auto conn = connect();
    DeviceProxy device(*conn, path);
    auto [rc, out] = device.Command(0x4000, {});
    EXPECT_EQ(rc, 0);
    EXPECT_EQ(out, reference_command(emulated_device("emu0"), 0x4000).output);
    EXPECT_EQ(device.State(), "online");
}

TEST_F(PermissionTest, RescanIsForRootAndKeepsEmulatedDevices) {
    // Root: libpci re-enumeration finds no CXL device on this machine (or some, elsewhere);
    // the emulated devices stay listed either way.
    auto r = busctl({"call", kService, kRootPath, "org.cxlmgr1.Manager", "Rescan"});
    ASSERT_EQ(r.exit_code, 0) << r.describe();
    EXPECT_NE(r.out.find("\"/org/cxlmgr1/devices/emu0\""), std::string::npos) << r.out;
    auto b = busctl_as_nobody({"call", kService, kRootPath, "org.cxlmgr1.Manager", "Rescan"});
    EXPECT_NE(b.exit_code, 0) << b.describe();
    EXPECT_NE(b.err.find("root"), std::string::npos) << b.describe();
}

}  // namespace
}  // namespace cxlmgr::testing
