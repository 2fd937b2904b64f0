// SubscriptionRegistry and owners that are gone before their subscription exists. A client that
// sends Subscribe and disconnects at once may have its departure (NameOwnerChanged) announced
// before the registry creates the subscription; watching NameOwnerChanged alone would then keep
// that subscription, and the device armed, forever. The registry asks the bus driver once more
// after creating it. Black-box tests cannot order the two (the bus delivers the call first), so
// this one drives the registry directly, on its own D-Bus thread, with an owner name that has
// already left: it fails without that second question.
#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <filesystem>
#include <future>
#include <thread>

#include "daemon/arbiter.hpp"
#include "daemon/device_factory.hpp"
#include "daemon/event_collector.hpp"
#include "daemon/event_journal.hpp"
#include "dbus/bus_loop.hpp"
#include "dbus/pending_calls.hpp"
#include "dbus/subscriptions.hpp"
#include "tests/support/eventually.hpp"
#include "tests/support/private_bus.hpp"

namespace cxlmgr::dbus {
namespace {

using cxlmgr::testing::eventually;

using namespace std::chrono_literals;

class SubscriptionOwnerTest : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = std::filesystem::temp_directory_path() /
               ("cxlmgr-subowner-" + std::to_string(::getpid()) + "-" +
                ::testing::UnitTest::GetInstance()->current_test_info()->name());
        std::filesystem::remove_all(dir_);
        std::filesystem::create_directories(dir_);
        auto journal = daemon::EventJournal::open((dir_ / "events.sqlite").string());
        ASSERT_TRUE(journal.ok()) << journal.error().describe();
        journal_ = *journal;
        journal_thread_ = std::thread([this] {
            auto guard = boost::asio::make_work_guard(journal_io_);
            journal_io_.run();
        });

        daemon::DeviceSpec spec;
        spec.emulated = emu::default_device_description("emu0");
        auto opened = daemon::open_device(spec);
        ASSERT_TRUE(opened.ok()) << opened.error().describe();
        std::promise<Result<std::shared_ptr<daemon::ManagedDevice>>> p;
        daemon::ManagedDevice::async_open(arbiter_, std::move(opened).value(), {},
                                          [&](auto r) { p.set_value(std::move(r)); });
        auto device = p.get_future().get();
        ASSERT_TRUE(device.ok()) << device.error().describe();
        device_ = *device;
        collector_ = daemon::EventCollector::create(device_, journal_, journal_io_.get_executor());
        collector_->set_listener({[](std::vector<daemon::StoredEvent>) {}, [](uint64_t) {}});

        connection_ = sdbus::createSessionBusConnectionWithAddress(bus_.address());
        work_.emplace(io_.get_executor());
        io_thread_ = std::thread([this] { io_.run(); });
        on_io([this] {
            loop_ = BusLoop::create(io_, *connection_);
            dispatcher_ = std::make_shared<Dispatcher>(io_);
            calls_ = std::make_shared<PendingCalls>(io_, dispatcher_, loop_, 60s);
            context_ = std::make_unique<ServiceContext>(ServiceContext{
                .io = io_,
                .connection = *connection_,
                .loop = loop_,
                .dispatcher = dispatcher_,
                .calls = calls_,
                .authorizer = Authorizer(std::nullopt, ::getuid()),
                .allow_raw_writes = false,
                .firmware_updates = nullptr,
                .jobs = nullptr,
                .image_limits = {},
                .subscriptions = nullptr,
            });
            registry_ = std::make_shared<SubscriptionRegistry>(*context_);
            loop_->start();
        });
    }

    void TearDown() override {
        if (registry_) {
            on_io([this] {
                registry_->clear();
                registry_.reset();
                loop_->stop();
            });
        }
        work_.reset();
        if (io_thread_.joinable()) {
            io_.stop();
            io_thread_.join();
        }
        if (collector_) {
            collector_->stop();
        }
        if (device_) {
            std::promise<void> drained;
            device_->close([&] { drained.set_value(); });
            drained.get_future().wait();
        }
        arbiter_.shutdown();
        journal_io_.stop();
        if (journal_thread_.joinable()) {
            journal_thread_.join();
        }
        std::filesystem::remove_all(dir_);
    }

    template <typename F>
    auto on_io(F f) -> decltype(f()) {
        std::packaged_task<decltype(f())()> task(std::move(f));
        auto result = task.get_future();
        boost::asio::post(io_, [&task] { task(); });
        return result.get();
    }

