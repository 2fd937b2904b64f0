#include "doe/doe_mailbox.hpp"

#include <boost/asio/post.hpp>
#include <cstdio>

#include "common/hex.hpp"
#include "common/log.hpp"
#include "pci/capabilities.hpp"
#include "pci/registers.hpp"

namespace cxlmgr::doe {
namespace {

using Clock = std::chrono::steady_clock;

std::string ms(std::chrono::milliseconds d) {
    return std::to_string(d.count()) + " ms";
}

Error with_suffix(Error e, const std::string& suffix) {
    e.message += suffix;
    return e;
}

}  // namespace

std::string to_string(DoeProtocol protocol) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "%04x:%02x", protocol.vendor_id, protocol.type);
    return buf;
}

Result<uint32_t> check_response_header(uint32_t dw0, uint32_t dw1, DoeProtocol expected,
                                       uint32_t max_dwords) {
    DoeProtocol got{static_cast<uint16_t>(dw0 & 0xFFFF), static_cast<uint8_t>((dw0 >> 16) & 0xFF)};
    if (got != expected) {
        return Error(Errc::DeviceError, "malformed response: protocol " + to_string(got) +
                                            " answers a request for " + to_string(expected));
    }
    uint32_t length = dw1 & kLengthMask;
    if (length == 0) {
        length = kMaxObjectDwords;
    }
    if (length < kHeaderDwords) {
        return Error(Errc::DeviceError, "malformed response: length " + std::to_string(length) +
                                            " dwords is shorter than the 2-dword header");
    }
    if (length > max_dwords) {
        return Error(Errc::DeviceError, "oversized response: " + std::to_string(length) +
                                            " dwords exceed the " + std::to_string(max_dwords) +
                                            "-dword buffer");
    }
    return length;
}

// One exchange in flight. Every asynchronous step holds a shared_ptr to it, and it holds the
// mailbox, so nothing it touches can go away underneath a pending timer.
class DoeMailbox::Exchange : public std::enable_shared_from_this<DoeMailbox::Exchange> {
public:
    Exchange(std::shared_ptr<DoeMailbox> mb, DoeRequest request, CancelToken cancel, Callback done)
        : mb_(std::move(mb)),
          cs_(*mb_->config_),
          request_(std::move(request)),
          cancel_(std::move(cancel)),
          done_(std::move(done)) {}

    void start() {
        if (cancel_.cancelled()) {
            finish(Error(Errc::Cancelled, "cancelled before the request was sent"));
            return;
        }
        auto status = mb_->read_status();
        if (!status.ok()) {
            fail_without_abort(std::move(status).error());
            return;
        }
        if ((*status & (kStatusError | kStatusReady)) != 0) {
            // Left over by an earlier owner (a crashed daemon, firmware): resync, then go on.
            log::warning(mb_->device_name_, ": ", mb_->describe(), ": status ", hex(*status),
                         " on entry (stale Error or response); aborting to resync");
            abort_then(Error(Errc::DeviceError, "stale Error or Data Object Ready on entry"),
                       [self = shared_from_this()] { self->send(); });
            return;
        }
        if (*status & kStatusBusy) {
            wait_not_busy();
            return;
        }
        send();
    }

private:
    Result<uint32_t> read_status() { return mb_->read_status(); }

    void wait_not_busy() {
        auto self = shared_from_this();
        const auto& t = mb_->timeouts_;
        async_poll(
            mb_->executor_, t.backoff, Clock::now() + t.busy, cancel_,
            [self]() -> Result<bool> {
                CXLMGR_ASSIGN(uint32_t status, self->read_status());
                return (status & kStatusBusy) == 0;
            },
            [self](Status s) {
                if (s.ok()) {
                    self->send();
                    return;
                }
                Error e = std::move(s).error();
                if (e.code == Errc::Timeout) {
                    self->abort_and_fail(Error(Errc::Busy, "Busy stayed set for " +
                                                               ms(self->mb_->timeouts_.busy) +
                                                               " before the request could be "
                                                               "sent (another agent?)"));
                } else if (e.code == Errc::Cancelled) {
                    self->finish(Error(Errc::Cancelled, "cancelled before the request was sent"));
                } else {
                    self->fail_without_abort(std::move(e));
                }
            });
    }

