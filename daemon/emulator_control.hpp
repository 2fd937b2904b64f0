// The control side of an emulated device (what org.cxlmgr1.Emulator offers): inject an event
// into one of its logs, arm a fault, clear the faults, by the names of the API. The device
// model does each under its own lock and at once, so every method answers synchronously and may
// be called from any thread, the D-Bus thread included.
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "common/result.hpp"

namespace cxlmgr::emu {
class Type3Device;
}

namespace cxlmgr::daemon {

class ManagedDevice;

class EmulatorControl {
public:
    // A count that never runs out.
    static constexpr uint32_t kForever = UINT32_MAX;

    // The control of `device`, or null when it is not emulated.
    static std::shared_ptr<EmulatorControl> of(const ManagedDevice& device);
    EmulatorControl(std::string name, std::shared_ptr<emu::Type3Device> model);

    // Adds a record to `log` ("informational", "warning", "failure", "fatal") of `kind`
    // ("general-media", "dram", "memory-module", "vendor") built from `fields` (names in
    // emu/event_records.hpp). InvalidArgument for an unknown log, kind or field, or a value out
    // of range.
    Status inject_event(std::string_view log, std::string_view kind, const nlohmann::json& fields);
    // Arms `fault` (the names of emu/faults.hpp) for its next `count` occurrences, kForever for
    // all of them. InvalidArgument for an unknown fault or a count of 0.
    Status inject_fault(std::string_view fault, uint32_t count);
    // Disarms every fault.
    void clear_faults();

    [[nodiscard]] const std::string& name() const { return name_; }

private:
    const std::string name_;
    const std::shared_ptr<emu::Type3Device> model_;
};

}  // namespace cxlmgr::daemon
