// What an emulated CXL Type-3 device looks like, read from JSON with sensible defaults, e.g.
//   {"name": "emu0", "serial": 4660, "payload_size": 2048,
//    "volatile_capacity": 268435456, "persistent_capacity": 0,
//    "cdat": {...}, "firmware": {...}, "events": {...}, "mailbox": {...}, "timing": {...},
//    "state_file": "/var/tmp/emu0.state"}
// Unknown keys are refused so a typo never silently produces a default device. The sections
// that belong to one part of the model (cdat, firmware, events) are kept as JSON here and parsed
// with their own validation by that part.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "common/result.hpp"

namespace cxlmgr::emu {

inline constexpr uint64_t kCapacityUnit = 256ull << 20;  // CXL capacities come in 256 MiB units

struct DeviceDescription {
    std::string name = "emu0";
    uint16_t vendor_id = 0x8086;  // what QEMU's cxl-type3 reports
    uint16_t device_id = 0x0d93;
    uint16_t subsystem_vendor_id = 0x1af4;
    uint16_t subsystem_id = 0x1100;
    uint8_t revision = 1;
    uint64_t serial = 0x1234;
    uint32_t payload_size = 2048;  // power of two, 256 B .. 1 MiB
    uint64_t volatile_capacity = kCapacityUnit;
    uint64_t persistent_capacity = 0;
    uint32_t lsa_size = 0;
    // Identify Memory Device's poison list maximum: records beyond it overflow the list.
    uint32_t poison_list_max = 256;
    // Get Security State's flags (bit 2 locked, bit 3 frozen, ...); fixed, as the emulated
    // device implements no passphrase commands.
    uint32_t security_state = 0;
    std::string fw_revision = "EMU FW 1.0";

    nlohmann::json cdat = nlohmann::json::object();      // parsed by the DOE responder
    nlohmann::json firmware = nlohmann::json::object();  // parsed by the mailbox model
    nlohmann::json events = nlohmann::json::object();    // parsed by the mailbox model
    nlohmann::json mailbox = nlohmann::json::object();   // parsed by the mailbox model
    nlohmann::json timing = nlohmann::json::object();    // latencies, each part reads its keys
    // Where the device keeps its state across processes (emu/device_state.hpp); empty: the
    // state lives and dies with the device object.
    std::string state_file;

    [[nodiscard]] uint64_t total_capacity() const {
        return volatile_capacity + persistent_capacity;
    }
};

// Validates ranges (payload size a power of two in 256..1M, capacities multiples of 256 MiB,
// a name usable as a D-Bus path element once sanitized, ...) and names the offending key.
Result<DeviceDescription> parse_device_description(const nlohmann::json& json);

// A default device named `name`, as `cxlmgrd --emulate N` creates them.
DeviceDescription default_device_description(std::string name);

}  // namespace cxlmgr::emu
