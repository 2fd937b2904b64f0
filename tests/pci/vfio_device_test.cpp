// Only the error paths of the VFIO backend run here: this machine has no IOMMU and no VFIO
// devices, and the ioctls cannot be faked. The capability-chain overlay, which makes a VFIO
// config region usable for DVSEC and DOE discovery, is tested on its own.
#include "pci/vfio_device.hpp"

#include <gtest/gtest.h>

#include "pci/capabilities.hpp"
#include "pci/chain_overlay.hpp"
#include "pci/registers.hpp"
#include "tests/pci/fake_sysfs.hpp"
#include "tests/support/byte_config_space.hpp"

namespace cxlmgr::pci {
namespace {

using testing::ByteConfigSpace;
using testing::FakeFunction;
using testing::FakeSysfs;
namespace fs = std::filesystem;

constexpr const char* kBdf = "0000:0d:00.0";

bool contains(const std::string& haystack, const std::string& needle) {
    return haystack.find(needle) != std::string::npos;
}

uint32_t ext_header(uint16_t id, uint8_t version, uint32_t next) {
    return id | (uint32_t{version} << 16) | (next << 20);
}

// A CXL device's chain: PM -> PCIe; DVSEC (CXL Device) at 0x100 -> DOE at 0x140 -> DSN at 0x180.
std::vector<std::pair<uint32_t, uint32_t>> cxl_chain() {
    return {
        {kCfgCommand, uint32_t{kStatusCapabilitiesList} << 16},
        {kCfgCapabilitiesPointer, 0x40},
        {0x40, kCapIdPowerManagement | (0x50 << 8) | (0x0003u << 16)},
        {0x50, kCapIdPcie | (0x00 << 8) | (0x0002u << 16)},
        {0x100, ext_header(kExtCapIdDvsec, 1, 0x140)},
        {0x104, kCxlVendorId | (1u << 16) | (0x3Cu << 20)},
        {0x108, kCxlDvsecDevice | (0x1234u << 16)},
        {0x140, ext_header(kExtCapIdDoe, 2, 0x180)},
        {0x148, 0x00000007},  // a DOE register
        {0x180, ext_header(kExtCapIdSerialNumber, 1, 0)},
    };
}

class VfioDeviceTest : public ::testing::Test {
protected:
    VfioOptions options(bool chain_from_sysfs = false) const {
        return {fake.devices(), fake.dev_dir(), chain_from_sysfs};
    }
    // A function ready for VFIO as far as sysfs can tell.
    void add_vfio_function(FakeFunction f = {}) {
        fake.add(kBdf, f);
        fake.set_iommu_group(kBdf, 7);
        fake.bind(kBdf, "vfio-pci");
    }
    void add_dev_files(bool container, bool group) {
        fs::create_directories(fake.dev_dir());
        if (container) {
            FakeSysfs::write_text(fake.dev_dir() / "vfio", "");
        }
        if (group) {
            FakeSysfs::write_text(fake.dev_dir() / "7", "");
        }
    }

