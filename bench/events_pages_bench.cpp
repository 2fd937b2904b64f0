// GetEvents on a full journal (issue 15; docs/BENCHMARKS.md "Event pages (issue 15)"). Each run
// starts its own private dbus-daemon with the system bus's limits and a cxlmgrd whose journal
// holds --events general-media events of emu0 (written before it starts, harness/
// full_journal.hpp), then measures, in this order:
//   - baseline: another client's Manager.Version round trips while cxlmgrd is idle (p50/p99);
//   - one full page: GetEvents(0, 2^32-1), 20 times (median of the round trip; the daemon's
//     page bound decides its size);
//   - the whole journal paged through with `since` (max 2^32-1 per call unless --max: the
//     daemon's page bound decides), events per second, while the other client keeps reading Version
//     (p50/p99 during the paging);
//   - cxlmgrd's peak RSS (VmHWM) after all that, and before it for comparison.
// Figures per run, then min/median/max over the runs. It prints figures and exits 0 unless it
// cannot run; "MISSING"/"OUT OF ORDER" in its output are findings.
//
// Usage: events_pages_bench [--runs N] [--events N] [--max N] (defaults 3 runs, 100,000 events,
// max 2^32-1; --max 1000 pages as cxlmgrctl did, for a daemon without the page bound, and
// --max N below the bound compares smaller pages).
#include <sdbus-c++/sdbus-c++.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <stdexcept>
#include <thread>

#include "bench/bench_options.hpp"
#include "bench/percentiles.hpp"
#include "harness/daemon_harness.hpp"
#include "harness/full_journal.hpp"
#include "harness/version_probe.hpp"

