// What org.cxlmgr1.Events refuses or bounds for any caller (docs/DBUS.md "Events and
// subscriptions"): a connection holds at most kMaxSubscriptionsPerConnection subscriptions, one
// more answers LimitsExceeded and exports nothing, and ending one (or leaving the bus) frees its
// place; a `since` past every sequence number, however large, answers no events.
#include <gtest/gtest.h>

#include <limits>

#include "dbus/generated/Subscription_proxy.h"
#include "dbus/subscriptions.hpp"
#include "tests/integration/daemon_fixture.hpp"
#include "tests/integration/expected.hpp"
#include "tests/support/eventually.hpp"

namespace cxlmgr::testing {
namespace {

using EventsProxy = EventsCalls;
using SubscriptionProxy = Proxy<org::cxlmgr1::Subscription_proxy>;
using dbus::kMaxSubscriptionsPerConnection;

class EventsLimitsTest : public DaemonTest {
protected:
    void start() {
        start_daemon(DaemonOptions::configured(
            daemon_config({emulated_device("emu0", {}), emulated_device("emu1", {})})));
    }
    // Subscription objects exported under /org/cxlmgr1/subscriptions.
    size_t exported_subscriptions() {
        auto r = busctl({"tree", "--list", kService});
        EXPECT_EQ(r.exit_code, 0) << r.describe();
        size_t n = 0;
        for (size_t at = r.out.find("/org/cxlmgr1/subscriptions/"); at != std::string::npos;
             at = r.out.find("/org/cxlmgr1/subscriptions/", at + 1)) {
            ++n;
        }
        return n;
    }
};

TEST_F(EventsLimitsTest, AConnectionHoldsAtMostTheLimitAndEndingOneFreesAPlace) {
    start();
    auto conn = connect();
    EventsProxy emu0(*conn, device_path("emu0"));
    EventsProxy emu1(*conn, device_path("emu1"));
    std::vector<sdbus::ObjectPath> held;
    // The limit counts the connection's subscriptions on every device together.
    for (size_t i = 0; i < kMaxSubscriptionsPerConnection; ++i) {
        held.push_back((i % 2 == 0 ? emu0 : emu1).Subscribe({}));
    }
    std::string message;
    EXPECT_EQ(dbus_error_name([&] { emu0.Subscribe({}); }, &message),
              "org.cxlmgr1.Error.LimitsExceeded");
    EXPECT_NE(message.find(std::to_string(kMaxSubscriptionsPerConnection) + " subscriptions"),
              std::string::npos)
        << message;
    EXPECT_EQ(dbus_error_name([&] { emu1.Subscribe({}); }), "org.cxlmgr1.Error.LimitsExceeded");
    EXPECT_EQ(exported_subscriptions(), kMaxSubscriptionsPerConnection);

    // Another connection has its own count.
    auto other = connect();
    EventsProxy other_emu0(*other, device_path("emu0"));
    sdbus::ObjectPath others = other_emu0.Subscribe({});

    SubscriptionProxy(*conn, held.back()).Unsubscribe();
    held.pop_back();
    held.push_back(emu0.Subscribe({}));
    EXPECT_EQ(dbus_error_name([&] { emu0.Subscribe({}); }), "org.cxlmgr1.Error.LimitsExceeded");
    SubscriptionProxy(*other, others).Unsubscribe();
}

TEST_F(EventsLimitsTest, AConnectionThatLeftTheBusTakesItsCountWithIt) {
    start();
    {
        auto conn = connect();
        EventsProxy emu0(*conn, device_path("emu0"));
        for (size_t i = 0; i < kMaxSubscriptionsPerConnection; ++i) {
            emu0.Subscribe({});
        }
        EXPECT_EQ(dbus_error_name([&] { emu0.Subscribe({}); }), "org.cxlmgr1.Error.LimitsExceeded");
    }  // the connection closes: its subscriptions end
    EXPECT_TRUE(eventually([&] { return exported_subscriptions() == 0; }));
    auto conn = connect();
    EventsProxy emu0(*conn, device_path("emu0"));
    for (size_t i = 0; i < kMaxSubscriptionsPerConnection; ++i) {
        emu0.Subscribe({});
    }
}

TEST_F(EventsLimitsTest, SinceBeyondEverySequenceNumberAnswersNothing) {
    start();
    for (uint64_t dpa : {0x40, 0x80, 0xc0}) {
        auto r = busctl({"call", kService, device_path("emu0"), "org.cxlmgr1.Emulator",
                         "InjectEvent", "ssa{sv}", "informational", "general-media", "1", "dpa",
                         "t", std::to_string(dpa)});
        ASSERT_EQ(r.exit_code, 0) << r.describe();
    }
    auto conn = connect();
    EventsProxy events(*conn, device_path("emu0"));
    ASSERT_TRUE(eventually([&] { return events.GetEvents(0, 10).size() == 3; }));
    const uint64_t last = events.GetEvents(0, 10).back().get<0>();
    EXPECT_TRUE(events.GetEvents(last, 10).empty());
    // Sequence numbers are unsigned 64-bit values: the ones with the top bit set are past
    // every stored event as well, not "negative" ones before them.
    for (uint64_t since :
         {uint64_t{1} << 63, (uint64_t{1} << 63) + 1, std::numeric_limits<uint64_t>::max() - 1,
          std::numeric_limits<uint64_t>::max()}) {
        EXPECT_TRUE(events.GetEvents(since, 10).empty()) << "since " << since;
        auto r = busctl_as_nobody({"call", kService, device_path("emu0"), "org.cxlmgr1.Events",
                                   "GetEvents", "tu", std::to_string(since), "10"});
        EXPECT_EQ(r.exit_code, 0) << r.describe();
        EXPECT_TRUE(r.out == "a(tssta{sv}) 0\n")
            << "since " << since << ": " << r.out.substr(0, 40) << "...";
    }
}

}  // namespace
}  // namespace cxlmgr::testing
