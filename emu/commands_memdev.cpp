// Memory device commands: Identify Memory Device, Get Partition Info, Get/Set LSA, Get Health
// Info, Get/Set Alert Configuration and Get Security State (docs/PROTOCOL.md for the layouts).
#include <algorithm>

#include "emu/command_set.hpp"

namespace cxlmgr::emu {
namespace {

constexpr size_t kIdentifySize = 0x43;  // the CXL 2.0 layout, which Linux reads
constexpr size_t kPartitionInfoSize = 0x20;
constexpr size_t kAlertConfigSize = 0x10;
constexpr size_t kSetLsaHeaderSize = 8;
constexpr uint8_t kAllAlerts = 0x1F;
constexpr uint8_t kAlertLifeUsed = 1u << 0;
constexpr uint8_t kAlertOverTemperature = 1u << 1;
constexpr uint8_t kAlertUnderTemperature = 1u << 2;
constexpr uint8_t kAlertCorrectedVolatile = 1u << 3;
constexpr uint8_t kAlertCorrectedPersistent = 1u << 4;

}  // namespace

CommandOutcome CommandSet::identify_memory_device(std::span<const uint8_t>, TimePoint) {
    const auto& d = context_.description;
    std::vector<uint8_t> out(kIdentifySize, 0);
    const std::string& rev = firmware_.active_revision();
    std::copy(rev.begin(), rev.end(), out.begin());
    store_le(out, 0x10, d.total_capacity() / kCapacityUnit, 8);
    store_le(out, 0x18, d.volatile_capacity / kCapacityUnit, 8);
    store_le(out, 0x20, d.persistent_capacity / kCapacityUnit, 8);
    // Partition alignment 0: the capacity is not partitionable.
    store_le(out, 0x28, 0, 8);
    for (unsigned i = 0; i < kEventLogCount; ++i) {
        store_le(out, 0x30 + 2 * i, events_.capacity(), 2);
    }
    store_le(out, 0x38, d.lsa_size, 4);
    store_le(out, 0x3C, d.poison_list_max, 3);
    // Inject poison limit 0 (no limit), poison handling and QoS capabilities: none.
    return {ReturnCode::Success, std::move(out), {}};
}

CommandOutcome CommandSet::get_health_info(std::span<const uint8_t>, TimePoint) {
    auto h = health_.encode();
    return {ReturnCode::Success, std::vector<uint8_t>(h.begin(), h.end()), {}};
}

// The capacity is not partitionable (alignment 0 in Identify): active is what the description
// says, and no change is pending for the next reset (next capacities 0).
CommandOutcome CommandSet::get_partition_info(std::span<const uint8_t>, TimePoint) {
    if (media_disabled()) {
        return {ReturnCode::MediaDisabled, {}, {}};
    }
    const auto& d = context_.description;
    std::vector<uint8_t> out(kPartitionInfoSize, 0);
    store_le(out, 0x00, d.volatile_capacity / kCapacityUnit, 8);
    store_le(out, 0x08, d.persistent_capacity / kCapacityUnit, 8);
    return {ReturnCode::Success, std::move(out), {}};
}

CommandOutcome CommandSet::get_lsa(std::span<const uint8_t> in, TimePoint) {
    if (media_disabled()) {
        return {ReturnCode::MediaDisabled, {}, {}};
    }
    const uint64_t offset = load_le(in, 0, 4);
    const uint64_t length = load_le(in, 4, 4);
    if (length > context_.description.payload_size || offset + length > media_.lsa.size()) {
        return {ReturnCode::InvalidInput, {}, {}};
    }
    auto first = media_.lsa.begin() + static_cast<ptrdiff_t>(offset);
    return {ReturnCode::Success,
            std::vector<uint8_t>(first, first + static_cast<ptrdiff_t>(length)),
            {}};
}

CommandOutcome CommandSet::set_lsa(std::span<const uint8_t> in, TimePoint) {
    if (in.size() < kSetLsaHeaderSize) {
        return {ReturnCode::InvalidPayloadLength, {}, {}};
    }
    if (media_disabled()) {
        return {ReturnCode::MediaDisabled, {}, {}};
    }
    const uint64_t offset = load_le(in, 0, 4);
    auto data = in.subspan(kSetLsaHeaderSize);
    if (offset + data.size() > media_.lsa.size()) {
        return {ReturnCode::InvalidInput, {}, {}};
    }
    std::copy(data.begin(), data.end(), media_.lsa.begin() + static_cast<ptrdiff_t>(offset));
    return {ReturnCode::Success, {}, {}};
}

CommandOutcome CommandSet::get_alert_config(std::span<const uint8_t>, TimePoint) {
    const AlertSettings& a = media_.alerts;
    std::vector<uint8_t> out(kAlertConfigSize, 0);
    out[0] = a.enabled;
    out[1] = kAllAlerts;  // every warning threshold is programmable
    out[2] = a.life_used_critical;
    out[3] = a.life_used_warning;
    store_le(out, 4, static_cast<uint16_t>(a.over_temperature_critical), 2);
    store_le(out, 6, static_cast<uint16_t>(a.under_temperature_critical), 2);
    store_le(out, 8, static_cast<uint16_t>(a.over_temperature_warning), 2);
    store_le(out, 0x0A, static_cast<uint16_t>(a.under_temperature_warning), 2);
    store_le(out, 0x0C, a.corrected_volatile_warning, 2);
    store_le(out, 0x0E, a.corrected_persistent_warning, 2);
    return {ReturnCode::Success, std::move(out), {}};
}

// Only the alerts named in the valid byte change. A warning threshold must stay short of its
// critical threshold (life used below, over-temperature below, under-temperature above), or
// the whole request is refused with Invalid Input and nothing changes.
CommandOutcome CommandSet::set_alert_config(std::span<const uint8_t> in, TimePoint) {
    const uint8_t valid = in[0];
    const uint8_t enable = in[1];
    if (((valid | enable) & ~kAllAlerts) != 0) {
        return {ReturnCode::InvalidInput, {}, {}};
    }
    AlertSettings a = media_.alerts;
    if ((valid & kAlertLifeUsed) != 0) {
        a.life_used_warning = in[2];
    }
    if ((valid & kAlertOverTemperature) != 0) {
        a.over_temperature_warning = static_cast<int16_t>(load_le(in, 4, 2));
    }
    if ((valid & kAlertUnderTemperature) != 0) {
        a.under_temperature_warning = static_cast<int16_t>(load_le(in, 6, 2));
    }
    if ((valid & kAlertCorrectedVolatile) != 0) {
        a.corrected_volatile_warning = static_cast<uint16_t>(load_le(in, 8, 2));
    }
    if ((valid & kAlertCorrectedPersistent) != 0) {
        a.corrected_persistent_warning = static_cast<uint16_t>(load_le(in, 0x0A, 2));
    }
    if (a.life_used_warning >= a.life_used_critical ||
        a.over_temperature_warning >= a.over_temperature_critical ||
        a.under_temperature_warning <= a.under_temperature_critical) {
        return {ReturnCode::InvalidInput, {}, {}};
    }
    a.enabled = static_cast<uint8_t>((a.enabled & ~valid) | (enable & valid));
    media_.alerts = a;
    return {ReturnCode::Success, {}, {}};
}

CommandOutcome CommandSet::get_security_state(std::span<const uint8_t>, TimePoint) {
    std::vector<uint8_t> out(4, 0);
    store_le(out, 0, context_.description.security_state, 4);
    return {ReturnCode::Success, std::move(out), {}};
}

}  // namespace cxlmgr::emu
