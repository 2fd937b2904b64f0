// Media and poison management: Get Poison List (0x4300), Inject Poison (0x4301), Clear Poison
// (0x4302), Get Scan Media Capabilities (0x4303), Scan Media (0x4304, a background command) and
// Get Scan Media Results (0x4305). Device physical addresses (DPA) and lengths are in bytes here;
// on the wire both are 64-byte aligned and lengths count 64-byte units (docs/PROTOCOL.md
// "Poison and scan media").
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string_view>
#include <vector>

#include "cxl/commands/command.hpp"

namespace cxlmgr::cxl {

inline constexpr uint64_t kPoisonGranule = 64;  // bytes: DPA alignment and length unit
inline constexpr size_t kPoisonListHeaderSize = command_spec(opcode::kGetPoisonList).min_output;
inline constexpr size_t kScanMediaResultsHeaderSize =
    command_spec(opcode::kGetScanMediaResults).min_output;
inline constexpr size_t kMediaErrorRecordSize = 0x10;
inline constexpr size_t kClearPoisonDataSize = 64;

// Where a media error came from (bits [2:0] of the record's address).
enum class PoisonSource : uint8_t {
    Unknown = 0,
    External = 1,  // poison received from outside the device
    Internal = 2,  // the device detected it
    Injected = 3,  // Inject Poison
    Vendor = 7,
};
std::string_view poison_source_name(uint8_t source);  // "reserved" for 4..6

struct MediaErrorRecord {
    uint64_t dpa = 0;     // bytes, 64-byte aligned
    uint8_t source = 0;   // PoisonSource
    uint64_t length = 0;  // bytes

    bool operator==(const MediaErrorRecord&) const = default;
};

// Poison list flag bits.
inline constexpr uint8_t kPoisonMoreRecords = 1u << 0;
inline constexpr uint8_t kPoisonOverflow = 1u << 1;
inline constexpr uint8_t kPoisonScanInProgress = 1u << 2;

struct PoisonList {
    bool more = false;      // the device has more records: send the same request again
    bool overflow = false;  // the list is incomplete; overflow_timestamp says since when
    bool scan_media_in_progress = false;
    std::optional<uint64_t> overflow_timestamp;  // device time, ns; only with overflow
    std::vector<MediaErrorRecord> records;
};

// A range of device physical address space, in bytes.
struct DpaRange {
    uint64_t dpa = 0;
    uint64_t length = 0;
};

// Both fields 64-byte aligned, length above 0, no wrap; InvalidArgument naming the command
// otherwise.
Result<Command<PoisonList>> get_poison_list(DpaRange range);
// The next payload of records for the same range, after `previous` said there were more (the
// device keeps its place; the request is the same). InvalidArgument when it did not.
Result<Command<PoisonList>> get_poison_list_continuation(DpaRange range,
                                                         const PoisonList& previous);
Result<PoisonList> decode_poison_list(ByteSpan output);

Result<Command<Unit>> inject_poison(uint64_t dpa);
// Clears the poison at `dpa` by writing `data` (64 bytes; zeros when empty) there.
Result<Command<Unit>> clear_poison(uint64_t dpa, ByteSpan data = {});

struct ScanMediaCapabilities {
    uint32_t estimated_ms = 0;  // how long Scan Media of the range would take
};
Result<Command<ScanMediaCapabilities>> get_scan_media_capabilities(DpaRange range);
Result<ScanMediaCapabilities> decode_scan_media_capabilities(ByteSpan output);

// Scans `range` in the background; with no_event_log the device adds nothing to its event logs.
Result<Command<Unit>> scan_media(DpaRange range, bool no_event_log = false);

// Scan media result flag bits.
inline constexpr uint8_t kScanMoreRecords = 1u << 0;
inline constexpr uint8_t kScanStoppedPrematurely = 1u << 1;

struct ScanMediaResults {
    uint64_t restart_dpa = 0;     // where a stopped scan would go on
    uint64_t restart_length = 0;  // bytes left from there
    bool more = false;            // send Get Scan Media Results again for more records
    bool stopped_prematurely = false;
    std::vector<MediaErrorRecord> records;
};
Command<ScanMediaResults> get_scan_media_results();
Result<ScanMediaResults> decode_scan_media_results(ByteSpan output);

// Keys: more, overflow, scan_media_in_progress, overflow_timestamp (only with overflow),
// records [{dpa, length, source, source_name}].
nlohmann::json poison_list_to_json(const PoisonList& list);
// Keys: restart_dpa, restart_length, more, stopped_prematurely, records (as above).
nlohmann::json scan_media_results_to_json(const ScanMediaResults& results);

}  // namespace cxlmgr::cxl
