// What a firmware update costs everyone else on the device (issue 14; docs/BENCHMARKS.md
// "Background operations"), through a real cxlmgrd over D-Bus, each figure beside its baseline
// from the same run:
//   1. Device.Identify p99 on a device whose Transfer FW parts run in the background for
//      --part-us (2 ms), while a --image-mib (64 MiB) update runs, against Identify p99 idle;
//   2. InjectEvent -> Event signal p99 on that device (subscribed) during the update, against
//      the same idle;
//   3. Job.Cancel -> Finished(cancelled) in the middle of a 2 s part on a device with Request
//      Abort Background Operation, against a device without it (which must wait the part out);
//   4. the update's throughput (compare the same line of another build, same timing).
// It starts its own private dbus-daemon and the cxlmgrd of this build with three emulated
// devices. Usage: background_bench [--image-mib N] [--part-us U] [--cancels K] [--events 0|1]
// (0: no events during the update, so Identify is measured beside the update alone). A benchmark:
// it prints figures and exits 0 unless it cannot run.
#include <sdbus-c++/sdbus-c++.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <future>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "bench/bench_options.hpp"
#include "bench/events_bench_clients.hpp"
#include "bench/percentiles.hpp"
#include "emu/firmware_image.hpp"
#include "harness/daemon_harness.hpp"

namespace {

using namespace cxlmgr::testing;
using cxlmgr::bench::Clock;
using cxlmgr::bench::EventSubscriber;
using cxlmgr::bench::Injector;
using cxlmgr::bench::Percentiles;
using cxlmgr::bench::percentiles;

constexpr const char* kService = "org.cxlmgr1";
constexpr const char* kFirmware = "org.cxlmgr1.Firmware";
constexpr const char* kJob = "org.cxlmgr1.Job";

struct Options {
    uint64_t image_mib = 64;
    uint64_t part_us = 2000;
    int cancels = 5;
    bool events = true;  // inject events during the update (figure 2) besides Identify
};

void row(const char* name, const Percentiles& s, const char* unit) {
    std::printf("%-46s n %6zu  min %9.1f  p50 %9.1f  p99 %9.1f  max %9.1f %s\n", name, s.n, s.min,
                s.p50, s.p99, s.max, unit);
}

double ms_between(Clock::time_point a, Clock::time_point b) {
    return std::chrono::duration<double, std::milli>(b - a).count();
}

std::string device_path(const std::string& name) {
    return "/org/cxlmgr1/devices/" + name;
}

// The image as a file the daemon can read (world-readable: cxlmgrd runs as this user anyway).
std::filesystem::path write_image(const std::filesystem::path& dir, uint64_t mib) {
    const cxlmgr::emu::PatternFirmwareImage image("BENCH FW 2", (mib << 20) - 128);
    const auto path = dir / ("image-" + std::to_string(mib) + ".bin");
    FILE* f = std::fopen(path.c_str(), "wb");
    if (f == nullptr) {
        throw std::runtime_error("cannot write " + path.string());
    }
    std::vector<uint8_t> piece(1 << 20);
    for (uint64_t off = 0; off < image.size(); off += piece.size()) {
        const size_t n = static_cast<size_t>(std::min<uint64_t>(piece.size(), image.size() - off));
        image.read(off, std::span<uint8_t>(piece.data(), n));
        if (std::fwrite(piece.data(), 1, n, f) != n) {
            std::fclose(f);
            throw std::runtime_error("cannot write " + path.string());
        }
    }
    std::fclose(f);
    return path;
}

// One firmware job followed by its Finished signal, on a connection of its own.
class FollowedJob {
public:
    FollowedJob(const std::string& bus, const std::string& device,
                const std::filesystem::path& image)
        : conn_(sdbus::createSessionBusConnectionWithAddress(bus)) {
        auto firmware = sdbus::createProxy(*conn_, kService, device_path(device));
        sdbus::ObjectPath job;
        firmware->callMethod("StartUpdate")
            .onInterface(kFirmware)
            .withArguments(image.string(), uint8_t{0}, std::map<std::string, sdbus::Variant>{})
            .storeResultsTo(job);
        started_ = Clock::now();
        job_ = sdbus::createProxy(*conn_, kService, job);
        job_->uponSignal("Finished")
            .onInterface(kJob)
            .call([this](const std::string& state, const std::string& error) {
                finished_.set_value({Clock::now(), state + (error.empty() ? "" : ": " + error)});
            });
        job_->finishRegistration();
        conn_->enterEventLoopAsync();
        outcome_ = finished_.get_future();
    }
    ~FollowedJob() { conn_->leaveEventLoop(); }

