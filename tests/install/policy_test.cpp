// The shipped system bus policy (systemd/org.cxlmgr1.conf) at work: a dbus-daemon of type
// system whose default policy is Debian's (every method call denied unless a policy file opens
// it, every name unownable) includes the policy file, and cxlmgrd runs on it as root. Each
// method of the contract (dbus/xml) is then called as nobody, as nobody in group cxlmgr, and
// as root, and the bus must refuse exactly the calls the policy reserves.
//
// A refusal by the bus is org.freedesktop.DBus.Error.AccessDenied ("Rejected send message");
// cxlmgrd's own refusal is org.cxlmgr1.Error.PermissionDenied, and the tests tell them apart.
//
// The group cxlmgr is created by the package. Where it does not exist, the bus and cxlmgrd run
// in a mount namespace of their own where /etc/group has it, so the host is left unchanged.
#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sdbus-c++/sdbus-c++.h>
#include <array>
#include <csignal>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "harness/daemon_harness.hpp"

#ifndef CXLMGRD_PATH
#error "CXLMGRD_PATH must be defined by the build"
#endif
#ifndef CXLMGR_IT_CLIENT_PATH
#error "CXLMGR_IT_CLIENT_PATH must be defined by the build"
#endif
#ifndef CXLMGR_POLICY_FILE
#error "CXLMGR_POLICY_FILE (systemd/org.cxlmgr1.conf) must be defined by the build"
#endif
#ifndef CXLMGR_XML_DIR
#error "CXLMGR_XML_DIR (dbus/xml) must be defined by the build"
#endif

