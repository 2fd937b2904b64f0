#include "daemon/event_journal.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <filesystem>
#include <limits>
#include <optional>
#include <tuple>

#include "tests/daemon/faulty_vfs.hpp"

namespace cxlmgr::daemon {
namespace {

// A General Media record with the given handle, timestamp and DPA, as the device would return
// it.
std::vector<uint8_t> record_bytes(uint16_t handle, uint64_t timestamp, uint8_t dpa = 0x40) {
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
    r[0x30] = dpa;
    return r;
}

EventEntry entry(uint16_t handle, uint64_t timestamp, uint8_t dpa = 0x40) {
    auto decoded = cxl::decode_event_record(record_bytes(handle, timestamp, dpa));
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

// A connection of the test's own to a journal file.
struct RawDb {
    sqlite3* db = nullptr;
    explicit RawDb(const std::filesystem::path& path) {
        EXPECT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    }
    ~RawDb() { sqlite3_close(db); }
    RawDb(const RawDb&) = delete;
    RawDb& operator=(const RawDb&) = delete;
    void exec(const std::string& sql) {
        char* message = nullptr;
        EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &message), SQLITE_OK)
            << sql << ": " << (message ? message : "");
        sqlite3_free(message);
    }
    int64_t integer(const std::string& sql) {
        sqlite3_stmt* st = nullptr;
        EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr), SQLITE_OK) << sql;
        int64_t v = -1;
        if (sqlite3_step(st) == SQLITE_ROW) {
            v = sqlite3_column_int64(st, 0);
        }
        sqlite3_finalize(st);
        return v;
    }
};

// Everything a failed write must leave as it was.
struct Snapshot {
    std::vector<std::tuple<std::string, uint64_t, std::vector<uint8_t>, uint64_t>> rows;
    uint64_t dropped = 0;
    uint64_t overflows = 0;
    uint64_t last_seq = 0;
    bool operator==(const Snapshot&) const = default;
};

Snapshot snapshot(EventJournal& j) {
    Snapshot s;
    for (const std::string device : {"emu0", "emu1"}) {
        auto rows = j.read(device, 0, 1000);
        EXPECT_TRUE(rows.ok()) << rows.error().describe();
        for (const auto& ev : *rows) {
            s.rows.emplace_back(device, ev.seq, ev.entry.record, ev.entry.overflow_count);
        }
    }
    s.dropped = *j.dropped();
    s.overflows = *j.overflows("emu0");
    s.last_seq = *j.last_seq();
    return s;
}

std::vector<EventEntry> page(uint16_t first_handle, size_t n) {
    std::vector<EventEntry> out;
    for (size_t i = 0; i < n; ++i) {
        out.push_back(entry(static_cast<uint16_t>(first_handle + i), 0));
    }
    return out;
}

// Issue 15: with the disk full, every failed COMMIT raised the in-memory row count; past the
// bound, the next successful write trimmed real events, each new one evicting the last.
TEST_F(EventJournalTest, FailedCommitsLeaveRowsTotalsAndTheBoundAsTheyWere) {
    auto& vfs = testing::FaultyVfs::install();  // before the journal opens the file
    auto j = open({.max_events = 10});
    ASSERT_TRUE(j->append("emu0", page(1, 4)).ok());
    const Snapshot before = snapshot(*j);
    for (int i = 0; i < 6; ++i) {
        vfs.fail(i % 2 == 0 ? SQLITE_FULL : SQLITE_IOERR_WRITE);
        auto failed = j->append("emu0", page(static_cast<uint16_t>(100 + 2 * i), 2));
        vfs.heal();
        ASSERT_FALSE(failed.ok()) << "the write went through the fault";
        EXPECT_EQ(failed.error().code, Errc::IoError);
        EXPECT_EQ(snapshot(*j), before) << "failed write " << i;
    }
    EXPECT_GT(vfs.faults(), 0u);
    // Recovered: six more fill the journal to its bound exactly, nothing dropped.
    auto fill = j->append("emu0", page(5, 6));
    ASSERT_TRUE(fill.ok()) << fill.error().describe();
    EXPECT_EQ(fill->size(), 6u);
    EXPECT_EQ(*j->dropped(), 0u);
    EXPECT_EQ(j->read("emu0", 0, 100)->size(), 10u);
    // One past the bound drops exactly the oldest.
    ASSERT_TRUE(j->append("emu0", page(11, 1)).ok());
    EXPECT_EQ(*j->dropped(), 1u);
    auto rows = j->read("emu0", 0, 100);
    ASSERT_EQ(rows->size(), 10u);
    EXPECT_EQ(rows->front().entry.handle, 2);
    EXPECT_EQ(rows->back().entry.handle, 11);
}

