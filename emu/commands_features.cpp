// Features: Get Supported Features, Get Feature and Set Feature, with one feature, the patrol
// scrub control (docs/PROTOCOL.md "Features"; docs/EMULATED-DEVICE.md
// "Health, poison, scan media and sanitize").
#include <algorithm>
#include <array>

#include "emu/command_set.hpp"

namespace cxlmgr::emu {
namespace {

constexpr size_t kHeaderSize = 8;
constexpr size_t kEntrySize = 0x30;
constexpr size_t kSetHeaderSize = 0x20;
constexpr uint16_t kFeatureCount = 1;

// 96dad7d6-fde8-482b-a733-75774e06db8a, in the order of its text.
constexpr std::array<uint8_t, 16> kPatrolScrubUuid = {
    0x96, 0xda, 0xd7, 0xd6, 0xfd, 0xe8, 0x48, 0x2b, 0xa7, 0x33, 0x75, 0x77, 0x4e, 0x06, 0xdb, 0x8a};
constexpr uint16_t kScrubGetSize = 4;
constexpr uint16_t kScrubSetSize = 2;
constexpr uint8_t kScrubVersion = 1;
// Changeable (bit 0) and the default selection readable (bit 5); no saved selection.
constexpr uint32_t kScrubAttributes = (1u << 0) | (1u << 5);
constexpr uint8_t kScrubDefaultCycleHours = 12;
constexpr uint8_t kScrubMinCycleHours = 1;
constexpr uint8_t kScrubCycleChangeable = 1u << 0;

constexpr uint8_t kSelectionCurrent = 0;
constexpr uint8_t kSelectionDefault = 1;
constexpr uint8_t kTransferFull = 0;

bool is_patrol_scrub(std::span<const uint8_t> in) {
    return std::equal(kPatrolScrubUuid.begin(), kPatrolScrubUuid.end(), in.begin());
}

std::array<uint8_t, kScrubGetSize> scrub_value(uint8_t cycle_hours, bool enabled) {
    return {kScrubCycleChangeable, cycle_hours, kScrubMinCycleHours,
            static_cast<uint8_t>(enabled ? 1 : 0)};
}

}  // namespace

CommandOutcome CommandSet::get_supported_features(std::span<const uint8_t> in, TimePoint) {
    const uint64_t count = load_le(in, 0, 4);
    const uint64_t start = load_le(in, 4, 2);
    if (count < kHeaderSize || start > kFeatureCount) {
        return {ReturnCode::InvalidInput, {}, {}};
    }
    const uint64_t room =
        (std::min<uint64_t>(count, context_.description.payload_size) - kHeaderSize) / kEntrySize;
    const size_t n = static_cast<size_t>(std::min<uint64_t>(room, kFeatureCount - start));
    std::vector<uint8_t> out(kHeaderSize + n * kEntrySize, 0);
    store_le(out, 0, n, 2);
    store_le(out, 2, kFeatureCount, 2);
    if (n == 1) {  // the patrol scrub control is entry 0
        std::copy(kPatrolScrubUuid.begin(), kPatrolScrubUuid.end(), out.begin() + kHeaderSize);
        store_le(out, kHeaderSize + 0x10, 0, 2);
        store_le(out, kHeaderSize + 0x12, kScrubGetSize, 2);
        store_le(out, kHeaderSize + 0x14, kScrubSetSize, 2);
        store_le(out, kHeaderSize + 0x16, kScrubAttributes, 4);
        out[kHeaderSize + 0x1A] = kScrubVersion;
        out[kHeaderSize + 0x1B] = kScrubVersion;
        store_le(out, kHeaderSize + 0x1C, effect::kImmediateConfigChange, 2);
    }
    return {ReturnCode::Success, std::move(out), {}};
}

CommandOutcome CommandSet::get_feature(std::span<const uint8_t> in, TimePoint) {
    if (!is_patrol_scrub(in)) {
        return {ReturnCode::InvalidInput, {}, {}};
    }
    const uint64_t offset = load_le(in, 0x10, 2);
    const uint64_t count = load_le(in, 0x12, 2);
    const uint8_t selection = in[0x14];
    if (selection != kSelectionCurrent && selection != kSelectionDefault) {
        return {ReturnCode::UnsupportedFeatureSelectionValue, {}, {}};
    }
    if (count == 0 || offset + count > kScrubGetSize) {
        return {ReturnCode::InvalidInput, {}, {}};
    }
    const auto value = selection == kSelectionDefault
                           ? scrub_value(kScrubDefaultCycleHours, true)
                           : scrub_value(media_.scrub_cycle_hours, media_.scrub_enabled);
    auto first = value.begin() + static_cast<ptrdiff_t>(offset);
    return {ReturnCode::Success,
            std::vector<uint8_t>(first, first + static_cast<ptrdiff_t>(count)),
            {}};
}

// Only whole-value transfers (action 0, full) of the 2-byte writable value: cycle hours, then
// bit 0 enable. Saving across reset (flags bit 3) is not offered (no saved selection).
CommandOutcome CommandSet::set_feature(std::span<const uint8_t> in, TimePoint) {
    if (in.size() < kSetHeaderSize) {
        return {ReturnCode::InvalidPayloadLength, {}, {}};
    }
    if (!is_patrol_scrub(in)) {
        return {ReturnCode::InvalidInput, {}, {}};
    }
    const uint64_t flags = load_le(in, 0x10, 4);
    const uint64_t offset = load_le(in, 0x14, 2);
    if (in[0x16] != kScrubVersion) {
        return {ReturnCode::UnsupportedFeatureVersion, {}, {}};
    }
    auto data = in.subspan(kSetHeaderSize);
    if ((flags & 0x7) != kTransferFull || (flags & (1u << 3)) != 0 || offset != 0 ||
        data.size() != kScrubSetSize) {
        return {ReturnCode::InvalidInput, {}, {}};
    }
    if (data[0] < kScrubMinCycleHours) {
        return {ReturnCode::InvalidInput, {}, {}};
    }
    media_.scrub_cycle_hours = data[0];
    media_.scrub_enabled = (data[1] & 0x1) != 0;
    return {ReturnCode::Success, {}, {}};
}

}  // namespace cxlmgr::emu
