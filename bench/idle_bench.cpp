// What an idle cxlmgrd costs: resident memory (VmRSS) and CPU time (utime + stime) of the whole
// process over a 10 s window with no client calls, at --emulate 1 and --emulate 256
// (docs/BENCHMARKS.md: absolute figures, idle must be near zero). Each run starts its own
// private dbus-daemon and cxlmgrd (binary from the build), waits until it owns its name, lets
// it settle for 2 s (device opening, first event collection), then reads /proc/PID before and
// after the window (utime + stime, and the threads' schedstat for sub-tick precision). Usage:
// idle_bench [SECONDS] [N...] (default 10 s, 1 and 256 devices). A benchmark: it prints figures and
// exits 0 unless it cannot run.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "harness/daemon_harness.hpp"

namespace {

using namespace cxlmgr::testing;

// utime + stime of the process, in clock ticks (fields 14 and 15 of /proc/PID/stat, after the
// parenthesised command name, which may itself hold spaces).
long long cpu_ticks(pid_t pid) {
    std::string stat = read_file("/proc/" + std::to_string(pid) + "/stat");
    auto close = stat.rfind(')');
    if (close == std::string::npos) {
        throw std::runtime_error("cannot parse /proc/PID/stat");
    }
    std::istringstream rest(stat.substr(close + 2));
    std::string field;
    long long utime = 0, stime = 0;
    for (int i = 3; i <= 15 && rest >> field; ++i) {
        if (i == 14)
            utime = std::stoll(field);
        if (i == 15)
            stime = std::stoll(field);
    }
    return utime + stime;
}

// The same in nanoseconds: the first field of every thread's schedstat (time on a CPU), summed.
// utime + stime count in 10 ms ticks, too coarse for a daemon that should use almost nothing.
long long cpu_ns(pid_t pid) {
    long long total = 0;
    const std::string tasks = "/proc/" + std::to_string(pid) + "/task";
    for (const auto& task : std::filesystem::directory_iterator(tasks)) {
        std::istringstream in(read_file(task.path() / "schedstat"));
        long long ns = 0;
        if (in >> ns) {
            total += ns;
        }
    }
    return total;
}

long long rss_kib(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind("VmRSS:", 0) == 0) {
            return std::stoll(line.substr(6));
        }
    }
    throw std::runtime_error("no VmRSS");
}

void measure(unsigned devices, std::chrono::seconds window) {
    TempDir dir("cxlmgr-idle-bench");
    TestBus bus(dir.path());
    DaemonOptions options = DaemonOptions::emulated(devices);
    options.log_level = "warning";
    options.ready_timeout = 120s;  // 256 devices open in series
    auto t_start = std::chrono::steady_clock::now();
    DaemonProcess daemon(bus.address(), dir.path(), options);
    const double ready_s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
    // Settling: startup work is not idle work. A fixed pause is right here: nothing to await.
    std::this_thread::sleep_for(2s);
    const long hz = sysconf(_SC_CLK_TCK);
    const long long rss_before = rss_kib(daemon.pid());
    const long long cpu_before = cpu_ticks(daemon.pid());
    const long long ns_before = cpu_ns(daemon.pid());
    std::this_thread::sleep_for(window);
    const long long ns_after = cpu_ns(daemon.pid());
    const long long cpu_after = cpu_ticks(daemon.pid());
    const long threads = std::distance(
        std::filesystem::directory_iterator("/proc/" + std::to_string(daemon.pid()) + "/task"),
        std::filesystem::directory_iterator());
    const long long rss_after = rss_kib(daemon.pid());
    const double cpu_ms = 1000.0 * static_cast<double>(cpu_after - cpu_before) / hz;
    const double sched_ms = static_cast<double>(ns_after - ns_before) / 1e6;
    std::printf(
        "%4u devices: ready in %5.2f s; %ld threads; RSS %6.1f MiB -> %6.1f MiB; CPU in "
        "%lld s: utime+stime %.0f ms, schedstat %.3f ms (%.4f%% of one core)\n",
        devices, ready_s, threads, rss_before / 1024.0, rss_after / 1024.0,
        static_cast<long long>(window.count()), cpu_ms, sched_ms,
        sched_ms / (10.0 * static_cast<double>(window.count())));
    std::fflush(stdout);
    auto status = daemon.terminate(30s);
    if (!status || *status != 0) {
        std::fprintf(stderr, "cxlmgrd did not exit cleanly; log:\n%s\n", daemon.log().c_str());
    }
}

}  // namespace

int main(int argc, char** argv) {
    try {
        std::chrono::seconds window(argc > 1 ? std::atoi(argv[1]) : 10);
        std::vector<unsigned> counts;
        for (int i = 2; i < argc; ++i) {
            counts.push_back(static_cast<unsigned>(std::atoi(argv[i])));
        }
        if (counts.empty()) {
            counts = {1, 256};
        }
        std::printf("idle_bench: cxlmgrd idle for %lld s after a 2 s settle (tick %ld Hz)\n",
                    static_cast<long long>(window.count()), sysconf(_SC_CLK_TCK));
        for (unsigned n : counts) {
            measure(n, window);
        }
        return 0;
    } catch (const std::exception& e) {
        std::cerr << "idle_bench: " << e.what() << "\n";
        return 1;
    }
}
