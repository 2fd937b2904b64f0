#include <gtest/gtest.h>

#include "cxl/command_table.hpp"
#include "cxl/commands/logs.hpp"
#include "cxl/commands/timestamp.hpp"
#include "cxl/return_code.hpp"

namespace cxlmgr::cxl {
namespace {

TEST(Uuid, ParseFormatAndWireOrder) {
    auto u = Uuid::parse("0DA9C0B5-bf41-4b78-8f79-96b1623b3f17");
    ASSERT_TRUE(u.ok());
    EXPECT_EQ(u->bytes[0], 0x0D);
    EXPECT_EQ(u->bytes[3], 0xB5);
    EXPECT_EQ(u->bytes[15], 0x17);
    EXPECT_EQ(u->to_string(), uuids::kCommandEffectsLog);
    EXPECT_FALSE(Uuid::parse("0da9c0b5-bf41-4b78-8f79-96b1623b3f1").ok());
    EXPECT_FALSE(Uuid::parse("0da9c0b5xbf41-4b78-8f79-96b1623b3f17").ok());
    EXPECT_FALSE(Uuid::parse("0da9c0b5-bf41-4b78-8f79-96b1623b3fzz").ok());
}

Bytes supported_logs_bytes(uint16_t count, size_t entries) {
    Bytes b(kSupportedLogsHeaderSize + entries * kSupportedLogEntrySize, 0);
    store_le(b, 0, count, 2);
    const Uuid cel = known_uuid(uuids::kCommandEffectsLog);
    for (size_t i = 0; i < entries; ++i) {
        const size_t at = kSupportedLogsHeaderSize + i * kSupportedLogEntrySize;
        std::copy(cel.bytes.begin(), cel.bytes.end(), b.begin() + static_cast<long>(at));
        store_le(b, at + 16, 0x40 + i, 4);
    }
    return b;
}

TEST(SupportedLogs, DecodesEntriesAndChecksTheCount) {
    auto r = decode_supported_logs(supported_logs_bytes(2, 2));
    ASSERT_TRUE(r.ok()) << r.error().describe();
    ASSERT_EQ(r->size(), 2u);
    EXPECT_EQ((*r)[0].uuid, known_uuid(uuids::kCommandEffectsLog));
    EXPECT_EQ((*r)[1].size, 0x41u);
    auto j = supported_logs_to_json(*r);
    EXPECT_EQ(j[0]["uuid"], uuids::kCommandEffectsLog);
    EXPECT_EQ(j[0]["size"], 0x40);

    auto lie = decode_supported_logs(supported_logs_bytes(3, 2));
    ASSERT_FALSE(lie.ok());
    EXPECT_NE(lie.error().message.find("claims 3 entries"), std::string::npos);
    EXPECT_FALSE(decode_supported_logs(Bytes(7)).ok());
    Bytes longer = supported_logs_bytes(1, 2);
    EXPECT_EQ(decode_supported_logs(longer)->size(), 1u);
}

TEST(GetLog, InputLayoutAndLimits) {
    const Uuid cel = known_uuid(uuids::kCommandEffectsLog);
    auto command = get_log(cel, 0x100, 0x200, 2048);
    ASSERT_TRUE(command.ok());
    const MailboxRequest& req = command->request;
    EXPECT_EQ(req.opcode, opcode::kGetLog);
    ASSERT_EQ(req.input.size(), kGetLogInputSize);
    EXPECT_TRUE(std::equal(cel.bytes.begin(), cel.bytes.end(), req.input.begin()));
    EXPECT_EQ(u32_at(req.input, 16), 0x100u);
    EXPECT_EQ(u32_at(req.input, 20), 0x200u);
    EXPECT_FALSE(get_log(cel, 0, 4096, 2048).ok());
    EXPECT_FALSE(get_log(cel, 0, 0, 2048).ok());

    MailboxResponse resp{
        opcode::kGetLog, static_cast<uint16_t>(ReturnCode::InvalidLog), 0, false, {}};
    auto bad = parse(*command, resp);
    ASSERT_FALSE(bad.ok());
    EXPECT_NE(bad.error().message.find("Invalid Log"), std::string::npos);
    resp.return_code = static_cast<uint16_t>(ReturnCode::Success);
    resp.output = {1, 2, 3};
    EXPECT_EQ(*parse(*command, resp), (Bytes{1, 2, 3}));
    resp.output.clear();
    EXPECT_EQ(*parse(*command, resp), Bytes{}) << "a log's tail may be empty";
}

TEST(CommandEffectsLog, EntriesAndEffectNames) {
    Bytes log = {0x00, 0x40, 0x00, 0x00,   // Identify Memory Device, no effects
                 0x01, 0x02, 0x42, 0x01};  // Transfer FW: immediate config, background, abort
    auto cel = decode_command_effects_log(log);
    ASSERT_TRUE(cel.ok());
    ASSERT_EQ(cel->size(), 2u);
    EXPECT_EQ((*cel)[1].opcode, opcode::kTransferFw);
    EXPECT_EQ((*cel)[1].effects,
              kEffectImmediateConfigChange | kEffectBackground | kEffectAbortSupported);
    auto j = command_effects_log_to_json(*cel);
    EXPECT_EQ(j[0]["name"], "Identify Memory Device");
    EXPECT_EQ(j[1]["effect_names"],
              nlohmann::json({"immediate_config_change", "background_operation",
                              "request_abort_background_supported"}));
    auto odd = decode_command_effects_log(Bytes(6));
    ASSERT_FALSE(odd.ok());
    EXPECT_EQ(odd.error().code, Errc::DeviceError);
    EXPECT_TRUE(decode_command_effects_log({})->empty());
}

TEST(Timestamp, GetAndSet) {
    EXPECT_EQ(get_timestamp().request.opcode, opcode::kGetTimestamp);
    auto set = set_timestamp(0x0102030405060708ull);
    EXPECT_EQ(set.request.opcode, opcode::kSetTimestamp);
    EXPECT_EQ(set.request.input, (Bytes{8, 7, 6, 5, 4, 3, 2, 1}));
    EXPECT_EQ(*decode_timestamp(set.request.input), 0x0102030405060708ull);
    EXPECT_FALSE(decode_timestamp(Bytes(7)).ok());
    Bytes longer(16, 0);
    longer[0] = 5;
    EXPECT_EQ(*decode_timestamp(longer), 5u);
    EXPECT_EQ(timestamp_to_json(5)["timestamp"], 5);
    MailboxResponse resp{
        opcode::kSetTimestamp, static_cast<uint16_t>(ReturnCode::Unsupported), 0, false, {}};
    EXPECT_EQ(parse(set, resp).error().code, Errc::Unsupported);
}

}  // namespace
}  // namespace cxlmgr::cxl
