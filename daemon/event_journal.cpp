#include "daemon/event_journal.hpp"

#include <cstring>
#include <limits>

#include "common/log.hpp"

namespace cxlmgr::daemon {

namespace {

// SQLite INTEGER is signed 64-bit; device timestamps and counts are unsigned. They are stored
// bit for bit, so equality and round trips are exact; order is not (2^63 and above read as
// negative), which read() minds for `since`.
int64_t to_db(uint64_t v) {
    int64_t out;
    std::memcpy(&out, &v, sizeof out);
    return out;
}
uint64_t from_db(int64_t v) {
    uint64_t out;
    std::memcpy(&out, &v, sizeof out);
    return out;
}

// A prepared statement, finalized on every path.
class Statement {
public:
    Statement(sqlite3* db, const char* sql) : db_(db) {
        rc_ = sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr);
    }
    ~Statement() { sqlite3_finalize(stmt_); }
    Statement(const Statement&) = delete;
    Statement& operator=(const Statement&) = delete;

    [[nodiscard]] Status prepared() const {
        if (rc_ != SQLITE_OK) {
            return Error(Errc::Internal,
                         std::string("event journal: bad statement: ") + sqlite3_errmsg(db_));
        }
        return ok_status();
    }
    void bind(int i, int64_t v) { sqlite3_bind_int64(stmt_, i, v); }
    void bind(int i, const std::string& s) {
        sqlite3_bind_text(stmt_, i, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT);
    }
    void bind_blob(int i, const std::vector<uint8_t>& b) {
        if (b.empty()) {
            sqlite3_bind_null(stmt_, i);
        } else {
            sqlite3_bind_blob(stmt_, i, b.data(), static_cast<int>(b.size()), SQLITE_TRANSIENT);
        }
    }
    // SQLITE_ROW or SQLITE_DONE; anything else is an IoError.
    Result<int> step() {
        int rc = sqlite3_step(stmt_);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
            return Error(Errc::IoError, std::string("event journal: ") + sqlite3_errmsg(db_));
        }
        return rc;
    }
    void reset() {
        sqlite3_reset(stmt_);
        sqlite3_clear_bindings(stmt_);
    }
    [[nodiscard]] int64_t integer(int col) const { return sqlite3_column_int64(stmt_, col); }
    [[nodiscard]] std::string text(int col) const {
        const auto* p = sqlite3_column_text(stmt_, col);
        return p ? std::string(reinterpret_cast<const char*>(p)) : std::string();
    }
    [[nodiscard]] std::vector<uint8_t> blob(int col) const {
        const auto* p = static_cast<const uint8_t*>(sqlite3_column_blob(stmt_, col));
        return p ? std::vector<uint8_t>(p, p + sqlite3_column_bytes(stmt_, col))
                 : std::vector<uint8_t>();
    }

private:
    sqlite3* db_;
    sqlite3_stmt* stmt_ = nullptr;
    int rc_;
};

// The journal's schema version (PRAGMA user_version). 0: the first schema, whose events table
// had UNIQUE (device, log, handle, timestamp) inline; open() migrates it. 1: the duplicate key
// is the record's content (docs/DESIGN.md "Events").
constexpr int kSchemaVersion = 1;

// The events table's columns, shared by its creation and by the migration's copy.
// AUTOINCREMENT: a sequence number is never given twice, even when the newest rows were
// deleted (plain rowids would reuse max(rowid)+1). episode_count: an overflow part's episode
// count as the device reported it when the part was stored (0 for records), its identity.
constexpr const char* kEventsColumns = R"sql((
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
  episode_count INTEGER NOT NULL DEFAULT 0
))sql";

// Duplicates: a record is the same record only when all its 128 bytes (handle and timestamp
// included) are; an overflow part only when its episode (first overflow time) and the count the
// device reported for it are, which the episode logic in append() makes unique anyway.
constexpr const char* kSchema = R"sql(
CREATE INDEX IF NOT EXISTS events_by_device ON events (device, seq);
CREATE UNIQUE INDEX IF NOT EXISTS events_same_record ON events (device, log, record)
  WHERE kind <> 'overflow';
