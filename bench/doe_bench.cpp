// DOE transport and CDAT read costs on the emulated device with zero device delay, so the figures
// are the transport's own (config accesses, state machine, Asio scheduling), not a device's.
// Per docs/BENCHMARKS.md the CDAT read is shown beside its floor measured in the same run:
// one DOE exchange per entry (the same Table Access requests, without assembly or parsing).
#include <benchmark/benchmark.h>

#include <boost/asio/io_context.hpp>
#include <chrono>

#include "common/log.hpp"
#include "doe/cdat.hpp"
#include "doe/cdat_reader.hpp"
#include "doe/doe_mailbox.hpp"
#include "emu/type3_device.hpp"
#include "pci/emulated_device.hpp"

namespace {

using namespace cxlmgr;
using Clock = std::chrono::steady_clock;

class CountingConfig : public pci::ConfigSpace {
public:
    explicit CountingConfig(std::shared_ptr<pci::ConfigSpace> inner) : inner_(std::move(inner)) {}
    uint64_t reads = 0;
    uint64_t writes = 0;
    [[nodiscard]] uint32_t size() const override { return inner_->size(); }
    [[nodiscard]] const pci::DeviceIdentity& identity() const override {
        return inner_->identity();
    }

protected:
    Result<uint32_t> do_read(uint32_t offset, unsigned width) override {
        ++reads;
        if (width == 4)
            return inner_->read32(offset);
        if (width == 2) {
            CXLMGR_ASSIGN(uint16_t v, inner_->read16(offset));
            return v;
        }
        CXLMGR_ASSIGN(uint8_t v, inner_->read8(offset));
        return v;
    }
    Status do_write(uint32_t offset, unsigned width, uint32_t value) override {
        ++writes;
        if (width == 4)
            return inner_->write32(offset, value);
        if (width == 2)
            return inner_->write16(offset, static_cast<uint16_t>(value));
        return inner_->write8(offset, static_cast<uint8_t>(value));
    }

private:
    std::shared_ptr<pci::ConfigSpace> inner_;
};

struct Rig {
    boost::asio::io_context io;
    std::shared_ptr<pci::EmulatedDevice> device;
    std::shared_ptr<CountingConfig> config;
    std::shared_ptr<doe::DoeMailbox> mailbox;
    size_t cdat_entries = 0;  // header included

    Status init() {
        log::set_level(log::Level::Error);
        CXLMGR_ASSIGN(auto model, emu::Type3Device::create(emu::default_device_description("b0")));
        device = std::make_shared<pci::EmulatedDevice>(model);
        config = std::make_shared<CountingConfig>(
            std::shared_ptr<pci::ConfigSpace>(device, &device->config()));
        CXLMGR_ASSIGN(auto offsets, doe::find_doe_capabilities(*config));
        if (offsets.empty()) {
            return Error(Errc::NotFound, "no DOE capability");
        }
        CXLMGR_ASSIGN(mailbox, doe::DoeMailbox::create(device->name(), io.get_executor(), config,
                                                       offsets[0]));
        CXLMGR_ASSIGN(auto raw, read_cdat());
        CXLMGR_ASSIGN(auto table, doe::parse_cdat(raw));
        cdat_entries = table.entries.size() + 1;
        return ok_status();
    }

