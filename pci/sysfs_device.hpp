// The sysfs backend: a PCI function that no kernel driver owns, driven through
// /sys/bus/pci/devices/<BDF>/config (pread/pwrite) and resourceN (mmap).
//
// User space and a kernel driver cannot share a device's DOE or mailbox (neither can tell whose
// response it reads), so a device with a bound driver is refused, and a per-device lock file keeps
// two processes from driving the same device.
#pragma once

#include <array>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "pci/os_handles.hpp"
#include "pci/pci_device.hpp"

namespace cxlmgr::pci {

// Validates "DDDD:BB:DD.F" (or "BB:DD.F", which means domain 0000) and returns the canonical
// lower-case form sysfs uses. InvalidArgument otherwise.
Result<std::string> parse_pci_address(std::string_view address);

// The last component of a sysfs symlink of a device directory ("driver" -> "cxl_pci",
// "iommu_group" -> "12"); nullopt when the link does not exist.
// A function's sysfs directory: the address normalized ("DDDD:BB:DD.F") and its directory under
// sysfs_root. InvalidArgument for a malformed address, NotFound when no such function exists.
struct FunctionDir {
    std::string bdf;
    std::filesystem::path dir;
};
Result<FunctionDir> find_function_dir(const std::filesystem::path& sysfs_root,
                                      std::string_view address);

std::optional<std::string> sysfs_link_name(const std::filesystem::path& device_dir,
                                           const char* link);

// Config space over a sysfs `config` file. Its size is the file's (256 or 4096 bytes).
class SysfsConfigSpace : public ConfigSpace {
public:
    // Opens `<device_dir>/config` and reads the identity registers through it. A read-only config
    // space refuses writes with PermissionDenied.
    static Result<std::unique_ptr<SysfsConfigSpace>> open(std::filesystem::path device_dir,
                                                          std::string address, bool read_only);

    [[nodiscard]] uint32_t size() const override { return size_; }
    [[nodiscard]] const DeviceIdentity& identity() const override { return identity_; }

protected:
    Result<uint32_t> do_read(uint32_t offset, unsigned width) override;
    Status do_write(uint32_t offset, unsigned width, uint32_t value) override;

private:
    SysfsConfigSpace(UniqueFd fd, uint32_t size, std::filesystem::path device_dir,
                     std::string address, bool read_only);
    [[nodiscard]] Error access_error(const char* op, uint32_t offset, unsigned width, ssize_t done,
                                     int err) const;

    UniqueFd fd_;
    uint32_t size_;
    std::filesystem::path device_dir_;
    DeviceIdentity identity_;
    bool read_only_;
};

struct SysfsOptions {
    std::filesystem::path sysfs_root = "/sys/bus/pci/devices";
    std::filesystem::path lock_dir = "/run/cxlmgr";
    // For inspection: config space is opened read-only, writes and BAR mappings are refused.
    bool read_only = false;
};

class SysfsDevice final : public PciDevice {
public:
    // NotFound when no such function exists, Busy when a kernel driver is bound or another
    // process holds the device, DeviceGone when its config space reads all-ones.
    static Result<std::unique_ptr<SysfsDevice>> open(std::string address, SysfsOptions opts = {});
    ~SysfsDevice() override;

    ConfigSpace& config() override { return *config_; }
    // Maps the BAR on first use (thread-safe); enables memory decoding if it is off, since no
    // driver has done so for a device user space owns.
    Result<MmioRegion*> bar(unsigned index) override;
    [[nodiscard]] std::string_view backend() const override { return "sysfs"; }
    [[nodiscard]] std::string name() const override { return address_; }

    [[nodiscard]] const std::filesystem::path& device_dir() const { return device_dir_; }

private:
    struct MappedBar;

    SysfsDevice(std::string address, std::filesystem::path device_dir, bool read_only,
                UniqueFd lock, std::unique_ptr<SysfsConfigSpace> config);
    Result<std::unique_ptr<MappedBar>> map_bar(unsigned index);
    Status enable_memory_decoding();

    std::string address_;
    std::filesystem::path device_dir_;
    bool read_only_;
    UniqueFd lock_;  // flock held for the lifetime of the object
    std::unique_ptr<SysfsConfigSpace> config_;
    std::mutex bars_mutex_;
    std::array<std::unique_ptr<MappedBar>, kBarCount> bars_;
};

}  // namespace cxlmgr::pci
