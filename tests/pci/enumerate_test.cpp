#include "pci/enumerate.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <set>

#include "pci/sysfs_device.hpp"
#include "tests/pci/fake_sysfs.hpp"

namespace cxlmgr::pci {
namespace {

using testing::FakeFunction;
using testing::FakeSysfs;
namespace fs = std::filesystem;

bool contains(const std::string& haystack, const std::string& needle) {
    return haystack.find(needle) != std::string::npos;
}

class EnumerateFake : public ::testing::Test {
protected:
    void SetUp() override {
        FakeFunction cxl;  // 8086:0d93, class 050210
        fake.add("0000:0d:00.0", cxl);
        fake.set_iommu_group("0000:0d:00.0", 3);
        FakeFunction cxl_other;  // a CXL memory controller that is not a memory device
        cxl_other.vendor = 0xabcd;
        cxl_other.device = 0x1234;
        cxl_other.class_code = 0x050200;
        fake.add("0000:0e:00.0", cxl_other);
        FakeFunction nic;
        nic.device = 0x10d3;
        nic.class_code = 0x020000;
        fake.add("0000:00:19.0", nic);
        fake.bind("0000:00:19.0", "e1000e");
        ids = fake.base() / "pci.ids";
        FakeSysfs::write_text(ids,
                              "8086  Intel Corporation\n"
                              "\t0d93  Test CXL Memory Device\n"
                              "\t10d3  82574L Gigabit Network Connection\n");
    }
    EnumerateOptions options() const { return {fake.devices(), ids}; }

