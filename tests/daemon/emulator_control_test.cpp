// EmulatorControl takes the names of org.cxlmgr1.Emulator and does what they say to the device
// model, refusing unknown names and a count of 0 with InvalidArgument.
#include "daemon/emulator_control.hpp"

#include <gtest/gtest.h>

#include "emu/type3_device.hpp"

namespace cxlmgr::daemon {
namespace {

struct EmulatorControlTest : ::testing::Test {
    std::shared_ptr<emu::Type3Device> model;
    std::unique_ptr<EmulatorControl> control;

    void SetUp() override {
        auto created = emu::Type3Device::create(emu::default_device_description("emu0"));
        ASSERT_TRUE(created.ok()) << created.error().describe();
        model = *created;
        control = std::make_unique<EmulatorControl>("emu0", model);
    }

    bool armed(emu::Fault fault) {
        return model->with_parts([fault](emu::DeviceContext& context, auto*, auto*) {
            return context.faults.armed(fault);
        });
    }
    uint32_t event_status() {
        return model->with_parts([](emu::DeviceContext&, auto*, emu::MailboxBlock* mailbox) {
            return mailbox->event_status();
        });
    }
};

TEST_F(EmulatorControlTest, ArmsAndClearsFaultsByName) {
    ASSERT_TRUE(control->inject_fault("doe-busy", 2).ok());
    ASSERT_TRUE(control->inject_fault("mailbox-timeout", EmulatorControl::kForever).ok());
    EXPECT_TRUE(armed(emu::Fault::DoeBusy));
    EXPECT_TRUE(armed(emu::Fault::MailboxTimeout));
    EXPECT_FALSE(armed(emu::Fault::DoeError));
    control->clear_faults();
    EXPECT_FALSE(armed(emu::Fault::DoeBusy));
    EXPECT_FALSE(armed(emu::Fault::MailboxTimeout));
}

TEST_F(EmulatorControlTest, RefusesUnknownFaultsAndACountOfZero) {
    auto unknown = control->inject_fault("no-such-fault", 1);
    ASSERT_FALSE(unknown.ok());
    EXPECT_EQ(unknown.error().code, Errc::InvalidArgument);
    EXPECT_NE(unknown.error().message.find("no-such-fault"), std::string::npos);

    auto zero = control->inject_fault("doe-busy", 0);
    ASSERT_FALSE(zero.ok());
    EXPECT_EQ(zero.error().code, Errc::InvalidArgument);
    EXPECT_FALSE(armed(emu::Fault::DoeBusy));
}

TEST_F(EmulatorControlTest, InjectsEventsIntoTheNamedLog) {
    EXPECT_EQ(event_status(), 0u);
    ASSERT_TRUE(control->inject_event("failure", "dram", {{"dpa", 0x1000}}).ok());
    EXPECT_EQ(event_status(), 1u << 2);  // the failure log
}

TEST_F(EmulatorControlTest, RefusesUnknownLogsKindsAndFields) {
    for (auto [log, kind, fields] :
         {std::tuple{"loud", "dram", nlohmann::json::object()},
          std::tuple{"warning", "toaster", nlohmann::json::object()},
          std::tuple{"warning", "dram", nlohmann::json{{"no_such_field", 1}}}}) {
        auto refused = control->inject_event(log, kind, fields);
        ASSERT_FALSE(refused.ok()) << log << " " << kind << " " << fields.dump();
        EXPECT_EQ(refused.error().code, Errc::InvalidArgument);
    }
    EXPECT_EQ(event_status(), 0u);
}

}  // namespace
}  // namespace cxlmgr::daemon
