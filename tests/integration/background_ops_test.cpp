// Background operations leave the mailbox to everyone else (issue 14; docs/DESIGN.md
// "Arbitration"), over D-Bus as a user drives it, on emulated devices whose Transfer FW parts run
// for seconds in the background. Nothing here measures time: the device's own Background
// Operation Status (0x0002, a read-only raw command) says whether a part was still running when
// something happened, and how the last one ended.
#include <gtest/gtest.h>

#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <optional>

#include "dbus/generated/Events_proxy.h"
#include "dbus/generated/Firmware_proxy.h"
#include "dbus/generated/Job_proxy.h"
#include "tests/integration/daemon_fixture.hpp"
#include "tests/integration/expected.hpp"
#include "tests/integration/proxies.hpp"
#include "tests/support/eventually.hpp"

namespace cxlmgr::testing {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

constexpr uint16_t kBackgroundOperationStatus = 0x0002;
constexpr uint16_t kTransferFw = 0x0201;
constexpr uint16_t kAborted = 0x12;

// A part runs this long: far longer than any D-Bus round trip on a loaded machine, so "still
// running afterwards" can only mean "answered while it ran".
constexpr uint64_t kPartUs = 4000000;

// What Background Operation Status reports.
struct Bos {
    bool running = false;
    unsigned percent = 0;
    uint16_t opcode = 0;
    uint16_t return_code = 0;
};

using FirmwareProxy = Proxy<org::cxlmgr1::Firmware_proxy>;

// Queues the Finished signal of one job.
class JobWatcher final : public sdbus::ProxyInterfaces<org::cxlmgr1::Job_proxy> {
public:
    JobWatcher(sdbus::IConnection& connection, std::string path)
        : ProxyInterfaces(connection, "org.cxlmgr1", std::move(path)) {
        registerProxy();
    }
    ~JobWatcher() { unregisterProxy(); }

    // The final state ("completed", "cancelled", ...) and error, or nullopt after `timeout`.
    std::optional<std::pair<std::string, std::string>> wait(std::chrono::seconds timeout = 60s) {
        std::unique_lock lock(mutex_);
        if (!cv_.wait_for(lock, timeout, [&] { return finished_.has_value(); })) {
            // The signal may have gone before the match existed: the property still tells.
            const std::string state = State();
            if (state == "completed" || state == "failed" || state == "cancelled") {
                return std::make_pair(state, Error());
            }
            return std::nullopt;
        }
        return finished_;
    }

private:
    void onFinished(const std::string& state, const std::string& error) override {
        std::lock_guard lock(mutex_);
        finished_ = std::make_pair(state, error);
        cv_.notify_all();
    }
    std::mutex mutex_;
    std::condition_variable cv_;
    std::optional<std::pair<std::string, std::string>> finished_;
};

class EventsWatcher final : public sdbus::ProxyInterfaces<org::cxlmgr1::Events_proxy> {
public:
    EventsWatcher(sdbus::IConnection& connection, std::string path)
        : ProxyInterfaces(connection, "org.cxlmgr1", std::move(path)) {
        registerProxy();
    }
    ~EventsWatcher() { unregisterProxy(); }
    bool wait_for(size_t n, std::chrono::seconds timeout = 30s) {
        std::unique_lock lock(mutex_);
        return cv_.wait_for(lock, timeout, [&] { return received_ >= n; });
    }

private:
    void onEvent(const uint64_t&, const std::string&, const std::string&, const uint64_t&,
                 const VariantMap&) override {
        std::lock_guard lock(mutex_);
        ++received_;
        cv_.notify_all();
    }
    std::mutex mutex_;
    std::condition_variable cv_;
    size_t received_ = 0;
};

class BackgroundOpsTest : public DaemonTest {
protected:
    // Parts of kPartUs each, whatever their size; with or without Request Abort Background
    // Operation; optionally with a state file so the device outlives the daemon.
    static nlohmann::json slow_device(const std::string& name, bool abort,
                                      const std::optional<fs::path>& state = std::nullopt) {
        nlohmann::json extra = {
            {"timing",
             {{"fw_transfer_us_per_kib", 0}, {"background_us", {{"transfer-fw", kPartUs}}}}},
            {"mailbox", {{"abort_background", abort}}}};
        if (state) {
            extra["state_file"] = state->string();
        }
        return emulated_device(name, extra);
    }
    void start_devices(const std::vector<nlohmann::json>& devices) {
        start_daemon(DaemonOptions::configured(daemon_config(devices)));
        connect_client();
    }
    void connect_client() {
        conn_ = connect();
        conn_->enterEventLoopAsync();
    }
    // The client's loop must end before the bus goes, or its thread throws Disconnected.
    void TearDown() override {
        conn_.reset();
        DaemonTest::TearDown();
    }

