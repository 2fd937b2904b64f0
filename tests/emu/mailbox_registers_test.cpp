// The emulated primary mailbox at register level: discovery, doorbell timing, access widths,
// generic and memory-device commands, and the mailbox faults.
#include <gtest/gtest.h>

#include <map>

#include "mailbox_host.hpp"

namespace cxlmgr::emu::testing {
namespace {

using nlohmann::json;

struct MailboxTest : ::testing::Test {
    ManualClock clock;
    std::unique_ptr<MailboxHost> host;

    void open(const json& description = json::object()) {
        host = std::make_unique<MailboxHost>(description, clock);
        ASSERT_TRUE(host->discover());
    }
};

TEST_F(MailboxTest, FoundThroughTheCapabilityArray) {
    open();
    EXPECT_EQ(host->mailbox_offset(), Type3Device::kMailboxOffset);  // cross-check only
    EXPECT_EQ(host->payload_size(), 2048u);
    EXPECT_EQ(host->mailbox_length(), 0x20u + 2048u);
    uint32_t caps = host->caps();
    EXPECT_EQ(caps & (1u << 5), 0u) << "no doorbell interrupt";
    EXPECT_EQ(caps & (1u << 6), 0u) << "no background interrupt without MSI";
    EXPECT_TRUE(host->memdev_status() & (1u << 4)) << "mailbox interface ready";
    EXPECT_FALSE(host->doorbell());
}

TEST_F(MailboxTest, PayloadSizeComesFromTheDescription) {
    open({{"payload_size", 256}});
    EXPECT_EQ(host->caps() & 0x1F, 8u);
    EXPECT_EQ(host->payload_size(), 256u);
}

TEST_F(MailboxTest, ZeroLatencyCompletesAtTheFirstReadAfterTheRing) {
    open();
    host->write_command(kOpIdentify, 0);
    host->ring();
    EXPECT_FALSE(host->doorbell());
    EXPECT_EQ(host->return_code(), kRcSuccess);
    EXPECT_EQ(host->out_length(), 0x43u);
}

TEST_F(MailboxTest, DoorbellStaysSetForTheConfiguredLatency) {
    open({{"timing", {{"mailbox_latency_us", 500}}}});
    host->write_command(kOpIdentify, 0);
    host->ring();
    EXPECT_TRUE(host->doorbell());
    clock.advance(499us);
    EXPECT_TRUE(host->doorbell());
    EXPECT_EQ(host->out_length(), 0u) << "nothing produced yet";
    clock.advance(1us);
    EXPECT_FALSE(host->doorbell());
    EXPECT_EQ(host->return_code(), kRcSuccess);
    EXPECT_EQ(host->out_length(), 0x43u);
}

TEST_F(MailboxTest, WritesAndRingsWhileBusyAreIgnored) {
    open({{"timing", {{"mailbox_latency_us", 100}}}});
    host->write_command(kOpIdentify, 0);
    host->ring();
    ASSERT_TRUE(host->doorbell());
    host->write_payload(std::vector<uint8_t>(8, 0xAB));
    host->write_command(kOpSetTimestamp, 8);
    host->ring();
    clock.advance(100us);
    ASSERT_FALSE(host->doorbell());
    EXPECT_EQ(host->command() & 0xFFFF, kOpIdentify);
    EXPECT_EQ(host->out_length(), 0x43u);
    auto ts = host->exec(kOpGetTimestamp, {}, 10us);
    ASSERT_EQ(ts.rc, kRcSuccess);
    EXPECT_EQ(le(ts.out, 0, 8), 0u) << "the Set Timestamp written while busy never ran";
}

TEST_F(MailboxTest, CommandRegisterWrittenAsTwo32BitHalves) {
    // A length above 0xFFFF needs bit 32, so it only arrives if the halves are merged.
    open({{"payload_size", 131072}, {"timing", {{"fw_transfer_us_per_kib", 0}}}});
    std::vector<uint8_t> payload(65536 - 64, 0x5A);
    auto image = build_firmware_image("HALVES", payload);
    ASSERT_EQ(image.size(), 65536u);
    std::vector<uint8_t> in(0x80, 0);
    in[0] = 0;  // full
    in[1] = 2;
    in.insert(in.end(), image.begin(), image.end());
    uint64_t cmd = kOpTransferFw | (uint64_t{in.size()} << 16);
    ASSERT_NE(cmd >> 32, 0u);
    host->write_payload(in);
    auto& bar = host->bar();
    bar.write32(host->mailbox_offset() + 0x0C, static_cast<uint32_t>(cmd >> 32));  // high first
    bar.write32(host->mailbox_offset() + 0x08, static_cast<uint32_t>(cmd));
    host->ring();
    ASSERT_TRUE(host->wait_doorbell());
    EXPECT_EQ(host->return_code(), kRcBgStarted);
    EXPECT_EQ(host->wait_background(), kRcSuccess);
    auto info = host->exec(kOpGetFwInfo);
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(&info.out[0x20])), "HALVES");
}