// A write that fails at any step (an insert, the trim, any write or sync of the COMMIT) leaves
// everything as it was, and the same page stored afterwards counts and trims exactly once.
TEST_F(EventJournalTest, AWriteThatFailsAtAnyStepLeavesEverythingAsItWas) {
    auto& vfs = testing::FaultyVfs::install();
    auto j = open({.max_events = 6});
    ASSERT_TRUE(j->append("emu0", page(1, 5)).ok());
    // Three records and an overflow: nine rows, three past the bound.
    auto write = page(11, 3);
    write.insert(write.begin(),
                 overflow_entry(cxl::EventLog::Warning, overflow_page(5, 1000, 2000)));
    const Snapshot before = snapshot(*j);
    {
        // Faults in the statements themselves, through triggers of the test's own.
        RawDb raw(dir / "events.sqlite");
        raw.exec(
            "CREATE TABLE fault (insert_handle INTEGER, trim INTEGER);"
            "INSERT INTO fault VALUES (12, 0);"
            "CREATE TRIGGER insert_fault BEFORE INSERT ON events "
            "WHEN NEW.handle = (SELECT insert_handle FROM fault) "
            "BEGIN SELECT RAISE(ABORT, 'injected insert failure'); END;"
            "CREATE TRIGGER trim_fault BEFORE DELETE ON events "
            "WHEN (SELECT trim FROM fault) = 1 "
            "BEGIN SELECT RAISE(ABORT, 'injected trim failure'); END;");
        auto failed = j->append("emu0", write);
        ASSERT_FALSE(failed.ok());
        EXPECT_NE(failed.error().message.find("injected insert failure"), std::string::npos)
            << failed.error().message;
        EXPECT_EQ(snapshot(*j), before) << "after a failed insert";

        raw.exec("UPDATE fault SET insert_handle = NULL, trim = 1;");
        failed = j->append("emu0", write);
        ASSERT_FALSE(failed.ok());
        EXPECT_NE(failed.error().message.find("injected trim failure"), std::string::npos)
            << failed.error().message;
        EXPECT_EQ(snapshot(*j), before) << "after a failed trim";
        raw.exec("DROP TRIGGER insert_fault; DROP TRIGGER trim_fault; DROP TABLE fault;");
    }
    // The COMMIT failing at its first write call, then its second, and so on until it gets
    // through.
    std::optional<Result<std::vector<StoredEvent>>> stored;
    for (uint64_t spared = 0; spared < 100 && !stored; ++spared) {
        vfs.fail(SQLITE_FULL, spared);
        auto r = j->append("emu0", write);
        vfs.heal();
        if (r.ok()) {
            stored = std::move(r);
            break;
        }
        EXPECT_EQ(snapshot(*j), before) << "after a write failing past " << spared << " calls";
        if (::testing::Test::HasFailure()) {
            return;
        }
    }
    ASSERT_TRUE(stored.has_value()) << "never got through";
    ASSERT_EQ((*stored)->size(), 4u);
    EXPECT_EQ((*stored)->front().entry.overflow_count, 5u);
    EXPECT_EQ(*j->overflows("emu0"), 5u) << "the overflow counted once";
    EXPECT_EQ(*j->dropped(), 3u);
    auto rows = j->read("emu0", 0, 100);
    ASSERT_EQ(rows->size(), 6u);
    EXPECT_EQ(rows->front().entry.handle, 4);  // 1 to 3 went, nothing else
    // The overflow episode was noted once: the same reading again adds nothing.
    EXPECT_EQ(
        j->append("emu0", {overflow_entry(cxl::EventLog::Warning, overflow_page(5, 1000, 2000))})
            ->size(),
        0u);
}

