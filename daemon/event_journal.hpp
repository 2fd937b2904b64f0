// The durable event journal: every event record read from a device is written here, and made
// durable, before the collector clears it on the device (nothing is lost), and it gets a
// daemon-wide sequence number that only grows, across restarts too. GetEvents answers from it.
//
// Storage is SQLite (one file under the state directory): it gives atomic, durable transactions
// (WAL with synchronous=FULL: a commit that returned survives a crash or power loss) and
// AUTOINCREMENT sequence numbers that are never reused, even after the oldest rows are dropped,
// which a hand-written append-only file would have to reimplement (torn writes, fsync ordering,
// recovery).
//
// A record re-read after a crash between "stored" and "cleared" is recognised by its content
// (device, log and all 128 record bytes, handle and timestamp included) and not stored twice;
// records that differ in any byte are all stored, whatever their handle and timestamp (a device
// whose handles restart and whose clock reads 0 repeats both). An overflow is reported by the
// device as a running count per episode (first overflow time) until the log is cleared: the
// journal keeps each episode's count and stores only its growth, as an overflow event of its
// own, so a reading repeated or re-read is never counted twice. The journal is bounded: past
// `max_events` the oldest events (of any device) are dropped first, and counted; nothing else
// ever deletes an event.
//
// Failures: a write is one transaction, trimming included. A write that fails at any step, the
// COMMIT included (a full disk), leaves the rows, the totals and the in-memory count exactly as
// they were. A journal of an older schema (PRAGMA user_version) is migrated when opened, in one
// transaction that keeps every row, its sequence number and the AUTOINCREMENT high-water mark.
//
// Threading: every method may be called from any thread (one connection behind a mutex). Calls
// do file I/O and may block: never call them on the D-Bus thread.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "cxl/commands/events.hpp"

namespace cxlmgr::daemon {

inline constexpr std::string_view kOverflowKind = "overflow";

// One event as the device reported it.
struct EventEntry {
    cxl::EventLog log = cxl::EventLog::Informational;
    std::string kind;             // cxl::event_record_kind_name(), or "overflow"
    uint16_t handle = 0;          // 0 for an overflow
    uint64_t timestamp = 0;       // device clock, ns; the first overflow's for an overflow
    std::vector<uint8_t> record;  // the 128 record bytes; empty for an overflow
    uint64_t overflow_count = 0;
    uint64_t first_overflow = 0;
    uint64_t last_overflow = 0;
};

// The entry for one decoded record / for the overflow state a Get Event Records page reported.
EventEntry record_entry(cxl::EventLog log, const cxl::EventRecord& record);
EventEntry overflow_entry(cxl::EventLog log, const cxl::EventRecordsPage& page);

// The `fields` of the Event signal: event_record_to_json() of the record, or for an overflow
// count, first_overflow_timestamp, last_overflow_timestamp. Decoded from the stored bytes, so
// the signal and GetEvents show the same types.
Result<nlohmann::json> event_fields(const EventEntry& entry);

struct StoredEvent {
    uint64_t seq = 0;
    EventEntry entry;
};

struct JournalLimits {
    uint64_t max_events = 100000;
};

class EventJournal {
    struct Private {};

public:
    // Creates the file (and its schema) if needed, migrates an older schema. IoError when it
    // cannot be opened or migrated (then it is left as it was).
    static Result<std::shared_ptr<EventJournal>> open(const std::string& path,
                                                      JournalLimits limits = {});
    EventJournal(Private, sqlite3* db, JournalLimits limits);
    ~EventJournal();
    EventJournal(const EventJournal&) = delete;
    EventJournal& operator=(const EventJournal&) = delete;

    // Stores `entries` of `device` in one durable transaction, in the order given, skipping
    // those stored already; returns the ones newly stored with their sequence numbers. An
    // overflow entry carries the episode's count as the device reports it; what is stored (and
    // returned) is the growth since the episode was last stored, keyed by the last overflow time
    // when it is not the episode's first part. Also adds that growth to the device's Overflows
    // total. Returns only once committed.
    Result<std::vector<StoredEvent>> append(const std::string& device,
                                            const std::vector<EventEntry>& entries);
    // Stored events of `device` with seq > since, oldest first, at most max. Nothing when since
    // is at least 2^63-1, the largest sequence number there can be.
    Result<std::vector<StoredEvent>> read(const std::string& device, uint64_t since, uint32_t max);
    // Overflow records the device reported so far (kept when the events themselves are dropped).
    Result<uint64_t> overflows(const std::string& device);
    // Events dropped to keep the bound, since the journal was created.
    Result<uint64_t> dropped();
    // The highest sequence number ever given (0 for a new journal).
    Result<uint64_t> last_seq();

private:
    // What a write leaves once committed: the events newly stored, the rows then in events.
    struct Written {
        std::vector<StoredEvent> stored;
        uint64_t count = 0;
    };

    Status exec(const char* sql);
    Result<uint64_t> scalar(const char* sql, const std::string* text);
    Status prepare_schema(const std::string& path);
    Status migrate(const std::string& path);
    // append()'s work inside its transaction; touches nothing but the database.
    Result<Written> write(const std::string& device, const std::vector<EventEntry>& entries);
    // Drops the oldest rows past the bound when the table would hold `count`; returns the count
    // left.
    Result<uint64_t> trim(uint64_t count);

    std::mutex mutex_;
    sqlite3* db_;
    JournalLimits limits_;
    uint64_t count_ = 0;  // rows in events, as last committed
};

}  // namespace cxlmgr::daemon
