#include "common/result.hpp"

#include <gtest/gtest.h>

namespace cxlmgr {
namespace {

Result<int> half(int v) {
    if (v % 2 != 0) {
        return Error(Errc::InvalidArgument, std::to_string(v) + " is odd");
    }
    return v / 2;
}

Result<int> quarter(int v) {
    CXLMGR_ASSIGN(int h, half(v));
    CXLMGR_ASSIGN(int q, half(h));
    return q;
}

Status check_even(int v) {
    CXLMGR_CHECK(half(v));
    return ok_status();
}

TEST(Result, CarriesValueOrError) {
    auto good = half(8);
    ASSERT_TRUE(good.ok());
    EXPECT_EQ(*good, 4);
    auto bad = half(3);
    ASSERT_FALSE(bad.ok());
    EXPECT_EQ(bad.error().code, Errc::InvalidArgument);
    EXPECT_EQ(bad.error().message, "3 is odd");
    EXPECT_EQ(bad.value_or(-1), -1);
}

TEST(Result, MacrosPropagateTheFirstError) {
    EXPECT_EQ(*quarter(8), 2);
    auto r = quarter(6);  // 6 -> 3 -> odd
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().message, "3 is odd");
    EXPECT_TRUE(check_even(2).ok());
    EXPECT_EQ(check_even(5).error().code, Errc::InvalidArgument);
}

TEST(Result, ContextKeepsTheErrorClass) {
    Error e(Errc::Timeout, "doorbell stuck");
    e.cxl_return_code = 6;
    Error c = e.with_context("emu0");
    EXPECT_EQ(c.code, Errc::Timeout);
    EXPECT_EQ(c.message, "emu0: doorbell stuck");
    EXPECT_EQ(c.cxl_return_code, 6);
    EXPECT_EQ(c.describe(), "Timeout: emu0: doorbell stuck");
}

TEST(Result, EveryErrorClassHasTheContractName) {
    EXPECT_EQ(errc_name(Errc::InvalidArgument), "InvalidArgument");
    EXPECT_EQ(errc_name(Errc::NotCancellable), "NotCancellable");
    EXPECT_EQ(errc_name(Errc::LimitsExceeded), "LimitsExceeded");
    EXPECT_EQ(errc_name(Errc::DeviceGone), "DeviceGone");
}

}  // namespace
}  // namespace cxlmgr
