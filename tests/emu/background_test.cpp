// Background commands at register level: per-command background times (timing.background_us),
// foreground commands during a long part, Request Abort Background Operation (0x0005) and the
// description switch that removes it.
#include <gtest/gtest.h>

#include "mailbox_host.hpp"

namespace cxlmgr::emu::testing {
namespace {

using nlohmann::json;

constexpr uint8_t kFull = 0, kInitiate = 1, kContinue = 2, kEnd = 3;
constexpr uint32_t kPart = 1920;  // fits the default 2048-byte payload with the 0x80 header

std::vector<uint8_t> test_image(const std::string& revision) {
    std::vector<uint8_t> payload(10000);
    for (size_t i = 0; i < payload.size(); ++i) {
        payload[i] = static_cast<uint8_t>(i * 13 + 7);
    }
    return build_firmware_image(revision, payload);
}

// Parts of exactly `part_us` (no per-KiB time), like QEMU 9.1+ with 2 s.
json fixed_parts(int64_t part_us) {
    return {
        {"timing", {{"fw_transfer_us_per_kib", 0}, {"background_us", {{"transfer-fw", part_us}}}}}};
}

struct BackgroundTest : ::testing::Test {
    ManualClock clock;
    std::unique_ptr<MailboxHost> host;

    void open(const json& description) {
        host = std::make_unique<MailboxHost>(description, clock);
        ASSERT_TRUE(host->discover());
    }
    std::span<const uint8_t> piece(const std::vector<uint8_t>& image, uint32_t offset) {
        return std::span(image).subspan(offset, std::min<size_t>(kPart, image.size() - offset));
    }
    std::string slot_revision(unsigned slot) {
        auto r = host->exec(kOpGetFwInfo);
        EXPECT_EQ(r.rc, kRcSuccess);
        const auto* p = reinterpret_cast<const char*>(&r.out[0x10 * slot]);
        return std::string(p, strnlen(p, 16));
    }
};

TEST_F(BackgroundTest, PerCommandTimesAreParsedAndCheckedByName) {
    MailboxHost good(
        {{"timing", {{"background_us", {{"transfer-fw", 2000000}, {"activate-fw", 0}}}}}}, clock);
    EXPECT_EQ(good.create_error(), "");
    struct Bad {
        json timing;
        std::string names;
    };
    for (const Bad& bad : {
             Bad{{{"background_us", {{"media-operations", 5}}}},
                 "'timing.background_us.media-operations'"},
             Bad{{{"background_us", {{"identify", 5}}}}, "'timing.background_us.identify'"},
             Bad{{{"background_us", {{"transfer-fw", -1}}}}, "'timing.background_us.transfer-fw'"},
             Bad{{{"background_us", {{"transfer-fw", "2s"}}}},
                 "'timing.background_us.transfer-fw'"},
             Bad{{{"background_us", {{"transfer-fw", 3600000001LL}}}},
                 "'timing.background_us.transfer-fw'"},
             Bad{{{"background_us", 5}}, "'timing.background_us'"},
             Bad{{{"background_ms", {{"transfer-fw", 5}}}}, "'timing.background_ms'"},
         }) {
        MailboxHost h({{"timing", bad.timing}}, clock);
        EXPECT_NE(h.create_error().find(bad.names), std::string::npos)
            << bad.timing.dump() << " -> " << h.create_error();
    }
    MailboxHost typo({{"mailbox", {{"abort_backgrund", false}}}}, clock);
    EXPECT_NE(typo.create_error().find("'mailbox.abort_backgrund'"), std::string::npos);
    MailboxHost not_bool({{"mailbox", {{"abort_background", 0}}}}, clock);
    EXPECT_NE(not_bool.create_error().find("'mailbox.abort_background'"), std::string::npos);
}

TEST_F(BackgroundTest, ATwoSecondPartRunsWhileForegroundCommandsComplete) {
    open(fixed_parts(2000000));
    auto image = test_image("NEW FW 2.0");
    ASSERT_EQ(host->transfer_fw(kInitiate, 0, 0, piece(image, 0)), kRcBgStarted);
    EXPECT_TRUE(host->bg_running());
    EXPECT_EQ(host->bg_status() & 0xFFFF, kOpTransferFw);
    EXPECT_EQ(host->bg_percent(), 0);

    clock.advance(500ms);
    EXPECT_EQ(host->bg_percent(), 25);
    EXPECT_EQ(host->exec(kOpIdentify).rc, kRcSuccess);
    auto events = host->exec(kOpGetEvents, std::vector<uint8_t>{0});
    EXPECT_EQ(events.rc, kRcSuccess);
    EXPECT_TRUE(host->bg_running()) << "foreground commands leave the part running";

    // A second background command is refused while the first runs.
    EXPECT_EQ(host->transfer_fw(kContinue, 0, kPart, piece(image, kPart)), kRcBusy);
    clock.advance(1s);
    EXPECT_EQ(host->bg_percent(), 75);
    EXPECT_TRUE(host->bg_running());
    clock.advance(499ms);
    EXPECT_EQ(host->bg_percent(), 99);
    EXPECT_TRUE(host->bg_running());
    clock.advance(1ms);
    EXPECT_FALSE(host->bg_running());
    EXPECT_EQ(host->bg_percent(), 100);
    EXPECT_EQ(host->bg_return_code(), kRcSuccess);
}

TEST_F(BackgroundTest, TheFixedTimeAddsToThePerKibTime) {
    // 1920 bytes at 1024 us/KiB = 1.92 ms, plus 1 ms per part.
    open({{"timing",
           {{"fw_transfer_us_per_kib", 1024}, {"background_us", {{"transfer-fw", 1000}}}}}});
    auto image = test_image("NEW FW 2.0");
    ASSERT_EQ(host->transfer_fw(kInitiate, 0, 0, piece(image, 0)), kRcBgStarted);
    clock.advance(2919us);
    EXPECT_TRUE(host->bg_running());
    clock.advance(1us);
    EXPECT_FALSE(host->bg_running());
}

TEST_F(BackgroundTest, MillisecondPartsCarryAWholeUpdate) {
    open(fixed_parts(2000));
    auto image = test_image("MS FW 3.0");
    for (uint32_t off = 0; off < image.size(); off += kPart) {
        bool first = off == 0;
        bool last = off + kPart >= image.size();
        uint8_t action = first ? kInitiate : (last ? kEnd : kContinue);
        ASSERT_EQ(host->transfer_fw(action, last ? 2 : 0, off, piece(image, off)), kRcBgStarted);
        clock.advance(1999us);
        EXPECT_TRUE(host->bg_running());
        EXPECT_EQ(host->wait_background(1us), kRcSuccess);
    }
    EXPECT_EQ(slot_revision(2), "MS FW 3.0");
}

TEST_F(BackgroundTest, TheCommandEffectsLogListsAbortAndWhatItCanAbort) {
    open(json::object());
    auto effects = host->command_effects();
    ASSERT_TRUE(effects.count(kOpAbortBackground));
    EXPECT_NE(effects[kOpAbortBackground], 0) << "it changes the device: not a read";
    EXPECT_EQ(effects[kOpAbortBackground] & (kEffectBackground | kEffectAbortSupported), 0);
    EXPECT_EQ(effects[kOpTransferFw] & (kEffectBackground | kEffectAbortSupported),
              kEffectBackground | kEffectAbortSupported);
    EXPECT_EQ(effects[kOpActivateFw] & (kEffectBackground | kEffectAbortSupported), 0);
}

TEST_F(BackgroundTest, AbortEndsARunningContinuePartAndKeepsTheTransferOpen) {
    open(fixed_parts(2000000));
    auto image = test_image("NEW FW 2.0");
    ASSERT_EQ(host->transfer_fw(kInitiate, 0, 0, piece(image, 0)), kRcBgStarted);
    ASSERT_EQ(host->wait_background(100ms), kRcSuccess);
    ASSERT_EQ(host->transfer_fw(kContinue, 0, kPart, piece(image, kPart)), kRcBgStarted);
    clock.advance(600ms);

    EXPECT_EQ(host->exec(kOpAbortBackground).rc, kRcSuccess);
    EXPECT_FALSE(host->bg_running()) << "the abort ends the part at once";
    EXPECT_EQ(host->bg_status() & 0xFFFF, kOpTransferFw);
    EXPECT_EQ(host->bg_return_code(), kRcAborted);
    EXPECT_EQ(host->bg_percent(), 30) << "the percentage reached, not 100";
    auto bgs = host->exec(kOpBgStatus);
    ASSERT_EQ(bgs.rc, kRcSuccess);
    EXPECT_EQ(bgs.out[0], 30 << 1);
    EXPECT_EQ(le(bgs.out, 4, 2), kRcAborted);

    // The aborted part's data is gone; the transfer is open where it was before that part, so
    // the part goes again and the image completes intact.
    EXPECT_TRUE(host->model().firmware_transfer_open());
    EXPECT_EQ(host->transfer_fw(kInitiate, 0, 0, piece(image, 0)), kRcFwInProgress);
    for (uint32_t off = kPart; off < image.size(); off += kPart) {
        bool last = off + kPart >= image.size();
        ASSERT_EQ(host->transfer_fw(last ? kEnd : kContinue, last ? 2 : 0, off, piece(image, off)),
                  kRcBgStarted);
        ASSERT_EQ(host->wait_background(100ms), kRcSuccess);
    }
    EXPECT_EQ(slot_revision(2), "NEW FW 2.0");
}

TEST_F(BackgroundTest, AnAbortedInitiateOrEndLeavesNoImage) {
    open(fixed_parts(2000000));
    auto image = test_image("NEW FW 2.0");
    ASSERT_EQ(host->transfer_fw(kInitiate, 0, 0, piece(image, 0)), kRcBgStarted);
    ASSERT_EQ(host->exec(kOpAbortBackground).rc, kRcSuccess);
    EXPECT_EQ(host->bg_return_code(), kRcAborted);
    EXPECT_FALSE(host->model().firmware_transfer_open()) << "nothing of the transfer remains";

    // A one-part image aborted: the slot keeps its content, nothing stays open.
    auto small = build_firmware_image("TINY", std::vector<uint8_t>(100, 1));
    ASSERT_EQ(host->transfer_fw(kFull, 2, 0, small), kRcBgStarted);
    clock.advance(1s);
    ASSERT_EQ(host->exec(kOpAbortBackground).rc, kRcSuccess);
    EXPECT_EQ(host->bg_percent(), 50);
    clock.advance(2s);
    EXPECT_EQ(slot_revision(2), "");
    EXPECT_FALSE(host->model().firmware_transfer_open());

    // An aborted End: the slot is unchanged and the transfer still open for the End again.
    for (uint32_t off = 0; off + kPart < image.size(); off += kPart) {
        ASSERT_EQ(host->transfer_fw(off == 0 ? kInitiate : kContinue, 0, off, piece(image, off)),
                  kRcBgStarted);
        ASSERT_EQ(host->wait_background(100ms), kRcSuccess);
    }
    uint32_t end = static_cast<uint32_t>((image.size() - 1) / kPart * kPart);
    ASSERT_EQ(host->transfer_fw(kEnd, 2, end, piece(image, end)), kRcBgStarted);
    ASSERT_EQ(host->exec(kOpAbortBackground).rc, kRcSuccess);
    clock.advance(3s);
    EXPECT_EQ(slot_revision(2), "");
    EXPECT_TRUE(host->model().firmware_transfer_open());
    ASSERT_EQ(host->transfer_fw(kEnd, 2, end, piece(image, end)), kRcBgStarted);
    EXPECT_EQ(host->wait_background(100ms), kRcSuccess);
    EXPECT_EQ(slot_revision(2), "NEW FW 2.0");
}

TEST_F(BackgroundTest, AbortWithNothingRunningSucceedsAndChangesNothing) {
    open(fixed_parts(1000));
    auto image = test_image("NEW FW 2.0");
    EXPECT_EQ(host->exec(kOpAbortBackground).rc, kRcSuccess);
    EXPECT_EQ(host->bg_status(), 0u) << "no background operation ever ran";

    ASSERT_EQ(host->transfer_fw(kInitiate, 0, 0, piece(image, 0)), kRcBgStarted);
    ASSERT_EQ(host->wait_background(100us), kRcSuccess);
    uint64_t before = host->bg_status();
    EXPECT_EQ(host->exec(kOpAbortBackground).rc, kRcSuccess);
    EXPECT_EQ(host->bg_status(), before);
    EXPECT_EQ(host->bg_return_code(), kRcSuccess);
    EXPECT_TRUE(host->model().firmware_transfer_open());
}

TEST_F(BackgroundTest, AbortSwitchedOffIsUnsupportedAndAbsentFromTheCel) {
    json d = fixed_parts(2000000);
    d["mailbox"] = {{"abort_background", false}};
    open(d);
    auto effects = host->command_effects();
    EXPECT_EQ(effects.count(kOpAbortBackground), 0u);
    EXPECT_EQ(effects[kOpTransferFw] & kEffectAbortSupported, 0);
    EXPECT_TRUE(effects[kOpTransferFw] & kEffectBackground);

    auto image = test_image("NEW FW 2.0");
    ASSERT_EQ(host->transfer_fw(kInitiate, 0, 0, piece(image, 0)), kRcBgStarted);
    clock.advance(1s);
    EXPECT_EQ(host->exec(kOpAbortBackground).rc, kRcUnsupported);
    EXPECT_TRUE(host->bg_running()) << "the part runs on";
    EXPECT_EQ(host->wait_background(100ms), kRcSuccess);
}

TEST_F(BackgroundTest, ATimedActivationRunsInTheBackgroundAndCannotBeAborted) {
    open({{"timing", {{"background_us", {{"activate-fw", 1000}}}}},
          {"firmware", {{"revisions", {"ONE", "TWO"}}}}});
    auto effects = host->command_effects();
    EXPECT_EQ(effects[kOpActivateFw] & (kEffectBackground | kEffectAbortSupported),
              kEffectBackground);

    EXPECT_EQ(host->exec(kOpActivateFw, {0, 2}).rc, kRcBgStarted);
    EXPECT_TRUE(host->bg_running());
    EXPECT_EQ(host->bg_status() & 0xFFFF, kOpActivateFw);
    auto info = host->exec(kOpGetFwInfo);
    EXPECT_EQ(info.out[1] & 7, 1) << "slot 2 becomes active only at the end";
    EXPECT_EQ(host->exec(kOpAbortBackground).rc, kRcRequestAbortNotSupported);
    EXPECT_TRUE(host->bg_running());
    EXPECT_EQ(host->exec(kOpActivateFw, {0, 1}).rc, kRcBusy);
    EXPECT_EQ(host->exec(kOpActivateFw, {0, 3}).rc, kRcBusy) << "Busy before the input check";
    EXPECT_EQ(host->wait_background(100us), kRcSuccess);
    info = host->exec(kOpGetFwInfo);
    EXPECT_EQ(info.out[1] & 7, 2);

    // Refused input is refused at once, with nothing running.
    EXPECT_EQ(host->exec(kOpActivateFw, {0, 3}).rc, kRcInvalidSlot);
    EXPECT_FALSE(host->bg_running());
}

TEST_F(BackgroundTest, AnUntimedActivationStaysSynchronous) {
    open({{"timing", {{"background_us", {{"activate-fw", 0}}}}},
          {"firmware", {{"revisions", {"ONE", "TWO"}}}}});
    EXPECT_EQ(host->exec(kOpActivateFw, {0, 2}).rc, kRcSuccess);
    EXPECT_EQ(host->exec(kOpGetFwInfo).out[1] & 7, 2);
}

constexpr uint16_t kOpGetPoisonList = 0x4300, kOpInjectPoison = 0x4301, kOpScanMedia = 0x4304,
                   kOpGetScanResults = 0x4305, kOpSanitize = 0x4400, kOpGetLsa = 0x4102;
constexpr uint16_t kRcMediaDisabled = 0x07;

std::vector<uint8_t> range_input(uint64_t dpa, uint64_t length, size_t size = 0x10) {
    std::vector<uint8_t> in(size, 0);
    put(in, 0, dpa, 8);
    put(in, 8, length / 64, 8);
    return in;
}

TEST_F(BackgroundTest, AnAbortedScanKeepsWhatItFoundAndWhereToRestart) {
    open({{"timing", {{"background_us", {{"scan-media", 100000000}}}}}});  // 100 s
    for (uint64_t dpa : {0x1000, 0x2000, 0x900000}) {
        std::vector<uint8_t> in(8, 0);
        put(in, 0, dpa, 8);
        ASSERT_EQ(host->exec(kOpInjectPoison, in).rc, kRcSuccess);
    }
    ASSERT_EQ(host->exec(kOpScanMedia, range_input(0, 0x1000000, 0x11)).rc, kRcBgStarted);
    auto list = host->exec(kOpGetPoisonList, range_input(0, 0x1000000));
    ASSERT_EQ(list.rc, kRcSuccess);
    EXPECT_EQ(list.out[0] & 0x4, 0x4) << "scan media in progress";
    EXPECT_EQ(host->exec(kOpGetScanResults).rc, kRcBusy) << "no results while it runs";

    clock.advance(std::chrono::seconds(50));  // half of 16 MiB: 8 MiB scanned
    ASSERT_EQ(host->exec(kOpAbortBackground).rc, kRcSuccess);
    EXPECT_FALSE(host->bg_running());
    EXPECT_EQ(host->bg_return_code(), kRcAborted);
    auto r = host->exec(kOpGetScanResults);
    ASSERT_EQ(r.rc, kRcSuccess);
    EXPECT_EQ(le(r.out, 0, 8), 0x800000u) << "restart where it stopped";
    EXPECT_EQ(le(r.out, 8, 8), 0x800000u / 64) << "the rest of the range";
    EXPECT_EQ(r.out[0x10] & 0x2, 0x2) << "stopped prematurely";
    ASSERT_EQ(le(r.out, 0x12, 2), 2u) << "what lay in the scanned half";
    EXPECT_EQ(le(r.out, 0x20, 8), 0x1000u | 3) << "DPA with its source (injected)";
}

TEST_F(BackgroundTest, TheMediaIsDisabledWhileASanitizeRuns) {
    open({{"lsa_size", 256}, {"timing", {{"background_us", {{"sanitize", 10000000}}}}}});
    ASSERT_EQ(host->exec(kOpSanitize).rc, kRcBgStarted);
    EXPECT_EQ(host->exec(kOpGetPoisonList, range_input(0, 0x1000)).rc, kRcMediaDisabled);
    EXPECT_EQ(host->exec(kOpGetLsa, {0, 0, 0, 0, 16, 0, 0, 0}).rc, kRcMediaDisabled);
    EXPECT_EQ(host->exec(kOpIdentify).rc, kRcSuccess) << "commands off the media still run";
    EXPECT_EQ(host->exec(kOpSanitize).rc, kRcBusy);
    clock.advance(std::chrono::seconds(5));
    EXPECT_TRUE(host->bg_running());
    EXPECT_EQ(host->bg_percent(), 50);
    clock.advance(std::chrono::seconds(5));
    EXPECT_FALSE(host->bg_running());
    EXPECT_EQ(host->bg_return_code(), kRcSuccess);
    EXPECT_EQ(host->bg_status() & 0xFFFF, kOpSanitize);
    EXPECT_EQ(host->exec(kOpGetPoisonList, range_input(0, 0x1000)).rc, kRcSuccess);
}

}  // namespace
}  // namespace cxlmgr::emu::testing
