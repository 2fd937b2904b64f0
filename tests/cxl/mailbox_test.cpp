#include "cxl/mailbox.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>

#include "cxl/command_table.hpp"
#include "tests/cxl/mailbox_rig.hpp"

namespace cxlmgr::cxl {
namespace {

using namespace std::chrono_literals;
using testing::FakeCxlDevice;
using testing::FakeLayout;
using testing::FakeReaction;
using testing::fast_config;
using testing::MailboxRig;
using testing::pattern;

TEST(Mailbox, OpensWithThePayloadSizeFromTheCapabilities) {
    MailboxRig rig;
    EXPECT_EQ(rig.mailbox->payload_size(), 2048u);
    EXPECT_FALSE(rig.mailbox->in_flight());
    EXPECT_FALSE(rig.mailbox->failure().has_value());
}

TEST(Mailbox, PayloadSizeLimits) {
    EXPECT_EQ(*payload_size_from_capabilities(8), 256u);
    EXPECT_EQ(*payload_size_from_capabilities(20), 1u << 20);
    EXPECT_EQ(*payload_size_from_capabilities(31), 1u << 20) << "clamped to 1 MiB as Linux does";
    EXPECT_EQ(*payload_size_from_capabilities(0xFFFFFF00u | 11), 2048u) << "only [4:0] counts";
    auto small = payload_size_from_capabilities(7);
    ASSERT_FALSE(small.ok());
    EXPECT_EQ(small.error().code, Errc::DeviceError);
    EXPECT_NE(small.error().message.find("256"), std::string::npos);
}

TEST(Mailbox, OpenRefusesATinyPayloadAndAShortCapability) {
    boost::asio::io_context io;
    FakeLayout tiny;
    tiny.payload_log2 = 7;
    auto r =
        Mailbox::open(io.get_executor(),
                      std::make_shared<pci::EmulatedDevice>(std::make_shared<FakeCxlDevice>(tiny)));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, Errc::DeviceError);

    FakeLayout short_cap;
    short_cap.caps = {{0x0001, 1, 0x100, 8}, {0x4000, 1, 0x180, 8}, {0x0002, 1, 0x200, 0x120}};
    r = Mailbox::open(io.get_executor(), std::make_shared<pci::EmulatedDevice>(
                                             std::make_shared<FakeCxlDevice>(short_cap)));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, Errc::DeviceError);
    EXPECT_NE(r.error().message.find("too short"), std::string::npos) << r.error().message;
}

TEST(Mailbox, NotReadyIsBusyAndAsyncOpenWaitsForReadiness) {
    boost::asio::io_context io;
    auto model = std::make_shared<FakeCxlDevice>();
    auto device = std::make_shared<pci::EmulatedDevice>(model);
    model->set_not_ready_reads(1);
    auto r = Mailbox::open(io.get_executor(), device);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, Errc::Busy);

    model->set_not_ready_reads(5);
    std::optional<Result<std::shared_ptr<Mailbox>>> opened;
    Mailbox::async_open(io.get_executor(), device, fast_config(), {},
                        [&](Result<std::shared_ptr<Mailbox>> m) { opened = std::move(m); });
    io.run();
    ASSERT_TRUE(opened.has_value());
    ASSERT_TRUE(opened->ok()) << opened->error().describe();

    model->set_memdev_status(0);  // never ready
    opened.reset();
    io.restart();
    Mailbox::async_open(io.get_executor(), device, fast_config(), {},
                        [&](Result<std::shared_ptr<Mailbox>> m) { opened = std::move(m); });
    io.run();
    ASSERT_TRUE(opened.has_value());
    ASSERT_FALSE(opened->ok());
    EXPECT_EQ(opened->error().code, Errc::Timeout);
    EXPECT_NE(opened->error().message.find("not ready"), std::string::npos);
}

TEST(Mailbox, AsyncOpenHonoursCancelAndWaitsForAForeignDoorbell) {
    boost::asio::io_context io;
    auto model = std::make_shared<FakeCxlDevice>();
    auto device = std::make_shared<pci::EmulatedDevice>(model);
    model->set_foreign_doorbell(true);
    std::optional<Result<std::shared_ptr<Mailbox>>> opened;
    Mailbox::async_open(io.get_executor(), device, fast_config(), {},
                        [&](Result<std::shared_ptr<Mailbox>> m) { opened = std::move(m); });
    io.run();
    ASSERT_TRUE(opened.has_value());
    ASSERT_FALSE(opened->ok());
    EXPECT_EQ(opened->error().code, Errc::Timeout);
    EXPECT_NE(opened->error().message.find("doorbell"), std::string::npos);

    CancelToken cancel;
    cancel.cancel();
    opened.reset();
    io.restart();
    Mailbox::async_open(io.get_executor(), device, fast_config(), cancel,
                        [&](Result<std::shared_ptr<Mailbox>> m) { opened = std::move(m); });
    io.run();
    ASSERT_TRUE(opened.has_value());
    ASSERT_FALSE(opened->ok());
    EXPECT_EQ(opened->error().code, Errc::Cancelled);
}

