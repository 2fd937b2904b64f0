#include "cxl/commands/command.hpp"

#include "cxl/return_code.hpp"

namespace cxlmgr::cxl {

Result<ByteSpan> success_output(const MailboxResponse& response, std::string_view command) {
    if (response.return_code != static_cast<uint16_t>(ReturnCode::Success)) {
        return return_code_error(response.return_code, command);
    }
    return ByteSpan(response.output);
}

Status check_success(const MailboxResponse& response, std::string_view command) {
    if (response.return_code != static_cast<uint16_t>(ReturnCode::Success)) {
        return return_code_error(response.return_code, command);
    }
    return ok_status();
}

Status check_min_length(ByteSpan output, size_t minimum, std::string_view command) {
    if (output.size() < minimum) {
        return Error(Errc::DeviceError,
                     std::string(command) + " returned " + std::to_string(output.size()) +
                         " bytes of output, fewer than the " + std::to_string(minimum) + " (" +
                         hex(minimum) + ") it must return");
    }
    return ok_status();
}

Result<ByteSpan> checked_output(const CommandSpec& spec, const MailboxResponse& response) {
    CXLMGR_ASSIGN(ByteSpan out, success_output(response, spec.name));
    CXLMGR_CHECK(check_min_length(out, spec.min_output, spec.name));
    return out;
}

}  // namespace cxlmgr::cxl