// Issue 15: the key was (device, log, handle, timestamp), so records of a device whose handles
// restart and whose clock reads 0 were dropped as duplicates, and then cleared on the device.
TEST_F(EventJournalTest, RecordsThatDifferInContentAreAllStoredWhateverTheirHandleAndTimestamp) {
    {
        auto j = open();
        auto a = j->append("emu0", {entry(1, 0, 0x40), entry(2, 0, 0x80)});
        ASSERT_TRUE(a.ok());
        EXPECT_EQ(a->size(), 2u);
        // The same handle and timestamp, another record: new.
        auto b = j->append("emu0", {entry(1, 0, 0xc0)});
        ASSERT_TRUE(b.ok());
        EXPECT_EQ(b->size(), 1u);
    }
    // After a restart (the device's handles start over at 1, its clock at 0).
    auto j = open();
    auto c = j->append("emu0", {entry(1, 0, 0x40), entry(1, 0, 0x10), entry(2, 0, 0x20)});
    ASSERT_TRUE(c.ok());
    ASSERT_EQ(c->size(), 2u) << "the first is the same bytes as a stored one: a re-read";
    EXPECT_EQ((*c)[0].entry.record, record_bytes(1, 0, 0x10));
    EXPECT_EQ((*c)[1].entry.record, record_bytes(2, 0, 0x20));
    // Re-reads of every one of them (the same bytes) store nothing.
    auto again = j->append("emu0", {entry(1, 0, 0x40), entry(2, 0, 0x80), entry(1, 0, 0xc0),
                                    entry(1, 0, 0x10), entry(2, 0, 0x20)});
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(again->size(), 0u);
    EXPECT_EQ(j->read("emu0", 0, 100)->size(), 5u);
    // Another log's record with the same bytes is another event.
    auto decoded = cxl::decode_event_record(record_bytes(1, 0, 0x40));
    ASSERT_TRUE(decoded.ok());
    EXPECT_EQ(j->append("emu0", {record_entry(cxl::EventLog::Failure, *decoded)})->size(), 1u);
}

// The first schema, as an earlier cxlmgrd created it.
constexpr const char* kSchemaVersion0 = R"sql(
CREATE TABLE events (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  device TEXT NOT NULL,
  log INTEGER NOT NULL,
  kind TEXT NOT NULL,
  handle INTEGER NOT NULL,
  timestamp INTEGER NOT NULL,
  record BLOB,
  overflow_count INTEGER NOT NULL DEFAULT 0,
  first_overflow INTEGER NOT NULL DEFAULT 0,
  last_overflow INTEGER NOT NULL DEFAULT 0,
  UNIQUE (device, log, handle, timestamp)
);
CREATE INDEX events_by_device ON events (device, seq);
CREATE TABLE device_totals (device TEXT PRIMARY KEY, overflows INTEGER NOT NULL DEFAULT 0);
CREATE TABLE journal_totals (id INTEGER PRIMARY KEY CHECK (id = 1),
                             dropped INTEGER NOT NULL DEFAULT 0);
INSERT INTO journal_totals (id, dropped) VALUES (1, 7);
CREATE TABLE overflow_episodes (device TEXT NOT NULL, log INTEGER NOT NULL,
                                first_overflow INTEGER NOT NULL, count INTEGER NOT NULL,
                                PRIMARY KEY (device, log, first_overflow));
)sql";

