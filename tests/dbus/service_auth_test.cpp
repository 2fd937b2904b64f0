// Authorization as the daemon enforces it itself (a custom-address bus enforces no policy):
// calls made as another user by gdbus under setpriv, which needs root to switch users.
#include <gtest/gtest.h>
#include <unistd.h>

#include "tests/dbus/service_fixture.hpp"

namespace cxlmgr::dbus::test {
namespace {

constexpr gid_t kGroup = 4242;  // any gid: membership is all that counts

class ServiceAuthTest : public ServiceFixture {
protected:
    void SetUp() override {
        if (geteuid() != 0) {
            GTEST_SKIP() << "calling as another user needs root";
        }
    }
    CommandOutcome call(std::optional<gid_t> group, const std::string& path,
                        const std::string& method, const std::string& arguments = {}) {
        return gdbus_call_as_nobody(address_, group, path, method, arguments);
    }
};

const std::string kEmu0 = "/org/cxlmgr1/devices/emu0";

TEST_F(ServiceAuthTest, OtherUsersReadButCannotChange) {
    start({"emu0"}, {}, BusKind::Open);
    auto list = call(std::nullopt, "/org/cxlmgr1", "org.cxlmgr1.Manager.ListDevices");
    EXPECT_EQ(list.status, 0) << list.output;
    EXPECT_NE(list.output.find("/org/cxlmgr1/devices/emu0"), std::string::npos) << list.output;
    auto identify = call(std::nullopt, kEmu0, "org.cxlmgr1.Device.Identify");
    EXPECT_EQ(identify.status, 0) << identify.output;
    EXPECT_NE(identify.output.find("fw_revision"), std::string::npos) << identify.output;

    const std::string denied = "org.cxlmgr1.Error.PermissionDenied";
    auto fault =
        call(std::nullopt, kEmu0, "org.cxlmgr1.Emulator.InjectFault", "'\"doe-busy\"' '@a{sv} {}'");
    EXPECT_NE(fault.status, 0);
    EXPECT_NE(fault.output.find(denied), std::string::npos) << fault.output;
    EXPECT_NE(fault.output.find("InjectFault on emu0 requires root"), std::string::npos)
        << fault.output;
    auto rescan = call(std::nullopt, "/org/cxlmgr1", "org.cxlmgr1.Manager.Rescan");
    EXPECT_NE(rescan.output.find(denied), std::string::npos) << rescan.output;
    auto command = call(std::nullopt, kEmu0, "org.cxlmgr1.Device.Command", "16384 '@ay []'");
    EXPECT_NE(command.output.find(denied), std::string::npos) << command.output;

    // The refused InjectFault armed nothing: a CDAT read as root works.
    EXPECT_EQ(error_of([&] { device_client("emu0")->Refresh(); }).name, "");
}

TEST_F(ServiceAuthTest, MembersOfTheAuthorizedGroupManageButSendNoRawCommands) {
    ServiceOptions options;
    options.authorized_gid = kGroup;
    start({"emu0"}, options, BusKind::Open);
    auto fault = call(kGroup, kEmu0, "org.cxlmgr1.Emulator.InjectFault",
                      "'\"bad-cdat-checksum\"' '@a{sv} {}'");
    EXPECT_EQ(fault.status, 0) << fault.output;
    // It took effect.
    EXPECT_EQ(error_of([&] { device_client("emu0")->Refresh(); }).name,
              "org.cxlmgr1.Error.DeviceError");

    auto command = call(kGroup, kEmu0, "org.cxlmgr1.Device.Command", "16384 '@ay []'");
    EXPECT_NE(command.output.find("org.cxlmgr1.Error.PermissionDenied"), std::string::npos)
        << command.output;
    EXPECT_NE(command.output.find("requires root"), std::string::npos) << command.output;

    // Not a member: refused, with the group named.
    auto outsider = call(std::nullopt, kEmu0, "org.cxlmgr1.Emulator.ClearFaults");
    EXPECT_NE(outsider.output.find("org.cxlmgr1.Error.PermissionDenied"), std::string::npos)
        << outsider.output;
    EXPECT_NE(outsider.output.find("4242"), std::string::npos) << outsider.output;
}

}  // namespace
}  // namespace cxlmgr::dbus::test
