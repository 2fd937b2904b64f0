// Events from injection to Event signal through a real cxlmgrd (issue 7; docs/BENCHMARKS.md).
// It starts its own private dbus-daemon and cxlmgrd with two emulated devices: emu0 (the one
// measured, default event logs of 32 records unless --capacity says otherwise) and emu1 (4096
// records, for the unsubscribed InjectEvent baseline). A subscriber on its own connection
// timestamps every Event signal of emu0; each injected event carries its id in `dpa`, so each
// signal is matched to its injection. Everything goes into the informational log, so arrival
// order must be injection order.
//
// Figures, each beside baselines taken in the same run:
//   - latency injection -> signal while subscribed, at a fixed moderate rate (p50/p99/max);
//     baselines: Peer.Ping to cxlmgrd, an InjectEvent round trip on emu1 (nobody subscribed),
//     bare signals of the same signature and fields emitted by this process through the same
//     dbus-daemon at the same rate, and one journal commit of a 15-record page (the durable
//     write the collector makes before each clear) in this process on the same file system;
//   - sustained events per second at increasing offered rates, then as fast as one caller
//     goes, then with calls pipelined; each step checks that every injected event arrived
//     exactly once, in order, with contiguous sequence numbers, and that what the device log
//     dropped (it holds 32 records) is what the overflow records report; baseline: the same
//     count of bare signals emitted as fast as possible (the bus's own ceiling);
//   - the collector's own pace: a log of 4000 records filled while nobody was subscribed,
//     drained from the Subscribe call on;
//   - latency while nobody is subscribed (slow collection), for information;
//   - cxlmgrd's CPU while subscribed and idle against unsubscribed and idle (the fast poll's
//     cost);
//   - at the end, GetEvents must hold exactly the events signalled.
//
// Usage: events_bench [--events N] [--rate R] [--capacity C] [--payload BYTES] (defaults 3000
// per throughput step, 200/s for the latency figure, 32 records per log, 2048-byte payload:
// 15 records per Get Event Records, hence per journal commit). A benchmark: it prints figures and
// exits 0 unless it cannot run; "LOST"/"DUPLICATED"/"OUT OF ORDER" in its output are findings, not
// failures.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "bench/bench_options.hpp"
#include "bench/events_bench_clients.hpp"
#include "bench/events_bench_stats.hpp"
#include "daemon/event_journal.hpp"
#include "harness/daemon_harness.hpp"

namespace {

using namespace cxlmgr::testing;
using namespace cxlmgr::bench;

struct Options {
    uint64_t events = 3000;
    double rate = 200;
    unsigned capacity = 32;
    unsigned payload = 2048;  // the emulated device's mailbox payload: records per Get page
};

// Calls f(i) for i in [0, n) at `rate` per second on an absolute schedule (0: back to back).
template <typename F>
void paced(uint64_t n, double rate, F&& f) {
    const auto start = Clock::now();
    for (uint64_t i = 0; i < n; ++i) {
        if (rate > 0) {
            std::this_thread::sleep_until(
                start + std::chrono::duration_cast<Clock::duration>(
                            std::chrono::duration<double>(static_cast<double>(i) / rate)));
        }
        f(i);
    }
}

class Bench {
public:
    Bench(const Options& options, const std::string& address, pid_t daemon, std::string work_dir)
        : options_(options),
          daemon_(daemon),
          work_dir_(std::move(work_dir)),
          subscriber_(address, "/org/cxlmgr1/devices/emu0"),
          injector_(address, "/org/cxlmgr1/devices/emu0"),
          address_(address) {}

    // Injects ids [next, next + n) with `inject` and measures their arrival.
    template <typename Inject>
    StepResult step(uint64_t n, Inject&& inject) {
        const uint64_t first = next_id_;
        const size_t mark = subscriber_.arrivals().size();
        inject(first, n);
        next_id_ += n;
        subscriber_.arrivals().wait_for(mark + n, 3s);
        std::this_thread::sleep_for(100ms);  // a duplicate would come right after the last
        return analyse(subscriber_.arrivals().since(mark), injector_.sent, first, n, last_seq_);
    }
    StepResult paced_step(uint64_t n, double rate) {
        return step(n, [&](uint64_t first, uint64_t count) {
            paced(count, rate, [&](uint64_t i) { injector_.inject(first + i); });
        });
    }

