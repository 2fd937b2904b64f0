#include "cxl/commands/security.hpp"

namespace cxlmgr::cxl {
namespace {

constexpr const CommandSpec& kSpec = command_spec(opcode::kGetSecurityState);

}  // namespace

Command<SecurityState> get_security_state() {
    return make_command<SecurityState>(kSpec, {}, decode_security_state);
}

Result<SecurityState> decode_security_state(ByteSpan out) {
    CXLMGR_CHECK(check_min_length(out, kSecurityStateSize, kSpec.name));
    return SecurityState{u32_at(out, 0)};
}

nlohmann::json security_state_to_json(const SecurityState& s) {
    auto has = [&s](uint32_t bit) { return (s.flags & bit) != 0; };
    return {{"flags", s.flags},
            {"user_passphrase_set", has(kSecurityUserPassphraseSet)},
            {"master_passphrase_set", has(kSecurityMasterPassphraseSet)},
            {"locked", has(kSecurityLocked)},
            {"frozen", has(kSecurityFrozen)},
            {"user_attempts_exceeded", has(kSecurityUserAttemptsExceeded)},
            {"master_attempts_exceeded", has(kSecurityMasterAttemptsExceeded)}};
}

}  // namespace cxlmgr::cxl
