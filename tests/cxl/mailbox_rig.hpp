// A mailbox opened on a FakeCxlDevice with short timeouts, and a synchronous way to run one
// command through the io_context.
#pragma once

#include <boost/asio/io_context.hpp>
#include <memory>
#include <optional>
#include <stdexcept>

#include "cxl/mailbox.hpp"
#include "tests/cxl/fake_cxl_device.hpp"

namespace cxlmgr::testing {

using namespace std::chrono_literals;
using cxl::Mailbox;
using cxl::MailboxConfig;
using cxl::MailboxRequest;
using cxl::MailboxResponse;

inline MailboxConfig fast_config() {
    MailboxConfig c;
    c.doorbell_timeout = 50ms;
    c.ready_timeout = 200ms;
    return c;
}

inline Bytes pattern(size_t n, uint8_t seed = 1) {
    Bytes b(n);
    for (size_t i = 0; i < n; ++i) {
        b[i] = static_cast<uint8_t>(seed + 7 * i);
    }
    return b;
}

struct MailboxRig {
    boost::asio::io_context io;
    std::shared_ptr<FakeCxlDevice> model;
    std::shared_ptr<Mailbox> mailbox;

    explicit MailboxRig(FakeLayout layout = {}, MailboxConfig config = fast_config())
        : model(std::make_shared<FakeCxlDevice>(std::move(layout))) {
        auto m =
            Mailbox::open(io.get_executor(), std::make_shared<pci::EmulatedDevice>(model), config);
        if (!m.ok()) {
            throw std::runtime_error(m.error().describe());
        }
        mailbox = *m;
    }

    Result<MailboxResponse> run(MailboxRequest request, CancelToken cancel = {}) {
        std::optional<Result<MailboxResponse>> out;
        mailbox->async_command(std::move(request), std::move(cancel),
                               [&](Result<MailboxResponse> r) { out = std::move(r); });
        io.restart();
        io.run();
        if (!out) {
            throw std::runtime_error("the command never completed");
        }
        return std::move(*out);
    }
};

}  // namespace cxlmgr::testing
