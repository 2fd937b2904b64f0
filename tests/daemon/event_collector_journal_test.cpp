// Issue 15: the collector while the journal cannot write (a full disk). The events stay on the
// device until stored, the write is retried with backoff (never in a loop, even while fast
// polling for a subscriber), the device is degraded meanwhile and back online after, and the
// outage is logged once when it starts and once when it ends.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <algorithm>
#include <future>
#include <set>
#include <sstream>
#include <thread>

#include "daemon/event_collector.hpp"
#include "tests/daemon/event_collector_fixture.hpp"
#include "tests/daemon/faulty_vfs.hpp"
#include "tests/support/eventually.hpp"

namespace cxlmgr::daemon {
namespace {

using namespace std::chrono_literals;
using collector_test::CollectorTest;
using collector_test::Seen;
using cxlmgr::testing::eventually;

constexpr auto kRetry = 50ms;
constexpr auto kRetryMax = 200ms;

size_t count_lines(const std::string& text, const std::string& what) {
    std::istringstream lines(text);
    size_t n = 0;
    for (std::string line; std::getline(lines, line);) {
        n += line.find(what) != std::string::npos ? 1 : 0;
    }
    return n;
}

struct CollectorJournalFailureTest : CollectorTest {
    testing::FaultyVfs* vfs = nullptr;