TEST(Mailbox, RoundTripsInputAndOutputOfEveryTailLength) {
    MailboxRig rig;
    for (size_t n : {0, 1, 3, 4, 5, 7, 8, 9, 12, 13, 15, 16, 17, 255, 2047, 2048}) {
        const Bytes in = pattern(n, 3);
        const Bytes reply = pattern(n, 11);
        rig.model->set_handler(
            [&](uint16_t, const Bytes&) { return FakeReaction::answer(0, reply); });
        auto r = rig.run(MailboxRequest{0x4000, in, {}});
        ASSERT_TRUE(r.ok()) << r.error().describe();
        EXPECT_EQ(rig.model->last_input(), in) << n;
        EXPECT_EQ(r->output, reply) << n;
        EXPECT_EQ(r->return_code, 0);
        EXPECT_FALSE(r->background);
    }
}

TEST(Mailbox, UsesOnly32And64BitStoresAndOneCommandStore) {
    MailboxRig rig;
    rig.model->clear_accesses();
    ASSERT_TRUE(rig.run(MailboxRequest{0x0201, pattern(13), {}}).ok());
    const uint64_t command_at = rig.model->mailbox_base() + 0x08;
    int command_stores = 0;
    for (const auto& a : rig.model->accesses()) {
        EXPECT_TRUE(a.width == 4 || a.width == 8);
        if (a.offset == command_at || a.offset == command_at + 4) {
            ++command_stores;
            EXPECT_EQ(a.width, 8u);
            EXPECT_EQ(a.value, 0x0201u | (13ull << 16));
        }
    }
    EXPECT_EQ(command_stores, 1);
}

TEST(Mailbox, NonSuccessReturnCodeIsAnAnswerWithoutOutput) {
    MailboxRig rig;
    // QEMU echoes the input length on Unsupported: that length must not be trusted.
    rig.model->set_handler([](uint16_t, const Bytes&) {
        auto r = FakeReaction::answer(0x03);
        r.claimed_length = 1u << 20;
        return r;
    });
    auto r = rig.run(MailboxRequest{0x4200, {}, {}});
    ASSERT_TRUE(r.ok()) << r.error().describe();
    EXPECT_EQ(r->return_code, 0x03);
    EXPECT_TRUE(r->output.empty());
}

TEST(Mailbox, DoorbellThatNeverClearsTimesOutAndTakesTheMailboxOutOfService) {
    MailboxRig rig;
    rig.model->set_handler([](uint16_t, const Bytes&) {
        FakeReaction r;
        r.busy_reads = FakeReaction::kForever;
        return r;
    });
    auto start = std::chrono::steady_clock::now();
    auto r = rig.run(MailboxRequest{0x4000, {}, {}});
    EXPECT_GE(std::chrono::steady_clock::now() - start, 50ms);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, Errc::Timeout);
    EXPECT_NE(r.error().message.find("Identify Memory Device"), std::string::npos);
    ASSERT_TRUE(rig.mailbox->failure().has_value());

    rig.model->set_handler(nullptr);
    auto later = rig.run(MailboxRequest{0x0200, {}, {}});
    ASSERT_FALSE(later.ok());
    EXPECT_EQ(later.error().code, Errc::DeviceError);
    EXPECT_NE(later.error().message.find("doorbell did not clear"), std::string::npos);
    EXPECT_EQ(rig.model->opcodes_run().size(), 1u) << "a failed mailbox must not touch the device";

    auto reset = rig.mailbox->reset();
    ASSERT_FALSE(reset.ok());
    EXPECT_EQ(reset.error().code, Errc::Busy);
    rig.model->release_doorbell();
    ASSERT_TRUE(rig.mailbox->reset().ok());
    EXPECT_FALSE(rig.mailbox->failure().has_value());
    EXPECT_TRUE(rig.run(MailboxRequest{0x0200, {}, {}}).ok());
}

TEST(Mailbox, DoorbellWaitSurvivesSlowDevices) {
    MailboxRig rig;
    rig.model->set_handler([](uint16_t, const Bytes&) {
        auto r = FakeReaction::answer(0, {1, 2, 3});
        r.busy_reads = 5;
        return r;
    });
    auto r = rig.run(MailboxRequest{0x4000, {}, {}});
    ASSERT_TRUE(r.ok()) << r.error().describe();
    EXPECT_EQ(r->output, (Bytes{1, 2, 3}));
}

