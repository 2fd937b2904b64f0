#include "daemon/emulator_control.hpp"

#include "common/log.hpp"
#include "daemon/managed_device.hpp"
#include "emu/event_records.hpp"
#include "emu/faults.hpp"
#include "emu/type3_device.hpp"

namespace cxlmgr::daemon {

static_assert(EmulatorControl::kForever == emu::FaultSet::kForever);

std::shared_ptr<EmulatorControl> EmulatorControl::of(const ManagedDevice& device) {
    if (!device.emulator()) {
        return nullptr;
    }
    return std::make_shared<EmulatorControl>(device.name(), device.emulator());
}

EmulatorControl::EmulatorControl(std::string name, std::shared_ptr<emu::Type3Device> model)
    : name_(std::move(name)), model_(std::move(model)) {}

Status EmulatorControl::inject_event(std::string_view log, std::string_view kind,
                                     const nlohmann::json& fields) {
    CXLMGR_ASSIGN(auto parsed_log, emu::parse_event_log(log));
    CXLMGR_ASSIGN(auto parsed_kind, emu::parse_event_kind(kind));
    CXLMGR_CHECK(model_->inject_event(parsed_log, parsed_kind, fields));
    log::info(name_, ": injected a ", kind, " event into the ", log, " log");
    return ok_status();
}

Status EmulatorControl::inject_fault(std::string_view fault, uint32_t count) {
    CXLMGR_ASSIGN(auto parsed, emu::parse_fault(fault));
    if (count == 0) {
        return Error(Errc::InvalidArgument,
                     "a fault count of 0 arms nothing: count must be from 1 "
                     "to 4294967295 (which means forever)");
    }
    model_->arm_fault(parsed, count);
    log::info(name_, ": fault ", fault, " armed (count ", count, ")");
    return ok_status();
}

void EmulatorControl::clear_faults() {
    model_->clear_faults();
    log::info(name_, ": faults cleared");
}

}  // namespace cxlmgr::daemon
