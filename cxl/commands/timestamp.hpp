// Get/Set Timestamp (0x0300/0x0301): the device clock in ns since the Unix epoch, which event
// record timestamps use. Linux sets it at probe; a device answers 0 until someone does.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>

#include "cxl/commands/command.hpp"

namespace cxlmgr::cxl {

MailboxRequest get_timestamp_request();
Result<uint64_t> decode_timestamp(ByteSpan output);
Result<uint64_t> parse_timestamp(const MailboxResponse& response);

Command<Unit> set_timestamp(uint64_t ns_since_epoch);
MailboxRequest set_timestamp_request(uint64_t ns_since_epoch);
Status parse_set_timestamp(const MailboxResponse& response);

// {"timestamp": n}
nlohmann::json timestamp_to_json(uint64_t ns_since_epoch);

}  // namespace cxlmgr::cxl
