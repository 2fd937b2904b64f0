// The Asio-driven sd-bus connection answers calls from another client and delivers signals
// emitted outside bus callbacks (sd-bus writes at once when its queue is empty; kick() covers
// the case where it is not).
#include "dbus/bus_loop.hpp"

#include <gtest/gtest.h>

#include <sdbus-c++/sdbus-c++.h>
#include <boost/asio/steady_timer.hpp>
#include <thread>

#include "tests/support/private_bus.hpp"

namespace cxlmgr::dbus {
namespace {

using namespace std::chrono_literals;

TEST(BusLoop, ServesMethodCallsAndFlushesSignalsFromTimers) {
    testing::PrivateBus bus;
    boost::asio::io_context io;
    auto server = sdbus::createSessionBusConnectionWithAddress(bus.address());
    server->requestName("org.cxlmgr1.Test");
    auto object = sdbus::createObject(*server, "/test");
    int calls = 0;
    object->registerMethod("Double").onInterface("org.cxlmgr1.Test").implementedAs([&](int32_t v) {
        ++calls;
        return v * 2;
    });
    object->registerSignal("Tick").onInterface("org.cxlmgr1.Test").withParameters<uint32_t>();
    object->finishRegistration();
    auto loop = BusLoop::create(io, *server);
    loop->start();

    // A client on its own connection and thread, as busctl or cxlmgrctl would be.
    std::atomic<int32_t> answer{0};
    std::atomic<uint32_t> ticks{0};
    std::thread client([&] {
        auto conn = sdbus::createSessionBusConnectionWithAddress(bus.address());
        auto proxy = sdbus::createProxy(*conn, "org.cxlmgr1.Test", "/test");
        proxy->uponSignal("Tick").onInterface("org.cxlmgr1.Test").call([&](uint32_t n) {
            ticks = n;
        });
        proxy->finishRegistration();
        conn->enterEventLoopAsync();
        int32_t r = 0;
        proxy->callMethod("Double")
            .onInterface("org.cxlmgr1.Test")
            .withArguments(21)
            .storeResultsTo(r);
        answer = r;
        for (int i = 0; i < 200 && ticks == 0; ++i) {
            std::this_thread::sleep_for(10ms);
        }
        conn->leaveEventLoop();
    });

    // A signal emitted from a timer, not from a bus callback.
    boost::asio::steady_timer timer(io, 100ms);
    timer.async_wait([&](const boost::system::error_code&) {
        object->emitSignal("Tick").onInterface("org.cxlmgr1.Test").withArguments(uint32_t{7});
        loop->kick();
    });
    boost::asio::steady_timer stop(io, 3s);
    stop.async_wait([&](const boost::system::error_code&) { io.stop(); });
    std::thread runner([&] { io.run(); });
    client.join();
    io.stop();
    runner.join();
    loop->stop();

    EXPECT_EQ(answer, 42);
    EXPECT_EQ(calls, 1);
    EXPECT_EQ(ticks, 7u);
}

}  // namespace
}  // namespace cxlmgr::dbus
