#include "cxl/commands/timestamp.hpp"

namespace cxlmgr::cxl {
namespace {

constexpr const CommandSpec& kGetSpec = command_spec(opcode::kGetTimestamp);
constexpr const CommandSpec& kSetSpec = command_spec(opcode::kSetTimestamp);

}  // namespace

Command<uint64_t> get_timestamp() {
    return make_command<uint64_t>(kGetSpec, {}, decode_timestamp);
}

Result<uint64_t> decode_timestamp(ByteSpan out) {
    CXLMGR_CHECK(check_min_length(out, kGetSpec.min_output, kGetSpec.name));
    return u64_at(out, 0);
}

Command<Unit> set_timestamp(uint64_t ns_since_epoch) {
    Bytes in(kSetSpec.input.bytes);
    store_le(in, 0, ns_since_epoch, 8);
    return make_command<Unit>(kSetSpec, std::move(in), decode_nothing);
}

MailboxRequest set_timestamp_request(uint64_t ns_since_epoch) {
    return set_timestamp(ns_since_epoch).request;
}

Status parse_set_timestamp(const MailboxResponse& response) {
    return check_success(response, kSetSpec.name);
}

nlohmann::json timestamp_to_json(uint64_t ns_since_epoch) {
    return {{"timestamp", ns_since_epoch}};
}

}  // namespace cxlmgr::cxl
