// Transfer FW, Activate FW and Get FW Info at register level, with background progress.
#include <gtest/gtest.h>

#include "mailbox_host.hpp"

namespace cxlmgr::emu::testing {
namespace {

using nlohmann::json;

constexpr uint8_t kFull = 0, kInitiate = 1, kContinue = 2, kEnd = 3, kAbort = 4;

std::vector<uint8_t> payload_of(size_t n, uint8_t seed = 1) {
    std::vector<uint8_t> p(n);
    for (size_t i = 0; i < n; ++i) {
        p[i] = static_cast<uint8_t>(seed + i * 31 + (i >> 9));
    }
    return p;
}

struct FirmwareTest : ::testing::Test {
    ManualClock clock;
    std::unique_ptr<MailboxHost> host;

    void open(const json& description = json::object()) {
        host = std::make_unique<MailboxHost>(description, clock);
        ASSERT_TRUE(host->discover());
    }

    // One Transfer FW command; the immediate return code.
    uint16_t transfer(uint8_t action, uint8_t slot, uint32_t offset_bytes,
                      std::span<const uint8_t> data) {
        std::vector<uint8_t> in(0x80, 0);
        in[0] = action;
        in[1] = slot;
        put(in, 4, offset_bytes / 128, 4);
        in.insert(in.end(), data.begin(), data.end());
        return host->exec(kOpTransferFw, in).rc;
    }

    // A part that must be accepted, followed to the end of its background run.
    uint16_t part(uint8_t action, uint8_t slot, uint32_t offset, std::span<const uint8_t> data) {
        uint16_t rc = transfer(action, slot, offset, data);
        if (rc != kRcBgStarted) {
            return rc;
        }
        return host->wait_background();
    }

    // The whole image in payload-sized parts; the final background return code.
    uint16_t send(std::span<const uint8_t> image, uint8_t slot) {
        size_t chunk = host->payload_size() - 0x80;
        if (image.size() <= chunk) {
            return part(kFull, slot, 0, image);
        }
        for (size_t off = 0; off < image.size(); off += chunk) {
            size_t n = std::min(chunk, image.size() - off);
            uint8_t action = off == 0 ? kInitiate : (off + n == image.size() ? kEnd : kContinue);
            uint16_t rc = part(action, action == kEnd ? slot : 0, static_cast<uint32_t>(off),
                               image.subspan(off, n));
            if (rc != kRcSuccess) {
                return rc;
            }
        }
        return kRcSuccess;
    }

