// Event logs against the emulated device: injected records read back and decoded field by
// field, cleared by handle and all at once, paged with More Records, interrupt policy.
#include <gtest/gtest.h>

#include "cxl/command_table.hpp"
#include "cxl/commands/events.hpp"
#include "tests/cxl/emu_rig.hpp"

namespace cxlmgr::cxl {
namespace {

using testing::EmuRig;

void inject(EmuRig& rig, emu::EventLog log, emu::EventKind kind, const nlohmann::json& fields) {
    Status s = rig.model->inject_event(log, kind, fields);
    ASSERT_TRUE(s.ok()) << s.error().describe();
}

TEST(EmuEvents, InjectedRecordsDecodeFieldByField) {
    EmuRig rig;
    inject(rig, emu::EventLog::Warning, emu::EventKind::GeneralMedia,
           {{"dpa", 0x40000},
            {"descriptor", 1},
            {"type", 2},
            {"transaction_type", 3},
            {"channel", 4},
            {"rank", 5}});
    inject(rig, emu::EventLog::Warning, emu::EventKind::Dram,
           {{"dpa", 0x80000}, {"bank_group", 2}, {"bank", 3}, {"row", 0x1234}, {"column", 0x56}});
    inject(rig, emu::EventLog::Warning, emu::EventKind::MemoryModule,
           {{"type", 3}, {"temperature", 71}, {"life_used", 12}});

    auto status = rig.mailbox->read_event_status();
    ASSERT_TRUE(status.ok());
    EXPECT_EQ(*status & 0xF, 1u << 1) << "only the warning log has records";

    auto page = rig.typed(get_event_records(EventLog::Warning));
    ASSERT_TRUE(page.ok()) << page.error().describe();
    ASSERT_EQ(page->records.size(), 3u);
    EXPECT_FALSE(page->overflow);

    const EventRecord& gm = page->records[0];
    EXPECT_EQ(gm.kind, EventRecordKind::GeneralMedia) << gm.header.uuid.to_string();
    EXPECT_EQ(gm.header.severity(), EventSeverity::Warning);
    EXPECT_NE(gm.header.handle, 0);
    const auto& g = std::get<GeneralMediaEvent>(gm.body);
    EXPECT_EQ(g.media.dpa, 0x40000u);
    EXPECT_EQ(g.media.descriptor, 1);
    EXPECT_EQ(g.media.type, 2);
    EXPECT_EQ(g.media.transaction_type, 3);
    EXPECT_EQ(g.media.channel, 4);
    EXPECT_EQ(g.media.rank, 5);
    EXPECT_EQ(g.media.validity_flags & 0x3, 0x3) << "channel and rank valid";

    const EventRecord& dram = page->records[1];
    ASSERT_EQ(dram.kind, EventRecordKind::Dram);
    const auto& d = std::get<DramEvent>(dram.body);
    EXPECT_EQ(d.media.dpa, 0x80000u);
    EXPECT_EQ(d.bank_group, 2);
    EXPECT_EQ(d.bank, 3);
    EXPECT_EQ(d.row, 0x1234u);
    EXPECT_EQ(d.column, 0x56);

    const EventRecord& mm = page->records[2];
    ASSERT_EQ(mm.kind, EventRecordKind::MemoryModule);
    const auto& m = std::get<MemoryModuleEvent>(mm.body);
    EXPECT_EQ(m.device_event_type, 3);
    EXPECT_EQ(m.health.temperature, 71);
    EXPECT_EQ(m.health.life_used, 12);

    auto j = event_records_to_json(*page);
    EXPECT_EQ(j["records"][0]["dpa"], 0x40000);
    EXPECT_EQ(j["records"][1]["row"], 0x1234);
    EXPECT_NO_THROW((void)j.dump());
}

TEST(EmuEvents, ClearByHandlesEmptiesTheLog) {
    EmuRig rig;
    for (int i = 0; i < 3; ++i) {
        inject(rig, emu::EventLog::Failure, emu::EventKind::GeneralMedia, {{"dpa", 0x1000 * i}});
    }
    auto page = rig.typed(get_event_records(EventLog::Failure));
    ASSERT_TRUE(page.ok());
    ASSERT_EQ(page->records.size(), 3u);
    std::vector<uint16_t> handles;
    for (const auto& r : page->records) {
        handles.push_back(r.header.handle);
    }
    // Out of temporal order: the device refuses and clears nothing.
    std::vector<uint16_t> later_only = {handles[1]};
    auto bad = clear_event_records(EventLog::Failure, later_only, 2048);
    auto refused = rig.typed(std::move(bad->command));
    ASSERT_FALSE(refused.ok());
    EXPECT_TRUE(refused.error().cxl_return_code.has_value());

    auto clear = clear_event_records(EventLog::Failure, handles, 2048);
    ASSERT_TRUE(clear.ok());
    EXPECT_EQ(clear->consumed, 3u);
    ASSERT_TRUE(rig.typed(std::move(clear->command)).ok());
    page = rig.typed(get_event_records(EventLog::Failure));
    ASSERT_TRUE(page.ok());
    EXPECT_TRUE(page->records.empty());
    EXPECT_FALSE(page->more_records);
    EXPECT_EQ(*rig.mailbox->read_event_status() & 0xF, 0u);
}

TEST(EmuEvents, SmallPayloadPagesWithMoreRecordsAndClearAll) {
    EmuRig rig(nlohmann::json{{"payload_size", 256}});  // one record per Get
    for (int i = 0; i < 3; ++i) {
        inject(rig, emu::EventLog::Informational, emu::EventKind::Dram, {{"row", i + 1}});
    }
    auto page = rig.typed(get_event_records(EventLog::Informational));
    ASSERT_TRUE(page.ok()) << page.error().describe();
    ASSERT_EQ(page->records.size(), 1u);
    EXPECT_TRUE(page->more_records);

    ASSERT_TRUE(rig.typed(clear_all_event_records(EventLog::Informational)).ok());
    page = rig.typed(get_event_records(EventLog::Informational));
    ASSERT_TRUE(page.ok());
    EXPECT_TRUE(page->records.empty());
}

TEST(EmuEvents, InterruptPolicyRoundTrip) {
    EmuRig rig;
    EventInterruptPolicy p;
    p.informational = {1, 2};
    p.warning = {1, 3};
    p.failure = {1, 4};
    p.fatal = {1, 5};
    ASSERT_TRUE(rig.typed(*set_event_interrupt_policy(p)).ok());
    auto got = rig.typed(get_event_interrupt_policy());
    ASSERT_TRUE(got.ok()) << got.error().describe();
    EXPECT_EQ(got->warning.mode, 1);
    EXPECT_EQ(got->warning.message_number, 3);
    EXPECT_EQ(got->fatal.message_number, 5);
}

}  // namespace
}  // namespace cxlmgr::cxl
