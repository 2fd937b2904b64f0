// Background commands: Background Command Started (0x01) followed through BG Command Status.
#include <gtest/gtest.h>

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

TEST(MailboxBackground, OutputOfABackgroundCommandIsReadAtCompletion) {
    MailboxRig rig;
    rig.model->set_handler([](uint16_t, const Bytes&) {
        auto r = background({30});
        r.output = {9, 8, 7, 6, 5};
        return r;
    });
    auto r = rig.run(MailboxRequest{0x4400, {}, {}});
    ASSERT_TRUE(r.ok()) << r.error().describe();
    EXPECT_EQ(r->output, (Bytes{9, 8, 7, 6, 5}));
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

TEST(MailboxBackground, CancelWhileFollowingReportsCancelledAndLeavesTheAbortToTheCaller) {
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

    // The caller's own abort (here Transfer FW action 4) goes through at once.
    Bytes abort(0x80, 0);
    abort[0] = 4;
    EXPECT_TRUE(rig.run(MailboxRequest{opcode::kTransferFw, abort, {}}).ok());
}

TEST(MailboxBackground, CancelCanRequestAbortBackgroundOperation) {
    MailboxRig rig;
    rig.model->set_handler([](uint16_t op, const Bytes&) {
        FakeReaction r;
        if (op == opcode::kTransferFw) {
            r.background_percents = {10};
            r.background_never_completes = true;
        }
        return r;
    });
    CancelToken cancel;
    MailboxRequest req{opcode::kTransferFw, Bytes(0x90), {}};
    req.options.abort_background_on_cancel = true;
    req.options.on_progress = [&](unsigned) { cancel.cancel(); };
    auto r = rig.run(std::move(req), cancel);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, Errc::Cancelled);
    EXPECT_EQ(
        rig.model->opcodes_run(),
        (std::vector<uint16_t>{opcode::kTransferFw, opcode::kRequestAbortBackgroundOperation}));
    EXPECT_NE(r.error().message.find("answered 0x00 Success"), std::string::npos)
        << r.error().message;
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
