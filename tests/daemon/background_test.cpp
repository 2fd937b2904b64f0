// Background operations through ManagedDevice on the scriptable fake device (tests/cxl): the
// channel serves foreground commands while one runs, Request Abort Background Operation is used
// where the Command Effects Log lists it (as its own transaction), and an operation found
// running at open is waited for. Orderings are asserted, never durations.
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <future>
#include <mutex>
#include <thread>

#include "cxl/command_table.hpp"
#include "cxl/commands/identify.hpp"
#include "cxl/return_code.hpp"
#include "cxl/uuid.hpp"
#include "daemon/firmware_job.hpp"
#include "daemon/managed_device.hpp"
#include "tests/cxl/fake_cxl_device.hpp"
#include "tests/support/eventually.hpp"

namespace cxlmgr::daemon {
namespace {

using namespace std::chrono_literals;
using cxlmgr::testing::eventually;
using cxlmgr::testing::FakeCxlDevice;
using cxlmgr::testing::FakeReaction;
namespace opcode = cxl::opcode;

// What the device was asked, in order, with Transfer FW's action, and marks the test adds.
struct SeenLog {
    std::mutex mutex;
    std::vector<std::string> seen;
    void add(std::string what) {
        std::lock_guard lock(mutex);
        seen.push_back(std::move(what));
    }
    std::vector<std::string> get() {
        std::lock_guard lock(mutex);
        return seen;
    }
};

std::string describe_request(uint16_t op, const cxl::Bytes& in) {
    if (op == opcode::kTransferFw) {
        static const char* const kActions[] = {"full", "initiate", "continue", "end", "abort"};
        return std::string("transfer ") + (in.at(0) <= 4 ? kActions[in.at(0)] : "?");
    }
    return std::string(opcode::name(op));
}

// The commands a device answers at open and in these tests. Transfer FW runs in the background
// until the test ends it (or the abort does).
FakeCxlDevice::Handler device_handler(bool lists_abort, std::shared_ptr<SeenLog> log = nullptr) {
    return [lists_abort, log](uint16_t op, const cxl::Bytes& in) {
        if (log) {
            log->add(describe_request(op, in));
        }
        FakeReaction r;
        std::vector<uint16_t> cel = {opcode::kGetSupportedLogs, opcode::kGetLog,
                                     opcode::kTransferFw, opcode::kIdentifyMemoryDevice};
        if (lists_abort) {
            cel.push_back(opcode::kRequestAbortBackgroundOperation);
        }
        const auto cel_uuid = cxl::Uuid::parse(cxl::uuids::kCommandEffectsLog).value();
        switch (op) {
            case opcode::kGetSupportedLogs: {
                r.output.assign(8 + 20, 0);
                r.output[0] = 1;
                std::copy(cel_uuid.bytes.begin(), cel_uuid.bytes.end(), r.output.begin() + 8);
                r.output[24] = static_cast<uint8_t>(4 * cel.size());
                break;
            }
            case opcode::kGetLog:
                for (uint16_t c : cel) {
                    r.output.push_back(static_cast<uint8_t>(c));
                    r.output.push_back(static_cast<uint8_t>(c >> 8));
                    r.output.push_back(0);
                    r.output.push_back(0);
                }
                break;
            case opcode::kTransferFw:
                if (in.at(0) != 4) {  // every action but Abort runs in the background
                    r.background_percents = {10};
                    r.background_never_completes = true;
                }
                break;
            case opcode::kRequestAbortBackgroundOperation:
                r.aborts_background = true;
                break;
            case opcode::kIdentifyMemoryDevice:
                r.output.assign(0x43, 0);
                break;
            case opcode::kGetFwInfo:
                r.output.assign(0x50, 0);
                r.output[0] = 2;  // two slots, the first active
                r.output[1] = 1;
                break;
            default:
                r.output.assign(0x50, 0);
                break;
        }
        return r;
    };
}

template <typename T>
std::future<Result<T>> callback_future(std::shared_ptr<std::promise<Result<T>>>& promise) {
    promise = std::make_shared<std::promise<Result<T>>>();
    return promise->get_future();
}

struct BackgroundRig : ::testing::Test {
    Arbiter arbiter{2};
    std::shared_ptr<FakeCxlDevice> model = std::make_shared<FakeCxlDevice>();
    std::shared_ptr<ManagedDevice> device;

