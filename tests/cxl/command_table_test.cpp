#include "cxl/command_table.hpp"

#include <gtest/gtest.h>

#include <set>
#include <string>

#include "cxl/commands/command.hpp"
#include "cxl/commands/firmware.hpp"
#include "cxl/commands/health.hpp"
#include "cxl/commands/timestamp.hpp"
#include "cxl/return_code.hpp"

namespace cxlmgr::cxl {
namespace {

constexpr uint16_t kVendorOpcode = 0xC000;  // vendor-specific command set: effects unknown

TEST(CommandTable, OpcodesAreUniqueAndSorted) {
    for (size_t i = 1; i < kCommandTable.size(); ++i) {
        EXPECT_LT(kCommandTable[i - 1].opcode, kCommandTable[i].opcode)
            << kCommandTable[i - 1].name << " / " << kCommandTable[i].name;
    }
}

TEST(CommandTable, LookupFindsEveryRowAndNothingElse) {
    for (const auto& spec : kCommandTable) {
        const CommandSpec* found = find_command(spec.opcode);
        ASSERT_NE(found, nullptr) << spec.name;
        EXPECT_EQ(found, &spec);
        EXPECT_EQ(opcode::name(spec.opcode), spec.name);
    }
    std::set<uint16_t> known;
    for (const auto& spec : kCommandTable) {
        known.insert(spec.opcode);
    }
    for (uint32_t op = 0; op <= 0xFFFF; ++op) {
        if (!known.count(static_cast<uint16_t>(op))) {
            ASSERT_EQ(find_command(static_cast<uint16_t>(op)), nullptr) << op;
        }
    }
}

TEST(CommandTable, NamesAreTheSpecificationsAndUnique) {
    std::set<std::string_view> names;
    for (const auto& spec : kCommandTable) {
        EXPECT_FALSE(spec.name.empty());
        EXPECT_TRUE(names.insert(spec.name).second) << "duplicate " << spec.name;
    }
    EXPECT_EQ(opcode::name(opcode::kGetHealthInfo), "Get Health Info");
    EXPECT_EQ(opcode::name(opcode::kTransferFw), "Transfer FW");
    EXPECT_EQ(opcode::name(opcode::kGetAlertConfig), "Get Alert Configuration");
    EXPECT_EQ(opcode::name(opcode::kGetScanMediaCapabilities), "Get Scan Media Capabilities");
    EXPECT_EQ(opcode::name(opcode::kMediaOperations), "Media Operations");
    EXPECT_EQ(opcode::name(opcode::kGetSupportedFeatures), "Get Supported Features");
    EXPECT_EQ(opcode::describe(opcode::kGetHealthInfo), "Get Health Info (0x4200)");
    EXPECT_EQ(opcode::describe(opcode::kTransferFw), "Transfer FW (0x0201)");
    EXPECT_EQ(opcode::describe(kVendorOpcode), "command 0xc000");
    EXPECT_EQ(opcode::name(kVendorOpcode), "");
}

// Sizes the command modules derive from the table are the table's, at compile time.
static_assert(command_spec(opcode::kGetHealthInfo).min_output == kHealthInfoSize);
static_assert(command_spec(opcode::kGetFwInfo).min_output == kFwInfoOutputSize);
static_assert(command_spec(opcode::kTransferFw).input.bytes == kTransferFwHeaderSize);

// The raw command policy before the table: the opcodes daemon/managed_device.cpp's switch let
// through without --allow-raw-writes.
const std::set<uint16_t> kOldReadOnly = {
    opcode::kIdentify,
    opcode::kBackgroundOperationStatus,
    opcode::kGetEventRecords,
    opcode::kGetEventInterruptPolicy,
    opcode::kGetFwInfo,
    opcode::kGetTimestamp,
    opcode::kGetSupportedLogs,
    opcode::kGetLog,
    opcode::kIdentifyMemoryDevice,
    opcode::kGetPartitionInfo,
    opcode::kGetLsa,
    opcode::kGetHealthInfo,
    opcode::kGetAlertConfig,
    opcode::kGetShutdownState,
    opcode::kGetPoisonList,
    opcode::kGetScanMediaCapabilities,
    opcode::kGetScanMediaResults,
    opcode::kGetSecurityState,
};

TEST(CommandTable, ReadOnlyIsTheOldSwitchPlusTheNewFeatureReads) {
    std::set<uint16_t> read_only;
    for (const auto& spec : kCommandTable) {
        if (spec.read_only()) {
            read_only.insert(spec.opcode);
        }
        EXPECT_EQ(command_is_read_only(spec.opcode), spec.effects.none()) << spec.name;
    }
    // Get Supported Features and Get Feature came with the table; both only read.
    std::set<uint16_t> expected = kOldReadOnly;
    expected.insert(opcode::kGetSupportedFeatures);
    expected.insert(opcode::kGetFeature);
    EXPECT_EQ(read_only, expected);
}

TEST(CommandTable, WritesAndUnknownOpcodesAreNotReadOnly) {
    EXPECT_FALSE(command_is_read_only(opcode::kTransferFw));
    EXPECT_FALSE(command_is_read_only(opcode::kActivateFw));
    EXPECT_FALSE(command_is_read_only(opcode::kClearEventRecords));  // the collector's records
    EXPECT_FALSE(command_is_read_only(opcode::kSetTimestamp));
    EXPECT_FALSE(command_is_read_only(opcode::kSanitize));
    EXPECT_FALSE(command_is_read_only(opcode::kRequestAbortBackgroundOperation));
    EXPECT_FALSE(command_is_read_only(kVendorOpcode));
    EXPECT_FALSE(command_is_read_only(0xFFFF));
    EXPECT_TRUE(command_is_read_only(opcode::kIdentifyMemoryDevice));
}

TEST(CommandTable, BackgroundRowsAndTimeouts) {
    for (const auto& spec : kCommandTable) {
        if (spec.background_timeout != kDefaultBackgroundTimeout) {
            EXPECT_TRUE(spec.effects.has(Effect::Background)) << spec.name;
        }
    }
    EXPECT_EQ(command_spec(opcode::kTransferFw).background_timeout, kFirmwareBackgroundTimeout);
    EXPECT_EQ(command_spec(opcode::kActivateFw).background_timeout, kFirmwareBackgroundTimeout);
    EXPECT_GT(command_spec(opcode::kSanitize).background_timeout, kFirmwareBackgroundTimeout);
    EXPECT_TRUE(command_spec(opcode::kSanitize).effects.has(Effect::Security));
    EXPECT_FALSE(command_spec(opcode::kGetHealthInfo).effects.has(Effect::Background));
}

TEST(CommandTable, WhatTakesTheBackgroundSlotAndHowLongItIsExpectedToRun) {
    for (const auto& spec : kCommandTable) {
        EXPECT_EQ(command_may_run_in_background(spec.opcode), spec.effects.has(Effect::Background))
            << spec.name;
        EXPECT_EQ(spec.expected_duration.count() > 0, spec.effects.has(Effect::Background))
            << spec.name;
        EXPECT_LE(spec.expected_duration, spec.background_timeout) << spec.name;
    }
    // The host cannot tell what a vendor command does: it is arbitrated as if it might.
    EXPECT_TRUE(command_may_run_in_background(kVendorOpcode));
    EXPECT_FALSE(command_may_run_in_background(opcode::kRequestAbortBackgroundOperation));
    EXPECT_FALSE(command_may_run_in_background(opcode::kIdentifyMemoryDevice));
    EXPECT_LT(command_spec(opcode::kTransferFw).expected_duration,
              command_spec(opcode::kSanitize).expected_duration);
}

TEST(CommandTable, InputRules) {
    const auto& none = command_spec(opcode::kGetHealthInfo);
    EXPECT_TRUE(check_input(none, 0, 256).ok());
    auto r = check_input(none, 1, 256);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, Errc::InvalidArgument);
    EXPECT_EQ(r.error().message, "Get Health Info takes no input bytes, not 1");