TEST(Mailbox, DoorbellSetByAnotherAgentIsBusy) {
    MailboxRig rig;
    rig.model->set_foreign_doorbell(true);
    auto r = rig.run(MailboxRequest{0x4000, {}, {}});
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, Errc::Busy);
    EXPECT_NE(r.error().message.find("another agent"), std::string::npos);
    EXPECT_TRUE(rig.model->opcodes_run().empty());
    EXPECT_FALSE(rig.mailbox->failure().has_value()) << "busy is not a failure";
    rig.model->set_foreign_doorbell(false);
    EXPECT_TRUE(rig.run(MailboxRequest{0x4000, {}, {}}).ok());
}

TEST(Mailbox, SecondCommandWhileOneIsInFlightIsBusy) {
    MailboxRig rig;
    rig.model->set_handler([](uint16_t, const Bytes&) {
        FakeReaction r;
        r.busy_reads = 3;
        return r;
    });
    std::optional<Result<MailboxResponse>> first, second;
    rig.mailbox->async_command({0x4000, {}, {}}, {}, [&](auto r) { first = std::move(r); });
    EXPECT_TRUE(rig.mailbox->in_flight());
    rig.mailbox->async_command({0x0200, {}, {}}, {}, [&](auto r) { second = std::move(r); });
    EXPECT_FALSE(second.has_value()) << "completions never run inside async_command";
    rig.io.run();
    ASSERT_TRUE(first && second);
    EXPECT_TRUE(first->ok());
    ASSERT_FALSE(second->ok());
    EXPECT_EQ(second->error().code, Errc::Busy);
    EXPECT_EQ(rig.model->opcodes_run(), std::vector<uint16_t>{0x4000});
}

TEST(Mailbox, OutputLengthLieIsRefusedWithoutReadingPastThePayload) {
    MailboxRig rig;
    rig.model->set_handler([](uint16_t, const Bytes&) {
        auto r = FakeReaction::answer(0, {1, 2});
        r.claimed_length = 2048 + 64;
        return r;
    });
    auto r = rig.run(MailboxRequest{0x4000, {}, {}});
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, Errc::DeviceError);
    EXPECT_NE(r.error().message.find("length lie"), std::string::npos) << r.error().message;
    EXPECT_NE(r.error().message.find("2112"), std::string::npos);
    rig.model->set_handler(nullptr);
    EXPECT_TRUE(rig.run(MailboxRequest{0x4000, {}, {}}).ok()) << "the mailbox stays usable";
}

TEST(Mailbox, InputLargerThanThePayloadIsRefused) {
    MailboxRig rig;
    auto r = rig.run(MailboxRequest{0x0201, Bytes(2049), {}});
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, Errc::InvalidArgument);
    EXPECT_TRUE(rig.model->opcodes_run().empty());
}

TEST(Mailbox, RemovedDeviceIsDeviceGone) {
    MailboxRig rig;
    rig.model->set_removed(true);
    auto r = rig.run(MailboxRequest{0x4000, {}, {}});
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, Errc::DeviceGone);
    EXPECT_EQ(rig.mailbox->read_memdev_status().error().code, Errc::DeviceGone);
    EXPECT_EQ(rig.mailbox->read_event_status().error().code, Errc::DeviceGone);
}

TEST(Mailbox, CallbackMayStartTheNextCommandAndTheMailboxOutlivesItsOwner) {
    MailboxRig rig;
    std::vector<uint16_t> done;
    std::weak_ptr<Mailbox> weak = rig.mailbox;
    auto mailbox = std::move(rig.mailbox);
    mailbox->async_command({0x4000, {}, {}}, {}, [&, weak](Result<MailboxResponse> r) {
        ASSERT_TRUE(r.ok());
        done.push_back(r->opcode);
        auto m = weak.lock();
        ASSERT_TRUE(m) << "a running command keeps the mailbox alive";
        m->async_command({0x0200, {}, {}}, {}, [&](Result<MailboxResponse> r2) {
            ASSERT_TRUE(r2.ok()) << r2.error().describe();
            done.push_back(r2->opcode);
        });
    });
    mailbox.reset();
    rig.io.run();
    EXPECT_EQ(done, (std::vector<uint16_t>{0x4000, 0x0200}));
    EXPECT_TRUE(weak.expired());
}

}  // namespace
}  // namespace cxlmgr::cxl
