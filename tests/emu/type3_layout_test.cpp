// The emulated device's layout, read the way a host that knows only the PCIe and CXL
// specifications would find it: through the capability lists, the Register Locator and the
// Device Capabilities Array, never through the model's own constants.
#include <gtest/gtest.h>

#include <map>

#include "emu/type3_device.hpp"
#include "pci/capabilities.hpp"
#include "pci/registers.hpp"

namespace cxlmgr::emu {
namespace {

using namespace cxlmgr::pci;

struct Fixture : ::testing::Test {
    void SetUp() override {
        auto desc = default_device_description("emu7");
        desc.serial = 0x1122334455667788ull;
        desc.volatile_capacity = 2 * kCapacityUnit;
        desc.persistent_capacity = kCapacityUnit;
        auto model = Type3Device::create(desc);
        ASSERT_TRUE(model.ok()) << model.error().describe();
        model_ = *model;
        device = std::make_unique<EmulatedDevice>(model_);
    }

    ConfigSpace& cs() { return device->config(); }

    std::shared_ptr<Type3Device> model_;
    std::unique_ptr<EmulatedDevice> device;
};

TEST_F(Fixture, IdentityAndClassCode) {
    auto id = read_identity(cs(), "");
    ASSERT_TRUE(id.ok());
    EXPECT_EQ(id->vendor_id, 0x8086);
    EXPECT_EQ(id->device_id, 0x0d93);
    EXPECT_EQ(id->class_code, kClassCxlMemory);
    EXPECT_EQ(cs().size(), 4096u);
    EXPECT_EQ(device->backend(), "emulated");
    EXPECT_EQ(device->name(), "emu7");
}

TEST_F(Fixture, PcieCapabilityIsAnEndpoint) {
    auto pcie = find_capability(cs(), kCapIdPcie);
    ASSERT_TRUE(pcie.ok());
    ASSERT_TRUE(pcie->has_value());
    auto flags = cs().read16(**pcie + 2);
    ASSERT_TRUE(flags.ok());
    EXPECT_EQ(*flags & 0xF, 2) << "capability version 2";
    EXPECT_EQ((*flags >> 4) & 0xF, 0) << "PCI Express endpoint";
}

TEST_F(Fixture, SerialNumberCapabilityCarriesTheSerial) {
    auto dsn = find_ext_capability(cs(), kExtCapIdSerialNumber);
    ASSERT_TRUE(dsn.ok() && dsn->has_value());
    uint64_t lo = *cs().read32(**dsn + 4);
    uint64_t hi = *cs().read32(**dsn + 8);
    EXPECT_EQ(lo | hi << 32, 0x1122334455667788ull);
}

TEST_F(Fixture, DoeCapabilityIsPresent) {
    auto doe = find_ext_capability(cs(), kExtCapIdDoe);
    ASSERT_TRUE(doe.ok() && doe->has_value());
    EXPECT_EQ(**doe % 4, 0u);
}

TEST_F(Fixture, CxlDeviceDvsecAdvertisesMemoryAndItsRange) {
    auto off = find_dvsec(cs(), kCxlVendorId, kCxlDvsecDevice);
    ASSERT_TRUE(off.ok() && off->has_value());
    uint16_t cap = *cs().read16(**off + 0x0A);
    EXPECT_TRUE(cap & (1u << 2)) << "Mem_Capable";
    uint64_t size_hi = *cs().read32(**off + 0x18);
    uint64_t size_lo = *cs().read32(**off + 0x1C);
    EXPECT_TRUE(size_lo & 1) << "Memory_Info_Valid";
    EXPECT_EQ((size_hi << 32) | (size_lo & 0xF0000000u), 3 * kCapacityUnit);
}

// Follows the Register Locator to the memory device block and walks its capability array.
TEST_F(Fixture, RegisterLocatorLeadsToTheDeviceCapabilityArray) {
    auto rl = find_dvsec(cs(), kCxlVendorId, kCxlDvsecRegisterLocator);
    ASSERT_TRUE(rl.ok() && rl->has_value());
    uint32_t length = *cs().read32(**rl + kDvsecHeader1) >> 20;
    ASSERT_GE(length, 0x0Cu + 8);
    std::optional<std::pair<unsigned, uint64_t>> memdev_block;
    bool component_block = false;
    for (uint32_t e = **rl + 0x0C; e + 8 <= **rl + length; e += 8) {
        uint32_t lo = *cs().read32(e);
        uint32_t hi = *cs().read32(e + 4);
        unsigned bir = lo & 0x7;
        unsigned block_id = (lo >> 8) & 0xFF;
        uint64_t offset = (uint64_t{hi} << 32) | (lo & 0xFFFF0000u);
        if (block_id == 3) {
            memdev_block = {bir, offset};
        }
        component_block |= block_id == 1;
    }
    EXPECT_TRUE(component_block);
    ASSERT_TRUE(memdev_block.has_value());

    auto bar = device->bar(memdev_block->first);
    ASSERT_TRUE(bar.ok()) << bar.error().describe();
    MmioRegion& regs = **bar;
    uint64_t base = memdev_block->second;
    uint64_t array = regs.read64(base);
    EXPECT_EQ(array & 0xFFFF, 0u) << "capability array ID";
    unsigned count = (array >> 32) & 0xFFFF;
    ASSERT_EQ(count, 3u);
    std::map<uint16_t, std::pair<uint32_t, uint32_t>> found;
    for (unsigned n = 1; n <= count; ++n) {
        uint32_t id = regs.read32(base + 0x10 * n) & 0xFFFF;
        uint32_t offset = regs.read32(base + 0x10 * n + 4);
        uint32_t len = regs.read32(base + 0x10 * n + 8);
        EXPECT_TRUE(regs.contains(base + offset, len)) << "capability " << id << " overruns BAR";
        found[static_cast<uint16_t>(id)] = {offset, len};
    }
    ASSERT_TRUE(found.count(0x0001)) << "device status";
    ASSERT_TRUE(found.count(0x0002)) << "primary mailbox";
    ASSERT_TRUE(found.count(0x4000)) << "memory device status";
    EXPECT_GE(found[0x0002].second, 0x20u + 2048u) << "mailbox registers + 2 KiB payload";

    // Memory Device Status: media ready (01b in [3:2]) and mailbox interface ready (bit 4).
    uint64_t memdev = regs.read64(base + found[0x4000].first);
    EXPECT_EQ((memdev >> 2) & 3, 1u);
    EXPECT_TRUE(memdev & (1u << 4));
}

TEST_F(Fixture, BarSizingReportsTheBarSizes) {
    auto bar_size = [&](unsigned bar) {
        uint32_t off = kCfgBar0 + 4 * bar;
        uint32_t saved = *cs().read32(off);
        EXPECT_TRUE(cs().write32(off, 0xFFFFFFFFu).ok());
        uint32_t mask = *cs().read32(off) & 0xFFFFFFF0u;
        EXPECT_TRUE(cs().write32(off, saved).ok());
        EXPECT_EQ(*cs().read32(off), saved);
        return uint64_t{~mask} + 1;
    };
    EXPECT_EQ(*cs().read32(kCfgBar0) & 0x6, kBarMemory64);
    EXPECT_EQ(bar_size(0), device->bar(0).value()->size());
    EXPECT_EQ(bar_size(2), device->bar(2).value()->size());
    EXPECT_EQ(device->bar(1).error().code, Errc::NotFound);
    EXPECT_EQ(device->bar(6).error().code, Errc::NotFound);
}

TEST_F(Fixture, ReadOnlyRegistersIgnoreWrites) {
    EXPECT_TRUE(cs().write32(0, 0).ok());
    EXPECT_EQ(*cs().read16(0), 0x8086);
    EXPECT_TRUE(cs().write16(kCfgCommand, 0xFFFF).ok());
    EXPECT_EQ(*cs().read16(kCfgCommand), kCommandMemorySpace | kCommandBusMaster);
}

TEST_F(Fixture, LargePayloadGrowsTheDeviceBar) {
    auto desc = default_device_description("big");
    desc.payload_size = 1u << 20;
    auto model = Type3Device::create(desc);
    ASSERT_TRUE(model.ok());
    EmulatedDevice big(*model);
    EXPECT_GE(big.bar(2).value()->size(), (1u << 20) + 0x20u);
}

TEST_F(Fixture, SurpriseRemovalReadsAllOnes) {
    model_->arm_fault(Fault::SurpriseRemoval, FaultSet::kForever);
    EXPECT_EQ(*cs().read32(0), 0xFFFFFFFFu);
    EXPECT_EQ(list_ext_capabilities(cs()).error().code, Errc::DeviceGone);
    EXPECT_EQ(device->bar(2).value()->read64(0), ~0ull);
    model_->clear_faults();
    EXPECT_EQ(*cs().read16(0), 0x8086);
}

TEST(DeviceDescription, RejectsBadValuesNamingTheKey) {
    using nlohmann::json;
    auto r = parse_device_description(json{{"payload_size", 3000}});
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find("payload_size"), std::string::npos);
    r = parse_device_description(json{{"volatile_capacity", 1000}});
    EXPECT_NE(r.error().message.find("256 MiB"), std::string::npos);
    r = parse_device_description(json{{"serail", 1}});
    EXPECT_NE(r.error().message.find("serail"), std::string::npos);
    r = parse_device_description(json{{"name", 5}});
    EXPECT_NE(r.error().message.find("name"), std::string::npos);
    r = parse_device_description(json::array());
    EXPECT_FALSE(r.ok());
    auto good =
        parse_device_description(json{{"name", "emu3"}, {"serial", 99}, {"payload_size", 512}});
    ASSERT_TRUE(good.ok());
    EXPECT_EQ(good->serial, 99u);
    EXPECT_EQ(good->payload_size, 512u);
}

TEST(Faults, NamesRoundTrip) {
    for (unsigned i = 0; i < static_cast<unsigned>(Fault::kCount); ++i) {
        auto f = static_cast<Fault>(i);
        auto parsed = parse_fault(fault_name(f));
        ASSERT_TRUE(parsed.ok());
        EXPECT_EQ(*parsed, f);
    }
    EXPECT_EQ(parse_fault("mailbox-timeout").value(), Fault::MailboxTimeout);
    auto bad = parse_fault("melt");
    ASSERT_FALSE(bad.ok());
    EXPECT_NE(bad.error().message.find("surprise-removal"), std::string::npos);
}

TEST(Faults, CountsAreConsumed) {
    FaultSet set;
    set.arm(Fault::DoeBusy, 2);
    EXPECT_TRUE(set.consume(Fault::DoeBusy));
    EXPECT_TRUE(set.consume(Fault::DoeBusy));
    EXPECT_FALSE(set.consume(Fault::DoeBusy));
    set.arm(Fault::DoeError, FaultSet::kForever);
    for (int i = 0; i < 10; ++i) {
        EXPECT_TRUE(set.consume(Fault::DoeError));
    }
    set.clear();
    EXPECT_FALSE(set.armed(Fault::DoeError));
}

}  // namespace
}  // namespace cxlmgr::emu
