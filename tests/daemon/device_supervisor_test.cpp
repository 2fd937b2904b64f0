// The supervisor's schedule alone, with a scripted probe: it probes until the probe finds the
// device whole, goes idle, starts again on wake(), ends on a probe error, and stop() leaves
// nothing pending.
#include "daemon/device_supervisor.hpp"

#include <gtest/gtest.h>

#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <deque>
#include <future>
#include <mutex>

#include "tests/support/eventually.hpp"

namespace cxlmgr::daemon {
namespace {

using namespace std::chrono_literals;
using cxlmgr::testing::eventually;

// What the probe answers, round by round; once the script runs out, `then`.
struct Script {
    std::mutex mutex;
    std::deque<Result<bool>> answers;
    Result<bool> then = true;
    int rounds = 0;

    Result<bool> next() {
        std::lock_guard lock(mutex);
        ++rounds;
        if (answers.empty()) {
            return then;
        }
        auto r = answers.front();
        answers.pop_front();
        return r;
    }
    int count() {
        std::lock_guard lock(mutex);
        return rounds;
    }
};

Task<Result<bool>> scripted_probe(std::shared_ptr<Script> script) {
    co_return script->next();
}

struct DeviceSupervisorTest : ::testing::Test {
    boost::asio::thread_pool pool{1};
    std::shared_ptr<Script> script = std::make_shared<Script>();
    std::shared_ptr<DeviceSupervisor> supervisor;
    bool joined = false;

    void SetUp() override {
        SupervisionOptions options;
        options.first_probe = 1ms;
        options.max_interval = 4ms;
        supervisor = DeviceSupervisor::create("emu0", boost::asio::make_strand(pool), options,
                                              [s = script] { return scripted_probe(s); });
    }
    void TearDown() override {
        if (!joined) {
            stop();
            pool.join();
        }
    }
    void stop() {
        std::promise<void> stopped;
        supervisor->stop([&] { stopped.set_value(); });
        ASSERT_EQ(stopped.get_future().wait_for(20s), std::future_status::ready);
    }
};

TEST_F(DeviceSupervisorTest, ProbesUntilWholeThenGoesIdleUntilWokenAgain) {
    script->answers = {false, false, false};
    supervisor->wake();
    ASSERT_TRUE(eventually([&] { return script->count() == 4; }));
    // Whole at the fourth round: idle from here on (probes() counts rounds, not wake-ups).
    EXPECT_EQ(supervisor->probes(), 4u);

    script->answers = {false};
    supervisor->wake();
    ASSERT_TRUE(eventually([&] { return script->count() == 6; }));
    stop();
    EXPECT_EQ(supervisor->probes(), 6u);
}

TEST_F(DeviceSupervisorTest, AProbeErrorEndsSupervisionUntilTheNextWake) {
    script->answers = {false, Error(Errc::DeviceGone, "emu0 is being removed")};
    supervisor->wake();
    ASSERT_TRUE(eventually([&] { return script->count() == 2; }));
    supervisor->wake();
    ASSERT_TRUE(eventually([&] { return script->count() == 3; }));
}

TEST_F(DeviceSupervisorTest, StopEndsALongWaitAndLaterWakesDoNothing) {
    SupervisionOptions options;
    options.first_probe = std::chrono::hours(1);
    auto waiting = DeviceSupervisor::create("emu0", boost::asio::make_strand(pool), options,
                                            [s = script] { return scripted_probe(s); });
    waiting->wake();
    std::promise<void> stopped;
    waiting->stop([&] { stopped.set_value(); });
    ASSERT_EQ(stopped.get_future().wait_for(20s), std::future_status::ready);
    waiting->wake();
    // The pool has nothing left to run: join() would otherwise wait for the hour.
    stop();
    auto join = std::async(std::launch::async, [this] { pool.join(); });
    ASSERT_EQ(join.wait_for(20s), std::future_status::ready);
    joined = true;
    EXPECT_EQ(waiting->probes(), 0u);
}

}  // namespace
}  // namespace cxlmgr::daemon
