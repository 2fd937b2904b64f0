// Helpers for driving the DOE transport in tests: a synchronous wrapper (tests only), an
// emulated device wired up the way the daemon does it, a counting/failing config-space decorator
// and a scripted DOE device for behaviours the emulated device cannot be made to show.
#pragma once

#include <boost/asio/io_context.hpp>
#include <functional>
#include <memory>
#include <optional>

#include "doe/cdat_reader.hpp"
#include "doe/discovery.hpp"
#include "doe/doe_mailbox.hpp"
#include "emu/type3_device.hpp"
#include "pci/emulated_device.hpp"

namespace cxlmgr::testing {

using namespace std::chrono_literals;

// Forwards to another config space, counting accesses and optionally failing one of them.
class CountingConfig : public pci::ConfigSpace {
public:
    explicit CountingConfig(std::shared_ptr<pci::ConfigSpace> inner) : inner_(std::move(inner)) {}

    uint64_t reads = 0;
    uint64_t writes = 0;
    uint64_t abort_writes = 0;  // writes of the Abort bit to any DOE Control register
    // When set, the access with this 0-based number (reads and writes together) fails.
    std::optional<uint64_t> fail_at;
    // Rewrites a dword on its way back (e.g. to report another capability version).
    std::function<uint32_t(uint32_t offset, uint32_t value)> read_filter;
    std::function<void(uint32_t offset, uint32_t value)> write_spy;

    [[nodiscard]] uint32_t size() const override { return inner_->size(); }
    [[nodiscard]] const pci::DeviceIdentity& identity() const override {
        return inner_->identity();
    }

protected:
    Result<uint32_t> do_read(uint32_t offset, unsigned width) override {
        if (fail_at && reads + writes == *fail_at) {
            ++reads;
            return Error(Errc::IoError, "injected config read failure");
        }
        ++reads;
        CXLMGR_ASSIGN(uint32_t v, width == 4 ? inner_->read32(offset) : read_narrow(offset, width));
        return read_filter ? read_filter(offset, v) : v;
    }
    Status do_write(uint32_t offset, unsigned width, uint32_t value) override {
        if (fail_at && reads + writes == *fail_at) {
            ++writes;
            return Error(Errc::IoError, "injected config write failure");
        }
        ++writes;
        if (write_spy) {
            write_spy(offset, value);
        }
        if (width == 4 && (value & 1) && abort_offsets_contains(offset)) {
            ++abort_writes;
        }
        if (width == 4)
            return inner_->write32(offset, value);
        if (width == 2)
            return inner_->write16(offset, static_cast<uint16_t>(value));
        return inner_->write8(offset, static_cast<uint8_t>(value));
    }

public:
    std::vector<uint32_t> control_offsets;  // DOE Control registers whose Abort writes count

private:
    bool abort_offsets_contains(uint32_t offset) const {
        for (auto o : control_offsets) {
            if (o == offset)
                return true;
        }
        return false;
    }
    Result<uint32_t> read_narrow(uint32_t offset, unsigned width) {
        if (width == 2) {
            CXLMGR_ASSIGN(uint16_t v, inner_->read16(offset));
            return v;
        }
        CXLMGR_ASSIGN(uint8_t v, inner_->read8(offset));
        return v;
    }
    std::shared_ptr<pci::ConfigSpace> inner_;
};

// Short timeouts keep the fault tests fast; one test uses the defaults.
inline doe::DoeTimeouts fast_timeouts() {
    doe::DoeTimeouts t;
    t.busy = 50ms;
    t.response = 50ms;
    t.abort = 50ms;
    t.backoff = {std::chrono::microseconds(10), std::chrono::microseconds(2000), 2};
    return t;
}

// One emulated device behind pci::EmulatedDevice, its config space counted, and the DOE mailbox
// found by walking the extended capability list like on real hardware.
struct EmuDoe {
    boost::asio::io_context io;
    std::shared_ptr<emu::Type3Device> model;
    std::shared_ptr<pci::EmulatedDevice> device;
    std::shared_ptr<CountingConfig> config;
    std::shared_ptr<doe::DoeMailbox> mailbox;

    // Returns an error text when setup fails (ASSERT in the caller).
    std::string init(emu::DeviceDescription desc = emu::default_device_description("emu0"),
                     doe::DoeTimeouts timeouts = fast_timeouts(),
                     std::function<void(CountingConfig&)> tweak = {}) {
        auto m = emu::Type3Device::create(std::move(desc));
        if (!m.ok())
            return m.error().describe();
        model = *m;
        device = std::make_shared<pci::EmulatedDevice>(model);
        // The aliasing constructor keeps the device alive as long as the config space is used.
        std::shared_ptr<pci::ConfigSpace> cs(device, &device->config());
        config = std::make_shared<CountingConfig>(cs);
        if (tweak)
            tweak(*config);
        auto offsets = doe::find_doe_capabilities(*config);
        if (!offsets.ok())
            return offsets.error().describe();
        if (offsets->size() != 1)
            return "expected one DOE capability";
        config->control_offsets.push_back(offsets->front() + doe::kRegControl);
        auto mb = doe::DoeMailbox::create(model->name(), io.get_executor(), config,
                                          offsets->front(), timeouts);
        if (!mb.ok())
            return mb.error().describe();
        mailbox = *mb;
        config->reads = config->writes = 0;
        return {};
    }

    template <typename T, typename Start>
    Result<T> run(Start start) {
        std::optional<Result<T>> out;
        start([&](Result<T> r) { out.emplace(std::move(r)); });
        io.restart();
        io.run();
        if (!out)
            return Error(Errc::Internal, "callback never ran");
        return std::move(*out);
    }

    Result<doe::DoeResponse> exchange(doe::DoeRequest request, CancelToken cancel = {}) {
        return run<doe::DoeResponse>(
            [&](auto cb) { mailbox->async_exchange(std::move(request), cancel, std::move(cb)); });
    }
    Result<std::vector<doe::DoeProtocol>> discover() {
        return run<std::vector<doe::DoeProtocol>>(
            [&](auto cb) { doe::async_discover(*mailbox, {}, std::move(cb)); });
    }
    Result<std::vector<uint8_t>> read_cdat() {
        return run<std::vector<uint8_t>>(
            [&](auto cb) { doe::async_read_cdat(*mailbox, {}, std::move(cb)); });
    }
};

inline doe::DoeRequest discovery_request(uint8_t index) {
    return {doe::kProtocolDiscovery, {index}, doe::kHeaderDwords + 1};
}

}  // namespace cxlmgr::testing
