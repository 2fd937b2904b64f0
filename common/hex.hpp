// Hexadecimal formatting for messages, logs and reports: one implementation for every layer.
#pragma once

#include <cstdint>
#include <string>

namespace cxlmgr {

// "0x4000" style, zero-padded to `digits` hex digits when given.
std::string hex(uint64_t value, int digits = 0);
// The same without the "0x" prefix ("4000"), for lspci-style reports.
std::string hex_digits(uint64_t value, int digits = 0);

}  // namespace cxlmgr
