#include "cxl/register_map.hpp"

#include <gtest/gtest.h>

#include "tests/cxl/fake_cxl_device.hpp"

namespace cxlmgr::cxl {
namespace {

using testing::FakeCap;
using testing::FakeCxlDevice;
using testing::FakeLayout;

struct Discovered {
    std::shared_ptr<FakeCxlDevice> model;
    std::shared_ptr<pci::EmulatedDevice> device;
    Result<DeviceRegisterMap> map;
};

Discovered discover(FakeLayout layout, bool removed = false) {
    auto model = std::make_shared<FakeCxlDevice>(std::move(layout));
    model->set_removed(removed);
    auto device = std::make_shared<pci::EmulatedDevice>(model);
    auto map = discover_device_registers(*device);
    return {model, device, std::move(map)};
}

void expect_error(const Result<DeviceRegisterMap>& r, Errc code, std::string_view text) {
    ASSERT_FALSE(r.ok()) << "expected " << errc_name(code);
    EXPECT_EQ(r.error().code, code) << r.error().describe();
    EXPECT_NE(r.error().message.find(text), std::string::npos) << r.error().message;
    EXPECT_EQ(r.error().message.rfind("fake0: ", 0), 0u) << "names the device";
}

std::vector<FakeCap> standard_caps(uint32_t mailbox_length = 0x820) {
    return {{0x0001, 2, 0x100, 8}, {0x4000, 1, 0x180, 8}, {0x0002, 1, 0x200, mailbox_length}};
}

TEST(RegisterMap, FindsTheCapabilitiesOfABlockDeepInsideTheBar) {
    FakeLayout l;
    l.bar = 4;
    l.bar_size = 0x20000;
    l.block_offset = 0x10000;
    auto d = discover(l);
    ASSERT_TRUE(d.map.ok()) << d.map.error().describe();
    const auto& m = *d.map;
    EXPECT_EQ(m.bar_index, 4u);
    EXPECT_EQ(m.block_offset, 0x10000u);
    EXPECT_EQ(m.device_status.offset, 0x10100u);
    EXPECT_EQ(m.memdev_status.offset, 0x10180u);
    EXPECT_EQ(m.mailbox.offset, 0x10200u);
    EXPECT_EQ(m.mailbox.length, 0x820u);
    EXPECT_EQ(m.capabilities.size(), 3u);
    EXPECT_EQ(m.bar->size(), 0x20000u);
}

TEST(RegisterMap, SkipsEmptyAndOtherBlocksAndReadsTheHighOffsetDword) {
    FakeLayout l;
    l.bar = 0;
    l.bar_size = 0x20000;
    l.block_offset = 0x10000;
    l.locator_entries = {{0, 0},                   // empty entry, as QEMU lists one
                         {0x2 | (0x01u << 8), 0},  // component registers in BAR2
                         {0x0 | (0x03u << 8) | 0x10000u, 0}};
    auto d = discover(l);
    ASSERT_TRUE(d.map.ok()) << d.map.error().describe();
    EXPECT_EQ(d.map->bar_index, 0u);
    auto entries = read_register_locator(d.device->config());
    ASSERT_TRUE(entries.ok());
    ASSERT_EQ(entries->size(), 3u);
    EXPECT_EQ((*entries)[1].block_id, kBlockComponent);
    EXPECT_EQ((*entries)[1].bir, 2u);

    l.locator_entries = {{0x0 | (0x03u << 8), 1}};  // offset 4 GiB: past any BAR here
    expect_error(discover(l).map, Errc::DeviceError, "lies outside the BAR");
}

TEST(RegisterMap, MissingLocatorOrMemdevBlockIsUnsupported) {
    FakeLayout none;
    none.has_locator = false;
    expect_error(discover(none).map, Errc::Unsupported, "Register Locator");

    FakeLayout component_only;
    component_only.locator_entries = {{0x2 | (0x01u << 8), 0}};
    expect_error(discover(component_only).map, Errc::Unsupported, "block ID 3");
}

TEST(RegisterMap, MalformedLocatorEntries) {
    FakeLayout short_dvsec;
    short_dvsec.locator_length = 0x0A;
    auto r = discover(short_dvsec).map;
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, Errc::DeviceError);

