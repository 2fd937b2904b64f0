#include "cxl/commands/timestamp.hpp"

#include "cxl/command_table.hpp"

namespace cxlmgr::cxl {
namespace {

constexpr std::string_view kGetName = "Get Timestamp";
constexpr std::string_view kSetName = "Set Timestamp";

}  // namespace

MailboxRequest get_timestamp_request() {
    return MailboxRequest{opcode::kGetTimestamp, {}, {}};
}

Result<uint64_t> decode_timestamp(ByteSpan out) {
    CXLMGR_CHECK(check_min_length(out, 8, kGetName));
    return u64_at(out, 0);
}

Result<uint64_t> parse_timestamp(const MailboxResponse& response) {
    CXLMGR_ASSIGN(ByteSpan out, success_output(response, kGetName));
    return decode_timestamp(out);
}

Command<Unit> set_timestamp(uint64_t ns_since_epoch) {
    Bytes in(8);
    store_le(in, 0, ns_since_epoch, 8);
    return make_command<Unit>(command_spec(opcode::kSetTimestamp), std::move(in), decode_nothing);
}

MailboxRequest set_timestamp_request(uint64_t ns_since_epoch) {
    Bytes in(8);
    store_le(in, 0, ns_since_epoch, 8);
    return MailboxRequest{opcode::kSetTimestamp, std::move(in), {}};
}

Status parse_set_timestamp(const MailboxResponse& response) {
    return check_success(response, kSetName);
}

nlohmann::json timestamp_to_json(uint64_t ns_since_epoch) {
    return {{"timestamp", ns_since_epoch}};
}

}  // namespace cxlmgr::cxl
