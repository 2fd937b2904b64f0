#include "cxl/commands/background.hpp"

#include <algorithm>

namespace cxlmgr::cxl {

Command<Unit> request_abort_background_operation() {
    return make_command<Unit>(command_spec(opcode::kRequestAbortBackgroundOperation), {},
                              decode_nothing);
}

bool cel_lists_abort_background(const std::vector<CommandEffect>& cel) {
    return std::any_of(cel.begin(), cel.end(), [](const CommandEffect& e) {
        return e.opcode == opcode::kRequestAbortBackgroundOperation;
    });
}

}  // namespace cxlmgr::cxl
