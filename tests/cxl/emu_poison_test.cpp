// The poison list and scan media through the real mailbox registers of the emulated device with
// the host's typed commands: a list longer than one payload, its overflow, clearing, and a scan.
#include <gtest/gtest.h>

#include "cxl/commands/identify.hpp"
#include "cxl/commands/poison.hpp"
#include "cxl/return_code.hpp"
#include "tests/cxl/emu_rig.hpp"

namespace cxlmgr::cxl {
namespace {

using testing::EmuRig;

constexpr uint64_t kCapacity = 256ull << 20;  // the default device
constexpr DpaRange kWhole{0, kCapacity};

// Follows "more" to the end; the number of payloads it took in `payloads`.
Result<PoisonList> whole_list(EmuRig& rig, DpaRange range, int* payloads = nullptr) {
    PoisonList all;
    auto command = get_poison_list(range);
    if (!command.ok()) {
        return command.error();
    }
    for (int n = 1;; ++n) {
        CXLMGR_ASSIGN(PoisonList part, rig.typed(*command));
        all.records.insert(all.records.end(), part.records.begin(), part.records.end());
        all.overflow = part.overflow;
        all.overflow_timestamp = part.overflow_timestamp;
        if (!part.more) {
            if (payloads != nullptr) {
                *payloads = n;
            }
            return all;
        }
        if (n > 100) {
            return Error(Errc::Internal, "the list never ends");
        }
        command = get_poison_list_continuation(range, part);
        if (!command.ok()) {
            return command.error();
        }
    }
}

TEST(EmuPoison, InjectedListSpansSeveralPayloads) {
    EmuRig rig(nlohmann::json{{"payload_size", 256}});  // 14 records per payload
    constexpr int kCount = 40;
    for (int i = 0; i < kCount; ++i) {
        auto s = rig.typed(*inject_poison(0x10000 + 0x1000 * static_cast<uint64_t>(i)));
        ASSERT_TRUE(s.ok()) << s.error().describe();
    }
    int payloads = 0;
    auto list = whole_list(rig, kWhole, &payloads);
    ASSERT_TRUE(list.ok()) << list.error().describe();
    EXPECT_EQ(payloads, 3);
    ASSERT_EQ(list->records.size(), static_cast<size_t>(kCount));
    for (int i = 0; i < kCount; ++i) {
        EXPECT_EQ(list->records[i],
                  (MediaErrorRecord{0x10000 + 0x1000 * static_cast<uint64_t>(i),
                                    static_cast<uint8_t>(PoisonSource::Injected), 64}));
    }
    EXPECT_FALSE(list->overflow);

    // A narrower range lists only what lies in it.
    auto some = whole_list(rig, {0x10000, 0x3000});
    ASSERT_TRUE(some.ok());
    EXPECT_EQ(some->records.size(), 3u);
}

TEST(EmuPoison, BeyondTheListMaximumTheListOverflows) {
    EmuRig rig(nlohmann::json{{"poison_list_max", 8}});
    auto id = rig.typed(identify_memory_device());
    ASSERT_TRUE(id.ok());
    EXPECT_EQ(id->poison_list_max, 8u);
    for (uint64_t i = 0; i < 10; ++i) {
        ASSERT_TRUE(rig.typed(*inject_poison(i * 64)).ok());
    }
    auto list = whole_list(rig, kWhole);
    ASSERT_TRUE(list.ok()) << list.error().describe();
    EXPECT_EQ(list->records.size(), 8u);
    EXPECT_TRUE(list->overflow);
    EXPECT_TRUE(list->overflow_timestamp.has_value());
}

TEST(EmuPoison, ClearRemovesTheGranuleAndBadAddressesAreRefused) {
    EmuRig rig;
    ASSERT_TRUE(rig.typed(*inject_poison(0x4000)).ok());
    ASSERT_TRUE(rig.typed(*inject_poison(0x8000)).ok());
    ASSERT_TRUE(rig.typed(*inject_poison(0x8000)).ok()) << "poisoning twice is one record";
    ASSERT_TRUE(rig.typed(*clear_poison(0x4000, Bytes(64, 0xAA))).ok());
    auto list = whole_list(rig, kWhole);
    ASSERT_TRUE(list.ok());
    ASSERT_EQ(list->records.size(), 1u);
    EXPECT_EQ(list->records[0].dpa, 0x8000u);

    auto outside = rig.typed(*inject_poison(kCapacity));
    ASSERT_FALSE(outside.ok());
    EXPECT_EQ(outside.error().cxl_return_code,
              std::optional<uint16_t>(static_cast<uint16_t>(ReturnCode::InvalidPhysicalAddress)));
    auto range = rig.typed(*get_poison_list({kCapacity - 64, 128}));
    ASSERT_FALSE(range.ok());
    EXPECT_EQ(range.error().cxl_return_code,
              std::optional<uint16_t>(static_cast<uint16_t>(ReturnCode::InvalidPhysicalAddress)));
}

TEST(EmuPoison, ScanMediaReportsThePoisonInItsRange) {
    EmuRig rig(nlohmann::json{{"payload_size", 256},
                              {"timing", {{"background_us", {{"scan-media", 20000}}}}}});
    auto caps = rig.typed(*get_scan_media_capabilities(kWhole));
    ASSERT_TRUE(caps.ok()) << caps.error().describe();
    EXPECT_EQ(caps->estimated_ms, 20u);
    for (uint64_t i = 0; i < 20; ++i) {
        ASSERT_TRUE(rig.typed(*inject_poison(0x100000 + i * 0x40)).ok());
    }
    ASSERT_TRUE(rig.typed(*inject_poison(0x900000)).ok());  // outside the scanned range

    auto scan = scan_media({0x100000, 0x100000});
    ASSERT_TRUE(scan.ok());
    std::vector<unsigned> progress;
    scan->request.options.on_progress = [&](unsigned p) { progress.push_back(p); };
    auto s = rig.typed(std::move(*scan));
    ASSERT_TRUE(s.ok()) << s.error().describe();
    ASSERT_FALSE(progress.empty());
    EXPECT_EQ(progress.back(), 100u);

    std::vector<MediaErrorRecord> found;
    for (int n = 0; n < 10; ++n) {
        auto r = rig.typed(get_scan_media_results());
        ASSERT_TRUE(r.ok()) << r.error().describe();
        EXPECT_FALSE(r->stopped_prematurely);
        found.insert(found.end(), r->records.begin(), r->records.end());
        if (!r->more) {
            break;
        }
    }
    ASSERT_EQ(found.size(), 20u);
    EXPECT_EQ(found.front().dpa, 0x100000u);
    EXPECT_EQ(found.back().dpa, 0x100000u + 19 * 0x40);
}

TEST(EmuPoison, MailboxFaultsApplyToTheNewCommands) {
    EmuRig rig;
    rig.model->arm_fault(emu::Fault::MailboxLengthLie);
    auto lie = rig.typed(*get_poison_list(kWhole));
    ASSERT_FALSE(lie.ok());
    EXPECT_EQ(lie.error().code, Errc::DeviceError);
    EXPECT_TRUE(rig.typed(*get_poison_list(kWhole)).ok());
}

}  // namespace
}  // namespace cxlmgr::cxl
