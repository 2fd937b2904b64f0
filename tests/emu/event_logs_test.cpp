// Event logs at register level (Get/Clear Event Records, interrupt policy, Event Status) and
// the record encoding behind Type3Device::inject_event.
#include <gtest/gtest.h>

#include <thread>

#include "emu/event_logs.hpp"
#include "mailbox_host.hpp"

namespace cxlmgr::emu::testing {
namespace {

using nlohmann::json;

constexpr uint8_t kInfo = 0, kWarn = 1, kFail = 2, kFatal = 3;

struct EventsTest : ::testing::Test {
    ManualClock clock;
    std::unique_ptr<MailboxHost> host;

    void open(const json& description = json::object()) {
        host = std::make_unique<MailboxHost>(description, clock);
        ASSERT_TRUE(host->discover());
    }
    void inject(EventLog log, EventKind kind = EventKind::GeneralMedia,
                const json& fields = json::object()) {
        auto st = host->model().inject_event(log, kind, fields);
        ASSERT_TRUE(st.ok()) << st.error().describe();
    }
    Response get(uint8_t log) { return host->exec(kOpGetEvents, std::vector<uint8_t>{log}); }
    static std::vector<uint16_t> handles(const Response& r) {
        std::vector<uint16_t> out;
        for (size_t i = 0; i < le(r.out, 0x14, 2); ++i) {
            out.push_back(static_cast<uint16_t>(le(r.out, 0x20 + 0x80 * i + 0x14, 2)));
        }
        return out;
    }
    // A copy, so it may outlive the response.
    static std::vector<uint8_t> record(const Response& r, size_t i) {
        auto first = r.out.begin() + static_cast<ptrdiff_t>(0x20 + 0x80 * i);
        return {first, first + 0x80};
    }
    uint16_t clear(uint8_t log, std::vector<uint16_t> hs, uint8_t flags = 0) {
        std::vector<uint8_t> in = {log, flags, static_cast<uint8_t>(hs.size()), 0, 0, 0};
        for (size_t i = 0; i < hs.size(); ++i) {
            put(in, 6 + 2 * i, hs[i], 2);
        }
        return host->exec(kOpClearEvents, in).rc;
    }
    void set_timestamp(uint64_t ns) {
        std::vector<uint8_t> in;
        put(in, 0, ns, 8);
        ASSERT_EQ(host->exec(kOpSetTimestamp, in).rc, kRcSuccess);
    }
};

TEST_F(EventsTest, GeneralMediaRecordLayout) {
    open();
    set_timestamp(1'000'000);
    clock.advance(250ns);
    inject(EventLog::Failure, EventKind::GeneralMedia,
           {{"dpa", 0x40001000},
            {"descriptor", 1},
            {"type", 2},
            {"transaction_type", 3},
            {"channel", 4},
            {"rank", 5},
            {"component_id", "DIMM-A3"},
            {"flags", 0x08}});
    auto r = get(kFail);
    ASSERT_EQ(r.rc, kRcSuccess);
    ASSERT_EQ(le(r.out, 0x14, 2), 1u);
    auto rec = record(r, 0);
    const uint8_t kUuid[16] = {0xfb, 0xcd, 0x0a, 0x77, 0xc2, 0x60, 0x41, 0x7f,
                               0x85, 0xa9, 0x08, 0x8b, 0x16, 0x21, 0xeb, 0xa6};
    EXPECT_TRUE(std::equal(std::begin(kUuid), std::end(kUuid), rec.begin()));
    EXPECT_EQ(rec[0x10], 0x80);
    EXPECT_EQ(rec[0x11], 0x08 | 2) << "maintenance needed + failure severity";
    EXPECT_EQ(le(rec, 0x14, 2), 1u) << "first handle";
    EXPECT_EQ(le(rec, 0x18, 8), 1'000'250u) << "device time";
    EXPECT_EQ(le(rec, 0x30, 8), 0x40001000u);
    EXPECT_EQ(rec[0x38], 1);
    EXPECT_EQ(rec[0x39], 2);
    EXPECT_EQ(rec[0x3A], 3);
    EXPECT_EQ(le(rec, 0x3B, 2), 0x1u | 0x2u | 0x8u) << "channel, rank, component valid";
    EXPECT_EQ(rec[0x3D], 4);
    EXPECT_EQ(rec[0x3E], 5);
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(&rec[0x42]), 7), "DIMM-A3");
}

