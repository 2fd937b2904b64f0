#include "emu/firmware_slots.hpp"

#include <algorithm>
#include <set>

namespace cxlmgr::emu {
namespace {

using nlohmann::json;

Error bad(const std::string& key, const std::string& why) {
    return Error(Errc::InvalidArgument,
                 "emulated device description: 'firmware." + key + "' " + why);
}

Result<uint64_t> read_uint(const json& section, const char* key, uint64_t fallback, uint64_t min,
                           uint64_t max) {
    auto it = section.find(key);
    if (it == section.end()) {
        return fallback;
    }
    if (!it->is_number_unsigned() && !(it->is_number_integer() && it->get<int64_t>() >= 0)) {
        return bad(key, "must be a non-negative integer");
    }
    uint64_t v = it->get<uint64_t>();
    if (v < min || v > max) {
        return bad(key, "must be in " + std::to_string(min) + ".." + std::to_string(max));
    }
    return v;
}

}  // namespace

Result<FirmwareSlots> FirmwareSlots::create(const DeviceDescription& description,
                                            std::chrono::nanoseconds part_gap) {
    const json& fw = description.firmware;
    static const std::set<std::string> kKnown = {"slots", "active", "revisions",
                                                 "online_activation", "max_image_size"};
    for (const auto& [key, value] : fw.items()) {
        if (kKnown.count(key) == 0) {
            return bad(key, "is not a known key");
        }
    }
    FirmwareSlots s;
    s.part_gap_ = part_gap;
    CXLMGR_ASSIGN(uint64_t slots, read_uint(fw, "slots", 3, 1, kMaxFirmwareSlots));
    s.slot_count_ = static_cast<uint8_t>(slots);
    CXLMGR_ASSIGN(uint64_t active, read_uint(fw, "active", 1, 1, slots));
    s.active_ = static_cast<uint8_t>(active);
    // The smallest image (header only) is one 128-byte unit; the offset field counts units in
    // 32 bits, which bounds the largest.
    CXLMGR_ASSIGN(s.max_image_size_, read_uint(fw, "max_image_size", kDefaultMaxFirmwareImageSize,
                                               kFirmwareImageAlignment, kLargestFirmwareImageSize));
    if (auto it = fw.find("online_activation"); it != fw.end()) {
        if (!it->is_boolean()) {
            return bad("online_activation", "must be true or false");
        }
        s.online_activation_ = it->get<bool>();
    }
    if (auto it = fw.find("revisions"); it != fw.end()) {
        if (!it->is_array() || it->size() > slots) {
            return bad("revisions", "must be an array of at most 'slots' strings");
        }
        for (size_t i = 0; i < it->size(); ++i) {
            const json& r = (*it)[i];
            if (!r.is_string()) {
                return bad("revisions", "must contain strings (\"\" for an empty slot)");
            }
            std::string rev = r.get<std::string>();
            if (!rev.empty()) {
                if (auto st = check_firmware_revision(rev); !st.ok()) {
                    return bad("revisions",
                               "entry " + std::to_string(i) + ": " + st.error().message);
                }
            }
            s.revisions_[i] = std::move(rev);
        }
    } else {
        if (auto st = check_firmware_revision(description.fw_revision); !st.ok()) {
            return Error(Errc::InvalidArgument,
                         "emulated device description: 'fw_revision': " + st.error().message);
        }
        s.revisions_[s.active_ - 1] = description.fw_revision;
    }
    if (s.revisions_[s.active_ - 1].empty()) {
        return bad("revisions", "leaves the active slot " + std::to_string(s.active_) + " empty");
    }
    return s;
}

std::array<uint8_t, kFwInfoSize> FirmwareSlots::info() const {
    std::array<uint8_t, kFwInfoSize> out{};
    out[0] = slot_count_;
    out[1] = static_cast<uint8_t>((active_ & 0x7u) | ((staged_ & 0x7u) << 3));
    out[2] = online_activation_ ? 1 : 0;
    for (unsigned i = 0; i < kMaxFirmwareSlots; ++i) {
        std::copy(revisions_[i].begin(), revisions_[i].end(), out.begin() + 0x10 + 0x10 * i);
    }
    return out;
}

bool FirmwareSlots::slot_writable(uint8_t slot) const {
    return slot >= 1 && slot <= slot_count_ && slot != active_;
}

void FirmwareSlots::drop_stale_transfer(TimePoint now) {
    if (transfer_ && now - transfer_->last_activity > part_gap_) {
        transfer_.reset();
    }
}

bool FirmwareSlots::transfer_open(TimePoint now) const {
    return transfer_ && now - transfer_->last_activity <= part_gap_;
}

ReturnCode FirmwareSlots::transfer(uint8_t action, uint8_t slot, uint32_t offset_units,
                                   std::span<const uint8_t> data, TimePoint now,
                                   TimePoint part_done_at, std::optional<PendingInstall>& install) {
    install.reset();
    if (action > static_cast<uint8_t>(FwAction::Abort)) {
        return ReturnCode::InvalidInput;
    }
    drop_stale_transfer(now);
    auto act = static_cast<FwAction>(action);
    if (act == FwAction::Abort) {
        // Success also when nothing is open: a host recovering from a crash aborts blindly.
        transfer_.reset();
        return ReturnCode::Success;
    }
    bool starts = act == FwAction::Full || act == FwAction::Initiate;
    bool ends = act == FwAction::Full || act == FwAction::End;
    uint64_t offset = uint64_t{offset_units} * kFirmwareImageAlignment;
    if (starts) {
        if (transfer_) {
            return ReturnCode::FwTransferInProgress;
        }
        if (offset != 0) {
            return ReturnCode::InvalidInput;
        }
    } else if (!transfer_) {
        return ReturnCode::InvalidInput;
    }
    if (data.empty() || data.size() % kFirmwareImageAlignment != 0) {
        return ReturnCode::InvalidInput;
    }
    if (ends && !slot_writable(slot)) {
        return ReturnCode::InvalidSlot;
    }
    if (offset + data.size() > max_image_size_) {
        return ReturnCode::InvalidInput;
    }

    Transfer t = starts ? Transfer{} : *transfer_;
    if (!starts) {
        if (offset == t.next_offset) {
            t.before_last = t.image;
        } else if (offset == t.last_offset && data.size() == t.last_length) {
            t.image = t.before_last;  // the host resends the last part: it replaces it
        } else {
            return ReturnCode::FwTransferOutOfOrder;
        }
    }
    t.image.feed(data);
    t.last_offset = offset;
    t.last_length = data.size();
    t.next_offset = offset + data.size();
    t.last_activity = part_done_at;
    if (ends) {
        install = PendingInstall{slot, std::move(t.image)};
        transfer_.reset();
    } else {
        transfer_ = std::move(t);
    }
    return ReturnCode::Success;
}

ReturnCode FirmwareSlots::install(const PendingInstall& pending, bool force_failure) {
    if (force_failure) {
        return ReturnCode::FwVerificationFailed;
    }
    auto header = pending.image.finish();
    if (!header.ok()) {
        return ReturnCode::FwVerificationFailed;
    }
    // The slot was checked when the last part arrived; an online activation while the image
    // was being written could have made it the active slot since.
    if (!slot_writable(pending.slot)) {
        return ReturnCode::InvalidSlot;
    }
    revisions_[pending.slot - 1] = header->revision;
    return ReturnCode::Success;
}

ReturnCode FirmwareSlots::activate(uint8_t action, uint8_t slot) {
    if (action > 1) {
        return ReturnCode::InvalidInput;
    }
    if (slot == 0 || slot > slot_count_ || revisions_[slot - 1].empty()) {
        return ReturnCode::InvalidSlot;
    }
    if (action == 0) {
        // Without live activation the device cannot honour "online" at all; it is a capability
        // it lacks (Get FW Info bit0 clear), hence Unsupported rather than a failed attempt.
        if (!online_activation_) {
            return ReturnCode::Unsupported;
        }
        active_ = slot;
        if (staged_ == slot) {
            staged_ = 0;
        }
        return ReturnCode::Success;
    }
    // Staging the running slot means "nothing to change at the next reset".
    staged_ = slot == active_ ? 0 : slot;
    return ReturnCode::Success;
}

}  // namespace cxlmgr::emu