    void cancel() { job_->callMethod("Cancel").onInterface(kJob); }
    // A job that finished before the match was in place is seen through its State property.
    std::pair<Clock::time_point, std::string> wait(std::chrono::seconds timeout) {
        if (outcome_.wait_for(timeout) == std::future_status::ready) {
            return outcome_.get();
        }
        const auto state = job_->getProperty("State").onInterface(kJob).get<std::string>();
        throw std::runtime_error("the job did not finish within " +
                                 std::to_string(timeout.count()) + " s (State " + state + ")");
    }
    [[nodiscard]] bool done() const {
        return outcome_.wait_for(std::chrono::seconds(0)) == std::future_status::ready;
    }
    [[nodiscard]] Clock::time_point started() const { return started_; }

private:
    std::unique_ptr<sdbus::IConnection> conn_;
    std::unique_ptr<sdbus::IProxy> job_;
    std::promise<std::pair<Clock::time_point, std::string>> finished_;
    std::future<std::pair<Clock::time_point, std::string>> outcome_;
    Clock::time_point started_;
};

// Identify on `device` back to back until `stop`, each call timed (µs).
std::vector<double> identify_until(const std::string& bus, const std::string& device,
                                   const std::function<bool(size_t)>& stop) {
    auto conn = sdbus::createSessionBusConnectionWithAddress(bus);
    auto proxy = sdbus::createProxy(*conn, kService, device_path(device));
    std::vector<double> us;
    while (!stop(us.size())) {
        std::map<std::string, sdbus::Variant> r;
        const auto t0 = Clock::now();
        proxy->callMethod("Identify").onInterface("org.cxlmgr1.Device").storeResultsTo(r);
        us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
    }
    return us;
}

// Injects events with ids [first, first + count) every `gap`, stopping early when `stop` says
// so; returns injection -> signal latencies (ms) of those that arrived.
std::vector<double> event_latencies(Injector& injector, EventSubscriber& subscriber, uint64_t first,
                                    uint64_t count, std::chrono::milliseconds gap,
                                    const std::function<bool()>& stop) {
    const size_t before = subscriber.arrivals().size();
    uint64_t sent = 0;
    for (; sent < count && !stop(); ++sent) {
        injector.inject(first + sent);
        std::this_thread::sleep_for(gap);
    }
    subscriber.arrivals().wait_for(before + sent, std::chrono::milliseconds(2000));
    std::vector<double> ms;
    for (const auto& a : subscriber.arrivals().since(before)) {
        auto it = injector.sent.find(a.id);
        if (!a.overflow && it != injector.sent.end() && a.id >= first && a.id < first + sent) {
            ms.push_back(ms_between(it->second, a.at));
        }
    }
    if (ms.size() != sent) {
        std::printf("  NOTE: %zu of %llu injected events signalled\n", ms.size(),
                    static_cast<unsigned long long>(sent));
    }
    return ms;
}

std::vector<double> cancel_times(const std::string& bus, const std::string& device,
                                 const std::filesystem::path& image, int count) {
    std::vector<double> ms;
    for (int i = 0; i < count; ++i) {
        FollowedJob job(bus, device, image);
        // Well inside the first 2 s part, a different point each time.
        std::this_thread::sleep_for(std::chrono::milliseconds(400 + 200 * (i % 5)));
        const auto t0 = Clock::now();
        job.cancel();
        const auto [at, state] = job.wait(std::chrono::seconds(30));
        if (state != "cancelled") {
            throw std::runtime_error(device + ": the cancelled job ended " + state);
        }
        ms.push_back(ms_between(t0, at));
    }
    return ms;
}

int run(const Options& o) {
    TempDir dir("cxlmgr-bg-bench");
    TestBus bus(dir.path());
    const nlohmann::json two_seconds = {{"fw_transfer_us_per_kib", 0},
                                        {"background_us", {{"transfer-fw", 2000000}}}};
    const nlohmann::json config = {
        {"devices",
         {{{"name", "fast0"},
           {"backend", "emulated"},
           {"timing", {{"background_us", {{"transfer-fw", o.part_us}}}}}},
          {{"name", "slow0"}, {"backend", "emulated"}, {"timing", two_seconds}},
          {{"name", "slow1"},
           {"backend", "emulated"},
           {"timing", two_seconds},
           {"mailbox", {{"abort_background", false}}}}}}};
    DaemonOptions options = DaemonOptions::configured(config.dump());
    options.log_level = "warning";
    DaemonProcess daemon(bus.address(), dir.path(), options);
    const auto image = write_image(dir.path(), o.image_mib);
    const auto small = write_image(dir.path(), 1);

    std::printf(
        "background_bench: private dbus-daemon, cxlmgrd with fast0 (Transfer FW parts +%llu us "
        "in the background), slow0 (2 s parts, Request Abort Background Operation) and slow1 (2 s "
        "parts, no 0x0005)\n",
        static_cast<unsigned long long>(o.part_us));

    EventSubscriber subscriber(bus.address(), device_path("fast0"));
    subscriber.subscribe();
    Injector injector(bus.address(), device_path("fast0"));
    const auto gap = std::chrono::milliseconds(20);

    // Idle baselines.
    identify_until(bus.address(), "fast0", [](size_t n) { return n >= 200; });  // warm-up
    const auto idle_identify =
        identify_until(bus.address(), "fast0", [](size_t n) { return n >= 3000; });
    const auto idle_events =
        event_latencies(injector, subscriber, 1, 300, gap, [] { return false; });

    // The update, with Identify and events beside it.
    FollowedJob update(bus.address(), "fast0", image);
    std::atomic<bool> over{false};
    std::thread events_thread;
    std::vector<double> busy_events;
    events_thread = std::thread([&] {
        if (!o.events) {
            return;
        }
        busy_events = event_latencies(injector, subscriber, 100000, 1000000, gap,
                                      [&] { return over.load(); });
    });
    const auto busy_identify = identify_until(
        bus.address(), "fast0", [&](size_t n) { return n % 64 == 0 && update.done(); });
    over = true;
    events_thread.join();
    const auto [finished_at, update_state] = update.wait(std::chrono::seconds(600));
    const double seconds = ms_between(update.started(), finished_at) / 1000.0;

    std::printf("image %llu MiB; update ended %s in %.2f s: %.2f MiB/s\n",
                static_cast<unsigned long long>(o.image_mib), update_state.c_str(), seconds,
                static_cast<double>(o.image_mib) / seconds);
    const Percentiles ii = percentiles(idle_identify), bi = percentiles(busy_identify);
    row("Identify fast0 idle (us)", ii, "");
    row("Identify fast0 during the update (us)", bi, "");
    std::printf("  ratio p99 during / idle: %.2f\n", bi.p99 / ii.p99);
    const Percentiles ie = percentiles(idle_events), be = percentiles(busy_events);
    row("InjectEvent -> Event fast0 idle (ms)", ie, "");
    row("InjectEvent -> Event fast0 during the update (ms)", be, "");

    const Percentiles ca = percentiles(cancel_times(bus.address(), "slow0", small, o.cancels));
    const Percentiles cw = percentiles(cancel_times(bus.address(), "slow1", small, o.cancels));
    row("Cancel -> Finished(cancelled), 0x0005 (ms)", ca, "");
    row("Cancel -> Finished(cancelled), no 0x0005 (ms)", cw, "");

    auto status = daemon.terminate(30s);
    if (!status || *status != 0) {
        std::fprintf(stderr, "cxlmgrd did not exit cleanly; log:\n%s\n", daemon.log().c_str());
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    Options o;
    if (!cxlmgr::bench::parse_numeric_options(
            argc, argv,
            {{"--image-mib", 1, 64, [&](double v) { o.image_mib = static_cast<uint64_t>(v); }},
             {"--part-us", 0, 1000000, [&](double v) { o.part_us = static_cast<uint64_t>(v); }},
             {"--cancels", 1, 100, [&](double v) { o.cancels = static_cast<int>(v); }},
             {"--events", 0, 1, [&](double v) { o.events = v != 0; }}},
            "background_bench [--image-mib 1..64] [--part-us 0..1000000] [--cancels 1..100] "
            "[--events 0|1]")) {
        return 2;
    }
    try {
        return run(o);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "background_bench: %s\n", e.what());
        return 1;
    }
}
