// Features (patrol scrub control), the Command Effects Log of the new commands, and the
// description option that removes commands, through the real mailbox registers.
#include <gtest/gtest.h>

#include <map>

#include "cxl/commands/features.hpp"
#include "cxl/commands/health.hpp"
#include "cxl/commands/logs.hpp"
#include "cxl/return_code.hpp"
#include "tests/cxl/emu_rig.hpp"

namespace cxlmgr::cxl {
namespace {

using testing::EmuRig;

const Uuid kScrub = known_uuid(kPatrolScrubFeature);

Result<PatrolScrub> scrub(EmuRig& rig, FeatureSelection selection) {
    auto command = get_feature(kScrub, 0, kPatrolScrubGetSize, selection, 2048);
    if (!command.ok()) {
        return command.error();
    }
    CXLMGR_ASSIGN(Bytes value, rig.typed(std::move(*command)));
    return decode_patrol_scrub(value);
}

TEST(EmuFeatures, PatrolScrubIsListedReadAndChanged) {
    EmuRig rig;
    auto list = rig.typed(get_supported_features(0, rig.mailbox->payload_size()));
    ASSERT_TRUE(list.ok()) << list.error().describe();
    EXPECT_EQ(list->total, 1);
    ASSERT_EQ(list->entries.size(), 1u);
    const FeatureEntry& e = list->entries[0];
    EXPECT_EQ(e.uuid, kScrub);
    EXPECT_EQ(e.get_size, kPatrolScrubGetSize);
    EXPECT_EQ(e.set_size, kPatrolScrubSetSize);
    EXPECT_NE(e.attributes & kFeatureChangeable, 0u);

    auto before = scrub(rig, FeatureSelection::Current);
    ASSERT_TRUE(before.ok()) << before.error().describe();
    EXPECT_TRUE(before->enabled);
    EXPECT_TRUE(before->cycle_changeable);

    const Bytes value = encode_patrol_scrub(24, false);
    auto set =
        rig.typed(*set_feature({kScrub, e.set_version, FeatureTransfer::Full, false, 0, value},
                               rig.mailbox->payload_size()));
    ASSERT_TRUE(set.ok()) << set.error().describe();
    auto after = scrub(rig, FeatureSelection::Current);
    ASSERT_TRUE(after.ok());
    EXPECT_EQ(after->cycle_hours, 24);
    EXPECT_FALSE(after->enabled);
    auto defaults = scrub(rig, FeatureSelection::Default);
    ASSERT_TRUE(defaults.ok());
    EXPECT_EQ(defaults->cycle_hours, before->cycle_hours);
    EXPECT_TRUE(defaults->enabled);

    // A value below the minimum cycle, or the wrong version, is refused.
    auto zero = rig.typed(*set_feature(
        {kScrub, e.set_version, FeatureTransfer::Full, false, 0, encode_patrol_scrub(0, true)},
        2048));
    EXPECT_EQ(zero.error().cxl_return_code,
              std::optional<uint16_t>(static_cast<uint16_t>(ReturnCode::InvalidInput)));
    auto version = rig.typed(*set_feature(
        {kScrub, 9, FeatureTransfer::Full, false, 0, encode_patrol_scrub(6, true)}, 2048));
    EXPECT_EQ(
        version.error().cxl_return_code,
        std::optional<uint16_t>(static_cast<uint16_t>(ReturnCode::UnsupportedFeatureVersion)));
    auto saved = scrub(rig, FeatureSelection::Saved);
    EXPECT_EQ(saved.error().cxl_return_code, std::optional<uint16_t>(static_cast<uint16_t>(
                                                 ReturnCode::UnsupportedFeatureSelectionValue)));
}

// The whole CEL, read in payload-sized pieces.
std::map<uint16_t, uint16_t> cel_of(EmuRig& rig) {
    const Uuid cel_id = known_uuid(uuids::kCommandEffectsLog);
    auto logs = rig.typed(get_supported_logs());
    EXPECT_TRUE(logs.ok());
    uint32_t size = 0;
    for (const auto& l : *logs) {
        if (l.uuid == cel_id) {
            size = l.size;
        }
    }
    Bytes bytes;
    const uint32_t payload = rig.mailbox->payload_size();
    while (bytes.size() < size) {
        const auto n = std::min<uint32_t>(payload, size - static_cast<uint32_t>(bytes.size()));
        auto part = rig.typed(*get_log(cel_id, static_cast<uint32_t>(bytes.size()), n, payload));
        EXPECT_TRUE(part.ok());
        bytes.insert(bytes.end(), part->begin(), part->end());
    }
    std::map<uint16_t, uint16_t> out;
    auto cel = decode_command_effects_log(bytes);
    EXPECT_TRUE(cel.ok());
    if (!cel.ok()) {
        return out;
    }
    for (const auto& e : *cel) {
        out[e.opcode] = e.effects;
    }
    return out;
}

TEST(EmuFeatures, CommandEffectsLogListsTheNewCommandsWithTheirEffects) {
    EmuRig rig(nlohmann::json{
        {"payload_size", 256}, {"persistent_capacity", 256ull << 20}, {"lsa_size", 1024}});
    const auto cel = cel_of(rig);
    const std::map<uint16_t, uint16_t> expected = {
        {opcode::kGetSupportedFeatures, 0},
        {opcode::kGetFeature, 0},
        {opcode::kSetFeature, kEffectImmediateConfigChange},
        {opcode::kGetPartitionInfo, 0},
        {opcode::kGetLsa, 0},
        {opcode::kSetLsa, kEffectImmediateConfigChange | kEffectImmediateDataChange},
        {opcode::kGetAlertConfig, 0},
        {opcode::kSetAlertConfig, kEffectImmediatePolicyChange},
        {opcode::kGetPoisonList, 0},
        {opcode::kInjectPoison, kEffectImmediateDataChange | kEffectImmediateLogChange},
        {opcode::kClearPoison, kEffectImmediateDataChange | kEffectImmediateLogChange},
        {opcode::kGetScanMediaCapabilities, 0},
        {opcode::kScanMedia, kEffectImmediateLogChange | kEffectBackground | kEffectAbortSupported},
        {opcode::kGetScanMediaResults, 0},
        {opcode::kSanitize, kEffectImmediateDataChange | kEffectSecurityStateChange |
                                kEffectBackground | kEffectAbortSupported},
        {opcode::kSecureErase,
         kEffectImmediateDataChange | kEffectSecurityStateChange | kEffectBackground},
        {opcode::kGetSecurityState, 0},
    };
    for (const auto& [op, effects] : expected) {
        auto it = cel.find(op);
        ASSERT_NE(it, cel.end()) << opcode::describe(op);
        EXPECT_EQ(it->second, effects) << opcode::describe(op);
        // The host's table agrees on what only reads and what may run in the background.
        EXPECT_EQ(command_is_read_only(op), effects == 0) << opcode::describe(op);
        EXPECT_EQ(command_may_run_in_background(op), (effects & kEffectBackground) != 0)
            << opcode::describe(op);
    }
}

TEST(EmuFeatures, UnsupportedCommandsLeaveTheCelAndAnswerUnsupported) {
    EmuRig rig(nlohmann::json{
        {"mailbox", {{"unsupported", {opcode::kGetHealthInfo, opcode::kScanMedia}}}}});
    const auto cel = cel_of(rig);
    EXPECT_EQ(cel.count(opcode::kGetHealthInfo), 0u);
    EXPECT_EQ(cel.count(opcode::kScanMedia), 0u);
    EXPECT_EQ(cel.count(opcode::kGetPoisonList), 1u);
    auto h = rig.typed(get_health_info());
    ASSERT_FALSE(h.ok());
    EXPECT_EQ(h.error().code, Errc::Unsupported);
    EXPECT_NE(h.error().message.find("Get Health Info is not supported"), std::string::npos);

    EXPECT_THROW(EmuRig(nlohmann::json{{"mailbox", {{"unsupported", {0x4203}}}}}),
                 std::runtime_error)
        << "an opcode the device does not implement is a description error";
    EXPECT_THROW(EmuRig(nlohmann::json{{"mailbox", {{"unsupported", 0x4200}}}}),
                 std::runtime_error);
}

}  // namespace
}  // namespace cxlmgr::cxl
