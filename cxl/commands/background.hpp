// Background operation commands: Request Abort Background Operation, and what the Command
// Effects Log says about aborting (docs/PROTOCOL.md "Background commands").
#pragma once

#include <vector>

#include "cxl/commands/command.hpp"
#include "cxl/commands/logs.hpp"

namespace cxlmgr::cxl {

// Asks the device to end the background operation running now. A foreground command: the
// device answers at once and the operation ends (BG Command Status: Aborted) soon after, or
// the answer is Request Abort Not Supported for an operation that cannot be aborted.
Command<Unit> request_abort_background_operation();

// Whether the device implements Request Abort Background Operation, from its CEL.
bool cel_lists_abort_background(const std::vector<CommandEffect>& cel);

}  // namespace cxlmgr::cxl
