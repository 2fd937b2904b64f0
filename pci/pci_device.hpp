// One PCI function opened through a backend: its config space and its memory BARs.
#pragma once

#include <string>
#include <string_view>

#include "common/result.hpp"
#include "pci/config_space.hpp"
#include "pci/mmio_region.hpp"

namespace cxlmgr::pci {

inline constexpr unsigned kBarCount = 6;

class PciDevice {
public:
    virtual ~PciDevice() = default;

    virtual ConfigSpace& config() = 0;
    // The memory BAR `index` (0..5), mapped on first use. NotFound when the BAR is absent or an
    // I/O BAR; IoError/PermissionDenied when mapping fails. The region lives as long as the device.
    virtual Result<MmioRegion*> bar(unsigned index) = 0;

    // "sysfs", "vfio" or "emulated" (the Backend property of org.cxlmgr1.Device).
    [[nodiscard]] virtual std::string_view backend() const = 0;
    // The PCI address ("0000:0d:00.0") or the emulated device's name.
    [[nodiscard]] virtual std::string name() const = 0;
};

}  // namespace cxlmgr::pci
