// Mailbox transport figures against the emulated device with zero device delay, each next to a
// baseline taken in the same run (docs/BENCHMARKS.md):
//   - Identify commands per second through the transport (and decoded), next to one bare
//     register read through the same MMIO path (the floor of any command);
//   - a 64 MiB firmware image streamed with Transfer FW initiate/continue.../end in
//     payload-sized parts, next to a memcpy of the same 64 MiB (counter x_memcpy = ratio) and
//     next to the bare 64-bit MMIO stores of the same bytes into the payload area
//     (x_mmio_floor: what the protocol adds over the emulated device's per-access cost).
// The device side (the emulator's CRC over the streamed image, its register model) is part of
// the measured time: it is what the host waits for.
#include <benchmark/benchmark.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstring>
#include <optional>
#include <stdexcept>

#include "cxl/commands/firmware.hpp"
#include "cxl/commands/identify.hpp"
#include "cxl/mailbox.hpp"
#include "emu/firmware_image.hpp"
#include "emu/type3_device.hpp"
#include "pci/emulated_device.hpp"

namespace {

using namespace cxlmgr;
using Clock = std::chrono::steady_clock;

constexpr uint64_t kImagePayload = 64ull << 20;

struct Bench {
    boost::asio::io_context io;
    std::shared_ptr<emu::Type3Device> model;
    std::shared_ptr<pci::EmulatedDevice> device;
    std::shared_ptr<cxl::Mailbox> mailbox;

    explicit Bench(uint32_t payload_size) {
        nlohmann::json d = {{"name", "bench0"},
                            {"payload_size", payload_size},
                            {"firmware", {{"max_image_size", 2 * kImagePayload}}},
                            {"timing", {{"mailbox_latency_us", 0}, {"fw_transfer_us_per_kib", 0}}}};
        auto desc = emu::parse_device_description(d);
        if (!desc.ok()) {
            throw std::runtime_error(desc.error().describe());
        }
        model = emu::Type3Device::create(std::move(*desc)).value();
        device = std::make_shared<pci::EmulatedDevice>(model);
        mailbox = cxl::Mailbox::open(io.get_executor(), device).value();
    }

