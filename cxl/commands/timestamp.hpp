// Get/Set Timestamp: the device clock in ns since the Unix epoch, which event
// record timestamps use. Linux sets it at probe; a device answers 0 until someone does.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>

#include "cxl/commands/command.hpp"

namespace cxlmgr::cxl {

Command<uint64_t> get_timestamp();
Result<uint64_t> decode_timestamp(ByteSpan output);

Command<Unit> set_timestamp(uint64_t ns_since_epoch);

// Untyped forms for daemon/event_collector.cpp until it sends Command<T>s; do not add users.
MailboxRequest set_timestamp_request(uint64_t ns_since_epoch);
Status parse_set_timestamp(const MailboxResponse& response);

// {"timestamp": n}
nlohmann::json timestamp_to_json(uint64_t ns_since_epoch);

}  // namespace cxlmgr::cxl
