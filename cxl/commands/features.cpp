#include "cxl/commands/features.hpp"

#include <algorithm>

namespace cxlmgr::cxl {
namespace {

constexpr const CommandSpec& kSupportedSpec = command_spec(opcode::kGetSupportedFeatures);
constexpr const CommandSpec& kGetSpec = command_spec(opcode::kGetFeature);
constexpr const CommandSpec& kSetSpec = command_spec(opcode::kSetFeature);

}  // namespace

Command<SupportedFeatures> get_supported_features(uint16_t start_index, uint32_t payload_size) {
    Bytes in(kSupportedSpec.input.bytes, 0);
    // The count is the output bytes the host accepts, header included.
    store_le(in, 0, payload_size, 4);
    store_le(in, 4, start_index, 2);
    return make_command<SupportedFeatures>(kSupportedSpec, std::move(in),
                                           decode_supported_features);
}

Result<SupportedFeatures> decode_supported_features(ByteSpan out) {
    CXLMGR_CHECK(check_min_length(out, kSupportedFeaturesHeaderSize, kSupportedSpec.name));
    const size_t count = u16_at(out, 0);
    const size_t room = (out.size() - kSupportedFeaturesHeaderSize) / kFeatureEntrySize;
    if (count > room) {
        return Error(Errc::DeviceError, std::string(kSupportedSpec.name) + " reports " +
                                            std::to_string(count) + " entries, but its " +
                                            std::to_string(out.size()) + " bytes of output hold " +
                                            std::to_string(room));
    }
    SupportedFeatures f;
    f.total = u16_at(out, 2);
    for (size_t i = 0; i < count; ++i) {
        const ByteSpan e =
            out.subspan(kSupportedFeaturesHeaderSize + i * kFeatureEntrySize, kFeatureEntrySize);
        FeatureEntry entry;
        entry.uuid = Uuid::from_bytes(e.first(16));
        entry.index = u16_at(e, 0x10);
        entry.get_size = u16_at(e, 0x12);
        entry.set_size = u16_at(e, 0x14);
        entry.attributes = u32_at(e, 0x16);
        entry.get_version = u8_at(e, 0x1A);
        entry.set_version = u8_at(e, 0x1B);
        entry.set_effects = u16_at(e, 0x1C);
        f.entries.push_back(entry);
    }
    return f;
}

Result<Command<Bytes>> get_feature(const Uuid& feature, uint16_t offset, uint16_t count,
                                   FeatureSelection selection, uint32_t payload_size) {
    if (count == 0 || count > payload_size) {
        return Error(Errc::InvalidArgument, std::string(kGetSpec.name) +
                                                ": the count must be 1 to the " +
                                                std::to_string(payload_size) +
                                                "-byte payload size, not " + std::to_string(count));
    }
    Bytes in(kGetFeatureInputSize, 0);
    std::copy(feature.bytes.begin(), feature.bytes.end(), in.begin());
    store_le(in, 0x10, offset, 2);
    store_le(in, 0x12, count, 2);
    in[0x14] = static_cast<uint8_t>(selection);
    return make_command<Bytes>(kGetSpec, std::move(in),
                               [count](ByteSpan out) { return decode_feature_data(out, count); });
}

Result<Bytes> decode_feature_data(ByteSpan out, uint16_t count) {
    CXLMGR_CHECK(check_min_length(out, count, kGetSpec.name));
    return Bytes(out.begin(), out.begin() + count);
}

Result<Command<Unit>> set_feature(const SetFeatureRequest& r, uint32_t payload_size) {
    const size_t room =
        payload_size > kSetFeatureHeaderSize ? payload_size - kSetFeatureHeaderSize : 0;
    if (r.data.size() > room || static_cast<uint8_t>(r.transfer) > 4) {
        return Error(Errc::InvalidArgument,
                     std::string(kSetSpec.name) + ": " + std::to_string(r.data.size()) +
                         " bytes of data do not fit a " + std::to_string(payload_size) +
                         "-byte payload after the header, or the transfer action is unknown");
    }
    Bytes in(kSetFeatureHeaderSize + r.data.size(), 0);
    std::copy(r.feature.bytes.begin(), r.feature.bytes.end(), in.begin());
    store_le(in, 0x10, static_cast<uint32_t>(r.transfer) | (r.saved_across_reset ? 1u << 3 : 0u),
             4);
    store_le(in, 0x14, r.offset, 2);
    in[0x16] = r.version;
    std::copy(r.data.begin(), r.data.end(), in.begin() + kSetFeatureHeaderSize);
    return make_command<Unit>(kSetSpec, std::move(in), decode_nothing);
}

Result<PatrolScrub> decode_patrol_scrub(ByteSpan v) {
    CXLMGR_CHECK(check_min_length(v, kPatrolScrubGetSize, "the patrol scrub control feature"));
    PatrolScrub s;
    s.cycle_changeable = (v[0] & 0x1) != 0;
    s.realtime_report = (v[0] & 0x2) != 0;
    s.cycle_hours = v[1];
    s.min_cycle_hours = v[2];
    s.enabled = (v[3] & 0x1) != 0;
    return s;
}

Bytes encode_patrol_scrub(uint8_t cycle_hours, bool enabled) {
    return {cycle_hours, static_cast<uint8_t>(enabled ? 1 : 0)};
}

nlohmann::json supported_features_to_json(const SupportedFeatures& f) {
    nlohmann::json entries = nlohmann::json::array();
    for (const auto& e : f.entries) {
        entries.push_back({{"uuid", e.uuid.to_string()},
                           {"index", e.index},
                           {"get_size", e.get_size},
                           {"set_size", e.set_size},
                           {"attributes", e.attributes},
                           {"changeable", (e.attributes & kFeatureChangeable) != 0},
                           {"get_version", e.get_version},
                           {"set_version", e.set_version},
                           {"set_effects", e.set_effects}});
    }
    return {{"total", f.total}, {"entries", std::move(entries)}};
}

nlohmann::json patrol_scrub_to_json(const PatrolScrub& s) {
    return {{"cycle_changeable", s.cycle_changeable},
            {"realtime_report", s.realtime_report},
            {"cycle_hours", s.cycle_hours},
            {"min_cycle_hours", s.min_cycle_hours},
            {"enabled", s.enabled}};
}

}  // namespace cxlmgr::cxl
