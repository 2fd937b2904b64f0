// Error values with context, and a small expected-style Result<T>.
//
// Policy for the whole code base:
//  - anything that can fail because of a device, the operating system or input from outside
//    (config space I/O, a device answer, a file, a D-Bus argument) returns Result<T>;
//  - a broken internal invariant (a caller passing an offset it was supposed to validate)
//    throws std::logic_error; those are caught only at transaction boundaries and turned into
//    Errc::Internal, never swallowed.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>

namespace cxlmgr {

// The error classes mirror the D-Bus contract (org.cxlmgr1.Error.<Name>) so the D-Bus layer maps
// them one to one; IoError and Internal map to DeviceError / org.freedesktop.DBus.Error.Failed.
enum class Errc {
    InvalidArgument,
    NotFound,
    Busy,
    PermissionDenied,
    DeviceError,
    Timeout,
    Cancelled,
    Unsupported,
    DeviceGone,
    NotCancellable,
    LimitsExceeded,
    IoError,
    Internal,
};

std::string_view errc_name(Errc code);

struct Error {
    Errc code = Errc::Internal;
    std::string message;
    // Set when the device answered a mailbox command with a non-success return code.
    std::optional<uint16_t> cxl_return_code;

    Error() = default;
    Error(Errc c, std::string msg) : code(c), message(std::move(msg)) {}

    // Prefixes context ("emu0: CDAT entry 3: ...") while keeping the class of the error.
    [[nodiscard]] Error with_context(std::string_view context) const;
    [[nodiscard]] std::string describe() const;  // "Timeout: <message>"
};

template <typename T>
class [[nodiscard]] Result {
    static_assert(!std::is_same_v<std::decay_t<T>, Error>, "Result<Error> is meaningless");

public:
    Result(T value) : storage_(std::in_place_index<0>, std::move(value)) {}      // NOLINT
    Result(Error error) : storage_(std::in_place_index<1>, std::move(error)) {}  // NOLINT

    [[nodiscard]] bool ok() const { return storage_.index() == 0; }
    explicit operator bool() const { return ok(); }

    T& value() & { return std::get<0>(storage_); }
    const T& value() const& { return std::get<0>(storage_); }
    T&& value() && { return std::get<0>(std::move(storage_)); }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }
    T&& operator*() && { return std::move(*this).value(); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }

    const Error& error() const& { return std::get<1>(storage_); }
    Error&& error() && { return std::get<1>(std::move(storage_)); }

    T value_or(T fallback) const { return ok() ? value() : std::move(fallback); }

private:
    std::variant<T, Error> storage_;
};

template <>
class [[nodiscard]] Result<void> {
public:
    Result() = default;
    Result(Error error) : error_(std::move(error)) {}  // NOLINT

    [[nodiscard]] bool ok() const { return !error_.has_value(); }
    explicit operator bool() const { return ok(); }
    const Error& error() const& { return *error_; }
    Error&& error() && { return std::move(*error_); }

private:
    std::optional<Error> error_;
};

using Status = Result<void>;

inline Status ok_status() {
    return {};
}

}  // namespace cxlmgr

// Propagates the error of an expression returning Result<T>; otherwise yields nothing.
#define CXLMGR_CHECK(expr)                                  \
    do {                                                    \
        auto cxlmgr_check_result_ = (expr);                 \
        if (!cxlmgr_check_result_.ok()) {                   \
            return std::move(cxlmgr_check_result_).error(); \
        }                                                   \
    } while (false)

#define CXLMGR_CONCAT_INNER_(a, b) a##b
#define CXLMGR_CONCAT_(a, b) CXLMGR_CONCAT_INNER_(a, b)

// `CXLMGR_ASSIGN(auto v, cs.read32(0));` declares v from the value or returns the error.
#define CXLMGR_ASSIGN(decl, expr) \
    CXLMGR_ASSIGN_IMPL_(CXLMGR_CONCAT_(cxlmgr_r_, __LINE__), decl, expr)
#define CXLMGR_ASSIGN_IMPL_(tmp, decl, expr) \
    auto tmp = (expr);                       \
    if (!tmp.ok()) {                         \
        return std::move(tmp).error();       \
    }                                        \
    decl = std::move(tmp).value()