TEST_F(EventsTest, DramRecordLayout) {
    open();
    inject(EventLog::Warning, EventKind::Dram,
           {{"dpa", 0x2000},
            {"nibble_mask", 0xABCDEF},
            {"bank_group", 1},
            {"bank", 2},
            {"row", 0x012345},
            {"column", 0x0678},
            {"correction_mask", {1, 2, 3, 4}}});
    auto r = get(kWarn);
    ASSERT_EQ(le(r.out, 0x14, 2), 1u);
    auto rec = record(r, 0);
    EXPECT_EQ(rec[0], 0x60);
    EXPECT_EQ(rec[15], 0x24);
    EXPECT_EQ(rec[0x11] & 3, 1) << "warning severity";
    EXPECT_EQ(le(rec, 0x3B, 2),
              (1u << 2) | (1u << 3) | (1u << 4) | (1u << 5) | (1u << 6) | (1u << 7));
    EXPECT_EQ(le(rec, 0x3F, 3), 0xABCDEFu);
    EXPECT_EQ(rec[0x42], 1);
    EXPECT_EQ(rec[0x43], 2);
    EXPECT_EQ(le(rec, 0x44, 3), 0x012345u);
    EXPECT_EQ(le(rec, 0x47, 2), 0x0678u);
    for (unsigned i = 0; i < 4; ++i) {
        EXPECT_EQ(le(rec, 0x49 + 8 * i, 8), i + 1);
    }
}

TEST_F(EventsTest, MemoryModuleEventCarriesAndUpdatesHealth) {
    open();
    inject(EventLog::Fatal, EventKind::MemoryModule,
           {{"type", 3}, {"temperature", 91}, {"health_status", 2}, {"dirty_shutdown_count", 7}});
    auto health = host->exec(kOpHealth);
    ASSERT_EQ(health.rc, kRcSuccess);
    EXPECT_EQ(static_cast<int16_t>(le(health.out, 4, 2)), 91);
    EXPECT_EQ(health.out[0], 2);
    EXPECT_EQ(health.out[3], 3) << "fields not given keep their value";
    auto rec = record(get(kFatal), 0);
    EXPECT_EQ(rec[0], 0xfe);
    EXPECT_EQ(rec[0x30], 3);
    EXPECT_TRUE(std::equal(health.out.begin(), health.out.end(), rec.begin() + 0x31));
}

TEST_F(EventsTest, VendorRecordTakesItsUuidAndData) {
    open();
    inject(EventLog::Informational, EventKind::Vendor,
           {{"uuid", "01234567-89ab-cdef-0123-456789ABCDEF"}, {"data", {9, 8, 7}}});
    auto rec = record(get(kInfo), 0);
    EXPECT_EQ(rec[0], 0x01);
    EXPECT_EQ(rec[15], 0xEF);
    EXPECT_EQ(rec[0x30], 9);
    EXPECT_EQ(rec[0x32], 7);
}