    std::shared_ptr<SeenLog> log = std::make_shared<SeenLog>();

    void open(bool lists_abort, ManagedDeviceOptions options = {}) {
        model->set_handler(device_handler(lists_abort, log));
        auto opened = start_open(options);
        ASSERT_EQ(opened.wait_for(20s), std::future_status::ready);
        auto r = opened.get();
        ASSERT_TRUE(r.ok()) << r.error().describe();
        device = *r;
    }
    std::future<Result<std::shared_ptr<ManagedDevice>>> start_open(ManagedDeviceOptions options) {
        auto p = std::make_shared<std::promise<Result<std::shared_ptr<ManagedDevice>>>>();
        OpenedDevice opened{std::make_unique<pci::EmulatedDevice>(model), nullptr};
        ManagedDevice::async_open(
            arbiter, std::move(opened), options,
            [p](Result<std::shared_ptr<ManagedDevice>> r) { p->set_value(std::move(r)); });
        return p->get_future();
    }
    void TearDown() override {
        model->end_background();
        if (device) {
            std::promise<void> drained;
            device->close([&] { drained.set_value(); });
            drained.get_future().wait();
        }
        arbiter.shutdown();
    }

    // A Transfer FW Initiate part; its answer goes to the returned future.
    std::future<Result<cxl::MailboxResponse>> start_transfer(CancelToken cancel = {}) {
        auto p = std::make_shared<std::promise<Result<cxl::MailboxResponse>>>();
        cxl::MailboxRequest request;
        request.opcode = opcode::kTransferFw;
        request.input.assign(0x100, 0);
        request.input[0] = 1;  // Initiate
        request.options.expected_duration = cxl::kFirmwarePartExpected;
        TransactionOptions opts;
        opts.priority = Priority::Bulk;
        opts.cancel = cancel;
        opts.description = "Transfer FW";
        device->mailbox_command(std::move(request), opts, [p](Result<cxl::MailboxResponse> r) {
            p->set_value(std::move(r));
        });
        return p->get_future();
    }
    bool device_saw(uint16_t op) const {
        auto ops = model->opcodes_run();
        return std::find(ops.begin(), ops.end(), op) != ops.end();
    }
    std::vector<uint16_t> opcodes_since_open(size_t open_count) const {
        auto ops = model->opcodes_run();
        return {ops.begin() + static_cast<std::ptrdiff_t>(open_count), ops.end()};
    }
};

TEST_F(BackgroundRig, IdentifyCompletesWhileATransferFwPartRuns) {
    open(false);
    auto transfer = start_transfer();
    ASSERT_TRUE(eventually([&] { return device_saw(opcode::kTransferFw); }));
    std::promise<Result<IdentifyInfo>> identified;
    device->identify([&](Result<IdentifyInfo> r) { identified.set_value(std::move(r)); });
    auto id = identified.get_future();
    ASSERT_EQ(id.wait_for(20s), std::future_status::ready)
        << "Identify waited for the background part";
    EXPECT_TRUE(id.get().ok());
    EXPECT_EQ(transfer.wait_for(0s), std::future_status::timeout) << "the part still runs";
    model->end_background();
    ASSERT_EQ(transfer.wait_for(20s), std::future_status::ready);
    auto r = transfer.get();
    ASSERT_TRUE(r.ok()) << r.error().describe();
    EXPECT_TRUE(r->background);
    EXPECT_EQ(r->return_code, 0);
}

TEST_F(BackgroundRig, CancelSendsRequestAbortBackgroundOperationWhereTheCelListsIt) {
    open(true);
    EXPECT_TRUE(device->abort_background_supported());
    const size_t at_open = model->opcodes_run().size();
    CancelToken cancel;
    auto transfer = start_transfer(cancel);
    ASSERT_TRUE(eventually([&] { return device_saw(opcode::kTransferFw); }));
    cancel.cancel();
    ASSERT_EQ(transfer.wait_for(20s), std::future_status::ready);
    auto r = transfer.get();
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, Errc::Cancelled);
    EXPECT_NE(r.error().message.find("Aborted"), std::string::npos) << r.error().message;
    EXPECT_EQ(
        opcodes_since_open(at_open),
        (std::vector<uint16_t>{opcode::kTransferFw, opcode::kRequestAbortBackgroundOperation}));
    // The slot is free again: the next background command goes to the device.
    auto next = start_transfer();
    ASSERT_TRUE(eventually([&] { return opcodes_since_open(at_open).size() == 3; }));
}

TEST_F(BackgroundRig, WithoutAbortTheCancelledPartIsWaitedOut) {
    open(false);
    EXPECT_FALSE(device->abort_background_supported());
    const size_t at_open = model->opcodes_run().size();
    CancelToken cancel;
    auto transfer = start_transfer(cancel);
    ASSERT_TRUE(eventually([&] { return device_saw(opcode::kTransferFw); }));
    cancel.cancel();
    ASSERT_EQ(transfer.wait_for(20s), std::future_status::ready);
    EXPECT_EQ(transfer.get().error().code, Errc::Cancelled);
    // The device still runs the part: another background command is not sent...
    auto refused = start_transfer();
    ASSERT_EQ(refused.wait_for(20s), std::future_status::ready);
    auto second = refused.get();
    ASSERT_FALSE(second.ok());
    EXPECT_EQ(second.error().code, Errc::Busy);
    EXPECT_EQ(opcodes_since_open(at_open), std::vector<uint16_t>{opcode::kTransferFw});
    // ...until the part ends on its own.
    model->end_background();
    auto after = start_transfer();
    ASSERT_TRUE(eventually([&] { return opcodes_since_open(at_open).size() == 2; }));
}

TEST_F(BackgroundRig, CloseAbortsARunningOperationBeforeDraining) {
    open(true);
    const size_t at_open = model->opcodes_run().size();
    auto transfer = start_transfer();
    ASSERT_TRUE(eventually([&] { return device_saw(opcode::kTransferFw); }));
    std::promise<void> drained;
    device->close([&] { drained.set_value(); });
    ASSERT_EQ(drained.get_future().wait_for(20s), std::future_status::ready)
        << "the drain waited for a part that never ends by itself";
    device.reset();
    EXPECT_EQ(
        opcodes_since_open(at_open),
        (std::vector<uint16_t>{opcode::kTransferFw, opcode::kRequestAbortBackgroundOperation}));
    ASSERT_EQ(transfer.wait_for(20s), std::future_status::ready);
    auto r = transfer.get();
    ASSERT_TRUE(r.ok()) << r.error().describe();
    EXPECT_EQ(r->return_code, static_cast<uint16_t>(cxl::ReturnCode::Aborted));
}

TEST_F(BackgroundRig, AnOperationLeftRunningIsWaitedForBeforeTheDeviceOpens) {
    model->set_handler(device_handler(true));
    FakeReaction leftover;
    leftover.background_never_completes = true;
    model->start_background(opcode::kTransferFw, leftover);
    ManagedDeviceOptions options;
    options.leftover_background_wait = 20s;
    auto opened = start_open(options);
    // Nothing is sent, and the device does not open, while the operation runs.
    EXPECT_EQ(opened.wait_for(100ms), std::future_status::timeout);
    EXPECT_TRUE(model->opcodes_run().empty());
    model->end_background();
    ASSERT_EQ(opened.wait_for(20s), std::future_status::ready);
    auto r = opened.get();
    ASSERT_TRUE(r.ok()) << r.error().describe();
    device = *r;
    EXPECT_TRUE(device_saw(opcode::kGetSupportedLogs));
}

TEST_F(BackgroundRig, AnOperationThatOutlastsTheWaitDoesNotKeepTheDeviceClosed) {
    model->set_handler(device_handler(false));
    FakeReaction leftover;
    leftover.background_never_completes = true;
    model->start_background(opcode::kTransferFw, leftover);
    ManagedDeviceOptions options;
    options.leftover_background_wait = 10ms;
    auto opened = start_open(options);
    ASSERT_EQ(opened.wait_for(20s), std::future_status::ready);
    auto r = opened.get();
    ASSERT_TRUE(r.ok()) << r.error().describe();
    device = *r;
    // Foreground commands work; background ones wait for the leftover to end.
    std::promise<Result<IdentifyInfo>> identified;
    device->identify([&](Result<IdentifyInfo> i) { identified.set_value(std::move(i)); });
    EXPECT_TRUE(identified.get_future().get().ok());
    auto refused = start_transfer();
    ASSERT_EQ(refused.wait_for(20s), std::future_status::ready);
    EXPECT_EQ(refused.get().error().code, Errc::Busy);
}

// A firmware job on the fake device: an image of three parts whose Initiate never ends by
// itself. Returns the job's final state.
struct FirmwareCancelRig : BackgroundRig {
    std::filesystem::path image_path;
    void SetUp() override {
        char tmpl[] = "/tmp/cxlmgr-bgjob-XXXXXX";
        const int fd = ::mkstemp(tmpl);
        ASSERT_GE(fd, 0);
        ::close(fd);
        image_path = tmpl;
        std::ofstream out(image_path, std::ios::binary);
        const std::string image(40 * 128, 'x');
        out.write(image.data(), static_cast<std::streamsize>(image.size()));
    }
    void TearDown() override {
        BackgroundRig::TearDown();
        std::error_code ec;
        std::filesystem::remove(image_path, ec);
    }
    // Starts the job, cancels it once its first part runs in the background; `after_cancel`
    // runs then (with the job cancelled, before its end is awaited).
    JobStatus cancel_mid_part(const std::function<void()>& after_cancel = {}) {
        auto fd = open_image_path(image_path.string());
        EXPECT_TRUE(fd.ok());
        auto source = ImageSource::from_fd(std::move(fd).value(), device->mailbox_executor(), {});
        EXPECT_TRUE(source.ok()) << source.error().describe();
        auto job = FirmwareJob::create(device, *source, {});
        std::promise<JobStatus> done;
        job->start({}, [&](const JobStatus& s) { done.set_value(s); });
        EXPECT_TRUE(eventually([&] {
            auto seen = log->get();
            return std::find(seen.begin(), seen.end(), "transfer initiate") != seen.end();
        }));
        EXPECT_TRUE(job->cancel().ok());
        if (after_cancel) {
            after_cancel();
        }
        auto f = done.get_future();
        if (f.wait_for(20s) != std::future_status::ready) {
            ADD_FAILURE() << "the job did not end";
            return {};
        }
        return f.get();
    }
    std::vector<std::string> job_requests(size_t at_open) {
        auto seen = log->get();
        return {seen.begin() + static_cast<std::ptrdiff_t>(at_open), seen.end()};
    }
};

TEST_F(FirmwareCancelRig, CancelMidPartAbortsThePartThenTheTransfer) {
    open(true);
    const size_t at_open = log->get().size();
    auto s = cancel_mid_part();
    EXPECT_EQ(s.state, JobState::Cancelled) << s.error;
    EXPECT_EQ(job_requests(at_open),
              (std::vector<std::string>{"Get FW Info", "transfer initiate",
                                        "Request Abort Background Operation", "transfer abort"}));
}

TEST_F(FirmwareCancelRig, WithoutAbortThePartEndsBeforeTheTransferIsAborted) {
    open(false);
    const size_t at_open = log->get().size();
    auto s = cancel_mid_part([&] {
        // The job now asks for the transfer abort, which waits for the part: let it end.
        std::this_thread::sleep_for(20ms);
        log->add("part ended");
        model->end_background();
    });
    EXPECT_EQ(s.state, JobState::Cancelled) << s.error;
    EXPECT_EQ(job_requests(at_open), (std::vector<std::string>{"Get FW Info", "transfer initiate",
                                                               "part ended", "transfer abort"}));
}

}  // namespace
}  // namespace cxlmgr::daemon