    Result<cxl::MailboxResponse> run(cxl::MailboxRequest request) {
        std::optional<Result<cxl::MailboxResponse>> out;
        mailbox->async_command(std::move(request), {},
                               [&](Result<cxl::MailboxResponse> r) { out = std::move(r); });
        io.restart();
        io.run();
        return std::move(*out);
    }
};

void BM_RegisterRead(benchmark::State& state) {
    Bench b(2048);
    pci::MmioRegion& bar = *b.mailbox->registers().bar;
    const uint64_t control = b.mailbox->registers().mailbox.offset + cxl::mbox_reg::kControl;
    for (auto _ : state) {
        benchmark::DoNotOptimize(bar.read32(control));
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RegisterRead);

void BM_IdentifyTransport(benchmark::State& state) {
    Bench b(2048);
    for (auto _ : state) {
        auto r = b.run(cxl::identify_memory_device().request);
        if (!r.ok() || r->return_code != 0) {
            state.SkipWithError("Identify failed");
            break;
        }
        benchmark::DoNotOptimize(r->output.data());
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_IdentifyTransport);

void BM_IdentifyDecoded(benchmark::State& state) {
    Bench b(2048);
    for (auto _ : state) {
        auto r = b.run(cxl::identify_memory_device().request);
        auto id = r.ok() ? cxl::parse(cxl::identify_memory_device(), *r)
                         : Result<cxl::IdentifyInfo>(r.error());
        if (!id.ok()) {
            state.SkipWithError(id.error().describe().c_str());
            break;
        }
        benchmark::DoNotOptimize(id->total_capacity);
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_IdentifyDecoded);

Status transfer(Bench& b, cxl::ByteSpan image, uint8_t slot) {
    const uint32_t payload = b.mailbox->payload_size();
    const uint64_t chunk = cxl::transfer_fw_max_data(payload);
    for (uint64_t offset = 0; offset < image.size(); offset += chunk) {
        const uint64_t n = std::min<uint64_t>(chunk, image.size() - offset);
        const bool last = offset + n == image.size();
        cxl::TransferFwPart part{offset == 0 ? cxl::TransferAction::Initiate
                                 : last      ? cxl::TransferAction::End
                                             : cxl::TransferAction::Continue,
                                 static_cast<uint8_t>(last ? slot : 0), offset,
                                 image.subspan(offset, n)};
        CXLMGR_ASSIGN(auto command, cxl::transfer_fw(part, payload));
        CXLMGR_ASSIGN(auto response, b.run(command.request));
        CXLMGR_CHECK(cxl::parse(command, response));
    }
    return ok_status();
}

double memcpy_seconds(const std::vector<uint8_t>& image, std::vector<uint8_t>& dst) {
    double best = 1e9;
    for (int i = 0; i < 3; ++i) {
        auto t0 = Clock::now();
        std::memcpy(dst.data(), image.data(), image.size());
        benchmark::ClobberMemory();
        best = std::min(best, std::chrono::duration<double>(Clock::now() - t0).count());
    }
    return best;
}

// The same 64-bit stores a transfer makes into the payload area, without commands: how much of
// the transfer time is the emulated device's per-access cost rather than the protocol.
double mmio_floor_seconds(Bench& b, const std::vector<uint8_t>& image) {
    pci::MmioRegion& bar = *b.mailbox->registers().bar;
    const uint64_t data_at = b.mailbox->registers().mailbox.offset + cxl::mbox_reg::kPayload +
                             cxl::kTransferFwHeaderSize;
    const uint64_t chunk = cxl::transfer_fw_max_data(b.mailbox->payload_size());
    auto t0 = Clock::now();
    for (uint64_t offset = 0; offset < image.size(); offset += chunk) {
        const uint64_t n = std::min<uint64_t>(chunk, image.size() - offset);
        for (uint64_t i = 0; i + 8 <= n; i += 8) {
            bar.write64(data_at + i, cxl::load_le(image, offset + i, 8));
        }
    }
    return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Arg: mailbox payload size in bytes.
void BM_FirmwareTransfer64MiB(benchmark::State& state) {
    Bench b(static_cast<uint32_t>(state.range(0)));
    const emu::PatternFirmwareImage pattern("BENCH FW 2.0", kImagePayload, 7);
    std::vector<uint8_t> image(pattern.size());
    pattern.read(0, image);
    std::vector<uint8_t> dst(image.size());
    const double memcpy_s = memcpy_seconds(image, dst);
    const double floor_s = mmio_floor_seconds(b, image);
    double transfer_s = 0;
    for (auto _ : state) {
        auto t0 = Clock::now();
        Status s = transfer(b, image, 2);
        transfer_s += std::chrono::duration<double>(Clock::now() - t0).count();
        if (!s.ok()) {
            state.SkipWithError(s.error().describe().c_str());
            break;
        }
    }
    const double per_iteration = transfer_s / static_cast<double>(state.iterations());
    const uint64_t parts =
        (image.size() + cxl::transfer_fw_max_data(b.mailbox->payload_size()) - 1) /
        cxl::transfer_fw_max_data(b.mailbox->payload_size());
    state.SetBytesProcessed(static_cast<int64_t>(image.size()) * state.iterations());
    state.counters["parts"] = static_cast<double>(parts);
    state.counters["transfer_ms"] = per_iteration * 1e3;
    state.counters["memcpy_ms"] = memcpy_s * 1e3;
    state.counters["x_memcpy"] = per_iteration / memcpy_s;
    state.counters["mmio_floor_ms"] = floor_s * 1e3;
    state.counters["x_mmio_floor"] = per_iteration / floor_s;
}
BENCHMARK(BM_FirmwareTransfer64MiB)
    ->Arg(2048)
    ->Arg(1 << 20)
    ->Unit(benchmark::kMillisecond)
    ->Iterations(3);

}  // namespace

BENCHMARK_MAIN();
