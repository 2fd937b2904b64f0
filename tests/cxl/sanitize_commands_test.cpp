#include <gtest/gtest.h>

#include "cxl/commands/sanitize.hpp"

namespace cxlmgr::cxl {
namespace {

TEST(Sanitize, BothRunInTheBackgroundWithTheMediaTimeout) {
    for (const auto& c : {sanitize(), secure_erase()}) {
        EXPECT_TRUE(c.request.input.empty()) << c.spec->name;
        EXPECT_TRUE(c.spec->effects.has(Effect::Background)) << c.spec->name;
        EXPECT_TRUE(c.spec->effects.has(Effect::Data)) << c.spec->name;
        EXPECT_TRUE(c.spec->effects.has(Effect::Security)) << c.spec->name;
        EXPECT_EQ(c.request.options.background_timeout, kMediaBackgroundTimeout) << c.spec->name;
        EXPECT_EQ(c.request.options.expected_duration, kMediaExpected) << c.spec->name;
    }
    EXPECT_EQ(sanitize().request.opcode, opcode::kSanitize);
    EXPECT_EQ(secure_erase().request.opcode, opcode::kSecureErase);
}

}  // namespace
}  // namespace cxlmgr::cxl
