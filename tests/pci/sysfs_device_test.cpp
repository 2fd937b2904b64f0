#include "pci/sysfs_device.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <optional>
#include <thread>

#include "pci/registers.hpp"
#include "tests/pci/fake_sysfs.hpp"

namespace cxlmgr::pci {
namespace {

using testing::FakeFunction;
using testing::FakeSysfs;
namespace fs = std::filesystem;

constexpr const char* kBdf = "0000:0d:00.0";

bool contains(const std::string& haystack, const std::string& needle) {
    return haystack.find(needle) != std::string::npos;
}

class SysfsDeviceTest : public ::testing::Test {
protected:
    SysfsOptions options() const { return {fake.devices(), fake.lock_dir(), false}; }
    Result<std::unique_ptr<SysfsDevice>> open(const std::string& bdf = kBdf) {
        return SysfsDevice::open(bdf, options());
    }

    FakeSysfs fake;
};

FakeFunction cxl_function() {
    FakeFunction f;
    f.bar_sizes = {0x10000, 0, 0x1000, 0, 0x100, 0};
    f.io_bar = 4;
    return f;
}

TEST(PciAddress, CanonicalisesValidAddresses) {
    EXPECT_EQ(*parse_pci_address("0000:0d:00.0"), "0000:0d:00.0");
    EXPECT_EQ(*parse_pci_address("0d:00.0"), "0000:0d:00.0");
    EXPECT_EQ(*parse_pci_address("0000:AF:1F.7"), "0000:af:1f.7");
    EXPECT_EQ(*parse_pci_address("10000:01:00.0"), "10000:01:00.0");  // VMD domain
}

TEST(PciAddress, RejectsMalformedAddresses) {
    for (const char* bad : {"", "0d:00", "000:0d:00.0", "0000:0d:20.0", "0000:0d:00.8",
                            "zzzz:0d:00.0", "0000:0d:00.0/..", "../0d:00.0", "0000:d:00.0",
                            "0000:0d:00.00", "0000:0d:00", "0000.0d.00.0"}) {
        auto r = parse_pci_address(bad);
        ASSERT_FALSE(r.ok()) << bad;
        EXPECT_EQ(r.error().code, Errc::InvalidArgument) << bad;
        EXPECT_TRUE(contains(r.error().message, "DDDD:BB:DD.F")) << r.error().message;
    }
}

TEST_F(SysfsDeviceTest, OpensAndReadsIdentity) {
    fake.add(kBdf, cxl_function());
    auto dev = open("0d:00.0");
    ASSERT_TRUE(dev.ok()) << dev.error().describe();
    EXPECT_EQ((*dev)->name(), kBdf);
    EXPECT_EQ((*dev)->backend(), "sysfs");
    auto& cs = (*dev)->config();
    EXPECT_EQ(cs.size(), 4096u);
    EXPECT_EQ(cs.identity().vendor_id, 0x8086);
    EXPECT_EQ(cs.identity().device_id, 0x0d93);
    EXPECT_EQ(cs.identity().class_code, kClassCxlMemory);
    EXPECT_EQ(cs.identity().address, kBdf);
}

TEST_F(SysfsDeviceTest, ReadsAndWritesConfigThroughTheFile) {
    FakeFunction f = cxl_function();
    f.dwords = {{0x100, 0x11223344}};
    fs::path dir = fake.add(kBdf, f);
    auto dev = open();
    ASSERT_TRUE(dev.ok()) << dev.error().describe();
    auto& cs = (*dev)->config();
    EXPECT_EQ(*cs.read32(0x100), 0x11223344u);
    EXPECT_EQ(*cs.read16(0x102), 0x1122u);
    EXPECT_EQ(*cs.read8(0x101), 0x33u);
    ASSERT_TRUE(cs.write32(0x200, 0xCAFEF00D).ok());
    ASSERT_TRUE(cs.write16(0x204, 0xBEEF).ok());
    ASSERT_TRUE(cs.write8(0x207, 0x5A).ok());
    auto bytes = FakeSysfs::read_bytes(dir / "config");
    EXPECT_EQ(FakeSysfs::get32(bytes, 0x200), 0xCAFEF00Du);
    EXPECT_EQ(FakeSysfs::get32(bytes, 0x204), 0x5A00BEEFu);
    EXPECT_EQ(*cs.read32(0x204), 0x5A00BEEFu);
    auto misaligned = cs.read32(0x102);
    ASSERT_FALSE(misaligned.ok());
    EXPECT_EQ(misaligned.error().code, Errc::InvalidArgument);
}

TEST_F(SysfsDeviceTest, LegacyConfigSpaceHas256Bytes) {
    FakeFunction f;
    f.config_size = 256;
    fake.add(kBdf, f);
    auto dev = open();
    ASSERT_TRUE(dev.ok()) << dev.error().describe();
    EXPECT_EQ((*dev)->config().size(), 256u);
    EXPECT_EQ((*dev)->config().read32(0x100).error().code, Errc::InvalidArgument);
}

TEST_F(SysfsDeviceTest, RefusesDeviceWithBoundDriver) {
    fake.add(kBdf);
    fake.bind(kBdf, "cxl_pci");
    auto dev = open();
    ASSERT_FALSE(dev.ok());
    EXPECT_EQ(dev.error().code, Errc::Busy);
    const std::string& m = dev.error().message;
    EXPECT_TRUE(contains(m, "cxl_pci")) << m;
    EXPECT_TRUE(contains(
        m, "echo 0000:0d:00.0 > " + (fake.base() / "bus/pci/drivers/cxl_pci/unbind").string()))
        << m;
    EXPECT_TRUE(contains(m, "vfio")) << m;
    EXPECT_FALSE(fs::exists(fake.lock_dir() / "0000:0d:00.0.lock"));
}

TEST_F(SysfsDeviceTest, SecondOpenIsBusyUntilTheFirstCloses) {
    fake.add(kBdf);
    auto first = open();
    ASSERT_TRUE(first.ok()) << first.error().describe();
    auto second = open();
    ASSERT_FALSE(second.ok());
    EXPECT_EQ(second.error().code, Errc::Busy);
    EXPECT_TRUE(contains(second.error().message, "PID " + std::to_string(::getpid())))
        << second.error().message;
    EXPECT_TRUE(contains(second.error().message, "0000:0d:00.0.lock")) << second.error().message;
    first->reset();
    auto third = open();
    EXPECT_TRUE(third.ok()) << third.error().describe();
}

TEST_F(SysfsDeviceTest, LockExcludesOtherProcessesAndNamesTheirPid) {
    fake.add(kBdf);
    int to_parent[2];
    int to_child[2];
    ASSERT_EQ(::pipe(to_parent), 0);
    ASSERT_EQ(::pipe(to_child), 0);
    pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        // Only the parent may hold the write end of to_child: the read below then returns when
        // the parent says so or dies, never blocking forever.
        ::close(to_child[1]);
        ::close(to_parent[0]);
        auto dev = SysfsDevice::open(kBdf, options());
        char status = dev.ok() ? 'y' : 'n';
        (void)!::write(to_parent[1], &status, 1);
        char go;
        (void)!::read(to_child[0], &go, 1);  // hold the device until the parent has tried
        ::_exit(dev.ok() ? 0 : 1);
    }
    ::close(to_child[0]);
    ::close(to_parent[1]);
    char status = 0;
    bool child_holds = ::read(to_parent[0], &status, 1) == 1 && status == 'y';
    std::optional<Error> busy;
    if (child_holds) {
        auto mine = open();
        busy = mine.ok() ? Error(Errc::Internal, "second open succeeded") : mine.error();
    }
    ::close(to_child[1]);  // releases the child
    ::close(to_parent[0]);
    int wstatus = 0;
    ASSERT_EQ(::waitpid(child, &wstatus, 0), child);

