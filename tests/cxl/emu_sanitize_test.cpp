// Sanitize and Secure Erase through the real mailbox registers of the emulated device: both run
// in the background with progress, wipe the poison list, and fail with the sanitize-fail fault.
#include <gtest/gtest.h>

#include "cxl/commands/poison.hpp"
#include "cxl/commands/sanitize.hpp"
#include "cxl/return_code.hpp"
#include "tests/cxl/emu_rig.hpp"

namespace cxlmgr::cxl {
namespace {

using testing::EmuRig;

constexpr DpaRange kWhole{0, 256ull << 20};

size_t poison_count(EmuRig& rig) {
    auto l = rig.typed(*get_poison_list(kWhole));
    EXPECT_TRUE(l.ok()) << l.error().describe();
    return l.ok() ? l->records.size() : 0;
}

TEST(EmuSanitize, SanitizeRunsInTheBackgroundAndWipesThePoisonList) {
    EmuRig rig(nlohmann::json{{"timing", {{"background_us", {{"sanitize", 30000}}}}}});
    ASSERT_TRUE(rig.typed(*inject_poison(0x40)).ok());
    ASSERT_EQ(poison_count(rig), 1u);
    auto command = sanitize();
    std::vector<unsigned> progress;
    bool started = false;
    command.request.options.on_progress = [&](unsigned p) { progress.push_back(p); };
    command.request.options.on_background_started = [&] { started = true; };
    auto r = rig.raw(command.request);
    ASSERT_TRUE(r.ok()) << r.error().describe();
    EXPECT_TRUE(r->background);
    EXPECT_EQ(r->return_code, 0);
    EXPECT_TRUE(started);
    ASSERT_FALSE(progress.empty());
    EXPECT_EQ(progress.back(), 100u);
    EXPECT_EQ(poison_count(rig), 0u);
}

TEST(EmuSanitize, SecureEraseToo) {
    EmuRig rig;
    ASSERT_TRUE(rig.typed(*inject_poison(0x80)).ok());
    auto r = rig.typed(secure_erase());
    ASSERT_TRUE(r.ok()) << r.error().describe();
    EXPECT_EQ(poison_count(rig), 0u);
}

TEST(EmuSanitize, FaultEndsItWithInternalErrorAndErasesNothing) {
    EmuRig rig;
    ASSERT_TRUE(rig.typed(*inject_poison(0x40)).ok());
    rig.model->arm_fault(emu::Fault::SanitizeFail);
    auto r = rig.typed(sanitize());
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().cxl_return_code,
              std::optional<uint16_t>(static_cast<uint16_t>(ReturnCode::InternalError)));
    EXPECT_NE(r.error().message.find("Sanitize"), std::string::npos) << r.error().message;
    EXPECT_EQ(poison_count(rig), 1u);
    EXPECT_TRUE(rig.typed(sanitize()).ok()) << "the fault is used up";
    EXPECT_EQ(poison_count(rig), 0u);
}

TEST(EmuSanitize, ALockedDeviceRefusesIt) {
    EmuRig rig(nlohmann::json{{"security_state", 0x5}});  // user passphrase set, locked
    auto r = rig.typed(sanitize());
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().cxl_return_code,
              std::optional<uint16_t>(static_cast<uint16_t>(ReturnCode::InvalidSecurityState)));
}

}  // namespace
}  // namespace cxlmgr::cxl
