// The DOE mailbox transport: one request/response data object exchange at a time on one DOE
// capability instance, driven entirely through a pci::ConfigSpace.
//
// State machine per exchange (compare Linux drivers/pci/doe.c, which sleeps in a workqueue):
//   entry:   Busy set -> poll until clear (timeouts.busy), else Abort and fail with Busy;
//            Error or Data Object Ready left over from someone else -> Abort to resync first;
//   send:    DW0, DW1, payload dword by dword, then Go;
//   wait:    poll for Data Object Ready (or Error) on Asio timers with backoff, timeouts.response;
//   receive: read and acknowledge each dword; check the header (protocol, length within the
//            caller's buffer); check Ready before acknowledging the last dword and check that the
//            device has nothing left afterwards.
// Any failure after the request started going out ends with an Abort (timeouts.abort): if the
// Abort completes the mailbox is usable again, otherwise it is marked dead and every later
// exchange fails at once, until async_revive() sees an Abort complete (the daemon's device
// supervision retries it with backoff). An all-ones status means the device is gone: no Abort is
// attempted.
//
// Every log line names the device: the mailbox is created with the name of the device it
// belongs to.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/async_poll.hpp"
#include "common/cancel.hpp"
#include "common/result.hpp"
#include "doe/doe_registers.hpp"
#include "pci/config_space.hpp"

namespace cxlmgr::doe {

struct DoeProtocol {
    uint16_t vendor_id = 0;
    uint8_t type = 0;
    friend bool operator==(const DoeProtocol&, const DoeProtocol&) = default;
};

inline constexpr DoeProtocol kProtocolDiscovery{kVendorPciSig, kTypeDiscovery};
inline constexpr DoeProtocol kProtocolCdat{kVendorCxl, kTypeCxlTableAccess};

// "1e98:02", the form Linux uses in doe_features/.
std::string to_string(DoeProtocol protocol);

// Big enough for the largest CDAT entry (64 KiB) plus headers; callers expecting a bounded
// answer (Discovery) pass a much smaller limit so a runaway device cannot make us read 1 MiB.
inline constexpr uint32_t kDefaultMaxResponseDwords = 2 + 1 + 65536 / 4;

struct DoeRequest {
    DoeProtocol protocol;
    std::vector<uint32_t> payload;  // the dwords after the two header dwords
    // The largest response accepted, header included; a longer one is refused and aborted.
    uint32_t max_response_dwords = kDefaultMaxResponseDwords;
};

struct DoeResponse {
    DoeProtocol protocol;
    std::vector<uint32_t> payload;  // the dwords after the two header dwords
};

struct DoeTimeouts {
    // docs/PROTOCOL.md "DOE exchange": 1 s for Busy to clear, for Ready after Go, and for an Abort.
    std::chrono::milliseconds busy{1000};
    std::chrono::milliseconds response{1000};
    std::chrono::milliseconds abort{1000};
    // Short first checks catch fast devices at once; the cap bounds the wake-ups of slow ones.
    Backoff backoff{std::chrono::microseconds(10), std::chrono::microseconds(8000), 2};
};

// Validates a response header against the request: protocol, length field (0 = 2^18, at least
// the two header dwords) and the caller's limit. Returns the object length in dwords.
Result<uint32_t> check_response_header(uint32_t dw0, uint32_t dw1, DoeProtocol expected,
                                       uint32_t max_dwords);

class DoeMailbox : public std::enable_shared_from_this<DoeMailbox> {
public:
    using Callback = std::function<void(Result<DoeResponse>)>;

    // Reads the capability header at cap_offset (must be a DOE capability). The config space is
    // shared so that exchanges in flight keep it alive. `device_name` starts every log line.
    static Result<std::shared_ptr<DoeMailbox>> create(std::string device_name,
                                                      boost::asio::any_io_executor executor,
                                                      std::shared_ptr<pci::ConfigSpace> config,
                                                      uint32_t cap_offset,
                                                      DoeTimeouts timeouts = {});

    // Runs one exchange; `done` is called exactly once, on the executor, never inline. A second
    // call while one is in flight fails with Busy; on a dead mailbox every call fails at once.
    // `cancel` is observed while waiting; a cancelled exchange that reached the device is aborted.
    void async_exchange(DoeRequest request, CancelToken cancel, Callback done);

    // Tries to bring a dead mailbox back: an Abort, and the mailbox is usable again once the
    // device has cleared Busy, Error and Data Object Ready within timeouts.abort. `done` runs
    // once, on the executor, never inline: ok when the mailbox is usable (also when it was not
    // dead), Busy while an exchange is in flight, otherwise why it stays dead.
    void async_revive(std::function<void(Status)> done);

    [[nodiscard]] uint32_t offset() const { return offset_; }
    [[nodiscard]] uint8_t capability_version() const { return version_; }
    [[nodiscard]] const DoeTimeouts& timeouts() const { return timeouts_; }
    [[nodiscard]] const boost::asio::any_io_executor& executor() const { return executor_; }
    [[nodiscard]] bool in_flight() const;
    [[nodiscard]] bool dead() const;
    // Why the mailbox died (the error later exchanges fail with), if it did.
    [[nodiscard]] std::optional<Error> dead_reason() const;
    // "DOE mailbox at 0x110", the prefix of every error this mailbox reports.
    [[nodiscard]] std::string describe() const;
    // The device this mailbox belongs to.
    [[nodiscard]] const std::string& device_name() const { return device_name_; }

private:
    class Exchange;
    friend class Exchange;

    DoeMailbox(std::string device_name, boost::asio::any_io_executor executor,
               std::shared_ptr<pci::ConfigSpace> config, uint32_t offset, uint8_t version,
               DoeTimeouts timeouts);
    // Status with the device-gone check every read needs: a vanished device reads all-ones.
    Result<uint32_t> read_status();
    // Writes Abort and waits up to timeouts.abort for Busy, Error and Ready to clear. Fails with
    // DeviceGone when the device vanished meanwhile, otherwise with why the Abort failed.
    void abort(std::function<void(Status)> done);
    void mark_dead(Error reason);
    void release();

    const std::string device_name_;
    boost::asio::any_io_executor executor_;
    std::shared_ptr<pci::ConfigSpace> config_;
    uint32_t offset_;
    uint8_t version_;
    DoeTimeouts timeouts_;

    mutable std::mutex mutex_;  // callers may be on any thread; steps run on the executor
    bool in_flight_ = false;
    std::optional<Error> dead_;
};

// One exchange on some DOE mailbox. Multi-step protocols (Discovery, CDAT) take one of these, so
// the daemon can send each step through its arbiter while tests drive a DoeMailbox directly.
using DoeExchange = std::function<void(DoeRequest, CancelToken, DoeMailbox::Callback)>;

// The exchange of `mailbox` itself (the callback keeps the mailbox alive).
DoeExchange direct_exchange(DoeMailbox& mailbox);

// Offsets of every DOE capability in the extended capability list, in list order.
Result<std::vector<uint32_t>> find_doe_capabilities(pci::ConfigSpace& config);

}  // namespace cxlmgr::doe
