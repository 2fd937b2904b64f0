#include "cxl/commands/partition.hpp"

#include "cxl/commands/identify.hpp"

namespace cxlmgr::cxl {
namespace {

constexpr const CommandSpec& kSpec = command_spec(opcode::kGetPartitionInfo);

Result<uint64_t> capacity(ByteSpan out, size_t offset, std::string_view field) {
    const uint64_t units = u64_at(out, offset);
    if (units > UINT64_MAX / kCapacityUnitBytes) {
        return Error(Errc::DeviceError, std::string(kSpec.name) + " reports a " +
                                            std::string(field) + " of " + hex(units) +
                                            " x 256 MiB, which overflows 64 bits");
    }
    return units * kCapacityUnitBytes;
}

}  // namespace

Command<PartitionInfo> get_partition_info() {
    return make_command<PartitionInfo>(kSpec, {}, decode_partition_info);
}

Result<PartitionInfo> decode_partition_info(ByteSpan out) {
    CXLMGR_CHECK(check_min_length(out, kPartitionInfoSize, kSpec.name));
    PartitionInfo p;
    CXLMGR_ASSIGN(p.active_volatile, capacity(out, 0x00, "active volatile capacity"));
    CXLMGR_ASSIGN(p.active_persistent, capacity(out, 0x08, "active persistent capacity"));
    CXLMGR_ASSIGN(p.next_volatile, capacity(out, 0x10, "next volatile capacity"));
    CXLMGR_ASSIGN(p.next_persistent, capacity(out, 0x18, "next persistent capacity"));
    return p;
}

nlohmann::json partition_info_to_json(const PartitionInfo& p) {
    return {{"active_volatile", p.active_volatile},
            {"active_persistent", p.active_persistent},
            {"next_volatile", p.next_volatile},
            {"next_persistent", p.next_persistent}};
}

}  // namespace cxlmgr::cxl
