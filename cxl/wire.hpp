// Little-endian field access for mailbox payloads. Payloads are byte vectors copied out of the
// device with 32/64-bit loads (never pointers into device memory), so decoding is plain byte
// arithmetic; callers check lengths before reading fixed offsets.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>
#include "common/hex.hpp"

namespace cxlmgr::cxl {

using Bytes = std::vector<uint8_t>;
using ByteSpan = std::span<const uint8_t>;

inline uint64_t load_le(ByteSpan bytes, size_t offset, unsigned width) {
    uint64_t v = 0;
    for (unsigned i = 0; i < width; ++i) {
        v |= static_cast<uint64_t>(bytes[offset + i]) << (8 * i);
    }
    return v;
}

inline uint8_t u8_at(ByteSpan b, size_t off) {
    return b[off];
}
inline uint16_t u16_at(ByteSpan b, size_t off) {
    return static_cast<uint16_t>(load_le(b, off, 2));
}
inline uint32_t u24_at(ByteSpan b, size_t off) {
    return static_cast<uint32_t>(load_le(b, off, 3));
}
inline uint32_t u32_at(ByteSpan b, size_t off) {
    return static_cast<uint32_t>(load_le(b, off, 4));
}
inline uint64_t u64_at(ByteSpan b, size_t off) {
    return load_le(b, off, 8);
}

inline void store_le(std::span<uint8_t> bytes, size_t offset, uint64_t value, unsigned width) {
    for (unsigned i = 0; i < width; ++i) {
        bytes[offset + i] = static_cast<uint8_t>(value >> (8 * i));
    }
}

// A fixed-size ASCII field from the device (firmware revisions): up to the first NUL, trailing
// blanks trimmed, and anything outside printable ASCII shown as '?', because these strings go
// into D-Bus strings and JSON, which must be valid UTF-8.
std::string ascii_field(ByteSpan bytes);

}  // namespace cxlmgr::cxl
