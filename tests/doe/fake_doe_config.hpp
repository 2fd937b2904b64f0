// A config space holding one scripted DOE capability at 0x100: a test (or fuzzer) decides what
// each request gets back, including answers the emulated device never gives (wrong protocol,
// looping chains, lying status bits).
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "pci/config_space.hpp"

namespace cxlmgr::testing {

class FakeDoeConfig : public pci::ConfigSpace {
public:
    static constexpr uint32_t kDoe = 0x100;
    // The whole response object (header included) for a request object.
    using Responder = std::function<std::vector<uint32_t>(const std::vector<uint32_t>& request)>;

    explicit FakeDoeConfig(Responder responder, uint8_t cap_version = 1)
        : responder_(std::move(responder)), cap_version_(cap_version) {}

    // Extra status bits ORed in (Busy stuck, Error...), and whether Abort clears them.
    uint32_t sticky_status = 0;
    bool abort_clears_sticky = true;
    unsigned gos = 0;
    unsigned aborts = 0;
    std::vector<std::vector<uint32_t>> requests;

    [[nodiscard]] uint32_t size() const override { return pci::kConfigSpaceExtendedSize; }
    [[nodiscard]] const pci::DeviceIdentity& identity() const override { return identity_; }

protected:
    Result<uint32_t> do_read(uint32_t offset, unsigned width) override {
        uint32_t v = 0;
        if (offset == kDoe) {
            v = 0x002E | (static_cast<uint32_t>(cap_version_) << 16);
        } else if (offset == kDoe + 0x0C) {
            v = sticky_status | (pos_ < response_.size() ? 0x80000000u : 0);
        } else if (offset == kDoe + 0x14) {
            v = pos_ < response_.size() ? response_[pos_] : 0;
        }
        return width == 4 ? v : v & ((1u << (8 * width)) - 1);
    }
    Status do_write(uint32_t offset, unsigned, uint32_t value) override {
        if (offset == kDoe + 0x08) {
            if (value & 1) {
                ++aborts;
                request_.clear();
                response_.clear();
                pos_ = 0;
                if (abort_clears_sticky) {
                    sticky_status = 0;
                }
            } else if (value & 0x80000000u) {
                ++gos;
                requests.push_back(request_);
                response_ = responder_(request_);
                request_.clear();
                pos_ = 0;
            }
        } else if (offset == kDoe + 0x10) {
            request_.push_back(value);
        } else if (offset == kDoe + 0x14) {
            ++pos_;
        }
        return ok_status();
    }

private:
    Responder responder_;
    uint8_t cap_version_;
    std::vector<uint32_t> request_;
    std::vector<uint32_t> response_;
    size_t pos_ = 0;
    pci::DeviceIdentity identity_{0x1234, 0x5678, 0x050210, "fake"};
};

}  // namespace cxlmgr::testing
