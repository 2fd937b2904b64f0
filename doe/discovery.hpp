// DOE Discovery (PCI-SIG vendor 0x0001, type 0): which protocols a DOE instance speaks.
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include "common/cancel.hpp"
#include "common/result.hpp"
#include "doe/doe_mailbox.hpp"

namespace cxlmgr::doe {

// Walks the Discovery indices from 0 until Next Index is 0 and returns every (vendor, type),
// Discovery itself included. Sends Discovery Version 2 when the capability version is >= 2
// (PCIe r6.1), 0 otherwise. A device whose chain revisits an index, or that answers with the
// "no such index" pattern (vendor 0xFFFF), fails with DeviceError rather than looping.
void async_discover(DoeExchange exchange, uint8_t capability_version, CancelToken cancel,
                    std::function<void(Result<std::vector<DoeProtocol>>)> done);
void async_discover(DoeMailbox& mailbox, CancelToken cancel,
                    std::function<void(Result<std::vector<DoeProtocol>>)> done);

// The request dword for one index (exposed for tests).
uint32_t discovery_request(uint8_t index, uint8_t capability_version);

}  // namespace cxlmgr::doe
