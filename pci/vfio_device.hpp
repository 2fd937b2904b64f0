// The VFIO backend: a PCI function bound to vfio-pci, driven through the VFIO group/container
// API. Config space goes through the VFIO config region, BARs through mmap of their regions.
//
// Unlike the sysfs backend it needs no lock file: a VFIO group can be open in one process only.
#pragma once

#include <array>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "pci/os_handles.hpp"
#include "pci/pci_device.hpp"

namespace cxlmgr::pci {

struct VfioOptions {
    std::filesystem::path sysfs_root = "/sys/bus/pci/devices";
    std::filesystem::path dev_dir = "/dev/vfio";
    // Linux 6.1's vfio-pci hides DVSECs and DOE from the capability chain it presents, although
    // their registers stay reachable. When set, the chain's header bytes are read once from the
    // sysfs `config` file (needs CAP_SYS_ADMIN) and laid over the VFIO region's reads; everything
    // else, and every write, goes through VFIO (see pci/chain_overlay.hpp).
    bool chain_from_sysfs = true;
};

class VfioDevice final : public PciDevice {
public:
    // Checks, in order: the address, the device's IOMMU group, that vfio-pci is its driver, the
    // VFIO container (API version, type1 IOMMU), the group (viable), then gets the device fd.
    // Each failure says what to fix.
    static Result<std::unique_ptr<VfioDevice>> open(std::string address, VfioOptions opts = {});
    ~VfioDevice() override;

    ConfigSpace& config() override { return *config_; }
    Result<MmioRegion*> bar(unsigned index) override;
    [[nodiscard]] std::string_view backend() const override { return "vfio"; }
    [[nodiscard]] std::string name() const override { return address_; }

    [[nodiscard]] unsigned iommu_group() const { return group_number_; }

private:
    class RegionConfig;
    struct MappedBar;

    VfioDevice() = default;
    Result<std::unique_ptr<MappedBar>> map_bar(unsigned index);

    std::string address_;
    unsigned group_number_ = 0;
    // Declaration order is teardown order reversed: mappings and the device fd go before the
    // group, the group before its container.
    UniqueFd container_;
    UniqueFd group_;
    UniqueFd device_;
    std::unique_ptr<ConfigSpace> config_;
    std::mutex bars_mutex_;
    std::array<std::unique_ptr<MappedBar>, kBarCount> bars_;
};

}  // namespace cxlmgr::pci