    template <typename T, typename Start>
    Result<T> run(Start start) {
        Result<T> out = Error(Errc::Internal, "no completion");
        start([&](Result<T> r) { out = std::move(r); });
        io.restart();
        io.run();
        return out;
    }
    Result<doe::DoeResponse> exchange(doe::DoeRequest request) {
        return run<doe::DoeResponse>(
            [&](auto cb) { mailbox->async_exchange(std::move(request), {}, std::move(cb)); });
    }
    Result<std::vector<uint8_t>> read_cdat() {
        return run<std::vector<uint8_t>>(
            [&](auto cb) { doe::async_read_cdat(*mailbox, {}, std::move(cb)); });
    }
    // The floor: the same Table Access exchanges, following the device's handles as the reader
    // does, with no assembly, checks or parsing.
    Status baseline() {
        uint32_t handle = 0;
        while (handle != doe::kCdatEndHandle) {
            auto h = static_cast<uint16_t>(handle);
            CXLMGR_ASSIGN(auto r, exchange({doe::kProtocolCdat, {doe::cdat_read_request(h)}}));
            handle = r.payload.at(0) >> 16;
        }
        return ok_status();
    }
    void reset_counts() { config->reads = config->writes = 0; }
};

// Stops the benchmark with the error; true when it did.
template <typename R>
bool failed(benchmark::State& state, const R& r) {
    if (r.ok()) {
        return false;
    }
    state.SkipWithError(r.error().describe().c_str());
    return true;
}

void per_op_counters(benchmark::State& state, Rig& rig) {
    auto ops = static_cast<double>(state.iterations());
    state.counters["cfg_reads/op"] = static_cast<double>(rig.config->reads) / ops;
    state.counters["cfg_writes/op"] = static_cast<double>(rig.config->writes) / ops;
    state.counters["cfg_accesses/op"] =
        static_cast<double>(rig.config->reads + rig.config->writes) / ops;
}

void BM_DoeExchangeDiscovery(benchmark::State& state) {
    Rig rig;
    if (failed(state, rig.init()))
        return;
    rig.reset_counts();
    for (auto _ : state) {
        auto r = rig.exchange({doe::kProtocolDiscovery, {0}, 3});
        if (failed(state, r))
            return;
    }
    per_op_counters(state, rig);
}
BENCHMARK(BM_DoeExchangeDiscovery);

void BM_DoeExchangeCdatEntry(benchmark::State& state) {
    Rig rig;
    if (failed(state, rig.init()))
        return;
    rig.reset_counts();
    for (auto _ : state) {
        auto r = rig.exchange({doe::kProtocolCdat, {doe::cdat_read_request(1)}});
        if (failed(state, r))
            return;
    }
    per_op_counters(state, rig);
}
BENCHMARK(BM_DoeExchangeCdatEntry);

void BM_CdatReadAndParse(benchmark::State& state) {
    Rig rig;
    if (failed(state, rig.init()))
        return;
    rig.reset_counts();
    for (auto _ : state) {
        auto raw = rig.read_cdat();
        if (failed(state, raw))
            return;
        auto table = doe::parse_cdat(*raw);
        if (failed(state, table))
            return;
    }
    per_op_counters(state, rig);
    state.counters["entries"] = static_cast<double>(rig.cdat_entries);
}
BENCHMARK(BM_CdatReadAndParse);

// The CDAT read and its floor, interleaved in the same loop so machine noise hits both alike.
// Iteration time is the read (with parsing); the counters give the floor and the ratio.
void BM_CdatReadVsBaseline(benchmark::State& state) {
    Rig rig;
    if (failed(state, rig.init()))
        return;
    Clock::duration read_total{}, floor_total{};
    for (auto _ : state) {
        auto t0 = Clock::now();
        auto raw = rig.read_cdat();
        if (failed(state, raw))
            return;
        auto table = doe::parse_cdat(*raw);
        if (failed(state, table))
            return;
        auto t1 = Clock::now();
        if (failed(state, rig.baseline()))
            return;
        auto t2 = Clock::now();
        read_total += t1 - t0;
        floor_total += t2 - t1;
        state.SetIterationTime(std::chrono::duration<double>(t1 - t0).count());
    }
    auto n = static_cast<double>(state.iterations());
    double read_us = std::chrono::duration<double, std::micro>(read_total).count() / n;
    double floor_us = std::chrono::duration<double, std::micro>(floor_total).count() / n;
    state.counters["read_us"] = read_us;
    state.counters["floor_us"] = floor_us;
    state.counters["read/floor"] = read_us / floor_us;
    state.counters["entries"] = static_cast<double>(rig.cdat_entries);
}
BENCHMARK(BM_CdatReadVsBaseline)->UseManualTime();

}  // namespace

BENCHMARK_MAIN();
