#include "daemon/channel.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <future>
#include <map>
#include <stdexcept>
#include <thread>
#include <vector>

namespace cxlmgr::daemon {
namespace {

using namespace std::chrono_literals;

struct ChannelTest : ::testing::Test {
    boost::asio::io_context io;
    std::shared_ptr<Channel> channel = Channel::create("test", io.get_executor());
    std::vector<std::string> order;
    std::vector<std::string> rejected;
    int running = 0;
    int max_running = 0;
    std::function<void(bool)> gate;  // completes the gate transaction

    TransactionOptions opts(Priority p = Priority::Interactive) {
        TransactionOptions o;
        o.priority = p;
        return o;
    }

    // A transaction that records its start and completes after `duration` on a timer.
    void submit(const std::string& name, TransactionOptions o, Clock::duration duration = 0ms) {
        o.description = name;
        Transaction t;
        t.options = std::move(o);
        t.run = [this, name, duration](CancelToken, std::function<void(bool)> finished) {
            order.push_back(name);
            max_running = std::max(max_running, ++running);
            auto timer = std::make_shared<boost::asio::steady_timer>(io, duration);
            timer->async_wait([this, timer, finished](const boost::system::error_code&) {
                --running;
                finished(true);
            });
        };
        t.reject = [this, name](Error e) {
            rejected.push_back(name + ":" + std::string(errc_name(e.code)));
        };
        channel->submit(std::move(t));
    }

    // A transaction that holds the channel until gate(true) is called.
    void submit_gate() {
        Transaction t;
        t.options = opts(Priority::Control);
        t.options.description = "gate";
        t.run = [this](CancelToken, std::function<void(bool)> finished) {
            order.push_back("gate");
            gate = std::move(finished);
        };
        t.reject = [](Error) {};
        channel->submit(std::move(t));
    }

    // Runs handlers for at least d of wall time (run_for alone returns early when idle).
    void run_for(Clock::duration d) {
        auto until = Clock::now() + d;
        do {
            io.restart();
            io.run_until(until);
        } while (Clock::now() < until && (std::this_thread::sleep_for(1ms), true));
    }
    // A transaction holding the background slot: it reports its foreground part over at once
    // (as after Background Command Started) and finishes on background_end(name).
    std::map<std::string, Completion> backgrounds;
    void submit_background(const std::string& name, TransactionOptions o) {
        o.description = name;
        o.background_slot = true;
        Transaction t;
        t.options = std::move(o);
        t.run = [this, name](CancelToken, Completion completion) {
            order.push_back(name);
            completion.foreground_done();
            backgrounds.emplace(name, completion);
        };
        t.reject = [this, name](Error e) {
            rejected.push_back(name + ":" + std::string(errc_name(e.code)));
        };
        channel->submit(std::move(t));
    }
    void background_end(const std::string& name) {
        auto it = backgrounds.find(name);
        ASSERT_NE(it, backgrounds.end()) << name << " never started";
        it->second.finished(true);
        backgrounds.erase(it);
    }