    FakeSysfs fake;
};

TEST_F(VfioDeviceTest, MalformedAddressIsInvalidArgument) {
    auto dev = VfioDevice::open("0000:0d:00.9", options());
    ASSERT_FALSE(dev.ok());
    EXPECT_EQ(dev.error().code, Errc::InvalidArgument);
}

TEST_F(VfioDeviceTest, MissingDeviceIsNotFound) {
    auto dev = VfioDevice::open(kBdf, options());
    ASSERT_FALSE(dev.ok());
    EXPECT_EQ(dev.error().code, Errc::NotFound);
}

TEST_F(VfioDeviceTest, NoIommuGroupSaysAnIommuIsNeeded) {
    fake.add(kBdf);
    fake.bind(kBdf, "vfio-pci");
    auto dev = VfioDevice::open(kBdf, options());
    ASSERT_FALSE(dev.ok());
    EXPECT_EQ(dev.error().code, Errc::Unsupported);
    EXPECT_TRUE(contains(dev.error().message, "no IOMMU group")) << dev.error().message;
    EXPECT_TRUE(contains(dev.error().message, "intel_iommu=on")) << dev.error().message;
}

TEST_F(VfioDeviceTest, UnboundDeviceExplainsHowToBindVfioPci) {
    fake.add(kBdf);
    fake.set_iommu_group(kBdf, 7);
    auto dev = VfioDevice::open(kBdf, options());
    ASSERT_FALSE(dev.ok());
    EXPECT_EQ(dev.error().code, Errc::InvalidArgument);
    const std::string& m = dev.error().message;
    EXPECT_TRUE(contains(m, "echo vfio-pci > " + (fake.dir(kBdf) / "driver_override").string()))
        << m;
    EXPECT_TRUE(
        contains(m, "echo 0000:0d:00.0 > " + (fake.base() / "bus/pci/drivers_probe").string()))
        << m;
}

TEST_F(VfioDeviceTest, OtherDriverIsBusyAndNamesIt) {
    fake.add(kBdf);
    fake.set_iommu_group(kBdf, 7);
    fake.bind(kBdf, "cxl_pci");
    auto dev = VfioDevice::open(kBdf, options());
    ASSERT_FALSE(dev.ok());
    EXPECT_EQ(dev.error().code, Errc::Busy);
    const std::string& m = dev.error().message;
    EXPECT_TRUE(contains(m, "cxl_pci")) << m;
    EXPECT_TRUE(contains(m, "drivers/cxl_pci/unbind")) << m;
    EXPECT_TRUE(contains(m, "vfio-pci")) << m;
}

TEST_F(VfioDeviceTest, MissingContainerSaysToLoadVfio) {
    add_vfio_function();
    auto dev = VfioDevice::open(kBdf, options());
    ASSERT_FALSE(dev.ok());
    EXPECT_EQ(dev.error().code, Errc::NotFound);
    EXPECT_TRUE(contains(dev.error().message, (fake.dev_dir() / "vfio").string()))
        << dev.error().message;
    EXPECT_TRUE(contains(dev.error().message, "modprobe vfio-pci")) << dev.error().message;
}

TEST_F(VfioDeviceTest, MissingGroupFileNamesTheGroup) {
    add_vfio_function();
    add_dev_files(true, false);
    auto dev = VfioDevice::open(kBdf, options());
    ASSERT_FALSE(dev.ok());
    EXPECT_EQ(dev.error().code, Errc::NotFound);
    EXPECT_TRUE(contains(dev.error().message, (fake.dev_dir() / "7").string()))
        << dev.error().message;
    EXPECT_TRUE(contains(dev.error().message, "group 7")) << dev.error().message;
}

TEST_F(VfioDeviceTest, NonVfioContainerFileIsReported) {
    add_vfio_function();
    add_dev_files(true, true);
    auto dev = VfioDevice::open(kBdf, options());
    ASSERT_FALSE(dev.ok());
    EXPECT_EQ(dev.error().code, Errc::IoError);
    EXPECT_TRUE(contains(dev.error().message, "is not a VFIO container")) << dev.error().message;
    EXPECT_TRUE(contains(dev.error().message, "VFIO_GET_API_VERSION")) << dev.error().message;
}

TEST_F(VfioDeviceTest, ChainFromSysfsReadsTheChainBeforeTouchingVfio) {
    FakeFunction f;
    f.dwords = cxl_chain();
    add_vfio_function(f);
    add_dev_files(true, true);
    // The sysfs chain is fine, so the open gets as far as the (fake) container.
    auto dev = VfioDevice::open(kBdf, options(true));
    ASSERT_FALSE(dev.ok());
    EXPECT_TRUE(contains(dev.error().message, "is not a VFIO container")) << dev.error().message;
}

TEST_F(VfioDeviceTest, ChainFromSysfsReportsABrokenChain) {
    FakeFunction f;
    f.dwords = cxl_chain();
    f.dwords.emplace_back(0x180, ext_header(kExtCapIdSerialNumber, 1, 0x100));  // loop
    add_vfio_function(f);
    auto dev = VfioDevice::open(kBdf, options(true));
    ASSERT_FALSE(dev.ok());
    EXPECT_EQ(dev.error().code, Errc::DeviceError);
    EXPECT_TRUE(contains(dev.error().message, "capability chain from sysfs"))
        << dev.error().message;
    EXPECT_TRUE(contains(dev.error().message, "loops back")) << dev.error().message;
}

TEST_F(VfioDeviceTest, ChainFromSysfsOfAVanishedDeviceIsDeviceGone) {
    FakeFunction f;
    f.all_ones = true;
    add_vfio_function(f);
    auto dev = VfioDevice::open(kBdf, options(true));
    ASSERT_FALSE(dev.ok());
    EXPECT_EQ(dev.error().code, Errc::DeviceGone) << dev.error().describe();
}

// ---- The capability-chain overlay ----------------------------------------------------------

ByteConfigSpace true_view() {
    ByteConfigSpace cs;
    for (auto [off, v] : cxl_chain()) {
        cs.put32(off, v);
    }
    return cs;
}

// What Linux 6.1's vfio-pci presents: the hidden DVSEC at 0x100 turned into a null header that
// skips to the serial number, the PCIe capability's register virtualised, live DOE contents.
std::unique_ptr<ByteConfigSpace> vfio_view() {
    auto cs = std::make_unique<ByteConfigSpace>(true_view());
    cs->put32(0x100, ext_header(0, 0, 0x180));
    cs->put16(0x52, 0x0042);
    cs->put32(0x148, 0x80000000);
    return cs;
}

TEST(ChainOverlay, VfioViewAloneHidesDvsecAndDoe) {
    auto view = vfio_view();
    auto dvsec = find_dvsec(*view, kCxlVendorId, kCxlDvsecDevice);
    ASSERT_TRUE(dvsec.ok());
    EXPECT_FALSE(dvsec->has_value());
    EXPECT_FALSE(find_ext_capability(*view, kExtCapIdDoe)->has_value());
}

TEST(ChainOverlay, RestoresTheTrueChainOverTheVfioView) {
    auto truth = true_view();
    auto overlay = CapabilityChainOverlay::capture(truth);
    ASSERT_TRUE(overlay.ok()) << overlay.error().describe();
    auto* raw = vfio_view().release();
    OverlaidConfigSpace cs(std::unique_ptr<ConfigSpace>(raw), std::move(overlay).value());

    auto ext = list_ext_capabilities(cs);
    ASSERT_TRUE(ext.ok()) << ext.error().describe();
    ASSERT_EQ(ext->size(), 3u);
    EXPECT_EQ((*ext)[0].id, kExtCapIdDvsec);
    EXPECT_EQ((*ext)[1].id, kExtCapIdDoe);
    EXPECT_EQ((*ext)[1].offset, 0x140u);
    EXPECT_EQ((*ext)[2].id, kExtCapIdSerialNumber);
    auto dvsec = find_dvsec(cs, kCxlVendorId, kCxlDvsecDevice);
    ASSERT_TRUE(dvsec.ok()) << dvsec.error().describe();
    EXPECT_EQ(dvsec->value(), 0x100u);
    auto std_caps = list_capabilities(cs);
    ASSERT_TRUE(std_caps.ok());
    EXPECT_EQ(std_caps->size(), 2u);

    // Only header bytes come from the capture: a dword straddling the PCIe capability's header
    // and its (virtualised) register mixes both, and device registers read through unchanged.
    EXPECT_EQ(*cs.read32(0x50), kCapIdPcie | (0x0042u << 16));
    EXPECT_EQ(*cs.read16(0x52), 0x0042u);
    EXPECT_EQ(*cs.read32(0x148), 0x80000000u);
    EXPECT_EQ(*cs.read16(0x100), kExtCapIdDvsec);  // the view has a null ID here
    EXPECT_EQ(*cs.read16(0x102), (0x140u << 4) | 1u);

    // Writes always reach the underlying (VFIO) config space.
    ASSERT_TRUE(cs.write32(0x148, 0x1).ok());
    EXPECT_EQ(*raw->read32(0x148), 0x1u);
    EXPECT_EQ(cs.identity().vendor_id, raw->identity().vendor_id);
    EXPECT_EQ(cs.size(), raw->size());
}

TEST(ChainOverlay, CaptureFailsOnABrokenChain) {
    auto truth = true_view();
    truth.put32(0x180, ext_header(kExtCapIdSerialNumber, 1, 0x140));
    auto overlay = CapabilityChainOverlay::capture(truth);
    ASSERT_FALSE(overlay.ok());
    EXPECT_EQ(overlay.error().code, Errc::DeviceError);
}

TEST(ChainOverlay, LegacyConfigSpaceCapturesOnlyTheStandardList) {
    ByteConfigSpace truth(kConfigSpaceLegacySize);
    truth.put16(kCfgStatus, kStatusCapabilitiesList);
    truth.put8(kCfgCapabilitiesPointer, 0x40);
    truth.put16(0x40, kCapIdPcie);
    auto overlay = CapabilityChainOverlay::capture(truth);
    ASSERT_TRUE(overlay.ok()) << overlay.error().describe();
    EXPECT_TRUE(overlay->covers(0x34));
    EXPECT_TRUE(overlay->covers(0x41));
    EXPECT_FALSE(overlay->covers(0x42));
    EXPECT_FALSE(overlay->covers(0x100));
}

}  // namespace
}  // namespace cxlmgr::pci
