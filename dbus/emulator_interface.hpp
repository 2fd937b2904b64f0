// org.cxlmgr1.Emulator, only on emulated devices: drive the device model from outside (events,
// faults) for demos and tests. Every method changes the device, so callers need Manage access.
// The daemon's EmulatorControl does the work and answers at once, so the methods do too; this
// part translates the arguments and the errors.
#pragma once

#include <dbus/generated/Emulator_adaptor.h>
#include <memory>

#include "daemon/emulator_control.hpp"
#include "dbus/service_context.hpp"

namespace cxlmgr::dbus {

class EmulatorInterface final : public org::cxlmgr1::Emulator_adaptor {
public:
    EmulatorInterface(DeviceContext& context, std::shared_ptr<daemon::EmulatorControl> control);
    virtual ~EmulatorInterface() = default;

private:
    // Errors leave as sdbus::Error: the way a synchronous sdbus-c++ method answers with one.
    void InjectEvent(const std::string& log, const std::string& kind,
                     const std::map<std::string, sdbus::Variant>& fields) override;
    void InjectFault(const std::string& fault,
                     const std::map<std::string, sdbus::Variant>& params) override;
    void ClearFaults() override;

    void authorize(std::string_view method) const;
    [[nodiscard]] Result<uint32_t> fault_count(
        const std::map<std::string, sdbus::Variant>& params) const;
    [[nodiscard]] sdbus::Error fail(const Error& error) const;

    DeviceContext& context_;
    std::shared_ptr<daemon::EmulatorControl> control_;
};

}  // namespace cxlmgr::dbus
