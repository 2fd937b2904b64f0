// Firmware.StartUpdate against an org.cxlmgr1.Firmware object assembled by hand on a private
// bus (the parts Service wires together: loop, dispatcher, job objects, firmware updates), so
// that a test can occupy the job object's path on the service's own connection and make its
// export fail (issue 13, problem 3): the caller then gets the error, and no job ran, holds the
// device or left a marker behind. Also: updates started one after the other, each as soon as
// the previous one's Finished arrived, are never refused as Busy (issue 13, problem 4).
#include <gtest/gtest.h>

#include <dbus/generated/Firmware_proxy.h>
#include <sdbus-c++/sdbus-c++.h>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <future>
#include <mutex>
#include <set>
#include <thread>

#include "daemon/device_factory.hpp"
#include "daemon/firmware_updates.hpp"
#include "dbus/firmware_interface.hpp"
#include "dbus/job_object.hpp"
#include "dbus/object_paths.hpp"
#include "emu/device_description.hpp"
#include "emu/firmware_image.hpp"
#include "tests/support/eventually.hpp"
#include "tests/support/private_bus.hpp"

namespace cxlmgr::dbus {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;
using Dict = std::map<std::string, sdbus::Variant>;

class FirmwareClient final : public sdbus::ProxyInterfaces<org::cxlmgr1::Firmware_proxy> {
public:
    FirmwareClient(sdbus::IConnection& connection, std::string destination, std::string path)
        : ProxyInterfaces(connection, std::move(destination), std::move(path)) {
        registerProxy();
    }
    ~FirmwareClient() { unregisterProxy(); }
};

class FirmwareStartTest : public ::testing::Test {
protected:
    void SetUp() override {
        char tmpl[] = "/tmp/cxlmgr-fwstart-XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        dir_ = tmpl;
        open_device();
        connection_ = sdbus::createSessionBusConnectionWithAddress(bus_.address());
        loop_ = BusLoop::create(io_, *connection_);
        dispatcher_ = std::make_shared<Dispatcher>(io_);
        calls_ = std::make_shared<PendingCalls>(io_, dispatcher_, loop_, std::chrono::minutes(1));
        updates_ = std::make_shared<daemon::FirmwareUpdates>(dir_ / "state");
        fs::create_directories(dir_ / "state");
        service_ = std::unique_ptr<ServiceContext>(new ServiceContext{
            io_, *connection_, loop_, dispatcher_, calls_, Authorizer(std::nullopt, ::geteuid()),
            false, updates_, nullptr, daemon::ImageLimits{}, nullptr});
        service_->jobs = std::make_shared<JobObjects>(*service_, std::chrono::minutes(1));
        // The job objects announce themselves to an object manager, as under Service.
        root_ = sdbus::createObject(*connection_, "/org/cxlmgr1");
        root_->addObjectManager();
        root_->finishRegistration();
        device_object_ = sdbus::createObject(*connection_, device_object_path("emu0"));
        device_context_ = std::unique_ptr<DeviceContext>(
            new DeviceContext{*service_, *device_object_, device_, "emu0", alive_});
        firmware_ = std::make_unique<FirmwareInterface>(*device_context_);
        device_object_->finishRegistration();
        loop_->start();
        work_.emplace(io_.get_executor());
        io_thread_ = std::thread([this] { io_.run(); });
        client_connection_ = sdbus::createSessionBusConnectionWithAddress(bus_.address());
        client_ = std::make_unique<FirmwareClient>(
            *client_connection_, connection_->getUniqueName(), device_object_path("emu0"));
    }

    void TearDown() override {
        client_.reset();
        if (client_loop_) {
            client_connection_->leaveEventLoop();
        }
        finished_match_.reset();
        client_connection_.reset();
        if (io_thread_.joinable()) {
            // Everything of the service goes on its own thread, the way Service goes.
            boost::asio::post(io_, [this] {
                dispatcher_->close();
                loop_->stop();
                service_->jobs->clear();
                firmware_.reset();
                squatter_.reset();
                device_object_.reset();
                root_.reset();
            });
            work_.reset();
            io_thread_.join();
        }
        if (device_) {
            std::promise<void> drained;
            device_->close([&drained] { drained.set_value(); });
            drained.get_future().wait();
        }
        arbiter_.shutdown();
        std::error_code ec;
        fs::remove_all(dir_, ec);
    }

    void open_device() {
        daemon::DeviceSpec spec;
        spec.emulated = emu::default_device_description("emu0");
        auto opened = daemon::open_device(spec);
        ASSERT_TRUE(opened.ok()) << opened.error().describe();
        std::promise<Result<std::shared_ptr<daemon::ManagedDevice>>> p;
        daemon::ManagedDevice::async_open(
            arbiter_, std::move(opened).value(), {},
            [&p](Result<std::shared_ptr<daemon::ManagedDevice>> r) { p.set_value(std::move(r)); });
        auto r = p.get_future().get();
        ASSERT_TRUE(r.ok()) << r.error().describe();
        device_ = *r;
    }

