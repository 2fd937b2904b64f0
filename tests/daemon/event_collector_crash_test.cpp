// SIGKILL between the durable write and the clear, for real: a child process runs a collector on
// a copy of the emulated device (fork), lets exactly one journal write happen and then kills
// itself. The parent's copy of the device is the device as the crash left it (read, stored, not
// cleared); a fresh journal connection and a fresh collector then play the restarted daemon.
// Nothing may be lost, nothing stored twice, and what comes after the restart follows in order.
//
// fork() needs a process with one thread, so this fixture starts no thread before it (the
// arbiter, the journal thread and the collectors are made on each side after the fork).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <filesystem>
#include <future>
#include <thread>

#include "emu/type3_device.hpp"
#include "daemon/event_collector.hpp"

namespace cxlmgr::daemon {
namespace {

using namespace std::chrono_literals;

size_t thread_count() {
    size_t n = 0;
    for ([[maybe_unused]] const auto& t : std::filesystem::directory_iterator("/proc/self/task")) {
        ++n;
    }
    return n;
}

std::shared_ptr<ManagedDevice> open_managed(Arbiter& arbiter, OpenedDevice opened) {
    std::promise<Result<std::shared_ptr<ManagedDevice>>> p;
    ManagedDevice::async_open(arbiter, std::move(opened), {},
                              [&](auto r) { p.set_value(std::move(r)); });
    auto r = p.get_future().get();
    return r.ok() ? *r : nullptr;
}

// The child: a collector whose journal work runs on this thread, one handler at a time; right
// after the first write has committed, SIGKILL. Exit codes other than the kill say what failed.
[[noreturn]] void crash_after_first_write(OpenedDevice opened, const std::string& journal_path) {
    Arbiter arbiter(2);
    auto device = open_managed(arbiter, std::move(opened));
    auto journal = EventJournal::open(journal_path);
    if (!device || !journal.ok()) {
        _exit(3);
    }
    boost::asio::io_context journal_io;
    auto guard = boost::asio::make_work_guard(journal_io);
    auto collector = EventCollector::create(device, *journal, journal_io.get_executor(),
                                            {.slow_poll = 20ms, .fast_poll = 2ms});
    collector->start();
    // The Overflows read at start, then the write of the first page of records.
    if (journal_io.run_one_for(10s) != 1 || journal_io.run_one_for(10s) != 1) {
        _exit(4);
    }
    ::kill(::getpid(), SIGKILL);
    _exit(5);
}

struct CrashTest : ::testing::Test {
    std::filesystem::path dir;
    void SetUp() override {
        dir = std::filesystem::temp_directory_path() /
              ("cxlmgr-crash-" + std::to_string(::getpid()) + "-" +
               ::testing::UnitTest::GetInstance()->current_test_info()->name());
        std::filesystem::remove_all(dir);
        std::filesystem::create_directories(dir);
    }
    void TearDown() override { std::filesystem::remove_all(dir); }
};

TEST_F(CrashTest, KillBetweenStoreAndClearLosesNothingAndRestartDuplicatesNothing) {
    DeviceSpec spec;
    spec.emulated = emu::default_device_description("emu0");
    auto opened = open_device(spec);
    ASSERT_TRUE(opened.ok()) << opened.error().describe();
    auto model = opened->emulator;
    auto inject = [&](uint64_t dpa) {
        auto s = model->inject_event(emu::EventLog::Failure, emu::EventKind::GeneralMedia,
                                     {{"dpa", dpa}});
        ASSERT_TRUE(s.ok()) << s.error().describe();
    };
    for (uint64_t i = 1; i <= 3; ++i) {
        inject(i * 0x40);
    }
    const std::string journal_path = (dir / "events.sqlite").string();
    ASSERT_EQ(thread_count(), 1u) << "fork() needs a single-threaded process";
    const pid_t child = ::fork();
    ASSERT_NE(child, -1);
    if (child == 0) {
        crash_after_first_write(std::move(opened).value(), journal_path);
    }
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
        << "the child did not die by SIGKILL after its write: "
        << (WIFEXITED(status) ? "exit " + std::to_string(WEXITSTATUS(status)) : "other");

    // Restart: the journal from its file, the device as the crash left it.
    auto journal = EventJournal::open(journal_path);
    ASSERT_TRUE(journal.ok()) << journal.error().describe();
    auto before = (*journal)->read("emu0", 0, 100);
    ASSERT_TRUE(before.ok());
    ASSERT_EQ(before->size(), 3u) << "the write before the kill is durable";
    Arbiter arbiter(2);
    auto device = open_managed(arbiter, std::move(opened).value());
    ASSERT_TRUE(device);
    auto status_bits = [&] {
        auto s = device->event_status();
        return s.ok() ? (*s & 0xf) : 0xffffffffu;
    };
    ASSERT_EQ(status_bits(), 1u << 2) << "the kill came before the clear";
    inject(0x100);  // new since the crash
    inject(0x140);

    boost::asio::io_context journal_io;
    auto guard = boost::asio::make_work_guard(journal_io);
    std::thread journal_thread([&] { journal_io.run(); });
    std::mutex mutex;
    std::condition_variable cv;
    std::vector<StoredEvent> announced;
    auto collector = EventCollector::create(device, *journal, journal_io.get_executor(),
                                            {.slow_poll = 20ms, .fast_poll = 2ms});
    collector->set_listener({[&](std::vector<StoredEvent> batch) {
                                 std::lock_guard lock(mutex);
                                 announced.insert(announced.end(), batch.begin(), batch.end());
                                 cv.notify_all();
                             },
                             {}});
    collector->start();
    {
        std::unique_lock lock(mutex);
        EXPECT_TRUE(cv.wait_for(lock, 20s, [&] { return announced.size() >= 2; }));
    }
    for (int i = 0; i < 1000 && status_bits() != 0; ++i) {
        std::this_thread::sleep_for(5ms);
    }
    EXPECT_EQ(status_bits(), 0u) << "everything cleared after the restart";
    auto after = (*journal)->read("emu0", 0, 100);
    ASSERT_TRUE(after.ok());
    ASSERT_EQ(after->size(), 5u) << "the three re-read records are not stored again";
    for (size_t i = 0; i < after->size(); ++i) {
        auto fields = event_fields((*after)[i].entry);
        ASSERT_TRUE(fields.ok());
        EXPECT_EQ((*fields)["dpa"], (i + 1) * 0x40) << "in device order";
        if (i < 3) {
            EXPECT_EQ((*after)[i].seq, (*before)[i].seq) << "kept its sequence number";
        } else {
            EXPECT_GT((*after)[i].seq, (*after)[i - 1].seq);
        }
    }
    {
        std::lock_guard lock(mutex);
        ASSERT_EQ(announced.size(), 2u) << "only what is new is announced";
        EXPECT_EQ(announced[0].seq, (*after)[3].seq);
        EXPECT_EQ(announced[1].seq, (*after)[4].seq);
    }

    std::promise<void> stopped;
    collector->stop([&] { stopped.set_value(); });
    stopped.get_future().wait();
    std::promise<void> drained;
    device->close([&] { drained.set_value(); });
    drained.get_future().wait();
    arbiter.shutdown();
    guard.reset();
    journal_io.stop();
    journal_thread.join();
}

}  // namespace
}  // namespace cxlmgr::daemon
