#include "doe/cdat_reader.hpp"

#include <cstdio>
#include <unordered_set>

#include "doe/cdat.hpp"

namespace cxlmgr::doe {
namespace {

std::string hex(uint32_t v) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "0x%x", v);
    return buf;
}

class CdatWalk : public std::enable_shared_from_this<CdatWalk> {
public:
    using Done = std::function<void(Result<std::vector<uint8_t>>)>;

    CdatWalk(DoeExchange exchange, CancelToken cancel, Done done)
        : exchange_(std::move(exchange)), cancel_(std::move(cancel)), done_(std::move(done)) {}

    void step(uint16_t handle) {
        visited_.insert(handle);
        DoeRequest request{kProtocolCdat, {cdat_read_request(handle)}, kDefaultMaxResponseDwords};
        exchange_(std::move(request), cancel_,
                  [self = shared_from_this(), handle](Result<DoeResponse> r) {
                      self->on_response(handle, std::move(r));
                  });
    }

private:
    Error entry_error(uint16_t handle, const std::string& what) const {
        return Error(Errc::DeviceError,
                     "CDAT read, entry handle " + std::to_string(handle) + " (table offset " +
                         hex(static_cast<uint32_t>(table_.size())) + "): " + what);
    }

    // The entry bytes this response contributes, or why it is unusable.
    Result<std::span<const uint8_t>> entry_bytes(uint16_t handle, std::span<const uint8_t> served) {
        if (handle == 0) {
            if (served.size() != kCdatHeaderSize) {
                return entry_error(handle, "the header was served as " +
                                               std::to_string(served.size()) + " bytes, not 16");
            }
            uint32_t length = served[0] | (served[1] << 8) | (served[2] << 16) |
                              (static_cast<uint32_t>(served[3]) << 24);
            if (length < kCdatHeaderSize || length > kCdatMaxLength) {
                return entry_error(handle, "the header's table length " + std::to_string(length) +
                                               " is outside 16.." + std::to_string(kCdatMaxLength));
            }
            expected_length_ = length;
            return served;
        }
        if (served.size() < 4) {
            return entry_error(handle, "served " + std::to_string(served.size()) +
                                           " bytes, too few for a structure header");
        }
        uint32_t length = served[2] | (served[3] << 8);
        if (length < 4) {
            return entry_error(handle, "the entry's length field is " + std::to_string(length) +
                                           (length == 0 ? " (zero-length entry)" : ""));
        }
        if (served.size() < length) {
            return entry_error(handle, "truncated entry: its length field says " +
                                           std::to_string(length) + " bytes, the device served " +
                                           std::to_string(served.size()));
        }
        if (served.size() - length >= 4) {
            return entry_error(handle, "the device served " + std::to_string(served.size()) +
                                           " bytes for an entry of " + std::to_string(length));
        }
        if (table_.size() + length > expected_length_) {
            return entry_error(handle, "the entries grow past the header's table length of " +
                                           std::to_string(expected_length_) + " bytes");
        }
        return served.first(length);
    }

    void on_response(uint16_t handle, Result<DoeResponse> r) {
        if (!r.ok()) {
            done_(std::move(r).error().with_context("CDAT read, entry handle " +
                                                    std::to_string(handle)));
            return;
        }
        const auto& payload = r->payload;
        if (payload.empty()) {
            done_(entry_error(handle, "the response has no Table Access header dword"));
            return;
        }
        uint32_t rsp = payload[0];
        if ((rsp & 0xFF) != 0 || ((rsp >> 8) & 0xFF) != 0) {
            done_(entry_error(handle, "unexpected response code/table type in " + hex(rsp)));
            return;
        }
        auto next = static_cast<uint16_t>(rsp >> 16);
        std::vector<uint8_t> served;
        served.reserve((payload.size() - 1) * 4);
        for (size_t i = 1; i < payload.size(); ++i) {
            for (unsigned b = 0; b < 4; ++b) {
                served.push_back(static_cast<uint8_t>(payload[i] >> (8 * b)));
            }
        }
        auto bytes = entry_bytes(handle, served);
        if (!bytes.ok()) {
            done_(std::move(bytes).error());
            return;
        }
        table_.insert(table_.end(), bytes->begin(), bytes->end());
        if (next == kCdatEndHandle) {
            done_(std::move(table_));
            return;
        }
        if (visited_.count(next) != 0) {
            done_(entry_error(handle, "next handle " + std::to_string(next) +
                                          " was already read: the handle chain loops"));
            return;
        }
        if (table_.size() >= expected_length_) {
            done_(entry_error(handle, "the chain goes on (next handle " + std::to_string(next) +
                                          ") past the header's table length of " +
                                          std::to_string(expected_length_) + " bytes"));
            return;
        }
        step(next);
    }

    DoeExchange exchange_;
    CancelToken cancel_;
    Done done_;
    std::unordered_set<uint16_t> visited_;
    std::vector<uint8_t> table_;
    uint32_t expected_length_ = 0;
};

}  // namespace

uint32_t cdat_read_request(uint16_t handle) {
    return static_cast<uint32_t>(handle) << 16;
}

void async_read_cdat(DoeExchange exchange, CancelToken cancel,
                     std::function<void(Result<std::vector<uint8_t>>)> done) {
    auto walk = std::make_shared<CdatWalk>(std::move(exchange), std::move(cancel), std::move(done));
    walk->step(0);
}

void async_read_cdat(DoeMailbox& mailbox, CancelToken cancel,
                     std::function<void(Result<std::vector<uint8_t>>)> done) {
    async_read_cdat(direct_exchange(mailbox), std::move(cancel), std::move(done));
}

}  // namespace cxlmgr::doe
