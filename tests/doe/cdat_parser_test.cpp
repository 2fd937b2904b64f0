#include <gtest/gtest.h>

#include "doe/cdat.hpp"
#include "tests/doe/cdat_bytes.hpp"

namespace cxlmgr::testing {
namespace {

using doe::parse_cdat;
using nlohmann::json;

void expect_bad(const std::vector<uint8_t>& table, const std::string& substring) {
    auto r = parse_cdat(table);
    ASSERT_FALSE(r.ok()) << "expected '" << substring << "'";
    EXPECT_EQ(r.error().code, Errc::DeviceError);
    EXPECT_NE(r.error().message.find(substring), std::string::npos) << r.error().message;
}

TEST(CdatParser, DecodesEveryStructureTypeAndRendersJson) {
    CdatBytes c;
    c.b[12] = 7;  // sequence
    c.dsmas(0, 0x04, 0x1000, 0x10000000);
    c.dslbis(0, 1, 10000, 15);
    c.header(2, 20).put(0, 1).put(0, 3).put(1ull << 30, 8).put(0x00010203, 4);   // DSMSCIS
    c.header(3, 8).put(1, 1).put(9, 1).put(0, 2);                                // DSIS
    c.header(4, 24).put(0, 1).put(1, 1).put(0, 2).put(0x100, 8).put(0x2000, 8);  // DSEMTS
    c.header(5, 32).put(3, 1).put(0, 3).put(1000, 8);                            // SSLBIS
    c.put(0x0100, 2).put(0xFFFF, 2).put(42, 2).put(0, 2);
    c.put(0x0001, 2).put(0x0002, 2).put(43, 2).put(0, 2);
    c.header(0x7F, 8).put(0xAABBCCDD, 4);  // unknown
    auto table = c.finish(2);

    auto r = parse_cdat(table);
    ASSERT_TRUE(r.ok()) << r.error().describe();
    EXPECT_EQ(r->header.length, table.size());
    EXPECT_EQ(r->header.revision, 2);
    EXPECT_EQ(r->header.sequence, 7u);
    ASSERT_EQ(r->entries.size(), 7u);
    EXPECT_EQ(r->entries[0].offset, 16u);
    EXPECT_EQ(r->entries[1].offset, 40u);

    json expected = json::array({
        {{"type", "header"},
         {"length", table.size()},
         {"revision", 2},
         {"checksum", table[5]},
         {"sequence", 7}},
        {{"type", "dsmas"},
         {"dsmad_handle", 0},
         {"flags", 4},
         {"dpa_base", 0x1000},
         {"dpa_length", 0x10000000}},
        {{"type", "dslbis"},
         {"handle", 0},
         {"flags", 0},
         {"data_type", 1},
         {"entry_base_unit", 10000},
         {"entries", {15, 0, 0}}},
        {{"type", "dsmscis"},
         {"dsmas_handle", 0},
         {"side_cache_size", 1ull << 30},
         {"cache_attributes", 0x00010203}},
        {{"type", "dsis"}, {"flags", 1}, {"handle", 9}},
        {{"type", "dsemts"},
         {"dsmas_handle", 0},
         {"efi_memory_type_attr", 1},
         {"dpa_offset", 0x100},
         {"dpa_length", 0x2000}},
        {{"type", "sslbis"},
         {"data_type", 3},
         {"entry_base_unit", 1000},
         {"entries",
          {{{"port_x_id", 0x100}, {"port_y_id", 0xFFFF}, {"latency_or_bandwidth", 42}},
           {{"port_x_id", 1}, {"port_y_id", 2}, {"latency_or_bandwidth", 43}}}}},
        {{"type", "unknown"}, {"type_id", 0x7F}, {"raw", {0x7F, 0, 8, 0, 0xDD, 0xCC, 0xBB, 0xAA}}},
    });
    EXPECT_EQ(doe::cdat_to_json(*r), expected) << doe::cdat_to_json(*r).dump(1);
}

TEST(CdatParser, HeaderOnlyAndEmptySslbis) {
    auto header_only = CdatBytes{}.finish();
    auto r = parse_cdat(header_only);
    ASSERT_TRUE(r.ok());
    EXPECT_TRUE(r->entries.empty());

    CdatBytes c;
    c.header(5, 16).put(0, 1).put(0, 3).put(1, 8);
    auto s = parse_cdat(c.finish());
    ASSERT_TRUE(s.ok()) << s.error().describe();
    EXPECT_TRUE(std::get<doe::CdatSslbis>(s->entries.at(0).structure).entries.empty());
}

TEST(CdatParser, RefusesShortTables) {
    expect_bad({}, "0 bytes, shorter than the 16-byte header");
    expect_bad(std::vector<uint8_t>(15, 0), "15 bytes, shorter than the 16-byte header");
}

TEST(CdatParser, RefusesHeaderLengthMismatch) {
    auto t = CdatBytes{}.dsmas(0, 0, 0, 1).finish();
    t.push_back(0);  // one byte more than the header says (checksum still fine)
    expect_bad(t, "the header says 40 bytes, the table has 41");
}

TEST(CdatParser, RefusesBadChecksum) {
    auto t = CdatBytes{}.dsmas(0, 0, 0, 1).finish(1, +1);
    expect_bad(t, "bad CDAT checksum: the bytes sum to 0x1, not 0");
}

TEST(CdatParser, RefusesZeroLengthEntry) {
    auto t = CdatBytes{}.dsmas(0, 0, 0, 1).header(1, 0).put(0, 4).finish();
    expect_bad(t, "entry 2 at offset 0x28: zero length");
}

TEST(CdatParser, RefusesEntryShorterThanItsHeader) {
    auto t = CdatBytes{}.header(9, 2).put(0, 2).finish();
    expect_bad(t, "entry 1 at offset 0x10: length 2 is shorter than its header");
}

TEST(CdatParser, RefusesOverrun) {
    auto t = CdatBytes{}.header(0, 24).put(0, 12).finish();
    expect_bad(t, "entry 1 at offset 0x10: length 24 overruns the table (16 bytes left)");
}

TEST(CdatParser, RefusesTrailingBytes) {
    auto t = CdatBytes{}.dsmas(0, 0, 0, 1).put(0, 2).finish();
    expect_bad(t, "entry 2 at offset 0x28: 2 trailing bytes");
}

TEST(CdatParser, RefusesWrongLengthsPerType) {
    expect_bad(CdatBytes{}.header(0, 20).put(0, 16).finish(), "DSMAS length 20, expected 24");
    expect_bad(CdatBytes{}.header(1, 28).put(0, 24).finish(), "DSLBIS length 28, expected 24");
    expect_bad(CdatBytes{}.header(2, 24).put(0, 20).finish(), "DSMSCIS length 24, expected 20");
    expect_bad(CdatBytes{}.header(3, 12).put(0, 8).finish(), "DSIS length 12, expected 8");
    expect_bad(CdatBytes{}.header(4, 16).put(0, 12).finish(), "DSEMTS length 16, expected 24");
    expect_bad(CdatBytes{}.header(5, 20).put(0, 16).finish(), "SSLBIS length 20, expected 16 + 8n");
    expect_bad(CdatBytes{}.header(5, 12).put(0, 8).finish(), "SSLBIS length 12, expected 16 + 8n");
}

TEST(CdatParser, KeepsUnknownTypes) {
    auto t = CdatBytes{}.header(0xC8, 4).dsmas(1, 0, 0, 1).finish();
    auto r = parse_cdat(t);
    ASSERT_TRUE(r.ok()) << r.error().describe();
    ASSERT_EQ(r->entries.size(), 2u);
    const auto& u = std::get<doe::CdatUnknown>(r->entries[0].structure);
    EXPECT_EQ(u.type_id, 0xC8);
    EXPECT_EQ(u.raw, (std::vector<uint8_t>{0xC8, 0, 4, 0}));
    EXPECT_STREQ(doe::cdat_structure_name(r->entries[1].structure), "dsmas");
}

}  // namespace
}  // namespace cxlmgr::testing
