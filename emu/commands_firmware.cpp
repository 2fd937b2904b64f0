// Firmware commands: Get FW Info, Transfer FW (a background command), Activate FW (a background
// command when timing.background_us gives it a time).
#include "emu/command_set.hpp"

namespace cxlmgr::emu {
namespace {

constexpr size_t kTransferHeaderSize = 0x80;

}  // namespace

CommandOutcome CommandSet::get_fw_info(std::span<const uint8_t>, TimePoint) {
    auto info = firmware_.info();
    return {ReturnCode::Success, std::vector<uint8_t>(info.begin(), info.end()), {}};
}

CommandOutcome CommandSet::transfer_fw(std::span<const uint8_t> in, TimePoint now) {
    if (in.size() < kTransferHeaderSize) {
        return {ReturnCode::InvalidPayloadLength, {}, {}};
    }
    uint8_t action = in[0];
    uint8_t slot = in[1];
    auto offset_units = static_cast<uint32_t>(load_le(in, 4, 4));
    auto data = in.subspan(kTransferHeaderSize);
    // Writing flash takes time in proportion to the part's size, plus a fixed time per part
    // (timing.background_us."transfer-fw"; QEMU 9.1 and later take 2 s per part).
    auto duration =
        timing_.transfer_fw_fixed + timing_.fw_per_kib * static_cast<int64_t>(data.size()) / 1024;
    ReturnCode rc = firmware_.transfer(action, slot, offset_units, data, now, now + duration);
    if (rc != ReturnCode::Success || action == static_cast<uint8_t>(FwAction::Abort)) {
        return {rc, {}, {}};
    }
    return {ReturnCode::BackgroundStarted, {}, BackgroundWork{duration}};
}

CommandOutcome CommandSet::activate_fw(std::span<const uint8_t> in, TimePoint) {
    if (timing_.activate_fw_fixed.count() == 0) {
        return {firmware_.activate(in[0], in[1]), {}, {}};
    }
    ReturnCode rc = firmware_.start_activation(in[0], in[1]);
    if (rc != ReturnCode::Success) {
        return {rc, {}, {}};
    }
    return {ReturnCode::BackgroundStarted, {}, BackgroundWork{timing_.activate_fw_fixed}};
}

}  // namespace cxlmgr::emu
