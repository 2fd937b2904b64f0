// The collector against the emulated device, through the real arbiter and mailbox driver.
#include "daemon/event_collector.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <condition_variable>
#include <filesystem>
#include <future>

#include "cxl/commands/timestamp.hpp"
#include "cxl/emu/type3_device.hpp"

namespace cxlmgr::daemon {
namespace {

using namespace std::chrono_literals;

// What a collector hands its listener, for the test thread to wait on.
struct Seen {
    std::mutex mutex;
    std::condition_variable cv;
    std::vector<StoredEvent> events;
    uint64_t overflows = 0;

    CollectorListener listener() {
        return {[this](std::vector<StoredEvent> batch) {
                    std::lock_guard lock(mutex);
                    for (auto& e : batch) {
                        events.push_back(std::move(e));
                    }
                    cv.notify_all();
                },
                [this](uint64_t total) {
                    std::lock_guard lock(mutex);
                    overflows = total;
                    cv.notify_all();
                }};
    }
    bool wait_for(size_t n) {
        std::unique_lock lock(mutex);
        return cv.wait_for(lock, 20s, [&] { return events.size() >= n; });
    }
};

struct CollectorTest : ::testing::Test {
    std::filesystem::path dir;
    Arbiter arbiter{2};
    boost::asio::io_context journal_io;
    std::thread journal_thread;
    std::shared_ptr<EventJournal> journal;
    std::shared_ptr<ManagedDevice> device;
    std::shared_ptr<emu::Type3Device> model;
    std::vector<std::shared_ptr<EventCollector>> collectors;

    void SetUp() override {
        dir = std::filesystem::temp_directory_path() /
              ("cxlmgr-collector-" + std::to_string(::getpid()) + "-" +
               ::testing::UnitTest::GetInstance()->current_test_info()->name());
        std::filesystem::remove_all(dir);
        std::filesystem::create_directories(dir);
        auto j = EventJournal::open((dir / "events.sqlite").string());
        ASSERT_TRUE(j.ok()) << j.error().describe();
        journal = *j;
    }
    void open(emu::DeviceDescription desc) {
        DeviceSpec spec;
        spec.emulated = std::move(desc);
        auto opened = open_device(spec);
        ASSERT_TRUE(opened.ok()) << opened.error().describe();
        model = opened->emulator;
        std::promise<Result<std::shared_ptr<ManagedDevice>>> p;
        ManagedDevice::async_open(arbiter, std::move(opened).value(), {},
                                  [&](auto r) { p.set_value(std::move(r)); });
        auto r = p.get_future().get();
        ASSERT_TRUE(r.ok()) << r.error().describe();
        device = *r;
    }
    void run_journal_thread() {
        journal_thread = std::thread([this] {
            auto guard = boost::asio::make_work_guard(journal_io);
            journal_io.run();
        });
    }
    std::shared_ptr<EventCollector> collector(Seen& seen) {
        auto c = EventCollector::create(device, journal, journal_io.get_executor(),
                                        {.slow_poll = 20ms, .fast_poll = 2ms});
        c->set_listener(seen.listener());
        collectors.push_back(c);
        return c;
    }
    void inject(emu::EventLog log, uint64_t dpa) {
        auto s = model->inject_event(log, emu::EventKind::GeneralMedia, {{"dpa", dpa}});
        ASSERT_TRUE(s.ok()) << s.error().describe();
    }
    // Waits until every handler posted to the strand so far has run.
    void sync_strand() {
        std::promise<void> p;
        boost::asio::post(device->mailbox_executor(), [&] { p.set_value(); });
        p.get_future().wait();
    }
    void TearDown() override {
        for (auto& c : collectors) {
            c->stop();
        }
        if (device) {
            std::promise<void> drained;
            device->close([&] { drained.set_value(); });
            drained.get_future().wait();
        }
        arbiter.shutdown();
        journal_io.stop();
        if (journal_thread.joinable()) {
            journal_thread.join();
        }
        std::filesystem::remove_all(dir);
    }
};

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
    std::promise<Result<cxl::MailboxResponse>> set;
    device->command(0x0301, cxl::set_timestamp_request(123456789).input,
                    [&](auto r) { set.set_value(std::move(r)); });
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
    open(emu::default_device_description("emu0"));
    run_journal_thread();
    Seen seen;
    auto c = collector(seen);
    c->start();
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
