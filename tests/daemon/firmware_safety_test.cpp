// Firmware transfer safety (issue 14): a transfer's abort is asked again until the device
// confirms it, and the crash marker goes only then, both in crash recovery and after a fault in
// the middle of a job; the early refusals of a target slot; the state directory's lock.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <filesystem>
#include <fstream>
#include <future>
#include <optional>
#include <thread>

#include "cxl/return_code.hpp"
#include "daemon/config.hpp"
#include "daemon/firmware_abort.hpp"
#include "daemon/firmware_target.hpp"
#include "daemon/firmware_updates.hpp"
#include "daemon/state_dir_lock.hpp"
#include "emu/firmware_image.hpp"
#include "emu/type3_device.hpp"
#include "tests/daemon/emulated_device_rig.hpp"
#include "tests/support/eventually.hpp"

namespace cxlmgr::daemon {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;
using cxlmgr::testing::eventually;
using testing::payload_of;
using testing::ScratchDir;

Error answered(cxl::ReturnCode code) {
    return cxl::return_code_error(static_cast<uint16_t>(code), "Transfer FW");
}

// A device's answers to successive aborts, as a script.
struct Script {
    std::vector<Status> answers;  // the last one repeats
    size_t asked = 0;
};

Task<Status> next_answer(std::shared_ptr<Script> script) {
    const size_t i = std::min(script->asked, script->answers.size() - 1);
    ++script->asked;
    co_return script->answers[i];
}

Status run_abort(const std::shared_ptr<Script>& script, AbortRetry retry) {
    boost::asio::io_context io;
    std::optional<Status> outcome;
    AbortAttempt attempt = [script] { return next_answer(script); };
    spawn<void>(io.get_executor(), abort_until_confirmed(std::move(attempt), "fake0", retry),
                "abort test", [&](Status s) { outcome = std::move(s); });
    io.run();
    return outcome.value_or(Error(Errc::Internal, "never ended"));
}

AbortRetry quick(std::chrono::milliseconds deadline = 10s) {
    AbortRetry r;
    r.deadline = deadline;
    r.first_delay = 1ms;
    r.max_delay = 5ms;
    return r;
}

TEST(AbortUntilConfirmed, AsksAgainWhileTheDeviceSaysNotNowThenSucceeds) {
    auto script = std::make_shared<Script>();
    script->answers = {answered(cxl::ReturnCode::Busy),
                       answered(cxl::ReturnCode::Busy),
                       answered(cxl::ReturnCode::FwTransferInProgress),
                       answered(cxl::ReturnCode::RetryRequired),
                       Error(Errc::Busy, "fake0: mailbox in use by another agent"),
                       Error(Errc::Timeout, "fake0: doorbell timeout"),
                       ok_status()};
    Status s = run_abort(script, quick());
    EXPECT_TRUE(s.ok()) << s.error().describe();
    EXPECT_EQ(script->asked, 7u);
}

TEST(AbortUntilConfirmed, GivesUpAtTheDeadlineWithTheLastAnswer) {
    auto script = std::make_shared<Script>();
    script->answers = {answered(cxl::ReturnCode::FwTransferInProgress)};
    Status s = run_abort(script, quick(100ms));
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.error().cxl_return_code,
              static_cast<uint16_t>(cxl::ReturnCode::FwTransferInProgress));
    EXPECT_NE(s.error().message.find("not confirmed"), std::string::npos) << s.error().message;
    EXPECT_GT(script->asked, 1u);
}

TEST(AbortUntilConfirmed, ADefiniteRefusalEndsAtOnce) {
    for (Error refusal :
         {answered(cxl::ReturnCode::Unsupported), answered(cxl::ReturnCode::InvalidInput),
          Error(Errc::DeviceGone, "fake0: gone")}) {
        auto script = std::make_shared<Script>();
        script->answers = {refusal, ok_status()};
        Status s = run_abort(script, quick());
        ASSERT_FALSE(s.ok()) << refusal.describe();
        EXPECT_EQ(s.error().code, refusal.code);
        EXPECT_EQ(script->asked, 1u) << refusal.describe();
    }
}

