// UUIDs as CXL carries them (event record types, log identifiers): 16 bytes in the order of the
// textual form (RFC 4122 network order), the order Linux's uuid_t and QEMU's UUID() use on the
// wire.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "common/result.hpp"

namespace cxlmgr::cxl {

struct Uuid {
    std::array<uint8_t, 16> bytes{};

    static Uuid from_bytes(std::span<const uint8_t> sixteen);
    // "fbcd0a77-c260-417f-85a9-088b1621eba6" (case-insensitive).
    static Result<Uuid> parse(std::string_view text);
    [[nodiscard]] std::string to_string() const;

    friend bool operator==(const Uuid&, const Uuid&) = default;
};

// Record and log identifiers used by cxlmgr.
namespace uuids {
inline constexpr std::string_view kGeneralMedia = "fbcd0a77-c260-417f-85a9-088b1621eba6";
inline constexpr std::string_view kDram = "601dcbb3-9c06-4eab-b8af-4e9bfb5c9624";
inline constexpr std::string_view kMemoryModule = "fe927475-dd59-4339-a586-79bab113b774";
inline constexpr std::string_view kCommandEffectsLog = "0da9c0b5-bf41-4b78-8f79-96b1623b3f17";
inline constexpr std::string_view kVendorDebugLog = "5e1819d9-11a9-400c-811f-d60719403d86";
}  // namespace uuids

// For the constants above: they are known-good, so parsing cannot fail.
Uuid known_uuid(std::string_view text);

}  // namespace cxlmgr::cxl