    Status write_request() {
        const uint32_t base = mb_->offset_;
        const uint32_t length = static_cast<uint32_t>(request_.payload.size()) + kHeaderDwords;
        uint32_t dw0 =
            request_.protocol.vendor_id | (static_cast<uint32_t>(request_.protocol.type) << 16);
        CXLMGR_CHECK(cs_.write32(base + kRegWriteMailbox, dw0));
        CXLMGR_CHECK(cs_.write32(base + kRegWriteMailbox, length & kLengthMask));
        for (uint32_t dw : request_.payload) {
            CXLMGR_CHECK(cs_.write32(base + kRegWriteMailbox, dw));
        }
        return cs_.write32(base + kRegControl, kControlGo);
    }

    void send() {
        if (auto s = write_request(); !s.ok()) {
            abort_and_fail(std::move(s).error().with_context("sending the request"));
            return;
        }
        auto self = shared_from_this();
        const auto& t = mb_->timeouts_;
        async_poll(
            mb_->executor_, t.backoff, Clock::now() + t.response, cancel_,
            [self]() -> Result<bool> {
                CXLMGR_ASSIGN(uint32_t status, self->read_status());
                if (status & kStatusError) {
                    return Error(Errc::DeviceError, "device set the Error bit (status " +
                                                        hex(status) + ") instead of answering");
                }
                return (status & kStatusReady) != 0;
            },
            [self](Status s) {
                if (s.ok()) {
                    self->receive();
                    return;
                }
                Error e = std::move(s).error();
                if (e.code == Errc::Timeout) {
                    e = Error(Errc::Timeout, "no Data Object Ready within " +
                                                 ms(self->mb_->timeouts_.response) + " of Go");
                } else if (e.code == Errc::Cancelled) {
                    e = Error(Errc::Cancelled, "cancelled while waiting for the response");
                }
                self->abort_and_fail(std::move(e));
            });
    }

    Result<uint32_t> read_dword() { return cs_.read32(mb_->offset_ + kRegReadMailbox); }
    Status ack_dword() { return cs_.write32(mb_->offset_ + kRegReadMailbox, 0); }

    // Ready must still be set before the last dword is acknowledged: if it is not, the device
    // ran out of data before the length it announced.
    Status check_before_last(uint32_t index, uint32_t length) {
        CXLMGR_ASSIGN(uint32_t status, read_status());
        if ((status & kStatusError) || !(status & kStatusReady)) {
            return Error(Errc::DeviceError,
                         "malformed response: status " + hex(status) + " before dword " +
                             std::to_string(index) + " of the " + std::to_string(length) +
                             " its header announced (the device ran out of data)");
        }
        return ok_status();
    }

    Result<DoeResponse> read_response() {
        CXLMGR_ASSIGN(uint32_t dw0, read_dword());
        CXLMGR_CHECK(ack_dword());
        CXLMGR_ASSIGN(uint32_t dw1, read_dword());
        CXLMGR_ASSIGN(uint32_t length, check_response_header(dw0, dw1, request_.protocol,
                                                             request_.max_response_dwords));
        if (length == kHeaderDwords) {
            CXLMGR_CHECK(check_before_last(1, length));
        }
        CXLMGR_CHECK(ack_dword());
        DoeResponse response{request_.protocol, {}};
        response.payload.reserve(length - kHeaderDwords);
        for (uint32_t i = kHeaderDwords; i < length; ++i) {
            CXLMGR_ASSIGN(uint32_t dw, read_dword());
            if (i + 1 == length) {
                CXLMGR_CHECK(check_before_last(i, length));
            }
            CXLMGR_CHECK(ack_dword());
            response.payload.push_back(dw);
        }
        CXLMGR_ASSIGN(uint32_t status, read_status());
        if (status & kStatusError) {
            return Error(Errc::DeviceError,
                         "Error bit set after reading the response (status " + hex(status) + ")");
        }
        if (status & kStatusReady) {
            return Error(Errc::DeviceError,
                         "malformed response: the device has more data than the " +
                             std::to_string(length) + " dwords its header announced");
        }
        return response;
    }

    void receive() {
        auto response = read_response();
        if (!response.ok()) {
            abort_and_fail(std::move(response).error());
            return;
        }
        finish(std::move(response).value());
    }

    // The device may be gone, in which case there is nothing to abort.
    void fail_without_abort(Error e) {
        if (e.code == Errc::DeviceGone) {
            mb_->mark_dead(e);
        }
        finish(std::move(e));
    }

    void abort_and_fail(Error cause) {
        if (cause.code == Errc::DeviceGone) {
            fail_without_abort(std::move(cause));
            return;
        }
        auto self = shared_from_this();
        abort_then(cause, [self, cause] {
            self->finish(with_suffix(cause, "; mailbox aborted and usable again"));
        });
    }