    ASSERT_TRUE(child_holds) << "the child could not open the device";
    EXPECT_TRUE(WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0);
    EXPECT_EQ(busy->code, Errc::Busy) << busy->describe();
    EXPECT_TRUE(contains(busy->message, "another process (PID " + std::to_string(child)))
        << busy->message;
    EXPECT_TRUE(open().ok());
}

TEST_F(SysfsDeviceTest, CreatesTheLockDirectoryWithMode0755) {
    fake.add(kBdf);
    ASSERT_FALSE(fs::exists(fake.lock_dir()));
    mode_t old = ::umask(0);
    auto dev = open();
    ::umask(old);
    ASSERT_TRUE(dev.ok()) << dev.error().describe();
    struct stat st {};
    ASSERT_EQ(::stat(fake.lock_dir().c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0755u);
    EXPECT_TRUE(fs::exists(fake.lock_dir() / "0000:0d:00.0.lock"));
}

TEST_F(SysfsDeviceTest, AllOnesConfigSpaceIsDeviceGone) {
    FakeFunction f;
    f.all_ones = true;
    fake.add(kBdf, f);
    auto dev = open();
    ASSERT_FALSE(dev.ok());
    EXPECT_EQ(dev.error().code, Errc::DeviceGone);
    EXPECT_TRUE(contains(dev.error().message, kBdf)) << dev.error().message;
}

TEST_F(SysfsDeviceTest, MissingDeviceIsNotFound) {
    auto dev = open();
    ASSERT_FALSE(dev.ok());
    EXPECT_EQ(dev.error().code, Errc::NotFound);
    EXPECT_TRUE(contains(dev.error().message, kBdf)) << dev.error().message;
}

TEST_F(SysfsDeviceTest, MalformedAddressIsInvalidArgument) {
    auto dev = open("0000:0d:00");
    ASSERT_FALSE(dev.ok());
    EXPECT_EQ(dev.error().code, Errc::InvalidArgument);
}

TEST_F(SysfsDeviceTest, VanishedDirectoryIsDeviceGone) {
    fs::path dir = fake.add(kBdf, cxl_function());
    auto dev = open();
    ASSERT_TRUE(dev.ok()) << dev.error().describe();
    // The open descriptor keeps the old file alive; emptying it makes reads come up short, as
    // they do for a removed device, then the directory goes the way the kernel removes it.
    fs::resize_file(dir / "config", 0);
    fs::remove_all(dir);
    auto r = (*dev)->config().read32(0);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, Errc::DeviceGone) << r.error().describe();
    auto bar = (*dev)->bar(0);
    ASSERT_FALSE(bar.ok());
    EXPECT_EQ(bar.error().code, Errc::DeviceGone) << bar.error().describe();
}

TEST_F(SysfsDeviceTest, ShortReadBeyond64BytesNamesCapSysAdmin) {
    fs::path dir = fake.add(kBdf);
    auto dev = open();
    ASSERT_TRUE(dev.ok()) << dev.error().describe();
    // What an unprivileged reader sees: the kernel serves only the first 64 bytes.
    fs::resize_file(dir / "config", 64);
    EXPECT_TRUE((*dev)->config().read32(0x3C).ok());
    auto r = (*dev)->config().read32(0x100);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, Errc::PermissionDenied);
    EXPECT_TRUE(contains(r.error().message, "CAP_SYS_ADMIN")) << r.error().message;
    EXPECT_TRUE(contains(r.error().message, "0x100")) << r.error().message;
    fs::resize_file(dir / "config", 16);
    auto low = (*dev)->config().read32(0x20);
    ASSERT_FALSE(low.ok());
    EXPECT_EQ(low.error().code, Errc::IoError) << low.error().describe();
}

