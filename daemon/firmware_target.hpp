// What a firmware update or activation may target, decided from Get FW Info before anything
// reaches the device (docs/FIRMWARE-UPDATE.md "What the daemon does"). A device refuses the same
// targets itself, but only at the end: Invalid Slot (0x0B) comes with the End part, after the
// whole image was streamed.
//
// The image size has no such check: neither Get FW Info nor Identify tells the largest image a
// device takes, so an image too large is refused by the device itself (the job fails with its
// return code named), and the daemon's own limit (`firmware.max_image_size`) applies before.
#pragma once

#include <cstdint>

#include "common/result.hpp"
#include "cxl/commands/firmware.hpp"

namespace cxlmgr::daemon {

// The slot an update writes: `requested`, or for 0 the first slot neither active nor staged.
// InvalidArgument, saying why, for a slot beyond the slot count, the active slot, or 0 when
// every slot is active or staged.
Result<uint8_t> update_target_slot(const cxl::FwInfo& info, uint8_t requested);

// InvalidArgument for slot 0 or a slot beyond the slot count.
Status check_activate_slot(const cxl::FwInfo& info, uint8_t slot);

}  // namespace cxlmgr::daemon
