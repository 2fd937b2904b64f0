#include "cxl/commands/partition.hpp"

#include "cxl/commands/identify.hpp"

namespace cxlmgr::cxl {
namespace {

constexpr const CommandSpec& kSpec = command_spec(opcode::kGetPartitionInfo);

}  // namespace

Command<PartitionInfo> get_partition_info() {
    return make_command<PartitionInfo>(kSpec, {}, decode_partition_info);
}

Result<PartitionInfo> decode_partition_info(ByteSpan out) {
    CXLMGR_CHECK(check_min_length(out, kPartitionInfoSize, kSpec.name));
    PartitionInfo p;
    CXLMGR_ASSIGN(p.active_volatile,
                  capacity_bytes(out, 0x00, kSpec.name, "active volatile capacity"));
    CXLMGR_ASSIGN(p.active_persistent,
                  capacity_bytes(out, 0x08, kSpec.name, "active persistent capacity"));
    CXLMGR_ASSIGN(p.next_volatile, capacity_bytes(out, 0x10, kSpec.name, "next volatile capacity"));
    CXLMGR_ASSIGN(p.next_persistent,
                  capacity_bytes(out, 0x18, kSpec.name, "next persistent capacity"));
    return p;
}

nlohmann::json partition_info_to_json(const PartitionInfo& p) {
    return {{"active_volatile", p.active_volatile},
            {"active_persistent", p.active_persistent},
            {"next_volatile", p.next_volatile},
            {"next_persistent", p.next_persistent}};
}

}  // namespace cxlmgr::cxl
