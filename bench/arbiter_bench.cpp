// What the arbitration engine costs per transaction: an Identify (0x4000) to the emulated device
// with zero device latency, through cxl::Mailbox alone (the baseline) and through a
// daemon::Channel in front of the same mailbox, each in the same run (docs/BENCHMARKS.md):
//   BM_Transport          cxl::Mailbox on an io_context run by the benchmark thread;
//   BM_ChannelSameThread  Channel + Mailbox on that same io_context: the arbiter's own
//                         bookkeeping (queue, priority pick, counters, the extra posts);
//   BM_ArbiterPool        a channel of a daemon::Arbiter (strand on its 2-thread pool, as
//                         cxlmgrd runs it), the caller waiting for each answer: adds the
//                         hand-off between threads a D-Bus caller pays too.
// Counter x_transport = time per transaction / BM_Transport's (measured once, same process).
#include <benchmark/benchmark.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <future>
#include <optional>
#include <stdexcept>

#include "cxl/commands/identify.hpp"
#include "cxl/mailbox.hpp"
#include "daemon/arbiter.hpp"
#include "daemon/channel.hpp"
#include "emu/type3_device.hpp"
#include "pci/emulated_device.hpp"

namespace {

using namespace cxlmgr;
using Clock = std::chrono::steady_clock;

std::shared_ptr<pci::EmulatedDevice> make_device() {
    auto desc = emu::parse_device_description(
        {{"name", "bench0"}, {"timing", {{"mailbox_latency_us", 0}}}});
    if (!desc.ok()) {
        throw std::runtime_error(desc.error().describe());
    }
    return std::make_shared<pci::EmulatedDevice>(emu::Type3Device::create(*desc).value());
}

std::shared_ptr<cxl::Mailbox> open_mailbox(boost::asio::any_io_executor ex,
                                           std::shared_ptr<pci::EmulatedDevice> device) {
    auto mb = cxl::Mailbox::open(std::move(ex), std::move(device));
    if (!mb.ok()) {
        throw std::runtime_error(mb.error().describe());
    }
    return *mb;
}

// The transaction as ManagedDevice submits it: the mailbox command is the channel's op.
void submit_identify(daemon::Channel& channel, const std::shared_ptr<cxl::Mailbox>& mailbox,
                     std::function<void(Result<cxl::MailboxResponse>)> done) {
    daemon::TransactionOptions options;
    options.description = "Identify";
    channel.submit<cxl::MailboxResponse>(
        std::move(options),
        [mailbox](CancelToken cancel, std::function<void(Result<cxl::MailboxResponse>)> deliver) {
            mailbox->async_command(cxl::identify_memory_device().request, std::move(cancel),
                                   std::move(deliver));
        },
        std::move(done));
}

bool answered(const std::optional<Result<cxl::MailboxResponse>>& r) {
    return r && r->ok() && (*r)->return_code == 0 && (*r)->output.size() >= 0x43;
}

double transport_ns_per_op(int n) {
    boost::asio::io_context io;
    auto mailbox = open_mailbox(io.get_executor(), make_device());
    auto t0 = Clock::now();
    for (int i = 0; i < n; ++i) {
        std::optional<Result<cxl::MailboxResponse>> out;
        mailbox->async_command(cxl::identify_memory_device().request, {},
                               [&](Result<cxl::MailboxResponse> r) { out = std::move(r); });
        io.restart();
        io.run();
        if (!answered(out)) {
            throw std::runtime_error("Identify failed");
        }
    }
    return std::chrono::duration<double, std::nano>(Clock::now() - t0).count() / n;
}

// The baseline, measured once for every benchmark of this run (best of 3 to shed noise).
double baseline_ns() {
    static const double ns = [] {
        double best = 1e18;
        for (int i = 0; i < 3; ++i) {
            best = std::min(best, transport_ns_per_op(20000));
        }
        return best;
    }();
    return ns;
}

void report(benchmark::State& state, double total_ns) {
    const double per = total_ns / static_cast<double>(state.iterations());
    state.counters["ns_per_txn"] = per;
    state.counters["transport_ns"] = baseline_ns();
    state.counters["x_transport"] = per / baseline_ns();
    state.SetItemsProcessed(state.iterations());
}

void BM_Transport(benchmark::State& state) {
    boost::asio::io_context io;
    auto mailbox = open_mailbox(io.get_executor(), make_device());
    auto t0 = Clock::now();
    for (auto _ : state) {
        std::optional<Result<cxl::MailboxResponse>> out;
        mailbox->async_command(cxl::identify_memory_device().request, {},
                               [&](Result<cxl::MailboxResponse> r) { out = std::move(r); });
        io.restart();
        io.run();
        if (!answered(out)) {
            state.SkipWithError("Identify failed");
            break;
        }
    }
    report(state, std::chrono::duration<double, std::nano>(Clock::now() - t0).count());
}
BENCHMARK(BM_Transport);

void BM_ChannelSameThread(benchmark::State& state) {
    boost::asio::io_context io;
    auto mailbox = open_mailbox(io.get_executor(), make_device());
    auto channel = daemon::Channel::create("bench0/mailbox", io.get_executor());
    auto t0 = Clock::now();
    for (auto _ : state) {
        std::optional<Result<cxl::MailboxResponse>> out;
        submit_identify(*channel, mailbox,
                        [&](Result<cxl::MailboxResponse> r) { out = std::move(r); });
        io.restart();
        io.run();
        if (!answered(out)) {
            state.SkipWithError("Identify through the channel failed");
            break;
        }
    }
    report(state, std::chrono::duration<double, std::nano>(Clock::now() - t0).count());
    channel->close(Error(Errc::DeviceGone, "benchmark done"));
    io.restart();
    io.run();
}
BENCHMARK(BM_ChannelSameThread);

void BM_ArbiterPool(benchmark::State& state) {
    daemon::Arbiter arbiter(2);
    auto channel = arbiter.create_channel("bench0/mailbox").value();
    auto mailbox = open_mailbox(channel->executor(), make_device());
    auto t0 = Clock::now();
    for (auto _ : state) {
        std::promise<Result<cxl::MailboxResponse>> p;
        submit_identify(*channel, mailbox,
                        [&](Result<cxl::MailboxResponse> r) { p.set_value(std::move(r)); });
        std::optional<Result<cxl::MailboxResponse>> out(p.get_future().get());
        if (!answered(out)) {
            state.SkipWithError("Identify through the arbiter failed");
            break;
        }
    }
    report(state, std::chrono::duration<double, std::nano>(Clock::now() - t0).count());
    arbiter.shutdown();
}
BENCHMARK(BM_ArbiterPool)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
