#include "cxl/return_code.hpp"

#include <gtest/gtest.h>

#include <set>

#include "cxl/command_table.hpp"
#include "cxl/commands/command.hpp"

namespace cxlmgr::cxl {
namespace {

TEST(ReturnCode, EveryCodeOfTheTableHasItsOwnName) {
    std::set<std::string_view> names;
    for (uint16_t c = 0; c <= kLastKnownReturnCode; ++c) {
        std::string_view n = return_code_name(c);
        EXPECT_NE(n, "Unknown") << c;
        EXPECT_FALSE(n.empty()) << c;
        names.insert(n);
    }
    EXPECT_EQ(names.size(), kLastKnownReturnCode + 1u);
    EXPECT_EQ(return_code_name(0x21), "Unknown");
    EXPECT_EQ(return_code_name(0xFFFF), "Unknown");
    EXPECT_EQ(return_code_name(0x16), "Invalid Payload Length");
    EXPECT_EQ(describe_return_code(0x0A), "0x0a FW Verification Failed");
}

TEST(ReturnCode, UnsupportedNamesTheCommandAndTheCode) {
    Error e = return_code_error(0x03, "Get Health Info");
    EXPECT_EQ(e.code, Errc::Unsupported);
    EXPECT_EQ(e.message,
              "Get Health Info is not supported by this device (CXL return code 0x03 Unsupported)");
    ASSERT_TRUE(e.cxl_return_code.has_value());
    EXPECT_EQ(*e.cxl_return_code, 0x03);
}

TEST(ReturnCode, BusyMapsToBusyAndTheRestToDeviceError) {
    Error busy = return_code_error(0x06, "Transfer FW");
    EXPECT_EQ(busy.code, Errc::Busy);
    EXPECT_EQ(busy.cxl_return_code, std::optional<uint16_t>(0x06));
    EXPECT_NE(busy.message.find("Transfer FW"), std::string::npos);
    EXPECT_NE(busy.message.find("0x06 Busy"), std::string::npos);

    for (uint16_t c = 0; c <= 0x30; ++c) {
        if (c == 0x03 || c == 0x06) {
            continue;
        }
        Error e = return_code_error(c, "Activate FW");
        EXPECT_EQ(e.code, Errc::DeviceError) << c;
        EXPECT_EQ(e.cxl_return_code, std::optional<uint16_t>(c));
        EXPECT_NE(e.message.find("Activate FW"), std::string::npos) << e.message;
        EXPECT_NE(e.message.find(describe_return_code(c)), std::string::npos) << e.message;
    }
}

TEST(ReturnCode, TypedLayerMapsTheCodeAndTheTransportDoesNot) {
    MailboxResponse r;
    r.opcode = opcode::kGetHealthInfo;
    r.return_code = 0x03;
    auto out = success_output(r, "Get Health Info");
    ASSERT_FALSE(out.ok());
    EXPECT_EQ(out.error().code, Errc::Unsupported);
    EXPECT_EQ(check_success(r, "Get Health Info").error().cxl_return_code,
              std::optional<uint16_t>(3));

    r.return_code = 0;
    r.output = {1, 2, 3};
    auto ok = success_output(r, "Get Health Info");
    ASSERT_TRUE(ok.ok());
    EXPECT_EQ(ok->size(), 3u);
    EXPECT_TRUE(check_success(r, "x").ok());
}

}  // namespace
}  // namespace cxlmgr::cxl
