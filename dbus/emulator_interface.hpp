// org.cxlmgr1.Emulator, only on emulated devices: drive the device model from outside (events,
// faults) for demos and tests. Every method changes the device, so callers need Manage access.
// The emulator's control calls are short and lock-protected, so the methods answer at once.
#pragma once

#include <dbus/generated/Emulator_adaptor.h>
#include <memory>

#include "emu/type3_device.hpp"
#include "dbus/service_context.hpp"

namespace cxlmgr::dbus {

class EmulatorInterface final : public org::cxlmgr1::Emulator_adaptor {
public:
    EmulatorInterface(DeviceContext& context, std::shared_ptr<emu::Type3Device> emulator);
    virtual ~EmulatorInterface() = default;

private:
    // Errors leave as sdbus::Error: the way a synchronous sdbus-c++ method answers with one.
    void InjectEvent(const std::string& log, const std::string& kind,
                     const std::map<std::string, sdbus::Variant>& fields) override;
    void InjectFault(const std::string& fault,
                     const std::map<std::string, sdbus::Variant>& params) override;
    void ClearFaults() override;

    void authorize(std::string_view method) const;
    [[noreturn]] void fail(const Error& error) const;

    DeviceContext& context_;
    std::shared_ptr<emu::Type3Device> emulator_;
};

}  // namespace cxlmgr::dbus