// An emulated device under a ManagedDevice, with a state directory for markers.
struct FirmwareSafetyTest : testing::EmulatedDeviceTest {
    void open(nlohmann::json firmware = nlohmann::json::object(),
              std::chrono::microseconds per_kib = 2us) {
        auto desc = emu::default_device_description("emu0");
        desc.timing["fw_transfer_us_per_kib"] = per_kib.count();
        desc.firmware = std::move(firmware);
        EmulatedDeviceTest::open(std::move(desc));
    }

    std::shared_ptr<ImageSource> image(uint64_t payload, const std::string& revision) {
        return source(write_image(emu::build_firmware_image(revision, payload_of(payload))));
    }

    // A crash mid-transfer: an Initiate the device took, and the marker a job wrote.
    void leave_open_transfer(const FirmwareUpdates& updates) {
        auto bytes = emu::build_firmware_image("EMU FW 9.9", payload_of(100000));
        cxl::TransferFwPart part;
        part.action = cxl::TransferAction::Initiate;
        part.data = cxl::ByteSpan(bytes.data(), 1920);
        auto input = cxl::encode_transfer_fw(part, 2048);
        ASSERT_TRUE(input.ok());
        std::promise<Result<cxl::MailboxResponse>> sent;
        device->command(cxl::opcode::kTransferFw, *input,
                        [&](Result<cxl::MailboxResponse> r) { sent.set_value(r); });
        auto r = sent.get_future().get();
        ASSERT_TRUE(r.ok()) << r.error().describe();
        ASSERT_TRUE(model->firmware_transfer_open());
        std::ofstream(updates.marker_path("emu0")) << "device emu0\n";
    }

    static bool recover(FirmwareUpdates& updates, const std::shared_ptr<ManagedDevice>& device) {
        std::promise<bool> found;
        updates.recover(device, [&](bool r) { found.set_value(r); });
        return found.get_future().get();
    }

    static JobStatus run(FirmwareUpdates& updates, const std::shared_ptr<ManagedDevice>& device,
                         std::shared_ptr<ImageSource> image,
                         std::function<void(const JobStatus&)> on_change = {}) {
        std::promise<JobStatus> done;
        auto job = updates.start(device, std::move(image), {}, std::move(on_change),
                                 [&](const JobStatus& s) { done.set_value(s); });
        if (!job.ok()) {
            ADD_FAILURE() << job.error().describe();
            return {};
        }
        auto f = done.get_future();
        if (f.wait_for(60s) != std::future_status::ready) {
            ADD_FAILURE() << "the job did not end within 60 s";
            return {};
        }
        return f.get();
    }
};

// Issue 14: a recovery abort answered "not now" (here the transport's Busy: another agent's
// doorbell) was taken for "nothing open" and the marker deleted, the transfer left open.
TEST_F(FirmwareSafetyTest, RecoveryAsksAgainUntilTheDeviceConfirms) {
    open();
    auto updates = std::make_shared<FirmwareUpdates>(dir.path, AbortRetry{});
    leave_open_transfer(*updates);
    model->arm_fault(emu::Fault::MailboxBusy, 3);
    EXPECT_TRUE(recover(*updates, device));
    EXPECT_FALSE(model->firmware_transfer_open());
    EXPECT_FALSE(fs::exists(updates->marker_path("emu0")));
    // The next update starts clean.
    EXPECT_EQ(run(*updates, device, image(5000, "EMU FW 2.0")).state, JobState::Completed);
}

TEST_F(FirmwareSafetyTest, RecoveryKeepsTheMarkerWhileTheDeviceNeverConfirms) {
    open();
    AbortRetry short_retry;
    short_retry.deadline = 300ms;
    auto updates = std::make_shared<FirmwareUpdates>(dir.path, short_retry);
    leave_open_transfer(*updates);
    model->arm_fault(emu::Fault::MailboxBusy, emu::FaultSet::kForever);
    EXPECT_TRUE(recover(*updates, device));
    EXPECT_TRUE(fs::exists(updates->marker_path("emu0")));
    model->clear_faults();
    EXPECT_TRUE(model->firmware_transfer_open());
    // The next start asks again, and this time the device confirms.
    auto next_start = std::make_shared<FirmwareUpdates>(dir.path, short_retry);
    EXPECT_TRUE(recover(*next_start, device));
    EXPECT_FALSE(model->firmware_transfer_open());
    EXPECT_FALSE(fs::exists(updates->marker_path("emu0")));
}