    // Abort, then `next` when it completed; on failure the mailbox is dead and the exchange
    // ends with `cause` plus why the abort failed.
    void abort_then(Error cause, std::function<void()> next) {
        log::warning(mb_->device_name_, ": ", mb_->describe(), ": aborting: ", cause.message);
        // The abort cleans up after us, so it ignores the caller's cancellation.
        mb_->abort([self = shared_from_this(), cause = std::move(cause),
                    next = std::move(next)](Status s) {
            if (s.ok()) {
                next();
                return;
            }
            if (s.error().code == Errc::DeviceGone) {
                self->fail_without_abort(
                    with_suffix(cause, "; the device vanished during the abort"));
                return;
            }
            self->abort_failed(cause, s.error().message);
        });
    }

    void abort_failed(Error cause, const std::string& why) {
        Error e = with_suffix(std::move(cause), "; " + why + ": mailbox marked dead");
        mb_->mark_dead(e);
        finish(std::move(e));
    }

    void finish(Result<DoeResponse> result) {
        if (!result.ok()) {
            result = result.error().with_context(mb_->describe());
        }
        // Released first so the callback may start the next exchange of a sequence.
        mb_->release();
        auto done = std::move(done_);
        done(std::move(result));
    }

    std::shared_ptr<DoeMailbox> mb_;
    pci::ConfigSpace& cs_;  // owned by mb_
    DoeRequest request_;
    CancelToken cancel_;
    Callback done_;
};

DoeMailbox::DoeMailbox(std::string device_name, boost::asio::any_io_executor executor,
                       std::shared_ptr<pci::ConfigSpace> config, uint32_t offset, uint8_t version,
                       DoeTimeouts timeouts)
    : device_name_(std::move(device_name)),
      executor_(std::move(executor)),
      config_(std::move(config)),
      offset_(offset),
      version_(version),
      timeouts_(timeouts) {}

Result<std::shared_ptr<DoeMailbox>> DoeMailbox::create(std::string device_name,
                                                       boost::asio::any_io_executor executor,
                                                       std::shared_ptr<pci::ConfigSpace> config,
                                                       uint32_t cap_offset, DoeTimeouts timeouts) {
    if (!config) {
        return Error(Errc::InvalidArgument, "DOE mailbox needs a config space");
    }
    if (cap_offset < pci::kExtCapStart || cap_offset % 4 != 0 ||
        cap_offset + kCapabilitySize > config->size()) {
        return Error(Errc::InvalidArgument,
                     "no room for a DOE capability at " + hex(cap_offset) + " of config space");
    }
    CXLMGR_ASSIGN(uint32_t header, config->read32(cap_offset));
    if (header == 0xFFFFFFFFu) {
        return Error(Errc::DeviceGone, "config space reads all-ones at " + hex(cap_offset));
    }
    if ((header & 0xFFFF) != pci::kExtCapIdDoe) {
        return Error(Errc::NotFound, "extended capability at " + hex(cap_offset) + " has ID " +
                                         hex(header & 0xFFFF) + ", not DOE (0x2e)");
    }
    auto version = static_cast<uint8_t>((header >> 16) & 0xF);
    return std::shared_ptr<DoeMailbox>(new DoeMailbox(std::move(device_name), std::move(executor),
                                                      std::move(config), cap_offset, version,
                                                      timeouts));
}

void DoeMailbox::async_exchange(DoeRequest request, CancelToken cancel, Callback done) {
    auto fail_later = [this, &done](Error e) {
        boost::asio::post(executor_, [done = std::move(done), e = std::move(e)]() mutable {
            done(std::move(e));
        });
    };
    if (request.payload.size() + kHeaderDwords > kMaxObjectDwords) {
        fail_later(Error(Errc::InvalidArgument,
                         describe() + ": request of " +
                             std::to_string(request.payload.size() + kHeaderDwords) +
                             " dwords exceeds the 2^18-dword maximum"));
        return;
    }
    {
        std::lock_guard lock(mutex_);
        if (dead_) {
            // Not the original class (a Busy or Timeout would invite a retry): dead is final.
            Errc code = dead_->code == Errc::DeviceGone ? Errc::DeviceGone : Errc::DeviceError;
            fail_later(Error(
                code, describe() + " is dead after an earlier failure (" + dead_->message + ")"));
            return;
        }
        if (in_flight_) {
            fail_later(Error(Errc::Busy, describe() + ": another exchange is in flight"));
            return;
        }
        in_flight_ = true;
    }
    auto exchange = std::make_shared<Exchange>(shared_from_this(), std::move(request),
                                               std::move(cancel), std::move(done));
    boost::asio::post(executor_, [exchange] { exchange->start(); });
}

