#include "daemon/event_journal.hpp"

#include <cstring>

namespace cxlmgr::daemon {

namespace {

// SQLite INTEGER is signed 64-bit; device timestamps and counts are unsigned. They are stored
// bit for bit, so equality (the duplicate check) and round trips are exact.
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

// AUTOINCREMENT: a sequence number is never given twice, even when the newest rows were
// deleted (plain rowids would reuse max(rowid)+1).
constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS events (
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
CREATE INDEX IF NOT EXISTS events_by_device ON events (device, seq);
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
    for (const char* sql : {"PRAGMA journal_mode=WAL;", "PRAGMA synchronous=FULL;", kSchema}) {
        if (auto s = journal->exec(sql); !s.ok()) {
            return s.error().with_context(path);
        }
    }
    CXLMGR_ASSIGN(journal->count_, journal->scalar("SELECT COUNT(*) FROM events", nullptr));
    return journal;
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
    auto rollback = [this](Error e) {
        (void)exec("ROLLBACK;");  // the error being returned is the one that matters
        return e;
    };
    Statement insert(db_,
                     "INSERT OR IGNORE INTO events (device, log, kind, handle, timestamp, record, "
                     "overflow_count, first_overflow, last_overflow) "
                     "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)");
    Statement total(
        db_,
        "INSERT INTO device_totals (device, overflows) VALUES (?, ?) "
        "ON CONFLICT (device) DO UPDATE SET overflows = overflows + excluded.overflows");
    if (auto s = insert.prepared(); !s.ok()) {
        return rollback(s.error());
    }
    if (auto s = total.prepared(); !s.ok()) {
        return rollback(s.error());
    }
    Statement episode(db_,
                      "SELECT count FROM overflow_episodes WHERE device = ? AND log = ? AND "
                      "first_overflow = ?");
    Statement note_episode(db_,
                           "INSERT INTO overflow_episodes (device, log, first_overflow, count) "
                           "VALUES (?, ?, ?, ?) ON CONFLICT (device, log, first_overflow) DO "
                           "UPDATE SET count = excluded.count");
    for (auto* st : {&episode, &note_episode}) {
        if (auto s = st->prepared(); !s.ok()) {
            return rollback(s.error());
        }
    }
    std::vector<StoredEvent> stored;
    for (const auto& reported : entries) {
        EventEntry e = reported;
        if (e.kind == kOverflowKind) {
            // The device counts an overflow episode up until it is cleared, and it may be read
            // several times meanwhile (a re-read after a crash, the collector's check before
            // its clear): only the growth since the last reading stored is new.
            episode.reset();
            episode.bind(1, device);
            episode.bind(2, static_cast<int64_t>(e.log));
            episode.bind(3, to_db(e.first_overflow));
            auto rc = episode.step();
            if (!rc.ok()) {
                return rollback(rc.error());
            }
            const uint64_t known = *rc == SQLITE_ROW ? from_db(episode.integer(0)) : 0;
            if (e.overflow_count <= known) {
                continue;
            }
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
        if (auto rc = insert.step(); !rc.ok()) {
            return rollback(rc.error());
        }
        if (sqlite3_changes(db_) == 0) {
            continue;  // stored before a crash that came before the clear
        }
        stored.push_back({from_db(sqlite3_last_insert_rowid(db_)), e});
        if (e.kind == kOverflowKind) {
            note_episode.reset();
            note_episode.bind(1, device);
            note_episode.bind(2, static_cast<int64_t>(e.log));
            note_episode.bind(3, to_db(e.first_overflow));
            note_episode.bind(4, to_db(reported.overflow_count));
            if (auto rc = note_episode.step(); !rc.ok()) {
                return rollback(rc.error());
            }
        }
        if (e.overflow_count != 0) {
            total.reset();
            total.bind(1, device);
            total.bind(2, to_db(e.overflow_count));
            if (auto rc = total.step(); !rc.ok()) {
                return rollback(rc.error());
            }
        }
    }
    count_ += stored.size();
    if (auto s = trim(); !s.ok()) {
        count_ -= stored.size();
        return rollback(s.error());
    }
    if (auto s = exec("COMMIT;"); !s.ok()) {
        return rollback(s.error());
    }
    return stored;
}

Status EventJournal::trim() {
    if (count_ <= limits_.max_events) {
        return ok_status();
    }
    const uint64_t excess = count_ - limits_.max_events;
    Statement del(db_,
                  "DELETE FROM events WHERE seq IN (SELECT seq FROM events ORDER BY seq LIMIT ?)");
    Statement note(db_, "UPDATE journal_totals SET dropped = dropped + ? WHERE id = 1");
    CXLMGR_CHECK(del.prepared());
    CXLMGR_CHECK(note.prepared());
    del.bind(1, to_db(excess));
    CXLMGR_CHECK(del.step());
    note.bind(1, to_db(excess));
    CXLMGR_CHECK(note.step());
    count_ -= excess;
    return ok_status();
}

Result<std::vector<StoredEvent>> EventJournal::read(const std::string& device, uint64_t since,
                                                    uint32_t max) {
    std::lock_guard lock(mutex_);
    Statement st(db_,
                 "SELECT seq, log, kind, handle, timestamp, record, overflow_count, "
                 "first_overflow, last_overflow FROM events WHERE device = ? AND seq > ? "
                 "ORDER BY seq LIMIT ?");
    CXLMGR_CHECK(st.prepared());
    st.bind(1, device);
    st.bind(2, to_db(since));
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
