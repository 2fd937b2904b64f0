// State behind the emulated device's health, poison, scan media, sanitize, label storage and
// feature commands (handlers in commands_memdev.cpp, commands_media.cpp, commands_features.cpp),
// and its piece of the state file (emu/device_state.hpp; docs/EMULATED-DEVICE.md "State file").
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <vector>

#include "common/result.hpp"

namespace cxlmgr::emu {

// Set Alert Configuration's thresholds and which warnings are enabled.
struct AlertSettings {
    uint8_t enabled = 0;  // alert bits, as Get Alert Configuration's "valid alerts"
    uint8_t life_used_critical = 100;
    uint8_t life_used_warning = 90;
    int16_t over_temperature_critical = 100;
    int16_t under_temperature_critical = -20;
    int16_t over_temperature_warning = 85;
    int16_t under_temperature_warning = 0;
    uint16_t corrected_volatile_warning = 100;
    uint16_t corrected_persistent_warning = 100;
};

// One poisoned range of device physical address space (bytes, 64-byte granules).
struct PoisonRecord {
    uint64_t dpa = 0;
    uint64_t length = 0;
    uint8_t source = 0;  // 1 external, 2 internal, 3 injected
};

// Where a multi-payload list answer stands: the host repeats the same request for more.
struct ListCursor {
    uint64_t dpa = 0;
    uint64_t length = 0;
    size_t next = 0;
};

struct MediaState {
    AlertSettings alerts;

    // Sorted by dpa, non-overlapping; at most the device's poison_list_max records, beyond
    // which the list overflows (overflow_time: device time of the first record that did not
    // fit).
    std::vector<PoisonRecord> poison;
    std::optional<uint64_t> overflow_time;
    std::optional<ListCursor> poison_cursor;

    // The last completed (or aborted) Scan Media and what it found.
    bool scan_done = false;
    bool scan_stopped = false;
    uint64_t scan_restart_dpa = 0;
    uint64_t scan_restart_length = 0;
    std::vector<PoisonRecord> scan_results;
    size_t scan_results_next = 0;

    std::vector<uint8_t> lsa;  // label storage area, lsa_size bytes

    // Patrol scrub control feature.
    uint8_t scrub_cycle_hours = 12;
    bool scrub_enabled = true;

    // The media background operation in flight (Scan Media, Sanitize, Secure Erase), with the
    // scan's range.
    std::optional<uint16_t> in_flight;
    uint64_t scan_dpa = 0;
    uint64_t scan_length = 0;

    [[nodiscard]] nlohmann::json save() const;
    // `lsa_size` and `poison_max` are the description's: a state file from another shape of
    // device is refused.
    static Result<MediaState> restore(const nlohmann::json& j, size_t lsa_size, size_t poison_max);
};

}  // namespace cxlmgr::emu
