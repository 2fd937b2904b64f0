// cxlmgrctl events against the real daemon on a private bus: events injected through
// org.cxlmgr1.Emulator show up in `events list` (devices merged in seq order, --since) and in a
// running `events watch --json` in order; --log filters; a watch survives a daemon restart and
// prints every event exactly once; SIGINT/SIGTERM end it with status 0 and drop its
// subscription; a bad device is status 1, no daemon status 3. Also: a client that sends
// Subscribe and leaves at once leaves no subscription behind.
#include <signal.h>

#include <algorithm>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "tests/cli/ctl_process.hpp"
#include "tests/integration/daemon_fixture.hpp"
#include "tests/integration/expected.hpp"
#include "tests/support/eventually.hpp"

#ifndef CXLMGRCTL_PATH
#error "CXLMGRCTL_PATH (the cxlmgrctl binary) must be defined by the build"
#endif

namespace cxlmgr::testing {
namespace {

using cxlmgr::testing::eventually;

using namespace std::chrono_literals;
using nlohmann::json;

class EventsCliTest : public DaemonTest {
protected:
    CommandResult ctl(std::vector<std::string> args) const {
        args.insert(args.begin(), {CXLMGRCTL_PATH, "--bus-address=" + address()});
        return run_command(args, 60s);
    }
    std::unique_ptr<CtlProcess> watch(const std::string& name, std::vector<std::string> args) {
        args.insert(args.begin(),
                    {CXLMGRCTL_PATH, "--bus-address=" + address(), "--json", "events", "watch"});
        auto p = std::make_unique<CtlProcess>(work_dir(), name, args);
        // Printed once subscribed and caught up: from here on nothing is missed.
        EXPECT_TRUE(p->wait_err("watching")) << p->describe();
        return p;
    }
    void inject(const std::string& device, const std::string& log, uint64_t dpa) {
        auto conn = connect();
        EmulatorProxy(*conn, device_path(device))
            .InjectEvent(log, "general-media", {{"dpa", sdbus::Variant(dpa)}});
    }
    static std::vector<json> parse_lines(const std::vector<std::string>& lines) {
        std::vector<json> out;
        for (const auto& l : lines) {
            out.push_back(json::parse(l));
        }
        return out;
    }
    std::vector<json> stored(const std::vector<std::string>& extra = {}) {
        std::vector<std::string> args = {"--json", "events", "list"};
        args.insert(args.end(), extra.begin(), extra.end());
        auto r = ctl(args);
        EXPECT_EQ(r.exit_code, 0) << r.describe();
        return r.exit_code == 0 ? json::parse(r.out)["events"].get<std::vector<json>>()
                                : std::vector<json>{};
    }
    // The subscription objects on the bus now.
    std::vector<std::string> subscriptions() const {
        auto r = busctl({"--list", "tree", kService});
        EXPECT_EQ(r.exit_code, 0) << r.describe();
        std::vector<std::string> out;
        std::istringstream lines(r.out);
        for (std::string line; std::getline(lines, line);) {
            if (line.rfind("/org/cxlmgr1/subscriptions/", 0) == 0) {
                out.push_back(line);
            }
        }
        return out;
    }
};

// Strictly increasing sequence numbers and the injected addresses in order.
void expect_in_order(const std::vector<json>& events, const std::vector<uint64_t>& dpas) {
    ASSERT_EQ(events.size(), dpas.size());
    for (size_t i = 0; i < events.size(); ++i) {
        EXPECT_EQ(events[i]["fields"]["dpa"], dpas[i]) << i << ": " << events[i].dump();
        if (i > 0) {
            EXPECT_GT(events[i]["seq"], events[i - 1]["seq"]) << i;
        }
    }
}

std::vector<uint64_t> dpa_range(uint64_t from, uint64_t to) {
    std::vector<uint64_t> out;
    for (uint64_t i = from; i <= to; ++i) {
        out.push_back(i * 0x40);
    }
    return out;
}

TEST_F(EventsCliTest, ListMergesDevicesInSeqOrderAndHonoursSince) {
    start_daemon(DaemonOptions::emulated(2));
    for (uint64_t i = 1; i <= 3; ++i) {
        inject("emu0", "warning", i * 0x40);
        inject("emu1", "failure", (i + 10) * 0x40);
    }
    std::vector<json> all;
    ASSERT_TRUE(eventually([&] { return (all = stored()).size() == 6; })) << all.size();
    std::vector<uint64_t> emu0_dpas, emu1_dpas;
    for (size_t i = 0; i < all.size(); ++i) {
        if (i > 0) {
            EXPECT_GT(all[i]["seq"], all[i - 1]["seq"]) << "merged in seq order";
        }
        (all[i]["device"] == "emu0" ? emu0_dpas : emu1_dpas).push_back(all[i]["fields"]["dpa"]);
        EXPECT_EQ(all[i]["path"], device_path(all[i]["device"].get<std::string>()));
    }
    EXPECT_EQ(emu0_dpas, dpa_range(1, 3));
    EXPECT_EQ(emu1_dpas, dpa_range(11, 13));

    auto one = stored({"emu1"});
    ASSERT_EQ(one.size(), 3u);
    for (const auto& e : one) {
        EXPECT_EQ(e["device"], "emu1");
        EXPECT_EQ(e["log"], "failure");
    }
    auto since = stored({"--since", std::to_string(all[2]["seq"].get<uint64_t>())});
    ASSERT_EQ(since.size(), 3u);
    EXPECT_EQ(since[0]["seq"], all[3]["seq"]);
    EXPECT_TRUE(stored({"--since", std::to_string(all[5]["seq"].get<uint64_t>())}).empty());

    // Human output: one line per event, seq first, then time, device, log, kind, key fields.
    auto text = ctl({"events", "list", "/org/cxlmgr1/devices/emu0"});
    ASSERT_EQ(text.exit_code, 0) << text.describe();
    std::istringstream lines(text.out);
    std::vector<std::string> got;
    for (std::string line; std::getline(lines, line);) {
        got.push_back(line);
    }
    ASSERT_EQ(got.size(), 3u) << text.out;
    const auto emu0 = stored({"emu0"});
    ASSERT_EQ(emu0.size(), 3u);
    for (size_t i = 0; i < got.size(); ++i) {
        EXPECT_EQ(got[i].rfind(std::to_string(emu0[i]["seq"].get<uint64_t>()) + "  ", 0), 0u)
            << got[i];
        std::ostringstream dpa;
        dpa << std::hex << (i + 1) * 0x40;
        EXPECT_NE(got[i].find("  emu0  warning  general-media  dpa=0x" + dpa.str()),
                  std::string::npos)
            << got[i];
    }
}

TEST_F(EventsCliTest, WatchPrintsWhatArrivesInOrderAndEndsCleanly) {
    start_daemon(DaemonOptions::emulated(1));
    inject("emu0", "warning", 0x1000);  // before the watch: the past
    ASSERT_TRUE(eventually([&] { return stored().size() == 1; }));

    auto w = watch("now", {"emu0"});
    EXPECT_EQ(subscriptions().size(), 1u);
    for (uint64_t i = 1; i <= 20; ++i) {
        inject("emu0", "warning", i * 0x40);
    }
    auto events = parse_lines(w->wait_lines(20));
    expect_in_order(events, dpa_range(1, 20));
    w->signal(SIGINT);
    EXPECT_EQ(w->wait(10s), std::optional<int>(0)) << w->describe();
    EXPECT_EQ(w->lines().size(), 20u) << "nothing printed twice: " << w->out();
    EXPECT_TRUE(eventually([&] { return subscriptions().empty(); }))
        << "Unsubscribe on the way out";

    // --since catches up first, then follows; SIGTERM ends it the same way.
    auto since = watch("since", {"emu0", "--since", "0"});
    auto caught_up = parse_lines(since->wait_lines(21));
    ASSERT_EQ(caught_up.size(), 21u) << since->describe();
    EXPECT_EQ(caught_up[0]["fields"]["dpa"], 0x1000);
    inject("emu0", "fatal", 0x2000);
    auto all = parse_lines(since->wait_lines(22));
    ASSERT_EQ(all.size(), 22u) << since->describe();
    EXPECT_EQ(all[21]["fields"]["dpa"], 0x2000);
    EXPECT_EQ(all[21]["log"], "fatal");
    since->signal(SIGTERM);
    EXPECT_EQ(since->wait(10s), std::optional<int>(0)) << since->describe();
    EXPECT_TRUE(eventually([&] { return subscriptions().empty(); }));
}

TEST_F(EventsCliTest, LogFilterPrintsOnlyTheNamedLogs) {
    start_daemon(DaemonOptions::emulated(1));
    auto w = watch("filtered", {"--log", "warning,fatal", "emu0"});
    auto subs = subscriptions();
    ASSERT_EQ(subs.size(), 1u);
    auto filter =
        busctl_json({"get-property", kService, subs[0], "org.cxlmgr1.Subscription", "Filter"});
    EXPECT_EQ(unwrap_busctl(filter)["logs"], json({"warning", "fatal"})) << filter.dump();
    inject("emu0", "informational", 0x40);
    inject("emu0", "warning", 0x80);
    inject("emu0", "failure", 0xc0);
    inject("emu0", "fatal", 0x100);
    inject("emu0", "warning", 0x140);
    // Once these are stored, a last event is stored and signalled after them: when the watch
    // has printed it, it has handled (and filtered) every one before it.
    ASSERT_TRUE(eventually([&] { return stored().size() == 5; }));
    inject("emu0", "fatal", 0x180);
    auto events = parse_lines(w->wait_until(
        [](const std::vector<std::string>& l) {
            return std::any_of(l.begin(), l.end(), [](const std::string& line) {
                return json::parse(line)["fields"]["dpa"] == 0x180;
            });
        },
        20s));
    // The collector drains the most severe log first: seq order is not injection order across
    // logs, but it is within one log.
    std::map<std::string, std::vector<uint64_t>> by_log;
    for (size_t i = 0; i < events.size(); ++i) {
        by_log[events[i]["log"]].push_back(events[i]["fields"]["dpa"]);
        if (i > 0) {
            EXPECT_GT(events[i]["seq"], events[i - 1]["seq"]);
        }
    }
    EXPECT_EQ(by_log, (std::map<std::string, std::vector<uint64_t>>{{"warning", {0x80, 0x140}},
                                                                    {"fatal", {0x100, 0x180}}}));
    w->signal(SIGINT);
    EXPECT_EQ(w->wait(10s), std::optional<int>(0)) << w->describe();
}

TEST_F(EventsCliTest, WatchSurvivesADaemonRestartAndPrintsEveryEventOnce) {
    const auto options = DaemonOptions::configured(daemon_config({emulated_device("emu0")}));
    start_daemon(options);
    auto w = watch("restart", {});  // every device
    for (uint64_t i = 1; i <= 3; ++i) {
        inject("emu0", "warning", i * 0x40);
    }
    ASSERT_EQ(w->wait_lines(3).size(), 3u) << w->describe();

    ASSERT_EQ(stop_daemon(), std::optional<int>(0));
    ASSERT_TRUE(w->wait_err("cxlmgrd left " + address())) << w->describe();
    EXPECT_TRUE(w->running()) << "a watch outlives the daemon";

    // The same state directory: the journal and its numbering carry on.
    DaemonProcess again(address(), work_dir(), options);
    // At once, racing the watch's new subscription: caught up or signalled, never both.
    for (uint64_t i = 4; i <= 6; ++i) {
        inject("emu0", "failure", i * 0x40);
    }
    ASSERT_TRUE(w->wait_err("cxlmgrd is back")) << w->describe();
    ASSERT_EQ(w->wait_lines(6).size(), 6u) << w->describe();
    for (uint64_t i = 7; i <= 8; ++i) {
        inject("emu0", "fatal", i * 0x40);
    }
    auto events = parse_lines(w->wait_lines(8));
    expect_in_order(events, dpa_range(1, 8));
    std::set<uint64_t> seqs;
    for (const auto& e : events) {
        seqs.insert(e["seq"].get<uint64_t>());
    }
    EXPECT_EQ(seqs.size(), 8u);
    w->signal(SIGINT);
    EXPECT_EQ(w->wait(10s), std::optional<int>(0)) << w->describe();
    EXPECT_EQ(w->lines().size(), 8u) << w->out();
    EXPECT_EQ(again.terminate(), std::optional<int>(0)) << again.log();
}

TEST_F(EventsCliTest, BadDeviceIsStatusOneAndNoDaemonStatusThree) {
    for (const auto& args : std::vector<std::vector<std::string>>{
             {"events", "list"}, {"events", "watch"}, {"events", "watch", "emu0"}}) {
        auto r = ctl(args);
        EXPECT_EQ(r.exit_code, 3) << r.describe();
        EXPECT_NE(r.err.find("cxlmgrd is not running on " + address()), std::string::npos) << r.err;
    }
    start_daemon(DaemonOptions::emulated(1));
    for (const auto& args :
         std::vector<std::vector<std::string>>{{"events", "watch", "nosuch"},
                                               {"events", "watch", "emu0", "nosuch"},
                                               {"events", "list", "nosuch"}}) {
        auto r = ctl(args);
        EXPECT_EQ(r.exit_code, 1) << r.describe();
        EXPECT_NE(r.err.find("no such device"), std::string::npos) << r.err;
        EXPECT_NE(r.err.find("nosuch"), std::string::npos) << r.err;
    }
    EXPECT_TRUE(eventually([&] { return subscriptions().empty(); }))
        << "a watch that failed leaves no subscription";
}

TEST_F(EventsCliTest, SubscribeFromAClientThatLeavesAtOnceLeavesNothing) {
    start_daemon(DaemonOptions::emulated(1));
    constexpr int kClients = 20;
    for (int i = 0; i < kClients; ++i) {
        auto conn = connect();
        auto events = sdbus::createProxy(*conn, kService, device_path("emu0"));
        events->callMethod("Subscribe")
            .onInterface("org.cxlmgr1.Events")
            .withArguments(VariantMap{})
            .dontExpectReply();
    }  // each connection closes right after its call went out
    // The calls arrived (the daemon logs each subscription) and none outlived its client.
    const std::regex made(": subscription [0-9]+ for :");
    EXPECT_TRUE(eventually([&] {
        auto log = daemon().log();
        return std::distance(std::sregex_iterator(log.begin(), log.end(), made),
                             std::sregex_iterator()) >= kClients;
    })) << daemon().log();
    EXPECT_TRUE(eventually([&] { return subscriptions().empty(); }))
        << ::testing::PrintToString(subscriptions());
}

}  // namespace
}  // namespace cxlmgr::testing
