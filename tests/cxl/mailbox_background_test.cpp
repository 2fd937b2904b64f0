// Background commands: Background Command Started (0x01) followed through BG Command Status,
// apart from the foreground commands the mailbox takes meanwhile.
#include <gtest/gtest.h>

#include <optional>
#include <thread>

#include "cxl/command_table.hpp"
#include "cxl/return_code.hpp"
#include "tests/cxl/mailbox_rig.hpp"

namespace cxlmgr::cxl {
namespace {

using namespace std::chrono_literals;
using testing::FakeReaction;
using testing::MailboxRig;

FakeReaction background(std::vector<unsigned> percents, uint16_t final_code = 0) {
    FakeReaction r;
    r.background_percents = std::move(percents);
    r.return_code = final_code;
    return r;
}

TEST(MailboxBackground, FollowedToCompletionThroughPercentSteps) {
    MailboxRig rig;
    rig.model->set_handler([](uint16_t, const Bytes&) { return background({0, 10, 40, 70}); });
    std::vector<unsigned> seen;
    MailboxRequest req{opcode::kTransferFw, Bytes(0x90), {}};
    req.options.on_progress = [&](unsigned p) { seen.push_back(p); };
    auto r = rig.run(std::move(req));
    ASSERT_TRUE(r.ok()) << r.error().describe();
    EXPECT_TRUE(r->background);
    EXPECT_EQ(r->return_code, 0);
    EXPECT_EQ(seen, (std::vector<unsigned>{10, 40, 70, 100}));
    EXPECT_FALSE(rig.mailbox->in_flight());
}

TEST(MailboxBackground, FinalReturnCodeComesFromTheBackgroundStatus) {
    MailboxRig rig;
    rig.model->set_handler([](uint16_t, const Bytes&) {
        return background({50}, static_cast<uint16_t>(ReturnCode::FwVerificationFailed));
    });
    auto r = rig.run(MailboxRequest{opcode::kTransferFw, Bytes(0x90), {}});
    ASSERT_TRUE(r.ok()) << r.error().describe();
    EXPECT_TRUE(r->background);
    EXPECT_EQ(r->return_code, 0x0A);
    EXPECT_TRUE(r->output.empty());
}

// By its completion the payload area may hold what a foreground command answered meanwhile:
// a background result never carries output.
TEST(MailboxBackground, ABackgroundResultCarriesNoOutput) {
    MailboxRig rig;
    rig.model->set_handler([](uint16_t, const Bytes&) {
        auto r = background({30});
        r.output = {9, 8, 7, 6, 5};
        return r;
    });
    auto r = rig.run(MailboxRequest{0x4400, {}, {}});
    ASSERT_TRUE(r.ok()) << r.error().describe();
    EXPECT_TRUE(r->background);
    EXPECT_TRUE(r->output.empty());
}

TEST(MailboxBackground, ForeignOpcodeInTheBackgroundStatusIsADeviceError) {
    MailboxRig rig;
    rig.model->set_handler([](uint16_t, const Bytes&) {
        auto r = background({50});
        r.background_opcode = 0x4400;
        return r;
    });
    auto r = rig.run(MailboxRequest{opcode::kTransferFw, Bytes(0x90), {}});
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, Errc::DeviceError);
    EXPECT_NE(r.error().message.find("0x4400"), std::string::npos) << r.error().message;
}

TEST(MailboxBackground, DeadlineIsPerCommandAndDoesNotFailTheMailbox) {
    MailboxRig rig;
    rig.model->set_handler([](uint16_t op, const Bytes&) {
        FakeReaction r;
        r.background_percents = {5};
        r.background_never_completes = op == opcode::kTransferFw;
        return r;
    });
    MailboxRequest req{opcode::kTransferFw, Bytes(0x90), {}};
    req.options.background_timeout = 30ms;
    auto start = std::chrono::steady_clock::now();
    auto r = rig.run(std::move(req));
    EXPECT_GE(std::chrono::steady_clock::now() - start, 30ms);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, Errc::Timeout);
    EXPECT_NE(r.error().message.find("5% done"), std::string::npos) << r.error().message;
    EXPECT_FALSE(rig.mailbox->failure().has_value());
    EXPECT_FALSE(rig.mailbox->in_flight());
}