    std::vector<uint8_t> fw_info() {
        auto r = host->exec(kOpGetFwInfo);
        EXPECT_EQ(r.rc, kRcSuccess);
        EXPECT_EQ(r.out.size(), 0x50u);
        return r.out;
    }
    std::string slot_revision(unsigned slot) {
        auto info = fw_info();
        return std::string(reinterpret_cast<const char*>(&info[0x10 * slot]),
                           strnlen(reinterpret_cast<const char*>(&info[0x10 * slot]), 16));
    }
    std::string identify_revision() {
        auto r = host->exec(kOpIdentify);
        return std::string(reinterpret_cast<const char*>(r.out.data()),
                           strnlen(reinterpret_cast<const char*>(r.out.data()), 16));
    }
    uint16_t activate(uint8_t action, uint8_t slot) {
        return host->exec(kOpActivateFw, std::vector<uint8_t>{action, slot}).rc;
    }
};

TEST_F(FirmwareTest, DefaultSlots) {
    open();
    auto info = fw_info();
    EXPECT_EQ(info[0], 3);
    EXPECT_EQ(info[1], 1) << "slot 1 active, nothing staged";
    EXPECT_EQ(info[2] & 1, 1) << "online activation";
    EXPECT_EQ(slot_revision(1), "EMU FW 1.0");
    EXPECT_EQ(slot_revision(2), "");
    EXPECT_EQ(slot_revision(3), "");
}

TEST_F(FirmwareTest, DescriptionKeys) {
    open({{"firmware",
           {{"slots", 2},
            {"active", 2},
            {"revisions", {"OLD", "CURRENT"}},
            {"online_activation", false}}}});
    auto info = fw_info();
    EXPECT_EQ(info[0], 2);
    EXPECT_EQ(info[1], 2);
    EXPECT_EQ(info[2] & 1, 0);
    EXPECT_EQ(identify_revision(), "CURRENT");
    for (const json& bad : {json{{"slots", 5}}, json{{"slots", 2}, {"active", 3}},
                            json{{"slot", 2}}, json{{"revisions", {"A", ""}}, {"active", 2}},
                            json{{"revisions", {"way too long revision"}}},
                            json{{"max_image_size", 16}}, json{{"online_activation", 1}}}) {
        MailboxHost h({{"firmware", bad}}, clock);
        EXPECT_FALSE(h.create_error().empty()) << bad.dump();
    }
}

TEST_F(FirmwareTest, MultiPartTransferReportsProgressAndInstalls) {
    // 1 ms per KiB: a 1920-byte part takes 1.875 ms.
    open({{"timing", {{"fw_transfer_us_per_kib", 1000}}}});
    auto image = build_firmware_image("NEW FW 2.0", payload_of(10000));
    ASSERT_EQ(transfer(kInitiate, 0, 0, std::span(image).first(1920)), kRcBgStarted);
    EXPECT_TRUE(host->bg_running());
    EXPECT_EQ(host->bg_status() & 0xFFFF, kOpTransferFw);
    EXPECT_EQ(host->bg_percent(), 0);
    clock.advance(937us);
    EXPECT_TRUE(host->bg_running());
    EXPECT_GE(host->bg_percent(), 45);
    EXPECT_LE(host->bg_percent(), 55);

    // Another background-capable command is refused; an ordinary one runs.
    EXPECT_EQ(transfer(kContinue, 0, 1920, std::span(image).subspan(1920, 1920)), kRcBusy);
    EXPECT_EQ(host->exec(kOpIdentify).rc, kRcSuccess);
    auto bgs = host->exec(kOpBgStatus);
    ASSERT_EQ(bgs.rc, kRcSuccess);
    EXPECT_EQ(bgs.out[0] & 1, 1) << "running";
    EXPECT_GE(bgs.out[0] >> 1, 45);
    EXPECT_EQ(le(bgs.out, 2, 2), kOpTransferFw);

    clock.advance(938us);
    EXPECT_FALSE(host->bg_running());
    EXPECT_EQ(host->bg_percent(), 100);
    EXPECT_EQ(host->bg_return_code(), kRcSuccess);

    for (size_t off = 1920; off < image.size(); off += 1920) {
        size_t n = std::min<size_t>(1920, image.size() - off);
        bool last = off + n == image.size();
        ASSERT_EQ(part(last ? kEnd : kContinue, last ? 2 : 0, static_cast<uint32_t>(off),
                       std::span(image).subspan(off, n)),
                  kRcSuccess);
        if (!last) {
            EXPECT_EQ(slot_revision(2), "") << "nothing installed before the end";
        }
    }
    EXPECT_EQ(slot_revision(2), "NEW FW 2.0");
    EXPECT_EQ(identify_revision(), "EMU FW 1.0") << "still running slot 1";
    EXPECT_FALSE(host->model().firmware_transfer_open());
}

TEST_F(FirmwareTest, SlotChangesOnlyWhenTheEndPartCompletes) {
    open({{"timing", {{"fw_transfer_us_per_kib", 1000}}}});
    auto image = build_firmware_image("LATE", payload_of(500));
    ASSERT_EQ(transfer(kFull, 3, 0, image), kRcBgStarted);
    EXPECT_EQ(slot_revision(3), "");
    EXPECT_EQ(host->wait_background(100us), kRcSuccess);
    EXPECT_EQ(slot_revision(3), "LATE");
}

TEST_F(FirmwareTest, ZeroTransferCostCompletesAtTheNextRead) {
    open({{"timing", {{"fw_transfer_us_per_kib", 0}}}});
    auto image = build_firmware_image("FAST", payload_of(100));
    ASSERT_EQ(transfer(kFull, 2, 0, image), kRcBgStarted);
    EXPECT_FALSE(host->bg_running());
    EXPECT_EQ(host->bg_percent(), 100);
    EXPECT_EQ(slot_revision(2), "FAST");
}

TEST_F(FirmwareTest, SequenceErrors) {
    open();
    auto image = build_firmware_image("SEQ", payload_of(3000));  // 3072 bytes
    auto at = [&](size_t off, size_t n) { return std::span(image).subspan(off, n); };
    auto small = build_firmware_image("SMALL", payload_of(100));
    EXPECT_EQ(transfer(kContinue, 0, 0, at(0, 128)), kRcInvalidInput) << "continue first";
    EXPECT_EQ(transfer(kEnd, 2, 0, at(0, 128)), kRcInvalidInput) << "end first";
    EXPECT_EQ(transfer(kInitiate, 0, 128, at(0, 128)), kRcInvalidInput) << "offset != 0";
    EXPECT_EQ(transfer(kFull, 2, 128, small), kRcInvalidInput) << "full at an offset";
    EXPECT_EQ(transfer(7, 0, 0, at(0, 128)), kRcInvalidInput) << "unknown action";
    EXPECT_EQ(transfer(kInitiate, 0, 0, at(0, 100)), kRcInvalidInput) << "not 128-byte units";
    EXPECT_EQ(host->exec(kOpTransferFw, std::vector<uint8_t>(0x40, 0)).rc, kRcInvalidPayloadLength);

    ASSERT_EQ(part(kInitiate, 0, 0, at(0, 1024)), kRcSuccess);
    EXPECT_EQ(transfer(kInitiate, 0, 0, at(0, 1024)), kRcFwInProgress);
    EXPECT_EQ(transfer(kFull, 2, 0, small), kRcFwInProgress);
    EXPECT_EQ(transfer(kContinue, 0, 2048, at(2048, 1024)), kRcFwOutOfOrder) << "gap";
    EXPECT_EQ(transfer(kContinue, 0, 512, at(512, 1024)), kRcFwOutOfOrder) << "overlap";
    EXPECT_EQ(transfer(kContinue, 0, 0, at(0, 512)), kRcFwOutOfOrder) << "partial resend";
    EXPECT_EQ(part(kContinue, 0, 0, at(0, 1024)), kRcSuccess) << "exact retransmit";
    ASSERT_EQ(part(kContinue, 0, 1024, at(1024, 1024)), kRcSuccess);
    EXPECT_EQ(part(kContinue, 0, 1024, at(1024, 1024)), kRcSuccess) << "resend again";

    EXPECT_EQ(transfer(kEnd, 0, 2048, at(2048, 1024)), kRcInvalidSlot);
    EXPECT_EQ(transfer(kEnd, 1, 2048, at(2048, 1024)), kRcInvalidSlot) << "the active slot";
    EXPECT_EQ(transfer(kEnd, 4, 2048, at(2048, 1024)), kRcInvalidSlot) << "beyond 3 slots";
    EXPECT_EQ(part(kEnd, 2, 2048, at(2048, 1024)), kRcSuccess)
        << "the refused ends left the transfer intact; the retransmits were not counted twice";
    EXPECT_EQ(slot_revision(2), "SEQ");
    EXPECT_EQ(transfer(kFull, 1, 0, small), kRcInvalidSlot);
}

TEST_F(FirmwareTest, AbortKeepsTheOldSlotContent) {
    open({{"timing", {{"fw_transfer_us_per_kib", 0}}}});
    ASSERT_EQ(send(build_firmware_image("FIRST", payload_of(4000)), 2), kRcSuccess);
    auto second = build_firmware_image("SECOND", payload_of(4000, 9));
    ASSERT_EQ(part(kInitiate, 0, 0, std::span(second).first(1920)), kRcSuccess);
    EXPECT_TRUE(host->model().firmware_transfer_open());
    // A host starting up finds the half-done transfer and aborts it.
    EXPECT_EQ(transfer(kInitiate, 0, 0, std::span(second).first(1920)), kRcFwInProgress);
    EXPECT_EQ(transfer(kAbort, 0, 0, {}), kRcSuccess);
    EXPECT_FALSE(host->model().firmware_transfer_open());
    EXPECT_EQ(transfer(kContinue, 0, 1920, std::span(second).subspan(1920, 1920)), kRcInvalidInput);
    EXPECT_EQ(slot_revision(2), "FIRST");
    EXPECT_EQ(transfer(kAbort, 0, 0, {}), kRcSuccess) << "aborting nothing is harmless";
}

TEST_F(FirmwareTest, ImagesAboveTheMaximumAreRefusedAtTheFirstPart) {
    open({{"firmware", {{"max_image_size", 4096}}}});
    // The header in the first part announces 6064 bytes: refused before anything is open.
    auto image = build_firmware_image("BIG", payload_of(6000));
    EXPECT_EQ(transfer(kInitiate, 0, 0, std::span(image).first(1920)), kRcInvalidInput);
    EXPECT_FALSE(host->model().firmware_transfer_open());
    EXPECT_EQ(transfer(kFull, 2, 0, std::span(image).first(1920)), kRcInvalidInput);
    auto fits = build_firmware_image("FITS", payload_of(4096 - 0x40));
    EXPECT_EQ(part(kInitiate, 0, 0, std::span(fits).first(1920)), kRcSuccess);
    EXPECT_EQ(transfer(kAbort, 0, 0, {}), kRcSuccess);
}

TEST_F(FirmwareTest, PartsBeyondTheMaximumAreRefused) {
    open({{"firmware", {{"max_image_size", 4096}}}});
    // A header the device cannot read announces nothing: the limit applies part by part.
    auto image = build_firmware_image("BIG", payload_of(6000));
    image[0] ^= 0xFF;
    ASSERT_EQ(part(kInitiate, 0, 0, std::span(image).first(1920)), kRcSuccess);
    ASSERT_EQ(part(kContinue, 0, 1920, std::span(image).subspan(1920, 1920)), kRcSuccess);
    EXPECT_EQ(transfer(kContinue, 0, 3840, std::span(image).subspan(3840, 1920)), kRcInvalidInput);
    EXPECT_EQ(transfer(kFull, 2, 0, build_firmware_image("X", payload_of(500))), kRcFwInProgress);
    EXPECT_EQ(transfer(kAbort, 0, 0, {}), kRcSuccess);
}

TEST_F(FirmwareTest, ATransferIdleForTooLongIsDropped) {
    open();
    auto image = build_firmware_image("SLOW", payload_of(3000));
    ASSERT_EQ(part(kInitiate, 0, 0, std::span(image).first(1024)), kRcSuccess);
    clock.advance(29s);
    ASSERT_EQ(part(kContinue, 0, 1024, std::span(image).subspan(1024, 1024)), kRcSuccess);
    clock.advance(31s);
    EXPECT_FALSE(host->model().firmware_transfer_open());
    EXPECT_EQ(transfer(kEnd, 2, 2048, std::span(image).subspan(2048)), kRcInvalidInput);
    EXPECT_EQ(part(kInitiate, 0, 0, std::span(image).first(1024)), kRcSuccess)
        << "a new transfer may start";
}

TEST_F(FirmwareTest, TheGapIsConfigurable) {
    open({{"timing", {{"fw_transfer_gap_ms", 100}}}});
    auto image = build_firmware_image("GAP", payload_of(3000));
    ASSERT_EQ(part(kInitiate, 0, 0, std::span(image).first(1024)), kRcSuccess);
    clock.advance(101ms);
    EXPECT_EQ(transfer(kContinue, 0, 1024, std::span(image).subspan(1024, 1024)), kRcInvalidInput);
}

TEST_F(FirmwareTest, DamagedImagesFailVerificationAndLeaveTheSlot) {
    open({{"timing", {{"fw_transfer_us_per_kib", 0}}}});
    auto good = build_firmware_image("GOOD", payload_of(5000));
    auto corrupted = good;
    corrupted[0x40 + 4000] ^= 0x80;
    EXPECT_EQ(send(corrupted, 2), kRcFwVerify);
    EXPECT_EQ(slot_revision(2), "");
    auto bad_magic = good;
    bad_magic[1] = 'Y';
    EXPECT_EQ(send(bad_magic, 2), kRcFwVerify);
    std::vector<uint8_t> truncated(good.begin(), good.end() - 128);
    EXPECT_EQ(send(truncated, 2), kRcFwVerify);
    EXPECT_EQ(slot_revision(2), "");
    EXPECT_FALSE(host->model().firmware_transfer_open());
    EXPECT_EQ(send(good, 2), kRcSuccess);
    EXPECT_EQ(slot_revision(2), "GOOD");
}

TEST_F(FirmwareTest, VerifyFailFaultRefusesAGoodImageOnce) {
    open({{"timing", {{"fw_transfer_us_per_kib", 0}}}});
    ASSERT_EQ(send(build_firmware_image("OLD", payload_of(100)), 3), kRcSuccess);
    host->model().arm_fault(Fault::FwVerifyFail);
    auto image = build_firmware_image("NEW", payload_of(5000));
    EXPECT_EQ(send(image, 3), kRcFwVerify);
    EXPECT_EQ(slot_revision(3), "OLD");
    EXPECT_EQ(send(image, 3), kRcSuccess);
    EXPECT_EQ(slot_revision(3), "NEW");
}

TEST_F(FirmwareTest, OnlineActivationSwitchesTheRunningSlot) {
    open({{"timing", {{"fw_transfer_us_per_kib", 0}}}});
    ASSERT_EQ(send(build_firmware_image("EMU FW 2.0", payload_of(800)), 2), kRcSuccess);
    EXPECT_EQ(activate(0, 2), kRcSuccess);
    EXPECT_EQ(fw_info()[1], 2);
    EXPECT_EQ(identify_revision(), "EMU FW 2.0");
    EXPECT_EQ(transfer(kFull, 2, 0, build_firmware_image("X", payload_of(10))), kRcInvalidSlot)
        << "slot 2 is active now";
    EXPECT_EQ(send(build_firmware_image("EMU FW 3.0", payload_of(10)), 1), kRcSuccess);
}

TEST_F(FirmwareTest, OnResetActivationStagesTheSlot) {
    open({{"timing", {{"fw_transfer_us_per_kib", 0}}}});
    ASSERT_EQ(send(build_firmware_image("STAGED", payload_of(800)), 3), kRcSuccess);
    EXPECT_EQ(activate(1, 3), kRcSuccess);
    EXPECT_EQ(fw_info()[1], 1 | (3 << 3));
    EXPECT_EQ(identify_revision(), "EMU FW 1.0");
    EXPECT_EQ(activate(1, 1), kRcSuccess) << "staging the running slot cancels";
    EXPECT_EQ(fw_info()[1], 1);
}

TEST_F(FirmwareTest, ActivationErrors) {
    open({{"firmware", {{"online_activation", false}}}});
    EXPECT_EQ(activate(1, 2), kRcInvalidSlot) << "empty slot";
    EXPECT_EQ(activate(1, 0), kRcInvalidSlot);
    EXPECT_EQ(activate(1, 4), kRcInvalidSlot) << "beyond the slot count";
    EXPECT_EQ(activate(2, 1), kRcInvalidInput) << "unknown action";
    EXPECT_EQ(activate(0, 1), kRcUnsupported) << "no online activation on this device";
    EXPECT_EQ(host->exec(kOpActivateFw, std::vector<uint8_t>{0}).rc, kRcInvalidPayloadLength);
}

TEST_F(FirmwareTest, LargeImageStreamsWithoutCopies) {
    // 1 MiB pattern image through a 64 KiB payload, produced piecewise as a benchmark would.
    open({{"payload_size", 65536}, {"timing", {{"fw_transfer_us_per_kib", 2}}}});
    PatternFirmwareImage image("BIG 1.0", (1u << 20) - 64, 3);
    size_t chunk = host->payload_size() - 0x80;
    std::vector<uint8_t> buf(chunk);
    for (uint64_t off = 0; off < image.size(); off += chunk) {
        size_t n = static_cast<size_t>(std::min<uint64_t>(chunk, image.size() - off));
        image.read(off, std::span(buf).first(n));
        uint8_t action = off == 0 ? kInitiate : (off + n == image.size() ? kEnd : kContinue);
        ASSERT_EQ(part(action, action == kEnd ? 2 : 0, static_cast<uint32_t>(off),
                       std::span(buf).first(n)),
                  kRcSuccess);
    }
    EXPECT_EQ(slot_revision(2), "BIG 1.0");
}

}  // namespace
}  // namespace cxlmgr::emu::testing
