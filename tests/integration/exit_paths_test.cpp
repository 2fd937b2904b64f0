// cxlmgrd's ways out besides a stop (SIGTERM, tests/install/notify_test.cpp and every
// integration test's TearDown): each takes the same shutdown and ends with a clean exit.
//
// Started while another connection owns org.cxlmgr1, cxlmgrd opens its devices, exports them
// (which starts their event collectors), cannot take the name, and must then leave by the
// same shutdown as a stop: exit 1, with nothing left running and no sanitizer report. Once
// this path destroyed the arbiter's pool while the event journal thread still held work of the
// collectors (their start-up read of the journal), which then posted to the pool's strands and
// destroyed timers of the pool it had outlived: a heap-use-after-free that showed on a busy
// machine. Many devices and a few runs give that window its chances.
#include <gtest/gtest.h>

#include <sdbus-c++/sdbus-c++.h>
#include <optional>
#include <string>
#include <vector>

#include "harness/daemon_harness.hpp"

#ifndef CXLMGRD_PATH
#error "CXLMGRD_PATH (the cxlmgrd binary) must be defined by the build"
#endif

namespace cxlmgr::testing {
namespace {

TEST(ExitPathTest, CxlmgrdExitsOneCleanlyWhenAnotherOwnsTheName) {
    TempDir dir("cxlmgr-name-taken");
    TestBus bus(dir.path());
    auto owner = sdbus::createSessionBusConnectionWithAddress(bus.address());
    owner->requestName("org.cxlmgr1");

    constexpr int kRuns = 4;
    for (int run = 0; run < kRuns; ++run) {
        const auto state = dir.path() / ("state-" + std::to_string(run));
        auto r = run_command({CXLMGRD_PATH, "--bus-address=" + bus.address(),
                              "--state-dir=" + state.string(), "--emulate=16"},
                             120s);
        ASSERT_FALSE(r.timed_out) << "run " << run << ": it must exit, not hang: " << r.describe();
        EXPECT_EQ(r.exit_code, 1) << "run " << run << ": " << r.describe();
        EXPECT_NE(r.err.find("cannot take the name org.cxlmgr1"), std::string::npos)
            << "run " << run << ": " << r.describe();
        EXPECT_NE(r.err.find("stopping: stopped"), std::string::npos)
            << "run " << run << ": the shutdown ran to its end: " << r.describe();
        for (const char* report : {"AddressSanitizer", "LeakSanitizer", "runtime error:"}) {
            EXPECT_EQ(r.err.find(report), std::string::npos)
                << "run " << run << ": " << r.describe();
        }
        if (::testing::Test::HasFailure()) {
            break;
        }
    }
}

// The bus goes away under a serving cxlmgrd (dbus-daemon crashed or was restarted): it cannot
// serve any more, so it stops the same way and exits 1 for systemd to restart it, rather than
// living on with its devices and no bus.
TEST(ExitPathTest, CxlmgrdExitsOneCleanlyWhenTheBusGoesAway) {
    TempDir dir("cxlmgr-bus-lost");
    TestBus bus(dir.path());
    DaemonProcess daemon(bus.address(), dir.path(), DaemonOptions::emulated(2));
    bus.kill();
    std::optional<int> status = daemon.process().wait(60s);
    ASSERT_TRUE(status.has_value()) << "cxlmgrd lives on without its bus:\n" << daemon.log();
    EXPECT_EQ(*status, 1) << daemon.log();
    const std::string log = daemon.log();
    EXPECT_NE(log.find("D-Bus connection failed"), std::string::npos) << log;
    EXPECT_NE(log.find("stopping: stopped"), std::string::npos) << log;
    for (const char* report : {"AddressSanitizer", "LeakSanitizer", "runtime error:"}) {
        EXPECT_EQ(log.find(report), std::string::npos) << log;
    }
}

}  // namespace
}  // namespace cxlmgr::testing
