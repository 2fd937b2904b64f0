#include "dbus/emulator_interface.hpp"

#include <limits>

#include "dbus/json_variant.hpp"

namespace cxlmgr::dbus {

EmulatorInterface::EmulatorInterface(DeviceContext& context,
                                     std::shared_ptr<daemon::EmulatorControl> control)
    : Emulator_adaptor(context.object), context_(context), control_(std::move(control)) {}

sdbus::Error EmulatorInterface::fail(const Error& error) const {
    return to_dbus_error(error, context_.name);
}

void EmulatorInterface::authorize(std::string_view method) const {
    if (auto allowed = context_.authorize(Access::Manage, method); !allowed.ok()) {
        throw fail(allowed.error());
    }
}

void EmulatorInterface::InjectEvent(const std::string& log, const std::string& kind,
                                    const std::map<std::string, sdbus::Variant>& fields) {
    authorize("InjectEvent");
    auto json = dict_to_json(fields);
    if (!json.ok()) {
        throw fail(json.error().with_context("InjectEvent fields"));
    }
    if (auto injected = control_->inject_event(log, kind, *json); !injected.ok()) {
        throw fail(injected.error().with_context("InjectEvent"));
    }
}

Result<uint32_t> EmulatorInterface::fault_count(
    const std::map<std::string, sdbus::Variant>& params) const {
    uint32_t count = 1;
    for (const auto& [key, value] : params) {
        if (key != "count") {
            // Reserved for later: a caller must never believe an option took effect.
            return Error(Errc::InvalidArgument,
                         "InjectFault does not know the parameter '" + key + "' (known: count)");
        }
        // Any integer type: the contract does not make callers pick one.
        auto n = variant_to_json(value, key);
        if (!n.ok() || !n->is_number_integer() || n->get<int64_t>() < 0 ||
            n->get<uint64_t>() > std::numeric_limits<uint32_t>::max()) {
            return Error(Errc::InvalidArgument,
                         "InjectFault: count must be an integer from 1 to 4294967295 (which means "
                         "forever), got a value of D-Bus type '" +
                             value.peekValueType() + "'" + (n.ok() ? " " + n->dump() : ""));
        }
        count = static_cast<uint32_t>(n->get<uint64_t>());
    }
    return count;
}

void EmulatorInterface::InjectFault(const std::string& fault,
                                    const std::map<std::string, sdbus::Variant>& params) {
    authorize("InjectFault");
    auto count = fault_count(params);
    if (!count.ok()) {
        throw fail(count.error());
    }
    if (auto armed = control_->inject_fault(fault, *count); !armed.ok()) {
        throw fail(armed.error().with_context("InjectFault"));
    }
}

void EmulatorInterface::ClearFaults() {
    authorize("ClearFaults");
    control_->clear_faults();
}

}  // namespace cxlmgr::dbus
