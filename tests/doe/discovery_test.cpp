#include "doe/discovery.hpp"

#include <gtest/gtest.h>

#include "tests/doe/doe_test_support.hpp"
#include "tests/doe/fake_doe_config.hpp"

namespace cxlmgr::testing {
namespace {

using emu::Fault;

Result<std::vector<doe::DoeProtocol>> discover_fake(
    FakeDoeConfig::Responder responder, uint8_t version = 1,
    std::shared_ptr<FakeDoeConfig>* keep = nullptr) {
    boost::asio::io_context io;
    auto fake = std::make_shared<FakeDoeConfig>(std::move(responder), version);
    if (keep)
        *keep = fake;
    auto mb = doe::DoeMailbox::create("fake", io.get_executor(), fake, FakeDoeConfig::kDoe,
                                      fast_timeouts());
    if (!mb.ok())
        return mb.error();
    std::optional<Result<std::vector<doe::DoeProtocol>>> out;
    doe::async_discover(**mb, {}, [&](auto r) { out.emplace(std::move(r)); });
    io.run();
    return std::move(*out);
}

std::vector<uint32_t> discovery_answer(uint16_t vid, uint8_t type, uint8_t next) {
    return {0x00000001, 3, vid | (static_cast<uint32_t>(type) << 16) | (uint32_t{next} << 24)};
}

TEST(Discovery, EmulatedDeviceListsDiscoveryAndTableAccess) {
    EmuDoe emu;
    ASSERT_EQ(emu.init(), "");
    auto r = emu.discover();
    ASSERT_TRUE(r.ok()) << r.error().describe();
    std::vector<doe::DoeProtocol> expected{doe::kProtocolDiscovery, doe::kProtocolCdat};
    EXPECT_EQ(*r, expected);
}

TEST(Discovery, VersionFieldFollowsTheCapabilityVersion) {
    EXPECT_EQ(doe::discovery_request(5, 1), 5u);
    EXPECT_EQ(doe::discovery_request(5, 2), 5u | (2u << 8));
    EXPECT_EQ(doe::discovery_request(0, 3), 2u << 8);

    // Against the emulated device, reporting capability version 2 on the way back.
    EmuDoe emu;
    std::vector<uint32_t> written;
    ASSERT_EQ(emu.init(emu::default_device_description("emu0"), fast_timeouts(),
                       [&](CountingConfig& c) {
                           c.read_filter = [](uint32_t off, uint32_t v) {
                               return off == emu::Type3Device::kDoeOffset
                                          ? (v & ~0xF0000u) | 0x20000u
                                          : v;
                           };
                           c.write_spy = [&](uint32_t off, uint32_t v) {
                               if (off == emu::Type3Device::kDoeOffset + 0x10)
                                   written.push_back(v);
                           };
                       }),
              "");
    EXPECT_EQ(emu.mailbox->capability_version(), 2);
    auto r = emu.discover();
    ASSERT_TRUE(r.ok()) << r.error().describe();
    ASSERT_EQ(written.size(), 6u);  // two requests of 3 dwords
    EXPECT_EQ(written[2], 0x200u);
    EXPECT_EQ(written[5], 0x201u);
}

TEST(Discovery, LoopingDeviceIsStopped) {
    std::shared_ptr<FakeDoeConfig> fake;
    auto r = discover_fake(
        [](const std::vector<uint32_t>& req) {
            uint8_t index = req.at(2) & 0xFF;
            return discovery_answer(0x0001, index, 1);  // 0 -> 1 -> 1
        },
        1, &fake);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, Errc::DeviceError);
    EXPECT_NE(r.error().message.find("next index 1 was already visited: the device loops"),
              std::string::npos)
        << r.error().message;
    EXPECT_EQ(fake->gos, 2u);
}

TEST(Discovery, FullIndexSpaceIsBounded) {
    // 256 protocols chained 0 -> 1 -> ... -> 255 -> 0 (end): the longest legal walk.
    std::shared_ptr<FakeDoeConfig> fake;
    auto r = discover_fake(
        [](const std::vector<uint32_t>& req) {
            uint8_t index = req.at(2) & 0xFF;
            return discovery_answer(0x1000 + index, 1, static_cast<uint8_t>(index + 1));
        },
        1, &fake);
    ASSERT_TRUE(r.ok()) << r.error().describe();
    EXPECT_EQ(r->size(), 256u);
    EXPECT_EQ(fake->gos, 256u);
}

TEST(Discovery, UnknownIndexPatternIsAnError) {
    auto r = discover_fake([](const std::vector<uint32_t>& req) {
        uint8_t index = req.at(2) & 0xFF;
        return index == 0 ? discovery_answer(0x0001, 0, 7) : discovery_answer(0xFFFF, 0xFF, 0);
    });
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, Errc::DeviceError);
    EXPECT_NE(r.error().message.find("DOE discovery index 7: device does not know this index"),
              std::string::npos)
        << r.error().message;
}

TEST(Discovery, WrongPayloadSizeIsAnError) {
    auto r = discover_fake([](const std::vector<uint32_t>&) {
        return std::vector<uint32_t>{0x00000001, 2};
    });
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find("0 payload dwords, expected 1"), std::string::npos);
}

TEST(Discovery, TransportErrorsCarryTheIndex) {
    EmuDoe emu;
    ASSERT_EQ(emu.init(), "");
    emu.model->arm_fault(Fault::DoeError);
    auto r = emu.discover();
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, Errc::DeviceError);
    EXPECT_NE(r.error().message.find("DOE discovery index 0: DOE mailbox at 0x110: device set the "
                                     "Error bit"),
              std::string::npos)
        << r.error().message;
    auto again = emu.discover();
    EXPECT_TRUE(again.ok());
}

}  // namespace
}  // namespace cxlmgr::testing