namespace cxlmgr::testing {
namespace {

using namespace std::chrono_literals;

constexpr const char* kService = "org.cxlmgr1";
constexpr const char* kDevice = "/org/cxlmgr1/devices/emu0";

enum class Who { Everyone, Group, Root };

std::string who_name(Who w) {
    return w == Who::Everyone ? "everyone" : w == Who::Group ? "group cxlmgr" : "root";
}

// Who may call each method: what dbus/authorization.cpp enforces in the daemon, and what the
// policy must open, no more. A method added to the contract must be added here (see
// EveryMethodOfTheContractIsClassified), which makes its author decide.
const std::map<std::string, Who>& expected_access() {
    static const std::map<std::string, Who> table = {
        {"org.cxlmgr1.Manager.ListDevices", Who::Everyone},
        {"org.cxlmgr1.Manager.Rescan", Who::Group},
        {"org.cxlmgr1.Device.Identify", Who::Everyone},
        {"org.cxlmgr1.Device.GetHealth", Who::Everyone},
        {"org.cxlmgr1.Device.Command", Who::Root},
        {"org.cxlmgr1.Cdat.ReadRaw", Who::Everyone},
        {"org.cxlmgr1.Cdat.Read", Who::Everyone},
        {"org.cxlmgr1.Cdat.Refresh", Who::Everyone},
        {"org.cxlmgr1.Firmware.StartUpdate", Who::Group},
        {"org.cxlmgr1.Firmware.StartUpdateFd", Who::Group},
        {"org.cxlmgr1.Firmware.Activate", Who::Group},
        {"org.cxlmgr1.Firmware.GetInfo", Who::Everyone},
        {"org.cxlmgr1.Job.Cancel", Who::Group},
        {"org.cxlmgr1.Events.GetEvents", Who::Everyone},
        {"org.cxlmgr1.Events.Subscribe", Who::Everyone},
        {"org.cxlmgr1.Subscription.Unsubscribe", Who::Everyone},  // the daemon checks the owner
        {"org.cxlmgr1.Emulator.InjectEvent", Who::Group},
        {"org.cxlmgr1.Emulator.InjectFault", Who::Group},
        {"org.cxlmgr1.Emulator.ClearFaults", Who::Group},
        // The standard interfaces every object has.
        {"org.freedesktop.DBus.Properties.Get", Who::Everyone},
        {"org.freedesktop.DBus.Properties.GetAll", Who::Everyone},
        {"org.freedesktop.DBus.Properties.Set", Who::Root},
        {"org.freedesktop.DBus.Introspectable.Introspect", Who::Everyone},
        {"org.freedesktop.DBus.Peer.Ping", Who::Everyone},
        {"org.freedesktop.DBus.Peer.GetMachineId", Who::Everyone},
        {"org.freedesktop.DBus.ObjectManager.GetManagedObjects", Who::Everyone},
    };
    return table;
}

// "interface.method" of every method in the contract's introspection XML.
std::set<std::string> contract_methods() {
    std::set<std::string> out;
    const std::regex iface_re(R"(<interface\s+name="([^"]+)\")");
    const std::regex method_re(R"(<method\s+name="([^"]+)\")");
    for (const auto& entry : std::filesystem::directory_iterator(CXLMGR_XML_DIR)) {
        if (entry.path().extension() != ".xml") {
            continue;
        }
        const std::string text = read_file(entry.path());
        std::smatch iface;
        if (!std::regex_search(text, iface, iface_re)) {
            continue;
        }
        for (std::sregex_iterator it(text.begin(), text.end(), method_re), end; it != end; ++it) {
            out.insert(iface[1].str() + "." + (*it)[1].str());
        }
    }
    return out;
}

// The object a method is called on: one that exists for the device's interfaces, the root for
// the manager's; a job and a subscription that do not exist (a call the bus lets through then
// meets UnknownObject, which is still not the bus's refusal).
std::string path_for(const std::string& method) {
    auto starts = [&method](const char* prefix) { return method.rfind(prefix, 0) == 0; };
    if (starts("org.cxlmgr1.Manager.") || starts("org.freedesktop.DBus.ObjectManager.")) {
        return "/org/cxlmgr1";
    }
    if (starts("org.cxlmgr1.Job.")) {
        return "/org/cxlmgr1/jobs/1000";
    }
    if (starts("org.cxlmgr1.Subscription.")) {
        return "/org/cxlmgr1/subscriptions/1000";
    }
    return kDevice;
}

struct Outcome {
    bool ok = false;
    std::string error;    // D-Bus error name
    std::string message;  // its text
    std::string raw;

    // The bus's refusal, as opposed to one by cxlmgrd or sd-bus.
    [[nodiscard]] bool refused_by_bus() const {
        return error == "org.freedesktop.DBus.Error.AccessDenied" &&
               message.find("Rejected send message") != std::string::npos;
    }
};

// dbus-send prints "Error NAME: MESSAGE" on a failed call.
Outcome outcome_of(const CommandResult& r) {
    Outcome o;
    o.raw = r.describe();
    o.ok = r.exit_code == 0;
    const std::string& err = r.err;
    auto pos = err.find("Error ");
    if (!o.ok && pos != std::string::npos) {
        auto colon = err.find(':', pos);
        o.error =
            err.substr(pos + 6, colon == std::string::npos ? std::string::npos : colon - pos - 6);
        if (colon != std::string::npos) {
            o.message = err.substr(colon + 1);
        }
    }
    return o;
}

class PolicyTest : public ::testing::Test {
protected:
    void SetUp() override {
        prepare_group();
        start_bus();
    }

    void TearDown() override {
        if (daemon_.running()) {
            daemon_.signal(SIGTERM);
            EXPECT_EQ(daemon_.wait(30s), std::optional<int>(0)) << "cxlmgrd's exit on SIGTERM";
        }
        bus_.signal(SIGTERM);
        if (!bus_.wait(10s)) {
            bus_.signal(SIGKILL);
            bus_.wait(10s);
        }
        if (::testing::Test::HasFailure()) {
            std::cerr << "dbus-daemon's log:\n"
                      << read_file(dir_.path() / "dbus-daemon.log") << "\ncxlmgrd's log:\n"
                      << read_file(dir_.path() / "cxlmgrd.log") << "\n";
        }
    }

    // The gid of group cxlmgr; where the system has no such group, a group file for the
    // namespace of the bus and the daemon that adds it with a gid nobody uses.
    void prepare_group() {
        if (const group* g = getgrnam("cxlmgr")) {
            gid_ = g->gr_gid;
            return;
        }
        gid_ = 60999;
        while (getgrgid(gid_) != nullptr) {
            --gid_;
        }
        group_file_ = dir_.path() / "group";
        std::ofstream out(*group_file_);
        out << read_file("/etc/group") << "cxlmgr:x:" << gid_ << ":\n";
    }

    // argv, run where group cxlmgr exists.
    std::vector<std::string> with_group(std::vector<std::string> argv) const {
        if (!group_file_) {
            return argv;
        }
        std::vector<std::string> out = {"unshare",
                                        "--mount",
                                        "--propagation",
                                        "private",
                                        "sh",
                                        "-c",
                                        "mount --bind \"$0\" /etc/group && exec \"$@\"",
                                        group_file_->string()};
        out.insert(out.end(), argv.begin(), argv.end());
        return out;
    }

    void start_bus() {
        const auto config = dir_.path() / "system-bus.conf";
        {
            std::ofstream out(config);
            // The default policy of Debian 12's /usr/share/dbus-1/system.conf, then ours.
            out << R"(<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=)"
                << (dir_.path() / "system_bus_socket").string() << R"(</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"/>
    <allow send_destination="org.freedesktop.DBus"
           send_interface="org.freedesktop.DBus.Introspectable"/>
    <allow send_destination="org.freedesktop.DBus"
           send_interface="org.freedesktop.DBus.Properties"/>
    <deny send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"
          send_member="UpdateActivationEnvironment"/>
    <deny send_destination="org.freedesktop.DBus"
          send_interface="org.freedesktop.DBus.Debug.Stats"/>
    <deny send_destination="org.freedesktop.DBus"
          send_interface="org.freedesktop.systemd1.Activator"/>
  </policy>
  <include>)" << CXLMGR_POLICY_FILE
                << R"(</include>
</busconfig>
)";
        }
        std::array<int, 2> p{};
        ASSERT_EQ(pipe2(p.data(), O_CLOEXEC), 0);
        bus_.spawn(with_group({"dbus-daemon", "--config-file=" + config.string(), "--nofork",
                               "--nopidfile", "--print-address=3"}),
                   dir_.path() / "dbus-daemon.log", p[1]);
        close(p[1]);
        address_ = read_line(p[0], 10s);
        ASSERT_FALSE(address_.empty())
            << "dbus-daemon did not start: " << read_file(dir_.path() / "dbus-daemon.log");
        // Others connect too: the umask may have taken their write permission on the socket.
        ASSERT_EQ(chmod((dir_.path() / "system_bus_socket").c_str(), 0777), 0);
    }

    void start_daemon() {
        std::filesystem::create_directories(dir_.path() / "state");
        daemon_.spawn(
            with_group({CXLMGRD_PATH, "--bus-address=" + address_,
                        "--state-dir=" + (dir_.path() / "state").string(), "--emulate=1"}),
            dir_.path() / "cxlmgrd.log");
        ASSERT_TRUE(wait_for_name(address_, kService, 60s, &daemon_))
            << "cxlmgrd (root) did not own org.cxlmgr1 on the policy bus: "
            << read_file(dir_.path() / "cxlmgrd.log");
    }

    // setpriv prefixes: nobody with no group at all; nobody in group cxlmgr.
    [[nodiscard]] std::vector<std::string> as_nobody_prefix() const {
        return {"setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"};
    }
    [[nodiscard]] std::vector<std::string> as_member_prefix() const {
        return {"setpriv", "--reuid=nobody", "--regid=nogroup", "--groups=" + std::to_string(gid_)};
    }

    // One call with no arguments. The bus decides on interface and member alone, before the
    // arguments matter, so a call it lets through reaches cxlmgrd (and may fail there).
    Outcome call(const std::vector<std::string>& prefix, const std::string& method,
                 const std::string& path, const std::vector<std::string>& args = {}) const {
        std::vector<std::string> argv = prefix;
        for (const std::string& a :
             {std::string("dbus-send"), "--bus=" + address_, std::string("--print-reply"),
              std::string("--dest=") + kService, path, method}) {
            argv.push_back(a);
        }
        argv.insert(argv.end(), args.begin(), args.end());
        return outcome_of(run_command(argv, 30s));
    }

    CommandResult it_client(const std::vector<std::string>& prefix,
                            const std::vector<std::string>& args) const {
        std::vector<std::string> argv = prefix;
        argv.push_back(CXLMGR_IT_CLIENT_PATH);
        argv.push_back(address_);
        argv.insert(argv.end(), args.begin(), args.end());
        return run_command(argv, 30s);
    }

    TempDir dir_{"cxlmgr-policy"};
    std::optional<std::filesystem::path> group_file_;
    gid_t gid_ = 0;
    ChildProcess bus_;
    ChildProcess daemon_;
    std::string address_;
};

TEST_F(PolicyTest, EveryMethodOfTheContractIsClassified) {
    std::set<std::string> classified;
    for (const auto& [method, who] : expected_access()) {
        if (method.rfind("org.cxlmgr1.", 0) == 0) {
            classified.insert(method);
        }
    }
    const auto contract = contract_methods();
    ASSERT_FALSE(contract.empty()) << "no methods found in " << CXLMGR_XML_DIR;
    EXPECT_EQ(contract, classified)
        << "the methods of dbus/xml and this test's table differ: decide who may call a new "
           "method, open it in systemd/org.cxlmgr1.conf and add it to expected_access()";
}

// The heart of it: for every method and every kind of caller, the bus refuses exactly the
// calls the table reserves.
TEST_F(PolicyTest, BusRefusesExactlyWhatThePolicyReserves) {
    start_daemon();
    const std::vector<std::pair<std::string, std::vector<std::string>>> callers = {
        {"nobody", as_nobody_prefix()},
        {"nobody in group cxlmgr", as_member_prefix()},
        {"root", {}}};
    for (const auto& [method, who] : expected_access()) {
        for (const auto& [caller, prefix] : callers) {
            const bool allowed = caller == "root" || who == Who::Everyone ||
                                 (who == Who::Group && caller != "nobody");
            Outcome o = call(prefix, method, path_for(method));
            EXPECT_EQ(o.refused_by_bus(), !allowed)
                << method << " (for " << who_name(who) << ") called by " << caller << ": " << o.raw;
        }
    }
}

// Real use, with arguments: reads work for nobody; a change is refused by the bus (not by the
// daemon) for nobody and allowed to the group; Device.Command is root's alone.
TEST_F(PolicyTest, ReadsForEveryoneChangesForTheGroupCommandForRoot) {
    start_daemon();
    auto r = it_client(as_nobody_prefix(), {"identify", kDevice});
    EXPECT_EQ(r.exit_code, 0) << r.describe();
    EXPECT_EQ(r.out.rfind("ok\n", 0), 0u) << r.describe();
    r = it_client(as_nobody_prefix(), {"get-property", kDevice, "org.cxlmgr1.Device", "State"});
    EXPECT_EQ(r.out, "ok\n\"online\"\n") << r.describe();
    auto cdat = call(as_nobody_prefix(), "org.cxlmgr1.Cdat.Read", kDevice);
    EXPECT_TRUE(cdat.ok) << cdat.raw;
    auto events = call(as_nobody_prefix(), "org.cxlmgr1.Events.GetEvents", kDevice,
                       {"uint64:0", "uint32:10"});
    EXPECT_TRUE(events.ok) << events.raw;

    r = it_client(as_nobody_prefix(), {"inject-fault", kDevice, "mailbox-busy"});
    EXPECT_EQ(r.exit_code, 1) << r.describe();
    EXPECT_EQ(
        r.out.rfind("error org.freedesktop.DBus.Error.AccessDenied\nRejected send message", 0), 0u)
        << "the bus, not cxlmgrd, must refuse nobody: " << r.describe();

    r = it_client(as_member_prefix(), {"inject-fault", kDevice, "mailbox-busy"});
    EXPECT_EQ(r.exit_code, 0) << "the group may inject faults: " << r.describe();
    r = it_client(as_member_prefix(), {"clear-faults", kDevice});
    EXPECT_EQ(r.exit_code, 0) << r.describe();

    r = it_client(as_member_prefix(), {"command", kDevice, "0x4000"});
    EXPECT_EQ(r.out.rfind("error org.freedesktop.DBus.Error.AccessDenied\n", 0), 0u)
        << "Device.Command is root's: " << r.describe();
    r = it_client({}, {"command", kDevice, "0x4000"});
    EXPECT_EQ(r.exit_code, 0) << r.describe();
}

// What the bus lets through, cxlmgrd still judges: nobody may call Unsubscribe, but only on
// a subscription of its own; on root's the daemon answers PermissionDenied.
TEST_F(PolicyTest, DaemonStillJudgesWhatTheBusLetsThrough) {
    start_daemon();
    auto conn = sdbus::createSessionBusConnectionWithAddress(address_);
    auto device = sdbus::createProxy(*conn, kService, kDevice);
    sdbus::ObjectPath subscription;
    device->callMethod("Subscribe")
        .onInterface("org.cxlmgr1.Events")
        .withArguments(std::map<std::string, sdbus::Variant>{})
        .storeResultsTo(subscription);

    auto o = call(as_nobody_prefix(), "org.cxlmgr1.Subscription.Unsubscribe", subscription);
    EXPECT_FALSE(o.refused_by_bus()) << o.raw;
    EXPECT_EQ(o.error, "org.cxlmgr1.Error.PermissionDenied") << o.raw;

    o = call({}, "org.cxlmgr1.Subscription.Unsubscribe", subscription);
    EXPECT_TRUE(o.ok) << "root may end it: " << o.raw;
}

// Only root may own org.cxlmgr1: cxlmgrd started as nobody, or as a member of cxlmgr, cannot
// take the name and exits 1; the same binary as root can.
TEST_F(PolicyTest, OnlyRootOwnsTheName) {
    const struct passwd* nobody = getpwnam("nobody");
    ASSERT_NE(nobody, nullptr);
    int n = 0;
    for (const auto& [who, prefix] : std::vector<std::pair<std::string, std::vector<std::string>>>{
             {"nobody", as_nobody_prefix()}, {"nobody in group cxlmgr", as_member_prefix()}}) {
        const auto state = dir_.path() / ("state-" + std::to_string(++n));
        std::filesystem::create_directories(state);
        ASSERT_EQ(chown(state.c_str(), nobody->pw_uid, nobody->pw_gid), 0);
        std::vector<std::string> argv = prefix;
        for (const std::string& a : {std::string(CXLMGRD_PATH), "--bus-address=" + address_,
                                     "--state-dir=" + state.string(), std::string("--emulate=1")}) {
            argv.push_back(a);
        }
        // It must also exit, not hang, once the name is refused.
        auto r = run_command(argv, 60s);
        EXPECT_EQ(r.exit_code, 1) << who << ": " << r.describe();
        EXPECT_NE(r.err.find("cannot take the name org.cxlmgr1"), std::string::npos)
            << who << ": " << r.describe();
        EXPECT_NE(r.err.find("Permission denied"), std::string::npos)
            << who << ": " << r.describe();
        EXPECT_FALSE(name_has_owner(address_, kService)) << who;
    }
    start_daemon();
    EXPECT_TRUE(name_has_owner(address_, kService));
}

}  // namespace
}  // namespace cxlmgr::testing
