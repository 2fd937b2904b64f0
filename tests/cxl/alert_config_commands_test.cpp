#include <gtest/gtest.h>

#include "cxl/commands/alert_config.hpp"
#include "cxl/return_code.hpp"

namespace cxlmgr::cxl {
namespace {

// Get Alert Configuration output as the specification lays it out.
Bytes alert_bytes() {
    Bytes b(kAlertConfigSize, 0);
    b[0] = kAlertLifeUsed | kAlertOverTemperature;
    b[1] = 0x1F;
    b[2] = 100;
    b[3] = 80;
    store_le(b, 4, 95, 2);
    store_le(b, 6, static_cast<uint16_t>(-20), 2);
    store_le(b, 8, 85, 2);
    store_le(b, 0x0A, static_cast<uint16_t>(-5), 2);
    store_le(b, 0x0C, 1000, 2);
    store_le(b, 0x0E, 2000, 2);
    return b;
}

TEST(AlertConfig, DecodesEveryFieldWithSignedTemperatures) {
    auto c = decode_alert_config(alert_bytes());
    ASSERT_TRUE(c.ok()) << c.error().describe();
    EXPECT_EQ(c->valid_alerts, kAlertLifeUsed | kAlertOverTemperature);
    EXPECT_EQ(c->programmable_alerts, 0x1F);
    EXPECT_EQ(c->life_used_critical, 100);
    EXPECT_EQ(c->life_used_warning, 80);
    EXPECT_EQ(c->over_temperature_critical, 95);
    EXPECT_EQ(c->under_temperature_critical, -20);
    EXPECT_EQ(c->over_temperature_warning, 85);
    EXPECT_EQ(c->under_temperature_warning, -5);
    EXPECT_EQ(c->corrected_volatile_warning, 1000);
    EXPECT_EQ(c->corrected_persistent_warning, 2000);
    auto j = alert_config_to_json(*c);
    EXPECT_EQ(j["valid"], nlohmann::json({"life_used", "over_temperature"}));
    EXPECT_EQ(j["under_temperature_critical"], -20);
}

TEST(AlertConfig, ShortOutputNamesTheCommandAndLongerIsAccepted) {
    auto r = decode_alert_config(ByteSpan(alert_bytes()).first(0x0F));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, Errc::DeviceError);
    EXPECT_NE(r.error().message.find("Get Alert Configuration"), std::string::npos);
    Bytes longer = alert_bytes();
    longer.resize(0x40, 0xEE);
    EXPECT_TRUE(decode_alert_config(longer).ok());
}

TEST(AlertConfig, SetLayoutDiffersFromGet) {
    AlertConfigUpdate u;
    u.valid_actions = kAlertLifeUsed | kAlertUnderTemperature | kAlertCorrectedPersistentErrors;
    u.enable_actions = kAlertLifeUsed | kAlertUnderTemperature;
    u.life_used_warning = 75;
    u.over_temperature_warning = 90;
    u.under_temperature_warning = -10;
    u.corrected_volatile_warning = 0x1234;
    u.corrected_persistent_warning = 0x5678;
    auto c = set_alert_config(u);
    ASSERT_TRUE(c.ok());
    EXPECT_EQ(c->request.opcode, opcode::kSetAlertConfig);
    const Bytes expected = {0x15, 0x05, 75, 0x00, 90, 0x00, 0xF6, 0xFF, 0x34, 0x12, 0x78, 0x56};
    EXPECT_EQ(c->request.input, expected);
    EXPECT_TRUE(check_input(*c->spec, c->request.input.size(), 256).ok());

    u.valid_actions = 0x20;
    auto bad = set_alert_config(u);
    ASSERT_FALSE(bad.ok());
    EXPECT_EQ(bad.error().code, Errc::InvalidArgument);
}

TEST(AlertConfig, ParseMapsTheReturnCode) {
    MailboxResponse resp{
        opcode::kGetAlertConfig, static_cast<uint16_t>(ReturnCode::Unsupported), 0, false, {}};
    auto r = parse(get_alert_config(), resp);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, Errc::Unsupported);
    resp.return_code = 0;
    resp.output = alert_bytes();
    EXPECT_TRUE(parse(get_alert_config(), resp).ok());
}

}  // namespace
}  // namespace cxlmgr::cxl
