// What cxlmgrd should answer, worked out without cxlmgrd: from the emulated device's JSON
// description, from a second in-process instance of the emulated device (deterministic, so its
// bytes are the bytes the daemon's instance returns), and from small decoders written here
// from the specification tables (docs/PROTOCOL.md), independent of the decoders the daemon uses
// (cxl/commands, doe/cdat).
#pragma once

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace cxlmgr::testing {

using ByteVector = std::vector<uint8_t>;

// {"backend": "emulated", "name": name} plus `extra` keys.
nlohmann::json emulated_device(const std::string& name,
                               const nlohmann::json& extra = nlohmann::json::object());
// {"devices": [...]} as cxlmgrd --config reads it.
std::string daemon_config(const std::vector<nlohmann::json>& devices);

// A valid emulated-device firmware image of `payload` bytes (emu/firmware_image.hpp), streamed
// to `path` (never whole in memory); `corrupt` flips a payload byte so verification fails.
void write_firmware_image(const std::filesystem::path& path, const std::string& revision,
                          uint64_t payload, bool corrupt = false);

// The output of one mailbox command sent to a fresh in-process emulated device built from
// `device` (the "backend" key is dropped); throws when the command fails.
struct ReferenceAnswer {
    uint16_t return_code = 0;
    ByteVector output;
};
ReferenceAnswer reference_command(const nlohmann::json& device, uint16_t opcode,
                                  const ByteVector& input = {});
// The CDAT the emulated device serves (what Cdat.ReadRaw must return byte for byte).
ByteVector reference_cdat(const nlohmann::json& device);

// Identify Memory Device (0x4000) output, CXL 2.0 layout: capacities converted from 256 MiB
// units to bytes; keys as the contract's Identify (fw_revision, total_capacity, ...).
nlohmann::json decode_identify(const ByteVector& output);
// Get Health Info (0x4200) output, the raw fields under the contract's keys.
nlohmann::json decode_health(const ByteVector& output);
// A whole CDAT: the header and every entry, as an array of objects in table order with the
// contract's "type" names and field names. Throws std::runtime_error on a length or checksum
// fault.
nlohmann::json decode_cdat(const ByteVector& table);

}  // namespace cxlmgr::testing

namespace cxlmgr::testing {

// Every key of `expected` must be in `got` with an equal value (numbers compare by value
// whatever their JSON integer kind); extra keys in `got` are allowed (the contract permits
// additive extensions). Returns the mismatches, one per line; empty when all match.
std::string field_mismatches(const nlohmann::json& expected, const nlohmann::json& got);

// The device most tests use: every value differs from the emulator's defaults, so an answer
// that ignores the description shows.
nlohmann::json alpha_device();

}  // namespace cxlmgr::testing
