// Reading the CDAT over DOE Table Access (CXL vendor 0x1E98, type 2), entry by entry.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "common/cancel.hpp"
#include "common/result.hpp"
#include "doe/doe_mailbox.hpp"

namespace cxlmgr::doe {

// Follows the entry handle chain from 0 (the 16-byte header) to the 0xFFFF end marker, using only
// the handles the device returned (QEMU 7.2 crashes on a guessed one), and assembles the
// contiguous table. Fails with DeviceError, naming the handle and table offset, when a handle
// repeats, an entry is served shorter or longer than its own length field, the entries grow past
// the header's length, or the header claims more than kCdatMaxLength. The result is the raw table;
// parse_cdat() validates and decodes it.
void async_read_cdat(DoeExchange exchange, CancelToken cancel,
                     std::function<void(Result<std::vector<uint8_t>>)> done);
void async_read_cdat(DoeMailbox& mailbox, CancelToken cancel,
                     std::function<void(Result<std::vector<uint8_t>>)> done);

// The Table Access request dword: Read Entry (code 0), table type 0 (CDAT), entry handle.
uint32_t cdat_read_request(uint16_t handle);

inline constexpr uint16_t kCdatEndHandle = 0xFFFF;

}  // namespace cxlmgr::doe