    void run() {
        subscriber_.subscribe();
        paced_step(200, 0);  // warm-up: connections, journal file, lazy paths
        baselines();
        latency();
        throughput();
        drain();
        unsubscribed();
        cpu();
        journal_check();
    }

private:
    void baselines() {
        std::printf("\nBaselines (same run):\n");
        std::vector<double> ping;
        for (int i = 0; i < 2000; ++i) {
            auto t0 = Clock::now();
            injector_.ping();
            ping.push_back(us(Clock::now() - t0));
        }
        print_latency("Peer.Ping to cxlmgrd (round trip)", percentiles(ping));
        // emu1: nobody subscribed; its log holds 4096, so nothing overflows. Its events are
        // collected at the slow poll and take sequence numbers: wait for all of them, so that
        // emu0's numbers are contiguous again afterwards.
        EventSubscriber emu1(address_, "/org/cxlmgr1/devices/emu1");
        Injector other(address_, "/org/cxlmgr1/devices/emu1");
        std::vector<double> inject;
        for (uint64_t i = 1; i <= 2000; ++i) {
            auto t0 = Clock::now();
            other.inject(i);
            inject.push_back(us(Clock::now() - t0));
        }
        print_latency("InjectEvent round trip (emu1, unsubscribed)", percentiles(inject));
        if (emu1.arrivals().wait_for(2000, 5s) != 2000) {
            std::printf("  (emu1: only %zu of 2000 events signalled)\n", emu1.arrivals().size());
        }
        last_seq_ = 0;
        journal_commit();

        BareSignals bare(address_, subscriber_.last_fields());
        uint64_t last = 0;
        const uint64_t n_latency = std::max<uint64_t>(1000, options_.events / 2);
        paced(n_latency, options_.rate, [&](uint64_t i) { bare.emit(i + 1); });
        bare.flush();
        bare.arrivals().wait_for(n_latency, 3s);
        auto r = analyse(bare.arrivals().since(0), bare.sent, 1, n_latency, last);
        char name[96];
        std::snprintf(name, sizeof name, "bare signal emit -> receive, %.0f/s", options_.rate);
        print_latency(name, r.latency_us);
        if (r.lost != 0) {
            std::printf("  (bare signals lost: %llu)\n", static_cast<unsigned long long>(r.lost));
        }
        const size_t mark = bare.arrivals().size();
        const uint64_t first = n_latency + 1;
        paced(options_.events, 0, [&](uint64_t i) { bare.emit(first + i); });
        bare.flush();
        bare.arrivals().wait_for(mark + options_.events, 3s);
        last = 0;
        bare_ceiling_ =
            analyse(bare.arrivals().since(mark), bare.sent, first, options_.events, last);
        std::printf("bare signals as fast as possible (%llu): %.0f/s emitted, %.0f/s received%s\n",
                    static_cast<unsigned long long>(options_.events), bare_ceiling_.injected_per_s,
                    bare_ceiling_.delivered_per_s, bare_ceiling_.lost != 0 ? " LOST" : "");
    }

    // The durable write the collector makes per page read (15 records at the emulated device's
    // 2 KiB payload), in this process, on the same file system as cxlmgrd's journal.
    void journal_commit() {
        auto journal = cxlmgr::daemon::EventJournal::open(work_dir_ + "/bench-journal.sqlite");
        if (!journal.ok()) {
            std::printf("journal commit baseline not measured: %s\n",
                        journal.error().message.c_str());
            return;
        }
        std::vector<double> commit;
        uint64_t timestamp = 1;
        for (int page = 0; page < 300; ++page) {
            std::vector<cxlmgr::daemon::EventEntry> entries(15);
            for (auto& e : entries) {
                e.kind = "general-media";
                e.handle = 1;
                e.timestamp = timestamp++;
                e.record.assign(128, 0);
            }
            auto t0 = Clock::now();
            auto stored = (*journal)->append("bench", entries);
            commit.push_back(us(Clock::now() - t0));
            if (!stored.ok() || stored->size() != 15) {
                std::printf("journal commit baseline failed\n");
                return;
            }
        }
        print_latency("journal commit of one 15-record page (fsync)", percentiles(commit));
    }