    void release_gate() {
        ASSERT_TRUE(gate);
        auto g = std::move(gate);
        gate = nullptr;
        g(true);
    }
};

TEST_F(ChannelTest, OneTransactionAtATimeInSubmissionOrder) {
    for (int i = 0; i < 16; ++i) {
        submit("t" + std::to_string(i), opts(), 1ms);
    }
    run_for(300ms);
    ASSERT_EQ(order.size(), 16u);
    for (int i = 0; i < 16; ++i) {
        EXPECT_EQ(order[i], "t" + std::to_string(i));
    }
    EXPECT_EQ(max_running, 1);
    auto c = channel->counters();
    EXPECT_EQ(c.submitted, 16u);
    EXPECT_EQ(c.completed, 16u);
    EXPECT_EQ(c.queued, 0u);
    EXPECT_GT(c.total_wait_us, 0u);
}

TEST_F(ChannelTest, HigherClassesGoFirst) {
    submit_gate();
    run_for(10ms);
    submit("bulk", opts(Priority::Bulk));
    submit("interactive", opts(Priority::Interactive));
    submit("control", opts(Priority::Control));
    submit("background", opts(Priority::Background));
    run_for(10ms);
    release_gate();
    run_for(100ms);
    EXPECT_EQ(order,
              (std::vector<std::string>{"gate", "control", "interactive", "background", "bulk"}));
}

TEST_F(ChannelTest, AgingLetsOldBulkWorkOvertakeNewInteractiveWork) {
    channel = Channel::create("aging", io.get_executor(), ChannelPolicy{10ms});
    submit_gate();
    run_for(5ms);
    submit("bulk", opts(Priority::Bulk));
    run_for(45ms);  // bulk waits > 3 aging steps: rank 0
    submit("interactive", opts(Priority::Interactive));
    run_for(5ms);
    release_gate();
    run_for(50ms);
    EXPECT_EQ(order, (std::vector<std::string>{"gate", "bulk", "interactive"}));
}

TEST_F(ChannelTest, WithoutAgingBulkWaits) {
    channel = Channel::create("no-aging", io.get_executor(), ChannelPolicy{0ms});
    submit_gate();
    run_for(5ms);
    submit("bulk", opts(Priority::Bulk));
    run_for(45ms);
    submit("interactive", opts(Priority::Interactive));
    run_for(5ms);
    release_gate();
    run_for(50ms);
    EXPECT_EQ(order, (std::vector<std::string>{"gate", "interactive", "bulk"}));
}

TEST_F(ChannelTest, SessionsOfOneKindDoNotInterleaveButOthersGetThrough) {
    auto first = channel->open_session("cdat");
    auto second = channel->open_session("cdat");
    auto other_kind = channel->open_session("fw");
    submit_gate();
    run_for(5ms);
    auto in = [&](const std::shared_ptr<Session>& s) {
        auto o = opts();
        o.session = s;
        return o;
    };
    submit("second.1", in(second));
    submit("first.1", in(first));
    submit("plain", opts());
    submit("fw.1", in(other_kind));
    submit("first.2", in(first));
    run_for(5ms);
    release_gate();
    run_for(50ms);
    // second's steps wait while the older "cdat" session is open.
    EXPECT_EQ(order, (std::vector<std::string>{"gate", "first.1", "plain", "fw.1", "first.2"}));
    first->close();
    run_for(50ms);
    EXPECT_EQ(order.back(), "second.1");
}

TEST_F(ChannelTest, DroppingTheLastSessionHandleReleasesIt) {
    auto first = channel->open_session("cdat");
    auto second = channel->open_session("cdat");
    auto o = opts();
    o.session = second;
    submit("second.1", o);
    run_for(20ms);
    EXPECT_TRUE(order.empty());
    first.reset();
    run_for(20ms);
    EXPECT_EQ(order, (std::vector<std::string>{"second.1"}));
}

TEST_F(ChannelTest, QueuedTransactionPastItsDeadlineIsRejectedWithoutRunning) {
    submit_gate();
    run_for(5ms);
    auto o = opts();
    o.deadline = Clock::now() + 20ms;
    submit("late", o);
    run_for(60ms);  // the gate is still running: the deadline fires on its own
    EXPECT_EQ(rejected, (std::vector<std::string>{"late:Timeout"}));
    release_gate();
    run_for(20ms);
    EXPECT_EQ(order, (std::vector<std::string>{"gate"}));
    EXPECT_EQ(channel->counters().rejected, 1u);
}

TEST_F(ChannelTest, CancelledQueuedTransactionNeverRuns) {
    submit_gate();
    run_for(5ms);
    auto o = opts();
    CancelToken cancel;
    o.cancel = cancel;
    submit("doomed", o);
    submit("fine", opts());
    cancel.cancel();
    run_for(5ms);
    release_gate();
    run_for(20ms);
    EXPECT_EQ(order, (std::vector<std::string>{"gate", "fine"}));
    EXPECT_EQ(rejected, (std::vector<std::string>{"doomed:Cancelled"}));
}

TEST_F(ChannelTest, RunningTransactionSeesItsCancelToken) {
    CancelToken cancel;
    bool saw_cancel = false;
    Transaction t;
    t.options.cancel = cancel;
    t.run = [&](CancelToken token, std::function<void(bool)> finished) {
        auto timer = std::make_shared<boost::asio::steady_timer>(io, 10ms);
        timer->async_wait([&, timer, token, finished](const boost::system::error_code&) {
            saw_cancel = token.cancelled();
            finished(false);
        });
    };
    t.reject = [](Error) {};
    channel->submit(std::move(t));
    run_for(2ms);
    cancel.cancel();
    run_for(50ms);
    EXPECT_TRUE(saw_cancel);
    EXPECT_EQ(channel->counters().failed, 1u);
}

TEST_F(ChannelTest, CloseRejectsQueuedWorkAndWaitsForTheRunningOne) {
    submit_gate();
    run_for(5ms);
    submit("queued", opts());
    bool drained = false;
    channel->close(Error(Errc::DeviceGone, "emu0 was removed"), [&] { drained = true; });
    run_for(10ms);
    EXPECT_EQ(rejected, (std::vector<std::string>{"queued:DeviceGone"}));
    EXPECT_FALSE(drained) << "the gate is still running";
    release_gate();
    run_for(10ms);
    EXPECT_TRUE(drained);
    submit("after", opts());
    run_for(10ms);
    EXPECT_EQ(rejected.back(), "after:DeviceGone");
}

TEST_F(ChannelTest, ForegroundWorkRunsWhileABackgroundOperationHoldsTheSlot) {
    submit_background("transfer", opts(Priority::Bulk));
    run_for(5ms);
    submit("identify", opts());
    submit_background("sanitize", opts(Priority::Control));
    submit("health", opts(Priority::Bulk));
    run_for(20ms);
    // The Control-class background command waits for the slot; foreground work of any class
    // goes past it meanwhile.
    EXPECT_EQ(order, (std::vector<std::string>{"transfer", "identify", "health"}));
    EXPECT_TRUE(channel->counters().background_busy);
    EXPECT_EQ(channel->counters().queued, 1u);
    background_end("transfer");
    run_for(10ms);
    EXPECT_EQ(order, (std::vector<std::string>{"transfer", "identify", "health", "sanitize"}));
    background_end("sanitize");
    run_for(5ms);
    EXPECT_TRUE(rejected.empty());
    auto c = channel->counters();
    EXPECT_FALSE(c.background_busy);
    EXPECT_EQ(c.completed, 4u);
}

TEST_F(ChannelTest, ASlotWaiterKeepsItsPlaceByClass) {
    // Without aging, so that a stall of the test machine cannot let the older bulk one climb.
    channel = Channel::create("test", io.get_executor(), ChannelPolicy{0ms});
    submit_background("first", opts(Priority::Bulk));
    run_for(5ms);
    submit_background("bulk", opts(Priority::Bulk));
    submit_background("control", opts(Priority::Control));
    run_for(5ms);
    background_end("first");
    run_for(5ms);
    EXPECT_EQ(order, (std::vector<std::string>{"first", "control"}));
    background_end("control");
    run_for(5ms);
    EXPECT_EQ(order, (std::vector<std::string>{"first", "control", "bulk"}));
    background_end("bulk");
    run_for(5ms);
}

TEST_F(ChannelTest, ForegroundDoneWithoutTheSlotDoesNotFreeTheChannel) {
    Transaction t;
    t.options = opts();
    t.options.description = "liar";
    std::optional<Completion> held;
    t.run = [&](CancelToken, Completion completion) {
        order.push_back("liar");
        completion.foreground_done();
        held = completion;
    };
    t.reject = [](Error) {};
    channel->submit(std::move(t));
    run_for(5ms);
    submit("next", opts());
    run_for(10ms);
    EXPECT_EQ(order, (std::vector<std::string>{"liar"})) << "one foreground transaction at a time";
    ASSERT_TRUE(held.has_value());
    held->finished(true);
    run_for(10ms);
    EXPECT_EQ(order, (std::vector<std::string>{"liar", "next"}));
}

TEST_F(ChannelTest, CloseWaitsForTheBackgroundOperation) {
    submit_background("transfer", opts(Priority::Bulk));
    run_for(5ms);
    submit_background("queued", opts());
    bool drained = false;
    channel->close(Error(Errc::DeviceGone, "emu0 was removed"), [&] { drained = true; });
    run_for(10ms);
    EXPECT_EQ(rejected, (std::vector<std::string>{"queued:DeviceGone"}));
    EXPECT_FALSE(drained) << "the background operation still holds the slot";
    background_end("transfer");
    run_for(10ms);
    EXPECT_TRUE(drained);
}

TEST_F(ChannelTest, TypedSubmitDeliversResultsAndRejections) {
    std::optional<Result<int>> got;
    channel->submit<int>(
        opts(),
        [this](CancelToken, std::function<void(Result<int>)> deliver) {
            boost::asio::post(io, [deliver] { deliver(42); });
        },
        [&](Result<int> r) { got = std::move(r); });
    run_for(10ms);
    ASSERT_TRUE(got.has_value());
    EXPECT_EQ(**got, 42);

    std::optional<Result<int>> failed;
    channel->submit<int>(
        opts(),
        [](CancelToken, std::function<void(Result<int>)> deliver) {
            deliver(Error(Errc::DeviceError, "return code 0x04"));
        },
        [&](Result<int> r) { failed = std::move(r); });
    run_for(10ms);
    ASSERT_TRUE(failed.has_value());
    EXPECT_EQ(failed->error().code, Errc::DeviceError);
    EXPECT_EQ(channel->counters().failed, 1u);
}

TEST_F(ChannelTest, AnExceptionInATransportIsAnInternalErrorAndTheChannelGoesOn) {
    std::optional<Result<int>> got;
    channel->submit<int>(
        opts(),
        [](CancelToken, std::function<void(Result<int>)>) {
            throw std::out_of_range("MMIO access at 0x9999");
        },
        [&](Result<int> r) { got = std::move(r); });
    submit("next", opts());
    run_for(20ms);
    ASSERT_TRUE(got.has_value());
    EXPECT_EQ(got->error().code, Errc::Internal);
    EXPECT_NE(got->error().message.find("0x9999"), std::string::npos);
    EXPECT_EQ(order, (std::vector<std::string>{"next"}));
}

TEST(ChannelParallel, AHungChannelDoesNotDelayAnother) {
    boost::asio::thread_pool pool(2);
    auto hung = Channel::create("hung", boost::asio::make_strand(pool));
    auto healthy = Channel::create("healthy", boost::asio::make_strand(pool));
    std::promise<void> hung_started;
    std::function<void(bool)> hung_finish;
    Transaction stuck;
    stuck.run = [&](CancelToken, std::function<void(bool)> finished) {
        hung_finish = finished;  // completes only when the test says so
        hung_started.set_value();
    };
    stuck.reject = [](Error) {};
    hung->submit(std::move(stuck));
    hung_started.get_future().wait();

    std::promise<Clock::duration> done;
    auto start = Clock::now();
    for (int i = 0; i < 100; ++i) {
        healthy->submit<int>(
            {}, [](CancelToken, std::function<void(Result<int>)> deliver) { deliver(1); },
            [&, i](Result<int>) {
                if (i == 99) {
                    done.set_value(Clock::now() - start);
                }
            });
    }
    auto elapsed = done.get_future().get();
    EXPECT_LT(elapsed, 2s);
    hung_finish(true);
    pool.join();
}

}  // namespace
}  // namespace cxlmgr::daemon
