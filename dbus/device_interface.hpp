// org.cxlmgr1.Device on a device object: identity properties, Identify, GetHealth and the raw
// Command, all answered through the arbiter without blocking the D-Bus thread.
#pragma once

#include <dbus/generated/Device_adaptor.h>
#include <string>
#include <vector>

#include "daemon/managed_device.hpp"
#include "dbus/service_context.hpp"

namespace cxlmgr::dbus {

class DeviceInterface final : public org::cxlmgr1::Device_adaptor {
public:
    explicit DeviceInterface(DeviceContext& context);
    virtual ~DeviceInterface() = default;

    // Shows `now` from here on and returns the names of the properties whose value changed
    // (for PropertiesChanged).
    std::vector<std::string> update(const daemon::DeviceProperties& now);

private:
    void Identify(sdbus::Result<std::map<std::string, sdbus::Variant>>&& result) override;
    void GetHealth(sdbus::Result<std::map<std::string, sdbus::Variant>>&& result) override;
    void Command(sdbus::Result<uint16_t, std::vector<uint8_t>>&& result, uint16_t opcode,
                 std::vector<uint8_t> input) override;

    // Property values come from the snapshot last announced, so a Get never disagrees with the
    // PropertiesChanged signals a client saw.
    std::string Name() override { return shown_.name; }
    std::string Address() override { return shown_.address; }
    std::string Backend() override { return shown_.backend; }
    uint16_t VendorId() override { return shown_.vendor_id; }
    uint16_t DeviceId() override { return shown_.device_id; }
    uint64_t SerialNumber() override { return shown_.serial; }
    std::string State() override;
    std::string StateReason() override { return shown_.state_reason; }
    uint32_t PayloadSize() override { return shown_.payload_size; }
    std::string FirmwareRevision() override { return shown_.firmware_revision; }

    DeviceContext& context_;
    daemon::DeviceProperties shown_;
};

}  // namespace cxlmgr::dbus
