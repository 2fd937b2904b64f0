// Issue 15: distinct events of a device whose handles restart and whose clock reads 0 were
// dropped as duplicates (the journal's key was device, log, handle, timestamp) after being
// cleared on the device. Here records injected with timestamp 0 are stored, cxlmgrd restarts
// with the same --state-dir (the emulated device restarts with it, so its handles start over),
// more distinct records with timestamp 0 take the same handles again, and GetEvents must return
// every one of them exactly once.
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "tests/integration/daemon_fixture.hpp"
#include "tests/integration/expected.hpp"
#include "tests/support/eventually.hpp"

namespace cxlmgr::testing {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

struct Stored {
    uint64_t seq;
    uint64_t timestamp;
    json fields;
};

// The device's stored events (one page holds them all here).
std::vector<Stored> all_events(sdbus::IConnection& connection) {
    EventsCalls events(connection, device_path("emu0"));
    std::vector<Stored> out;
    for (const auto& e : events.GetEvents(0, 1000)) {
        out.push_back({e.get<0>(), e.get<3>(), to_json(e.get<4>())});
    }
    return out;
}

class EventsDuplicatesTest : public DaemonTest {
protected:
    static DaemonOptions options() {
        return DaemonOptions::configured(daemon_config({emulated_device("emu0", {})}));
    }
    // A General Media record in the informational log with the device clock read as 0.
    void inject_at_time_zero(uint64_t dpa) {
        auto r = busctl({"call", kService, device_path("emu0"), "org.cxlmgr1.Emulator",
                         "InjectEvent", "ssa{sv}", "informational", "general-media", "2", "dpa",
                         "t", std::to_string(dpa), "timestamp", "t", "0"});
        ASSERT_EQ(r.exit_code, 0) << r.describe();
    }
    // A raw Get Event Records (read-only opcode 0x0100) of the informational log: no records
    // left, i.e. the collector has stored and cleared everything injected.
    bool informational_log_empty() {
        auto j = busctl_json({"call", kService, device_path("emu0"), "org.cxlmgr1.Device",
                              "Command", "qay", "256", "1", "0"});
        if (j.is_null() || j["data"][0] != 0) {
            return false;
        }
        const auto& out = j["data"][1];
        return out[0x14] == 0 && out[0x15] == 0;  // Event Record Count
    }
};

TEST_F(EventsDuplicatesTest, RecordsWithRestartedHandlesAndTimestampZeroAreAllKept) {
    start_daemon(options());
    for (uint64_t dpa : {0x40, 0x80, 0xc0}) {
        inject_at_time_zero(dpa);
    }
    ASSERT_TRUE(eventually([&] { return informational_log_empty(); }, 20s));
    std::map<uint64_t, uint64_t> first_handles;  // dpa -> handle
    {
        auto conn = connect();
        auto stored = all_events(*conn);
        ASSERT_EQ(stored.size(), 3u);
        for (const auto& e : stored) {
            first_handles[e.fields["dpa"].get<uint64_t>()] = e.fields["handle"].get<uint64_t>();
        }
    }
    ASSERT_EQ(stop_daemon(), std::optional<int>(0));

    // The same state directory; a new emulated device, whose handles start over.
    DaemonProcess again(address(), work_dir(), options());
    for (uint64_t dpa : {0x100, 0x140, 0x180}) {
        inject_at_time_zero(dpa);
    }
    ASSERT_TRUE(eventually([&] { return informational_log_empty(); }, 20s)) << again.log();
    auto conn = connect();
    auto stored = all_events(*conn);
    std::multiset<uint64_t> dpas;
    std::set<uint64_t> seqs;
    std::set<uint64_t> second_handles;
    for (const auto& e : stored) {
        const auto dpa = e.fields["dpa"].get<uint64_t>();
        dpas.insert(dpa);
        seqs.insert(e.seq);
        EXPECT_EQ(e.timestamp, 0u);
        if (dpa >= 0x100) {
            second_handles.insert(e.fields["handle"].get<uint64_t>());
        }
    }
    EXPECT_EQ(dpas, (std::multiset<uint64_t>{0x40, 0x80, 0xc0, 0x100, 0x140, 0x180}))
        << "every distinct record exactly once\n"
        << again.log();
    EXPECT_EQ(seqs.size(), stored.size());
    // The scenario itself: the restarted device gave its records the handles of the first ones.
    std::set<uint64_t> first;
    for (const auto& [dpa, handle] : first_handles) {
        first.insert(handle);
    }
    EXPECT_EQ(second_handles, first);
    EXPECT_EQ(again.terminate(), std::optional<int>(0)) << again.log();
}

}  // namespace
}  // namespace cxlmgr::testing