    void latency() {
        const uint64_t n = std::max<uint64_t>(1000, options_.events / 2);
        auto r = paced_step(n, options_.rate);
        std::printf("\nLatency while subscribed, %llu events at %.0f/s:\n",
                    static_cast<unsigned long long>(n), options_.rate);
        print_latency("InjectEvent sent -> Event signal received", r.latency_us);
        std::printf("  %s\n", verdict(r).c_str() + 1);
    }

    void throughput() {
        std::printf("\nThroughput while subscribed, %llu events per step (ms: latency):\n",
                    static_cast<unsigned long long>(options_.events));
        std::printf("%-28s %8s %10s %10s %9s %9s %9s\n", "step", "offered", "injected/s",
                    "signals/s", "p50 ms", "p99 ms", "max ms");
        for (double rate : {500.0, 1000.0, 2000.0, 4000.0}) {
            char name[32];
            std::snprintf(name, sizeof name, "paced %.0f/s", rate);
            print_row(name, rate, paced_step(options_.events, rate));
        }
        print_row("one call at a time", 0, paced_step(options_.events, 0));
        for (unsigned window : {4u, 16u}) {
            auto r = step(options_.events, [&](uint64_t first, uint64_t count) {
                injector_.inject_pipelined(first, count, window);
            });
            char name[32];
            std::snprintf(name, sizeof name, "pipelined, %u in flight", window);
            print_row(name, 0, r);
        }
        std::printf("bare-signal ceiling (same run): %.0f/s\n", bare_ceiling_.delivered_per_s);
    }

    // The collector's own pace, without the injector's: a log filled while nobody is subscribed
    // (emu1, 4096 records) is drained from the moment someone subscribes.
    void drain() {
        EventSubscriber sub(address_, "/org/cxlmgr1/devices/emu1");
        Injector inject(address_, "/org/cxlmgr1/devices/emu1");
        constexpr uint64_t kFirst = 1000000, kCount = 4000;
        inject.inject_pipelined(kFirst, kCount, 16);
        const size_t early = sub.arrivals().size();  // a slow poll may have come meanwhile
        const auto t0 = Clock::now();
        sub.subscribe();
        sub.arrivals().wait_for(kCount, 3s);
        const auto arrivals = sub.arrivals().since(0);
        std::set<uint64_t> ids;
        Clock::time_point last = t0;
        for (const auto& a : arrivals) {
            if (a.id >= kFirst && a.id < kFirst + kCount) {
                ids.insert(a.id);
            }
            last = std::max(last, a.at);
        }
        const size_t late = arrivals.size() - early;
        const double s = std::chrono::duration<double>(last - t0).count();
        std::printf(
            "\nDrain of a filled log (emu1): %zu records signalled after Subscribe in %.1f ms: "
            "%.0f/s (%zu collected by a slow poll before); %s\n",
            late, s * 1000, s > 0 ? static_cast<double>(late) / s : 0.0, early,
            ids.size() == kCount && arrivals.size() == kCount ? "each exactly once"
                                                              : "MISSING OR DUPLICATED");
        sub.unsubscribe();
        last_seq_ = 0;  // emu1's events took the sequence numbers in between
    }

    void unsubscribed() {
        subscriber_.unsubscribe();
        std::this_thread::sleep_for(100ms);
        // Spaced so each event waits for the slow poll on its own.
        auto r = paced_step(12, 1.7);
        std::printf("\nLatency with nobody subscribed (slow collection), 12 events 0.6 s apart:\n");
        print_latency("InjectEvent sent -> Event signal received", r.latency_us);
        std::printf("  %s\n", verdict(r).c_str() + 1);
    }

