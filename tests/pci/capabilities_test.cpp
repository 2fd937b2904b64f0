#include "pci/capabilities.hpp"

#include <gtest/gtest.h>

#include "pci/registers.hpp"
#include "tests/support/byte_config_space.hpp"

namespace cxlmgr::pci {
namespace {

using testing::ByteConfigSpace;

uint32_t ext_header(uint16_t id, uint8_t version, uint32_t next) {
    return id | (uint32_t{version} << 16) | (next << 20);
}

ByteConfigSpace with_standard_list() {
    ByteConfigSpace cs;
    cs.put16(kCfgStatus, kStatusCapabilitiesList);
    cs.put8(kCfgCapabilitiesPointer, 0x40);
    cs.put16(0x40, kCapIdPowerManagement | (0x50 << 8));
    cs.put16(0x50, kCapIdMsix | (0x70 << 8));
    cs.put16(0x70, kCapIdPcie | (0x00 << 8));
    return cs;
}

TEST(Capabilities, WalksTheStandardList) {
    auto cs = with_standard_list();
    auto caps = list_capabilities(cs);
    ASSERT_TRUE(caps.ok()) << caps.error().describe();
    ASSERT_EQ(caps->size(), 3u);
    EXPECT_EQ((*caps)[0].id, kCapIdPowerManagement);
    EXPECT_EQ((*caps)[1].offset, 0x50u);
    EXPECT_EQ((*caps)[2].id, kCapIdPcie);
    auto pcie = find_capability(cs, kCapIdPcie);
    ASSERT_TRUE(pcie.ok());
    EXPECT_EQ(pcie->value(), 0x70u);
    EXPECT_FALSE(find_capability(cs, kCapIdMsi)->has_value());
}

TEST(Capabilities, NoListBitMeansNoCapabilities) {
    auto cs = with_standard_list();
    cs.put16(kCfgStatus, 0);
    auto caps = list_capabilities(cs);
    ASSERT_TRUE(caps.ok());
    EXPECT_TRUE(caps->empty());
}

TEST(Capabilities, StandardLoopIsReported) {
    auto cs = with_standard_list();
    cs.put16(0x70, kCapIdPcie | (0x50 << 8));  // back to 0x50
    auto caps = list_capabilities(cs);
    ASSERT_FALSE(caps.ok());
    EXPECT_EQ(caps.error().code, Errc::DeviceError);
    EXPECT_NE(caps.error().message.find("loops back to 0x50"), std::string::npos);
}

TEST(Capabilities, SelfLoopIsReported) {
    auto cs = with_standard_list();
    cs.put16(0x40, kCapIdPowerManagement | (0x40 << 8));
    EXPECT_NE(list_capabilities(cs).error().message.find("loops"), std::string::npos);
}

TEST(Capabilities, StandardPointerIntoTheHeaderIsReported) {
    auto cs = with_standard_list();
    cs.put16(0x50, kCapIdMsix | (0x10 << 8));
    auto caps = list_capabilities(cs);
    ASSERT_FALSE(caps.ok());
    EXPECT_NE(caps.error().message.find("0x10"), std::string::npos);
}

TEST(Capabilities, AllOnesMeansTheDeviceIsGone) {
    ByteConfigSpace cs;
    cs.fill(0xFF);
    EXPECT_EQ(list_capabilities(cs).error().code, Errc::DeviceGone);
    EXPECT_EQ(list_ext_capabilities(cs).error().code, Errc::DeviceGone);
}

TEST(Capabilities, AllOnesInTheMiddleOfTheListMeansGone) {
    auto cs = with_standard_list();
    cs.put16(0x70, 0xFFFF);
    EXPECT_EQ(list_capabilities(cs).error().code, Errc::DeviceGone);
}

ByteConfigSpace with_ext_list() {
    ByteConfigSpace cs;
    cs.put32(0x100, ext_header(kExtCapIdSerialNumber, 1, 0x110));
    cs.put32(0x110, ext_header(kExtCapIdDoe, 1, 0x130));
    cs.put32(0x130, ext_header(kExtCapIdDvsec, 1, 0x170));
    cs.put32(0x134, kCxlVendorId | (1u << 16) | (0x38u << 20));
    cs.put16(0x138, kCxlDvsecDevice);
    cs.put32(0x170, ext_header(kExtCapIdDvsec, 1, 0));
    cs.put32(0x174, kCxlVendorId | (0u << 16) | (0x1Cu << 20));
    cs.put16(0x178, kCxlDvsecRegisterLocator);
    return cs;
}

TEST(Capabilities, WalksTheExtendedListAndFindsDvsecs) {
    auto cs = with_ext_list();
    auto caps = list_ext_capabilities(cs);
    ASSERT_TRUE(caps.ok()) << caps.error().describe();
    ASSERT_EQ(caps->size(), 4u);
    EXPECT_EQ((*caps)[1].id, kExtCapIdDoe);
    EXPECT_EQ((*caps)[1].offset, 0x110u);
    EXPECT_EQ((*caps)[1].version, 1u);
    auto dvsecs = list_dvsecs(cs);
    ASSERT_TRUE(dvsecs.ok());
    ASSERT_EQ(dvsecs->size(), 2u);
    EXPECT_EQ((*dvsecs)[1].id, kCxlDvsecRegisterLocator);
    EXPECT_EQ((*dvsecs)[1].length, 0x1Cu);
    EXPECT_EQ(find_dvsec(cs, kCxlVendorId, kCxlDvsecRegisterLocator)->value(), 0x170u);
    EXPECT_FALSE(find_dvsec(cs, 0x8086, kCxlDvsecRegisterLocator)->has_value());
    EXPECT_EQ(find_ext_capability(cs, kExtCapIdDoe)->value(), 0x110u);
}

TEST(Capabilities, EmptyExtendedSpace) {
    ByteConfigSpace cs;
    auto caps = list_ext_capabilities(cs);
    ASSERT_TRUE(caps.ok());
    EXPECT_TRUE(caps->empty());
    ByteConfigSpace legacy(kConfigSpaceLegacySize);
    EXPECT_TRUE(list_ext_capabilities(legacy)->empty());
}

TEST(Capabilities, ExtendedLoopIsReported) {
    auto cs = with_ext_list();
    cs.put32(0x170, ext_header(kExtCapIdDvsec, 1, 0x110));
    auto caps = list_ext_capabilities(cs);
    ASSERT_FALSE(caps.ok());
    EXPECT_EQ(caps.error().code, Errc::DeviceError);
    EXPECT_NE(caps.error().message.find("loops back to 0x110"), std::string::npos);
}

TEST(Capabilities, ExtendedPointerIntoConventionalSpaceIsReported) {
    auto cs = with_ext_list();
    cs.put32(0x110, ext_header(kExtCapIdDoe, 1, 0x0C0));
    auto caps = list_ext_capabilities(cs);
    ASSERT_FALSE(caps.ok());
    EXPECT_NE(caps.error().message.find("0xc0"), std::string::npos);
}

TEST(Capabilities, DvsecLengthPastTheEndIsReported) {
    auto cs = with_ext_list();
    cs.put32(0xFF0, ext_header(kExtCapIdDvsec, 1, 0));
    cs.put32(0x170, ext_header(kExtCapIdDvsec, 1, 0xFF0));
    cs.put32(0xFF4, kCxlVendorId | (0x40u << 20));  // 0xFF0 + 0x40 > 4096
    auto dvsecs = list_dvsecs(cs);
    ASSERT_FALSE(dvsecs.ok());
    EXPECT_NE(dvsecs.error().message.find("length"), std::string::npos);
}

TEST(Capabilities, LongestPossibleChainTerminates) {
    // Every dword of the extended space chained: the walk must end at the last one.
    ByteConfigSpace cs;
    for (uint32_t off = 0x100; off < 0x1000; off += 4) {
        uint32_t next = off + 4 < 0x1000 ? off + 4 : 0;
        cs.put32(off, ext_header(0x0001, 1, next));
    }
    auto caps = list_ext_capabilities(cs);
    ASSERT_TRUE(caps.ok());
    EXPECT_EQ(caps->size(), (0x1000u - 0x100u) / 4);
}

}  // namespace
}  // namespace cxlmgr::pci