    // An image of `payload` bytes: up to 1 KiB fits one Transfer FW part (a Full transfer),
    // more takes Initiate, Continue... and End.
    fs::path image(uint64_t payload) {
        const fs::path path = work_dir() / ("image-" + std::to_string(payload) + ".bin");
        if (!fs::exists(path)) {
            write_firmware_image(path, "BG TEST " + std::to_string(payload % 100), payload);
        }
        return path;
    }

    std::unique_ptr<JobWatcher> start_update(const std::string& device, const fs::path& file) {
        FirmwareProxy firmware(*conn_, device_path(device));
        const sdbus::ObjectPath job = firmware.StartUpdate(file.string(), 0, {});
        return std::make_unique<JobWatcher>(*conn_, job);
    }

    Bos bos(const std::string& device) {
        DeviceProxy proxy(*conn_, device_path(device));
        const auto [rc, out] = proxy.Command(kBackgroundOperationStatus, {});
        EXPECT_EQ(rc, 0);
        Bos b;
        if (out.size() >= 6) {
            b.running = (out[0] & 1u) != 0;
            b.percent = out[0] >> 1;
            b.opcode = static_cast<uint16_t>(out[2] | (out[3] << 8));
            b.return_code = static_cast<uint16_t>(out[4] | (out[5] << 8));
        } else {
            ADD_FAILURE() << "Background Operation Status answered " << out.size() << " bytes";
        }
        return b;
    }

    // Waits until a Transfer FW part runs on `device`. Before issue 14 the status command could
    // only be answered between parts, so this never saw one running.
    ::testing::AssertionResult part_running(const std::string& device) {
        if (eventually(
                [&] {
                    const Bos b = bos(device);
                    return b.running && b.opcode == kTransferFw;
                },
                30s)) {
            return ::testing::AssertionSuccess();
        }
        return ::testing::AssertionFailure()
               << device << ": no Transfer FW part was ever seen running in the background";
    }