    const auto& exact = command_spec(opcode::kSetTimestamp);
    EXPECT_TRUE(check_input(exact, 8, 256).ok());
    EXPECT_FALSE(check_input(exact, 9, 256).ok());
    r = check_input(exact, 3, 256);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().message, "Set Timestamp takes exactly 8 bytes of input, not 3");

    const auto& header = command_spec(opcode::kTransferFw);
    EXPECT_FALSE(check_input(header, 0x7F, 2048).ok());
    EXPECT_TRUE(check_input(header, 0x80, 2048).ok());
    EXPECT_TRUE(check_input(header, 2048, 2048).ok());
    r = check_input(header, 2049, 2048);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find("2048-byte payload"), std::string::npos) << r.error().message;
    EXPECT_TRUE(check_input(header, 4096, 0).ok()) << "payload size 0: not known, not checked";

    CommandSpec variable{kVendorOpcode, "Vendor Thing", kVariableInput, 0, Effect::Data};
    EXPECT_TRUE(check_input(variable, 0, 256).ok());
    EXPECT_TRUE(check_input(variable, 256, 256).ok());
    EXPECT_FALSE(check_input(variable, 257, 256).ok());

    EXPECT_EQ(describe_input(exact.input), "exactly 8 bytes");
    EXPECT_EQ(describe_input(header.input), "at least 128 bytes");
    EXPECT_EQ(describe_input(none.input), "none");
    EXPECT_EQ(describe_input(variable.input), "variable");
}