CREATE UNIQUE INDEX IF NOT EXISTS events_same_overflow
  ON events (device, log, first_overflow, episode_count) WHERE kind = 'overflow';
CREATE TABLE IF NOT EXISTS device_totals (
  device TEXT PRIMARY KEY,
  overflows INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS journal_totals (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  dropped INTEGER NOT NULL DEFAULT 0
);
INSERT OR IGNORE INTO journal_totals (id, dropped) VALUES (1, 0);
CREATE TABLE IF NOT EXISTS overflow_episodes (
  device TEXT NOT NULL,
  log INTEGER NOT NULL,
  first_overflow INTEGER NOT NULL,
  count INTEGER NOT NULL,
  PRIMARY KEY (device, log, first_overflow)
);
INSERT OR IGNORE INTO overflow_episodes (device, log, first_overflow, count)
  SELECT device, log, first_overflow, SUM(overflow_count) FROM events
  WHERE kind = 'overflow' GROUP BY device, log, first_overflow;
)sql";

// Version 0 to 1: the inline UNIQUE cannot be dropped, so the table is rebuilt. Every row is
// copied with its seq (a plain INSERT: a row the new keys refused would fail the migration, never
// be left out); an overflow part's episode count is the running sum of its episode's parts.
constexpr const char* kMigrateFrom0 = R"sql(
INSERT INTO events_migrating (seq, device, log, kind, handle, timestamp, record, overflow_count,
                              first_overflow, last_overflow, episode_count)
  SELECT seq, device, log, kind, handle, timestamp, record, overflow_count, first_overflow,
         last_overflow,
         CASE WHEN kind = 'overflow'
              THEN SUM(overflow_count) OVER (PARTITION BY device, log, kind, first_overflow
                                             ORDER BY seq)
              ELSE 0 END
  FROM events;
DROP TABLE events;
ALTER TABLE events_migrating RENAME TO events;
)sql";

}  // namespace

EventEntry record_entry(cxl::EventLog log, const cxl::EventRecord& record) {
    EventEntry e;
    e.log = log;
    e.kind = std::string(cxl::event_record_kind_name(record.kind));
    e.handle = record.header.handle;
    e.timestamp = record.header.timestamp;
    e.record.assign(record.raw.begin(), record.raw.end());
    return e;
}

EventEntry overflow_entry(cxl::EventLog log, const cxl::EventRecordsPage& page) {
    EventEntry e;
    e.log = log;
    e.kind = std::string(kOverflowKind);
    // The first overflow's time identifies this overflow episode: the device keeps it until the
    // log is cleared, so a re-read after a crash finds the same key.
    e.timestamp = page.first_overflow_timestamp;
    e.overflow_count = page.overflow_count;
    e.first_overflow = page.first_overflow_timestamp;
    e.last_overflow = page.last_overflow_timestamp;
    return e;
}

Result<nlohmann::json> event_fields(const EventEntry& entry) {
    if (entry.kind == kOverflowKind) {
        return nlohmann::json{{"count", entry.overflow_count},
                              {"first_overflow_timestamp", entry.first_overflow},
                              {"last_overflow_timestamp", entry.last_overflow}};
    }
    CXLMGR_ASSIGN(auto record, cxl::decode_event_record(entry.record));
    return cxl::event_record_to_json(record);
}

