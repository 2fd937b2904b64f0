#include "pci/vfio_device.hpp"

#include <fcntl.h>
#include <linux/vfio.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <optional>

#include "pci/chain_overlay.hpp"
#include "pci/registers.hpp"
#include "pci/sysfs_device.hpp"
#include "common/hex.hpp"

namespace cxlmgr::pci {
namespace fs = std::filesystem;

namespace {

template <typename Arg>
int retry_ioctl(int fd, unsigned long request, Arg arg) {
    int r;
    do {
        r = ::ioctl(fd, request, arg);
    } while (r < 0 && errno == EINTR);
    return r;
}

Error ioctl_error(const std::string& context, const char* request, int err) {
    return Error(err == ENODEV ? Errc::DeviceGone : Errc::IoError,
                 context + ": " + request + " failed: " + errno_text(err));
}

Result<vfio_region_info> region_info(int device_fd, unsigned index, const std::string& context) {
    vfio_region_info info{};
    info.argsz = sizeof info;
    info.index = index;
    if (retry_ioctl(device_fd, VFIO_DEVICE_GET_REGION_INFO, &info) < 0) {
        return ioctl_error(context, "VFIO_DEVICE_GET_REGION_INFO", errno);
    }
    return info;
}

// "0000:0e:00.0 [nvme], 0000:0e:00.1 [no driver]" for the not-viable message; best effort, since
// it only decorates an error that is already clear without it.
std::string group_members(const fs::path& device_dir) {
    std::string out;
    std::error_code ec;
    for (fs::directory_iterator it(device_dir / "iommu_group" / "devices", ec), end;
         !ec && it != end; it.increment(ec)) {
        auto driver = sysfs_link_name(it->path(), "driver");
        out += (out.empty() ? "" : ", ") + it->path().filename().string() + " [" +
               driver.value_or("no driver") + "]";
    }
    return out;
}

Result<UniqueFd> open_vfio_file(const fs::path& path, const std::string& what_if_missing,
                                const std::string& what_if_busy) {
    UniqueFd fd(::open(path.c_str(), O_RDWR | O_CLOEXEC));
    if (fd.valid()) {
        return fd;
    }
    int err = errno;
    if (err == ENOENT) {
        return Error(Errc::NotFound, path.string() + " does not exist: " + what_if_missing);
    }
    if (err == EBUSY) {
        return Error(Errc::Busy, path.string() + " is busy: " + what_if_busy);
    }
    return Error(err == EACCES || err == EPERM ? Errc::PermissionDenied : Errc::IoError,
                 "cannot open " + path.string() + ": " + errno_text(err));
}

}  // namespace

class VfioDevice::RegionConfig : public ConfigSpace {
public:
    RegionConfig(int device_fd, uint64_t region_offset, uint32_t size, std::string address)
        : fd_(device_fd), region_offset_(region_offset), size_(size) {
        identity_.address = std::move(address);
    }

    [[nodiscard]] uint32_t size() const override { return size_; }
    [[nodiscard]] const DeviceIdentity& identity() const override { return identity_; }
    void set_identity(DeviceIdentity id) { identity_ = std::move(id); }

protected:
    Result<uint32_t> do_read(uint32_t offset, unsigned width) override {
        uint8_t buf[4] = {};
        ssize_t n;
        do {
            n = ::pread(fd_, buf, width, static_cast<off_t>(region_offset_ + offset));
        } while (n < 0 && errno == EINTR);
        if (n != static_cast<ssize_t>(width)) {
            return access_error("read", offset, width, n < 0 ? errno : 0);
        }
        uint32_t v = 0;
        for (unsigned i = 0; i < width; ++i) {
            v |= uint32_t{buf[i]} << (8 * i);
        }
        return v;
    }

    Status do_write(uint32_t offset, unsigned width, uint32_t value) override {
        uint8_t buf[4];
        for (unsigned i = 0; i < width; ++i) {
            buf[i] = static_cast<uint8_t>(value >> (8 * i));
        }
        ssize_t n;
        do {
            n = ::pwrite(fd_, buf, width, static_cast<off_t>(region_offset_ + offset));
        } while (n < 0 && errno == EINTR);
        if (n != static_cast<ssize_t>(width)) {
            return access_error("write", offset, width, n < 0 ? errno : 0);
        }
        return ok_status();
    }

private:
    [[nodiscard]] Error access_error(const char* op, uint32_t offset, unsigned width,
                                     int err) const {
        std::string msg = identity_.address + ": VFIO config " + op + " of " +
                          std::to_string(width) + " bytes at " + hex(offset) + ": " +
                          (err != 0 ? errno_text(err) : "short transfer");
        if (err == ENODEV || err == EIO) {
            return Error(Errc::DeviceGone, msg + "; the device was removed or stopped responding");
        }
        return Error(Errc::IoError, msg);
    }

