// Round-trip latency of org.cxlmgr1.Device.Identify over D-Bus, next to two baselines taken in
// the same run (docs/BENCHMARKS.md):
//   - org.freedesktop.DBus.Peer.Ping sent to cxlmgrd: the same two hops through dbus-daemon and
//     cxlmgrd's bus loop, without any daemon logic;
//   - org.freedesktop.DBus.GetId sent to the bus itself: one hop.
// It starts its own private dbus-daemon and cxlmgrd --emulate 1 (binary from the build), makes
// the calls from one sd-bus client in interleaved blocks (so drift on a noisy machine hits all
// kinds alike), and prints p50/p99/mean of each and the ratios. Two more rows show where
// Identify's time goes: Device.Command(0x4000) (same device path, no decoding) and a property
// Get (answered by the bus thread, no device). Usage: dbus_bench [CALLS]
// (default 5000 per kind). A benchmark: it prints figures and exits 0 unless it cannot run.
#include <sdbus-c++/sdbus-c++.h>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <numeric>
#include <string>
#include <vector>

#include "bench/percentiles.hpp"
#include "harness/daemon_harness.hpp"

namespace {

using namespace cxlmgr::testing;
using cxlmgr::bench::Percentiles;
using cxlmgr::bench::percentiles;
using Clock = std::chrono::steady_clock;

template <typename F>
double time_us(F&& f) {
    auto t0 = Clock::now();
    f();
    return std::chrono::duration<double, std::micro>(Clock::now() - t0).count();
}

int run(int calls) {
    TempDir dir("cxlmgr-dbus-bench");
    TestBus bus(dir.path());
    DaemonOptions options = DaemonOptions::emulated(1);
    options.log_level = "warning";
    DaemonProcess daemon(bus.address(), dir.path(), options);

    auto conn = sdbus::createSessionBusConnectionWithAddress(bus.address());
    auto device = sdbus::createProxy(*conn, "org.cxlmgr1", "/org/cxlmgr1/devices/emu0");
    auto driver = sdbus::createProxy(*conn, "org.freedesktop.DBus", "/org/freedesktop/DBus");
    auto identify = [&] {
        std::map<std::string, sdbus::Variant> r;
        device->callMethod("Identify").onInterface("org.cxlmgr1.Device").storeResultsTo(r);
        if (r.empty()) {
            throw std::runtime_error("empty Identify");
        }
    };
    // Where Identify's time goes: a raw Command(0x4000) takes the same device path without the
    // decoding; a property Get is answered from the bus thread without touching the device.
    auto command = [&] {
        std::tuple<uint16_t, std::vector<uint8_t>> r;
        device->callMethod("Command")
            .onInterface("org.cxlmgr1.Device")
            .withArguments(uint16_t{0x4000}, std::vector<uint8_t>{})
            .storeResultsTo(r);
    };
    auto get_state = [&] {
        sdbus::Variant v = device->getProperty("State").onInterface("org.cxlmgr1.Device");
    };
    auto ping = [&] { device->callMethod("Ping").onInterface("org.freedesktop.DBus.Peer"); };
    auto get_id = [&] {
        std::string id;
        driver->callMethod("GetId").onInterface("org.freedesktop.DBus").storeResultsTo(id);
    };
    for (int i = 0; i < 200; ++i) {  // warm-up: connections, caches, lazy paths
        identify();
        command();
        get_state();
        ping();
        get_id();
    }
    std::vector<double> t_identify, t_command, t_state, t_ping, t_getid;
    const std::function<void()> identify_fn = identify, command_fn = command, state_fn = get_state,
                                ping_fn = ping, get_id_fn = get_id;
    constexpr int kBlock = 100;
    for (int done = 0; done < calls; done += kBlock) {
        const int n = std::min(kBlock, calls - done);
        // One block of each kind in turn.
        for (auto [samples, call] :
             {std::pair{&t_identify, &identify_fn}, std::pair{&t_command, &command_fn},
              std::pair{&t_state, &state_fn}, std::pair{&t_ping, &ping_fn},
              std::pair{&t_getid, &get_id_fn}}) {
            for (int i = 0; i < n; ++i) {
                samples->push_back(time_us(*call));
            }
        }
    }
    const Percentiles id = percentiles(t_identify), pg = percentiles(t_ping),
                      gi = percentiles(t_getid);
    std::printf(
        "dbus_bench: %d calls each, one sd-bus client, private dbus-daemon, "
        "cxlmgrd --emulate 1\n",
        calls);
    std::printf("%-34s %9s %9s %9s\n", "call", "p50 us", "p99 us", "mean us");
    auto row = [](const char* name, const Percentiles& s) {
        std::printf("%-34s %9.1f %9.1f %9.1f\n", name, s.p50, s.p99, s.mean);
    };
    row("Device.Identify (cxlmgrd, emu0)", id);
    row("Device.Command(0x4000) (emu0)", percentiles(t_command));
    row("Properties.Get State (emu0)", percentiles(t_state));
    row("Peer.Ping (cxlmgrd)", pg);
    row("GetId (dbus-daemon)", gi);
    std::printf("ratio Identify/Ping:   p50 %.2f  p99 %.2f\n", id.p50 / pg.p50, id.p99 / pg.p99);
    std::printf("ratio Identify/GetId:  p50 %.2f  p99 %.2f\n", id.p50 / gi.p50, id.p99 / gi.p99);
    std::printf("ratio Ping/GetId:      p50 %.2f  p99 %.2f\n", pg.p50 / gi.p50, pg.p99 / gi.p99);

    auto status = daemon.terminate(10s);
    if (!status || *status != 0) {
        std::fprintf(stderr, "cxlmgrd did not exit cleanly; log:\n%s\n", daemon.log().c_str());
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    int calls = argc > 1 ? std::atoi(argv[1]) : 5000;
    if (calls <= 0) {
        std::cerr << "usage: dbus_bench [CALLS]\n";
        return 2;
    }
    try {
        return run(calls);
    } catch (const std::exception& e) {
        std::cerr << "dbus_bench: " << e.what() << "\n";
        return 1;
    }
}
