#include "cxl/uuid.hpp"

#include <stdexcept>

namespace cxlmgr::cxl {
namespace {

int hex_digit(char c) {
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

constexpr bool is_dash_position(size_t i) {
    return i == 8 || i == 13 || i == 18 || i == 23;
}

}  // namespace

Uuid Uuid::from_bytes(std::span<const uint8_t> sixteen) {
    Uuid u;
    for (size_t i = 0; i < u.bytes.size() && i < sixteen.size(); ++i) {
        u.bytes[i] = sixteen[i];
    }
    return u;
}

Result<Uuid> Uuid::parse(std::string_view text) {
    if (text.size() != 36) {
        return Error(Errc::InvalidArgument,
                     "UUID '" + std::string(text) + "' is not 36 characters long");
    }
    Uuid u;
    size_t byte = 0;
    for (size_t i = 0; i < text.size();) {
        if (is_dash_position(i)) {
            if (text[i] != '-') {
                return Error(Errc::InvalidArgument, "UUID '" + std::string(text) +
                                                        "' lacks a '-' at position " +
                                                        std::to_string(i));
            }
            ++i;
            continue;
        }
        int hi = hex_digit(text[i]);
        int lo = hex_digit(text[i + 1]);
        if (hi < 0 || lo < 0) {
            return Error(Errc::InvalidArgument, "UUID '" + std::string(text) +
                                                    "' has a non-hex digit near position " +
                                                    std::to_string(i));
        }
        u.bytes[byte++] = static_cast<uint8_t>(hi << 4 | lo);
        i += 2;
    }
    return u;
}

std::string Uuid::to_string() const {
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string out;
    out.reserve(36);
    for (size_t i = 0; i < bytes.size(); ++i) {
        if (i == 4 || i == 6 || i == 8 || i == 10) {
            out.push_back('-');
        }
        out.push_back(kDigits[bytes[i] >> 4]);
        out.push_back(kDigits[bytes[i] & 0xF]);
    }
    return out;
}

Uuid known_uuid(std::string_view text) {
    auto parsed = Uuid::parse(text);
    if (!parsed.ok()) {
        throw std::logic_error("built-in UUID constant is malformed: " + parsed.error().message);
    }
    return *parsed;
}

}  // namespace cxlmgr::cxl
