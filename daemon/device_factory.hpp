// Opens a configured device through its backend.
#pragma once

#include <memory>
#include <string>

#include "common/result.hpp"
#include "daemon/config.hpp"
#include "emu/type3_device.hpp"
#include "pci/enumerate.hpp"
#include "pci/pci_device.hpp"

namespace cxlmgr::daemon {

struct OpenedDevice {
    std::unique_ptr<pci::PciDevice> device;
    std::shared_ptr<emu::Type3Device> emulator;  // set for emulated devices only
};

Result<OpenedDevice> open_device(const DeviceSpec& spec);

// What the logs call a device before it is open: its address, or an emulated device's name.
std::string spec_name(const DeviceSpec& spec);

// `"discover": true`: appends every CXL memory device libpci finds (class 0x050210) that the
// configuration does not already list, with the sysfs backend.
Status add_discovered_devices(DaemonConfig& config, const pci::EnumerateOptions& options = {});

}  // namespace cxlmgr::daemon