Result<std::shared_ptr<EventJournal>> EventJournal::open(const std::string& path,
                                                         JournalLimits limits) {
    sqlite3* db = nullptr;
    int rc =
        sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
    if (rc != SQLITE_OK) {
        std::string why = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
        sqlite3_close(db);
        return Error(Errc::IoError, "cannot open the event journal " + path + ": " + why);
    }
    auto journal = std::make_shared<EventJournal>(Private{}, db, limits);
    // WAL: readers (GetEvents) do not wait for the writer. synchronous=FULL: in WAL mode NORMAL
    // may lose the last commits on power loss, and a lost commit would be a lost event since the
    // device copy is cleared right after.
    for (const char* sql : {"PRAGMA journal_mode=WAL;", "PRAGMA synchronous=FULL;"}) {
        if (auto s = journal->exec(sql); !s.ok()) {
            return s.error().with_context(path);
        }
    }
    if (auto s = journal->prepare_schema(path); !s.ok()) {
        return s.error().with_context(path);
    }
    CXLMGR_ASSIGN(journal->count_, journal->scalar("SELECT COUNT(*) FROM events", nullptr));
    return journal;
}

// One transaction: a journal is either at the current version with every row, or untouched.
Status EventJournal::prepare_schema(const std::string& path) {
    CXLMGR_CHECK(exec("BEGIN IMMEDIATE;"));
    Status s = migrate(path);
    if (s.ok()) {
        s = exec("COMMIT;");
    }
    if (!s.ok()) {
        (void)exec("ROLLBACK;");  // the error being returned is the one that matters
    }
    return s;
}

Status EventJournal::migrate(const std::string& path) {
    CXLMGR_ASSIGN(const uint64_t version, scalar("PRAGMA user_version", nullptr));
    if (version > static_cast<uint64_t>(kSchemaVersion)) {
        return Error(Errc::IoError, "event journal: schema version " + std::to_string(version) +
                                        " is newer than this daemon's (" +
                                        std::to_string(kSchemaVersion) + ")");
    }
    if (version == static_cast<uint64_t>(kSchemaVersion)) {
        return exec(kSchema);  // tables a journal may lack (overflow_episodes) come back
    }
    CXLMGR_ASSIGN(const uint64_t tables,
                  scalar("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND "
                         "name = 'events'",
                         nullptr));
    if (tables == 0) {
        CXLMGR_CHECK(exec(("CREATE TABLE events " + std::string(kEventsColumns) + ";").c_str()));
    } else {
        // The AUTOINCREMENT high-water mark goes with the table it belongs to: kept by hand, so
        // a number given before (its row since trimmed) is never given again.
        CXLMGR_ASSIGN(const uint64_t high_water,
                      scalar("SELECT seq FROM sqlite_sequence WHERE name = 'events'", nullptr));
        CXLMGR_ASSIGN(const uint64_t rows, scalar("SELECT COUNT(*) FROM events", nullptr));
        CXLMGR_CHECK(
            exec(("CREATE TABLE events_migrating " + std::string(kEventsColumns) + ";").c_str()));
        CXLMGR_CHECK(exec(kMigrateFrom0));
        Statement mark(db_, "UPDATE sqlite_sequence SET seq = MAX(seq, ?) WHERE name = 'events'");
        CXLMGR_CHECK(mark.prepared());
        mark.bind(1, to_db(high_water));
        CXLMGR_CHECK(mark.step());
        if (sqlite3_changes(db_) == 0 && high_water != 0) {
            Statement first(db_, "INSERT INTO sqlite_sequence (name, seq) VALUES ('events', ?)");
            CXLMGR_CHECK(first.prepared());
            first.bind(1, to_db(high_water));
            CXLMGR_CHECK(first.step());
        }
        log::info("event journal ", path, ": migrating schema ", version, " to ", kSchemaVersion,
                  " (", rows, " events, sequence numbers continue after ", high_water, ")");
    }
    CXLMGR_CHECK(exec(kSchema));
    return exec(("PRAGMA user_version = " + std::to_string(kSchemaVersion) + ";").c_str());
}

EventJournal::EventJournal(Private, sqlite3* db, JournalLimits limits) : db_(db), limits_(limits) {}

EventJournal::~EventJournal() {
    sqlite3_close(db_);
}

