// A full event journal for whole-daemon tests and benchmarks of GetEvents (issue 15): `count`
// general-media records of one device, written with the daemon's own EventJournal into the file
// cxlmgrd opens in its --state-dir (daemon/event_hub.cpp), before cxlmgrd starts. Every record
// differs (handle, timestamp, DPA), so a reader can tell that it got each one once, in order.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

namespace cxlmgr::testing {

// What tells event i (0-based; its seq is i + 1 in a fresh journal) apart.
struct FullJournalMarks {
    uint64_t handle;
    uint64_t timestamp;
    uint64_t dpa;
};
FullJournalMarks full_journal_marks(uint64_t i);

// Throws std::runtime_error when the journal cannot be written.
void write_full_journal(const std::filesystem::path& state_dir, const std::string& device,
                        uint64_t count);

}  // namespace cxlmgr::testing
