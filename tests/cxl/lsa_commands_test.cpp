#include <gtest/gtest.h>

#include "cxl/commands/lsa.hpp"

namespace cxlmgr::cxl {
namespace {

TEST(Lsa, GetCarriesOffsetAndLengthLimitedByThePayload) {
    auto c = get_lsa(0x100, 0x80, 256);
    ASSERT_TRUE(c.ok());
    const Bytes expected = {0x00, 0x01, 0x00, 0x00, 0x80, 0x00, 0x00, 0x00};
    EXPECT_EQ(c->request.input, expected);
    EXPECT_FALSE(get_lsa(0, 257, 256).ok());
    EXPECT_FALSE(get_lsa(0, 0, 256).ok());
    EXPECT_FALSE(get_lsa(0xFFFFFF80u, 0x100, 256).ok());

    Bytes out(0x80, 0xAB);
    out.push_back(0xCD);  // longer than asked: the asked bytes only
    auto r = parse(*c, MailboxResponse{opcode::kGetLsa, 0, 0, false, out});
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(*r, Bytes(0x80, 0xAB));
    auto short_r = decode_lsa(ByteSpan(out).first(0x7F), 0x80);
    ASSERT_FALSE(short_r.ok());
    EXPECT_EQ(short_r.error().code, Errc::DeviceError);
    EXPECT_NE(short_r.error().message.find("Get LSA"), std::string::npos);
}

TEST(Lsa, SetHasAnEightByteHeaderThenData) {
    const Bytes data = {1, 2, 3};
    auto c = set_lsa(0x20, data, 256);
    ASSERT_TRUE(c.ok());
    const Bytes expected = {0x20, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3};
    EXPECT_EQ(c->request.input, expected);
    EXPECT_EQ(set_lsa_max_data(256), 248u);
    EXPECT_TRUE(set_lsa(0, Bytes(248), 256).ok());
    EXPECT_FALSE(set_lsa(0, Bytes(249), 256).ok());
    EXPECT_FALSE(set_lsa(0, {}, 256).ok());
}

}  // namespace
}  // namespace cxlmgr::cxl