TEST(MailboxBackground, CancelEndsTheFollowingButTheOperationStaysTracked) {
    MailboxRig rig;
    rig.model->set_handler([](uint16_t, const Bytes& in) {
        FakeReaction r;
        if (in.at(0) != 4) {  // everything but Transfer FW abort runs (forever) in the background
            r.background_percents = {10, 20, 30};
            r.background_never_completes = true;
        }
        return r;
    });
    CancelToken cancel;
    MailboxRequest req{opcode::kTransferFw, Bytes(0x90), {}};
    req.options.on_progress = [&](unsigned p) {
        if (p == 20) {
            cancel.cancel();
        }
    };
    auto r = rig.run(std::move(req), cancel);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, Errc::Cancelled);
    EXPECT_NE(r.error().message.find("20% done"), std::string::npos) << r.error().message;
    EXPECT_EQ(rig.model->opcodes_run(), std::vector<uint16_t>{opcode::kTransferFw});
    EXPECT_FALSE(rig.mailbox->in_flight());
    EXPECT_EQ(rig.mailbox->background_opcode(), opcode::kTransferFw);

    // The device still runs it: another background command is refused here, never sent...
    Bytes abort(0x80, 0);
    abort[0] = 4;
    auto refused = rig.run(MailboxRequest{opcode::kTransferFw, abort, {}});
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.error().code, Errc::Busy);
    EXPECT_EQ(rig.model->opcodes_run(), std::vector<uint16_t>{opcode::kTransferFw});
    // ...until the Status register shows it over.
    rig.model->end_background();
    EXPECT_TRUE(rig.run(MailboxRequest{opcode::kTransferFw, abort, {}}).ok());
    EXPECT_FALSE(rig.mailbox->background_opcode().has_value());
}

// The caller's abort is an ordinary foreground command; the following goes on until the device
// reports the operation over, so whoever holds the operation's slot hears of it only then.
TEST(MailboxBackground, CancelWithAnAbortFollowsTheOperationToItsEnd) {
    MailboxRig rig;
    rig.model->set_handler([](uint16_t op, const Bytes&) {
        FakeReaction r;
        if (op == opcode::kTransferFw) {
            r.background_percents = {10, 20, 30};
            r.background_never_completes = true;
        }
        r.aborts_background = op == opcode::kRequestAbortBackgroundOperation;
        return r;
    });
    CancelToken cancel;
    std::optional<Result<MailboxResponse>> abort_answer;
    MailboxRequest req{opcode::kTransferFw, Bytes(0x90), {}};
    req.options.on_progress = [&](unsigned p) {
        if (p == 20) {
            cancel.cancel();
        }
    };
    req.options.on_cancel_in_background = [&] {
        rig.mailbox->async_command(MailboxRequest{opcode::kRequestAbortBackgroundOperation, {}, {}},
                                   {},
                                   [&](Result<MailboxResponse> r) { abort_answer = std::move(r); });
        return true;
    };
    auto r = rig.run(std::move(req), cancel);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, Errc::Cancelled);
    EXPECT_NE(r.error().message.find("Aborted"), std::string::npos) << r.error().message;
    ASSERT_TRUE(abort_answer && abort_answer->ok());
    EXPECT_EQ((*abort_answer)->return_code, 0);
    EXPECT_EQ(
        rig.model->opcodes_run(),
        (std::vector<uint16_t>{opcode::kTransferFw, opcode::kRequestAbortBackgroundOperation}));
    EXPECT_FALSE(rig.mailbox->background_opcode().has_value()) << "the device reported it over";
}

