// Register bits shared by the two halves of the mailbox implementation (mailbox.cpp,
// mailbox_open.cpp). Internal to cxl/.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace cxlmgr::cxl::detail {

using Clock = std::chrono::steady_clock;

inline constexpr uint32_t kControlDoorbell = 1u << 0;
inline constexpr uint64_t kStatusBackgroundOperation = 1ull << 0;
inline constexpr uint64_t kMemdevMailboxReady = 1ull << 4;
inline constexpr uint64_t kCommandLengthMask = 0x1FFFFF;  // [36:16]: Linux's 21-bit field

inline uint16_t field16(uint64_t reg, unsigned shift) {
    return static_cast<uint16_t>(reg >> shift);
}

inline std::string ms(std::chrono::milliseconds d) {
    return std::to_string(d.count()) + " ms";
}

}  // namespace cxlmgr::cxl::detail