TEST_F(SysfsDeviceTest, MapsMemoryBarsWith32And64BitAccesses) {
    fs::path dir = fake.add(kBdf, cxl_function());
    auto dev = open();
    ASSERT_TRUE(dev.ok()) << dev.error().describe();
    auto bar0 = (*dev)->bar(0);
    ASSERT_TRUE(bar0.ok()) << bar0.error().describe();
    MmioRegion& r = **bar0;
    EXPECT_EQ(r.size(), 0x10000u);
    r.write32(0x10, 0xA5A5F00Du);
    r.write64(0x18, 0x0123456789ABCDEFull);
    r.write64(0xFFF8, 0xFEEDFACECAFEBEEFull);
    EXPECT_EQ(r.read32(0x10), 0xA5A5F00Du);
    EXPECT_EQ(r.read64(0x18), 0x0123456789ABCDEFull);
    EXPECT_EQ(r.read32(0x1C), 0x01234567u);
    EXPECT_EQ(r.read64(0xFFF8), 0xFEEDFACECAFEBEEFull);
    EXPECT_THROW(r.read32(0x10000), std::out_of_range);
    // The stores went to the shared mapping of resource0, not a private copy.
    auto bytes = FakeSysfs::read_bytes(dir / "resource0");
    EXPECT_EQ(FakeSysfs::get32(bytes, 0x10), 0xA5A5F00Du);
    EXPECT_EQ(FakeSysfs::get32(bytes, 0x18), 0x89ABCDEFu);
    // Memory decoding was off in the fake Command register; mapping a BAR turns it on.
    auto cfg = FakeSysfs::read_bytes(dir / "config");
    EXPECT_NE(FakeSysfs::get32(cfg, kCfgCommand) & kCommandMemorySpace, 0u);

    auto again = (*dev)->bar(0);
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(*again, *bar0);
    auto bar2 = (*dev)->bar(2);
    ASSERT_TRUE(bar2.ok()) << bar2.error().describe();
    EXPECT_EQ((*bar2)->size(), 0x1000u);
}

