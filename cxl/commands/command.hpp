// What every typed command shares: turning a MailboxResponse into the command's output bytes
// (a non-success return code becomes an Error here, never in the transport), length checks that
// name the command, and a helper that sends a request and parses its response.
//
// Each command module offers: a request builder (`*_request`), a decoder of raw output bytes
// (`decode_*`, what the fuzzer drives), a parser of a whole response (`parse_*` = return code
// check + decode), and a JSON rendering (`*_to_json`) whose keys feed the D-Bus API.
//
// Decoders accept an output longer than they know (later specification revisions append fields)
// and refuse a shorter one with DeviceError naming the command and both lengths.
#pragma once

#include <functional>
#include <string_view>

#include "common/result.hpp"
#include "cxl/mailbox.hpp"
#include "cxl/wire.hpp"

namespace cxlmgr::cxl {

// The output of a successful response; return_code_error(...) otherwise.
Result<ByteSpan> success_output(const MailboxResponse& response, std::string_view command);
// Ok for Success; return_code_error(...) otherwise (commands without output).
Status check_success(const MailboxResponse& response, std::string_view command);

// DeviceError "<command> returned N bytes of output, fewer than the M it must return".
Status check_min_length(ByteSpan output, size_t minimum, std::string_view command);

// Sends `request` and hands the parsed response (or the transport error) to `done`.
template <typename T>
void async_typed_command(Mailbox& mailbox, MailboxRequest request, CancelToken cancel,
                         std::function<Result<T>(const MailboxResponse&)> parse,
                         std::function<void(Result<T>)> done) {
    mailbox.async_command(
        std::move(request), std::move(cancel),
        [parse = std::move(parse), done = std::move(done)](Result<MailboxResponse> r) {
            if (!r.ok()) {
                done(std::move(r).error());
                return;
            }
            done(parse(*r));
        });
}

}  // namespace cxlmgr::cxl