    void SetUp() override {
        vfs = &testing::FaultyVfs::install();  // before the fixture opens the journal
        CollectorTest::SetUp();
    }
    void TearDown() override {
        vfs->heal();
        CollectorTest::TearDown();
    }
    std::shared_ptr<EventCollector> retrying_collector(Seen& seen) {
        auto c = EventCollector::create(device, journal, journal_io.get_executor(),
                                        {.slow_poll = 20ms,
                                         .fast_poll = 2ms,
                                         .store_retry = kRetry,
                                         .store_retry_max = kRetryMax});
        c->set_listener(seen.listener());
        collectors.push_back(c);
        return c;
    }
    std::set<uint64_t> stored_dpas() {
        std::set<uint64_t> dpas;
        auto rows = journal->read("emu0", 0, 1000);
        EXPECT_TRUE(rows.ok());
        for (const auto& ev : *rows) {
            auto fields = event_fields(ev.entry);
            EXPECT_TRUE(fields.ok());
            dpas.insert((*fields)["dpa"].get<uint64_t>());
        }
        return dpas;
    }
    DeviceState state() { return device->properties().state; }
};

TEST_F(CollectorJournalFailureTest, EventsWaitOnTheDeviceUntilTheJournalWritesAgain) {
    open(emu::default_device_description("emu0"));
    run_journal_thread();
    Seen seen;
    auto c = retrying_collector(seen);
    c->start();
    // Subscribed: fast polling, which used to retry a failed write every poll or at once.
    std::promise<Status> subscribed;
    c->subscribe([&](Status s) { subscribed.set_value(std::move(s)); });
    ASSERT_TRUE(subscribed.get_future().get().ok());
    for (uint64_t i = 1; i <= 3; ++i) {
        inject(emu::EventLog::Warning, i * 0x40);
    }
    ASSERT_TRUE(seen.wait_for(3));
    ASSERT_EQ(state(), DeviceState::Online);

    ::testing::internal::CaptureStderr();
    const auto failing_since = std::chrono::steady_clock::now();
    vfs->fail(SQLITE_FULL);
    for (uint64_t i = 4; i <= 8; ++i) {
        inject(emu::EventLog::Warning, i * 0x40);
    }
    // Degraded, naming the device and the journal's error.
    EXPECT_TRUE(eventually([&] { return state() == DeviceState::Degraded; }, 20s, 2ms));
    const auto reason = device->properties().state_reason;
    EXPECT_EQ(reason.rfind("emu0: events not stored (", 0), 0u) << reason;
    EXPECT_NE(reason.find("database or disk is full"), std::string::npos) << reason;
    EXPECT_NE(reason.find("they stay on the device"), std::string::npos) << reason;
    // Hold the failure for a second and at least three attempts: past the backoff's cap.
    EXPECT_TRUE(eventually([&] { return c->store_failures() >= 3; }, 20s, 2ms));
    std::this_thread::sleep_until(failing_since + 1s);
    // Nothing cleared that was not stored.
    EXPECT_NE(status_bits() & (1u << static_cast<unsigned>(cxl::EventLog::Warning)), 0u);
    EXPECT_EQ(stored_dpas(), (std::set<uint64_t>{0x40, 0x80, 0xc0}));
    EXPECT_EQ(state(), DeviceState::Degraded);

    vfs->heal();
    ASSERT_TRUE(seen.wait_for(8));
    EXPECT_TRUE(eventually([&] { return state() == DeviceState::Online; }, 20s, 2ms));
    EXPECT_TRUE(eventually([&] { return status_bits() == 0; }, 20s, 2ms)) << "stored, then cleared";
    const auto failed_for = std::chrono::steady_clock::now() - failing_since;
    sync_strand();
    const std::string log = ::testing::internal::GetCapturedStderr();
    EXPECT_EQ(device->properties().state_reason, "");

    // Every event stored exactly once, handed over once.
    std::set<uint64_t> expected;
    for (uint64_t i = 1; i <= 8; ++i) {
        expected.insert(i * 0x40);
    }
    EXPECT_EQ(stored_dpas(), expected);
    EXPECT_EQ(journal->read("emu0", 0, 1000)->size(), 8u);
    {
        std::lock_guard lock(seen.mutex);
        EXPECT_EQ(seen.events.size(), 8u);
    }

    // The attempts the backoff allows in that time: delays of 50, 100, then 200 ms each, so
    // k failed attempts take at least 50 + 100 + 200 * (k - 3) ms. Retried at every poll, a
    // second would have seen hundreds.
    const uint64_t failures = c->store_failures();
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(failed_for).count();
    EXPECT_GE(failures, 3u);
    EXPECT_LE(failures, 4u + static_cast<uint64_t>(ms) / kRetryMax.count())
        << failures << " failed writes in " << ms << " ms";

    // One line when it started, one when it ended, with the count.
    EXPECT_EQ(count_lines(log,
                          "emu0: events not stored (event journal: database or disk is full): "
                          "they stay on the device"),
              1u)
        << log;
    EXPECT_EQ(count_lines(log, "the write is tried again"), 1u) << log;
    EXPECT_EQ(count_lines(log, "emu0: events stored again after " + std::to_string(failures) +
                                   " failed attempts over "),
              1u)
        << log;
}

// Not subscribed, with subscriptions coming and going (each first one cuts the poll timer
// short): the retry still waits for its backoff.
TEST_F(CollectorJournalFailureTest, UnsubscribedTheRetryStillWaitsForTheBackoff) {
    open(emu::default_device_description("emu0"));
    run_journal_thread();
    Seen seen;
    auto c = retrying_collector(seen);
    c->start();
    inject(emu::EventLog::Informational, 0x40);
    ASSERT_TRUE(seen.wait_for(1));
    vfs->fail(SQLITE_IOERR_WRITE);
    const auto failing_since = std::chrono::steady_clock::now();
    inject(emu::EventLog::Informational, 0x80);
    EXPECT_TRUE(eventually([&] { return c->store_failures() >= 2; }, 20s, 2ms));
    // Subscribing cuts the poll timer short; it must not cut the backoff short.
    while (std::chrono::steady_clock::now() < failing_since + 600ms) {
        std::promise<Status> done;
        c->subscribe([&](Status s) { done.set_value(std::move(s)); });
        EXPECT_TRUE(done.get_future().get().ok());
        std::promise<Status> gone;
        c->unsubscribe([&](Status s) { gone.set_value(std::move(s)); });
        EXPECT_TRUE(gone.get_future().get().ok());
    }
    const auto failed_for = std::chrono::steady_clock::now() - failing_since;
    const uint64_t failures = c->store_failures();
    vfs->heal();
    ASSERT_TRUE(seen.wait_for(2));
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(failed_for).count();
    EXPECT_LE(failures, 4u + static_cast<uint64_t>(ms) / kRetryMax.count())
        << failures << " failed writes in " << ms << " ms";
    EXPECT_TRUE(eventually([&] { return state() == DeviceState::Online; }, 20s, 2ms));
    EXPECT_EQ(journal->read("emu0", 0, 100)->size(), 2u);
}

}  // namespace
}  // namespace cxlmgr::daemon
