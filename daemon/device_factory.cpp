#include "daemon/device_factory.hpp"

#include "pci/emulated_device.hpp"

namespace cxlmgr::daemon {

Result<OpenedDevice> open_device(const DeviceSpec& spec) {
    OpenedDevice opened;
    switch (spec.backend) {
        case Backend::Emulated: {
            CXLMGR_ASSIGN(opened.emulator, emu::Type3Device::create(spec.emulated));
            opened.device = std::make_unique<pci::EmulatedDevice>(opened.emulator);
            return opened;
        }
        case Backend::Sysfs:
        case Backend::Vfio:
            break;
    }
    return Error(Errc::Unsupported, std::string(backend_name(spec.backend)) +
                                        " backend is not available in this build");
}

}  // namespace cxlmgr::daemon