Status EventJournal::exec(const char* sql) {
    char* message = nullptr;
    if (sqlite3_exec(db_, sql, nullptr, nullptr, &message) != SQLITE_OK) {
        std::string why = message ? message : sqlite3_errmsg(db_);
        sqlite3_free(message);
        return Error(Errc::IoError, "event journal: " + why);
    }
    return ok_status();
}

Result<uint64_t> EventJournal::scalar(const char* sql, const std::string* text) {
    Statement st(db_, sql);
    CXLMGR_CHECK(st.prepared());
    if (text) {
        st.bind(1, *text);
    }
    CXLMGR_ASSIGN(int rc, st.step());
    return rc == SQLITE_ROW ? from_db(st.integer(0)) : 0;
}

Result<std::vector<StoredEvent>> EventJournal::append(const std::string& device,
                                                      const std::vector<EventEntry>& entries) {
    std::lock_guard lock(mutex_);
    CXLMGR_CHECK(exec("BEGIN IMMEDIATE;"));
    auto written = write(device, entries);
    Status committed = written.ok() ? exec("COMMIT;") : Status(written.error());
    if (!committed.ok()) {
        // A failed COMMIT may have rolled back already (SQLITE_FULL, I/O errors): then this
        // ROLLBACK fails, harmlessly. Either way nothing of the write is left, and count_ was
        // not touched.
        (void)exec("ROLLBACK;");  // the error being returned is the one that matters
        return committed.error();
    }
    count_ = written->count;
    return std::move(written->stored);
}

// Inside append()'s transaction; changes nothing but the database, so a rollback undoes all.
Result<EventJournal::Written> EventJournal::write(const std::string& device,
                                                  const std::vector<EventEntry>& entries) {
    Statement insert(db_,
                     "INSERT OR IGNORE INTO events (device, log, kind, handle, timestamp, record, "
                     "overflow_count, first_overflow, last_overflow, episode_count) "
                     "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    Statement total(
        db_,
        "INSERT INTO device_totals (device, overflows) VALUES (?, ?) "
        "ON CONFLICT (device) DO UPDATE SET overflows = overflows + excluded.overflows");
    Statement episode(db_,
                      "SELECT count FROM overflow_episodes WHERE device = ? AND log = ? AND "
                      "first_overflow = ?");
    Statement note_episode(db_,
                           "INSERT INTO overflow_episodes (device, log, first_overflow, count) "
                           "VALUES (?, ?, ?, ?) ON CONFLICT (device, log, first_overflow) DO "
                           "UPDATE SET count = excluded.count");
    for (auto* st : {&insert, &total, &episode, &note_episode}) {
        CXLMGR_CHECK(st->prepared());
    }
    Written out;
    for (const auto& reported : entries) {
        EventEntry e = reported;
        uint64_t episode_count = 0;
        if (e.kind == kOverflowKind) {
            // The device counts an overflow episode up until it is cleared, and it may be read
            // several times meanwhile (a re-read after a crash, the collector's check before
            // its clear): only the growth since the last reading stored is new.
            episode.reset();
            episode.bind(1, device);
            episode.bind(2, static_cast<int64_t>(e.log));
            episode.bind(3, to_db(e.first_overflow));
            CXLMGR_ASSIGN(const int rc, episode.step());
            const uint64_t known = rc == SQLITE_ROW ? from_db(episode.integer(0)) : 0;
            if (e.overflow_count <= known) {
                continue;
            }
            episode_count = e.overflow_count;
            e.overflow_count -= known;
            if (known != 0) {
                e.timestamp = e.last_overflow;  // a later part of a stored episode
            }
        }
        insert.reset();
        insert.bind(1, device);
        insert.bind(2, static_cast<int64_t>(e.log));
        insert.bind(3, e.kind);
        insert.bind(4, e.handle);
        insert.bind(5, to_db(e.timestamp));
        insert.bind_blob(6, e.record);
        insert.bind(7, to_db(e.overflow_count));
        insert.bind(8, to_db(e.first_overflow));
        insert.bind(9, to_db(e.last_overflow));
        insert.bind(10, to_db(episode_count));
        CXLMGR_CHECK(insert.step());
        if (sqlite3_changes(db_) == 0) {
            continue;  // the same bytes, stored before a crash that came before the clear
        }
        out.stored.push_back({from_db(sqlite3_last_insert_rowid(db_)), e});
        if (e.kind == kOverflowKind) {
            note_episode.reset();
            note_episode.bind(1, device);
            note_episode.bind(2, static_cast<int64_t>(e.log));
            note_episode.bind(3, to_db(e.first_overflow));
            note_episode.bind(4, to_db(episode_count));
            CXLMGR_CHECK(note_episode.step());
        }
        if (e.overflow_count != 0) {
            total.reset();
            total.bind(1, device);
            total.bind(2, to_db(e.overflow_count));
            CXLMGR_CHECK(total.step());
        }
    }
    CXLMGR_ASSIGN(out.count, trim(count_ + out.stored.size()));
    return out;
}

