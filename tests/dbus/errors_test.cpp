// Error names and messages as clients see them, object path mapping, and the authorization
// decision (who may call the changing methods).
#include <gtest/gtest.h>

#include "dbus/authorization.hpp"
#include "dbus/errors.hpp"
#include "dbus/object_paths.hpp"

namespace cxlmgr::dbus {
namespace {

TEST(DbusErrors, ContractNamesMapOneToOne) {
    const std::pair<Errc, const char*> cases[] = {
        {Errc::InvalidArgument, "org.cxlmgr1.Error.InvalidArgument"},
        {Errc::NotFound, "org.cxlmgr1.Error.NotFound"},
        {Errc::Busy, "org.cxlmgr1.Error.Busy"},
        {Errc::PermissionDenied, "org.cxlmgr1.Error.PermissionDenied"},
        {Errc::DeviceError, "org.cxlmgr1.Error.DeviceError"},
        {Errc::Timeout, "org.cxlmgr1.Error.Timeout"},
        {Errc::Cancelled, "org.cxlmgr1.Error.Cancelled"},
        {Errc::Unsupported, "org.cxlmgr1.Error.Unsupported"},
        {Errc::DeviceGone, "org.cxlmgr1.Error.DeviceGone"},
        {Errc::NotCancellable, "org.cxlmgr1.Error.NotCancellable"},
        {Errc::LimitsExceeded, "org.cxlmgr1.Error.LimitsExceeded"},
        {Errc::IoError, "org.cxlmgr1.Error.DeviceError"},
        {Errc::Internal, "org.freedesktop.DBus.Error.Failed"},
    };
    for (const auto& [code, name] : cases) {
        EXPECT_EQ(dbus_error_name(code), name) << errc_name(code);
        EXPECT_EQ(to_dbus_error(Error(code, "it broke"), "emu0").getName(), name);
    }
}

TEST(DbusErrors, MessagesNameTheDeviceOnce) {
    auto plain = to_dbus_error(Error(Errc::Timeout, "the doorbell did not clear"), "emu0");
    EXPECT_EQ(plain.getMessage(), "emu0: the doorbell did not clear");
    auto named = to_dbus_error(Error(Errc::DeviceError, "emu0: CDAT checksum is 0x12"), "emu0");
    EXPECT_EQ(named.getMessage(), "emu0: CDAT checksum is 0x12");
    auto empty = to_dbus_error(Error(Errc::Busy, ""), "0000:0d:00.0");
    EXPECT_EQ(empty.getMessage(), "0000:0d:00.0: Busy without further detail");
}

TEST(ObjectPaths, EveryCharacterOutsideTheAlphabetBecomesUnderscore) {
    EXPECT_EQ(device_object_path("0000:0d:00.0"), "/org/cxlmgr1/devices/0000_0d_00_0");
    EXPECT_EQ(device_object_path("emu0"), "/org/cxlmgr1/devices/emu0");
    EXPECT_EQ(object_id("A-b_c d"), "A_b_c_d");
    EXPECT_EQ(object_id("\xc3\xa9t\xc3\xa9"), "__t__");  // "été": each UTF-8 byte
    EXPECT_EQ(object_id(""), "_");
}

struct GroupQuery {
    int calls = 0;
    Result<std::vector<gid_t>> answer = std::vector<gid_t>{};
    std::function<Result<std::vector<gid_t>>()> fn() {
        return [this] {
            ++calls;
            return answer;
        };
    }
};

TEST(Authorization, RootAndTheDaemonsUserNeedNoGroupLookup) {
    Authorizer auth(gid_t{990}, uid_t{1000});
    GroupQuery groups;
    EXPECT_TRUE(auth.decide(0, groups.fn(), Access::Privileged, "Command on emu0").ok());
    EXPECT_TRUE(auth.decide(1000, groups.fn(), Access::Manage, "Rescan").ok());
    EXPECT_EQ(groups.calls, 0);
}

TEST(Authorization, GroupMembersMayManageButNotSendRawCommands) {
    Authorizer auth(gid_t{990}, uid_t{0});
    GroupQuery groups;
    groups.answer = std::vector<gid_t>{100, 990};
    EXPECT_TRUE(auth.decide(1001, groups.fn(), Access::Manage, "InjectFault on emu0").ok());
    auto command = auth.decide(1001, groups.fn(), Access::Privileged, "Command 0x4000 on emu0");
    ASSERT_FALSE(command.ok());
    EXPECT_EQ(command.error().code, Errc::PermissionDenied);
    EXPECT_NE(command.error().message.find("Command 0x4000 on emu0 requires root"),
              std::string::npos);
}

TEST(Authorization, OthersAreRefusedWithTheGroupNamed) {
    Authorizer auth(gid_t{990}, uid_t{0});
    GroupQuery groups;
    groups.answer = std::vector<gid_t>{100};
    auto refused = auth.decide(1001, groups.fn(), Access::Manage, "Rescan");
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.error().code, Errc::PermissionDenied);
    EXPECT_NE(refused.error().message.find("Rescan requires root or membership of group"),
              std::string::npos);
    EXPECT_NE(refused.error().message.find("990"), std::string::npos);
    EXPECT_NE(refused.error().message.find("uid 1001"), std::string::npos);

    groups.answer = Error(Errc::PermissionDenied, "caller left the bus");
    auto unknown = auth.decide(1001, groups.fn(), Access::Manage, "Rescan");
    ASSERT_FALSE(unknown.ok());
    EXPECT_NE(unknown.error().message.find("caller left the bus"), std::string::npos);
}

TEST(Authorization, WithoutAGroupOnlyRootManages) {
    Authorizer auth(std::nullopt, uid_t{0});
    GroupQuery groups;
    auto refused = auth.decide(1001, groups.fn(), Access::Manage, "ClearFaults on emu0");
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.error().code, Errc::PermissionDenied);
    EXPECT_NE(refused.error().message.find("ClearFaults on emu0 requires root"), std::string::npos);
    EXPECT_EQ(groups.calls, 0);
}

}  // namespace
}  // namespace cxlmgr::dbus