// Issue 14: a transient mailbox-busy in the middle of a transfer failed the part, then the
// abort (the doorbell still held), which was not asked again: the transfer stayed open and the
// next update failed with FW Transfer In Progress.
TEST_F(FirmwareSafetyTest, ATransientFaultMidTransferStillEndsTheTransfer) {
    open({}, 200us);  // ~0.4 ms per part: a 1 MiB image takes long enough to hit mid-way
    auto updates = std::make_shared<FirmwareUpdates>(dir.path, AbortRetry{});
    std::atomic<bool> armed{false};
    auto emulated = model;
    auto s = run(*updates, device, image(1 << 20, "EMU FW 3.0"), [&](const JobStatus& st) {
        if (st.bytes_done > 0 && !armed.exchange(true)) {
            emulated->arm_fault(emu::Fault::MailboxBusy, 1);
        }
    });
    ASSERT_TRUE(armed.load());
    EXPECT_EQ(s.state, JobState::Failed) << s.error;
    EXPECT_FALSE(s.transfer_left_open);
    EXPECT_FALSE(model->firmware_transfer_open());
    EXPECT_FALSE(fs::exists(updates->marker_path("emu0")));
    auto next = run(*updates, device, image(5000, "EMU FW 3.1"));
    EXPECT_EQ(next.state, JobState::Completed) << next.error;
}

TEST_F(FirmwareSafetyTest, AJobWhoseAbortIsNeverConfirmedKeepsItsMarker) {
    open({}, 200us);
    AbortRetry short_retry;
    short_retry.deadline = 300ms;
    auto updates = std::make_shared<FirmwareUpdates>(dir.path, short_retry);
    std::atomic<bool> armed{false};
    auto emulated = model;
    auto s = run(*updates, device, image(1 << 20, "EMU FW 3.0"), [&](const JobStatus& st) {
        if (st.bytes_done > 0 && !armed.exchange(true)) {
            emulated->arm_fault(emu::Fault::MailboxBusy, emu::FaultSet::kForever);
        }
    });
    ASSERT_TRUE(armed.load());
    EXPECT_EQ(s.state, JobState::Failed);
    EXPECT_TRUE(s.transfer_left_open);
    EXPECT_TRUE(fs::exists(updates->marker_path("emu0")));
    EXPECT_EQ(updates->current("emu0"), nullptr) << "the device is free for the next attempt";
    model->clear_faults();
    EXPECT_TRUE(model->firmware_transfer_open());
}

// Early refusals: made at prepare(), before a job exists, a marker is written or a byte is sent.
TEST_F(FirmwareSafetyTest, RefusesTheActiveSlotAndSlotsBeyondTheCount) {
    open({{"slots", 3}, {"active", 2}});
    auto updates = std::make_shared<FirmwareUpdates>(dir.path);
    for (uint8_t slot : {2, 4, 7}) {
        FirmwareJobSpec spec;
        spec.slot = slot;
        auto pending = updates->prepare(device, image(5000, "EMU FW 4.0"), spec);
        ASSERT_FALSE(pending.ok()) << "slot " << unsigned{slot};
        EXPECT_EQ(pending.error().code, Errc::InvalidArgument);
        EXPECT_NE(pending.error().message.find("emu0"), std::string::npos);
        EXPECT_EQ(updates->current("emu0"), nullptr);
        EXPECT_FALSE(fs::exists(updates->marker_path("emu0")));
    }
    EXPECT_EQ(updates->check_target(device, 2).error().code, Errc::InvalidArgument);
    EXPECT_TRUE(updates->check_target(device, 3).ok());
    EXPECT_TRUE(updates->check_target(device, 0).ok());
}