TEST_F(EventsTest, BadInjectionsAreRefused) {
    open();
    auto& m = host->model();
    auto refused = [&](EventKind kind, const json& fields) {
        auto st = m.inject_event(EventLog::Informational, kind, fields);
        return !st.ok() && st.error().code == Errc::InvalidArgument;
    };
    EXPECT_TRUE(refused(EventKind::GeneralMedia, {{"colour", 1}}));
    EXPECT_TRUE(refused(EventKind::GeneralMedia, {{"channel", 256}}));
    EXPECT_TRUE(refused(EventKind::GeneralMedia, {{"channel", -1}}));
    EXPECT_TRUE(refused(EventKind::GeneralMedia, {{"nibble_mask", 1}})) << "a DRAM field";
    EXPECT_TRUE(refused(EventKind::GeneralMedia, {{"flags", 0x01}})) << "severity is the log's";
    EXPECT_TRUE(refused(EventKind::GeneralMedia, {{"component_id", "0123456789abcdefX"}}));
    EXPECT_TRUE(refused(EventKind::Dram, {{"correction_mask", {1, 2, 3, 4, 5}}}));
    EXPECT_TRUE(refused(EventKind::MemoryModule, {{"life_used", 101}}));
    EXPECT_TRUE(refused(EventKind::MemoryModule, {{"temperature", 40000}}));
    EXPECT_TRUE(refused(EventKind::Vendor, {{"uuid", "not-a-uuid"}}));
    EXPECT_TRUE(refused(EventKind::Vendor, {{"data", std::vector<int>(0x51, 0)}}));
    EXPECT_TRUE(refused(EventKind::Vendor, json::array()));
    EXPECT_EQ(host->event_status(), 0u) << "nothing was added";
    auto health = host->exec(kOpHealth);
    EXPECT_EQ(health.out[3], 3) << "a refused memory-module event changes no health";
    EXPECT_TRUE(parse_event_log("fatal").ok());
    EXPECT_FALSE(parse_event_log("fatl").ok());
    EXPECT_EQ(*parse_event_kind("memory-module"), EventKind::MemoryModule);
    EXPECT_FALSE(parse_event_kind("memory_module").ok());
}

TEST_F(EventsTest, PagingSetsMoreRecordsOnlyWhenMoreRemain) {
    open({{"payload_size", 256}});  // one record per Get
    for (int i = 0; i < 3; ++i) {
        inject(EventLog::Informational);
    }
    auto r = get(kInfo);
    EXPECT_EQ(handles(r), (std::vector<uint16_t>{1}));
    EXPECT_EQ(r.out[0] & 2, 2) << "more records";
    EXPECT_EQ(handles(get(kInfo)), (std::vector<uint16_t>{1})) << "Get does not consume";
    ASSERT_EQ(clear(kInfo, {1}), kRcSuccess);
    r = get(kInfo);
    EXPECT_EQ(handles(r), (std::vector<uint16_t>{2}));
    EXPECT_EQ(r.out[0] & 2, 2);
    ASSERT_EQ(clear(kInfo, {2}), kRcSuccess);
    r = get(kInfo);
    EXPECT_EQ(handles(r), (std::vector<uint16_t>{3}));
    EXPECT_EQ(r.out[0] & 2, 0) << "the last record";
    ASSERT_EQ(clear(kInfo, {3}), kRcSuccess);
    r = get(kInfo);
    EXPECT_EQ(le(r.out, 0x14, 2), 0u);
    EXPECT_EQ(r.out[0], 0);
    EXPECT_EQ(r.out.size(), 0x20u);
}

TEST_F(EventsTest, FullPayloadPages) {
    open({{"events", {{"capacity", 40}}}});  // 2048-byte payload: 15 records per Get
    for (int i = 0; i < 15; ++i) {
        inject(EventLog::Warning);
    }
    auto r = get(kWarn);
    EXPECT_EQ(handles(r).size(), 15u);
    EXPECT_EQ(r.out[0] & 2, 0) << "exactly a full page, nothing more";
    for (int i = 0; i < 5; ++i) {
        inject(EventLog::Warning);
    }
    r = get(kWarn);
    EXPECT_EQ(handles(r).size(), 15u);
    EXPECT_EQ(r.out[0] & 2, 2);
    ASSERT_EQ(clear(kWarn, handles(r)), kRcSuccess);
    r = get(kWarn);
    EXPECT_EQ(handles(r), (std::vector<uint16_t>{16, 17, 18, 19, 20}));
    EXPECT_EQ(r.out[0] & 2, 0);
}