    FakeLayout bad_bir;
    bad_bir.locator_entries = {{0x7 | (0x03u << 8), 0}};
    expect_error(discover(bad_bir).map, Errc::DeviceError, "BAR index 7");

    FakeLayout absent_bar;
    absent_bar.locator_entries = {{0x1 | (0x03u << 8), 0}};  // the fake only implements BAR2
    expect_error(discover(absent_bar).map, Errc::NotFound, "BAR 1");
}

TEST(RegisterMap, ArrayRegisterAndCountAreChecked) {
    FakeLayout not_array;
    not_array.array_register = 0x0002 | (3ull << 32);
    expect_error(discover(not_array).map, Errc::DeviceError, "capabilities array");

    FakeLayout too_many;
    too_many.array_register = (1ull << 16) | (0x1000ull << 32);  // 4096 headers in 16 KiB
    expect_error(discover(too_many).map, Errc::DeviceError, "run past the BAR");
}

TEST(RegisterMap, CapabilityOverrunningTheBarIsNamed) {
    FakeLayout l;
    l.caps = standard_caps(0x4000);  // 0x200 + 0x4000 > 0x4000
    expect_error(discover(l).map, Errc::DeviceError, "(Primary Mailbox)");

    FakeLayout vendor;
    vendor.caps = standard_caps();
    vendor.caps.push_back({0x8001, 1, 0xFFFFFFF0u, 0x20});
    expect_error(discover(vendor).map, Errc::DeviceError, "vendor specific");
}

TEST(RegisterMap, RequiredCapabilities) {
    FakeLayout no_mailbox;
    no_mailbox.caps = {{0x0001, 1, 0x100, 8}, {0x4000, 1, 0x180, 8}};
    expect_error(discover(no_mailbox).map, Errc::Unsupported, "Primary Mailbox");

    FakeLayout no_memdev;
    no_memdev.caps = {{0x0001, 1, 0x100, 8}, {0x0002, 1, 0x200, 0x820}};
    expect_error(discover(no_memdev).map, Errc::DeviceError, "Memory Device Status");

    FakeLayout no_status;
    no_status.caps = {{0x4000, 1, 0x180, 8}, {0x0002, 1, 0x200, 0x820}};
    expect_error(discover(no_status).map, Errc::DeviceError, "Device Status");

    FakeLayout misaligned;
    misaligned.caps = {{0x0001, 1, 0x100, 8}, {0x4000, 1, 0x180, 8}, {0x0002, 1, 0x204, 0x820}};
    expect_error(discover(misaligned).map, Errc::DeviceError, "not aligned");

    FakeLayout tiny_mailbox;
    tiny_mailbox.caps = standard_caps(0x10);
    expect_error(discover(tiny_mailbox).map, Errc::DeviceError, "shorter than");
}

TEST(RegisterMap, DuplicateCapabilitiesKeepTheFirst) {
    FakeLayout l;
    l.caps = standard_caps();
    l.caps.push_back({0x0002, 1, 0x1000, 0x820});
    auto d = discover(l);
    ASSERT_TRUE(d.map.ok()) << d.map.error().describe();
    EXPECT_EQ(d.map->mailbox.offset, 0x200u);
    EXPECT_EQ(d.map->capabilities.size(), 4u);
}

TEST(RegisterMap, AllOnesIsDeviceGone) {
    auto r = discover(FakeLayout{}, true).map;
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, Errc::DeviceGone);

    // Config space still answers but the BAR reads all-ones.
    FakeLayout l;
    l.array_register = ~0ull;
    expect_error(discover(l).map, Errc::DeviceGone, "all-ones");
}

TEST(RegisterMap, CapabilityNames) {
    EXPECT_EQ(capability_name(kCapPrimaryMailbox), "Primary Mailbox");
    EXPECT_EQ(capability_name(kCapMemoryDeviceStatus), "Memory Device Status");
    EXPECT_EQ(capability_name(0x8123), "vendor specific");
    EXPECT_EQ(capability_name(0x0077), "");
}

}  // namespace
}  // namespace cxlmgr::cxl
