// cxlmgrd started while another connection owns org.cxlmgr1: it opens its devices, exports
// them (which starts their event collectors), cannot take the name, and must then leave by the
// same shutdown as a stop: exit 1, with nothing left running and no sanitizer report. Once
// this path destroyed the arbiter's pool while the event journal thread still held work of the
// collectors (their start-up read of the journal), which then posted to the pool's strands and
// destroyed timers of the pool it had outlived: a heap-use-after-free that showed on a busy
// machine. Many devices and a few runs give that window its chances.
#include <gtest/gtest.h>

#include <sdbus-c++/sdbus-c++.h>
#include <string>
#include <vector>

#include "harness/daemon_harness.hpp"

#ifndef CXLMGRD_PATH
#error "CXLMGRD_PATH (the cxlmgrd binary) must be defined by the build"
#endif

namespace cxlmgr::testing {
namespace {

TEST(NameTakenTest, CxlmgrdExitsOneCleanlyWhenAnotherOwnsTheName) {
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

}  // namespace
}  // namespace cxlmgr::testing