TEST_F(EventsTest, AFullLogKeepsOldRecordsAndCountsOverflows) {
    open({{"events", {{"capacity", 4}}}});
    set_timestamp(5'000);
    for (int i = 0; i < 6; ++i) {
        clock.advance(1us);
        inject(EventLog::Failure);
    }
    auto r = get(kFail);
    EXPECT_EQ(handles(r), (std::vector<uint16_t>{1, 2, 3, 4}));
    EXPECT_EQ(r.out[0] & 1, 1) << "overflow";
    EXPECT_EQ(le(r.out, 2, 2), 2u);
    EXPECT_EQ(le(r.out, 4, 8), 10'000u) << "first overflow at the fifth record";
    EXPECT_EQ(le(r.out, 0x0C, 8), 11'000u);
    ASSERT_EQ(clear(kFail, {1}), kRcSuccess);
    r = get(kFail);
    EXPECT_EQ(r.out[0] & 1, 0) << "a successful clear resets the overflow";
    EXPECT_EQ(le(r.out, 2, 2), 0u);
    inject(EventLog::Failure);
    EXPECT_EQ(handles(get(kFail)), (std::vector<uint16_t>{2, 3, 4, 5}))
        << "dropped records took no handle";
}

TEST_F(EventsTest, ClearByHandleFollowsTemporalOrder) {
    open();
    for (int i = 0; i < 3; ++i) {
        inject(EventLog::Fatal);
    }
    EXPECT_EQ(clear(kFatal, {2}), kRcInvalidHandle) << "1 is older";
    EXPECT_EQ(clear(kFatal, {1, 3}), kRcInvalidHandle);
    EXPECT_EQ(clear(kFatal, {99}), kRcInvalidHandle);
    EXPECT_EQ(clear(kFatal, {1, 2, 3, 4}), kRcInvalidHandle) << "more handles than records";
    EXPECT_EQ(handles(get(kFatal)).size(), 3u) << "nothing was cleared";
    EXPECT_EQ(clear(kFatal, {1, 2}), kRcSuccess);
    EXPECT_EQ(handles(get(kFatal)), (std::vector<uint16_t>{3}));
    std::vector<uint8_t> lying = {kFatal, 0, 2, 0, 0, 0, 3, 0};  // says 2 handles, carries 1
    EXPECT_EQ(host->exec(kOpClearEvents, lying).rc, kRcInvalidPayloadLength);
    EXPECT_EQ(host->exec(kOpClearEvents, std::vector<uint8_t>{kFatal, 0}).rc,
              kRcInvalidPayloadLength);
}

TEST_F(EventsTest, ClearAllEmptiesTheLog) {
    open();
    for (int i = 0; i < 3; ++i) {
        inject(EventLog::Informational);
    }
    inject(EventLog::Fatal);
    EXPECT_EQ(host->event_status(), 0b1001u);
    EXPECT_EQ(clear(kInfo, {1}, 0x01), kRcInvalidInput) << "Clear All takes no handles";
    EXPECT_EQ(clear(kInfo, {}, 0x01), kRcSuccess);
    EXPECT_EQ(le(get(kInfo).out, 0x14, 2), 0u);
    EXPECT_EQ(host->event_status(), 0b1000u);
    EXPECT_EQ(clear(kFatal, {}, 0x01), kRcSuccess);
    EXPECT_EQ(host->event_status(), 0u);
}

TEST_F(EventsTest, LogIdsBeyondFatal) {
    open();
    EXPECT_EQ(get(4).rc, kRcUnsupported) << "dynamic capacity log: no DC regions";
    EXPECT_EQ(get(5).rc, kRcInvalidInput);
    EXPECT_EQ(clear(4, {}, 1), kRcUnsupported);
    EXPECT_EQ(clear(9, {1}), kRcInvalidInput);
}

TEST_F(EventsTest, InterruptPolicyIsStoredAndVisibleToTheEmulator) {
    open();
    auto r = host->exec(kOpGetPolicy);
    ASSERT_EQ(r.rc, kRcSuccess);
    EXPECT_EQ(r.out, (std::vector<uint8_t>{0, 0, 0, 0}));
    EXPECT_EQ(host->model().event_interrupt_policy(), EventInterruptPolicy{});

    ASSERT_EQ(host->exec(kOpSetPolicy, std::vector<uint8_t>{0x11, 0x21, 0x3D, 0x41}).rc,
              kRcSuccess);
    r = host->exec(kOpGetPolicy);
    EXPECT_EQ(r.out, (std::vector<uint8_t>{0x11, 0x21, 0x31, 0x41})) << "reserved bits dropped";
    auto p = host->model().event_interrupt_policy();
    EXPECT_EQ(p.mode(EventLog::Fatal), EventInterruptPolicy::kMsi);
    EXPECT_EQ(p.message_number(EventLog::Fatal), 4);
    EXPECT_EQ(p.message_number(EventLog::Failure), 3);

    EXPECT_EQ(host->exec(kOpSetPolicy, std::vector<uint8_t>{0, 0, 0, 0, 0x01}).rc, kRcSuccess)
        << "r3.1 hosts send a DCD byte";
    EXPECT_EQ(host->model().event_interrupt_policy(), EventInterruptPolicy{});
    EXPECT_EQ(host->exec(kOpSetPolicy, std::vector<uint8_t>{1, 1, 1}).rc, kRcInvalidPayloadLength);
    EXPECT_EQ(host->exec(kOpSetPolicy, std::vector<uint8_t>{1, 1, 1, 1, 1, 1}).rc,
              kRcInvalidPayloadLength);
    EXPECT_EQ(host->exec(kOpSetPolicy, std::vector<uint8_t>{1, 3, 1, 1}).rc, kRcInvalidInput);
    EXPECT_EQ(host->model().event_interrupt_policy(), EventInterruptPolicy{}) << "unchanged";
}

TEST_F(EventsTest, InjectionIsSafeFromOtherThreads) {
    open({{"events", {{"capacity", 400}}}});
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&] {
            for (int i = 0; i < 50; ++i) {
                ASSERT_TRUE(host->model()
                                .inject_event(EventLog::Warning, EventKind::Dram, {{"bank", i}})
                                .ok());
            }
        });
    }
    for (int i = 0; i < 50; ++i) {
        (void)host->event_status();
    }
    for (auto& t : threads) {
        t.join();
    }
    size_t total = 0;
    for (;;) {
        auto r = get(kWarn);
        auto hs = handles(r);
        if (hs.empty()) {
            break;
        }
        total += hs.size();
        ASSERT_EQ(clear(kWarn, hs), kRcSuccess);
    }
    EXPECT_EQ(total, 200u);
}

