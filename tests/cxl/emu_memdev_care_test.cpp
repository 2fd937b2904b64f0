// Alert configuration, partition info, the label storage area and the security state, through
// the real mailbox registers of the emulated device with the host's typed commands.
#include <gtest/gtest.h>

#include "cxl/commands/alert_config.hpp"
#include "cxl/commands/identify.hpp"
#include "cxl/commands/lsa.hpp"
#include "cxl/commands/partition.hpp"
#include "cxl/commands/security.hpp"
#include "cxl/return_code.hpp"
#include "tests/cxl/emu_rig.hpp"

namespace cxlmgr::cxl {
namespace {

using testing::EmuRig;

std::optional<uint16_t> code(ReturnCode rc) {
    return static_cast<uint16_t>(rc);
}

TEST(EmuCare, AlertConfigurationRoundTrip) {
    EmuRig rig;
    auto before = rig.typed(get_alert_config());
    ASSERT_TRUE(before.ok()) << before.error().describe();
    EXPECT_EQ(before->valid_alerts, 0) << "no warning is enabled until the host sets one";
    EXPECT_EQ(before->programmable_alerts, 0x1F);

    AlertConfigUpdate u;
    u.valid_actions = kAlertLifeUsed | kAlertOverTemperature | kAlertCorrectedVolatileErrors;
    u.enable_actions = kAlertLifeUsed | kAlertOverTemperature;
    u.life_used_warning = 70;
    u.over_temperature_warning = 60;
    u.corrected_volatile_warning = 500;
    u.under_temperature_warning = 42;  // not in valid_actions: ignored
    auto set = rig.typed(*set_alert_config(u));
    ASSERT_TRUE(set.ok()) << set.error().describe();

    auto after = rig.typed(get_alert_config());
    ASSERT_TRUE(after.ok());
    EXPECT_EQ(after->valid_alerts, kAlertLifeUsed | kAlertOverTemperature);
    EXPECT_EQ(after->life_used_warning, 70);
    EXPECT_EQ(after->over_temperature_warning, 60);
    EXPECT_EQ(after->corrected_volatile_warning, 500);
    EXPECT_EQ(after->under_temperature_warning, before->under_temperature_warning);
    EXPECT_EQ(after->life_used_critical, before->life_used_critical);

    // A warning at or past its critical threshold is refused and changes nothing.
    u.valid_actions = kAlertOverTemperature;
    u.over_temperature_warning = after->over_temperature_critical;
    auto bad = rig.typed(*set_alert_config(u));
    ASSERT_FALSE(bad.ok());
    EXPECT_EQ(bad.error().cxl_return_code, code(ReturnCode::InvalidInput));
    EXPECT_EQ(rig.typed(get_alert_config())->over_temperature_warning, 60);
}

TEST(EmuCare, PartitionInfoOnAPersistentDeviceOnly) {
    EmuRig pmem(
        nlohmann::json{{"volatile_capacity", 256ull << 20}, {"persistent_capacity", 512ull << 20}});
    auto p = pmem.typed(get_partition_info());
    ASSERT_TRUE(p.ok()) << p.error().describe();
    EXPECT_EQ(p->active_volatile, 256ull << 20);
    EXPECT_EQ(p->active_persistent, 512ull << 20);
    EXPECT_EQ(p->next_volatile, 0u);
    EXPECT_EQ(p->next_persistent, 0u);

    EmuRig ram;  // volatile only: the command is optional there, and absent
    auto r = ram.typed(get_partition_info());
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, Errc::Unsupported);
}

TEST(EmuCare, LabelStorageAreaInPayloadSizedPieces) {
    constexpr uint32_t kLsaSize = 4096;
    EmuRig rig(nlohmann::json{{"payload_size", 256}, {"lsa_size", kLsaSize}});
    auto id = rig.typed(identify_memory_device());
    ASSERT_TRUE(id.ok());
    ASSERT_EQ(id->lsa_size, kLsaSize);
    const uint32_t payload = rig.mailbox->payload_size();

    Bytes label(1000);
    for (size_t i = 0; i < label.size(); ++i) {
        label[i] = static_cast<uint8_t>(i * 7 + 1);
    }
    const uint32_t base = 0x300;
    for (uint32_t off = 0; off < label.size(); off += set_lsa_max_data(payload)) {
        const auto n = std::min<size_t>(set_lsa_max_data(payload), label.size() - off);
        auto s = rig.typed(*set_lsa(base + off, ByteSpan(label).subspan(off, n), payload));
        ASSERT_TRUE(s.ok()) << s.error().describe();
    }
    Bytes back;
    for (uint32_t off = 0; off < label.size(); off += payload) {
        const auto n = std::min<uint32_t>(payload, static_cast<uint32_t>(label.size()) - off);
        auto g = rig.typed(*get_lsa(base + off, n, payload));
        ASSERT_TRUE(g.ok()) << g.error().describe();
        back.insert(back.end(), g->begin(), g->end());
    }
    EXPECT_EQ(back, label);
    auto untouched = rig.typed(*get_lsa(0, 16, payload));
    ASSERT_TRUE(untouched.ok());
    EXPECT_EQ(*untouched, Bytes(16, 0));

    auto past = rig.typed(*get_lsa(kLsaSize - 8, 16, payload));
    ASSERT_FALSE(past.ok());
    EXPECT_EQ(past.error().cxl_return_code, code(ReturnCode::InvalidInput));
    auto past_set = rig.typed(*set_lsa(kLsaSize - 1, Bytes{1, 2}, payload));
    ASSERT_FALSE(past_set.ok());
    EXPECT_EQ(past_set.error().cxl_return_code, code(ReturnCode::InvalidInput));

    EmuRig none;  // no label storage area: no LSA commands
    EXPECT_EQ(none.typed(*get_lsa(0, 16, 2048)).error().code, Errc::Unsupported);
}

TEST(EmuCare, SecurityStateFromTheDescription) {
    EmuRig plain;
    auto s = plain.typed(get_security_state());
    ASSERT_TRUE(s.ok()) << s.error().describe();
    EXPECT_EQ(s->flags, 0u);
    EmuRig frozen(nlohmann::json{{"security_state", kSecurityFrozen | kSecurityUserPassphraseSet}});
    auto f = frozen.typed(get_security_state());
    ASSERT_TRUE(f.ok());
    EXPECT_EQ(security_state_to_json(*f)["frozen"], true);
    EXPECT_EQ(security_state_to_json(*f)["locked"], false);
}

}  // namespace
}  // namespace cxlmgr::cxl
