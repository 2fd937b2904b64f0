#include <gtest/gtest.h>

#include "cxl/commands/poison.hpp"
#include "cxl/return_code.hpp"

namespace cxlmgr::cxl {
namespace {

void put_record(Bytes& b, size_t at, uint64_t dpa, uint8_t source, uint32_t units) {
    store_le(b, at, dpa | source, 8);
    store_le(b, at + 8, units, 4);
}

TEST(PoisonList, RequestIsDpaThenLengthIn64ByteUnits) {
    auto c = get_poison_list({0x1000, 0x4000});
    ASSERT_TRUE(c.ok());
    Bytes expected(0x10, 0);
    store_le(expected, 0, 0x1000, 8);
    store_le(expected, 8, 0x100, 8);
    EXPECT_EQ(c->request.input, expected);
    EXPECT_FALSE(get_poison_list({0x1001, 0x40}).ok());
    EXPECT_FALSE(get_poison_list({0x1000, 0x41}).ok());
    EXPECT_FALSE(get_poison_list({0x1000, 0}).ok());
    EXPECT_FALSE(get_poison_list({~0ull - 63, 0x80}).ok()) << "wraps";
}

TEST(PoisonList, DecodesFlagsTimestampAndRecordsWithSources) {
    Bytes b(kPoisonListHeaderSize + 2 * kMediaErrorRecordSize, 0);
    b[0] = kPoisonMoreRecords | kPoisonOverflow;
    store_le(b, 2, 0x1122334455667788ull, 8);
    store_le(b, 0x0A, 2, 2);
    put_record(b, 0x20, 0x40000, 3, 1);
    put_record(b, 0x30, 0x80000, 2, 0x10);
    auto l = decode_poison_list(b);
    ASSERT_TRUE(l.ok()) << l.error().describe();
    EXPECT_TRUE(l->more);
    EXPECT_TRUE(l->overflow);
    EXPECT_FALSE(l->scan_media_in_progress);
    EXPECT_EQ(l->overflow_timestamp, std::optional<uint64_t>(0x1122334455667788ull));
    ASSERT_EQ(l->records.size(), 2u);
    EXPECT_EQ(l->records[0], (MediaErrorRecord{0x40000, 3, 64}));
    EXPECT_EQ(l->records[1], (MediaErrorRecord{0x80000, 2, 0x400}));
    auto j = poison_list_to_json(*l);
    EXPECT_EQ(j["records"][0]["source_name"], "injected");
    EXPECT_EQ(j["records"][1]["source_name"], "internal");
    EXPECT_EQ(j["overflow_timestamp"], 0x1122334455667788ull);

    // The continuation is the same request, and only after "more".
    auto next = get_poison_list_continuation({0, 0x100000}, *l);
    ASSERT_TRUE(next.ok());
    EXPECT_EQ(next->request.input, get_poison_list({0, 0x100000})->request.input);
    l->more = false;
    EXPECT_FALSE(get_poison_list_continuation({0, 0x100000}, *l).ok());
}

TEST(PoisonList, NoOverflowNoTimestampAndCountBeyondTheOutputIsRefused) {
    Bytes b(kPoisonListHeaderSize + kMediaErrorRecordSize, 0);
    store_le(b, 2, 77, 8);  // ignored without the overflow flag
    store_le(b, 0x0A, 2, 2);
    auto r = decode_poison_list(b);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, Errc::DeviceError);
    EXPECT_NE(r.error().message.find("Get Poison List reports 2 records"), std::string::npos)
        << r.error().message;
    store_le(b, 0x0A, 1, 2);
    auto ok = decode_poison_list(b);
    ASSERT_TRUE(ok.ok());
    EXPECT_FALSE(ok->overflow_timestamp.has_value());
    EXPECT_FALSE(decode_poison_list(ByteSpan(b).first(0x1F)).ok());
}

TEST(Poison, InjectAndClearLayouts) {
    auto inject = inject_poison(0x2040);
    ASSERT_TRUE(inject.ok());
    EXPECT_EQ(inject->request.input, (Bytes{0x40, 0x20, 0, 0, 0, 0, 0, 0}));
    EXPECT_FALSE(inject_poison(0x2041).ok());

    Bytes data(64, 0x5A);
    auto clear = clear_poison(0x2040, data);
    ASSERT_TRUE(clear.ok());
    ASSERT_EQ(clear->request.input.size(), 0x48u);
    EXPECT_EQ(u64_at(clear->request.input, 0), 0x2040u);
    EXPECT_EQ(clear->request.input[8], 0x5A);
    EXPECT_EQ(clear->request.input[0x47], 0x5A);
    EXPECT_EQ(clear_poison(0x40)->request.input.size(), 0x48u);
    EXPECT_FALSE(clear_poison(0x40, Bytes(63)).ok());
}

TEST(ScanMedia, CapabilitiesScanAndResults) {
    auto caps = get_scan_media_capabilities({0, 0x10000000});
    ASSERT_TRUE(caps.ok());
    EXPECT_EQ(caps->request.input.size(), 0x10u);
    auto est = decode_scan_media_capabilities(Bytes{0x10, 0x27, 0, 0});
    ASSERT_TRUE(est.ok());
    EXPECT_EQ(est->estimated_ms, 10000u);
    EXPECT_FALSE(decode_scan_media_capabilities(Bytes{1, 2, 3}).ok());

    auto scan = scan_media({0x40, 0x80}, true);
    ASSERT_TRUE(scan.ok());
    ASSERT_EQ(scan->request.input.size(), 0x11u);
    EXPECT_EQ(u64_at(scan->request.input, 0), 0x40u);
    EXPECT_EQ(u64_at(scan->request.input, 8), 2u);
    EXPECT_EQ(scan->request.input[0x10], 1);
    EXPECT_TRUE(scan->spec->effects.has(Effect::Background));
    EXPECT_EQ(scan->request.options.background_timeout, kScanMediaBackgroundTimeout);

    Bytes b(kScanMediaResultsHeaderSize + kMediaErrorRecordSize, 0);
    store_le(b, 0, 0x100000, 8);
    store_le(b, 8, 0x40, 8);
    b[0x10] = kScanStoppedPrematurely;
    store_le(b, 0x12, 1, 2);
    put_record(b, 0x20, 0xC0, 2, 2);
    auto r = decode_scan_media_results(b);
    ASSERT_TRUE(r.ok()) << r.error().describe();
    EXPECT_EQ(r->restart_dpa, 0x100000u);
    EXPECT_EQ(r->restart_length, 0x1000u);
    EXPECT_FALSE(r->more);
    EXPECT_TRUE(r->stopped_prematurely);
    ASSERT_EQ(r->records.size(), 1u);
    EXPECT_EQ(r->records[0], (MediaErrorRecord{0xC0, 2, 0x80}));
    store_le(b, 0x12, 2, 2);
    EXPECT_FALSE(decode_scan_media_results(b).ok());
    EXPECT_FALSE(decode_scan_media_results(ByteSpan(b).first(0x1F)).ok());
}

}  // namespace
}  // namespace cxlmgr::cxl
