// Get LSA (0x4102) and Set LSA (0x4103): the label storage area, lsa_size bytes (Identify
// Memory Device) the host reads and writes in payload-sized pieces (docs/PROTOCOL.md
// "Partition info and label storage area").
#pragma once

#include <cstdint>

#include "cxl/commands/command.hpp"

namespace cxlmgr::cxl {

inline constexpr size_t kGetLsaInputSize = command_spec(opcode::kGetLsa).input.bytes;
inline constexpr size_t kSetLsaHeaderSize = command_spec(opcode::kSetLsa).input.bytes;

// Reads `length` bytes from `offset`. InvalidArgument for a length of 0, above the payload size,
// or past 2^32.
Result<Command<Bytes>> get_lsa(uint32_t offset, uint32_t length, uint32_t payload_size);
// The first `length` bytes of the output; DeviceError when the device returned fewer.
Result<Bytes> decode_lsa(ByteSpan output, uint32_t length);

// Largest piece one Set LSA carries with `payload_size`.
constexpr uint32_t set_lsa_max_data(uint32_t payload_size) {
    return payload_size > kSetLsaHeaderSize ? payload_size - kSetLsaHeaderSize : 0;
}
// Writes `data` at `offset`. InvalidArgument for no data, more than set_lsa_max_data(), or past
// 2^32.
Result<Command<Unit>> set_lsa(uint32_t offset, ByteSpan data, uint32_t payload_size);

}  // namespace cxlmgr::cxl