namespace {

using namespace cxlmgr::testing;
using namespace cxlmgr::bench;
using Clock = std::chrono::steady_clock;

struct Options {
    unsigned runs = 3;
    uint64_t events = 100000;
    uint32_t max = 0xffffffff;  // GetEvents' max while paging
};

struct RunResult {
    double idle_p50 = 0, idle_p99 = 0;
    double page_ms_median = 0;
    double events_per_s = 0;
    double busy_p50 = 0, busy_p99 = 0, busy_max = 0;
    double rss_before_mib = 0, rss_after_mib = 0;
    size_t pages = 0;
    bool complete = false;
};

double ms_since(Clock::time_point start) {
    return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

// One GetEvents page read straight from the reply message, as the daemon writes it: the seq of
// each event, every field walked (so the whole reply is parsed) but no sdbus::Variant built, so
// the figure is the daemon's and the bus's, not a Variant-building client's.
std::vector<uint64_t> get_events(sdbus::IProxy& proxy, uint64_t since, uint32_t max) {
    auto call = proxy.createMethodCall("org.cxlmgr1.Events", "GetEvents");
    call << since << max;
    auto reply = proxy.callMethod(call);
    std::vector<uint64_t> seqs;
    reply.enterContainer("(tssta{sv})");
    while (reply.enterStruct("tssta{sv}")) {
        uint64_t seq = 0, timestamp = 0;
        std::string log, kind;
        reply >> seq >> log >> kind >> timestamp;
        reply.enterContainer("{sv}");
        while (reply.enterDictEntry("sv")) {
            std::string key, type, contents;
            reply >> key;
            reply.peekType(type, contents);
            reply.enterVariant(contents);
            if (contents == "t") {
                uint64_t v = 0;
                reply >> v;
            } else if (contents == "x") {
                int64_t v = 0;
                reply >> v;
            } else if (contents == "b") {
                bool v = false;
                reply >> v;
            } else if (contents == "s") {
                std::string v;
                reply >> v;
            } else if (contents == "ay") {
                reply.enterContainer("y");
                uint8_t b = 0;
                while (reply >> b) {
                }
                reply.clearFlags();
                reply.exitContainer();
            } else {
                throw std::runtime_error("GetEvents: unexpected field type " + contents);
            }
            reply.exitVariant();
            reply.exitDictEntry();
        }
        reply.clearFlags();
        reply.exitContainer();
        reply.exitStruct();
        seqs.push_back(seq);
    }
    reply.clearFlags();
    reply.exitContainer();
    return seqs;
}

std::unique_ptr<sdbus::IConnection> connect(const std::string& address) {
    return sdbus::createSessionBusConnectionWithAddress(address);
}

RunResult run_once(const Options& options) {
    TempDir dir("cxlmgr-pages-bench");
    TestBus bus(dir.path(), BusLimits::SystemBus);
    write_full_journal(dir.path() / "state", "emu0", options.events);
    DaemonOptions daemon_options = DaemonOptions::emulated(1);
    daemon_options.log_level = "warning";
    DaemonProcess daemon(bus.address(), dir.path(), daemon_options);
    RunResult r;
    r.rss_before_mib = static_cast<double>(peak_rss(daemon.pid()).value_or(0)) / (1 << 20);

    {
        VersionProbe idle(connect(bus.address()));
        std::this_thread::sleep_for(std::chrono::seconds(2));
        idle.stop();
        const auto p = percentiles(idle.latencies_ms());
        r.idle_p50 = p.p50;
        r.idle_p99 = p.p99;
    }

    auto connection = connect(bus.address());
    auto proxy = sdbus::createProxy(*connection, "org.cxlmgr1", "/org/cxlmgr1/devices/emu0");
    std::vector<double> page_ms;
    for (int i = 0; i < 20; ++i) {
        const auto start = Clock::now();
        (void)get_events(*proxy, 0, 0xffffffff);
        page_ms.push_back(ms_since(start));
    }
    r.page_ms_median = percentiles(page_ms).p50;

    VersionProbe busy(connect(bus.address()));
    const auto start = Clock::now();
    uint64_t since = 0;
    uint64_t read = 0;
    bool in_order = true;
    try {
        for (;;) {
            auto page = get_events(*proxy, since, options.max);
            if (page.empty()) {
                break;
            }
            ++r.pages;
            for (uint64_t seq : page) {
                in_order = in_order && seq == read + 1;
                ++read;
            }
            since = page.back();
        }
    } catch (const sdbus::Error& e) {
        std::printf("  FAILED: GetEvents(%llu, %u): %s: %s\n",
                    static_cast<unsigned long long>(since), options.max, e.getName().c_str(),
                    e.getMessage().c_str());
    }
    const double seconds = ms_since(start) / 1000;
    busy.stop();
    r.events_per_s = static_cast<double>(read) / seconds;
    const auto p = percentiles(busy.latencies_ms());
    r.busy_p50 = p.p50;
    r.busy_p99 = p.p99;
    r.busy_max = p.max;
    r.rss_after_mib = static_cast<double>(peak_rss(daemon.pid()).value_or(0)) / (1 << 20);
    r.complete = read == options.events && in_order;
    if (read != options.events) {
        std::printf("  MISSING: %llu of %llu events read\n", static_cast<unsigned long long>(read),
                    static_cast<unsigned long long>(options.events));
    }
    if (!in_order) {
        std::printf("  OUT OF ORDER: sequence numbers not 1..N\n");
    }
    auto status = daemon.terminate(std::chrono::seconds(10));
    if (!status || *status != 0) {
        std::fprintf(stderr, "cxlmgrd did not exit cleanly; log:\n%s\n", daemon.log().c_str());
    }
    return r;
}

void summary(const char* what, const std::vector<RunResult>& runs, double RunResult::*field) {
    std::vector<double> v;
    for (const auto& r : runs) {
        v.push_back(r.*field);
    }
    const auto p = percentiles(v);
    std::printf("  %-36s min %10.2f  median %10.2f  max %10.2f\n", what, p.min, p.p50, p.max);
}

int run(const Options& options) {
    std::printf(
        "events_pages_bench: %u runs; each a private dbus-daemon with the system bus's limits and "
        "cxlmgrd with emu0's journal holding %llu events\n",
        options.runs, static_cast<unsigned long long>(options.events));
    std::vector<RunResult> runs;
    for (unsigned i = 0; i < options.runs; ++i) {
        RunResult r = run_once(options);
        std::printf(
            "run %u: %zu pages, %.0f events/s; one full page %.2f ms; Version idle p50 "
            "%.3f p99 %.3f ms, while paging p50 %.3f p99 %.3f max %.3f ms; VmHWM %.1f -> %.1f "
            "MiB%s\n",
            i + 1, r.pages, r.events_per_s, r.page_ms_median, r.idle_p50, r.idle_p99, r.busy_p50,
            r.busy_p99, r.busy_max, r.rss_before_mib, r.rss_after_mib,
            r.complete ? "" : " (INCOMPLETE)");
        runs.push_back(r);
    }
    std::printf("\nover %u runs:\n", options.runs);
    summary("paging, events/s", runs, &RunResult::events_per_s);
    summary("one full page, ms (median)", runs, &RunResult::page_ms_median);
    summary("Version idle p50, ms", runs, &RunResult::idle_p50);
    summary("Version idle p99, ms", runs, &RunResult::idle_p99);
    summary("Version while paging p50, ms", runs, &RunResult::busy_p50);
    summary("Version while paging p99, ms", runs, &RunResult::busy_p99);
    summary("cxlmgrd VmHWM before, MiB", runs, &RunResult::rss_before_mib);
    summary("cxlmgrd VmHWM after paging, MiB", runs, &RunResult::rss_after_mib);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    Options options;
    if (!cxlmgr::bench::parse_numeric_options(
            argc, argv,
            {{"--runs", 1, 1000, [&](double v) { options.runs = static_cast<unsigned>(v); }},
             {"--events", 1, 1e9, [&](double v) { options.events = static_cast<uint64_t>(v); }},
             {"--max", 1, 4294967295.0, [&](double v) { options.max = static_cast<uint32_t>(v); }}},
            "events_pages_bench [--runs N] [--events N] [--max N]")) {
        return 2;
    }
    try {
        return run(options);
    } catch (const std::exception& e) {
        std::cerr << "events_pages_bench: " << e.what() << "\n";
        return 1;
    }
}
