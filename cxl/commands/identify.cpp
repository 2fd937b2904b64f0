#include "cxl/commands/identify.hpp"

namespace cxlmgr::cxl {
namespace {

constexpr const CommandSpec& kSpec = command_spec(opcode::kIdentifyMemoryDevice);

}  // namespace

Result<uint64_t> capacity_bytes(ByteSpan out, size_t offset, std::string_view command,
                                std::string_view field) {
    const uint64_t units = u64_at(out, offset);
    if (units > UINT64_MAX / kCapacityUnitBytes) {
        return Error(Errc::DeviceError, std::string(command) + " reports a " + std::string(field) +
                                            " of " + hex(units) +
                                            " x 256 MiB, which overflows 64 bits");
    }
    return units * kCapacityUnitBytes;
}

Command<IdentifyInfo> identify_memory_device() {
    return make_command<IdentifyInfo>(kSpec, {}, decode_identify);
}

Result<IdentifyInfo> decode_identify(ByteSpan out) {
    CXLMGR_CHECK(check_min_length(out, kIdentifyOutputSize, kSpec.name));
    IdentifyInfo info;
    info.fw_revision = ascii_field(out.subspan(0, 16));
    CXLMGR_ASSIGN(info.total_capacity, capacity_bytes(out, 0x10, kSpec.name, "total capacity"));
    CXLMGR_ASSIGN(info.volatile_capacity,
                  capacity_bytes(out, 0x18, kSpec.name, "volatile capacity"));
    CXLMGR_ASSIGN(info.persistent_capacity,
                  capacity_bytes(out, 0x20, kSpec.name, "persistent capacity"));
    CXLMGR_ASSIGN(info.partition_align,
                  capacity_bytes(out, 0x28, kSpec.name, "partition alignment"));
    info.info_event_log_size = u16_at(out, 0x30);
    info.warning_event_log_size = u16_at(out, 0x32);
    info.failure_event_log_size = u16_at(out, 0x34);
    info.fatal_event_log_size = u16_at(out, 0x36);
    info.lsa_size = u32_at(out, 0x38);
    info.poison_list_max = u24_at(out, 0x3C);
    info.inject_poison_limit = u16_at(out, 0x3F);
    info.poison_caps = u8_at(out, 0x41);
    info.qos_telemetry_caps = u8_at(out, 0x42);
    if (out.size() >= 0x45) {
        info.dc_event_log_size = u16_at(out, 0x43);
    }
    return info;
}

nlohmann::json identify_to_json(const IdentifyInfo& i) {
    nlohmann::json j = {
        {"fw_revision", i.fw_revision},
        {"total_capacity", i.total_capacity},
        {"volatile_capacity", i.volatile_capacity},
        {"persistent_capacity", i.persistent_capacity},
        {"partition_align", i.partition_align},
        {"info_event_log_size", i.info_event_log_size},
        {"warning_event_log_size", i.warning_event_log_size},
        {"failure_event_log_size", i.failure_event_log_size},
        {"fatal_event_log_size", i.fatal_event_log_size},
        {"lsa_size", i.lsa_size},
        {"poison_list_max", i.poison_list_max},
        {"inject_poison_limit", i.inject_poison_limit},
        {"poison_caps", i.poison_caps},
        {"qos_telemetry_caps", i.qos_telemetry_caps},
    };
    if (i.dc_event_log_size) {
        j["dc_event_log_size"] = *i.dc_event_log_size;
    }
    return j;
}

}  // namespace cxlmgr::cxl
