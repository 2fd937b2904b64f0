#include "dbus/device_interface.hpp"

#include <cstdio>

#include "dbus/json_variant.hpp"

namespace cxlmgr::dbus {
namespace {

using Dict = std::map<std::string, sdbus::Variant>;

Result<std::tuple<Dict>> to_reply(nlohmann::json&& json) {
    CXLMGR_ASSIGN(auto dict, json_to_dict(json));
    return std::tuple<Dict>(std::move(dict));
}

// A JSON rendering the D-Bus types cannot carry is a daemon bug, not the caller's fault.
Result<std::tuple<Dict>> json_reply(nlohmann::json&& json) {
    auto reply = to_reply(std::move(json));
    if (!reply.ok()) {
        return Error(Errc::Internal,
                     "the reply cannot be sent over D-Bus: " + reply.error().message);
    }
    return reply;
}

std::string hex16(uint16_t v) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "0x%04x", v);
    return buf;
}

}  // namespace

DeviceInterface::DeviceInterface(DeviceContext& context)
    : Device_adaptor(context.object), context_(context), shown_(context.device->properties()) {}

std::vector<std::string> DeviceInterface::update(const daemon::DeviceProperties& now) {
    std::vector<std::string> changed;
    // Name, Address and Backend are const (EmitsChangedSignal=const): never announced.
    if (now.vendor_id != shown_.vendor_id) {
        changed.emplace_back("VendorId");
    }
    if (now.device_id != shown_.device_id) {
        changed.emplace_back("DeviceId");
    }
    if (now.serial != shown_.serial) {
        changed.emplace_back("SerialNumber");
    }
    if (now.state != shown_.state) {
        changed.emplace_back("State");
    }
    if (now.payload_size != shown_.payload_size) {
        changed.emplace_back("PayloadSize");
    }
    if (now.firmware_revision != shown_.firmware_revision) {
        changed.emplace_back("FirmwareRevision");
    }
    shown_ = now;
    return changed;
}

std::string DeviceInterface::State() {
    return std::string(daemon::device_state_name(shown_.state));
}

void DeviceInterface::Identify(sdbus::Result<Dict>&& result) {
    auto& calls = *context_.service.calls;
    context_.device->identify(
        calls.defer<nlohmann::json>(std::move(result), context_.subject(), json_reply));
}

void DeviceInterface::GetHealth(sdbus::Result<Dict>&& result) {
    auto& calls = *context_.service.calls;
    context_.device->health(
        calls.defer<nlohmann::json>(std::move(result), context_.subject(), json_reply));
}

void DeviceInterface::Command(sdbus::Result<uint16_t, std::vector<uint8_t>>&& result,
                              uint16_t opcode, std::vector<uint8_t> input) {
    const std::string method = "Command " + hex16(opcode);
    if (auto allowed = context_.authorize(Access::Privileged, method); !allowed.ok()) {
        result.returnError(to_dbus_error(allowed.error(), context_.name));
        return;
    }
    if (!context_.service.allow_raw_writes && !cxl::command_is_read_only(opcode)) {
        result.returnError(make_dbus_error(
            Errc::PermissionDenied,
            context_.name + ": opcode " + hex16(opcode) +
                " may change the device or state cxlmgrd owns, and cxlmgrd runs without "
                "--allow-raw-writes; only reading commands are passed through"));
        return;
    }
    auto& calls = *context_.service.calls;
    context_.device->command(opcode, std::move(input),
                             calls.defer<cxl::MailboxResponse>(
                                 std::move(result), context_.subject(),
                                 [](cxl::MailboxResponse&& response)
                                     -> Result<std::tuple<uint16_t, std::vector<uint8_t>>> {
                                     // A non-success return code is the device's answer, returned
                                     // as such.
                                     return std::tuple<uint16_t, std::vector<uint8_t>>(
                                         response.return_code, std::move(response.output));
                                 }));
}

}  // namespace cxlmgr::dbus
