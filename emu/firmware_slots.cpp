#include "emu/firmware_slots.hpp"

#include <algorithm>
#include <set>

#include "emu/device_state.hpp"

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
                                   TimePoint part_done_at) {
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
    // The header comes with the first part: an image announcing more than the device can hold
    // is refused there, not after the host streamed up to the limit.
    if (auto size = t.image.announced_size(); starts && size && *size > max_image_size_) {
        return ReturnCode::InvalidInput;
    }
    t.last_offset = offset;
    t.last_length = data.size();
    t.next_offset = offset + data.size();
    t.last_activity = part_done_at;
    InFlight part;
    part.before = transfer_;
    if (ends) {
        part.install = PendingInstall{slot, std::move(t.image)};
        transfer_.reset();
    } else {
        transfer_ = std::move(t);
    }
    in_flight_ = std::move(part);
    return ReturnCode::Success;
}

ReturnCode FirmwareSlots::complete_in_flight(bool verify_fault) {
    if (!in_flight_) {
        return ReturnCode::InternalError;  // the mailbox ran work nobody started
    }
    InFlight done = std::move(*in_flight_);
    in_flight_.reset();
    if (done.activation) {
        // Checked when it started; nothing else can change the slots while it runs (every
        // firmware command that could is a background command and gets Busy meanwhile).
        apply_activation(done.action, done.slot);
        return ReturnCode::Success;
    }
    if (done.install) {
        return install(*done.install, verify_fault);
    }
    return ReturnCode::Success;
}

void FirmwareSlots::abort_in_flight() {
    if (!in_flight_) {
        return;
    }
    if (!in_flight_->activation) {
        transfer_ = std::move(in_flight_->before);
    }
    in_flight_.reset();
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
    ReturnCode rc = check_activation(action, slot);
    if (rc == ReturnCode::Success) {
        apply_activation(action, slot);
    }
    return rc;
}

ReturnCode FirmwareSlots::start_activation(uint8_t action, uint8_t slot) {
    ReturnCode rc = check_activation(action, slot);
    if (rc == ReturnCode::Success) {
        InFlight a;
        a.activation = true;
        a.action = action;
        a.slot = slot;
        in_flight_ = std::move(a);
    }
    return rc;
}

ReturnCode FirmwareSlots::check_activation(uint8_t action, uint8_t slot) const {
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
    }
    return ReturnCode::Success;
}

void FirmwareSlots::apply_activation(uint8_t action, uint8_t slot) {
    if (action == 0) {
        active_ = slot;
        if (staged_ == slot) {
            staged_ = 0;
        }
        return;
    }
    // Staging the running slot means "nothing to change at the next reset".
    staged_ = slot == active_ ? 0 : slot;
}

// The state file's firmware piece. Verifier states are saved whole (header bytes, count and
// running CRC), so a transfer continues in the next process exactly where it stopped.
namespace {

json save_verifier(const FirmwareImageVerifier& v) {
    auto snap = v.snapshot();
    return {{"header", state::bytes_hex(snap.header_bytes)},
            {"received", snap.received},
            {"crc_state", snap.crc_state}};
}

Result<FirmwareImageVerifier> restore_verifier(const json& j) {
    FirmwareImageVerifier::Snapshot snap;
    CXLMGR_ASSIGN(auto header, state::get_bytes(j, "header", kFirmwareHeaderSize));
    std::copy(header.begin(), header.end(), snap.header_bytes.begin());
    CXLMGR_ASSIGN(snap.received, state::get_uint(j, "received"));
    CXLMGR_ASSIGN(uint64_t crc, state::get_uint(j, "crc_state", UINT32_MAX));
    snap.crc_state = static_cast<uint32_t>(crc);
    return FirmwareImageVerifier::resume(snap);
}

Result<FirmwareImageVerifier> restore_verifier_in(const json& j, std::string_view key) {
    CXLMGR_ASSIGN(const json* v, state::member(j, key));
    auto r = restore_verifier(*v);
    if (!r.ok()) {
        return r.error().with_context("'" + std::string(key) + "'");
    }
    return r;
}

}  // namespace

json FirmwareSlots::save_transfer(const Transfer& t, TimePoint now) {
    return {{"next_offset", t.next_offset},
            {"last_offset", t.last_offset},
            {"last_length", t.last_length},
            {"idle_ns",
             std::chrono::duration_cast<std::chrono::nanoseconds>(now - t.last_activity).count()},
            {"image", save_verifier(t.image)},
            {"before_last", save_verifier(t.before_last)}};
}

Result<FirmwareSlots::Transfer> FirmwareSlots::restore_transfer(const json& j, TimePoint now,
                                                                std::chrono::nanoseconds aged) {
    Transfer t;
    CXLMGR_ASSIGN(t.next_offset, state::get_uint(j, "next_offset"));
    CXLMGR_ASSIGN(t.last_offset, state::get_uint(j, "last_offset"));
    CXLMGR_ASSIGN(t.last_length, state::get_uint(j, "last_length"));
    CXLMGR_ASSIGN(int64_t idle, state::get_int(j, "idle_ns"));
    t.last_activity = now - std::chrono::nanoseconds(idle) - aged;
    CXLMGR_ASSIGN(t.image, restore_verifier_in(j, "image"));
    CXLMGR_ASSIGN(t.before_last, restore_verifier_in(j, "before_last"));
    return t;
}

