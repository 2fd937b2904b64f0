// Reading the CDAT over DOE from the emulated device (and a scripted one for chains the emulated
// device never serves), then validating and decoding it.
#include <gtest/gtest.h>

#include "doe/cdat.hpp"
#include "tests/doe/cdat_bytes.hpp"
#include "tests/doe/doe_test_support.hpp"
#include "tests/doe/fake_doe_config.hpp"

namespace cxlmgr::testing {
namespace {

using emu::Fault;
using nlohmann::json;

::testing::AssertionResult fails_with(const Result<std::vector<uint8_t>>& r, Errc code,
                                      const std::string& substring) {
    if (r.ok()) {
        return ::testing::AssertionFailure() << "expected an error, read " << r->size() << " bytes";
    }
    if (r.error().code != code || r.error().message.find(substring) == std::string::npos) {
        return ::testing::AssertionFailure() << "got " << r.error().describe();
    }
    return ::testing::AssertionSuccess();
}

emu::DeviceDescription with_cdat(json cdat) {
    auto d = emu::default_device_description("emu0");
    d.cdat = std::move(cdat);
    return d;
}

TEST(CdatRead, DefaultTableOfAVolatileDevice) {
    EmuDoe emu;
    ASSERT_EQ(emu.init(), "");
    auto raw = emu.read_cdat();
    ASSERT_TRUE(raw.ok()) << raw.error().describe();
    EXPECT_EQ(raw->size(), 160u);
    auto table = doe::parse_cdat(*raw);
    ASSERT_TRUE(table.ok()) << table.error().describe();
    EXPECT_EQ(table->header.length, 160u);
    EXPECT_EQ(table->header.revision, 1);
    ASSERT_EQ(table->entries.size(), 6u);
    const auto& dsmas = std::get<doe::CdatDsmas>(table->entries[0].structure);
    EXPECT_EQ(dsmas.dsmad_handle, 0);
    EXPECT_EQ(dsmas.flags, 0);
    EXPECT_EQ(dsmas.dpa_base, 0u);
    EXPECT_EQ(dsmas.dpa_length, emu::kCapacityUnit);
    std::vector<int> data_types;
    for (int i = 1; i <= 4; ++i) {
        const auto& l = std::get<doe::CdatDslbis>(table->entries[i].structure);
        EXPECT_EQ(l.handle, 0);
        data_types.push_back(l.data_type);
        EXPECT_GT(l.entries[0] * l.entry_base_unit, 0u);
    }
    EXPECT_EQ(data_types, (std::vector<int>{1, 2, 4, 5}));
    const auto& dsemts = std::get<doe::CdatDsemts>(table->entries[5].structure);
    EXPECT_EQ(dsemts.efi_memory_type_attr, 1);
    EXPECT_EQ(dsemts.dpa_length, emu::kCapacityUnit);

    auto j = doe::cdat_to_json(*table);
    ASSERT_EQ(j.size(), 7u);
    EXPECT_EQ(j[0]["type"], "header");
    EXPECT_EQ(j[1]["type"], "dsmas");
    EXPECT_EQ(j[1]["dpa_length"], emu::kCapacityUnit);
    EXPECT_EQ(j[6]["type"], "dsemts");
    // 6 entries + header: one exchange each, no guessed handles.
    EXPECT_EQ(emu.config->abort_writes, 0u);
}

TEST(CdatRead, VolatileAndPersistentRegions) {
    auto d = emu::default_device_description("emu0");
    d.persistent_capacity = 2 * emu::kCapacityUnit;
    EmuDoe emu;
    ASSERT_EQ(emu.init(d), "");
    auto raw = emu.read_cdat();
    ASSERT_TRUE(raw.ok()) << raw.error().describe();
    auto table = doe::parse_cdat(*raw);
    ASSERT_TRUE(table.ok()) << table.error().describe();
    ASSERT_EQ(table->entries.size(), 12u);
    const auto& pmem = std::get<doe::CdatDsmas>(table->entries[6].structure);
    EXPECT_EQ(pmem.dsmad_handle, 1);
    EXPECT_EQ(pmem.flags, 0x04);
    EXPECT_EQ(pmem.dpa_base, emu::kCapacityUnit);
    EXPECT_EQ(pmem.dpa_length, 2 * emu::kCapacityUnit);
    EXPECT_EQ(std::get<doe::CdatDsemts>(table->entries[11].structure).efi_memory_type_attr, 2);
}

TEST(CdatRead, DescribedEntriesRoundTripThroughTheRendering) {
    json entries = json::array({
        {{"type", "header"}, {"revision", 2}, {"sequence", 5}},
        {{"type", "dsmas"},
         {"dsmad_handle", 3},
         {"flags", 8},
         {"dpa_base", 0},
         {"dpa_length", 1 << 28}},
        {{"type", "dslbis"},
         {"handle", 3},
         {"flags", 0},
         {"data_type", 0},
         {"entry_base_unit", 1000},
         {"entries", {1, 2, 3}}},
        {{"type", "dsmscis"},
         {"dsmas_handle", 3},
         {"side_cache_size", 4096},
         {"cache_attributes", 17}},
        {{"type", "dsis"}, {"flags", 1}, {"handle", 3}},
        {{"type", "dsemts"},
         {"dsmas_handle", 3},
         {"efi_memory_type_attr", 2},
         {"dpa_offset", 64},
         {"dpa_length", 128}},
        {{"type", "sslbis"},
         {"data_type", 5},
         {"entry_base_unit", 100},
         {"entries", {{{"port_x_id", 0x100}, {"port_y_id", 0xFFFF}, {"latency_or_bandwidth", 9}}}}},
        {{"type", "unknown"}, {"type_id", 200}, {"raw", {200, 0, 8, 0, 1, 2, 3, 4}}},
    });
    EmuDoe emu;
    ASSERT_EQ(emu.init(with_cdat({{"entries", entries}})), "");
    auto raw = emu.read_cdat();
    ASSERT_TRUE(raw.ok()) << raw.error().describe();
    auto table = doe::parse_cdat(*raw);
    ASSERT_TRUE(table.ok()) << table.error().describe();
    json rendered = doe::cdat_to_json(*table);
    EXPECT_EQ(rendered[0]["length"], raw->size());
    EXPECT_EQ(rendered[0]["sequence"], 5);
    // Every described field comes back under the same name.
    for (size_t i = 1; i < entries.size(); ++i) {
        for (const auto& [key, value] : entries[i].items()) {
            EXPECT_EQ(rendered[i][key], value) << "entry " << i << " field " << key;
        }
        EXPECT_EQ(rendered[i].size(), entries[i].size()) << rendered[i].dump();
    }
    // And the rendering itself is a valid description of the same table.
    EmuDoe again;
    ASSERT_EQ(again.init(with_cdat({{"entries", rendered}})), "");
    auto raw2 = again.read_cdat();
    ASSERT_TRUE(raw2.ok());
    EXPECT_EQ(*raw2, *raw);
}

TEST(CdatRead, BadChecksumIsReadThenRefusedByTheParser) {
    EmuDoe emu;
    ASSERT_EQ(emu.init(), "");
    emu.model->arm_fault(Fault::BadCdatChecksum);
    auto raw = emu.read_cdat();
    ASSERT_TRUE(raw.ok()) << raw.error().describe();
    auto table = doe::parse_cdat(*raw);
    ASSERT_FALSE(table.ok());
    EXPECT_EQ(table.error().code, Errc::DeviceError);
    EXPECT_NE(table.error().message.find("bad CDAT checksum: the bytes sum to 0x1, not 0"),
              std::string::npos)
        << table.error().message;
    // The fault was used up: the next read is clean.
    auto clean = emu.read_cdat();
    ASSERT_TRUE(clean.ok());
    EXPECT_TRUE(doe::parse_cdat(*clean).ok());
}

TEST(CdatRead, TruncatedEntryIsRefusedWithHandleAndOffset) {
    EmuDoe emu;
    ASSERT_EQ(emu.init(), "");
    emu.model->arm_fault(Fault::TruncatedCdatEntry);
    auto raw = emu.read_cdat();
    EXPECT_TRUE(fails_with(raw, Errc::DeviceError,
                           "CDAT read, entry handle 1 (table offset 0x10): truncated entry: its "
                           "length field says 24 bytes, the device served 20"));
    EXPECT_FALSE(emu.mailbox->dead());
    EXPECT_TRUE(emu.read_cdat().ok());
}

TEST(CdatRead, TransportFaultsNameTheHandle) {
    EmuDoe emu;
    ASSERT_EQ(emu.init(), "");
    emu.model->arm_fault(Fault::DoeLengthLie);
    EXPECT_TRUE(fails_with(emu.read_cdat(), Errc::DeviceError,
                           "CDAT read, entry handle 0: DOE mailbox at 0x110: malformed response"));
    emu.model->arm_fault(Fault::DoeNeverReady);
    EXPECT_TRUE(fails_with(emu.read_cdat(), Errc::Timeout, "CDAT read, entry handle 0"));
    EXPECT_TRUE(emu.read_cdat().ok());
}

TEST(CdatRead, SlowDeviceStillReadsWholeTable) {
    auto d = emu::default_device_description("emu0");
    d.timing["doe_response_us"] = 300;
    EmuDoe emu;
    ASSERT_EQ(emu.init(d), "");
    auto raw = emu.read_cdat();
    ASSERT_TRUE(raw.ok()) << raw.error().describe();
    EXPECT_TRUE(doe::parse_cdat(*raw).ok());
}

TEST(CdatRead, RawZeroLengthEntryIsRefusedByTheReader) {
    auto t = CdatBytes{}.dsmas(0, 0, 0, 1).header(1, 0).put(0, 4).finish();
    EmuDoe emu;
    ASSERT_EQ(emu.init(with_cdat({{"raw_hex", to_hex(t)}})), "");
    EXPECT_TRUE(fails_with(emu.read_cdat(), Errc::DeviceError,
                           "entry handle 2 (table offset 0x28): the entry's length field is 0 "
                           "(zero-length entry)"));
    // The parser finds the same fault in the raw table.
    auto parsed = doe::parse_cdat(t);
    ASSERT_FALSE(parsed.ok());
    EXPECT_NE(parsed.error().message.find("entry 2 at offset 0x28: zero length"),
              std::string::npos);
}

TEST(CdatRead, RawTableWithWrongEntryLengthReadsButDoesNotParse) {
    auto t = CdatBytes{}.header(0, 20).put(0, 16).finish();
    EmuDoe emu;
    ASSERT_EQ(emu.init(with_cdat({{"raw_hex", to_hex(t)}})), "");
    auto raw = emu.read_cdat();
    ASSERT_TRUE(raw.ok()) << raw.error().describe();
    EXPECT_EQ(*raw, t);
    auto parsed = doe::parse_cdat(*raw);
    ASSERT_FALSE(parsed.ok());
    EXPECT_NE(parsed.error().message.find("entry 1 at offset 0x10: DSMAS length 20, expected 24"),
              std::string::npos);
}

TEST(CdatRead, HeaderClaimingLessThanTheEntriesIsRefused) {
    auto t = CdatBytes{}.dsmas(0, 0, 0, 1).dsmas(1, 0, 0, 1).finish();
    t[0] = 40;  // header says 40 bytes; two entries make 64
    EmuDoe emu;
    ASSERT_EQ(emu.init(with_cdat({{"raw_hex", to_hex(t)}})), "");
    EXPECT_TRUE(fails_with(emu.read_cdat(), Errc::DeviceError,
                           "entry handle 1 (table offset 0x28): the chain goes on (next handle 2) "
                           "past the header's table length of 40 bytes"));
}

TEST(CdatRead, HeaderClaimingMoreThanTheEntriesIsCaughtByTheParser) {
    auto t = CdatBytes{}.dsmas(0, 0, 0, 1).finish();
    t[0] = 64;
    t[5] = static_cast<uint8_t>(t[5] - 24);  // keep the checksum right
    EmuDoe emu;
    ASSERT_EQ(emu.init(with_cdat({{"raw_hex", to_hex(t)}})), "");
    auto raw = emu.read_cdat();
    ASSERT_TRUE(raw.ok()) << raw.error().describe();
    auto parsed = doe::parse_cdat(*raw);
    ASSERT_FALSE(parsed.ok());
    EXPECT_NE(parsed.error().message.find("the header says 64 bytes, the table has 40"),
              std::string::npos);
}

// Scripted devices: chains the emulated device never serves.
Result<std::vector<uint8_t>> read_fake(FakeDoeConfig::Responder responder) {
    boost::asio::io_context io;
    auto fake = std::make_shared<FakeDoeConfig>(std::move(responder));
    auto mb = doe::DoeMailbox::create("fake", io.get_executor(), fake, FakeDoeConfig::kDoe,
                                      fast_timeouts());
    if (!mb.ok())
        return mb.error();
    std::optional<Result<std::vector<uint8_t>>> out;
    doe::async_read_cdat(**mb, {}, [&](auto r) { out.emplace(std::move(r)); });
    io.run();
    return std::move(*out);
}

// A Table Access response serving `entry` with `next`.
std::vector<uint32_t> serve(const std::vector<uint8_t>& entry, uint16_t next) {
    std::vector<uint32_t> rsp{0x00021E98, 0, static_cast<uint32_t>(next) << 16};
    for (size_t i = 0; i < entry.size(); i += 4) {
        uint32_t dw = 0;
        for (size_t b = 0; b < 4 && i + b < entry.size(); ++b)
            dw |= entry[i + b] << (8 * b);
        rsp.push_back(dw);
    }
    rsp[1] = static_cast<uint32_t>(rsp.size());
    return rsp;
}

TEST(CdatReadFake, LoopingHandleChainIsStopped) {
    auto t = CdatBytes{}.dsmas(0, 0, 0, 1).dsmas(1, 0, 0, 1).dsmas(2, 0, 0, 1).finish();
    unsigned requests = 0;
    auto r = read_fake([&](const std::vector<uint32_t>& req) {
        ++requests;
        uint16_t handle = req.at(2) >> 16;
        if (handle == 0)
            return serve({t.begin(), t.begin() + 16}, 5);
        return serve({t.begin() + 16, t.begin() + 40}, 5);  // 5 -> 5 -> ...
    });
    EXPECT_TRUE(fails_with(r, Errc::DeviceError,
                           "next handle 5 was already read: the handle "
                           "chain loops"));
    EXPECT_EQ(requests, 2u);
}

TEST(CdatReadFake, FollowsTheDevicesHandlesNotGuessedOnes) {
    auto t = CdatBytes{}.dsmas(0, 0, 0, 1).dsmas(1, 0, 0, 1).finish();
    std::vector<uint16_t> asked;
    auto r = read_fake([&](const std::vector<uint32_t>& req) {
        uint16_t handle = req.at(2) >> 16;
        asked.push_back(handle);
        if (handle == 0)
            return serve({t.begin(), t.begin() + 16}, 0x40);
        if (handle == 0x40)
            return serve({t.begin() + 16, t.begin() + 40}, 0x13);
        return serve({t.begin() + 40, t.end()}, 0xFFFF);
    });
    ASSERT_TRUE(r.ok()) << r.error().describe();
    EXPECT_EQ(*r, t);
    EXPECT_EQ(asked, (std::vector<uint16_t>{0, 0x40, 0x13}));
}

TEST(CdatReadFake, BadResponseCodeAndOversizedHeaderAreRefused) {
    auto t = CdatBytes{}.finish();
    auto bad_code = read_fake([&](const std::vector<uint32_t>&) {
        auto rsp = serve(t, 0xFFFF);
        rsp[2] |= 1;
        return rsp;
    });
    EXPECT_TRUE(fails_with(bad_code, Errc::DeviceError, "unexpected response code/table type"));

    auto huge = t;
    huge[3] = 0x40;  // 1 GiB
    auto too_long = read_fake([&](const std::vector<uint32_t>&) { return serve(huge, 0xFFFF); });
    EXPECT_TRUE(fails_with(too_long, Errc::DeviceError, "is outside 16..1048576"));

    auto short_header = read_fake([&](const std::vector<uint32_t>&) {
        return serve({t.begin(), t.begin() + 12}, 0xFFFF);
    });
    EXPECT_TRUE(fails_with(short_header, Errc::DeviceError, "served as 12 bytes, not 16"));
}

TEST(CdatReadFake, EntryServedWithExtraDwordsIsRefused) {
    auto t = CdatBytes{}.dsmas(0, 0, 0, 1).finish();
    auto r = read_fake([&](const std::vector<uint32_t>& req) {
        if ((req.at(2) >> 16) == 0)
            return serve({t.begin(), t.begin() + 16}, 1);
        std::vector<uint8_t> entry(t.begin() + 16, t.end());
        entry.resize(entry.size() + 8, 0);
        return serve(entry, 0xFFFF);
    });
    EXPECT_TRUE(fails_with(r, Errc::DeviceError, "served 32 bytes for an entry of 24"));
}

}  // namespace
}  // namespace cxlmgr::testing