// Both at once: a foreground command rung after Background Command Started completes (with its
// own return code and output, from the Status register and the payload) while the background
// operation is still followed, which ends later with the return code of the BG Command Status.
TEST(MailboxBackground, ForegroundCommandsCompleteWhileABackgroundOperationIsFollowed) {
    MailboxRig rig;
    rig.model->set_handler([](uint16_t op, const Bytes&) {
        if (op == opcode::kTransferFw) {
            return background({10, 20, 30, 40, 50, 60},
                              static_cast<uint16_t>(ReturnCode::FwVerificationFailed));
        }
        return FakeReaction::answer(0, {42, 43});
    });
    std::vector<std::string> order;
    std::optional<Result<MailboxResponse>> fg;
    std::optional<Result<MailboxResponse>> bg;
    MailboxRequest req{opcode::kTransferFw, Bytes(0x90), {}};
    req.options.on_background_started = [&] {
        order.push_back("started");
        EXPECT_FALSE(rig.mailbox->in_flight());
        rig.mailbox->async_command(MailboxRequest{opcode::kIdentifyMemoryDevice, {}, {}}, {},
                                   [&](Result<MailboxResponse> r) {
                                       order.push_back("foreground");
                                       fg = std::move(r);
                                   });
    };
    rig.mailbox->async_command(std::move(req), {}, [&](Result<MailboxResponse> r) {
        order.push_back("background");
        bg = std::move(r);
    });
    rig.io.run();
    EXPECT_EQ(order, (std::vector<std::string>{"started", "foreground", "background"}));
    ASSERT_TRUE(fg && fg->ok()) << (fg ? fg->error().describe() : "none");
    EXPECT_FALSE((*fg)->background);
    EXPECT_EQ((*fg)->return_code, 0) << "the foreground code, not the background one";
    EXPECT_EQ((*fg)->output, (Bytes{42, 43}));
    ASSERT_TRUE(bg && bg->ok()) << (bg ? bg->error().describe() : "none");
    EXPECT_TRUE((*bg)->background);
    EXPECT_EQ((*bg)->opcode, opcode::kTransferFw);
    EXPECT_EQ((*bg)->return_code, static_cast<uint16_t>(ReturnCode::FwVerificationFailed));
    EXPECT_EQ((*bg)->percent, 100u);
    EXPECT_TRUE((*bg)->output.empty()) << "the foreground output is not the background's";
    EXPECT_EQ(rig.model->opcodes_run(),
              (std::vector<uint16_t>{opcode::kTransferFw, opcode::kIdentifyMemoryDevice}));
}

TEST(MailboxBackground, ASecondBackgroundCommandIsRefusedWithoutBeingSent) {
    MailboxRig rig;
    rig.model->set_handler([](uint16_t op, const Bytes&) {
        return op == opcode::kTransferFw ? background({10, 20, 30}) : FakeReaction{};
    });
    std::optional<Result<MailboxResponse>> second;
    std::optional<Result<MailboxResponse>> first;
    MailboxRequest req{opcode::kTransferFw, Bytes(0x90), {}};
    req.options.on_background_started = [&] {
        rig.mailbox->async_command(MailboxRequest{opcode::kSanitize, {}, {}}, {},
                                   [&](Result<MailboxResponse> r) { second = std::move(r); });
    };
    rig.mailbox->async_command(std::move(req), {},
                               [&](Result<MailboxResponse> r) { first = std::move(r); });
    rig.io.run();
    ASSERT_TRUE(second.has_value());
    ASSERT_FALSE(second->ok());
    EXPECT_EQ(second->error().code, Errc::Busy);
    EXPECT_NE(second->error().message.find("Transfer FW"), std::string::npos)
        << second->error().message;
    ASSERT_TRUE(first && first->ok());
    EXPECT_EQ(rig.model->opcodes_run(), std::vector<uint16_t>{opcode::kTransferFw});
}