TEST_F(EventsTest, DescriptionSection) {
    for (const json& bad : {json{{"capacity", 0}}, json{{"capacity", 5000}}, json{{"size", 4}}}) {
        MailboxHost h({{"events", bad}}, clock);
        EXPECT_FALSE(h.create_error().empty()) << bad.dump();
    }
}

TEST(EventLogsUnit, HandlesWrapAndSkipZero) {
    auto logs = EventLogs::create(default_device_description("wrap"));
    ASSERT_TRUE(logs.ok());
    uint16_t last = 0;
    for (uint32_t i = 0; i < 65536; ++i) {
        logs->add(EventLog::Informational, EventRecord{}, 0);
        auto out = logs->get(EventLog::Informational, 1);
        auto handle = static_cast<uint16_t>(le(out, 0x20 + 0x14, 2));
        ASSERT_NE(handle, 0u);
        if (i > 0) {
            ASSERT_EQ(handle, last == 0xFFFF ? 1 : last + 1);
        }
        last = handle;
        std::vector<uint16_t> hs{handle};
        ASSERT_EQ(logs->clear(EventLog::Informational, false, hs), ReturnCode::Success);
    }
    EXPECT_EQ(last, 1u) << "65536 handles: 1..65535 then 1 again";
}

}  // namespace
}  // namespace cxlmgr::emu::testing
