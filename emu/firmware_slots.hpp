// Firmware slots of the emulated device and the Transfer FW / Activate FW state machine
// (CXL r3.x 8.2.9.3; docs/PROTOCOL.md "Firmware commands"). The part of a transfer that takes time
// (writing and verifying a part) is run by the mailbox as a background operation: transfer()
// decides at once whether a part is acceptable and leaves it in flight; complete_in_flight()
// runs when the background work ends, abort_in_flight() when the host aborts it.
//
// Description section "firmware" (all keys optional):
//   {"slots": 3, "active": 1, "revisions": ["EMU FW 1.0", "", ""],
//    "online_activation": true, "max_image_size": 67108864}
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "emu/device_description.hpp"
#include "emu/firmware_image.hpp"
#include "emu/mailbox_defs.hpp"

namespace cxlmgr::emu {

inline constexpr unsigned kMaxFirmwareSlots = 4;
inline constexpr size_t kFwInfoSize = 0x50;

enum class FwAction : uint8_t { Full = 0, Initiate = 1, Continue = 2, End = 3, Abort = 4 };

// An image whose last part arrived: installed (or refused) when its background run ends.
struct PendingInstall {
    uint8_t slot = 0;
    FirmwareImageVerifier image;
};

class FirmwareSlots {
public:
    using TimePoint = std::chrono::steady_clock::time_point;

    // Reads the "firmware" section; `part_gap` is how long a transfer may wait for its next
    // part before the device drops it.
    static Result<FirmwareSlots> create(const DeviceDescription& description,
                                        std::chrono::nanoseconds part_gap);

    // Get FW Info output.
    [[nodiscard]] std::array<uint8_t, kFwInfoSize> info() const;
    [[nodiscard]] const std::string& active_revision() const { return revisions_[active_ - 1]; }
    [[nodiscard]] uint8_t slot_count() const { return slot_count_; }

    // One Transfer FW request. Success means the part was taken and is now in flight: its
    // background run ends at `part_done_at` with complete_in_flight(), or earlier with
    // abort_in_flight(). Any other code means nothing changed, except that a transfer idle for
    // longer than the gap is dropped first. Abort (action 4) is never in flight.
    ReturnCode transfer(uint8_t action, uint8_t slot, uint32_t offset_units,
                        std::span<const uint8_t> data, TimePoint now, TimePoint part_done_at);

    // Activate FW: action 0 online, 1 on the next cold reset. activate() applies it at once;
    // start_activation() checks it and leaves it in flight, for a device whose activation runs
    // in the background.
    ReturnCode activate(uint8_t action, uint8_t slot);
    ReturnCode start_activation(uint8_t action, uint8_t slot);

    // The background run of what is in flight ended: the last part of an image is verified and
    // installed (`verify_fault` is the fw-verify-fail fault), an activation applied. Returns the
    // background return code.
    ReturnCode complete_in_flight(bool verify_fault);
    // True when completing what is in flight verifies an image (the fault applies only then).
    [[nodiscard]] bool in_flight_installs() const { return in_flight_ && in_flight_->install; }
    [[nodiscard]] bool in_flight() const { return in_flight_.has_value(); }
    // Request Abort Background Operation ended the run early: the part is dropped as if it had
    // never arrived. After an aborted Initiate or Full no transfer is open; after an aborted
    // Continue or End the transfer is open where it was before that part, so the host may send
    // the part again or abort the transfer. An aborted activation changes nothing.
    void abort_in_flight();

    // True while a multi-part transfer is open (initiated, not ended, aborted or timed out).
    [[nodiscard]] bool transfer_open(TimePoint now) const;

    // The state file's "firmware" piece (emu/device_state.hpp): slot contents, the open
    // transfer and what is in flight, with times relative to `now`. restore() takes it back,
    // `aged` being the time that passed while no process held the device.
    [[nodiscard]] nlohmann::json save_state(TimePoint now) const;
    Status restore_state(const nlohmann::json& state, TimePoint now, std::chrono::nanoseconds aged);

private:
    FirmwareSlots() = default;
    void drop_stale_transfer(TimePoint now);
    [[nodiscard]] bool slot_writable(uint8_t slot) const;
    [[nodiscard]] ReturnCode check_activation(uint8_t action, uint8_t slot) const;
    void apply_activation(uint8_t action, uint8_t slot);
    ReturnCode install(const PendingInstall& pending, bool force_failure);

    uint8_t slot_count_ = 3;
    uint8_t active_ = 1;
    uint8_t staged_ = 0;
    bool online_activation_ = true;
    uint64_t max_image_size_ = kDefaultMaxFirmwareImageSize;
    std::chrono::nanoseconds part_gap_{};
    std::array<std::string, kMaxFirmwareSlots> revisions_;  // empty = no firmware in the slot

    // The open transfer. The verifier state from before the last part is kept so an exact
    // retransmission of that part replaces it instead of being counted twice.
    struct Transfer {
        uint64_t next_offset = 0;  // bytes
        uint64_t last_offset = 0;
        uint64_t last_length = 0;
        TimePoint last_activity{};
        FirmwareImageVerifier image;
        FirmwareImageVerifier before_last;
    };
    std::optional<Transfer> transfer_;

    // What runs in the background now: a Transfer FW part (with the transfer as it was before
    // the part, for an abort, and the image to install when it was the last part) or an
    // activation.
    struct InFlight {
        bool activation = false;
        std::optional<Transfer> before;
        std::optional<PendingInstall> install;
        uint8_t action = 0;  // activation
        uint8_t slot = 0;    // activation
    };
    std::optional<InFlight> in_flight_;

    static nlohmann::json save_transfer(const Transfer& t, TimePoint now);
    static Result<Transfer> restore_transfer(const nlohmann::json& j, TimePoint now,
                                             std::chrono::nanoseconds aged);
};

}  // namespace cxlmgr::emu
