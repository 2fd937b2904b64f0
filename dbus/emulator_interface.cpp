#include "dbus/emulator_interface.hpp"

#include <limits>

#include "common/log.hpp"
#include "emu/event_records.hpp"
#include "emu/faults.hpp"
#include "dbus/json_variant.hpp"

namespace cxlmgr::dbus {

EmulatorInterface::EmulatorInterface(DeviceContext& context,
                                     std::shared_ptr<emu::Type3Device> emulator)
    : Emulator_adaptor(context.object), context_(context), emulator_(std::move(emulator)) {}

void EmulatorInterface::fail(const Error& error) const {
    throw to_dbus_error(error, context_.name);
}

void EmulatorInterface::authorize(std::string_view method) const {
    if (auto allowed = context_.authorize(Access::Manage, method); !allowed.ok()) {
        fail(allowed.error());
    }
}

void EmulatorInterface::InjectEvent(const std::string& log, const std::string& kind,
                                    const std::map<std::string, sdbus::Variant>& fields) {
    authorize("InjectEvent");
    auto parsed_log = emu::parse_event_log(log);
    if (!parsed_log.ok()) {
        fail(parsed_log.error().with_context("InjectEvent"));
    }
    auto parsed_kind = emu::parse_event_kind(kind);
    if (!parsed_kind.ok()) {
        fail(parsed_kind.error().with_context("InjectEvent"));
    }
    auto json = dict_to_json(fields);
    if (!json.ok()) {
        fail(json.error().with_context("InjectEvent fields"));
    }
    if (auto injected = emulator_->inject_event(*parsed_log, *parsed_kind, *json); !injected.ok()) {
        fail(injected.error().with_context("InjectEvent"));
    }
    log::info(context_.name, ": injected a ", kind, " event into the ", log, " log");
}

void EmulatorInterface::InjectFault(const std::string& fault,
                                    const std::map<std::string, sdbus::Variant>& params) {
    authorize("InjectFault");
    auto parsed = emu::parse_fault(fault);
    if (!parsed.ok()) {
        fail(parsed.error().with_context("InjectFault"));
    }
    uint32_t count = 1;
    for (const auto& [key, value] : params) {
        if (key != "count") {
            // Reserved for later: a caller must never believe an option took effect.
            fail(Error(Errc::InvalidArgument,
                       "InjectFault does not know the parameter '" + key + "' (known: count)"));
        }
        auto n = variant_to_json(value, key);
        if (!n.ok() || !n->is_number_integer() || n->get<int64_t>() < 1 ||
            n->get<uint64_t>() > std::numeric_limits<uint32_t>::max()) {
            fail(Error(Errc::InvalidArgument,
                       "InjectFault: count must be an integer from 1 to 4294967295 (which means "
                       "forever), got a value of D-Bus type '" +
                           value.peekValueType() + "'" + (n.ok() ? " " + n->dump() : "")));
        }
        count = static_cast<uint32_t>(n->get<uint64_t>());
    }
    emulator_->arm_fault(*parsed, count);
    log::info(context_.name, ": fault ", fault, " armed (count ", count, ")");
}

void EmulatorInterface::ClearFaults() {
    authorize("ClearFaults");
    emulator_->clear_faults();
    log::info(context_.name, ": faults cleared");
}

}  // namespace cxlmgr::dbus