TEST_F(FirmwareSafetyTest, SlotZeroWithNoFreeSlotIsRefusedAtTheCall) {
    open({{"slots", 1}});
    auto updates = std::make_shared<FirmwareUpdates>(dir.path);
    auto pending = updates->prepare(device, image(5000, "EMU FW 4.0"), {});
    ASSERT_FALSE(pending.ok());
    EXPECT_EQ(pending.error().code, Errc::InvalidArgument);
    EXPECT_NE(pending.error().message.find("name the slot"), std::string::npos)
        << pending.error().message;
    EXPECT_EQ(updates->current("emu0"), nullptr);
}

TEST_F(FirmwareSafetyTest, ActivateRefusesSlotZeroAndSlotsBeyondTheCount) {
    open({{"slots", 2}});
    auto updates = std::make_shared<FirmwareUpdates>(dir.path);
    EXPECT_EQ(updates->check_activate(device, 0).error().code, Errc::InvalidArgument);
    EXPECT_EQ(updates->check_activate(device, 3).error().code, Errc::InvalidArgument);
    EXPECT_TRUE(updates->check_activate(device, 2).ok());
}

// No device tells its largest image beforehand (docs/FIRMWARE-UPDATE.md): the device's own
// refusal is what the job reports, and the transfer it refused is ended all the same.
TEST_F(FirmwareSafetyTest, AnImageLargerThanTheDeviceTakesFailsWithTheDevicesAnswer) {
    open({{"max_image_size", 4096}});
    auto updates = std::make_shared<FirmwareUpdates>(dir.path);
    auto s = run(*updates, device, image(8000, "EMU FW 6.0"));
    EXPECT_EQ(s.state, JobState::Failed);
    EXPECT_NE(s.error.find("Invalid Input"), std::string::npos) << s.error;
    EXPECT_FALSE(s.transfer_left_open);
    EXPECT_FALSE(model->firmware_transfer_open());
    EXPECT_FALSE(fs::exists(updates->marker_path("emu0")));
}

TEST(UpdateTargetSlot, PicksTheFirstFreeSlotAndRefusesWhatTheDeviceWould) {
    cxl::FwInfo info;
    info.slot_count = 4;
    info.active_slot = 1;
    info.staged_slot = 2;
    EXPECT_EQ(update_target_slot(info, 0).value(), 3);
    EXPECT_EQ(update_target_slot(info, 2).value(), 2) << "a staged slot may be overwritten";
    EXPECT_EQ(update_target_slot(info, 4).value(), 4);
    EXPECT_EQ(update_target_slot(info, 1).error().code, Errc::InvalidArgument);
    EXPECT_EQ(update_target_slot(info, 5).error().code, Errc::InvalidArgument);
    info.slot_count = 2;
    EXPECT_EQ(update_target_slot(info, 0).error().code, Errc::InvalidArgument);
    EXPECT_TRUE(check_activate_slot(info, 1).ok());
    EXPECT_FALSE(check_activate_slot(info, 0).ok());
    EXPECT_FALSE(check_activate_slot(info, 3).ok());
}

TEST(StateDirLock, ASecondHolderIsRefusedWithThePidAndTheDirectory) {
    ScratchDir dir;
    auto first = StateDirLock::acquire(dir.path);
    ASSERT_TRUE(first.ok()) << first.error().describe();
    // flock locks belong to the open file description: a second open in this process
    // conflicts just as another process would.
    auto second = StateDirLock::acquire(dir.path);
    ASSERT_FALSE(second.ok());
    EXPECT_EQ(second.error().code, Errc::Busy);
    EXPECT_NE(second.error().message.find(dir.path.string()), std::string::npos);
    EXPECT_NE(second.error().message.find("pid " + std::to_string(::getpid())), std::string::npos)
        << second.error().message;
}

TEST(StateDirLock, IsFreeAgainOnceTheHolderIsGone) {
    ScratchDir dir;
    {
        auto held = StateDirLock::acquire(dir.path);
        ASSERT_TRUE(held.ok());
    }
    auto again = StateDirLock::acquire(dir.path);
    EXPECT_TRUE(again.ok()) << again.error().describe();
}

}  // namespace
}  // namespace cxlmgr::daemon