    void cpu() {
        auto window = [&] {
            const long long before = cpu_ns(daemon_);
            std::this_thread::sleep_for(3s);
            return static_cast<double>(cpu_ns(daemon_) - before) / 1e6;
        };
        const double idle = window();
        subscriber_.subscribe();
        std::this_thread::sleep_for(100ms);
        const double subscribed = window();
        std::printf(
            "\ncxlmgrd CPU over 3 s with no events (2 devices): unsubscribed %.2f ms, "
            "emu0 subscribed %.2f ms (%.3f%% of one core)\n",
            idle, subscribed, subscribed / 30.0);
    }

    void journal_check() {
        using Tuple = sdbus::Struct<uint64_t, std::string, std::string, uint64_t, Fields>;
        std::vector<Tuple> stored;
        auto conn = sdbus::createSessionBusConnectionWithAddress(address_);
        auto proxy = sdbus::createProxy(*conn, "org.cxlmgr1", "/org/cxlmgr1/devices/emu0");
        proxy->callMethod("GetEvents")
            .onInterface("org.cxlmgr1.Events")
            .withArguments(uint64_t{0}, uint32_t{10000000})
            .storeResultsTo(stored);
        std::set<uint64_t> journal, signalled;
        for (const auto& t : stored) {
            journal.insert(std::get<0>(t));
        }
        for (const auto& a : subscriber_.arrivals().since(0)) {
            signalled.insert(a.seq);
        }
        std::printf("\nGetEvents: %zu stored, %zu signalled: %s\n", journal.size(),
                    signalled.size(),
                    journal == signalled ? "the same sequence numbers" : "DIFFERENT");
    }

    const Options options_;
    const pid_t daemon_;
    const std::string work_dir_;
    EventSubscriber subscriber_;
    Injector injector_;
    std::string address_;
    uint64_t next_id_ = 1;
    uint64_t last_seq_ = 0;
    StepResult bare_ceiling_;
};

int run(const Options& options) {
    TempDir dir("cxlmgr-events-bench");
    TestBus bus(dir.path());
    nlohmann::json config = {
        {"devices",
         {{{"backend", "emulated"},
           {"name", "emu0"},
           {"payload_size", options.payload},
           {"events", {{"capacity", options.capacity}}}},
          {{"backend", "emulated"}, {"name", "emu1"}, {"events", {{"capacity", 4096}}}}}}};
    DaemonOptions daemon_options = DaemonOptions::configured(config.dump());
    daemon_options.log_level = "warning";
    DaemonProcess daemon(bus.address(), dir.path(), daemon_options);
    std::printf(
        "events_bench: private dbus-daemon, cxlmgrd with emu0 (measured: event logs of %u "
        "records, %u-byte payload, so %u records per Get) and emu1; state directory %s "
        "(journal: SQLite WAL, synchronous=FULL)\n",
        options.capacity, options.payload, std::min(options.capacity, (options.payload - 32) / 128),
        dir.path().c_str());
    {
        Bench bench(options, bus.address(), daemon.pid(), dir.path().string());
        bench.run();
    }
    auto status = daemon.terminate(10s);
    if (!status || *status != 0) {
        std::fprintf(stderr, "cxlmgrd did not exit cleanly; log:\n%s\n", daemon.log().c_str());
    }
    const std::string log = daemon.log();
    if (!log.empty()) {
        std::printf("\ncxlmgrd warnings and errors:\n%s", log.c_str());
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    Options options;
    // The daemon checks that the payload is a power of two.
    if (!cxlmgr::bench::parse_numeric_options(
            argc, argv,
            {{"--events", 10, 1e9, [&](double v) { options.events = static_cast<uint64_t>(v); }},
             {"--rate", 0, 1e9, [&](double v) { options.rate = v; }},
             {"--capacity", 1, 4096,
              [&](double v) { options.capacity = static_cast<unsigned>(v); }},
             {"--payload", 256, 1048576,
              [&](double v) { options.payload = static_cast<unsigned>(v); }}},
            "events_bench [--events N>=10] [--rate R] [--capacity 1..4096] [--payload BYTES]")) {
        return 2;
    }
    try {
        return run(options);
    } catch (const std::exception& e) {
        std::cerr << "events_bench: " << e.what() << "\n";
        return 1;
    }
}