    std::unique_ptr<sdbus::IConnection> conn_;
};

TEST_F(BackgroundOpsTest, IdentifyIsAnsweredWhileAPartRuns) {
    start_devices({slow_device("slow0", true)});
    auto job = start_update("slow0", image(512));  // one part
    ASSERT_TRUE(part_running("slow0"));
    DeviceProxy device(*conn_, device_path("slow0"));
    const auto identity = device.Identify();
    EXPECT_FALSE(identity.empty());
    const Bos after = bos("slow0");
    EXPECT_TRUE(after.running) << "Identify waited for the part to end";
    EXPECT_EQ(after.opcode, kTransferFw);
    auto outcome = job->wait();
    ASSERT_TRUE(outcome.has_value());
    EXPECT_EQ(outcome->first, "completed") << outcome->second;
}

TEST_F(BackgroundOpsTest, EventsArriveWhileAPartRuns) {
    start_devices({slow_device("slow0", true)});
    EventsWatcher events(*conn_, device_path("slow0"));
    events.Subscribe({});
    auto job = start_update("slow0", image(512));  // one part
    ASSERT_TRUE(part_running("slow0"));
    EmulatorProxy emulator(*conn_, device_path("slow0"));
    emulator.InjectEvent("warning", "general-media", {{"dpa", sdbus::Variant(uint64_t{0x40})}});
    ASSERT_TRUE(events.wait_for(1)) << "no Event signal";
    const Bos after = bos("slow0");
    EXPECT_TRUE(after.running) << "the event was drained only after the part ended";
    auto outcome = job->wait();
    ASSERT_TRUE(outcome.has_value());
    EXPECT_EQ(outcome->first, "completed") << outcome->second;
}

// Cancel ends the running part with Request Abort Background Operation: the device reports the
// part Aborted (it did not run to its end), and the transfer is closed, so the next update works.
TEST_F(BackgroundOpsTest, CancelMidPartAbortsThePartOnTheDevice) {
    start_devices({slow_device("slow0", true)});
    auto job = start_update("slow0", image(64 << 10));
    ASSERT_TRUE(part_running("slow0"));
    job->Cancel();
    auto outcome = job->wait();
    ASSERT_TRUE(outcome.has_value());
    EXPECT_EQ(outcome->first, "cancelled") << outcome->second;
    const Bos after = bos("slow0");
    EXPECT_FALSE(after.running);
    EXPECT_EQ(after.opcode, kTransferFw);
    EXPECT_EQ(after.return_code, kAborted) << "the part was waited out, not aborted";

    auto next = start_update("slow0", image(512));
    auto next_outcome = next->wait();
    ASSERT_TRUE(next_outcome.has_value());
    EXPECT_EQ(next_outcome->first, "completed") << next_outcome->second;
}

// Without 0x0005 the part runs to its end first (the device has no other way), and the
// transfer is still closed on the device.
TEST_F(BackgroundOpsTest, CancelWithoutAbortWaitsThePartOutAndStillEndsTheTransfer) {
    start_devices({slow_device("slow1", false)});
    auto job = start_update("slow1", image(64 << 10));
    ASSERT_TRUE(part_running("slow1"));
    job->Cancel();
    auto outcome = job->wait();
    ASSERT_TRUE(outcome.has_value());
    EXPECT_EQ(outcome->first, "cancelled") << outcome->second;
    const Bos after = bos("slow1");
    EXPECT_FALSE(after.running);
    EXPECT_EQ(after.return_code, 0) << "a device without 0x0005 cannot abort a part";

    auto next = start_update("slow1", image(512));
    auto next_outcome = next->wait();
    ASSERT_TRUE(next_outcome.has_value());
    EXPECT_EQ(next_outcome->first, "completed") << next_outcome->second;
}

// SIGTERM mid-part: the part is aborted, the transfer ended on the device, then a clean exit.
// The device keeps its state in a file, so the next daemon finds it as the last one left it.
TEST_F(BackgroundOpsTest, SigtermMidPartAbortsThePartAndLeavesNoTransferOpen) {
    const auto device = slow_device("slow0", true, work_dir() / "slow0.state");
    start_devices({device});
    auto job = start_update("slow0", image(64 << 10));
    ASSERT_TRUE(part_running("slow0"));
    job.reset();
    conn_.reset();
    ASSERT_EQ(stop_daemon(30s), std::optional<int>(0));

    // The fixture starts one daemon per test: the second one on the same state directory and
    // description is started here.
    const DaemonOptions options = DaemonOptions::configured(daemon_config({device}));
    DaemonProcess again(address(), work_dir(), options);
    connect_client();
    const Bos after = bos("slow0");
    EXPECT_FALSE(after.running);
    EXPECT_EQ(after.return_code, kAborted) << "the stop waited the part out";
    {
        auto next = start_update("slow0", image(512));
        auto next_outcome = next->wait();
        ASSERT_TRUE(next_outcome.has_value());
        EXPECT_EQ(next_outcome->first, "completed") << next_outcome->second;
    }
    conn_.reset();
    EXPECT_EQ(again.terminate(30s), std::optional<int>(0)) << again.log();
}

}  // namespace
}  // namespace cxlmgr::testing
