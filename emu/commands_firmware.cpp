// Firmware commands: Get FW Info, Transfer FW (a background command), Activate FW.
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
    // Writing flash takes time in proportion to the part's size.
    auto duration = timing_.fw_per_kib * static_cast<int64_t>(data.size()) / 1024;
    std::optional<PendingInstall> install;
    ReturnCode rc =
        firmware_.transfer(action, slot, offset_units, data, now, now + duration, install);
    if (rc != ReturnCode::Success || action == static_cast<uint8_t>(FwAction::Abort)) {
        return {rc, {}, {}};
    }
    BackgroundWork work{duration, {}};
    if (install) {
        work.finish = [this, pending = std::move(*install)] {
            return firmware_.install(pending, context_.faults.consume(Fault::FwVerifyFail));
        };
    } else {
        work.finish = [] { return ReturnCode::Success; };
    }
    return {ReturnCode::BackgroundStarted, {}, std::move(work)};
}

CommandOutcome CommandSet::activate_fw(std::span<const uint8_t> in, TimePoint) {
    return {firmware_.activate(in[0], in[1]), {}, {}};
}

}  // namespace cxlmgr::emu
