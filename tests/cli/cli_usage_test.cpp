// cxlmgrctl's manners (issue 8): --help for every command, usage errors (status 2) found before
// the bus is needed, "cxlmgrd is not running" (status 3) for every command, an unreachable bus,
// a refused caller shown the daemon's PermissionDenied sentence (status 1).
#include "tests/cli/cli_fixture.hpp"

namespace cxlmgr::testing {
namespace {

using namespace std::chrono_literals;

// Every command of docs/CLI.md "Commands", with arguments that are well-formed.
struct Command {
    std::vector<std::string> words;  // the command's name
    std::vector<std::string> args;   // valid arguments
};
const std::vector<Command> kCommands = {
    {{"list"}, {}},
    {{"info"}, {"emu0"}},
    {{"cdat"}, {"emu0"}},
    {{"health"}, {"emu0"}},
    {{"fw", "info"}, {"emu0"}},
    {{"fw", "update"}, {"emu0", "IMAGE"}},
    {{"fw", "activate"}, {"emu0", "--slot", "2"}},
    {{"fw", "cancel"}, {"emu0"}},
    {{"events", "list"}, {}},
    {{"events", "watch"}, {"emu0"}},
};

std::string joined(const std::vector<std::string>& words) {
    std::string out;
    for (const auto& w : words) {
        out += (out.empty() ? "" : " ") + w;
    }
    return out;
}

// No bus listens here: a command that tries to connect fails with status 3.
const std::string kNoBus = "--bus-address=unix:path=/nonexistent/cxlmgr-test-bus";

TEST(CliHelp, EveryCommandHasHelpAndNeedsNoBusForIt) {
    auto overview = run_command({CXLMGRCTL_PATH, kNoBus, "--help"});
    ASSERT_EQ(overview.exit_code, 0) << overview.describe();
    for (const auto& c : kCommands) {
        const std::string name = joined(c.words);
        EXPECT_NE(overview.out.find("  " + name), std::string::npos) << name << "\n"
                                                                     << overview.out;
        std::vector<std::string> argv = {CXLMGRCTL_PATH, kNoBus};
        argv.insert(argv.end(), c.words.begin(), c.words.end());
        argv.emplace_back("--help");
        auto r = run_command(argv);
        EXPECT_EQ(r.exit_code, 0) << name << ": " << r.describe();
        EXPECT_EQ(r.out.rfind("usage: cxlmgrctl [GLOBAL OPTIONS] " + name, 0), 0u)
            << name << ": " << r.out;
        EXPECT_NE(r.out.find("Exit status"), std::string::npos) << r.out;
        EXPECT_EQ(r.err, "") << name;
        // `help COMMAND` prints the same.
        std::vector<std::string> help = {CXLMGRCTL_PATH, "help"};
        help.insert(help.end(), c.words.begin(), c.words.end());
        EXPECT_EQ(run_command(help).out, r.out) << name;
    }
    for (const std::string group : {"fw", "events"}) {
        auto r = run_command({CXLMGRCTL_PATH, group, "--help"});
        EXPECT_EQ(r.exit_code, 0) << r.describe();
        for (const auto& c : kCommands) {
            if (c.words.size() == 2 && c.words[0] == group) {
                EXPECT_NE(r.out.find(joined(c.words)), std::string::npos) << r.out;
            }
        }
    }
    // Options of the command do not hide the help.
    auto r = run_command({CXLMGRCTL_PATH, "fw", "update", "emu0", "--slot", "2", "--help"});
    EXPECT_EQ(r.exit_code, 0) << r.describe();
    EXPECT_NE(r.out.find("--activate"), std::string::npos) << r.out;
}

TEST(CliUsage, UsageErrorsExitTwoBeforeTheBusIsNeeded) {
    const std::vector<std::vector<std::string>> bad = {
        {},
        {"frobnicate"},
        {"--frobnicate", "list"},
        {"list", "extra"},
        {"info"},
        {"info", "emu0", "emu1"},
        {"cdat", "emu0", "--raw"},
        {"health"},
        {"fw"},
        {"fw", "frobnicate"},
        {"fw", "info"},
        {"fw", "update", "emu0"},
        {"fw", "update", "emu0", "img", "--slot", "9"},
        {"fw", "update", "emu0", "img", "--activate", "sometime"},
        {"fw", "activate", "emu0"},
        {"fw", "activate", "emu0", "--slot", "0"},
        {"fw", "activate", "emu0", "--slot", "1", "--mode", "later"},
        {"fw", "cancel"},
        {"events"},
        {"events", "list", "emu0", "emu1"},
        {"events", "list", "--since", "-1"},
        {"events", "list", "--since", "yesterday"},
        {"events", "watch", "--log", "verbose"},
        {"events", "watch", "--log", "warning,"},
        {"events", "watch", "--since"},
        {"events", "watch", "--colour", "red"},
    };
    for (const auto& args : bad) {
        std::vector<std::string> argv = {CXLMGRCTL_PATH, kNoBus};
        argv.insert(argv.end(), args.begin(), args.end());
        auto r = run_command(argv);
        EXPECT_EQ(r.exit_code, 2) << joined(args) << ": " << r.describe();
        EXPECT_EQ(r.out, "") << joined(args);
        EXPECT_NE(r.err.find("cxlmgrctl"), std::string::npos) << joined(args) << ": " << r.err;
    }
    // A command's usage error names the command's help.
    auto r = run_command({CXLMGRCTL_PATH, kNoBus, "fw", "activate", "emu0"});
    EXPECT_NE(r.err.find("usage: cxlmgrctl fw activate DEVICE --slot N"), std::string::npos)
        << r.err;
    EXPECT_NE(r.err.find("See 'cxlmgrctl fw activate --help'"), std::string::npos) << r.err;
}

TEST(CliUsage, AnUnreachableBusExitsThree) {
    auto r = run_command({CXLMGRCTL_PATH, kNoBus, "list"});
    EXPECT_EQ(r.exit_code, 3) << r.describe();
    EXPECT_NE(r.err.find("cannot connect to unix:path=/nonexistent/cxlmgr-test-bus"),
              std::string::npos)
        << r.err;
}

TEST_F(CliTest, EveryCommandSaysTheDaemonIsNotRunning) {
    // The bus is up, cxlmgrd is not.
    const auto image = work_dir() / "fw.bin";
    std::ofstream(image) << "not an image";
    for (const auto& c : kCommands) {
        std::vector<std::string> args = c.words;
        for (const auto& a : c.args) {
            args.push_back(a == "IMAGE" ? image.string() : a);
        }
        auto r = ctl(args, 30s);
        EXPECT_EQ(r.exit_code, 3) << joined(args) << ": " << r.describe();
        EXPECT_NE(r.err.find("cxlmgrd is not running on " + address()), std::string::npos)
            << joined(args) << ": " << r.err;
        args.insert(args.begin(), "--json");
        auto j = ctl(args, 30s);
        EXPECT_EQ(j.exit_code, 3) << joined(args);
        EXPECT_EQ(j.out, "") << "nothing on stdout but JSON: " << joined(args);
    }
}

TEST_F(CliTest, ARefusedCallerSeesPermissionDenied) {
    start_daemon(DaemonOptions::emulated(1));
    // Copies nobody can reach (the build tree may be under /root).
    const auto ctl_copy = work_dir() / "cxlmgrctl";
    std::filesystem::copy_file(CXLMGRCTL_PATH, ctl_copy);
    std::filesystem::permissions(ctl_copy, std::filesystem::perms(0755));
    const auto image = make_image("EMU FW 2.0", "16K");
    std::filesystem::permissions(image, std::filesystem::perms(0644));
    auto as_nobody_ctl = [&](std::vector<std::string> args) {
        args.insert(args.begin(), {ctl_copy.string(), "--bus-address=" + address()});
        return run_command(as_nobody(args));
    };
    // Reading is for everyone.
    auto list = as_nobody_ctl({"list"});
    EXPECT_EQ(list.exit_code, 0) << list.describe();
    for (const auto& args : std::vector<std::vector<std::string>>{
             {"fw", "activate", "emu0", "--slot", "1"},
             {"fw", "update", "emu0", image.string()},
         }) {
        auto r = as_nobody_ctl(args);
        EXPECT_EQ(r.exit_code, 1) << joined(args) << ": " << r.describe();
        EXPECT_NE(r.err.find("cxlmgrctl: permission denied: "), std::string::npos) << r.err;
        EXPECT_NE(r.err.find("(org.cxlmgr1.Error.PermissionDenied)"), std::string::npos) << r.err;
        EXPECT_NE(r.err.find("emu0"), std::string::npos) << "the daemon's sentence: " << r.err;
    }
}

TEST_F(CliTest, AnUnknownDeviceFailsWithStatusOne) {
    start_daemon(DaemonOptions::emulated(1));
    for (const auto& args : std::vector<std::vector<std::string>>{{"info", "nosuch"},
                                                                  {"health", "nosuch"},
                                                                  {"fw", "info", "nosuch"},
                                                                  {"events", "list", "nosuch"}}) {
        auto r = ctl(args);
        EXPECT_EQ(r.exit_code, 1) << joined(args) << ": " << r.describe();
        EXPECT_NE(r.err.find("no such device"), std::string::npos) << r.err;
    }
}

}  // namespace
}  // namespace cxlmgr::testing