TEST_F(SysfsDeviceTest, AbsentAndIoBarsAreNotFound) {
    fake.add(kBdf, cxl_function());
    auto dev = open();
    ASSERT_TRUE(dev.ok()) << dev.error().describe();
    auto absent = (*dev)->bar(1);
    ASSERT_FALSE(absent.ok());
    EXPECT_EQ(absent.error().code, Errc::NotFound);
    EXPECT_TRUE(contains(absent.error().message, "BAR 1 is not implemented"))
        << absent.error().message;
    auto io = (*dev)->bar(4);
    ASSERT_FALSE(io.ok());
    EXPECT_EQ(io.error().code, Errc::NotFound);
    EXPECT_TRUE(contains(io.error().message, "I/O BAR")) << io.error().message;
    EXPECT_EQ((*dev)->bar(6).error().code, Errc::NotFound);
}

TEST_F(SysfsDeviceTest, MissingResourceFileOrSizeMismatchIsReported) {
    fs::path dir = fake.add(kBdf, cxl_function());
    fs::remove(dir / "resource2");
    fs::resize_file(dir / "resource0", 0x1000);
    auto dev = open();
    ASSERT_TRUE(dev.ok()) << dev.error().describe();
    auto missing = (*dev)->bar(2);
    ASSERT_FALSE(missing.ok());
    EXPECT_EQ(missing.error().code, Errc::NotFound);
    EXPECT_TRUE(contains(missing.error().message, "resource2")) << missing.error().message;
    auto mismatch = (*dev)->bar(0);
    ASSERT_FALSE(mismatch.ok());
    EXPECT_EQ(mismatch.error().code, Errc::IoError);
    EXPECT_TRUE(contains(mismatch.error().message, "0x10000")) << mismatch.error().message;
}

