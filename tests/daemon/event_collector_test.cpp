// The collector against the emulated device, through the real arbiter and mailbox driver.
#include "daemon/event_collector.hpp"

#include <gtest/gtest.h>

#include <boost/asio/executor_work_guard.hpp>
#include <future>

#include "cxl/commands/timestamp.hpp"
#include "tests/daemon/event_collector_fixture.hpp"

namespace cxlmgr::daemon {
namespace {

using namespace std::chrono_literals;
using collector_test::CollectorTest;
using collector_test::Seen;

TEST_F(CollectorTest, DrainsStoresClearsAndReportsInOrder) {
    auto desc = emu::default_device_description("emu0");
    desc.payload_size = 256;  // one record per Get: the drain must page
    open(desc);
    run_journal_thread();
    for (uint64_t i = 1; i <= 5; ++i) {
        inject(emu::EventLog::Warning, i * 0x40);
    }
    inject(emu::EventLog::Fatal, 0x1000);
    Seen seen;
    auto c = collector(seen);
    c->start();
    ASSERT_TRUE(seen.wait_for(6));
    std::lock_guard lock(seen.mutex);
    ASSERT_EQ(seen.events.size(), 6u);
    // The fatal log first (most severe first), then the warnings in the order injected.
    EXPECT_EQ(seen.events[0].entry.log, cxl::EventLog::Fatal);
    for (size_t i = 1; i < 6; ++i) {
        EXPECT_GT(seen.events[i].seq, seen.events[i - 1].seq);
        auto fields = event_fields(seen.events[i].entry);
        ASSERT_TRUE(fields.ok());
        EXPECT_EQ((*fields)["dpa"], i * 0x40);
    }
    auto status = device->event_status();
    ASSERT_TRUE(status.ok());
    EXPECT_EQ(*status & 0xf, 0u) << "everything read was cleared";
    EXPECT_EQ(journal->read("emu0", 0, 100)->size(), 6u);
}

TEST_F(CollectorTest, CrashBetweenStoreAndClearLosesAndDuplicatesNothing) {
    open(emu::default_device_description("emu0"));
    for (uint64_t i = 1; i <= 3; ++i) {
        inject(emu::EventLog::Failure, i * 0x40);
    }
    // First collector: its journal work runs only when the test says so.
    Seen first;
    auto a = collector(first);
    auto guard = boost::asio::make_work_guard(journal_io);
    const auto completed = device->channel_report().front().counters.completed;
    a->start();
    ASSERT_EQ(journal_io.run_one_for(10s), 1u);  // the Overflows read at start
    // Set Timestamp, then Get Event Records complete; the Get's callback (on the strand) hands
    // the records to the journal thread.
    for (int i = 0; i < 2000 && device->channel_report().front().counters.completed < completed + 2;
         ++i) {
        std::this_thread::sleep_for(1ms);
    }
    sync_strand();
    // "Crash": the collector stops before the write's completion reaches it, so it never clears.
    a->stop();
    sync_strand();
    ASSERT_EQ(journal_io.run_one_for(10s), 1u);  // the durable write
    sync_strand();
    guard.reset();
    ASSERT_EQ(journal->read("emu0", 0, 10)->size(), 3u) << "the write was done";
    auto status = device->event_status();
    ASSERT_TRUE(status.ok());
    EXPECT_NE(*status & (1u << 2), 0u) << "the clear was not";
    {
        std::lock_guard lock(first.mutex);
        EXPECT_TRUE(first.events.empty());
    }

    // "Restart": a new collector on the same journal and the same device reads the same
    // records again, stores none twice and clears them.
    journal_io.restart();
    run_journal_thread();
    Seen second;
    auto b = collector(second);
    b->start();
    for (int i = 0; i < 2000; ++i) {
        auto s = device->event_status();
        if (s.ok() && (*s & 0xf) == 0) {
            break;
        }
        std::this_thread::sleep_for(5ms);
    }
    EXPECT_EQ(*device->event_status() & 0xf, 0u);
    auto stored = journal->read("emu0", 0, 100);
    ASSERT_TRUE(stored.ok());
    ASSERT_EQ(stored->size(), 3u) << "no duplicates";
    for (size_t i = 0; i < 3; ++i) {
        EXPECT_EQ((*event_fields((*stored)[i].entry))["dpa"], (i + 1) * 0x40);
    }
    sync_strand();
    std::lock_guard lock(second.mutex);
    EXPECT_TRUE(second.events.empty()) << "nothing new to announce";
}

TEST_F(CollectorTest, FullLogYieldsAnOverflowEvent) {
    auto desc = emu::default_device_description("emu0");
    desc.events = {{"capacity", 4}};
    open(desc);
    run_journal_thread();
    // The device clock, so the overflow times are real.
    std::promise<Result<cxl::Unit>> set;
    device->call(cxl::set_timestamp(123456789), {}, [&](auto r) { set.set_value(std::move(r)); });
    ASSERT_TRUE(set.get_future().get().ok());
    for (uint64_t i = 1; i <= 7; ++i) {
        inject(emu::EventLog::Informational, i * 0x40);
    }
    Seen seen;
    auto c = collector(seen);
    c->start();
    ASSERT_TRUE(seen.wait_for(5));
    std::lock_guard lock(seen.mutex);
    ASSERT_EQ(seen.events.size(), 5u);
    EXPECT_EQ(seen.events[0].entry.kind, "overflow");
    EXPECT_EQ(seen.events[0].entry.overflow_count, 3u);
    EXPECT_NE(seen.events[0].entry.first_overflow, 0u);
    EXPECT_GE(seen.events[0].entry.last_overflow, seen.events[0].entry.first_overflow);
    EXPECT_EQ(seen.overflows, 3u);
    EXPECT_EQ(c->overflows(), 3u);
    EXPECT_EQ(*journal->overflows("emu0"), 3u);
}

TEST_F(CollectorTest, SubscriptionsAreCountedAndArmTheDevice) {
    Seen seen;
    auto c = start_default_collector(seen);
    auto call = [&](bool sub) {
        std::promise<Status> p;
        auto done = [&](Status s) { p.set_value(std::move(s)); };
        sub ? c->subscribe(done) : c->unsubscribe(done);
        auto s = p.get_future().get();
        EXPECT_TRUE(s.ok()) << s.error().describe();
    };
    auto armed = [&] {
        auto policy = model->event_interrupt_policy();
        bool all = true;
        for (auto log : {emu::EventLog::Informational, emu::EventLog::Warning,
                         emu::EventLog::Failure, emu::EventLog::Fatal}) {
            all = all && policy.mode(log) == emu::EventInterruptPolicy::kMsi;
        }
        return all;
    };
    EXPECT_FALSE(armed());
    call(true);
    EXPECT_TRUE(armed());
    EXPECT_EQ(c->subscribers(), 1u);
    call(true);
    call(false);
    EXPECT_TRUE(armed()) << "one subscriber is left";
    call(false);
    EXPECT_FALSE(armed());
    EXPECT_EQ(model->event_interrupt_policy(), emu::EventInterruptPolicy{});
    EXPECT_EQ(c->subscribers(), 0u);
}

TEST_F(CollectorTest, IdleCollectorPollsSlowlyAndSendsNoMailboxCommand) {
    open(emu::default_device_description("emu0"));
    run_journal_thread();
    Seen seen;
    auto c = collector(seen);
    const auto before = device->channel_report().front().counters.submitted;
    c->start();
    std::this_thread::sleep_for(200ms);
    EXPECT_GE(c->polls(), 3u);
    EXPECT_LE(c->polls(), 15u);  // 20 ms slow poll
    // Only the Set Timestamp at start: polling reads a register, not the mailbox.
    EXPECT_EQ(device->channel_report().front().counters.submitted, before + 1);
}

}  // namespace
}  // namespace cxlmgr::daemon
