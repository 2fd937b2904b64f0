#include "cxl/commands/sanitize.hpp"

namespace cxlmgr::cxl {

Command<Unit> sanitize() {
    return make_command<Unit>(command_spec(opcode::kSanitize), {}, decode_nothing);
}

Command<Unit> secure_erase() {
    return make_command<Unit>(command_spec(opcode::kSecureErase), {}, decode_nothing);
}

}  // namespace cxlmgr::cxl