TEST_F(SysfsDeviceTest, BarRequestedFromTwoThreadsIsMappedOnce) {
    fake.add(kBdf, cxl_function());
    auto dev = open();
    ASSERT_TRUE(dev.ok()) << dev.error().describe();
    MmioRegion* seen[2] = {nullptr, nullptr};
    std::thread a([&] { seen[0] = (*dev)->bar(2).value_or(nullptr); });
    std::thread b([&] { seen[1] = (*dev)->bar(2).value_or(nullptr); });
    a.join();
    b.join();
    ASSERT_NE(seen[0], nullptr);
    EXPECT_EQ(seen[0], seen[1]);
}

TEST_F(SysfsDeviceTest, ReadOnlyOpenRefusesWritesAndBars) {
    fs::path dir = fake.add(kBdf, cxl_function());
    auto dev = SysfsDevice::open(kBdf, {fake.devices(), fake.lock_dir(), true});
    ASSERT_TRUE(dev.ok()) << dev.error().describe();
    EXPECT_EQ(*(*dev)->config().read16(0), 0x8086);
    auto w = (*dev)->config().write32(0x200, 1);
    ASSERT_FALSE(w.ok());
    EXPECT_EQ(w.error().code, Errc::PermissionDenied);
    EXPECT_EQ((*dev)->bar(0).error().code, Errc::PermissionDenied);
    EXPECT_EQ(FakeSysfs::get32(FakeSysfs::read_bytes(dir / "config"), 0x200), 0u);
}

// ---- The machine's own devices, read-only ------------------------------------------------

const fs::path kRealRoot = "/sys/bus/pci/devices";

TEST(SysfsDeviceReal, RefusesARealDeviceWithABoundDriver) {
    std::error_code ec;
    if (!fs::is_directory(kRealRoot, ec)) {
        GTEST_SKIP() << kRealRoot << " does not exist on this machine";
    }
    for (const auto& entry : fs::directory_iterator(kRealRoot)) {
        auto driver = sysfs_link_name(entry.path(), "driver");
        if (!driver) {
            continue;
        }
        FakeSysfs scratch;  // only for its temporary lock directory
        auto dev = SysfsDevice::open(entry.path().filename().string(),
                                     {kRealRoot, scratch.lock_dir(), true});
        ASSERT_FALSE(dev.ok()) << entry.path() << " opened although " << *driver << " owns it";
        EXPECT_EQ(dev.error().code, Errc::Busy);
        EXPECT_TRUE(contains(dev.error().message, *driver)) << dev.error().message;
        return;
    }
    GTEST_SKIP() << "no PCI device on this machine has a driver bound";
}

TEST(SysfsDeviceReal, ReadsIdentityOfARealDriverlessDeviceReadOnly) {
    std::error_code ec;
    if (!fs::is_directory(kRealRoot, ec)) {
        GTEST_SKIP() << kRealRoot << " does not exist on this machine";
    }
    for (const auto& entry : fs::directory_iterator(kRealRoot)) {
        if (sysfs_link_name(entry.path(), "driver") ||
            ::access((entry.path() / "config").c_str(), R_OK) != 0) {
            continue;
        }
        FakeSysfs scratch;
        auto dev = SysfsDevice::open(entry.path().filename().string(),
                                     {kRealRoot, scratch.lock_dir(), true});
        ASSERT_TRUE(dev.ok()) << dev.error().describe();
        auto read_hex = [&](const char* attr) {
            std::ifstream in(entry.path() / attr);
            unsigned long v = 0;
            in >> std::hex >> v;
            return v;
        };
        const auto& id = (*dev)->config().identity();
        EXPECT_EQ(id.vendor_id, read_hex("vendor"));
        EXPECT_EQ(id.device_id, read_hex("device"));
        EXPECT_EQ(id.class_code, read_hex("class"));
        EXPECT_EQ((*dev)->config().size(), fs::file_size(entry.path() / "config"));
        return;
    }
    GTEST_SKIP() << "every PCI device on this machine has a driver bound (or config unreadable)";
}

}  // namespace
}  // namespace cxlmgr::pci
