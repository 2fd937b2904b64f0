// Memory device commands: Identify Memory Device and Get Health Info.
#include "emu/command_set.hpp"

namespace cxlmgr::emu {
namespace {

constexpr size_t kIdentifySize = 0x43;  // the CXL 2.0 layout, which Linux reads

}  // namespace

CommandOutcome CommandSet::identify_memory_device(std::span<const uint8_t>, TimePoint) {
    const auto& d = context_.description;
    std::vector<uint8_t> out(kIdentifySize, 0);
    const std::string& rev = firmware_.active_revision();
    std::copy(rev.begin(), rev.end(), out.begin());
    store_le(out, 0x10, d.total_capacity() / kCapacityUnit, 8);
    store_le(out, 0x18, d.volatile_capacity / kCapacityUnit, 8);
    store_le(out, 0x20, d.persistent_capacity / kCapacityUnit, 8);
    // Partition alignment 0: the capacity is not partitionable.
    store_le(out, 0x28, 0, 8);
    for (unsigned i = 0; i < kEventLogCount; ++i) {
        store_le(out, 0x30 + 2 * i, events_.capacity(), 2);
    }
    store_le(out, 0x38, d.lsa_size, 4);
    // Poison list, injection limit, poison and QoS capabilities: none (zero).
    return {ReturnCode::Success, std::move(out), {}};
}

CommandOutcome CommandSet::get_health_info(std::span<const uint8_t>, TimePoint) {
    auto h = health_.encode();
    return {ReturnCode::Success, std::vector<uint8_t>(h.begin(), h.end()), {}};
}

}  // namespace cxlmgr::emu