    FakeSysfs fake;
    fs::path ids;
};

TEST_F(EnumerateFake, ListsEveryFunctionSortedWithNamesDriversAndGroups) {
    auto all = enumerate_all(options());
    ASSERT_TRUE(all.ok()) << all.error().describe();
    ASSERT_EQ(all->size(), 3u);
    const auto& nic = (*all)[0];
    EXPECT_EQ(nic.address, "0000:00:19.0");
    EXPECT_EQ(nic.class_code, 0x020000u);
    EXPECT_EQ(nic.device_name, "82574L Gigabit Network Connection");
    EXPECT_EQ(nic.driver, "e1000e");
    EXPECT_FALSE(nic.iommu_group.has_value());

    const auto& cxl = (*all)[1];
    EXPECT_EQ(cxl.address, "0000:0d:00.0");
    EXPECT_EQ(cxl.vendor_id, 0x8086);
    EXPECT_EQ(cxl.device_id, 0x0d93);
    EXPECT_EQ(cxl.class_code, 0x050210u);
    EXPECT_EQ(cxl.vendor_name, "Intel Corporation");
    EXPECT_EQ(cxl.device_name, "Test CXL Memory Device");
    EXPECT_FALSE(cxl.driver.has_value());
    EXPECT_EQ(cxl.iommu_group, 3u);
    EXPECT_TRUE(cxl.is_cxl_memory_device());

    const auto& unknown = (*all)[2];
    EXPECT_EQ(unknown.address, "0000:0e:00.0");
    EXPECT_EQ(unknown.vendor_name, "Vendor abcd");
    EXPECT_EQ(unknown.device_name, "Device 1234");
    EXPECT_FALSE(unknown.is_cxl_memory_device());
}

TEST_F(EnumerateFake, CxlFilterKeepsOnlyProgIf10) {
    auto cxl = enumerate_cxl_memory_devices(options());
    ASSERT_TRUE(cxl.ok()) << cxl.error().describe();
    ASSERT_EQ(cxl->size(), 1u);
    EXPECT_EQ((*cxl)[0].address, "0000:0d:00.0");
}

TEST_F(EnumerateFake, TrailingSlashOnTheRootIsAccepted) {
    auto all = enumerate_all({fake.devices().string() + "/", ids});
    ASSERT_TRUE(all.ok()) << all.error().describe();
    EXPECT_EQ(all->size(), 3u);
}

TEST_F(EnumerateFake, LibpciErrorsComeBackAsErrorsInsteadOfExiting) {
    // libpci's default error handler would exit the process here.
    fs::remove(fake.dir("0000:0e:00.0") / "vendor");
    auto all = enumerate_all(options());
    ASSERT_FALSE(all.ok());
    EXPECT_EQ(all.error().code, Errc::IoError);
    EXPECT_TRUE(contains(all.error().message, "0000:0e:00.0/vendor")) << all.error().message;
    // The library is usable again afterwards.
    FakeFunction f;
    fake.add("0000:0e:00.0", f);
    EXPECT_TRUE(enumerate_all(options()).ok());
}

// The e2e guest (no udev) showed libpci 3.9 leaking a udev context for every name its pci.ids
// lacks when no hwdb exists. Names from the system's pci.ids, no hwdb file: known devices are
// named, the unknown one gets the fallback, and (in the sanitizer build, which CI runs)
// LeakSanitizer finds nothing at exit.
TEST_F(EnumerateFake, WithoutAHwdbNamesComeFromPciIdsAloneAndNothingLeaks) {
    EnumerateOptions opts;
    opts.sysfs_root = fake.devices();
    opts.hwdb_files = {fake.base() / "no-such-hwdb.bin"};
    for (int i = 0; i < 3; ++i) {
        auto all = enumerate_all(opts);
        ASSERT_TRUE(all.ok()) << all.error().describe();
        ASSERT_EQ(all->size(), 3u);
        EXPECT_EQ((*all)[0].device_name, "82574L Gigabit Network Connection");
        EXPECT_EQ((*all)[2].device_name, "Device 1234");
    }
}

TEST(Enumerate, UnreadableDevicesDirectoryIsAnError) {
    FakeSysfs fake;
    fs::remove(fake.devices());
    FakeSysfs::write_text(fake.devices(), "not a directory");
    auto all = enumerate_all({fake.devices(), {}});
    ASSERT_FALSE(all.ok());
    EXPECT_EQ(all.error().code, Errc::IoError);
    EXPECT_TRUE(contains(all.error().message, "Cannot open")) << all.error().message;
}

TEST(Enumerate, MissingRootIsNotFound) {
    FakeSysfs fake;
    fs::remove(fake.devices());
    auto all = enumerate_all({fake.devices(), {}});
    ASSERT_FALSE(all.ok());
    EXPECT_EQ(all.error().code, Errc::NotFound);
}

TEST(Enumerate, RootMustBeADevicesDirectory) {
    FakeSysfs fake;
    auto all = enumerate_all({fake.base(), {}});
    ASSERT_FALSE(all.ok());
    EXPECT_EQ(all.error().code, Errc::InvalidArgument);
}

// ---- This machine ------------------------------------------------------------------------

const fs::path kRealRoot = "/sys/bus/pci/devices";

unsigned long read_hex(const fs::path& p) {
    std::ifstream in(p);
    unsigned long v = 0;
    in >> std::hex >> v;
    return v;
}

TEST(EnumerateHost, MatchesSysfs) {
    std::error_code ec;
    if (!fs::is_directory(kRealRoot, ec)) {
        GTEST_SKIP() << kRealRoot << " does not exist on this machine";
    }
    std::set<std::string> expected;
    for (const auto& e : fs::directory_iterator(kRealRoot)) {
        expected.insert(e.path().filename().string());
    }
    auto all = enumerate_all();
    ASSERT_TRUE(all.ok()) << all.error().describe();
    std::set<std::string> got;
    for (const auto& f : *all) {
        got.insert(f.address);
        fs::path dir = kRealRoot / f.address;
        EXPECT_EQ(f.vendor_id, read_hex(dir / "vendor")) << f.address;
        EXPECT_EQ(f.device_id, read_hex(dir / "device")) << f.address;
        EXPECT_EQ(f.class_code, read_hex(dir / "class")) << f.address;
        EXPECT_EQ(f.driver, sysfs_link_name(dir, "driver")) << f.address;
        EXPECT_FALSE(f.vendor_name.empty());
        EXPECT_FALSE(f.device_name.empty());
    }
    EXPECT_EQ(got, expected);
    EXPECT_TRUE(std::is_sorted(all->begin(), all->end(),
                               [](const auto& a, const auto& b) { return a.address < b.address; }));
}

TEST(EnumerateHost, CxlFilterAgreesWithSysfsClassCodes) {
    std::error_code ec;
    if (!fs::is_directory(kRealRoot, ec)) {
        GTEST_SKIP() << kRealRoot << " does not exist on this machine";
    }
    std::set<std::string> expected;
    for (const auto& e : fs::directory_iterator(kRealRoot)) {
        if (read_hex(e.path() / "class") == 0x050210) {
            expected.insert(e.path().filename().string());
        }
    }
    auto cxl = enumerate_cxl_memory_devices();
    ASSERT_TRUE(cxl.ok()) << cxl.error().describe();
    std::set<std::string> got;
    for (const auto& f : *cxl) {
        got.insert(f.address);
    }
    EXPECT_EQ(got, expected) << "this machine has " << expected.size() << " CXL memory devices";
}

}  // namespace
}  // namespace cxlmgr::pci
