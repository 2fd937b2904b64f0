// Identify Memory Device: 0x43 bytes in CXL 2.0; r3.1 appends the dynamic capacity event log
// size (0x45 bytes). Capacities travel in 256 MiB units and are kept here in bytes.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "cxl/commands/command.hpp"

namespace cxlmgr::cxl {

inline constexpr size_t kIdentifyOutputSize =
    command_spec(opcode::kIdentifyMemoryDevice).min_output;
inline constexpr uint64_t kCapacityUnitBytes = 256ull << 20;

// The little-endian count of 256 MiB units at `offset` of `command`'s output, in bytes; a count
// that would not fit 64 bits in bytes is a broken device (DeviceError naming the command and
// `field`). Identify and Get Partition Info both report capacities this way.
Result<uint64_t> capacity_bytes(ByteSpan out, size_t offset, std::string_view command,
                                std::string_view field);

struct IdentifyInfo {
    std::string fw_revision;
    uint64_t total_capacity = 0;  // bytes
    uint64_t volatile_capacity = 0;
    uint64_t persistent_capacity = 0;
    uint64_t partition_align = 0;
    uint16_t info_event_log_size = 0;  // records
    uint16_t warning_event_log_size = 0;
    uint16_t failure_event_log_size = 0;
    uint16_t fatal_event_log_size = 0;
    uint32_t lsa_size = 0;         // bytes
    uint32_t poison_list_max = 0;  // 24-bit record count
    uint16_t inject_poison_limit = 0;
    uint8_t poison_caps = 0;
    uint8_t qos_telemetry_caps = 0;
    std::optional<uint16_t> dc_event_log_size;  // r3.1
};

Command<IdentifyInfo> identify_memory_device();
Result<IdentifyInfo> decode_identify(ByteSpan output);
// Keys: fw_revision, total_capacity, volatile_capacity, persistent_capacity, partition_align
// (bytes), info/warning/failure/fatal_event_log_size, lsa_size, poison_list_max,
// inject_poison_limit, poison_caps, qos_telemetry_caps, and dc_event_log_size when reported.
nlohmann::json identify_to_json(const IdentifyInfo& info);

}  // namespace cxlmgr::cxl
