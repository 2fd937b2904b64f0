#include "daemon/firmware_target.hpp"

#include <string>

namespace cxlmgr::daemon {

namespace {

std::string slots_text(const cxl::FwInfo& info) {
    std::string text = "the device has " + std::to_string(info.slot_count) + " slot" +
                       (info.slot_count == 1 ? "" : "s") + ", slot " +
                       std::to_string(info.active_slot) + " active";
    if (info.staged_slot != 0) {
        text += ", slot " + std::to_string(info.staged_slot) + " staged";
    }
    return text;
}

Status check_exists(const cxl::FwInfo& info, uint8_t slot) {
    if (slot > info.slot_count) {
        return Error(Errc::InvalidArgument,
                     "slot " + std::to_string(slot) + " does not exist (" + slots_text(info) + ")");
    }
    return ok_status();
}

}  // namespace

Result<uint8_t> update_target_slot(const cxl::FwInfo& info, uint8_t requested) {
    if (requested == 0) {
        for (uint8_t s = 1; s <= info.slot_count; ++s) {
            if (s != info.active_slot && s != info.staged_slot) {
                return s;
            }
        }
        return Error(Errc::InvalidArgument,
                     "slot 0 picks a slot neither active nor staged, and "
                     "there is none (" +
                         slots_text(info) + "): name the slot to overwrite");
    }
    CXLMGR_CHECK(check_exists(info, requested));
    if (requested == info.active_slot) {
        return Error(Errc::InvalidArgument, "slot " + std::to_string(requested) +
                                                " holds the running firmware and cannot be "
                                                "written (" +
                                                slots_text(info) + ")");
    }
    return requested;
}

Status check_activate_slot(const cxl::FwInfo& info, uint8_t slot) {
    if (slot == 0) {
        return Error(Errc::InvalidArgument,
                     "slot 0 cannot be activated: slots count from 1 (" + slots_text(info) + ")");
    }
    return check_exists(info, slot);
}

}  // namespace cxlmgr::daemon