json FirmwareSlots::save_state(TimePoint now) const {
    json s = {{"slots", slot_count_}, {"active", active_}, {"staged", staged_}};
    s["revisions"] = json::array();
    for (unsigned i = 0; i < slot_count_; ++i) {
        s["revisions"].push_back(revisions_[i]);
    }
    s["transfer"] = transfer_ ? save_transfer(*transfer_, now) : json(nullptr);
    if (!in_flight_) {
        s["in_flight"] = nullptr;
    } else if (in_flight_->activation) {
        s["in_flight"] = {
            {"kind", "activation"}, {"action", in_flight_->action}, {"slot", in_flight_->slot}};
    } else {
        json part = {{"kind", "transfer-part"}};
        part["before"] = in_flight_->before ? save_transfer(*in_flight_->before, now) : nullptr;
        if (in_flight_->install) {
            part["install"] = {{"slot", in_flight_->install->slot},
                               {"image", save_verifier(in_flight_->install->image)}};
        } else {
            part["install"] = nullptr;
        }
        s["in_flight"] = std::move(part);
    }
    return s;
}

Status FirmwareSlots::restore_state(const json& j, TimePoint now, std::chrono::nanoseconds aged) {
    CXLMGR_ASSIGN(uint64_t slots, state::get_uint(j, "slots", kMaxFirmwareSlots));
    if (slots != slot_count_) {
        return Error(Errc::InvalidArgument, "'slots' is " + std::to_string(slots) +
                                                " but the description has " +
                                                std::to_string(slot_count_));
    }
    CXLMGR_ASSIGN(uint64_t active, state::get_uint(j, "active", slots));
    CXLMGR_ASSIGN(uint64_t staged, state::get_uint(j, "staged", slots));
    CXLMGR_ASSIGN(const json* revisions, state::member(j, "revisions"));
    if (!revisions->is_array() || revisions->size() != slots) {
        return Error(Errc::InvalidArgument, "'revisions' must hold one string per slot");
    }
    std::array<std::string, kMaxFirmwareSlots> revs;
    for (size_t i = 0; i < slots; ++i) {
        const json& r = (*revisions)[i];
        if (!r.is_string() || (!r.get<std::string>().empty() &&
                               !check_firmware_revision(r.get<std::string>()).ok())) {
            return Error(Errc::InvalidArgument,
                         "'revisions' entry " + std::to_string(i) + " is not a valid revision");
        }
        revs[i] = r.get<std::string>();
    }
    if (active == 0 || revs[active - 1].empty()) {
        return Error(Errc::InvalidArgument, "'active' names an empty slot");
    }
    std::optional<Transfer> transfer;
    CXLMGR_ASSIGN(const json* t, state::member(j, "transfer"));
    if (!t->is_null()) {
        auto r = restore_transfer(*t, now, aged);
        if (!r.ok()) {
            return r.error().with_context("'transfer'");
        }
        transfer = std::move(*r);
    }
    std::optional<InFlight> in_flight;
    CXLMGR_ASSIGN(const json* f, state::member(j, "in_flight"));
    if (!f->is_null()) {
        InFlight w;
        CXLMGR_ASSIGN(std::string kind, state::get_string(*f, "kind"));
        if (kind == "activation") {
            w.activation = true;
            CXLMGR_ASSIGN(uint64_t action, state::get_uint(*f, "action", 1));
            CXLMGR_ASSIGN(uint64_t slot, state::get_uint(*f, "slot", slots));
            w.action = static_cast<uint8_t>(action);
            w.slot = static_cast<uint8_t>(slot);
        } else if (kind == "transfer-part") {
            CXLMGR_ASSIGN(const json* before, state::member(*f, "before"));
            if (!before->is_null()) {
                auto r = restore_transfer(*before, now, aged);
                if (!r.ok()) {
                    return r.error().with_context("'in_flight.before'");
                }
                w.before = std::move(*r);
            }
            CXLMGR_ASSIGN(const json* install, state::member(*f, "install"));
            if (!install->is_null()) {
                CXLMGR_ASSIGN(uint64_t slot, state::get_uint(*install, "slot", slots));
                auto image = restore_verifier_in(*install, "image");
                if (!image.ok()) {
                    return image.error().with_context("'in_flight.install'");
                }
                w.install = PendingInstall{static_cast<uint8_t>(slot), std::move(*image)};
            }
        } else {
            return Error(Errc::InvalidArgument, "'in_flight.kind' '" + kind + "' is unknown");
        }
        in_flight = std::move(w);
    }
    active_ = static_cast<uint8_t>(active);
    staged_ = static_cast<uint8_t>(staged);
    revisions_ = std::move(revs);
    transfer_ = std::move(transfer);
    in_flight_ = std::move(in_flight);
    return ok_status();
}

}  // namespace cxlmgr::emu
