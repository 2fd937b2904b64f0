#include <gtest/gtest.h>

#include "cxl/commands/security.hpp"

namespace cxlmgr::cxl {
namespace {

TEST(SecurityState, FlagsDecodeFromFourBytes) {
    const Bytes b = {0x0D, 0x00, 0x00, 0x00};  // user passphrase set, locked, frozen
    auto s = decode_security_state(b);
    ASSERT_TRUE(s.ok());
    EXPECT_EQ(s->flags, 0x0Du);
    auto j = security_state_to_json(*s);
    EXPECT_EQ(j["user_passphrase_set"], true);
    EXPECT_EQ(j["master_passphrase_set"], false);
    EXPECT_EQ(j["locked"], true);
    EXPECT_EQ(j["frozen"], true);
    EXPECT_EQ(j["user_attempts_exceeded"], false);
    auto r = decode_security_state(ByteSpan(b).first(3));
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find("Get Security State"), std::string::npos);
    EXPECT_TRUE(get_security_state().request.input.empty());
}

}  // namespace
}  // namespace cxlmgr::cxl
