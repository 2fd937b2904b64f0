// Firmware update through the daemon's job engine (issue 6), in process against an emulated
// device with the default timing: a 64 MiB image streamed from a file through the arbiter
// (Bulk chunks inside a "firmware" session) while Identify calls on the same device keep
// coming. Prints:
//   - Identify latency (p50, p99, max) idle, then during the update;
//   - the throughput of an update alone, then of one with Identify beside it, next to a memcpy
//     of the same 64 MiB (same run).
// The emulated device's own work (CRC of the streamed image, its background-operation delay of
// 2 us per KiB) is part of the update time: it is what the host waits for.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <future>
#include <vector>

#include "bench/percentiles.hpp"
#include "daemon/firmware_job.hpp"
#include "emu/firmware_image.hpp"
#include "emu/type3_device.hpp"

namespace {

using namespace cxlmgr;
using namespace cxlmgr::daemon;
using BenchClock = std::chrono::steady_clock;

// The image is then exactly 64 MiB, the emulated device's default largest image.
constexpr uint64_t kPayload = (64ull << 20) - 128;

double us_since(BenchClock::time_point t0) {
    return std::chrono::duration<double, std::micro>(BenchClock::now() - t0).count();
}

double identify_once(ManagedDevice& device) {
    std::promise<bool> p;
    auto t0 = BenchClock::now();
    device.identify([&](Result<IdentifyInfo> r) { p.set_value(r.ok()); });
    if (!p.get_future().get()) {
        std::fprintf(stderr, "Identify failed\n");
        std::exit(1);
    }
    return us_since(t0);
}

}  // namespace

int main() {
    Arbiter arbiter(2);
    DeviceSpec spec;
    spec.emulated = emu::default_device_description("bench0");
    auto opened = open_device(spec);
    if (!opened.ok()) {
        std::fprintf(stderr, "%s\n", opened.error().describe().c_str());
        return 1;
    }
    std::promise<Result<std::shared_ptr<ManagedDevice>>> op;
    ManagedDevice::async_open(arbiter, std::move(opened).value(), {},
                              [&](Result<std::shared_ptr<ManagedDevice>> r) { op.set_value(r); });
    auto device = op.get_future().get();
    if (!device.ok()) {
        std::fprintf(stderr, "%s\n", device.error().describe().c_str());
        return 1;
    }

    // The image file, written in pieces.
    char path[] = "/tmp/cxlmgr-fwbench-XXXXXX";
    int tmp = ::mkstemp(path);
    emu::PatternFirmwareImage image("BENCH FW 1", kPayload);
    {
        std::vector<uint8_t> piece(1 << 20);
        for (uint64_t off = 0; off < image.size(); off += piece.size()) {
            size_t n = static_cast<size_t>(std::min<uint64_t>(piece.size(), image.size() - off));
            image.read(off, std::span<uint8_t>(piece.data(), n));
            if (::write(tmp, piece.data(), n) != static_cast<ssize_t>(n)) {
                std::perror("write");
                return 1;
            }
        }
        ::close(tmp);
    }

    // memcpy baseline of the same size (best of 5).
    std::vector<uint8_t> a(image.size(), 1), b(image.size());
    double memcpy_us = 1e30;
    for (int i = 0; i < 5; ++i) {
        auto t0 = BenchClock::now();
        std::memcpy(b.data(), a.data(), a.size());
        memcpy_us = std::min(memcpy_us, us_since(t0));
    }
    volatile uint8_t sink = b[b.size() / 2];
    (void)sink;

    std::vector<double> idle;
    for (int i = 0; i < 3000; ++i) {
        idle.push_back(identify_once(**device));
    }

    // One update of the image; with_identify: Identify back to back beside it, into `busy`.
    // Returns the update's time in µs, or a negative value after printing why it failed.
    auto run_update = [&](bool with_identify, std::vector<double>& busy) -> double {
        auto fd = open_image_path(path);
        if (!fd.ok()) {
            std::fprintf(stderr, "%s\n", fd.error().describe().c_str());
            return -1;
        }
        auto source =
            ImageSource::from_fd(std::move(fd).value(), (*device)->mailbox_executor(), {});
        auto job = FirmwareJob::create(*device, *source, {});
        std::promise<JobStatus> done;
        std::atomic<bool> running{true};
        auto t0 = BenchClock::now();
        job->start({}, [&](const JobStatus& s) {
            running = false;
            done.set_value(s);
        });
        while (with_identify && running) {
            busy.push_back(identify_once(**device));
        }
        auto final_status = done.get_future().get();
        const double us = us_since(t0);
        if (final_status.state != JobState::Completed) {
            std::fprintf(stderr, "update %s: %s\n",
                         std::string(job_state_name(final_status.state)).c_str(),
                         final_status.error.c_str());
            return -1;
        }
        return us;
    };
    // The update alone first: its throughput is the device path's, without the CPU that a
    // caller hammering Identify takes from this 2-thread pool.
    std::vector<double> none, busy;
    const double alone_us = run_update(false, none);
    const double update_us = alone_us < 0 ? -1 : run_update(true, busy);
    ::unlink(path);
    if (update_us < 0) {
        return 1;
    }
    auto si = bench::percentiles(idle);
    auto sb = bench::percentiles(busy);
    double mib = static_cast<double>(image.size()) / (1 << 20);
    std::printf("image: %.1f MiB, payload %u bytes\n", mib, (*device)->properties().payload_size);
    std::printf("Identify idle:          n=%zu p50=%.1f us p99=%.1f us max=%.1f us\n", si.n, si.p50,
                si.p99, si.max);
    std::printf("Identify during update: n=%zu p50=%.1f us p99=%.1f us max=%.1f us\n", sb.n, sb.p50,
                sb.p99, sb.max);
    std::printf("update alone: %.2f s, %.1f MiB/s\n", alone_us / 1e6, mib / (alone_us / 1e6));
    std::printf(
        "update: %.2f s, %.1f MiB/s; memcpy of the image: %.2f ms, %.0f MiB/s; ratio %.0fx\n",
        update_us / 1e6, mib / (update_us / 1e6), memcpy_us / 1e3, mib / (memcpy_us / 1e6),
        update_us / memcpy_us);
    std::promise<void> drained;
    (*device)->close([&] { drained.set_value(); });
    drained.get_future().wait();
    arbiter.shutdown();
    return 0;
}
