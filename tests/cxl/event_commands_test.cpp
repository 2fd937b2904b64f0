#include <gtest/gtest.h>

#include "cxl/command_table.hpp"
#include "cxl/commands/events.hpp"
#include "cxl/return_code.hpp"

namespace cxlmgr::cxl {
namespace {

Bytes record(std::string_view uuid, uint16_t handle, uint32_t flags = 0x1) {
    Bytes r(kEventRecordSize, 0);
    const Uuid u = known_uuid(uuid);
    std::copy(u.bytes.begin(), u.bytes.end(), r.begin());
    r[0x10] = 0x80;
    store_le(r, 0x11, flags, 3);
    store_le(r, 0x14, handle, 2);
    store_le(r, 0x16, 0x0102, 2);
    store_le(r, 0x18, 1700000000123456789ull, 8);
    r[0x20] = 0x02;
    r[0x21] = 0x03;
    return r;
}

Bytes page(const std::vector<Bytes>& records, uint8_t flags = 0, size_t claimed = SIZE_MAX) {
    Bytes p(kEventRecordsHeaderSize, 0);
    p[0] = flags;
    store_le(p, 2, 9, 2);
    store_le(p, 4, 1111, 8);
    store_le(p, 0x0C, 2222, 8);
    store_le(p, 0x14, claimed == SIZE_MAX ? records.size() : claimed, 2);
    for (const auto& r : records) {
        p.insert(p.end(), r.begin(), r.end());
    }
    return p;
}

TEST(EventRecord, GeneralMediaFieldsAtTheirOffsets) {
    Bytes r = record(uuids::kGeneralMedia, 5, 0x2 | kEventFlagPermanent);
    store_le(r, 0x30, 0x123456789ABCDE00ull | 0x3, 8);
    r[0x38] = 0x01;
    r[0x39] = 0x02;
    r[0x3A] = 0x03;
    store_le(r, 0x3B, 0x000F, 2);
    r[0x3D] = 4;
    r[0x3E] = 5;
    store_le(r, 0x3F, 0xABCDEF, 3);
    r[0x42] = 0x77;
    r[0x51] = 0x88;
    auto rec = decode_event_record(r);
    ASSERT_TRUE(rec.ok()) << rec.error().describe();
    EXPECT_EQ(rec->kind, EventRecordKind::GeneralMedia);
    EXPECT_EQ(rec->header.handle, 5);
    EXPECT_EQ(rec->header.related_handle, 0x0102);
    EXPECT_EQ(rec->header.timestamp, 1700000000123456789ull);
    EXPECT_EQ(rec->header.severity(), EventSeverity::Failure);
    const auto& g = std::get<GeneralMediaEvent>(rec->body);
    EXPECT_EQ(g.media.dpa, 0x123456789ABCDE00ull);
    EXPECT_EQ(g.media.dpa_flags, 0x3);
    EXPECT_EQ(g.media.transaction_type, 3);
    EXPECT_EQ(g.media.validity_flags, 0xF);
    EXPECT_EQ(g.device, 0xABCDEFu);
    EXPECT_EQ(g.component_id[0], 0x77);
    EXPECT_EQ(g.component_id[15], 0x88);

    auto j = event_record_to_json(*rec);
    EXPECT_EQ(j["uuid"], "fbcd0a77-c260-417f-85a9-088b1621eba6");
    EXPECT_EQ(j["handle"], 5);
    EXPECT_EQ(j["flags"], 0x6);
    EXPECT_EQ(j["severity"], "failure");
    EXPECT_EQ(j["permanent"], true);
    EXPECT_EQ(j["related_handle"], 0x0102);
    EXPECT_EQ(j["timestamp"], 1700000000123456789ull);
    EXPECT_EQ(j["dpa"], 0x123456789ABCDE00ull);
    EXPECT_EQ(j["descriptor"], 1);
    EXPECT_EQ(j["type"], 2);
    EXPECT_EQ(j["transaction_type"], 3);
    EXPECT_EQ(j["maintenance_op_class"], 2);
    EXPECT_EQ(j["raw"].get_binary().size(), 128u);
    EXPECT_EQ(j["component_id"].get_binary()[0], 0x77);
}

TEST(EventRecord, DramAndMemoryModuleAndVendor) {
    Bytes d = record(uuids::kDram, 6);
    store_le(d, 0x3F, 0x00F00F, 3);
    d[0x42] = 2;
    d[0x43] = 3;
    store_le(d, 0x44, 0x012345, 3);
    store_le(d, 0x47, 0x0456, 2);
    d[0x49] = 0xC1;
    d[0x68] = 0xC2;
    auto dram = decode_event_record(d);
    ASSERT_TRUE(dram.ok());
    const auto& de = std::get<DramEvent>(dram->body);
    EXPECT_EQ(de.nibble_mask, 0x00F00Fu);
    EXPECT_EQ(de.bank_group, 2);
    EXPECT_EQ(de.bank, 3);
    EXPECT_EQ(de.row, 0x012345u);
    EXPECT_EQ(de.column, 0x0456);
    EXPECT_EQ(de.correction_mask[0], 0xC1);
    EXPECT_EQ(de.correction_mask[31], 0xC2);
    EXPECT_EQ(event_record_to_json(*dram)["row"], 0x012345);

    Bytes m = record(uuids::kMemoryModule, 7);
    m[0x30] = 3;                         // temperature change
    m[0x31] = kHealthMaintenanceNeeded;  // health status
    store_le(m, 0x31 + 4, static_cast<uint16_t>(-5), 2);
    auto mm = decode_event_record(m);
    ASSERT_TRUE(mm.ok());
    EXPECT_EQ(mm->kind, EventRecordKind::MemoryModule);
    auto mj = event_record_to_json(*mm);
    EXPECT_EQ(mj["device_event_type"], 3);
    EXPECT_EQ(mj["temperature"], -5);
    EXPECT_EQ(mj["maintenance_needed"], false) << "the header flag, not the health status";
    EXPECT_EQ(mj["health_maintenance_needed"], true);

    Bytes v = record("12345678-1234-1234-1234-123456789abc", 8);
    auto vendor = decode_event_record(v);
    ASSERT_TRUE(vendor.ok());
    EXPECT_EQ(vendor->kind, EventRecordKind::Vendor);
    EXPECT_EQ(event_record_kind_name(vendor->kind), "vendor");
    auto vj = event_record_to_json(*vendor);
    EXPECT_EQ(vj["uuid"], "12345678-1234-1234-1234-123456789abc");
    EXPECT_FALSE(vj.contains("dpa"));
    // Compared as plain vectors: clang finds byte_container_with_subtype == vector ambiguous in
    // C++20 (the reversed candidate), GCC does not.
    const std::vector<uint8_t>& raw = vj["raw"].get_binary();
    EXPECT_EQ(raw, v);
}

TEST(EventRecord, MalformedRecords) {
    EXPECT_FALSE(decode_event_record(Bytes(0x7F)).ok());
    Bytes bad_len = record(uuids::kDram, 3);
    bad_len[0x10] = 0x40;
    auto r = decode_event_record(bad_len);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find("length 0x40"), std::string::npos);
}

TEST(GetEventRecords, PageHeaderAndRecords) {
    EXPECT_EQ(get_event_records(EventLog::Fatal).request.input, Bytes{3});
    EXPECT_EQ(get_event_records(EventLog::Fatal).request.opcode, opcode::kGetEventRecords);
    auto p = decode_event_records(page({record(uuids::kGeneralMedia, 1), record(uuids::kDram, 2)},
                                       kEventRecordsOverflow | kEventRecordsMoreRecords));
    ASSERT_TRUE(p.ok()) << p.error().describe();
    EXPECT_TRUE(p->overflow);
    EXPECT_TRUE(p->more_records);
    EXPECT_EQ(p->overflow_count, 9);
    EXPECT_EQ(p->first_overflow_timestamp, 1111u);
    EXPECT_EQ(p->last_overflow_timestamp, 2222u);
    ASSERT_EQ(p->records.size(), 2u);
    EXPECT_EQ(p->records[1].kind, EventRecordKind::Dram);
    auto j = event_records_to_json(*p);
    EXPECT_EQ(j["records"].size(), 2u);
    EXPECT_EQ(j["overflow_count"], 9);

    auto empty = decode_event_records(page({}));
    ASSERT_TRUE(empty.ok());
    EXPECT_TRUE(empty->records.empty());
    EXPECT_FALSE(empty->more_records);
}

TEST(GetEventRecords, TruncatedOversizedAndBadRecords) {
    auto short_hdr = decode_event_records(Bytes(0x1F));
    ASSERT_FALSE(short_hdr.ok());
    EXPECT_NE(short_hdr.error().message.find("Get Event Records"), std::string::npos);

    auto lie = decode_event_records(page({record(uuids::kDram, 1)}, 0, 2));
    ASSERT_FALSE(lie.ok());
    EXPECT_NE(lie.error().message.find("claims 2 records"), std::string::npos);

    Bytes extra = page({record(uuids::kDram, 1)});
    extra.resize(extra.size() + 0x80, 0xEE);  // payload-sized output with fewer records
    auto ok = decode_event_records(extra);
    ASSERT_TRUE(ok.ok());
    EXPECT_EQ(ok->records.size(), 1u);

    auto zero = decode_event_records(page({record(uuids::kDram, 1), record(uuids::kDram, 0)}));
    ASSERT_FALSE(zero.ok());
    EXPECT_NE(zero.error().message.find("record 1 has handle 0"), std::string::npos);
}

TEST(ClearEventRecords, AsManyHandlesAsFitAndClearAll) {
    EXPECT_EQ(clear_event_records_capacity(256), 125u);
    EXPECT_EQ(clear_event_records_capacity(2048), 255u);
    std::vector<uint16_t> handles(300);
    for (size_t i = 0; i < handles.size(); ++i) {
        handles[i] = static_cast<uint16_t>(i + 1);
    }
    auto small = clear_event_records(EventLog::Warning, handles, 256);
    ASSERT_TRUE(small.ok());
    EXPECT_EQ(small->consumed, 125u);
    const Bytes& in = small->command.request.input;
    ASSERT_EQ(in.size(), 6u + 250);
    EXPECT_EQ(in[0], 1);
    EXPECT_EQ(in[1], 0);
    EXPECT_EQ(in[2], 125);
    EXPECT_EQ(u16_at(in, 6), 1);
    EXPECT_EQ(u16_at(in, 6 + 2 * 124), 125);

    auto two = clear_event_records(EventLog::Fatal, std::span(handles).first(2), 2048);
    ASSERT_TRUE(two.ok());
    EXPECT_EQ(two->consumed, 2u);
    EXPECT_EQ(two->command.request.input, (Bytes{3, 0, 2, 0, 0, 0, 1, 0, 2, 0}));

    EXPECT_EQ(clear_event_records(EventLog::Fatal, {}, 2048).error().code, Errc::InvalidArgument);
    const uint16_t zero[] = {4, 0};
    EXPECT_FALSE(clear_event_records(EventLog::Fatal, zero, 2048).ok());

    auto all = clear_all_event_records(EventLog::Failure);
    EXPECT_EQ(all.request.opcode, opcode::kClearEventRecords);
    EXPECT_EQ(all.request.input, (Bytes{2, 1, 0, 0, 0, 0}));

    MailboxResponse resp{
        opcode::kClearEventRecords, static_cast<uint16_t>(ReturnCode::InvalidHandle), 0, false, {}};
    EXPECT_NE(parse(all, resp).error().message.find("Invalid Handle"), std::string::npos);
}

TEST(EventInterruptPolicy, FourOrFiveBytes) {
    auto p = decode_event_interrupt_policy(Bytes{0x01, 0x21, 0x02, 0x00});
    ASSERT_TRUE(p.ok());
    EXPECT_EQ(p->warning.mode, 1);
    EXPECT_EQ(p->warning.message_number, 2);
    EXPECT_EQ(p->failure.mode, 2);
    EXPECT_FALSE(p->dynamic_capacity.has_value());
    auto j = event_interrupt_policy_to_json(*p);
    EXPECT_EQ(j["failure"]["mode"], "firmware");
    EXPECT_EQ(j["warning"]["message_number"], 2);

    auto five = decode_event_interrupt_policy(Bytes{0, 0, 0, 0, 0x31, 0x99});
    ASSERT_TRUE(five.ok());
    ASSERT_TRUE(five->dynamic_capacity.has_value());
    EXPECT_EQ(five->dynamic_capacity->message_number, 3);
    EXPECT_FALSE(decode_event_interrupt_policy(Bytes{1, 1, 1}).ok());

    EventInterruptPolicy set;
    set.informational = {1, 4};
    set.fatal = {1, 7};
    auto in = encode_event_interrupt_policy(set);
    ASSERT_TRUE(in.ok());
    EXPECT_EQ(*in, (Bytes{0x41, 0, 0, 0x71}));
    set.dynamic_capacity = InterruptSetting{1, 1};
    EXPECT_EQ(set_event_interrupt_policy(set)->request.input.size(), 5u);
    set.warning.mode = 3;
    EXPECT_EQ(encode_event_interrupt_policy(set).error().code, Errc::InvalidArgument);
    set.warning = {1, 16};
    EXPECT_FALSE(encode_event_interrupt_policy(set).ok());
}

TEST(EventLogNames, RoundTrip) {
    for (uint8_t i = 0; i <= 4; ++i) {
        auto log = static_cast<EventLog>(i);
        EXPECT_EQ(*parse_event_log(event_log_name(log)), log);
    }
    EXPECT_FALSE(parse_event_log("debug").ok());
}

}  // namespace
}  // namespace cxlmgr::cxl