// --- Command<T> and parse ---

MailboxResponse answer(uint16_t op, ReturnCode code, Bytes output = {}) {
    return MailboxResponse{op, static_cast<uint16_t>(code), 0, false, std::move(output)};
}

TEST(TypedCommand, BuilderTakesOpcodeInputAndOptionsFromTheRow) {
    auto health = get_health_info();
    EXPECT_EQ(health.spec, &command_spec(opcode::kGetHealthInfo));
    EXPECT_EQ(health.request.opcode, opcode::kGetHealthInfo);
    EXPECT_TRUE(health.request.input.empty());
    EXPECT_EQ(health.request.options.background_timeout, kDefaultBackgroundTimeout);

    auto set = set_timestamp(0x0102030405060708ull);
    EXPECT_EQ(set.request.opcode, opcode::kSetTimestamp);
    EXPECT_EQ(set.request.input, (Bytes{8, 7, 6, 5, 4, 3, 2, 1}));

    auto abort = transfer_fw({TransferAction::Abort, 0, 0, {}}, 256);
    ASSERT_TRUE(abort.ok()) << abort.error().describe();
    EXPECT_EQ(abort->request.opcode, opcode::kTransferFw);
    EXPECT_EQ(abort->request.options.background_timeout, kFirmwareBackgroundTimeout);
}

TEST(TypedCommand, NonSuccessCodeIsAnErrorNamingTheCommandAndCode) {
    const auto health = get_health_info();
    auto r = parse(health, answer(opcode::kGetHealthInfo, ReturnCode::Unsupported));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, Errc::Unsupported);
    EXPECT_EQ(r.error().cxl_return_code,
              std::optional<uint16_t>(static_cast<uint16_t>(ReturnCode::Unsupported)));
    EXPECT_NE(r.error().message.find("Get Health Info"), std::string::npos) << r.error().message;
    EXPECT_NE(r.error().message.find("0x03 Unsupported"), std::string::npos) << r.error().message;

    auto set = set_timestamp(1);
    auto s = parse(set, answer(opcode::kSetTimestamp, ReturnCode::InvalidInput));
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.error().code, Errc::DeviceError);
    EXPECT_EQ(s.error().cxl_return_code,
              std::optional<uint16_t>(static_cast<uint16_t>(ReturnCode::InvalidInput)));
    EXPECT_NE(s.error().message.find("Set Timestamp"), std::string::npos) << s.error().message;
    EXPECT_NE(s.error().message.find("Invalid Input"), std::string::npos) << s.error().message;
}

TEST(TypedCommand, ShortOutputIsADeviceErrorNamingTheCommandAndBothLengths) {
    auto r =
        parse(get_health_info(), answer(opcode::kGetHealthInfo, ReturnCode::Success, Bytes(5, 0)));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, Errc::DeviceError);
    EXPECT_FALSE(r.error().cxl_return_code.has_value());
    EXPECT_EQ(r.error().message,
              "Get Health Info returned 5 bytes of output, fewer than the 18 (0x12) it must "
              "return");
}

TEST(TypedCommand, TheTablesMinimumHoldsWhateverTheDecoderAccepts) {
    // A decoder that accepts anything: the row's minimum output still refuses a short answer.
    auto command = make_command<Unit>(command_spec(opcode::kGetTimestamp), {}, decode_nothing);
    auto r = parse(command, answer(opcode::kGetTimestamp, ReturnCode::Success, Bytes(7, 0)));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, Errc::DeviceError);
    EXPECT_NE(r.error().message.find("Get Timestamp returned 7 bytes"), std::string::npos)
        << r.error().message;
    EXPECT_TRUE(
        parse(command, answer(opcode::kGetTimestamp, ReturnCode::Success, Bytes(8, 0))).ok());
}

TEST(TypedCommand, SuccessDecodes) {
    Bytes out(kHealthInfoSize + 4, 0);  // longer than known: a later revision's fields
    out[3] = 42;                        // life used
    out[4] = 0xFB;                      // temperature -5
    out[5] = 0xFF;
    auto r = parse(get_health_info(), answer(opcode::kGetHealthInfo, ReturnCode::Success, out));
    ASSERT_TRUE(r.ok()) << r.error().describe();
    EXPECT_EQ(r->life_used, 42);
    EXPECT_EQ(r->temperature, -5);

    auto unit = parse(set_timestamp(5), answer(opcode::kSetTimestamp, ReturnCode::Success));
    ASSERT_TRUE(unit.ok()) << unit.error().describe();
    EXPECT_EQ(*unit, Unit{});
}

}  // namespace
}  // namespace cxlmgr::cxl