TEST_F(MailboxTest, AccessesOfOtherWidthsToRegistersAreIgnored) {
    open();
    auto& model = host->model();
    uint64_t base = host->mailbox_offset();
    EXPECT_EQ(model.mmio_read(Type3Device::kDeviceBar, base, 2), 0u);
    host->write_command(kOpIdentify, 0);
    model.mmio_write(Type3Device::kDeviceBar, base + 0x04, 1, 1);
    EXPECT_FALSE(host->doorbell()) << "a byte store does not ring";
    model.mmio_write(Type3Device::kDeviceBar, base + 0x08, 2, kOpGetFwInfo);
    EXPECT_EQ(host->command() & 0xFFFF, kOpIdentify);
    // The payload is a buffer: byte stores land.
    model.mmio_write(Type3Device::kDeviceBar, base + 0x21, 1, 0x7E);
    EXPECT_EQ((host->bar().read32(base + 0x20) >> 8) & 0xFF, 0x7Eu);
}

TEST_F(MailboxTest, UnknownOpcodeIsUnsupported) {
    open();
    auto r = host->exec(0x4F00, std::vector<uint8_t>(16, 1));
    EXPECT_EQ(r.rc, kRcUnsupported);
    EXPECT_EQ(r.out_length, 0u) << "unlike QEMU, no echo of the input length";
}

TEST_F(MailboxTest, WrongFixedInputLengthIsInvalidPayloadLength) {
    open();
    EXPECT_EQ(host->exec(kOpIdentify, std::vector<uint8_t>(4, 0)).rc, kRcInvalidPayloadLength);
    EXPECT_EQ(host->exec(kOpGetEvents).rc, kRcInvalidPayloadLength);
    EXPECT_EQ(host->exec(kOpSetTimestamp, std::vector<uint8_t>(4, 0)).rc, kRcInvalidPayloadLength);
    EXPECT_EQ(host->exec(kOpGetLog, std::vector<uint8_t>(0x10, 0)).rc, kRcInvalidPayloadLength);
}

TEST_F(MailboxTest, LengthAboveThePayloadSizeIsRefused) {
    open({{"payload_size", 256}});
    host->write_command(kOpSetTimestamp, 257);
    host->ring();
    ASSERT_TRUE(host->wait_doorbell());
    EXPECT_EQ(host->return_code(), kRcInvalidPayloadLength);
}

TEST_F(MailboxTest, IdentifyReportsTheDescription) {
    open({{"volatile_capacity", 2 * kCapacityUnit},
          {"persistent_capacity", kCapacityUnit},
          {"lsa_size", 65536},
          {"events", {{"capacity", 16}}}});
    auto r = host->exec(kOpIdentify);
    ASSERT_EQ(r.rc, kRcSuccess);
    ASSERT_EQ(r.out.size(), 0x43u);
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(r.out.data()), 10), "EMU FW 1.0");
    EXPECT_EQ(r.out[10], 0) << "NUL padded";
    EXPECT_EQ(le(r.out, 0x10, 8), 3u);
    EXPECT_EQ(le(r.out, 0x18, 8), 2u);
    EXPECT_EQ(le(r.out, 0x20, 8), 1u);
    for (unsigned i = 0; i < 4; ++i) {
        EXPECT_EQ(le(r.out, 0x30 + 2 * i, 2), 16u);
    }
    EXPECT_EQ(le(r.out, 0x38, 4), 65536u);
}

