#include "common/async_poll.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <optional>

namespace cxlmgr {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

struct Harness {
    boost::asio::io_context io;
    std::optional<Status> outcome;
    int checks = 0;

    void poll(std::function<Result<bool>()> check, Clock::duration timeout, CancelToken cancel = {},
              Backoff backoff = {std::chrono::microseconds(50), std::chrono::microseconds(2000),
                                 2}) {
        async_poll(
            io.get_executor(), backoff, Clock::now() + timeout, std::move(cancel),
            [this, check = std::move(check)]() {
                ++checks;
                return check();
            },
            [this](Status s) { outcome = std::move(s); });
    }
};

TEST(AsyncPoll, ConditionAlreadyTrueCompletesAfterOneCheckButNotInline) {
    Harness h;
    h.poll([] { return Result<bool>(true); }, 1s);
    EXPECT_FALSE(h.outcome.has_value()) << "completion must not run inside async_poll";
    h.io.run();
    ASSERT_TRUE(h.outcome.has_value());
    EXPECT_TRUE(h.outcome->ok());
    EXPECT_EQ(h.checks, 1);
}

TEST(AsyncPoll, WaitsUntilTheConditionHolds) {
    Harness h;
    int remaining = 5;
    h.poll([&] { return Result<bool>(--remaining == 0); }, 5s);
    h.io.run();
    ASSERT_TRUE(h.outcome.has_value());
    EXPECT_TRUE(h.outcome->ok());
    EXPECT_EQ(h.checks, 5);
}

TEST(AsyncPoll, TimesOutWithBoundedChecks) {
    Harness h;
    auto start = Clock::now();
    h.poll([] { return Result<bool>(false); }, 30ms);
    h.io.run();
    auto elapsed = Clock::now() - start;
    ASSERT_TRUE(h.outcome.has_value());
    ASSERT_FALSE(h.outcome->ok());
    EXPECT_EQ(h.outcome->error().code, Errc::Timeout);
    EXPECT_GE(elapsed, 30ms);
    // Backoff caps the interval at 2 ms: about 15 checks in 30 ms plus the ramp, never a spin.
    EXPECT_LT(h.checks, 60);
    EXPECT_GT(h.checks, 3);
}

TEST(AsyncPoll, CancellationIsObservedAtTheNextCheck) {
    Harness h;
    CancelToken cancel;
    int calls = 0;
    h.poll(
        [&] {
            if (++calls == 3) {
                cancel.cancel();
            }
            return Result<bool>(false);
        },
        10s, cancel);
    h.io.run();
    ASSERT_TRUE(h.outcome.has_value());
    EXPECT_EQ(h.outcome->error().code, Errc::Cancelled);
    EXPECT_EQ(calls, 3);
}

TEST(AsyncPoll, CheckErrorsStopThePoll) {
    Harness h;
    h.poll([] { return Result<bool>(Error(Errc::DeviceGone, "all-ones")); }, 10s);
    h.io.run();
    ASSERT_TRUE(h.outcome.has_value());
    EXPECT_EQ(h.outcome->error().code, Errc::DeviceGone);
    EXPECT_EQ(h.checks, 1);
}

}  // namespace
}  // namespace cxlmgr