// Writes a version-0 journal: records at seq 3, 4 and 6 (emu0) and 5 (emu1), an overflow
// episode of two parts (5, then 3 more) at seq 7 and 8, then seq 9 and 10 given and their rows
// gone (the AUTOINCREMENT high-water mark is 10, past the last row).
void write_version0_journal(const std::filesystem::path& path) {
    RawDb raw(path);
    raw.exec(kSchemaVersion0);
    sqlite3_stmt* st = nullptr;
    ASSERT_EQ(sqlite3_prepare_v2(raw.db,
                                 "INSERT INTO events (seq, device, log, kind, handle, timestamp, "
                                 "record, overflow_count, first_overflow, last_overflow) "
                                 "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                                 -1, &st, nullptr),
              SQLITE_OK);
    auto row = [&](int64_t seq, const char* device, const EventEntry& e) {
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
        sqlite3_bind_int64(st, 1, seq);
        sqlite3_bind_text(st, 2, device, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 3, static_cast<int64_t>(e.log));
        sqlite3_bind_text(st, 4, e.kind.c_str(), -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 5, e.handle);
        sqlite3_bind_int64(st, 6, static_cast<int64_t>(e.timestamp));
        if (!e.record.empty()) {
            sqlite3_bind_blob(st, 7, e.record.data(), static_cast<int>(e.record.size()),
                              SQLITE_TRANSIENT);
        }
        sqlite3_bind_int64(st, 8, static_cast<int64_t>(e.overflow_count));
        sqlite3_bind_int64(st, 9, static_cast<int64_t>(e.first_overflow));
        sqlite3_bind_int64(st, 10, static_cast<int64_t>(e.last_overflow));
        EXPECT_EQ(sqlite3_step(st), SQLITE_DONE) << sqlite3_errmsg(raw.db);
    };
    row(3, "emu0", entry(1, 0, 0x40));
    row(4, "emu0", entry(2, 0, 0x80));
    row(5, "emu1", entry(1, 0, 0x40));
    row(6, "emu0", entry(3, 500, 0x40));
    auto first = overflow_entry(cxl::EventLog::Warning, overflow_page(5, 1000, 2000));
    row(7, "emu0", first);
    auto second = overflow_entry(cxl::EventLog::Warning, overflow_page(3, 1000, 2600));
    second.timestamp = 2600;
    row(8, "emu0", second);
    row(9, "emu0", entry(4, 600, 0x40));
    row(10, "emu0", entry(5, 700, 0x40));
    sqlite3_finalize(st);
    raw.exec(
        "DELETE FROM events WHERE seq >= 9;"
        "INSERT INTO device_totals VALUES ('emu0', 8);"
        "INSERT INTO overflow_episodes VALUES ('emu0', 2, 1000, 8);");
    EXPECT_EQ(raw.integer("SELECT seq FROM sqlite_sequence WHERE name = 'events'"), 10);
    EXPECT_EQ(raw.integer("PRAGMA user_version"), 0);
}

TEST_F(EventJournalTest, AVersion0JournalIsMigratedKeepingEveryRowSequenceNumberAndTotal) {
    const auto path = dir / "events.sqlite";
    write_version0_journal(path);
    {
        RawDb raw(path);
        ASSERT_EQ(raw.integer("SELECT COUNT(*) FROM events"), 6);
    }
    auto j = open();
    ASSERT_NE(j, nullptr);
    EXPECT_EQ(*j->last_seq(), 10u) << "the high-water mark survived the rebuild";
    EXPECT_EQ(*j->dropped(), 7u);
    EXPECT_EQ(*j->overflows("emu0"), 8u);
    auto rows = j->read("emu0", 0, 100);
    ASSERT_TRUE(rows.ok());
    ASSERT_EQ(rows->size(), 5u);
    const std::vector<uint64_t> seqs{3, 4, 6, 7, 8};
    for (size_t i = 0; i < seqs.size(); ++i) {
        EXPECT_EQ((*rows)[i].seq, seqs[i]);
    }
    EXPECT_EQ((*rows)[0].entry.record, record_bytes(1, 0, 0x40));
    EXPECT_EQ((*rows)[1].entry.record, record_bytes(2, 0, 0x80));
    EXPECT_EQ((*rows)[2].entry.record, record_bytes(3, 500, 0x40));
    EXPECT_EQ((*rows)[3].entry.overflow_count, 5u);
    EXPECT_EQ((*rows)[4].entry.overflow_count, 3u);
    EXPECT_EQ((*rows)[4].entry.timestamp, 2600u);
    ASSERT_EQ(j->read("emu1", 0, 100)->size(), 1u);
    EXPECT_EQ((*j->read("emu1", 0, 100))[0].seq, 5u);

    // The new key applies: a re-read stores nothing, another record with the same handle and
    // timestamp is stored, after the high-water mark.
    auto next = j->append("emu0", {entry(1, 0, 0x40), entry(1, 0, 0xc0)});
    ASSERT_TRUE(next.ok()) << next.error().describe();
    ASSERT_EQ(next->size(), 1u);
    EXPECT_GT((*next)[0].seq, 10u);
    EXPECT_EQ((*next)[0].entry.record, record_bytes(1, 0, 0xc0));
    // The episode goes on from its stored count: a re-read adds nothing, growth adds its part.
    EXPECT_EQ(
        j->append("emu0", {overflow_entry(cxl::EventLog::Warning, overflow_page(8, 1000, 2600))})
            ->size(),
        0u);
    auto grown =
        j->append("emu0", {overflow_entry(cxl::EventLog::Warning, overflow_page(10, 1000, 2900))});
    ASSERT_EQ(grown->size(), 1u);
    EXPECT_EQ((*grown)[0].entry.overflow_count, 2u);
    EXPECT_EQ(*j->overflows("emu0"), 10u);
    const uint64_t last = (*grown)[0].seq;
    j.reset();

    RawDb raw(path);
    EXPECT_EQ(raw.integer("PRAGMA user_version"), 1);
    EXPECT_EQ(raw.integer("SELECT COUNT(*) FROM sqlite_master WHERE name = 'events_migrating'"), 0);
    // Opening it again changes nothing.
    auto again = open();
    EXPECT_EQ(again->read("emu0", 0, 100)->size(), 7u);
    EXPECT_EQ(*again->last_seq(), last);
}

TEST_F(EventJournalTest, AMigrationThatCannotBeWrittenLeavesTheOldJournalAsItWas) {
    auto& vfs = testing::FaultyVfs::install();
    const auto path = dir / "events.sqlite";
    write_version0_journal(path);
    vfs.fail(SQLITE_FULL);
    auto failed = EventJournal::open(path.string());
    vfs.heal();
    ASSERT_FALSE(failed.ok());
    EXPECT_EQ(failed.error().code, Errc::IoError);
    {
        RawDb raw(path);
        EXPECT_EQ(raw.integer("PRAGMA user_version"), 0);
        EXPECT_EQ(raw.integer("SELECT COUNT(*) FROM events"), 6);
        EXPECT_EQ(raw.integer("SELECT seq FROM sqlite_sequence WHERE name = 'events'"), 10);
    }
    auto j = open();
    ASSERT_NE(j, nullptr);
    EXPECT_EQ(j->read("emu0", 0, 100)->size(), 5u);
    EXPECT_EQ(*j->last_seq(), 10u);
    RawDb raw(path);
    EXPECT_EQ(raw.integer("PRAGMA user_version"), 1) << "migrated once it could be written";
}

TEST_F(EventJournalTest, AJournalOfANewerSchemaIsRefused) {
    {
        RawDb raw(dir / "events.sqlite");
        raw.exec("PRAGMA user_version = 99;");
    }
    auto j = EventJournal::open((dir / "events.sqlite").string());
    ASSERT_FALSE(j.ok());
    EXPECT_EQ(j.error().code, Errc::IoError);
    EXPECT_NE(j.error().message.find("schema version 99"), std::string::npos) << j.error().message;
}

// Issue 15: since was bound as a signed integer, so 2^63 and above read as negative and
// GetEvents returned every event.
TEST_F(EventJournalTest, SinceAtOrPastTheLargestSequenceNumberReturnsNothing) {
    auto j = open();
    auto a = j->append("emu0", page(1, 3));
    ASSERT_TRUE(a.ok());
    constexpr uint64_t k2To63 = uint64_t{1} << 63;
    for (uint64_t since : {k2To63 - 1, k2To63, k2To63 + 1, std::numeric_limits<uint64_t>::max()}) {
        auto r = j->read("emu0", since, 100);
        ASSERT_TRUE(r.ok()) << r.error().describe();
        EXPECT_TRUE(r->empty()) << "since " << since << " returned " << r->size();
    }
    auto last = j->read("emu0", (*a)[1].seq, 100);
    ASSERT_EQ(last->size(), 1u);
    EXPECT_EQ((*last)[0].seq, (*a)[2].seq);
}

}  // namespace
}  // namespace cxlmgr::daemon
