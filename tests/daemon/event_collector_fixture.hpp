// The collector tests' fixture: a journal in a temp dir, the emulated device opened through the
// real arbiter and mailbox driver, a journal executor the test can run by hand or on a thread,
// and a listener that records what the collector hands over.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <future>
#include <thread>

#include "daemon/event_collector.hpp"
#include "emu/type3_device.hpp"

namespace cxlmgr::daemon::collector_test {

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
    // The common start: a default emu0, the journal thread, and a started collector.
    std::shared_ptr<EventCollector> start_default_collector(Seen& seen) {
        open(emu::default_device_description("emu0"));
        run_journal_thread();
        auto c = collector(seen);
        c->start();
        return c;
    }
    void inject(emu::EventLog log, uint64_t dpa) {
        auto s = model->inject_event(log, emu::EventKind::GeneralMedia, {{"dpa", dpa}});
        ASSERT_TRUE(s.ok()) << s.error().describe();
    }
    // Polls `done` every 2 ms for up to 20 s.
    static bool wait_until(const std::function<bool()>& done) {
        for (int i = 0; i < 10000 && !done(); ++i) {
            std::this_thread::sleep_for(2ms);
        }
        return done();
    }
    // Event Status bits of the four logs.
    uint32_t status_bits() {
        auto s = device->event_status();
        EXPECT_TRUE(s.ok());
        return s.ok() ? (*s & 0xf) : 0xffffffff;
    }
    uint64_t completed() { return device->channel_report().front().counters.completed; }
    // Waits until every handler posted to the strand so far has run.
    void sync_strand() {
        std::promise<void> p;
        boost::asio::post(device->mailbox_executor(), [&] { p.set_value(); });
        p.get_future().wait();
    }
    // Stops `c` and waits (bounded) until it has fully stopped: its coroutine ended, the disarm
    // done.
    static bool stop_and_wait(EventCollector& c) {
        auto stopped = std::make_shared<std::promise<void>>();
        auto future = stopped->get_future();
        c.stop([stopped] { stopped->set_value(); });
        return future.wait_for(20s) == std::future_status::ready;
    }
    // The daemon's order: collectors stop, then the channels close, then the pool stops. A
    // collector stopping in the middle of a journal write waits for it: the journal runs.
    void TearDown() override {
        if (!journal_thread.joinable()) {
            journal_io.restart();
            run_journal_thread();
        }
        for (auto& c : collectors) {
            EXPECT_TRUE(stop_and_wait(*c)) << "the collector did not stop";
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

}  // namespace cxlmgr::daemon::collector_test
