// Fuzzes the DOE transport's receive path (header checks, length handling, the checks around the
// last dword, abort and dead marking) against a scripted DOE capability that answers every
// request with the fuzz input.
// Input: byte 0 = status flags (bit0 Busy stuck, bit1 Error stuck, bit2 Abort leaves them set),
// byte 1 = the response buffer limit in dwords, then the response object's dwords (LE).
#include <boost/asio/io_context.hpp>
#include <cstddef>
#include <cstdint>
#include <optional>

#include "common/log.hpp"
#include "doe/doe_mailbox.hpp"
#include "tests/doe/fake_doe_config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    using namespace cxlmgr;
    static const bool quiet = [] {
        log::set_level(log::Level::Error);  // aborts are expected here; keep the fuzzer fast
        return true;
    }();
    (void)quiet;
    if (size < 2) {
        return 0;
    }
    std::vector<uint32_t> response;
    for (size_t i = 2; i + 4 <= size; i += 4) {
        response.push_back(data[i] | (data[i + 1] << 8) | (data[i + 2] << 16) |
                           (static_cast<uint32_t>(data[i + 3]) << 24));
    }
    auto fake = std::make_shared<testing::FakeDoeConfig>(
        [&response](const std::vector<uint32_t>&) { return response; });
    fake->sticky_status = (data[0] & 1 ? 0x1u : 0) | (data[0] & 2 ? 0x4u : 0);
    fake->abort_clears_sticky = (data[0] & 4) == 0;

    boost::asio::io_context io;
    doe::DoeTimeouts timeouts;
    timeouts.busy = timeouts.response = timeouts.abort = std::chrono::milliseconds(0);
    auto mb = doe::DoeMailbox::create("fake", io.get_executor(), fake, testing::FakeDoeConfig::kDoe,
                                      timeouts);
    if (!mb.ok()) {
        __builtin_trap();
    }
    doe::DoeRequest request{doe::kProtocolDiscovery, {0}, data[1]};
    int calls = 0;
    std::optional<Result<doe::DoeResponse>> out;
    (*mb)->async_exchange(request, {}, [&](Result<doe::DoeResponse> r) {
        ++calls;
        out.emplace(std::move(r));
    });
    io.run();
    if (calls != 1 || (*mb)->in_flight()) {
        __builtin_trap();
    }
    if (out->ok()) {
        // Only a response that fits the buffer, matches the protocol and was served whole.
        if ((*out)->payload.size() + 2 > request.max_response_dwords ||
            (*out)->payload.size() + 2 > response.size() || response.empty() ||
            (response[0] & 0xFFFFFF) != 0x000001) {
            __builtin_trap();
        }
    } else if (out->error().message.empty()) {
        __builtin_trap();
    }
    return 0;
}
