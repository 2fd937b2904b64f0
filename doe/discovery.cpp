#include "doe/discovery.hpp"

#include <bitset>

namespace cxlmgr::doe {
namespace {

// Each step holds the mailbox and itself through shared_ptrs captured by the next callback.
class DiscoveryWalk : public std::enable_shared_from_this<DiscoveryWalk> {
public:
    using Done = std::function<void(Result<std::vector<DoeProtocol>>)>;

    DiscoveryWalk(DoeExchange exchange, uint8_t capability_version, CancelToken cancel, Done done)
        : exchange_(std::move(exchange)),
          capability_version_(capability_version),
          cancel_(std::move(cancel)),
          done_(std::move(done)) {}

    void step(uint8_t index) {
        visited_.set(index);
        DoeRequest request{
            kProtocolDiscovery, {discovery_request(index, capability_version_)}, kHeaderDwords + 1};
        exchange_(std::move(request), cancel_,
                  [self = shared_from_this(), index](Result<DoeResponse> r) {
                      self->on_response(index, std::move(r));
                  });
    }

private:
    void on_response(uint8_t index, Result<DoeResponse> r) {
        auto fail = [&](Error e) {
            done_(e.with_context("DOE discovery index " + std::to_string(index)));
        };
        if (!r.ok()) {
            fail(std::move(r).error());
            return;
        }
        if (r->payload.size() != 1) {
            fail(Error(Errc::DeviceError, "response has " + std::to_string(r->payload.size()) +
                                              " payload dwords, expected 1"));
            return;
        }
        uint32_t dw = r->payload[0];
        DoeProtocol protocol{static_cast<uint16_t>(dw & 0xFFFF),
                             static_cast<uint8_t>((dw >> 16) & 0xFF)};
        auto next = static_cast<uint8_t>(dw >> 24);
        if (protocol.vendor_id == 0xFFFF) {
            fail(Error(Errc::DeviceError, "device does not know this index (vendor 0xffff)"));
            return;
        }
        found_.push_back(protocol);
        if (next == 0) {
            done_(std::move(found_));
            return;
        }
        if (visited_.test(next)) {
            fail(Error(Errc::DeviceError, "next index " + std::to_string(next) +
                                              " was already visited: the device loops"));
            return;
        }
        step(next);
    }

    DoeExchange exchange_;
    uint8_t capability_version_;
    CancelToken cancel_;
    Done done_;
    std::bitset<256> visited_;
    std::vector<DoeProtocol> found_;
};

}  // namespace

uint32_t discovery_request(uint8_t index, uint8_t capability_version) {
    uint32_t version = capability_version >= 2 ? 2 : 0;
    return index | (version << 8);
}

void async_discover(DoeExchange exchange, uint8_t capability_version, CancelToken cancel,
                    std::function<void(Result<std::vector<DoeProtocol>>)> done) {
    auto walk = std::make_shared<DiscoveryWalk>(std::move(exchange), capability_version,
                                                std::move(cancel), std::move(done));
    walk->step(0);
}

void async_discover(DoeMailbox& mailbox, CancelToken cancel,
                    std::function<void(Result<std::vector<DoeProtocol>>)> done) {
    async_discover(direct_exchange(mailbox), mailbox.capability_version(), std::move(cancel),
                   std::move(done));
}

}  // namespace cxlmgr::doe