TEST_F(MailboxTest, HealthInfoDefaultsToAHealthyDevice) {
    open();
    auto r = host->exec(kOpHealth);
    ASSERT_EQ(r.rc, kRcSuccess);
    ASSERT_EQ(r.out.size(), 0x12u);
    EXPECT_EQ(r.out[0], 0) << "health status";
    EXPECT_EQ(r.out[1], 0) << "media normal";
    EXPECT_EQ(r.out[3], 3) << "life used";
    EXPECT_EQ(static_cast<int16_t>(le(r.out, 4, 2)), 35);
    EXPECT_EQ(le(r.out, 6, 4), 0u);
}

std::vector<uint8_t> get_log_input(std::span<const uint8_t> uuid, uint32_t offset,
                                   uint32_t length) {
    std::vector<uint8_t> in(uuid.begin(), uuid.end());
    put(in, 16, offset, 4);
    put(in, 20, length, 4);
    return in;
}

TEST_F(MailboxTest, SupportedLogsAndTheCommandEffectsLog) {
    open({{"payload_size", 256}});
    auto gsl = host->exec(kOpGetSupportedLogs);
    ASSERT_EQ(gsl.rc, kRcSuccess);
    ASSERT_EQ(le(gsl.out, 0, 2), 1u);
    const uint8_t kCel[16] = {0x0d, 0xa9, 0xc0, 0xb5, 0xbf, 0x41, 0x4b, 0x78,
                              0x8f, 0x79, 0x96, 0xb1, 0x62, 0x3b, 0x3f, 0x17};
    ASSERT_TRUE(std::equal(std::begin(kCel), std::end(kCel), gsl.out.begin() + 8));
    auto size = static_cast<uint32_t>(le(gsl.out, 24, 4));
    ASSERT_EQ(size % 4, 0u);
    ASSERT_GT(size, 0u);

    auto cel = host->exec(kOpGetLog, get_log_input(kCel, 0, size));
    ASSERT_EQ(cel.rc, kRcSuccess);
    ASSERT_EQ(cel.out.size(), size);
    std::map<uint16_t, uint16_t> effects;
    for (uint32_t off = 0; off < size; off += 4) {
        effects[static_cast<uint16_t>(le(cel.out, off, 2))] =
            static_cast<uint16_t>(le(cel.out, off + 2, 2));
    }
    for (uint16_t op : {kOpBgStatus, kOpGetEvents, kOpClearEvents, kOpGetPolicy, kOpSetPolicy,
                        kOpGetFwInfo, kOpTransferFw, kOpActivateFw, kOpGetTimestamp,
                        kOpSetTimestamp, kOpGetSupportedLogs, kOpGetLog, kOpIdentify, kOpHealth}) {
        ASSERT_TRUE(effects.count(op)) << std::hex << op;
    }
    EXPECT_TRUE(effects[kOpTransferFw] & (1u << 6)) << "Transfer FW runs in the background";
    EXPECT_FALSE(effects[kOpIdentify] & (1u << 6));
    EXPECT_FALSE(effects[kOpActivateFw] & (1u << 6));
    EXPECT_TRUE(effects[kOpClearEvents] & (1u << 4)) << "immediate log change";

    auto part = host->exec(kOpGetLog, get_log_input(kCel, 8, 8));
    ASSERT_EQ(part.rc, kRcSuccess);
    EXPECT_TRUE(std::equal(part.out.begin(), part.out.end(), cel.out.begin() + 8));
    EXPECT_EQ(host->exec(kOpGetLog, get_log_input(kCel, 4, size)).rc, kRcInvalidInput);
    EXPECT_EQ(host->exec(kOpGetLog, get_log_input(kCel, size + 4, 0)).rc, kRcInvalidInput);
    EXPECT_EQ(host->exec(kOpGetLog, get_log_input(kCel, 0, 257)).rc, kRcInvalidInput);
    uint8_t other[16] = {0x5e, 0x18, 0x19, 0xd9, 0x11, 0xa9, 0x40, 0x0c,
                         0x81, 0x1f, 0xd6, 0x07, 0x19, 0x40, 0x3d, 0x86};
    EXPECT_EQ(host->exec(kOpGetLog, get_log_input(other, 0, 4)).rc, kRcInvalidLog);
}

