#include "harness/full_journal.hpp"

#include <array>
#include <stdexcept>
#include <vector>

#include "cxl/event_record.hpp"
#include "cxl/uuid.hpp"
#include "daemon/event_journal.hpp"

namespace cxlmgr::testing {
namespace {

daemon::EventEntry entry(uint64_t i) {
    const FullJournalMarks marks = full_journal_marks(i);
    std::array<uint8_t, cxl::kEventRecordSize> r{};
    const auto uuid = cxl::known_uuid(cxl::uuids::kGeneralMedia).bytes;
    std::copy(uuid.begin(), uuid.end(), r.begin());
    r[0x10] = cxl::kEventRecordSize;
    // Header handle and timestamp, General Media DPA (CXL r3.1 8.2.9.2.1).
    auto put = [&r](size_t offset, uint64_t v, size_t n) {
        for (size_t b = 0; b < n; ++b) {
            r[offset + b] = static_cast<uint8_t>(v >> (8 * b));
        }
    };
    put(0x14, marks.handle, 2);
    put(0x18, marks.timestamp, 8);
    put(0x30, marks.dpa, 8);
    auto record = cxl::decode_event_record(r);
    if (!record.ok()) {
        throw std::runtime_error("full journal: " + record.error().describe());
    }
    return daemon::record_entry(cxl::EventLog::Informational, *record);
}

}  // namespace

FullJournalMarks full_journal_marks(uint64_t i) {
    return {i % 65536, 1'000'000'000ull + i * 1000, i * 64};
}

void write_full_journal(const std::filesystem::path& state_dir, const std::string& device,
                        uint64_t count) {
    std::filesystem::create_directories(state_dir);
    auto journal = daemon::EventJournal::open((state_dir / "events.sqlite").string());
    if (!journal.ok()) {
        throw std::runtime_error("full journal: " + journal.error().describe());
    }
    constexpr uint64_t kBatch = 5000;
    for (uint64_t first = 0; first < count; first += kBatch) {
        std::vector<daemon::EventEntry> batch;
        for (uint64_t i = first; i < std::min(count, first + kBatch); ++i) {
            batch.push_back(entry(i));
        }
        auto stored = (*journal)->append(device, batch);
        if (!stored.ok()) {
            throw std::runtime_error("full journal: " + stored.error().describe());
        }
    }
}

}  // namespace cxlmgr::testing
