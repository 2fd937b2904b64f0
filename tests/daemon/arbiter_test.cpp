#include "daemon/arbiter.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <future>

namespace cxlmgr::daemon {
namespace {

using namespace std::chrono_literals;

TEST(Arbiter, ChannelsRunOnThePoolAndShutdownDrainsThem) {
    Arbiter arbiter(2);
    auto a = *arbiter.create_channel("emu0/mailbox");
    auto b = *arbiter.create_channel("emu1/mailbox");
    std::atomic<int> done{0};
    std::promise<void> all;
    for (int i = 0; i < 50; ++i) {
        for (auto* ch : {&a, &b}) {
            (*ch)->submit<int>(
                {}, [](CancelToken, std::function<void(Result<int>)> deliver) { deliver(7); },
                [&](Result<int> r) {
                    EXPECT_EQ(*r, 7);
                    if (++done == 100) {
                        all.set_value();
                    }
                });
        }
    }
    ASSERT_EQ(all.get_future().wait_for(10s), std::future_status::ready);
    auto report = arbiter.report();
    ASSERT_EQ(report.size(), 2u);
    EXPECT_EQ(report[0].counters.completed + report[1].counters.completed, 100u);

    // Work queued behind a running transaction is rejected at shutdown; the running one ends.
    std::promise<std::function<void(bool)>> running;
    Transaction long_one;
    long_one.run = [&](CancelToken, std::function<void(bool)> finished) {
        running.set_value(finished);
    };
    long_one.reject = [](Error) {};
    a->submit(std::move(long_one));
    auto finish = running.get_future().get();
    std::promise<Error> rejected;
    a->submit<int>(
        {}, [](CancelToken, std::function<void(Result<int>)> deliver) { deliver(1); },
        [&](Result<int> r) { rejected.set_value(r.error()); });
    std::thread finisher([finish] {
        std::this_thread::sleep_for(50ms);
        finish(true);
    });
    arbiter.shutdown();
    finisher.join();
    auto err = rejected.get_future().get();
    EXPECT_EQ(err.code, Errc::DeviceGone);
    EXPECT_NE(err.message.find("stopping"), std::string::npos);
    EXPECT_EQ(arbiter.create_channel("late").error().code, Errc::DeviceGone);
    // A closed channel rejects at once, even with its executor gone.
    std::optional<Errc> after;
    a->submit<int>(
        {}, [](CancelToken, std::function<void(Result<int>)> deliver) { deliver(1); },
        [&](Result<int> r) { after = r.ok() ? Errc::Internal : r.error().code; });
    EXPECT_EQ(after, Errc::DeviceGone);
}

}  // namespace
}  // namespace cxlmgr::daemon
