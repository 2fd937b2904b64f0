#include "dbus/device_interface.hpp"

#include "common/hex.hpp"
#include "dbus/message_writer.hpp"
#include "dbus/values.hpp"

namespace cxlmgr::dbus {
namespace {

using Dict = std::map<std::string, sdbus::Variant>;

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
    if (now.state_reason != shown_.state_reason) {
        changed.emplace_back("StateReason");
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
    context_.device->identify(calls.defer<daemon::IdentifyInfo>(
        std::move(result), context_.subject(),
        [](daemon::IdentifyInfo&& info) -> Result<std::tuple<Dict>> {
            return std::tuple<Dict>(identify_to_dict(info));
        }));
}

void DeviceInterface::GetHealth(sdbus::Result<Dict>&& result) {
    auto call = current_call(context_.object);
    if (!call) {
        result.returnError(make_dbus_error(Errc::Internal, "GetHealth outside of a call"));
        return;
    }
    // Written straight into the reply where the answer arrives (the device's strand), without
    // a Variant tree; sent on the D-Bus thread (docs/DBUS.md "Threading and lifetimes").
    context_.device->health(context_.service.calls->defer_written<daemon::HealthInfo>(
        std::move(result), context_.subject(), call->createReply(),
        [](sdbus::Message& reply, daemon::HealthInfo&& health) {
            MessageWriter(reply).health(health);
            return ok_status();
        }));
}

void DeviceInterface::Command(sdbus::Result<uint16_t, std::vector<uint8_t>>&& result,
                              uint16_t opcode, std::vector<uint8_t> input) {
    const std::string method = "Command " + hex(opcode, 4);
    if (auto allowed = context_.authorize(Access::Privileged, method); !allowed.ok()) {
        result.returnError(to_dbus_error(allowed.error(), context_.name));
        return;
    }
    if (!context_.service.allow_raw_writes && !cxl::command_is_read_only(opcode)) {
        result.returnError(make_dbus_error(
            Errc::PermissionDenied,
            context_.name + ": opcode " + hex(opcode, 4) +
                " may change the device or state cxlmgrd owns, and cxlmgrd runs without "
                "--allow-raw-writes; only reading commands are passed through"));
        return;
    }
    auto& calls = *context_.service.calls;
    context_.device->command(opcode, std::move(input),
                             calls.defer<daemon::MailboxResponse>(
                                 std::move(result), context_.subject(),
                                 [](daemon::MailboxResponse&& response)
                                     -> Result<std::tuple<uint16_t, std::vector<uint8_t>>> {
                                     // A non-success return code is the device's answer, returned
                                     // as such.
                                     return std::tuple<uint16_t, std::vector<uint8_t>>(
                                         response.return_code, std::move(response.output));
                                 }));
}

}  // namespace cxlmgr::dbus
