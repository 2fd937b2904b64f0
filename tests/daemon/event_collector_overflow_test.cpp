// What the device drops is counted, never silently lost: overflows that happen while the
// collector's durable write is on its way to disk (before its clear, which resets the device's
// overflow state) are read before the clear and stored with the next write, also when that write
// fails once; and a write that fails clears nothing.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include "tests/daemon/event_collector_fixture.hpp"

namespace cxlmgr::daemon {
namespace {

using namespace std::chrono_literals;

using collector_test::CollectorTest;
using collector_test::Seen;

uint64_t dpa_of(const StoredEvent& ev) {
    auto fields = event_fields(ev.entry);
    EXPECT_TRUE(fields.ok());
    return fields.ok() ? (*fields)["dpa"].get<uint64_t>() : 0;
}

struct OverflowTest : CollectorTest {
    // Starts a collector whose journal work waits: returns once the device has executed the
    // first Get Event Records, whose durable write is then pending (not run yet).
    std::shared_ptr<EventCollector> start_until_first_get(Seen& seen) {
        auto c = collector(seen);
        guard_.emplace(boost::asio::make_work_guard(journal_io));
        const auto before = completed();
        c->start();
        EXPECT_EQ(journal_io.run_one_for(10s), 1u);  // the Overflows read at start
        // Set Timestamp, then the Get: the page the write holds is fixed from here on.
        EXPECT_TRUE(wait_until([&] { return completed() >= before + 2; }));
        return c;
    }
    // Lets the journal work (the pending write, and everything after it) run.
    void release_journal() {
        guard_.reset();
        journal_io.restart();
        run_journal_thread();
    }
    std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> guard_;
};

TEST_F(OverflowTest, OverflowDuringTheDurableWriteIsReadBeforeTheClearErasesIt) {
    auto desc = emu::default_device_description("emu0");
    desc.events = {{"capacity", 4}};
    open(desc);
    inject(emu::EventLog::Informational, 0x40);
    inject(emu::EventLog::Informational, 0x80);
    Seen seen;
    auto c = start_until_first_get(seen);
    // The log fills while the page read is being made durable: two more fit, three are dropped.
    for (uint64_t i = 3; i <= 7; ++i) {
        inject(emu::EventLog::Informational, i * 0x40);
    }
    release_journal();
    ASSERT_TRUE(seen.wait_for(5));
    ASSERT_TRUE(wait_until([&] { return status_bits() == 0; }));
    std::lock_guard lock(seen.mutex);
    ASSERT_EQ(seen.events.size(), 5u);
    EXPECT_EQ(dpa_of(seen.events[0]), 0x40u);
    EXPECT_EQ(dpa_of(seen.events[1]), 0x80u);
    // Read before the clear that reset it on the device, stored with the next page: count and
    // times as reported, in order.
    const auto& overflow = seen.events[2].entry;
    EXPECT_EQ(overflow.kind, "overflow");
    EXPECT_EQ(overflow.log, cxl::EventLog::Informational);
    EXPECT_EQ(overflow.overflow_count, 3u);
    EXPECT_NE(overflow.first_overflow, 0u);
    EXPECT_GE(overflow.last_overflow, overflow.first_overflow);
    EXPECT_EQ(dpa_of(seen.events[3]), 0xc0u);
    EXPECT_EQ(dpa_of(seen.events[4]), 0x100u);
    for (size_t i = 1; i < seen.events.size(); ++i) {
        EXPECT_GT(seen.events[i].seq, seen.events[i - 1].seq);
    }
    EXPECT_EQ(seen.overflows, 3u);
    EXPECT_EQ(c->overflows(), 3u);
    EXPECT_EQ(*journal->overflows("emu0"), 3u);
    EXPECT_EQ(journal->read("emu0", 0, 100)->size(), 5u);
}

TEST_F(OverflowTest, OverflowThatGrowsDuringTheWriteCountsOnlyTheGrowthAgain) {
    auto desc = emu::default_device_description("emu0");
    desc.events = {{"capacity", 2}};
    open(desc);
    for (uint64_t i = 1; i <= 3; ++i) {  // the third overflows: count 1
        inject(emu::EventLog::Warning, i * 0x40);
    }
    Seen seen;
    auto c = start_until_first_get(seen);
    inject(emu::EventLog::Warning, 0x100);  // count 3 while the first page is being stored
    inject(emu::EventLog::Warning, 0x140);
    release_journal();
    ASSERT_TRUE(seen.wait_for(4));
    ASSERT_TRUE(wait_until([&] { return status_bits() == 0; }));
    std::lock_guard lock(seen.mutex);
    ASSERT_EQ(seen.events.size(), 4u);
    // The first page: its overflow (as read then) and its two records.
    EXPECT_EQ(seen.events[0].entry.kind, "overflow");
    EXPECT_EQ(seen.events[0].entry.overflow_count, 1u);
    EXPECT_EQ(dpa_of(seen.events[1]), 0x40u);
    EXPECT_EQ(dpa_of(seen.events[2]), 0x80u);
    // The check before the clear: the same overflow, grown by two, stored on its own (the log
    // was empty after the clear).
    EXPECT_EQ(seen.events[3].entry.kind, "overflow");
    EXPECT_EQ(seen.events[3].entry.overflow_count, 2u);
    EXPECT_EQ(seen.events[3].entry.first_overflow, seen.events[0].entry.first_overflow);
    EXPECT_GT(seen.events[3].entry.last_overflow, seen.events[0].entry.last_overflow);
    EXPECT_EQ(seen.overflows, 3u);
    EXPECT_EQ(*journal->overflows("emu0"), 3u);
}

TEST_F(OverflowTest, AnOverflowReadingWhoseWriteFailedIsKeptForTheNextWrite) {
    auto desc = emu::default_device_description("emu0");
    desc.events = {{"capacity", 2}};
    open(desc);
    inject(emu::EventLog::Fatal, 0x40);
    inject(emu::EventLog::Fatal, 0x80);
    Seen seen;
    auto c = start_until_first_get(seen);  // the page: two records, no overflow
    inject(emu::EventLog::Fatal, 0xc0);    // overflow, count 1, while the page is being stored
    const auto before = completed();
    ASSERT_EQ(journal_io.run_one_for(10s), 1u);  // the page's write
    // The check reads the overflow, the clear resets it on the device, the next Get finds the
    // log empty: the reading is the only copy, and its write is pending now.
    ASSERT_TRUE(wait_until([&] { return completed() >= before + 3; }));
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open((dir / "events.sqlite").c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db,
                           "CREATE TRIGGER refuse BEFORE INSERT ON events BEGIN "
                           "SELECT RAISE(ABORT, 'disk full'); END;",
                           nullptr, nullptr, nullptr),
              SQLITE_OK);
    ASSERT_EQ(journal_io.run_one_for(10s), 1u);  // that write fails
    ASSERT_EQ(sqlite3_exec(db, "DROP TRIGGER refuse;", nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(db);
    inject(emu::EventLog::Fatal, 0x100);  // the next page carries the kept reading
    release_journal();
    ASSERT_TRUE(seen.wait_for(4));
    ASSERT_TRUE(wait_until([&] { return status_bits() == 0; }));
    std::lock_guard lock(seen.mutex);
    ASSERT_EQ(seen.events.size(), 4u);
    EXPECT_EQ(dpa_of(seen.events[0]), 0x40u);
    EXPECT_EQ(dpa_of(seen.events[1]), 0x80u);
    EXPECT_EQ(seen.events[2].entry.kind, "overflow");
    EXPECT_EQ(seen.events[2].entry.overflow_count, 1u);
    EXPECT_EQ(dpa_of(seen.events[3]), 0x100u);
    EXPECT_EQ(*journal->overflows("emu0"), 1u);
}

TEST_F(OverflowTest, RecordsWhoseWriteFailedStayOnTheDeviceAndAreStoredOnceLater) {
    open(emu::default_device_description("emu0"));
    // The journal refuses every insert, as a full disk would, until the trigger goes.
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open((dir / "events.sqlite").c_str(), &db), SQLITE_OK);
    auto sql = [&](const char* text) {
        char* message = nullptr;
        EXPECT_EQ(sqlite3_exec(db, text, nullptr, nullptr, &message), SQLITE_OK)
            << (message ? message : "");
        sqlite3_free(message);
    };
    sql("CREATE TRIGGER refuse BEFORE INSERT ON events BEGIN SELECT RAISE(ABORT, 'disk full'); "
        "END;");
    for (uint64_t i = 1; i <= 3; ++i) {
        inject(emu::EventLog::Failure, i * 0x40);
    }
    run_journal_thread();
    Seen seen;
    auto c = collector(seen);
    const auto before = completed();
    c->start();
    // Several drains (Set Timestamp, then one Get per failed attempt) have failed to store.
    ASSERT_TRUE(wait_until([&] { return completed() >= before + 4; }));
    EXPECT_EQ(status_bits(), 1u << 2) << "nothing cleared that was not stored";
    {
        std::lock_guard lock(seen.mutex);
        EXPECT_TRUE(seen.events.empty());
    }
    EXPECT_TRUE(journal->read("emu0", 0, 10)->empty());
    sql("DROP TRIGGER refuse;");
    sqlite3_close(db);
    ASSERT_TRUE(seen.wait_for(3));
    ASSERT_TRUE(wait_until([&] { return status_bits() == 0; }));
    auto stored = journal->read("emu0", 0, 10);
    ASSERT_EQ(stored->size(), 3u);
    for (size_t i = 0; i < 3; ++i) {
        EXPECT_EQ(dpa_of((*stored)[i]), (i + 1) * 0x40);
    }
}

}  // namespace
}  // namespace cxlmgr::daemon
