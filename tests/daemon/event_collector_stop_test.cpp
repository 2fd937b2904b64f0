// Stopping collection: an armed device is disarmed while its channel still takes work (what the
// daemon's stop relies on, through EventHub::stop_all), an arm still in flight is waited for,
// a device whose channel closed first is skipped with an info line, never a warning, and a stop
// in the middle of a drain reports only once the drain's coroutine has ended, so that the
// channels may close and the pool stop right after it.
#include <gtest/gtest.h>

#include "common/log.hpp"
#include "daemon/event_hub.hpp"
#include "tests/daemon/event_collector_fixture.hpp"

namespace cxlmgr::daemon {
namespace {

using namespace std::chrono_literals;

using collector_test::CollectorTest;
using collector_test::Seen;

struct StopTest : CollectorTest {
    void SetUp() override {
        CollectorTest::SetUp();
        saved_level_ = log::level();
        log::set_level(log::Level::Info);
    }
    void TearDown() override {
        log::set_level(saved_level_);
        CollectorTest::TearDown();
    }
    bool armed() {
        auto policy = model->event_interrupt_policy();
        return policy.mode(emu::EventLog::Informational) == emu::EventInterruptPolicy::kMsi &&
               policy.mode(emu::EventLog::Fatal) == emu::EventInterruptPolicy::kMsi;
    }
    static Status wait(const std::function<void(std::function<void(Status)>)>& call) {
        std::promise<Status> p;
        call([&](Status s) { p.set_value(std::move(s)); });
        return p.get_future().get();
    }
    static void stop(EventCollector& c) { ASSERT_TRUE(stop_and_wait(c)); }
    void close_device() {
        std::promise<void> drained;
        device->close([&] { drained.set_value(); });
        drained.get_future().wait();
    }
    // What the daemon does once its collectors have stopped: close the channels, stop the pool.
    // Leaves TearDown nothing to stop or close.
    void close_and_stop_the_pool() {
        close_device();
        arbiter.shutdown();
        collectors.clear();
        device.reset();
    }
    // Lines logged at warning or error level in `captured`.
    static std::string complaints(const std::string& captured) {
        std::string out;
        std::istringstream in(captured);
        for (std::string line; std::getline(in, line);) {
            if (line.find(" warning: ") != std::string::npos ||
                line.find(" error: ") != std::string::npos) {
                out += line + "\n";
            }
        }
        return out;
    }
    log::Level saved_level_ = log::Level::Info;
};

TEST_F(StopTest, StopDisarmsAnArmedDeviceAndLaterSubscriptionsDoNotArmIt) {
    Seen seen;
    auto c = start_default_collector(seen);
    ASSERT_TRUE(wait([&](auto done) { c->subscribe(done); }).ok());
    ASSERT_TRUE(armed());
    ::testing::internal::CaptureStderr();
    stop(*c);
    const std::string log = ::testing::internal::GetCapturedStderr();
    EXPECT_FALSE(armed());
    EXPECT_EQ(model->event_interrupt_policy(), emu::EventInterruptPolicy{});
    EXPECT_NE(log.find("emu0: collection stopped, event sources disarmed"), std::string::npos)
        << log;
    EXPECT_EQ(complaints(log), "");
    // The service ends its subscriptions after the stop: counted, answered, no command.
    const auto submitted = device->channel_report().front().counters.submitted;
    EXPECT_TRUE(wait([&](auto done) { c->unsubscribe(done); }).ok());
    EXPECT_TRUE(wait([&](auto done) { c->subscribe(done); }).ok());
    EXPECT_FALSE(armed());
    EXPECT_EQ(device->channel_report().front().counters.submitted, submitted);
    stop(*c);  // idempotent
}

TEST_F(StopTest, StopWaitsForAnArmInFlightThenDisarms) {
    Seen seen;
    auto c = start_default_collector(seen);
    // Posted to the strand before the stop: the arm is in flight when the stop runs, and a stop
    // that did not wait for it would see "not armed" and leave the device armed.
    std::promise<Status> subscribed;
    c->subscribe([&](Status s) { subscribed.set_value(std::move(s)); });
    stop(*c);
    EXPECT_TRUE(subscribed.get_future().get().ok());
    EXPECT_FALSE(armed());
}

TEST_F(StopTest, ChannelClosedFirstIsSkippedWithAnInfoLine) {
    Seen seen;
    auto c = start_default_collector(seen);
    ASSERT_TRUE(wait([&](auto done) { c->subscribe(done); }).ok());
    ASSERT_TRUE(armed());
    close_device();
    ::testing::internal::CaptureStderr();
    // The last subscriber leaves after the channel closed (a stop without stop_all first).
    EXPECT_TRUE(wait([&](auto done) { c->unsubscribe(done); }).ok());
    stop(*c);
    const std::string log = ::testing::internal::GetCapturedStderr();
    EXPECT_NE(
        log.find("emu0: last subscriber gone: event sources not disarmed: emu0 is being removed"),
        std::string::npos)
        << log;
    EXPECT_EQ(complaints(log), "");
    EXPECT_TRUE(armed()) << "the channel was closed: nothing reached the device";
}

TEST_F(StopTest, HubStopsEveryCollectorAndDisarmsBeforeTheDevicesClose) {
    open(emu::default_device_description("emu0"));
    std::filesystem::create_directories(dir / "hub");
    auto hub = EventHub::open((dir / "hub").string(),
                              {.journal = {}, .collector = {.slow_poll = 20ms, .fast_poll = 2ms}});
    ASSERT_TRUE(hub.ok()) << hub.error().describe();
    auto c = (*hub)->collector(device);
    Seen seen;
    c->set_listener(seen.listener());
    c->start();
    ASSERT_TRUE(wait([&](auto done) { c->subscribe(done); }).ok());
    ASSERT_TRUE(armed());
    {
        // A collector that is gone already (its device was removed) is not waited for.
        auto gone = (*hub)->collector(device);
    }
    std::promise<void> stopped;
    (*hub)->stop_all([&] { stopped.set_value(); });
    ASSERT_EQ(stopped.get_future().wait_for(20s), std::future_status::ready);
    EXPECT_FALSE(armed());
    // The daemon closes the devices next; nothing of the collector's is left to be refused.
    const auto rejected = device->channel_report().front().counters.rejected;
    close_device();
    EXPECT_EQ(device->channel_report().front().counters.rejected, rejected);
    c.reset();
    std::promise<void> none;
    (*hub)->stop_all([&] { none.set_value(); });
    EXPECT_EQ(none.get_future().wait_for(5s), std::future_status::ready);
}

// The daemon's shutdown right after a stop in the middle of a drain: the stop reports only once
// the drain's pending journal write has come back and the coroutine has ended, without touching
// the device again (no overflow check, no clear) or calling the listener; the channels then
// close and the pool stops with nothing of the collector left on it (ASan: no use after free, no
// leaked frame).
TEST_F(StopTest, StopDuringTheJournalWriteReportsOnceTheDrainHasEnded) {
    open(emu::default_device_description("emu0"));
    for (uint64_t i = 1; i <= 3; ++i) {
        inject(emu::EventLog::Failure, i * 0x40);
    }
    Seen seen;
    auto c = collector(seen);
    auto guard = boost::asio::make_work_guard(journal_io);  // journal work runs when we say
    const auto before = completed();
    c->start();
    ASSERT_EQ(journal_io.run_one_for(10s), 1u);  // the Overflows read at start
    // Set Timestamp, then the Get whose page now waits for its durable write.
    ASSERT_TRUE(wait_until([&] { return completed() >= before + 2; }));
    sync_strand();

    auto stopped = std::make_shared<std::promise<void>>();
    auto stopped_future = stopped->get_future();
    c->stop([stopped] { stopped->set_value(); });
    sync_strand();
    const auto submitted = device->channel_report().front().counters.submitted;
    // The write has not run: a stop that reported now would let the channels close and the pool
    // stop under the drain's coroutine.
    EXPECT_EQ(stopped_future.wait_for(100ms), std::future_status::timeout);
    ASSERT_EQ(journal_io.run_one_for(10s), 1u);  // the write
    ASSERT_EQ(stopped_future.wait_for(20s), std::future_status::ready);

    EXPECT_EQ(device->channel_report().front().counters.submitted, submitted)
        << "no command after the stop";
    EXPECT_EQ(journal->read("emu0", 0, 10)->size(), 3u) << "the write was done";
    EXPECT_EQ(status_bits(), 1u << 2) << "the clear was not: the next collector reads them again";
    close_and_stop_the_pool();
    guard.reset();
    EXPECT_EQ(journal_io.poll(), 0u) << "no journal work after the stop";
    std::lock_guard lock(seen.mutex);
    EXPECT_TRUE(seen.events.empty()) << "no listener call after the stop";
}

// The same with the drain's Get Event Records stuck in a mailbox that does not answer (the
// driver gives up after its doorbell timeout): the stop waits for that command to end and sends
// nothing after it.
TEST_F(StopTest, StopDuringAStuckGetReportsOnceTheCommandHasEnded) {
    open(emu::default_device_description("emu0"));
    run_journal_thread();
    Seen seen;
    auto c = collector(seen);
    const auto opened = completed();
    c->start();
    // The collector's start-up Set Timestamp first, so that the fault meets the drain's Get.
    ASSERT_TRUE(wait_until([&] { return completed() > opened && c->polls() >= 1; }));
    const auto counters = [&] { return device->channel_report().front().counters; };
    const auto before = counters();
    model->arm_fault(emu::Fault::MailboxTimeout);
    inject(emu::EventLog::Warning, 0x40);
    ASSERT_TRUE(wait_until([&] { return counters().submitted > before.submitted; }));

    auto stopped = std::make_shared<std::promise<void>>();
    auto stopped_future = stopped->get_future();
    c->stop([stopped] { stopped->set_value(); });
    ASSERT_EQ(stopped_future.wait_for(20s), std::future_status::ready);
    const auto after = counters();
    EXPECT_EQ(after.completed + after.failed + after.rejected,
              before.completed + before.failed + before.rejected + 1)
        << "the stop reported after the Get had ended";
    EXPECT_EQ(after.submitted, before.submitted + 1) << "nothing sent after the Get";
    EXPECT_EQ(status_bits(), 1u << 1) << "nothing was cleared";
    close_and_stop_the_pool();
    std::lock_guard lock(seen.mutex);
    EXPECT_TRUE(seen.events.empty());
}

}  // namespace
}  // namespace cxlmgr::daemon
