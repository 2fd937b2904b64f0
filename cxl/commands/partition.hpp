// Get Partition Info (0x4100): the volatile/persistent split of the device's capacity, active
// now and after the next reset. The device counts in 256 MiB units; these are bytes.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>

#include "cxl/commands/command.hpp"

namespace cxlmgr::cxl {

inline constexpr size_t kPartitionInfoSize = command_spec(opcode::kGetPartitionInfo).min_output;

struct PartitionInfo {
    uint64_t active_volatile = 0;  // bytes
    uint64_t active_persistent = 0;
    uint64_t next_volatile = 0;  // 0 with 0 next_persistent: no change is pending
    uint64_t next_persistent = 0;
};

Command<PartitionInfo> get_partition_info();
// DeviceError for a capacity that overflows 64 bits in bytes.
Result<PartitionInfo> decode_partition_info(ByteSpan output);
// Keys: active_volatile, active_persistent, next_volatile, next_persistent (bytes).
nlohmann::json partition_info_to_json(const PartitionInfo& info);

}  // namespace cxlmgr::cxl
