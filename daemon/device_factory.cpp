#include "daemon/device_factory.hpp"

#include <map>

#include "common/log.hpp"
#include "pci/emulated_device.hpp"
#include "pci/enumerate.hpp"
#include "pci/sysfs_device.hpp"
#include "pci/vfio_device.hpp"

namespace cxlmgr::daemon {

Result<OpenedDevice> open_device(const DeviceSpec& spec) {
    OpenedDevice opened;
    switch (spec.backend) {
        case Backend::Emulated: {
            CXLMGR_ASSIGN(opened.emulator, emu::Type3Device::create(spec.emulated));
            opened.device = std::make_unique<pci::EmulatedDevice>(opened.emulator);
            return opened;
        }
        case Backend::Sysfs: {
            CXLMGR_ASSIGN(opened.device, pci::SysfsDevice::open(spec.address));
            return opened;
        }
        case Backend::Vfio: {
            CXLMGR_ASSIGN(opened.device, pci::VfioDevice::open(spec.address));
            return opened;
        }
    }
    return Error(Errc::Internal, "unknown backend");
}

std::string spec_name(const DeviceSpec& spec) {
    return spec.backend == Backend::Emulated ? spec.emulated.name : spec.address;
}

Status add_discovered_devices(DaemonConfig& config, const pci::EnumerateOptions& options) {
    CXLMGR_ASSIGN(auto found, pci::enumerate_cxl_memory_devices(options));
    std::map<std::string, Backend> listed;
    for (const auto& spec : config.devices) {
        listed.emplace(spec.address, spec.backend);
    }
    for (const auto& info : found) {
        if (auto it = listed.find(info.address); it != listed.end()) {
            // Configured explicitly (maybe with the vfio backend): keep that, but say discovery
            // saw it, so a configured device discovery misses stands out in the log.
            log::info(info.address, ": discovered, configured with the ", backend_name(it->second),
                      " backend");
            continue;
        }
        log::info(info.address, ": discovered ", info.vendor_name, " ", info.device_name,
                  info.driver ? " (bound to " + *info.driver + ")" : "");
        DeviceSpec spec;
        spec.backend = Backend::Sysfs;
        spec.address = info.address;
        config.devices.push_back(std::move(spec));
    }
    return ok_status();
}

}  // namespace cxlmgr::daemon
