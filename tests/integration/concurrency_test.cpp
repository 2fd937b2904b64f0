// The arbiter seen from outside: many clients at once on one device each get their own,
// complete answer; a stuck or slow device does not hold up another; SIGTERM while a command is
// in flight still ends cxlmgrd cleanly and soon. Time bounds here are generous (a second where
// the device work takes microseconds): they catch serialization behind a 2 s stall, not speed.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <future>
#include <iostream>
#include <latch>
#include <thread>

#include "tests/integration/daemon_fixture.hpp"
#include "tests/integration/expected.hpp"

namespace cxlmgr::testing {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
    return std::chrono::duration<double>(Clock::now() - t0).count();
}

class ConcurrencyTest : public DaemonTest {};

TEST_F(ConcurrencyTest, SixteenClientsOnOneDeviceGetTheirOwnAnswers) {
    start_daemon(DaemonOptions::emulated(1));
    const json device = emulated_device("emu0");
    const ByteVector identify_bytes = reference_command(device, 0x4000).output;
    const ByteVector health_bytes = reference_command(device, 0x4200).output;
    const json identify = decode_identify(identify_bytes);
    ASSERT_NE(identify_bytes, health_bytes);

    constexpr int kClients = 16;
    constexpr int kRounds = 12;
    std::latch start(kClients);
    std::atomic<int> wrong{0}, errors{0}, answers{0};
    std::vector<std::string> first_problem(kClients);
    std::vector<std::thread> clients;
    for (int c = 0; c < kClients; ++c) {
        clients.emplace_back([&, c] {
            auto conn = connect();
            DeviceProxy dev(*conn, device_path("emu0"));
            start.arrive_and_wait();  // all at once
            for (int i = 0; i < kRounds; ++i) {
                try {
                    // Three different exchanges, so an answer delivered to the wrong caller or
                    // mixed from two commands cannot pass.
                    switch ((c + i) % 3) {
                        case 0: {
                            auto [rc, out] = dev.Command(0x4000, {});
                            if (rc != 0 || out != identify_bytes) {
                                ++wrong;
                                first_problem[c] = "Command(0x4000) differs";
                            }
                            break;
                        }
                        case 1: {
                            auto [rc, out] = dev.Command(0x4200, {});
                            if (rc != 0 || out != health_bytes) {
                                ++wrong;
                                first_problem[c] = "Command(0x4200) differs";
                            }
                            break;
                        }
                        default: {
                            json got = to_json(dev.Identify());
                            std::string diff = field_mismatches(identify, got);
                            if (!diff.empty()) {
                                ++wrong;
                                first_problem[c] = "Identify: " + diff;
                            }
                        }
                    }
                    ++answers;
                } catch (const sdbus::Error& e) {
                    ++errors;
                    first_problem[c] = e.getName() + ": " + e.getMessage();
                }
            }
        });
    }
    for (auto& t : clients) {
        t.join();
    }
    EXPECT_EQ(answers, kClients * kRounds);
    EXPECT_EQ(wrong, 0);
    EXPECT_EQ(errors, 0);
    for (int c = 0; c < kClients; ++c) {
        EXPECT_EQ(first_problem[c], "") << "client " << c;
    }
}

struct Overlap {
    double stuck_seconds = 0;
    double fast_max_seconds = 0;
    int fast_calls = 0;
    std::string stuck_error;
};

// Calls Identify on `fast_path` over and over while one Identify on `stuck_path` (another
// device, another connection) is in progress.
Overlap measure_overlap(const std::function<std::unique_ptr<sdbus::IConnection>()>& connect,
                        const std::string& stuck_path, const std::string& fast_path) {
    Overlap r;
    std::atomic<bool> stuck_done{false};
    auto stuck = std::async(std::launch::async, [&] {
        auto conn = connect();
        DeviceProxy dev(*conn, stuck_path);
        auto t0 = Clock::now();
        try {
            dev.Identify();
        } catch (const sdbus::Error& e) {
            r.stuck_error = e.getName();
        }
        r.stuck_seconds = seconds_since(t0);
        stuck_done = true;
    });
    auto conn = connect();
    DeviceProxy fast(*conn, fast_path);
    const auto deadline = Clock::now() + 20s;
    // Keep calling for as long as the stuck call lasts: whichever call meets the stall would
    // wait for it if devices were serialized.
    while (!stuck_done && Clock::now() < deadline) {
        auto t0 = Clock::now();
        fast.Identify();
        r.fast_max_seconds = std::max(r.fast_max_seconds, seconds_since(t0));
        ++r.fast_calls;
    }
    stuck.get();
    return r;
}