    // Subscribes `owner` as if its Subscribe call were being processed now; returns the path.
    std::string subscribe(const std::string& owner) {
        std::promise<Result<std::string>> created;
        on_io([&] {
            registry_->subscribe("/org/cxlmgr1/devices/emu0", {}, owner, collector_,
                                 [&](Result<std::string> r) { created.set_value(std::move(r)); });
        });
        auto path = created.get_future().get();
        EXPECT_TRUE(path.ok()) << path.error().describe();
        return path.ok() ? *path : "";
    }

    // Returns once a call to the bus driver made now has been answered and dispatched. The
    // driver answers in order and sd-bus dispatches replies in order: whatever the registry asked
    // it before has been answered and handled by then.
    void round_trip() {
        std::promise<void> answered;
        std::unique_ptr<sdbus::IProxy> driver;
        on_io([&] {
            driver =
                sdbus::createProxy(*connection_, "org.freedesktop.DBus", "/org/freedesktop/DBus");
            driver->callMethodAsync("GetId")
                .onInterface("org.freedesktop.DBus")
                .uponReplyInvoke([&](const sdbus::Error*, std::string) { answered.set_value(); });
            loop_->kick();
        });
        answered.get_future().wait();
        on_io([&] { driver.reset(); });
    }

    size_t registered() {
        return on_io([this] { return registry_->size(); });
    }

    testing::PrivateBus bus_;
    std::filesystem::path dir_;
    daemon::Arbiter arbiter_{1};
    boost::asio::io_context journal_io_;
    std::thread journal_thread_;
    std::shared_ptr<daemon::EventJournal> journal_;
    std::shared_ptr<daemon::ManagedDevice> device_;
    std::shared_ptr<daemon::EventCollector> collector_;

    boost::asio::io_context io_;
    std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_;
    std::thread io_thread_;
    std::unique_ptr<sdbus::IConnection> connection_;
    std::shared_ptr<BusLoop> loop_;
    std::shared_ptr<Dispatcher> dispatcher_;
    std::shared_ptr<PendingCalls> calls_;
    std::unique_ptr<ServiceContext> context_;
    std::shared_ptr<SubscriptionRegistry> registry_;
};

TEST_F(SubscriptionOwnerTest, AnOwnerGoneBeforeItsSubscriptionExistedIsNoticed) {
    // A client that came and went, and the registry's connection has dispatched its
    // NameOwnerChanged already: a handler of ours on that connection saw it, and sd-bus runs
    // every handler of a message before the next message.
    std::string gone;
    std::promise<void> announced;
    sdbus::Slot watch;
    on_io([&] {
        watch = connection_->addMatch(
            "type='signal',sender='org.freedesktop.DBus',interface='org.freedesktop.DBus',"
            "member='NameOwnerChanged'",
            [&](sdbus::Message& msg) {
                std::string name, old_owner, new_owner;
                msg >> name >> old_owner >> new_owner;
                if (!gone.empty() && name == gone && new_owner.empty()) {
                    announced.set_value();
                }
            });
    });
    {
        auto client = sdbus::createSessionBusConnectionWithAddress(bus_.address());
        on_io([&] { gone = client->getUniqueName(); });
    }
    ASSERT_EQ(announced.get_future().wait_for(10s), std::future_status::ready);

    EXPECT_FALSE(subscribe(gone).empty());
    round_trip();
    EXPECT_EQ(registered(), 0u) << "the subscription of " << gone << " outlived its owner";
    EXPECT_TRUE(eventually([&] { return collector_->subscribers() == 0; }))
        << "the device stays armed for nobody";
    on_io([&] { watch.reset(); });
}

TEST_F(SubscriptionOwnerTest, AnOwnerStillThereKeepsItsSubscriptionUntilItLeaves) {
    auto client = sdbus::createSessionBusConnectionWithAddress(bus_.address());
    EXPECT_FALSE(subscribe(client->getUniqueName()).empty());
    round_trip();  // the registry has its answer: the owner is there, the subscription stays
    EXPECT_EQ(registered(), 1u);
    EXPECT_EQ(collector_->subscribers(), 1u);
    client.reset();  // leaves the bus: NameOwnerChanged ends it
    EXPECT_TRUE(eventually([&] { return registered() == 0; }));
    EXPECT_TRUE(eventually([&] { return collector_->subscribers() == 0; }));
}

}  // namespace
}  // namespace cxlmgr::dbus
