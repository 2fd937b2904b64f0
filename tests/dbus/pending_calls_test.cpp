// PendingCalls::defer_written (docs/DBUS.md "Threading and lifetimes"): a reply created on the
// D-Bus thread, written on another thread and sent from the D-Bus thread; every call still ends
// exactly once: with the written reply, the daemon's error, DeviceGone when its object went
// meanwhile, or Timeout when the completion is dropped unrun.
#include "dbus/pending_calls.hpp"

#include <gtest/gtest.h>

#include <sdbus-c++/sdbus-c++.h>
#include <future>
#include <thread>

#include "dbus/errors.hpp"
#include "tests/support/private_bus.hpp"

namespace cxlmgr::dbus {
namespace {

using namespace std::chrono_literals;

// A D-Bus thread serving `Count(u n) -> at` through defer_written: the completion goes to a
// worker thread, which writes 1..n into the reply. `gone` expires the call's subject first;
// `fail` makes the daemon side answer IoError; `drop` destroys the completion unrun, on the
// worker.
class Server {
public:
    enum class Mode { Answer, Fail, Gone, Drop };

    Server(const std::string& address, Mode mode)
        : connection_(sdbus::createSessionBusConnectionWithAddress(address)), mode_(mode) {
        connection_->requestName("org.cxlmgr1.Test");
        object_ = sdbus::createObject(*connection_, "/test");
        dispatcher_ = std::make_shared<Dispatcher>(io_);
        loop_ = BusLoop::create(io_, *connection_);
        calls_ = std::make_shared<PendingCalls>(io_, dispatcher_, loop_, 500ms);
        object_->registerMethod("Count")
            .onInterface("org.cxlmgr1.Test")
            .implementedAs([this](sdbus::Result<std::vector<uint64_t>>&& result, uint32_t n) {
                count(std::move(result), n);
            });
        object_->finishRegistration();
        loop_->start();
        runner_ = std::thread([this] { io_.run(); });
    }
    ~Server() {
        io_.stop();
        runner_.join();
        if (worker_.joinable()) {
            worker_.join();
        }
        dispatcher_->close();
        loop_->stop();
    }
    [[nodiscard]] bool written_on_another_thread() const { return written_elsewhere_; }

private:
    void count(sdbus::Result<std::vector<uint64_t>>&& result, uint32_t n) {
        const auto call =
            *static_cast<const sdbus::MethodCall*>(object_->getCurrentlyProcessedMessage());
        const std::thread::id dbus_thread = std::this_thread::get_id();
        auto done = calls_->defer_written<uint32_t>(
            std::move(result), CallSubject{"test", alive_}, call.createReply(),
            [this, dbus_thread](sdbus::Message& reply, uint32_t count) -> Status {
                written_elsewhere_ = std::this_thread::get_id() != dbus_thread;
                reply.openContainer("t");
                for (uint64_t i = 1; i <= count; ++i) {
                    reply << i;
                }
                reply.closeContainer();
                return ok_status();
            });
        if (mode_ == Mode::Gone) {
            alive_.reset();
        }
        worker_ = std::thread([done = std::move(done), mode = mode_, n]() mutable {
            if (mode == Mode::Answer || mode == Mode::Gone) {
                done(n);
            } else if (mode == Mode::Fail) {
                done(Error(Errc::IoError, "the journal failed"));
            } else {
                auto dropped = std::move(done);  // destroyed here, unrun
            }
        });
    }

    boost::asio::io_context io_;
    std::unique_ptr<sdbus::IConnection> connection_;
    std::unique_ptr<sdbus::IObject> object_;
    std::shared_ptr<Dispatcher> dispatcher_;
    std::shared_ptr<BusLoop> loop_;
    std::shared_ptr<PendingCalls> calls_;
    std::shared_ptr<int> alive_ = std::make_shared<int>(0);
    Mode mode_;
    std::atomic<bool> written_elsewhere_{false};
    std::thread worker_;
    std::thread runner_;
};

// The call as a client makes it: the values, or the error's name.
std::variant<std::vector<uint64_t>, std::string> call_count(const std::string& address,
                                                            uint32_t n) {
    auto connection = sdbus::createSessionBusConnectionWithAddress(address);
    auto proxy = sdbus::createProxy(*connection, "org.cxlmgr1.Test", "/test");
    try {
        std::vector<uint64_t> out;
        proxy->callMethod("Count")
            .onInterface("org.cxlmgr1.Test")
            .withArguments(n)
            .storeResultsTo(out);
        return out;
    } catch (const sdbus::Error& e) {
        return e.getName();
    }
}

TEST(PendingCallsWritten, TheReplyWrittenOnAnotherThreadIsSent) {
    testing::PrivateBus bus;
    Server server(bus.address(), Server::Mode::Answer);
    auto answer = call_count(bus.address(), 1000);
    ASSERT_TRUE(std::holds_alternative<std::vector<uint64_t>>(answer))
        << std::get<std::string>(answer);
    const auto& values = std::get<std::vector<uint64_t>>(answer);
    ASSERT_EQ(values.size(), 1000u);
    EXPECT_EQ(values.front(), 1u);
    EXPECT_EQ(values.back(), 1000u);
    EXPECT_TRUE(server.written_on_another_thread());
}

TEST(PendingCallsWritten, TheDaemonsErrorAnswersInstead) {
    testing::PrivateBus bus;
    Server server(bus.address(), Server::Mode::Fail);
    auto answer = call_count(bus.address(), 3);
    ASSERT_TRUE(std::holds_alternative<std::string>(answer));
    EXPECT_EQ(std::get<std::string>(answer), dbus_error_name(Errc::IoError));
}

TEST(PendingCallsWritten, AWrittenReplyForAGoneObjectIsDroppedForDeviceGone) {
    testing::PrivateBus bus;
    Server server(bus.address(), Server::Mode::Gone);
    auto answer = call_count(bus.address(), 3);
    ASSERT_TRUE(std::holds_alternative<std::string>(answer));
    EXPECT_EQ(std::get<std::string>(answer), dbus_error_name(Errc::DeviceGone));
}

TEST(PendingCallsWritten, ACompletionDroppedUnrunEndsWithTheGuardsTimeout) {
    testing::PrivateBus bus;
    Server server(bus.address(), Server::Mode::Drop);
    auto answer = call_count(bus.address(), 3);
    ASSERT_TRUE(std::holds_alternative<std::string>(answer));
    EXPECT_EQ(std::get<std::string>(answer), dbus_error_name(Errc::Timeout));
}

}  // namespace
}  // namespace cxlmgr::dbus