    // Another object of the Job interface at `path` on the service's connection.
    void occupy(const std::string& path) {
        std::promise<void> done;
        boost::asio::post(io_, [this, path, &done] {
            squatter_ = sdbus::createObject(*connection_, path);
            squatter_->registerMethod("Cancel").onInterface("org.cxlmgr1.Job").implementedAs([] {});
            squatter_->finishRegistration();
            done.set_value();
        });
        done.get_future().wait();
    }

    fs::path write_image(uint64_t payload) {
        const auto path = dir_ / "fw.bin";
        emu::PatternFirmwareImage image("EMU FW 9.0", payload);
        std::vector<uint8_t> bytes(image.size());
        image.read(0, bytes);
        std::ofstream(path, std::ios::binary)
            .write(reinterpret_cast<const char*>(bytes.data()),
                   static_cast<std::streamsize>(bytes.size()));
        return path;
    }

    uint64_t mailbox_transactions() const {
        return device_->channel_report().front().counters.submitted;
    }

    cxlmgr::testing::PrivateBus bus_;
    fs::path dir_;
    daemon::Arbiter arbiter_{2};
    std::shared_ptr<daemon::ManagedDevice> device_;
    boost::asio::io_context io_;
    std::unique_ptr<sdbus::IConnection> connection_;
    std::shared_ptr<BusLoop> loop_;
    std::shared_ptr<Dispatcher> dispatcher_;
    std::shared_ptr<PendingCalls> calls_;
    std::shared_ptr<daemon::FirmwareUpdates> updates_;
    std::unique_ptr<ServiceContext> service_;
    std::unique_ptr<sdbus::IObject> root_;
    std::unique_ptr<sdbus::IObject> device_object_;
    std::unique_ptr<sdbus::IObject> squatter_;
    std::shared_ptr<int> alive_ = std::make_shared<int>(0);
    std::unique_ptr<DeviceContext> device_context_;
    std::unique_ptr<FirmwareInterface> firmware_;
    std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_;
    std::thread io_thread_;
    std::unique_ptr<sdbus::IConnection> client_connection_;
    bool client_loop_ = false;
    sdbus::Slot finished_match_;
    std::unique_ptr<FirmwareClient> client_;
};

TEST_F(FirmwareStartTest, AJobWhoseObjectCannotBeExportedNeverRuns) {
    // Long enough that a job started anyway would still be running when the reply arrives.
    const auto image = write_image(4 << 20);
    occupy("/org/cxlmgr1/jobs/1");
    const uint64_t before = mailbox_transactions();
    std::string error;
    try {
        client_->StartUpdate(image.string(), 0, Dict{});
    } catch (const sdbus::Error& e) {
        error = e.getMessage();
    }
    EXPECT_NE(error.find("cannot export /org/cxlmgr1/jobs/1"), std::string::npos) << error;
    EXPECT_EQ(updates_->current("emu0"), nullptr) << "the device is still held";
    EXPECT_FALSE(fs::exists(updates_->marker_path("emu0")));
    EXPECT_EQ(mailbox_transactions(), before) << "a command reached the device";
    EXPECT_EQ(client_->CurrentJob(), "/");

    // The device was given back: the next update gets the next path and runs to its end.
    sdbus::ObjectPath job;
    try {
        job = client_->StartUpdate(image.string(), 0, Dict{});
    } catch (const sdbus::Error& e) {
        FAIL() << e.getName() << ": " << e.getMessage();
    }
    EXPECT_EQ(job, "/org/cxlmgr1/jobs/2");
    EXPECT_TRUE(
        cxlmgr::testing::eventually([&] { return updates_->current("emu0") == nullptr; }, 60s));
    EXPECT_FALSE(fs::exists(updates_->marker_path("emu0")));
}

// The paths of the jobs whose Finished signal arrived.
class FinishedSignals {
public:
    void add(const std::string& path) {
        std::lock_guard lock(mutex_);
        paths_.insert(path);
        changed_.notify_all();
    }
    bool wait_for(const std::string& path, std::chrono::milliseconds timeout) {
        std::unique_lock lock(mutex_);
        return changed_.wait_for(lock, timeout, [&] { return paths_.count(path) != 0; });
    }

private:
    std::mutex mutex_;
    std::condition_variable changed_;
    std::set<std::string> paths_;
};

TEST_F(FirmwareStartTest, TheNextUpdateStartsRightAfterFinishedWithoutBusy) {
    const auto image = write_image(20000);
    auto finished = std::make_shared<FinishedSignals>();
    // Subscribed before the first job exists: a short job may end before a proxy of its path
    // could be made.
    finished_match_ = client_connection_->addMatch(
        "type='signal',interface='org.cxlmgr1.Job',member='Finished'",
        [finished](sdbus::Message& message) { finished->add(message.getPath()); });
    client_connection_->enterEventLoopAsync();
    client_loop_ = true;
    for (int i = 1; i <= 20; ++i) {
        sdbus::ObjectPath job;
        try {
            job = client_->StartUpdate(image.string(), 0, Dict{});
        } catch (const sdbus::Error& e) {
            FAIL() << "update " << i << ": " << e.getName() << ": " << e.getMessage();
        }
        ASSERT_TRUE(finished->wait_for(job, 30s)) << job;
    }
}

}  // namespace
}  // namespace cxlmgr::dbus
