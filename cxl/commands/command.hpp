// What every typed command shares: the typed command value (the request, its row of the
// command table, and the decoder of its output), turning a MailboxResponse into the command's
// output (a non-success return code becomes an Error here, never in the transport), and length
// checks that name the command.
//
// Each command module offers: builders returning Command<T> (named after the command, e.g.
// get_health_info()), a decoder of raw output bytes (`decode_*`, what the fuzzer drives), and a
// JSON rendering (`*_to_json`) whose keys feed the D-Bus API. Send a Command<T> with
// daemon::ManagedDevice::call/co_call, or async_typed_command on a bare Mailbox.
//
// Decoders accept an output longer than they know (later specification revisions append fields)
// and refuse a shorter one with DeviceError naming the command and both lengths.
#pragma once

#include <functional>
#include <string_view>
#include <utility>

#include "common/result.hpp"
#include "cxl/command_table.hpp"
#include "cxl/mailbox.hpp"
#include "cxl/return_code.hpp"
#include "cxl/wire.hpp"

namespace cxlmgr::cxl {

// The output of a command that returns nothing.
struct Unit {
    constexpr bool operator==(const Unit&) const = default;
};

// One command ready to send: `request` (opcode, input, and options with the row's background
// timeout and expected duration; callers may add on_progress or on_background_started), the row it
// was built from, and the decoder of a successful answer's output.
template <typename T>
struct Command {
    using Output = T;
    MailboxRequest request;
    const CommandSpec* spec = nullptr;
    std::function<Result<T>(ByteSpan)> decode;
};

// A command of row `spec` with `input`, the request options taken from the row.
template <typename T>
Command<T> make_command(const CommandSpec& spec, Bytes input,
                        std::function<Result<T>(ByteSpan)> decode) {
    Command<T> c;
    c.request.opcode = spec.opcode;
    c.request.input = std::move(input);
    c.request.options.background_timeout = spec.background_timeout;
    c.request.options.expected_duration = spec.expected_duration;
    c.spec = &spec;
    c.decode = std::move(decode);
    return c;
}

// For commands whose output carries nothing the host reads.
inline Result<Unit> decode_nothing(ByteSpan /*output*/) {
    return Unit{};
}

// The output of a successful answer at least as long as the row's minimum output, or the
// error: return_code_error(...) naming the command for a non-success code, DeviceError naming
// the command and both lengths for a short output.
Result<ByteSpan> checked_output(const CommandSpec& spec, const MailboxResponse& response);

// Return code check, minimum output length, then the command's decoder.
template <typename T>
Result<T> parse(const Command<T>& command, const MailboxResponse& response) {
    CXLMGR_ASSIGN(ByteSpan out, checked_output(*command.spec, response));
    return command.decode(out);
}

// The output of a successful response; return_code_error(...) otherwise.
Result<ByteSpan> success_output(const MailboxResponse& response, std::string_view command);
// Ok for Success; return_code_error(...) otherwise (commands without output).
Status check_success(const MailboxResponse& response, std::string_view command);

// DeviceError "<command> returned N bytes of output, fewer than the M it must return".
Status check_min_length(ByteSpan output, size_t minimum, std::string_view command);

// Sends `command` on a bare mailbox (no arbitration: tests, benchmarks) and hands the parsed
// response (or the transport error) to `done`.
template <typename T>
void async_typed_command(Mailbox& mailbox, Command<T> command, CancelToken cancel,
                         std::function<void(Result<T>)> done) {
    MailboxRequest request = std::move(command.request);
    mailbox.async_command(
        std::move(request), std::move(cancel),
        [command = std::move(command), done = std::move(done)](Result<MailboxResponse> r) {
            if (!r.ok()) {
                done(std::move(r).error());
                return;
            }
            done(parse(command, *r));
        });
}

}  // namespace cxlmgr::cxl