    int fd_;  // owned by the VfioDevice, which outlives its config space
    uint64_t region_offset_;
    uint32_t size_;
    DeviceIdentity identity_;
};

struct VfioDevice::MappedBar {
    MappedBar(MemoryMapping m, uint64_t size)
        : mapping(std::move(m)), region(mapping.get(), size) {}
    MemoryMapping mapping;
    MappedMmioRegion region;
};

VfioDevice::~VfioDevice() = default;

Result<std::unique_ptr<VfioDevice>> VfioDevice::open(std::string address, VfioOptions opts) {
    CXLMGR_ASSIGN(FunctionDir function, find_function_dir(opts.sysfs_root, address));
    std::string bdf = std::move(function.bdf);
    fs::path dir = std::move(function.dir);

    auto group_name = sysfs_link_name(dir, "iommu_group");
    if (!group_name) {
        return Error(Errc::Unsupported,
                     bdf + " has no IOMMU group (no " + (dir / "iommu_group").string() +
                         "): VFIO needs an enabled IOMMU (intel_iommu=on or amd_iommu=on on the "
                         "kernel command line); without one, use the sysfs backend");
    }
    if (group_name->empty() || group_name->size() > 9 ||
        !std::all_of(group_name->begin(), group_name->end(),
                     [](char c) { return std::isdigit(static_cast<unsigned char>(c)); })) {
        return Error(Errc::IoError,
                     bdf + ": unexpected iommu_group link target \"" + *group_name + "\"");
    }
    const unsigned group = static_cast<unsigned>(std::stoul(*group_name));

    const std::string bind_hint = "bind it to vfio-pci: echo vfio-pci > " +
                                  (dir / "driver_override").string() + "; echo " + bdf + " > " +
                                  (opts.sysfs_root.parent_path() / "drivers_probe").string();
    auto driver = sysfs_link_name(dir, "driver");
    if (!driver) {
        return Error(Errc::InvalidArgument, bdf + " is not bound to any driver; " + bind_hint);
    }
    if (*driver != "vfio-pci") {
        return Error(Errc::Busy,
                     bdf + " is bound to kernel driver " + *driver + "; unbind it (echo " + bdf +
                         " > " +
                         (opts.sysfs_root.parent_path() / "drivers" / *driver / "unbind").string() +
                         ") and " + bind_hint);
    }

    // Read before VFIO opens (and resets) the device; failures here leave nothing to undo.
    std::optional<CapabilityChainOverlay> overlay;
    if (opts.chain_from_sysfs) {
        const std::string context =
            "reading the capability chain from sysfs config (chain_from_sysfs)";
        auto truth = SysfsConfigSpace::open(dir, bdf, /*read_only=*/true);
        if (!truth.ok()) {
            return truth.error().with_context(context);
        }
        auto captured = CapabilityChainOverlay::capture(**truth);
        if (!captured.ok()) {
            return captured.error().with_context(bdf + ": " + context);
        }
        overlay = std::move(captured).value();
    }

    std::unique_ptr<VfioDevice> dev(new VfioDevice());
    dev->address_ = bdf;
    dev->group_number_ = group;
    const fs::path container_path = opts.dev_dir / "vfio";
    const fs::path group_path = opts.dev_dir / std::to_string(group);
    CXLMGR_ASSIGN(
        dev->container_,
        open_vfio_file(container_path, "load the VFIO modules (modprobe vfio-pci vfio_iommu_type1)",
                       "the VFIO container refused a new open"));
    CXLMGR_ASSIGN(dev->group_,
                  open_vfio_file(group_path,
                                 "VFIO has not claimed IOMMU group " + *group_name +
                                     " (is vfio_iommu_type1 loaded?)",
                                 "VFIO group " + *group_name +
                                     " is already open, in another process or in this one; "
                                     "a group has one owner at a time"));

    const int container = dev->container_.get();
    const int group_fd = dev->group_.get();
    int version = retry_ioctl(container, VFIO_GET_API_VERSION, 0);
    if (version < 0) {
        return Error(Errc::IoError, container_path.string() +
                                        " is not a VFIO container: VFIO_GET_API_VERSION failed: " +
                                        errno_text(errno));
    }
    if (version != VFIO_API_VERSION) {
        return Error(Errc::Unsupported, container_path.string() + " speaks VFIO API version " +
                                            std::to_string(version) + ", cxlmgr needs " +
                                            std::to_string(VFIO_API_VERSION));
    }
    unsigned long iommu_type = VFIO_TYPE1v2_IOMMU;
    if (retry_ioctl(container, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU) <= 0) {
        iommu_type = VFIO_TYPE1_IOMMU;
        if (retry_ioctl(container, VFIO_CHECK_EXTENSION, VFIO_TYPE1_IOMMU) <= 0) {
            return Error(Errc::Unsupported, container_path.string() +
                                                " offers no type1 IOMMU (modprobe "
                                                "vfio_iommu_type1)");
        }
    }

    vfio_group_status status{};
    status.argsz = sizeof status;
    if (retry_ioctl(group_fd, VFIO_GROUP_GET_STATUS, &status) < 0) {
        return Error(Errc::IoError, group_path.string() +
                                        " is not a VFIO group: VFIO_GROUP_GET_STATUS failed: " +
                                        errno_text(errno));
    }
    if ((status.flags & VFIO_GROUP_FLAGS_VIABLE) == 0) {
        std::string members = group_members(dir);
        return Error(Errc::Busy, bdf + ": VFIO group " + *group_name +
                                     " is not viable: every device in it must be bound to "
                                     "vfio-pci or unbound" +
                                     (members.empty() ? "" : " (members: " + members + ")"));
    }
    const std::string context = bdf + " (VFIO group " + *group_name + ")";
    if (retry_ioctl(group_fd, VFIO_GROUP_SET_CONTAINER, &container) < 0) {
        return ioctl_error(context, "VFIO_GROUP_SET_CONTAINER", errno);
    }
    if (retry_ioctl(container, VFIO_SET_IOMMU, iommu_type) < 0) {
        return ioctl_error(context, "VFIO_SET_IOMMU", errno);
    }
    dev->device_.reset(retry_ioctl(group_fd, VFIO_GROUP_GET_DEVICE_FD, bdf.c_str()));
    if (!dev->device_.valid()) {
        int err = errno;
        if (err == EBUSY) {
            return Error(Errc::Busy, context + ": the device is already open through VFIO");
        }
        return ioctl_error(context, "VFIO_GROUP_GET_DEVICE_FD", err);
    }
    const int device = dev->device_.get();

    vfio_device_info info{};
    info.argsz = sizeof info;
    if (retry_ioctl(device, VFIO_DEVICE_GET_INFO, &info) < 0) {
        return ioctl_error(context, "VFIO_DEVICE_GET_INFO", errno);
    }
    if ((info.flags & VFIO_DEVICE_FLAGS_PCI) == 0 ||
        info.num_regions <= VFIO_PCI_CONFIG_REGION_INDEX) {
        return Error(Errc::Unsupported, context + " is not a vfio-pci device (flags " +
                                            hex(info.flags) + ", " +
                                            std::to_string(info.num_regions) + " regions)");
    }
    CXLMGR_ASSIGN(auto cfg, region_info(device, VFIO_PCI_CONFIG_REGION_INDEX, context));
    constexpr uint32_t kRw = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE;
    if ((cfg.flags & kRw) != kRw || cfg.size < kConfigSpaceLegacySize) {
        return Error(Errc::Unsupported, context + ": unusable config region (flags " +
                                            hex(cfg.flags) + ", size " + hex(cfg.size) + ")");
    }
    auto region = std::make_unique<RegionConfig>(
        device, cfg.offset,
        cfg.size >= kConfigSpaceExtendedSize ? kConfigSpaceExtendedSize : kConfigSpaceLegacySize,
        bdf);
    auto identity = read_identity(*region, bdf);
    if (!identity.ok()) {
        return identity.error().with_context(context);
    }
    region->set_identity(std::move(identity).value());
    if (overlay) {
        dev->config_ =
            std::make_unique<OverlaidConfigSpace>(std::move(region), std::move(*overlay));
    } else {
        dev->config_ = std::move(region);
    }
    return dev;
}

Result<MmioRegion*> VfioDevice::bar(unsigned index) {
    if (index >= kBarCount) {
        return Error(Errc::NotFound, address_ + ": BAR " + std::to_string(index) +
                                         " does not exist (BARs are 0-5)");
    }
    std::lock_guard<std::mutex> guard(bars_mutex_);
    if (!bars_[index]) {
        CXLMGR_ASSIGN(bars_[index], map_bar(index));
    }
    return static_cast<MmioRegion*>(&bars_[index]->region);
}

Result<std::unique_ptr<VfioDevice::MappedBar>> VfioDevice::map_bar(unsigned index) {
    const std::string what = address_ + ": BAR " + std::to_string(index);
    CXLMGR_ASSIGN(auto info, region_info(device_.get(), VFIO_PCI_BAR0_REGION_INDEX + index, what));
    if (info.size == 0) {
        return Error(Errc::NotFound, what + " is not implemented");
    }
    CXLMGR_ASSIGN(uint32_t bar_register, config_->read32(kCfgBar0 + 4 * index));
    if ((bar_register & 0x1) != 0) {
        return Error(Errc::NotFound, what + " is an I/O BAR; only memory BARs can be mapped");
    }
    if ((info.flags & VFIO_REGION_INFO_FLAG_MMAP) == 0) {
        return Error(Errc::Unsupported, what +
                                            " cannot be mapped: vfio-pci does not allow mmap "
                                            "of this region (flags " +
                                            hex(info.flags) + ")");
    }
    void* addr = ::mmap(nullptr, info.size, PROT_READ | PROT_WRITE, MAP_SHARED, device_.get(),
                        static_cast<off_t>(info.offset));
    if (addr == MAP_FAILED) {
        int err = errno;
        return Error(err == ENODEV ? Errc::DeviceGone : Errc::IoError,
                     what + ": mmap of " + hex(info.size) + " bytes failed: " + errno_text(err) +
                         ((info.flags & VFIO_REGION_INFO_FLAG_CAPS) != 0
                              ? " (the region may allow only sparse mmap areas, e.g. around the "
                                "MSI-X table, which this backend does not map piecewise)"
                              : ""));
    }
    return std::make_unique<MappedBar>(MemoryMapping(addr, info.size), info.size);
}

}  // namespace cxlmgr::pci