TEST_F(MailboxTest, TimestampIsZeroUntilSetThenRunsWithTheClock) {
    open();
    auto before = host->exec(kOpGetTimestamp);
    ASSERT_EQ(before.rc, kRcSuccess);
    EXPECT_EQ(le(before.out, 0, 8), 0u);
    std::vector<uint8_t> in;
    put(in, 0, 1'700'000'000'000'000'000ull, 8);
    ASSERT_EQ(host->exec(kOpSetTimestamp, in).rc, kRcSuccess);
    clock.advance(5ms);
    auto after = host->exec(kOpGetTimestamp);
    EXPECT_EQ(le(after.out, 0, 8), 1'700'000'000'005'000'000ull);
}

TEST_F(MailboxTest, MailboxTimeoutFaultKeepsTheDoorbellSet) {
    open();
    host->model().arm_fault(Fault::MailboxTimeout);
    host->write_command(kOpIdentify, 0);
    host->ring();
    EXPECT_FALSE(host->wait_doorbell(100ms, 30)) << "still set after 3 s";
    clock.advance(10s);
    EXPECT_FALSE(host->doorbell()) << "the device gives up eventually";
    EXPECT_EQ(host->return_code(), kRcInternal);
    EXPECT_EQ(host->exec(kOpIdentify).rc, kRcSuccess) << "only one command hangs";
}

TEST_F(MailboxTest, MailboxBusyFaultLooksLikeAnotherAgent) {
    open({{"timing", {{"mailbox_busy_fault_us", 1000}}}});
    host->model().arm_fault(Fault::MailboxBusy);
    EXPECT_TRUE(host->doorbell()) << "found set on entry";
    std::vector<uint8_t> in;
    put(in, 0, 42, 8);
    host->write_payload(in);
    host->write_command(kOpSetTimestamp, 8);
    host->ring();
    clock.advance(999us);
    EXPECT_TRUE(host->doorbell());
    clock.advance(1us);
    EXPECT_FALSE(host->doorbell());
    auto ts = host->exec(kOpGetTimestamp);
    ASSERT_EQ(ts.rc, kRcSuccess);
    EXPECT_EQ(le(ts.out, 0, 8), 0u) << "the command rung during the busy period never ran";
}

TEST_F(MailboxTest, MailboxLengthLieFaultOverstatesTheOutput) {
    open();
    host->model().arm_fault(Fault::MailboxLengthLie);
    auto r = host->exec(kOpIdentify);
    EXPECT_EQ(r.rc, kRcSuccess);
    EXPECT_GT(r.out_length, host->payload_size());
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(r.out.data()), 6), "EMU FW");
    EXPECT_EQ(host->exec(kOpIdentify).out_length, 0x43u);
}

TEST_F(MailboxTest, SurpriseRemovalReadsAllOnes) {
    open();
    host->model().arm_fault(Fault::SurpriseRemoval);
    EXPECT_EQ(host->control(), 0xFFFFFFFFu);
    EXPECT_EQ(host->status(), ~0ull);
    host->model().clear_faults();
    EXPECT_EQ(host->exec(kOpIdentify).rc, kRcSuccess);
}

TEST_F(MailboxTest, UnknownMailboxTimingKeyIsRefused) {
    MailboxHost bad({{"timing", {{"mailbox_latncy_us", 5}}}}, clock);
    EXPECT_NE(bad.create_error().find("mailbox_latncy_us"), std::string::npos);
    MailboxHost negative({{"timing", {{"mailbox_latency_us", -1}}}}, clock);
    EXPECT_FALSE(negative.create_error().empty());
}

}  // namespace
}  // namespace cxlmgr::emu::testing
