// Get Security State (0x4500): the persistent memory data-at-rest security state, four bytes of
// flags (docs/PROTOCOL.md "Security state").
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>

#include "cxl/commands/command.hpp"

namespace cxlmgr::cxl {

inline constexpr size_t kSecurityStateSize = command_spec(opcode::kGetSecurityState).min_output;

inline constexpr uint32_t kSecurityUserPassphraseSet = 1u << 0;
inline constexpr uint32_t kSecurityMasterPassphraseSet = 1u << 1;
inline constexpr uint32_t kSecurityLocked = 1u << 2;
inline constexpr uint32_t kSecurityFrozen = 1u << 3;
inline constexpr uint32_t kSecurityUserAttemptsExceeded = 1u << 4;
inline constexpr uint32_t kSecurityMasterAttemptsExceeded = 1u << 5;

struct SecurityState {
    uint32_t flags = 0;
};

Command<SecurityState> get_security_state();
Result<SecurityState> decode_security_state(ByteSpan output);
// Keys: flags, user_passphrase_set, master_passphrase_set, locked, frozen,
// user_attempts_exceeded, master_attempts_exceeded (bool).
nlohmann::json security_state_to_json(const SecurityState& state);

}  // namespace cxlmgr::cxl
