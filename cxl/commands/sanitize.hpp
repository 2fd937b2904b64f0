// Sanitize (0x4400) and Secure Erase (0x4401): no input, no output; both may run as background
// operations, their progress in the background status register (docs/PROTOCOL.md "Sanitize
// and Secure Erase"). Every byte of user data is gone once either succeeds.
#pragma once

#include "cxl/commands/command.hpp"

namespace cxlmgr::cxl {

Command<Unit> sanitize();
Command<Unit> secure_erase();

}  // namespace cxlmgr::cxl