void DoeMailbox::async_revive(std::function<void(Status)> done) {
    {
        std::lock_guard lock(mutex_);
        if (!dead_ || in_flight_) {
            Status s = dead_ ? Status(Error(Errc::Busy, describe() + ": an exchange is in flight"))
                             : ok_status();
            boost::asio::post(executor_, [s = std::move(s), done = std::move(done)] { done(s); });
            return;
        }
        in_flight_ = true;  // no exchange may start while the Abort runs
    }
    auto finish = [self = shared_from_this(), done = std::move(done)](Status s) {
        self->release();
        done(std::move(s));
    };
    boost::asio::post(executor_, [self = shared_from_this(), finish = std::move(finish)] {
        self->abort([self, finish](Status s) {
            if (!s.ok()) {
                finish(s.error().with_context(self->describe() + " stays dead"));
                return;
            }
            {
                std::lock_guard lock(self->mutex_);
                self->dead_.reset();
            }
            log::info(self->device_name_, ": ", self->describe(),
                      ": an Abort completed, the mailbox is usable again");
            finish(ok_status());
        });
    });
}

Result<uint32_t> DoeMailbox::read_status() {
    CXLMGR_ASSIGN(uint32_t status, config_->read32(offset_ + kRegStatus));
    if (status == 0xFFFFFFFFu) {
        return Error(Errc::DeviceGone, "status reads all-ones (device removed)");
    }
    return status;
}

void DoeMailbox::abort(std::function<void(Status)> done) {
    if (auto s = config_->write32(offset_ + kRegControl, kControlAbort); !s.ok()) {
        Error e = std::move(s).error();
        boost::asio::post(executor_, [e, done = std::move(done)] {
            done(Error(e.code == Errc::DeviceGone ? Errc::DeviceGone : Errc::DeviceError,
                       "the Abort write failed: " + e.describe()));
        });
        return;
    }
    auto self = shared_from_this();
    auto last_status = std::make_shared<uint32_t>(0);
    async_poll(
        executor_, timeouts_.backoff, Clock::now() + timeouts_.abort, CancelToken{},
        [self, last_status]() -> Result<bool> {
            CXLMGR_ASSIGN(uint32_t status, self->read_status());
            *last_status = status;
            return (status & (kStatusBusy | kStatusError | kStatusReady)) == 0;
        },
        [self, last_status, done = std::move(done)](Status s) {
            if (s.ok() || s.error().code == Errc::DeviceGone) {
                done(std::move(s));
                return;
            }
            done(Error(s.error().code, "the Abort did not complete within " +
                                           ms(self->timeouts_.abort) + " (status " +
                                           hex(*last_status) + ")"));
        });
}

bool DoeMailbox::in_flight() const {
    std::lock_guard lock(mutex_);
    return in_flight_;
}

bool DoeMailbox::dead() const {
    std::lock_guard lock(mutex_);
    return dead_.has_value();
}

std::optional<Error> DoeMailbox::dead_reason() const {
    std::lock_guard lock(mutex_);
    return dead_;
}

std::string DoeMailbox::describe() const {
    return "DOE mailbox at " + hex(offset_);
}

void DoeMailbox::mark_dead(Error reason) {
    log::error(device_name_, ": ", describe(), ": marked dead: ", reason.message);
    std::lock_guard lock(mutex_);
    if (!dead_) {
        dead_ = std::move(reason);
    }
}

void DoeMailbox::release() {
    std::lock_guard lock(mutex_);
    in_flight_ = false;
}

Result<std::vector<uint32_t>> find_doe_capabilities(pci::ConfigSpace& config) {
    CXLMGR_ASSIGN(auto caps, pci::list_ext_capabilities(config));
    std::vector<uint32_t> offsets;
    for (const auto& cap : caps) {
        if (cap.id == pci::kExtCapIdDoe) {
            offsets.push_back(cap.offset);
        }
    }
    return offsets;
}

DoeExchange direct_exchange(DoeMailbox& mailbox) {
    return [mb = mailbox.shared_from_this()](DoeRequest request, CancelToken cancel,
                                             DoeMailbox::Callback done) {
        mb->async_exchange(std::move(request), std::move(cancel), std::move(done));
    };
}

}  // namespace cxlmgr::doe
