// Firmware slots of the emulated device and the Transfer FW / Activate FW state machine
// (CXL r3.x 8.2.9.3; docs/PROTOCOL.md "Firmware commands"). The part of a transfer that takes time
// (writing and verifying a part) is run by the mailbox as a background operation: transfer()
// decides at once whether a part is acceptable, install() runs when the background work ends.
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

    // One Transfer FW request. Success means the part was taken (for End and Full, `install`
    // then holds what to verify and where to put it once the part's background run, which ends
    // at `part_done_at`, is over). Any other code means nothing changed, except that a transfer
    // idle for longer than the gap is dropped first.
    ReturnCode transfer(uint8_t action, uint8_t slot, uint32_t offset_units,
                        std::span<const uint8_t> data, TimePoint now, TimePoint part_done_at,
                        std::optional<PendingInstall>& install);

    // Verifies and installs a finished image; `force_failure` is the fw-verify-fail fault.
    ReturnCode install(const PendingInstall& pending, bool force_failure);

    // Activate FW: action 0 online, 1 on the next cold reset.
    ReturnCode activate(uint8_t action, uint8_t slot);

    // True while a multi-part transfer is open (initiated, not ended, aborted or timed out).
    [[nodiscard]] bool transfer_open(TimePoint now) const;

private:
    FirmwareSlots() = default;
    void drop_stale_transfer(TimePoint now);
    [[nodiscard]] bool slot_writable(uint8_t slot) const;

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
};

}  // namespace cxlmgr::emu
