// GetEvents on a full journal (issue 15): 100,000 stored events, the default bound, on a bus
// with the system bus's limits (32 MiB messages). Asking for all of them at once, as an
// unprivileged caller, must neither take the daemon off the bus (a reply over the limit makes
// the bus drop the daemon's connection) nor grow its memory by the reply's Variant trees nor
// stall the D-Bus thread: the reply is a bounded page (docs/DBUS.md "GetEvents pages"), and paging
// with `since` reads every event exactly once, in order.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <map>

#include "harness/full_journal.hpp"
#include "harness/version_probe.hpp"
#include "tests/integration/daemon_fixture.hpp"

namespace cxlmgr::testing {
namespace {

using namespace std::chrono_literals;

constexpr uint64_t kEvents = 100000;  // the journal's default bound
constexpr size_t kPageLimit = 256;    // docs/DBUS.md "GetEvents pages"

using EventTuple = sdbus::Struct<uint64_t, std::string, std::string, uint64_t,
                                 std::map<std::string, sdbus::Variant>>;

class EventPagesTest : public DaemonTest {
protected:
    [[nodiscard]] BusLimits bus_limits() const override { return BusLimits::SystemBus; }
};

TEST_F(EventPagesTest, AskingForTheWholeJournalAnswersAPageAndPagingReadsItAllOnce) {
    write_full_journal(work_dir() / "state", "emu0", kEvents);
    // Under ASan, freed memory waits in a quarantine (256 MiB by default) before reuse, and it
    // counts in VmHWM: paging 100 MB of replies through would fill it. A small quarantine makes
    // the peak show what cxlmgrd keeps; the daemon inherits this process's environment.
    const char* asan = std::getenv("ASAN_OPTIONS");
    const std::string saved = asan != nullptr ? asan : "";
    setenv("ASAN_OPTIONS", (saved + ":quarantine_size_mb=8").c_str(), 1);
    start_daemon();
    setenv("ASAN_OPTIONS", saved.c_str(), 1);
    const uint64_t rss_before = peak_rss(daemon().pid()).value_or(0);
    VersionProbe probe(connect());

    // As nobody, everything at once: the reply is one page, the daemon stays on the bus.
    CommandResult all =
        busctl_as_nobody({"--json=short", "call", kService, device_path("emu0"),
                          "org.cxlmgr1.Events", "GetEvents", "tu", "0", "4294967295"});
    ASSERT_EQ(all.exit_code, 0) << all.describe();
    const auto reply = nlohmann::json::parse(all.out);
    const auto& first_page = reply["data"][0];
    ASSERT_FALSE(first_page.empty());
    EXPECT_LE(first_page.size(), kPageLimit);
    EXPECT_EQ(first_page[0][0], 1u) << "the first page starts at the oldest event";
    EXPECT_TRUE(daemon_running());
    EXPECT_TRUE(daemon_on_bus());

    // Paging with `since` until an empty page: every event once, in order, as written.
    auto connection = connect();
    auto events = sdbus::createProxy(*connection, kService, device_path("emu0"));
    uint64_t since = 0;
    uint64_t read = 0;
    size_t pages = 0;
    for (;;) {
        std::vector<EventTuple> page;
        events->callMethod("GetEvents")
            .onInterface("org.cxlmgr1.Events")
            .withArguments(since, uint32_t{0xffffffff})
            .storeResultsTo(page);
        if (page.empty()) {
            break;
        }
        ++pages;
        ASSERT_LE(page.size(), kPageLimit);
        for (const auto& e : page) {
            ASSERT_EQ(e.get<0>(), read + 1) << "seq after " << read;
            const auto& fields = e.get<4>();
            const FullJournalMarks marks = full_journal_marks(read);
            ASSERT_EQ(fields.at("handle").get<uint64_t>(), marks.handle);
            ASSERT_EQ(fields.at("timestamp").get<uint64_t>(), marks.timestamp);
            ASSERT_EQ(fields.at("dpa").get<uint64_t>(), marks.dpa);
            ++read;
        }
        since = page.back().get<0>();
    }
    EXPECT_EQ(read, kEvents);
    EXPECT_GE(pages, kEvents / kPageLimit);
    probe.stop();

    EXPECT_TRUE(daemon_on_bus());
    // The reply is written into the message, a page at a time: the growth is bounded by a
    // page, not by the journal (the old Variant trees took over a GiB). ASan's shadow and
    // its (small) quarantine count too, hence a generous bound.
    const auto rss_after = peak_rss(daemon().pid());
    ASSERT_TRUE(rss_after && rss_before > 0) << "no VmHWM in /proc/PID/status";
    const uint64_t growth = *rss_after - rss_before;
    EXPECT_LT(growth, 64ull << 20) << "VmHWM grew by " << (growth >> 20) << " MiB";

    // Another client was answered meanwhile; the tight figure is bench/events_pages_bench's.
    EXPECT_EQ(probe.failures(), 0u);
    ASSERT_FALSE(probe.latencies_ms().empty());
    auto sorted = probe.latencies_ms();
    std::sort(sorted.begin(), sorted.end());
    const double p99 = sorted[std::min(sorted.size() - 1, sorted.size() * 99 / 100)];
    EXPECT_LT(p99, 1000.0) << "Version p99 while paging, ms";
}

}  // namespace
}  // namespace cxlmgr::testing
