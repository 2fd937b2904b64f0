// Media and poison management and sanitize: Get Poison List, Inject Poison, Clear Poison, Get
// Scan Media Capabilities, Scan Media, Get Scan Media Results, Sanitize and Secure Erase
// (docs/PROTOCOL.md "Poison and scan media", "Sanitize and Secure Erase"; the model's choices in
// docs/EMULATED-DEVICE.md "Health, poison, scan media and sanitize").
#include <algorithm>
#include <iterator>

#include "emu/command_set.hpp"

namespace cxlmgr::emu {
namespace {

constexpr uint64_t kGranule = 64;
constexpr size_t kListHeaderSize = 0x20;
constexpr size_t kRecordSize = 0x10;
constexpr uint8_t kSourceInjected = 3;
constexpr uint8_t kListMore = 1u << 0;
constexpr uint8_t kListOverflow = 1u << 1;
constexpr uint8_t kListScanInProgress = 1u << 2;
constexpr uint8_t kScanMore = 1u << 0;
constexpr uint8_t kScanStopped = 1u << 1;
constexpr uint32_t kSecurityLocked = 1u << 2;

bool overlaps(const PoisonRecord& r, uint64_t dpa, uint64_t length) {
    return r.dpa < dpa + length && dpa < r.dpa + r.length;
}

std::vector<PoisonRecord> within(const std::vector<PoisonRecord>& records, uint64_t dpa,
                                 uint64_t length) {
    std::vector<PoisonRecord> out;
    if (length == 0) {
        return out;
    }
    std::copy_if(records.begin(), records.end(), std::back_inserter(out),
                 [&](const PoisonRecord& r) { return overlaps(r, dpa, length); });
    return out;
}

// A DPA range from the 16-byte header the list and scan commands share: DPA with bits [5:0]
// reserved, then the length in 64-byte units.
struct Range {
    uint64_t dpa = 0;
    uint64_t length = 0;
};

std::optional<ReturnCode> read_range(std::span<const uint8_t> in, uint64_t capacity, Range& r) {
    r.dpa = load_le(in, 0, 8) & ~(kGranule - 1);
    const uint64_t units = load_le(in, 8, 8);
    if (units == 0 || units > capacity / kGranule) {
        return ReturnCode::InvalidInput;
    }
    r.length = units * kGranule;
    if (r.dpa >= capacity || r.length > capacity - r.dpa) {
        return ReturnCode::InvalidPhysicalAddress;
    }
    return std::nullopt;
}

// Inject and Clear Poison name one granule of the media: aligned, and on the device.
std::optional<ReturnCode> granule_address(std::span<const uint8_t> in, uint64_t capacity,
                                          uint64_t& dpa) {
    dpa = load_le(in, 0, 8);
    if (dpa % kGranule != 0) {
        return ReturnCode::InvalidInput;
    }
    if (dpa >= capacity) {
        return ReturnCode::InvalidPhysicalAddress;
    }
    return std::nullopt;
}

}  // namespace

bool CommandSet::media_disabled() const {
    return background_.running &&
           (background_.opcode == opcode::kSanitize || background_.opcode == opcode::kSecureErase);
}

void CommandSet::add_poison(uint64_t dpa, uint8_t source, TimePoint now) {
    auto& list = media_.poison;
    if (std::any_of(list.begin(), list.end(),
                    [dpa](const PoisonRecord& r) { return overlaps(r, dpa, kGranule); })) {
        return;
    }
    if (list.size() >= context_.description.poison_list_max) {
        // The poison is there, but the list can no longer name it.
        if (!media_.overflow_time) {
            media_.overflow_time = device_time_ns(now);
        }
        return;
    }
    auto at = std::lower_bound(list.begin(), list.end(), dpa,
                               [](const PoisonRecord& r, uint64_t d) { return r.dpa < d; });
    list.insert(at, PoisonRecord{dpa, kGranule, source});
    media_.poison_cursor.reset();
}

std::vector<uint8_t> CommandSet::encode_records(const std::vector<PoisonRecord>& records,
                                                size_t first, size_t count, size_t offset,
                                                size_t total) const {
    std::vector<uint8_t> out(total, 0);
    for (size_t i = 0; i < count; ++i) {
        const PoisonRecord& r = records[first + i];
        const size_t at = offset + i * kRecordSize;
        store_le(out, at, r.dpa | r.source, 8);
        store_le(out, at + 8, r.length / kGranule, 4);
    }
    return out;
}

// The records overlapping the asked range, as many as one payload holds. When more remain the
// device keeps its place: the same request again returns the next ones; any other request
// starts over.
CommandOutcome CommandSet::get_poison_list(std::span<const uint8_t> in, TimePoint) {
    if (media_disabled()) {
        return {ReturnCode::MediaDisabled, {}, {}};
    }
    Range range;
    if (auto rc = read_range(in, context_.description.total_capacity(), range)) {
        return {*rc, {}, {}};
    }
    const auto records = within(media_.poison, range.dpa, range.length);
    auto& cursor = media_.poison_cursor;
    size_t first = 0;
    if (cursor && cursor->dpa == range.dpa && cursor->length == range.length) {
        first = std::min(cursor->next, records.size());
    }
    const size_t room = (context_.description.payload_size - kListHeaderSize) / kRecordSize;
    const size_t count = std::min(room, records.size() - first);
    const bool more = first + count < records.size();
    auto out = encode_records(records, first, count, kListHeaderSize,
                              kListHeaderSize + count * kRecordSize);
    uint8_t flags = more ? kListMore : 0;
    if (media_.overflow_time) {
        flags |= kListOverflow;
        store_le(out, 2, *media_.overflow_time, 8);
    }
    if (media_.in_flight == opcode::kScanMedia) {
        flags |= kListScanInProgress;
    }
    out[0] = flags;
    store_le(out, 0x0A, count, 2);
    if (more) {
        cursor = ListCursor{range.dpa, range.length, first + count};
    } else {
        cursor.reset();
    }
    return {ReturnCode::Success, std::move(out), {}};
}

CommandOutcome CommandSet::inject_poison(std::span<const uint8_t> in, TimePoint now) {
    if (media_disabled()) {
        return {ReturnCode::MediaDisabled, {}, {}};
    }
    uint64_t dpa = 0;
    if (auto rc = granule_address(in, context_.description.total_capacity(), dpa)) {
        return {*rc, {}, {}};
    }
    add_poison(dpa, kSourceInjected, now);
    return {ReturnCode::Success, {}, {}};
}

// Writing the granule clears its poison: a longer record loses that granule (and may split in
// two). The write data goes to the media, which this model does not keep.
CommandOutcome CommandSet::clear_poison(std::span<const uint8_t> in, TimePoint) {
    if (media_disabled()) {
        return {ReturnCode::MediaDisabled, {}, {}};
    }
    uint64_t dpa = 0;
    if (auto rc = granule_address(in, context_.description.total_capacity(), dpa)) {
        return {*rc, {}, {}};
    }
    std::vector<PoisonRecord> kept;
    for (const auto& r : media_.poison) {
        if (!overlaps(r, dpa, kGranule)) {
            kept.push_back(r);
            continue;
        }
        if (r.dpa < dpa) {
            kept.push_back({r.dpa, dpa - r.dpa, r.source});
        }
        if (r.dpa + r.length > dpa + kGranule) {
            kept.push_back({dpa + kGranule, r.dpa + r.length - dpa - kGranule, r.source});
        }
    }
    if (kept.size() > context_.description.poison_list_max) {
        kept.resize(context_.description.poison_list_max);
    }
    media_.poison = std::move(kept);
    media_.poison_cursor.reset();
    return {ReturnCode::Success, {}, {}};
}

CommandOutcome CommandSet::get_scan_media_capabilities(std::span<const uint8_t> in, TimePoint) {
    if (media_disabled()) {
        return {ReturnCode::MediaDisabled, {}, {}};
    }
    Range range;
    if (auto rc = read_range(in, context_.description.total_capacity(), range)) {
        return {*rc, {}, {}};
    }
    std::vector<uint8_t> out(4, 0);
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(timing_.scan_media_fixed);
    store_le(out, 0, static_cast<uint64_t>(std::min<int64_t>(ms.count(), UINT32_MAX)), 4);
    return {ReturnCode::Success, std::move(out), {}};
}

CommandOutcome CommandSet::scan_media(std::span<const uint8_t> in, TimePoint) {
    if (media_disabled()) {
        return {ReturnCode::MediaDisabled, {}, {}};
    }
    Range range;
    if (auto rc = read_range(in, context_.description.total_capacity(), range)) {
        return {*rc, {}, {}};
    }
    // Flags bit 0 (no event log) needs no handling: this device logs no scan events.
    media_.in_flight = opcode::kScanMedia;
    media_.scan_dpa = range.dpa;
    media_.scan_length = range.length;
    media_.scan_done = false;
    media_.scan_results.clear();
    media_.scan_results_next = 0;
    return {ReturnCode::BackgroundStarted, {}, BackgroundWork{timing_.scan_media_fixed}};
}

// The results of the last scan, as many records as one payload holds; the next call returns
// the rest. While a scan runs there is nothing to report yet (Busy).
CommandOutcome CommandSet::get_scan_media_results(std::span<const uint8_t>, TimePoint) {
    if (media_disabled()) {
        return {ReturnCode::MediaDisabled, {}, {}};
    }
    if (media_.in_flight == opcode::kScanMedia) {
        return {ReturnCode::Busy, {}, {}};
    }
    const auto& records = media_.scan_results;
    const size_t first = std::min(media_.scan_results_next, records.size());
    const size_t room = (context_.description.payload_size - kListHeaderSize) / kRecordSize;
    const size_t count = std::min(room, records.size() - first);
    const bool more = first + count < records.size();
    auto out = encode_records(records, first, count, kListHeaderSize,
                              kListHeaderSize + count * kRecordSize);
    if (media_.scan_stopped) {
        store_le(out, 0, media_.scan_restart_dpa, 8);
        store_le(out, 8, media_.scan_restart_length / kGranule, 8);
    }
    out[0x10] =
        static_cast<uint8_t>((more ? kScanMore : 0) | (media_.scan_stopped ? kScanStopped : 0));
    store_le(out, 0x12, count, 2);
    media_.scan_results_next = first + count;
    return {ReturnCode::Success, std::move(out), {}};
}

CommandOutcome CommandSet::sanitize(std::span<const uint8_t>, TimePoint) {
    if ((context_.description.security_state & kSecurityLocked) != 0) {
        return {ReturnCode::InvalidSecurityState, {}, {}};
    }
    media_.in_flight = opcode::kSanitize;
    return {ReturnCode::BackgroundStarted, {}, BackgroundWork{timing_.sanitize_fixed}};
}

CommandOutcome CommandSet::secure_erase(std::span<const uint8_t>, TimePoint) {
    if ((context_.description.security_state & kSecurityLocked) != 0) {
        return {ReturnCode::InvalidSecurityState, {}, {}};
    }
    media_.in_flight = opcode::kSecureErase;
    return {ReturnCode::BackgroundStarted, {}, BackgroundWork{timing_.secure_erase_fixed}};
}

ReturnCode CommandSet::finish_media_operation() {
    const uint16_t op = *media_.in_flight;
    media_.in_flight.reset();
    if (op == opcode::kScanMedia) {
        media_.scan_results = within(media_.poison, media_.scan_dpa, media_.scan_length);
        media_.scan_results_next = 0;
        media_.scan_done = true;
        media_.scan_stopped = false;
        media_.scan_restart_dpa = 0;
        media_.scan_restart_length = 0;
        return ReturnCode::Success;
    }
    if (context_.faults.consume(Fault::SanitizeFail)) {
        return ReturnCode::InternalError;
    }
    // Every cell is overwritten: no poison is left, and no list of it. The label storage area
    // is configuration, not user data, and stays.
    media_.poison.clear();
    media_.overflow_time.reset();
    media_.poison_cursor.reset();
    media_.scan_results.clear();
    media_.scan_results_next = 0;
    media_.scan_done = false;
    media_.scan_stopped = false;
    return ReturnCode::Success;
}

void CommandSet::abort_media_operation(uint8_t percent) {
    const uint16_t op = *media_.in_flight;
    media_.in_flight.reset();
    if (op != opcode::kScanMedia) {
        return;  // a partly sanitized device keeps its poison list: the host must sanitize again
    }
    const uint64_t scanned =
        media_.scan_length / kGranule * std::min<uint64_t>(percent, 100) / 100 * kGranule;
    media_.scan_results = within(media_.poison, media_.scan_dpa, scanned);
    media_.scan_results_next = 0;
    media_.scan_done = true;
    media_.scan_stopped = true;
    media_.scan_restart_dpa = media_.scan_dpa + scanned;
    media_.scan_restart_length = media_.scan_length - scanned;
}

}  // namespace cxlmgr::emu