TEST_F(ConcurrencyTest, StuckDoorbellDoesNotDelayAnotherDevice) {
    start_daemon(DaemonOptions::emulated(2));
    auto conn = connect();
    wait_for_startup_commands("emu0");
    EmulatorProxy(*conn, device_path("emu0")).InjectFault("mailbox-timeout", {});
    Overlap r =
        measure_overlap([this] { return connect(); }, device_path("emu0"), device_path("emu1"));
    EXPECT_EQ(r.stuck_error, "org.cxlmgr1.Error.Timeout");
    EXPECT_GE(r.stuck_seconds, 1.0) << "the stuck call did not wait for the doorbell";
    EXPECT_GE(r.fast_calls, 2);
    EXPECT_LT(r.fast_max_seconds, 1.0) << "emu1 waited for emu0's stuck doorbell";
}

TEST_F(ConcurrencyTest, SlowDeviceDoesNotDelayAnotherDevice) {
    // 1.5 s per command: slow, but within the 2 s doorbell timeout, so the call succeeds.
    start_daemon(DaemonOptions::configured(
        daemon_config({emulated_device("slow", {{"timing", {{"mailbox_latency_us", 1500000}}}}),
                       emulated_device("fast")})));
    Overlap r =
        measure_overlap([this] { return connect(); }, device_path("slow"), device_path("fast"));
    EXPECT_EQ(r.stuck_error, "");
    EXPECT_GE(r.stuck_seconds, 1.4);
    EXPECT_GE(r.fast_calls, 2);
    EXPECT_LT(r.fast_max_seconds, 1.0) << "fast waited for slow";
}

TEST_F(ConcurrencyTest, SigtermWithACommandInFlightExitsZeroQuickly) {
    start_daemon(DaemonOptions::emulated(1));
    // Declared before the connection: the reply callback may run until the connection goes.
    std::promise<std::string> reply;
    auto conn = connect();
    wait_for_startup_commands("emu0");
    EmulatorProxy(*conn, device_path("emu0")).InjectFault("mailbox-timeout", {});
    auto proxy = sdbus::createProxy(*conn, kService, device_path("emu0"));
    proxy->finishRegistration();
    conn->enterEventLoopAsync();
    proxy->callMethodAsync("Identify")
        .onInterface("org.cxlmgr1.Device")
        .uponReplyInvoke([&](const sdbus::Error* e, const VariantMap&) {
            reply.set_value(e != nullptr ? e->getName() : "success");
        });
    // A Ping on the same connection is handled after the Identify: once it is answered, the
    // daemon has taken the Identify and its command sits on the stuck doorbell.
    proxy->callMethod("Ping").onInterface("org.freedesktop.DBus.Peer");
    auto t0 = Clock::now();
    auto status = stop_daemon(10s);
    const double took = seconds_since(t0);
    auto f = reply.get_future();
    // The caller is not left hanging: an error (Cancelled, DeviceGone, or the bus's NoReply
    // when the daemon left) or, had the daemon finished it first, an answer.
    const bool replied = f.wait_for(10s) == std::future_status::ready;
    conn->leaveEventLoop();
    ASSERT_TRUE(status.has_value()) << "cxlmgrd still running 10 s after SIGTERM";
    EXPECT_EQ(*status, 0);
    // The fault holds the doorbell for 10 s; stopping must not wait for it.
    EXPECT_LT(took, 5.0);
    ASSERT_TRUE(replied) << "the in-flight call never ended";
    std::cout << "in-flight Identify ended with: " << f.get() << "\n";
}

}  // namespace
}  // namespace cxlmgr::testing
