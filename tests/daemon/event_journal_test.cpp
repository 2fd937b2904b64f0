#include "daemon/event_journal.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <filesystem>

namespace cxlmgr::daemon {
namespace {

// A General Media record with the given handle and timestamp, as the device would return it.
std::vector<uint8_t> record_bytes(uint16_t handle, uint64_t timestamp) {
    static const uint8_t kGeneralMedia[16] = {0xfb, 0xcd, 0x0a, 0x77, 0xc2, 0x60, 0x41, 0x7f,
                                              0x85, 0xa9, 0x08, 0x8b, 0x16, 0x21, 0xeb, 0xa6};
    std::vector<uint8_t> r(cxl::kEventRecordSize, 0);
    std::copy(std::begin(kGeneralMedia), std::end(kGeneralMedia), r.begin());
    r[0x10] = 0x80;
    r[0x11] = 1;  // warning
    r[0x14] = handle & 0xff;
    r[0x15] = handle >> 8;
    for (int i = 0; i < 8; ++i) {
        r[0x18 + i] = static_cast<uint8_t>(timestamp >> (8 * i));
    }
    r[0x30] = 0x40;  // DPA 0x40
    return r;
}

EventEntry entry(uint16_t handle, uint64_t timestamp) {
    auto decoded = cxl::decode_event_record(record_bytes(handle, timestamp));
    EXPECT_TRUE(decoded.ok()) << decoded.error().describe();
    return record_entry(cxl::EventLog::Warning, *decoded);
}

struct EventJournalTest : ::testing::Test {
    std::filesystem::path dir;
    void SetUp() override {
        dir = std::filesystem::temp_directory_path() /
              ("cxlmgr-journal-" + std::to_string(::getpid()) + "-" +
               ::testing::UnitTest::GetInstance()->current_test_info()->name());
        std::filesystem::remove_all(dir);
        std::filesystem::create_directories(dir);
    }
    void TearDown() override { std::filesystem::remove_all(dir); }
    std::shared_ptr<EventJournal> open(JournalLimits limits = {}) {
        auto j = EventJournal::open((dir / "events.sqlite").string(), limits);
        EXPECT_TRUE(j.ok()) << j.error().describe();
        return j.ok() ? *j : nullptr;
    }
};

TEST_F(EventJournalTest, AppendGivesGrowingSequenceNumbersAndReadReplaysInOrder) {
    auto j = open();
    auto a = j->append("emu0", {entry(1, 100), entry(2, 200)});
    ASSERT_TRUE(a.ok()) << a.error().describe();
    ASSERT_EQ(a->size(), 2u);
    EXPECT_LT((*a)[0].seq, (*a)[1].seq);
    auto b = j->append("emu1", {entry(1, 100)});
    ASSERT_TRUE(b.ok());
    ASSERT_EQ(b->size(), 1u);  // another device: not a duplicate
    EXPECT_GT((*b)[0].seq, (*a)[1].seq);

    auto r = j->read("emu0", 0, 10);
    ASSERT_TRUE(r.ok());
    ASSERT_EQ(r->size(), 2u);
    EXPECT_EQ((*r)[0].seq, (*a)[0].seq);
    EXPECT_EQ((*r)[1].entry.handle, 2);
    EXPECT_EQ((*r)[1].entry.timestamp, 200u);
    EXPECT_EQ((*r)[1].entry.kind, "general-media");
    EXPECT_EQ((*r)[1].entry.log, cxl::EventLog::Warning);
    EXPECT_EQ((*r)[1].entry.record, record_bytes(2, 200));

    auto since = j->read("emu0", (*a)[0].seq, 10);
    ASSERT_TRUE(since.ok());
    ASSERT_EQ(since->size(), 1u);
    EXPECT_EQ((*since)[0].seq, (*a)[1].seq);
    auto limited = j->read("emu0", 0, 1);
    ASSERT_TRUE(limited.ok());
    EXPECT_EQ(limited->size(), 1u);
}

TEST_F(EventJournalTest, SameRecordIsNotStoredTwice) {
    auto j = open();
    ASSERT_TRUE(j->append("emu0", {entry(1, 100)}).ok());
    // Re-read after a crash before the clear: same handle and timestamp.
    auto again = j->append("emu0", {entry(1, 100), entry(2, 150)});
    ASSERT_TRUE(again.ok());
    ASSERT_EQ(again->size(), 1u);
    EXPECT_EQ((*again)[0].entry.handle, 2);
    // A handle reused later (the device's counter wrapped) with a new timestamp is new.
    auto reused = j->append("emu0", {entry(1, 900)});
    ASSERT_TRUE(reused.ok());
    EXPECT_EQ(reused->size(), 1u);
    EXPECT_EQ(j->read("emu0", 0, 100)->size(), 3u);
}

TEST_F(EventJournalTest, SequenceNumbersSurviveReopenAndNeverRepeat) {
    uint64_t last = 0;
    {
        auto j = open({.max_events = 2});
        auto a = j->append("emu0", {entry(1, 1), entry(2, 2), entry(3, 3)});
        ASSERT_TRUE(a.ok());
        last = a->back().seq;
        EXPECT_EQ(*j->last_seq(), last);
    }
    auto j = open({.max_events = 2});
    EXPECT_EQ(*j->last_seq(), last);
    auto b = j->append("emu0", {entry(4, 4)});
    ASSERT_TRUE(b.ok());
    ASSERT_EQ(b->size(), 1u);
    EXPECT_GT((*b)[0].seq, last);
}

TEST_F(EventJournalTest, BoundDropsOldestFirstAndCountsThem) {
    auto j = open({.max_events = 3});
    ASSERT_TRUE(j->append("emu0", {entry(1, 1), entry(2, 2)}).ok());
    ASSERT_TRUE(j->append("emu1", {entry(1, 1), entry(2, 2)}).ok());
    EXPECT_EQ(*j->dropped(), 1u);
    auto r0 = j->read("emu0", 0, 10);
    ASSERT_EQ(r0->size(), 1u);
    EXPECT_EQ((*r0)[0].entry.handle, 2);  // handle 1, the oldest of all, went
    EXPECT_EQ(j->read("emu1", 0, 10)->size(), 2u);
}

TEST_F(EventJournalTest, OverflowsAreTotalledAndDecoded) {
    auto j = open();
    cxl::EventRecordsPage page;
    page.overflow = true;
    page.overflow_count = 5;
    page.first_overflow_timestamp = 1000;
    page.last_overflow_timestamp = 2000;
    auto a = j->append("emu0", {overflow_entry(cxl::EventLog::Failure, page)});
    ASSERT_TRUE(a.ok());
    ASSERT_EQ(a->size(), 1u);
    // The same overflow reported again (re-read) does not count twice.
    ASSERT_EQ(j->append("emu0", {overflow_entry(cxl::EventLog::Failure, page)})->size(), 0u);
    EXPECT_EQ(*j->overflows("emu0"), 5u);
    EXPECT_EQ(*j->overflows("emu1"), 0u);
    auto fields = event_fields((*a)[0].entry);
    ASSERT_TRUE(fields.ok());
    EXPECT_EQ((*fields)["count"], 5u);
    EXPECT_EQ((*fields)["first_overflow_timestamp"], 1000u);
    EXPECT_EQ((*fields)["last_overflow_timestamp"], 2000u);

    auto rec = j->read("emu0", 0, 1);
    ASSERT_EQ(rec->size(), 1u);
    EXPECT_EQ((*rec)[0].entry.kind, "overflow");
}

cxl::EventRecordsPage overflow_page(uint16_t count, uint64_t first, uint64_t last) {
    cxl::EventRecordsPage page;
    page.overflow = true;
    page.overflow_count = count;
    page.first_overflow_timestamp = first;
    page.last_overflow_timestamp = last;
    return page;
}

TEST_F(EventJournalTest, AnOverflowEpisodeReadAgainStoresOnlyItsGrowth) {
    const auto log = cxl::EventLog::Warning;
    {
        auto j = open();
        auto a = j->append("emu0", {overflow_entry(log, overflow_page(5, 1000, 2000))});
        ASSERT_EQ(a->size(), 1u);
        EXPECT_EQ((*a)[0].entry.overflow_count, 5u);
        EXPECT_EQ((*a)[0].entry.timestamp, 1000u);
        // The same reading again: nothing new.
        EXPECT_EQ(j->append("emu0", {overflow_entry(log, overflow_page(5, 1000, 2000))})->size(),
                  0u);
        // Grown by 3 since: one more overflow event of 3, keyed by its last time.
        auto b = j->append("emu0", {overflow_entry(log, overflow_page(8, 1000, 2600))});
        ASSERT_EQ(b->size(), 1u);
        EXPECT_EQ((*b)[0].entry.overflow_count, 3u);
        EXPECT_EQ((*b)[0].entry.timestamp, 2600u);
        EXPECT_EQ((*b)[0].entry.first_overflow, 1000u);
        EXPECT_EQ((*b)[0].entry.last_overflow, 2600u);
        EXPECT_GT((*b)[0].seq, (*a)[0].seq);
        EXPECT_EQ(*j->overflows("emu0"), 8u);
    }
    // After a restart, a re-read of the same episode (the clear never happened) adds nothing,
    // and its growth is counted once; another log's or another episode's count is its own.
    auto j = open();
    EXPECT_EQ(j->append("emu0", {overflow_entry(log, overflow_page(8, 1000, 2600))})->size(), 0u);
    auto c = j->append("emu0", {overflow_entry(log, overflow_page(10, 1000, 2900)),
                                overflow_entry(cxl::EventLog::Fatal, overflow_page(1, 1000, 1000)),
                                overflow_entry(log, overflow_page(4, 5000, 5100))});
    ASSERT_EQ(c->size(), 3u);
    EXPECT_EQ((*c)[0].entry.overflow_count, 2u);
    EXPECT_EQ((*c)[1].entry.overflow_count, 1u);
    EXPECT_EQ((*c)[2].entry.overflow_count, 4u);
    EXPECT_EQ((*c)[2].entry.timestamp, 5000u);
    EXPECT_EQ(*j->overflows("emu0"), 15u);
    uint64_t sum = 0;
    auto all = j->read("emu0", 0, 100);
    ASSERT_TRUE(all.ok());
    for (const auto& ev : *all) {
        sum += ev.entry.overflow_count;
    }
    EXPECT_EQ(sum, 15u) << "the overflow events add up to Overflows";
}

TEST_F(EventJournalTest, EpisodesOfAJournalWithoutTheirTableAreRebuiltFromItsEvents) {
    const auto log = cxl::EventLog::Failure;
    {
        auto j = open();
        ASSERT_EQ(j->append("emu0", {overflow_entry(log, overflow_page(5, 1000, 2000))})->size(),
                  1u);
    }
    {
        // A journal written before episodes were kept.
        sqlite3* db = nullptr;
        ASSERT_EQ(sqlite3_open((dir / "events.sqlite").c_str(), &db), SQLITE_OK);
        ASSERT_EQ(sqlite3_exec(db, "DROP TABLE overflow_episodes;", nullptr, nullptr, nullptr),
                  SQLITE_OK);
        sqlite3_close(db);
    }
    auto j = open();
    EXPECT_EQ(j->append("emu0", {overflow_entry(log, overflow_page(5, 1000, 2000))})->size(), 0u);
    auto grown = j->append("emu0", {overflow_entry(log, overflow_page(6, 1000, 2100))});
    ASSERT_EQ(grown->size(), 1u);
    EXPECT_EQ((*grown)[0].entry.overflow_count, 1u);
    EXPECT_EQ(*j->overflows("emu0"), 6u);
}

TEST_F(EventJournalTest, RecordFieldsDecodeFromTheStoredBytes) {
    auto j = open();
    ASSERT_TRUE(j->append("emu0", {entry(7, 77)}).ok());
    auto r = j->read("emu0", 0, 1);
    ASSERT_TRUE(r.ok());
    auto fields = event_fields((*r)[0].entry);
    ASSERT_TRUE(fields.ok()) << fields.error().describe();
    EXPECT_EQ((*fields)["handle"], 7u);
    EXPECT_EQ((*fields)["timestamp"], 77u);
    EXPECT_EQ((*fields)["dpa"], 0x40u);
}

TEST_F(EventJournalTest, UnopenablePathIsAnIoError) {
    auto j = EventJournal::open((dir / "missing" / "events.sqlite").string());
    ASSERT_FALSE(j.ok());
    EXPECT_EQ(j.error().code, Errc::IoError);
}

}  // namespace
}  // namespace cxlmgr::daemon
