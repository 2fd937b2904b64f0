// Features: Get Supported Features (0x0500), Get Feature (0x0501) and Set Feature (0x0502).
// A feature is named by a UUID and carries an opaque value the host reads and writes in pieces;
// the patrol scrub control feature is decoded here because the daemon offers it
// (docs/PROTOCOL.md "Features").
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string_view>
#include <vector>

#include "cxl/commands/command.hpp"
#include "cxl/uuid.hpp"

namespace cxlmgr::cxl {

inline constexpr size_t kSupportedFeaturesHeaderSize =
    command_spec(opcode::kGetSupportedFeatures).min_output;
inline constexpr size_t kFeatureEntrySize = 0x30;
inline constexpr size_t kGetFeatureInputSize = command_spec(opcode::kGetFeature).input.bytes;
inline constexpr size_t kSetFeatureHeaderSize = command_spec(opcode::kSetFeature).input.bytes;

// Attribute flag bits of a supported feature entry.
inline constexpr uint32_t kFeatureChangeable = 1u << 0;
inline constexpr uint32_t kFeatureDefaultSelection = 1u << 5;
inline constexpr uint32_t kFeatureSavedSelection = 1u << 6;

struct FeatureEntry {
    Uuid uuid;
    uint16_t index = 0;
    uint16_t get_size = 0;  // bytes of the readable value
    uint16_t set_size = 0;  // bytes of the writable value (0: not changeable)
    uint32_t attributes = 0;
    uint8_t get_version = 0;
    uint8_t set_version = 0;
    uint16_t set_effects = 0;  // CEL effect bits of setting it

    bool operator==(const FeatureEntry&) const = default;
};

struct SupportedFeatures {
    uint16_t total = 0;  // the device's count; entries may hold fewer
    std::vector<FeatureEntry> entries;
};

// Entries from `start_index`, as many as one payload holds.
Command<SupportedFeatures> get_supported_features(uint16_t start_index, uint32_t payload_size);
Result<SupportedFeatures> decode_supported_features(ByteSpan output);

enum class FeatureSelection : uint8_t { Current = 0, Default = 1, Saved = 2 };

// `count` bytes of the value from `offset`; count 1..payload size.
Result<Command<Bytes>> get_feature(const Uuid& feature, uint16_t offset, uint16_t count,
                                   FeatureSelection selection, uint32_t payload_size);
// The first `count` bytes; DeviceError when the device returned fewer.
Result<Bytes> decode_feature_data(ByteSpan output, uint16_t count);

enum class FeatureTransfer : uint8_t {
    Full = 0,
    Initiate = 1,
    Continue = 2,
    Finish = 3,
    Abort = 4
};

struct SetFeatureRequest {
    Uuid feature;
    uint8_t version = 0;  // the entry's set_version
    FeatureTransfer transfer = FeatureTransfer::Full;
    bool saved_across_reset = false;
    uint16_t offset = 0;
    ByteSpan data;
};
// InvalidArgument when the data does not fit one payload after the 0x20-byte header.
Result<Command<Unit>> set_feature(const SetFeatureRequest& request, uint32_t payload_size);

// Patrol scrub control (docs/PROTOCOL.md "Features"): the device scrubs its media every
// cycle_hours.
inline constexpr std::string_view kPatrolScrubFeature = "96dad7d6-fde8-482b-a733-75774e06db8a";
inline constexpr size_t kPatrolScrubGetSize = 4;
inline constexpr size_t kPatrolScrubSetSize = 2;

struct PatrolScrub {
    bool cycle_changeable = false;
    bool realtime_report = false;
    uint8_t cycle_hours = 0;
    uint8_t min_cycle_hours = 0;
    bool enabled = false;
};
Result<PatrolScrub> decode_patrol_scrub(ByteSpan value);
// The 2-byte writable value: cycle hours, enable bit.
Bytes encode_patrol_scrub(uint8_t cycle_hours, bool enabled);

// Keys: total, entries [{uuid, index, get_size, set_size, attributes, changeable, get_version,
// set_version, set_effects}].
nlohmann::json supported_features_to_json(const SupportedFeatures& features);
// Keys: cycle_changeable, realtime_report, cycle_hours, min_cycle_hours, enabled.
nlohmann::json patrol_scrub_to_json(const PatrolScrub& scrub);

}  // namespace cxlmgr::cxl