Result<uint64_t> EventJournal::trim(uint64_t count) {
    if (count <= limits_.max_events) {
        return count;
    }
    const uint64_t excess = count - limits_.max_events;
    Statement del(db_,
                  "DELETE FROM events WHERE seq IN (SELECT seq FROM events ORDER BY seq LIMIT ?)");
    Statement note(db_, "UPDATE journal_totals SET dropped = dropped + ? WHERE id = 1");
    CXLMGR_CHECK(del.prepared());
    CXLMGR_CHECK(note.prepared());
    del.bind(1, to_db(excess));
    CXLMGR_CHECK(del.step());
    note.bind(1, to_db(excess));
    CXLMGR_CHECK(note.step());
    return limits_.max_events;
}

Result<std::vector<StoredEvent>> EventJournal::read(const std::string& device, uint64_t since,
                                                    uint32_t max) {
    // Sequence numbers are SQLite rowids, at most 2^63-1: nothing comes after a larger since
    // (bound as signed, it would read as negative and match everything).
    if (since >= static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        return std::vector<StoredEvent>{};
    }
    std::lock_guard lock(mutex_);
    Statement st(db_,
                 "SELECT seq, log, kind, handle, timestamp, record, overflow_count, "
                 "first_overflow, last_overflow FROM events WHERE device = ? AND seq > ? "
                 "ORDER BY seq LIMIT ?");
    CXLMGR_CHECK(st.prepared());
    st.bind(1, device);
    st.bind(2, static_cast<int64_t>(since));
    st.bind(3, static_cast<int64_t>(max));
    std::vector<StoredEvent> out;
    while (true) {
        CXLMGR_ASSIGN(int rc, st.step());
        if (rc == SQLITE_DONE) {
            break;
        }
        StoredEvent ev;
        ev.seq = from_db(st.integer(0));
        ev.entry.log = static_cast<cxl::EventLog>(st.integer(1));
        ev.entry.kind = st.text(2);
        ev.entry.handle = static_cast<uint16_t>(st.integer(3));
        ev.entry.timestamp = from_db(st.integer(4));
        ev.entry.record = st.blob(5);
        ev.entry.overflow_count = from_db(st.integer(6));
        ev.entry.first_overflow = from_db(st.integer(7));
        ev.entry.last_overflow = from_db(st.integer(8));
        out.push_back(std::move(ev));
    }
    return out;
}

Result<uint64_t> EventJournal::overflows(const std::string& device) {
    std::lock_guard lock(mutex_);
    return scalar("SELECT overflows FROM device_totals WHERE device = ?", &device);
}

Result<uint64_t> EventJournal::dropped() {
    std::lock_guard lock(mutex_);
    return scalar("SELECT dropped FROM journal_totals WHERE id = 1", nullptr);
}

Result<uint64_t> EventJournal::last_seq() {
    std::lock_guard lock(mutex_);
    return scalar("SELECT seq FROM sqlite_sequence WHERE name = 'events'", nullptr);
}

}  // namespace cxlmgr::daemon