// However long the command is expected to run, completion is checked once at once: a device
// that finished at once is seen without waiting on any timer.
TEST(MailboxBackground, TheFirstCompletionCheckComesAtOnce) {
    MailboxRig rig;
    rig.model->set_handler([](uint16_t, const Bytes&) {
        FakeReaction r;
        r.runs_in_background = true;  // over at the first BG Command Status read
        return r;
    });
    MailboxRequest req{opcode::kSanitize, {}, {}};
    req.options.expected_duration = std::chrono::hours(1);
    std::optional<Result<MailboxResponse>> out;
    rig.mailbox->async_command(std::move(req), {},
                               [&](Result<MailboxResponse> r) { out = std::move(r); });
    while (rig.io.poll() > 0) {  // ready handlers only: no timer expires in here
    }
    ASSERT_TRUE(out.has_value()) << "the completion waited for a timer";
    ASSERT_TRUE(out->ok()) << out->error().describe();
    EXPECT_TRUE((*out)->background);
    EXPECT_EQ(rig.model->background_status_reads(), 2u) << "one check, one result read";
}

TEST(MailboxBackground, PollingScalesWithTheExpectedDurationWithinBounds) {
    using std::chrono::microseconds;
    const Backoff part =
        background_poll_backoff(command_spec(opcode::kTransferFw).expected_duration);
    EXPECT_EQ(part.first, microseconds(100));
    EXPECT_EQ(part.max, microseconds(2000));
    const Backoff scan = background_poll_backoff(std::chrono::seconds(10));
    EXPECT_EQ(scan.first, microseconds(20000));
    EXPECT_EQ(scan.max, microseconds(1000000));
    const Backoff tiny = background_poll_backoff(microseconds(100));
    EXPECT_EQ(tiny.first, microseconds(50));
    EXPECT_EQ(tiny.max, microseconds(2000));
    const Backoff slow = background_poll_backoff(std::chrono::milliseconds(400));
    EXPECT_EQ(slow.first, microseconds(8000));
    EXPECT_EQ(slow.max, microseconds(100000));
}

TEST(MailboxBackground, AnOperationFoundRunningAtOpenIsTrackedAndWaitedFor) {
    MailboxRig rig;
    FakeReaction leftover;
    leftover.background_percents = {40, 50};
    rig.model->start_background(opcode::kTransferFw, leftover);
    auto m = Mailbox::open(rig.io.get_executor(), std::make_shared<pci::EmulatedDevice>(rig.model),
                           testing::fast_config());
    ASSERT_TRUE(m.ok()) << m.error().describe();
    auto mailbox = *m;
    EXPECT_EQ(mailbox->background_opcode(), opcode::kTransferFw);
    std::optional<Status> waited;
    mailbox->async_wait_background_idle(std::chrono::steady_clock::now() + 5s, 1ms, {},
                                        [&](Status s) { waited = std::move(s); });
    // Only register reads end it here: nothing drives the fake but the BG status reads.
    std::thread ender([model = rig.model] {
        std::this_thread::sleep_for(5ms);
        model->end_background();
    });
    rig.io.restart();
    rig.io.run();
    ender.join();
    ASSERT_TRUE(waited.has_value());
    EXPECT_TRUE(waited->ok()) << waited->error().describe();
    EXPECT_FALSE(mailbox->background_opcode().has_value());
    EXPECT_TRUE(rig.model->opcodes_run().empty()) << "followed by register reads only";
}

TEST(MailboxBackground, CancelBeforeTheDoorbellClearsDoesNotHideACompletedCommand) {
    MailboxRig rig;
    rig.model->set_handler([](uint16_t, const Bytes&) {
        auto r = FakeReaction::answer(0, {42});
        r.busy_reads = 2;
        return r;
    });
    CancelToken cancel;
    cancel.cancel();
    auto r = rig.run(MailboxRequest{0x4000, {}, {}}, cancel);
    ASSERT_TRUE(r.ok()) << "the device ran it; its answer is reported";
    EXPECT_EQ(r->output, Bytes{42});
}

}  // namespace
}  // namespace cxlmgr::cxl
