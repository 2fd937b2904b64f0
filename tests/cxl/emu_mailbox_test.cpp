// The host side against the emulated device: discovery, Identify, Health, logs, timestamps and
// the transport's fault handling, all through pci::EmulatedDevice.
#include <gtest/gtest.h>

#include <thread>

#include "cxl/command_table.hpp"
#include "cxl/commands/health.hpp"
#include "cxl/commands/identify.hpp"
#include "cxl/commands/logs.hpp"
#include "cxl/commands/timestamp.hpp"
#include "cxl/return_code.hpp"
#include "tests/cxl/emu_rig.hpp"

namespace cxlmgr::cxl {
namespace {

using namespace std::chrono_literals;
using testing::EmuRig;

TEST(EmuMailbox, DiscoversTheRegistersAndThePayloadSize) {
    EmuRig rig(nlohmann::json{{"payload_size", 256}});
    EXPECT_EQ(rig.mailbox->payload_size(), 256u);
    const auto& m = rig.mailbox->registers();
    EXPECT_EQ(m.bar_index, emu::Type3Device::kDeviceBar);
    EXPECT_EQ(m.mailbox.offset, emu::Type3Device::kMailboxOffset);
    EXPECT_EQ(m.memdev_status.offset, emu::Type3Device::kMemdevStatusOffset);
    auto memdev = rig.mailbox->read_memdev_status();
    ASSERT_TRUE(memdev.ok());
    EXPECT_TRUE(memdev->mailbox_ready);
    EXPECT_EQ(memdev->media_status, 1);
}

TEST(EmuMailbox, IdentifyReportsTheDescribedDevice) {
    EmuRig rig(nlohmann::json{{"volatile_capacity", 512ull << 20},
                              {"persistent_capacity", 256ull << 20},
                              {"fw_revision", "EMU 7.1"}});
    auto id = rig.typed(identify_memory_device());
    ASSERT_TRUE(id.ok()) << id.error().describe();
    EXPECT_EQ(id->fw_revision, "EMU 7.1");
    EXPECT_EQ(id->total_capacity, 768ull << 20);
    EXPECT_EQ(id->volatile_capacity, 512ull << 20);
    EXPECT_EQ(id->persistent_capacity, 256ull << 20);
    auto j = identify_to_json(*id);
    EXPECT_EQ(j["total_capacity"], 768ull << 20);
}

TEST(EmuMailbox, AsyncTypedCommandSendsAndParses) {
    EmuRig rig;
    std::optional<Result<IdentifyInfo>> got;
    async_typed_command<IdentifyInfo>(*rig.mailbox, identify_memory_device(), {},
                                      [&](Result<IdentifyInfo> r) { got = std::move(r); });
    rig.io.restart();
    rig.io.run();
    ASSERT_TRUE(got.has_value());
    ASSERT_TRUE(got->ok()) << got->error().describe();
    EXPECT_EQ((*got)->total_capacity, rig.model->description().total_capacity());

    got.reset();
    rig.model->arm_fault(emu::Fault::SurpriseRemoval);
    async_typed_command<IdentifyInfo>(*rig.mailbox, identify_memory_device(), {},
                                      [&](Result<IdentifyInfo> r) { got = std::move(r); });
    rig.io.restart();
    rig.io.run();
    ASSERT_TRUE(got.has_value());
    EXPECT_EQ(got->error().code, Errc::DeviceGone);
}

TEST(EmuMailbox, HealthInfoDecodes) {
    EmuRig rig;
    auto h = rig.typed(get_health_info());
    ASSERT_TRUE(h.ok()) << h.error().describe();
    EXPECT_LE(h->life_used, 100);
    EXPECT_NO_THROW((void)health_to_json(*h).dump());
}

TEST(EmuMailbox, UnknownCommandIsAnAnswerForRawAndAnErrorForTyped) {
    EmuRig rig;
    auto raw = rig.raw(MailboxRequest{opcode::kGetPartitionInfo, {}, {}});
    ASSERT_TRUE(raw.ok()) << raw.error().describe();
    EXPECT_EQ(raw->return_code, static_cast<uint16_t>(ReturnCode::Unsupported));
    EXPECT_TRUE(raw->output.empty());
    auto typed =
        rig.typed(make_command<Unit>(command_spec(opcode::kGetPartitionInfo), {}, decode_nothing));
    ASSERT_FALSE(typed.ok());
    EXPECT_EQ(typed.error().code, Errc::Unsupported);
    EXPECT_NE(typed.error().message.find("Get Partition Info is not supported"), std::string::npos);
}

TEST(EmuMailbox, CommandEffectsLogThroughSupportedLogsAndGetLog) {
    EmuRig rig(nlohmann::json{{"payload_size", 256}});
    auto logs = rig.typed(get_supported_logs());
    ASSERT_TRUE(logs.ok()) << logs.error().describe();
    const Uuid cel_id = known_uuid(uuids::kCommandEffectsLog);
    const SupportedLog* cel_log = nullptr;
    for (const auto& l : *logs) {
        if (l.uuid == cel_id) {
            cel_log = &l;
        }
    }
    ASSERT_NE(cel_log, nullptr) << "the CEL must be listed (UUID byte order must agree)";
    Bytes cel_bytes;
    const uint32_t payload = rig.mailbox->payload_size();
    while (cel_bytes.size() < cel_log->size) {
        const auto n =
            std::min<uint32_t>(payload, cel_log->size - static_cast<uint32_t>(cel_bytes.size()));
        auto command = get_log(cel_id, static_cast<uint32_t>(cel_bytes.size()), n, payload);
        ASSERT_TRUE(command.ok());
        auto part = rig.typed(std::move(*command));
        ASSERT_TRUE(part.ok()) << part.error().describe();
        ASSERT_FALSE(part->empty());
        cel_bytes.insert(cel_bytes.end(), part->begin(), part->end());
    }
    auto cel = decode_command_effects_log(cel_bytes);
    ASSERT_TRUE(cel.ok()) << cel.error().describe();
    bool transfer_is_background = false, has_identify = false;
    for (const auto& e : *cel) {
        has_identify |= e.opcode == opcode::kIdentifyMemoryDevice;
        if (e.opcode == opcode::kTransferFw) {
            transfer_is_background = (e.effects & kEffectBackground) != 0;
        }
    }
    EXPECT_TRUE(has_identify);
    EXPECT_TRUE(transfer_is_background);

    // The emulated device's effects, written independently, agree with the host table on what
    // only reads.
    constexpr uint16_t kChanges = kEffectConfigChangeColdReset | kEffectImmediateConfigChange |
                                  kEffectImmediateDataChange | kEffectImmediatePolicyChange |
                                  kEffectImmediateLogChange | kEffectSecurityStateChange |
                                  kEffectBackground;
    for (const auto& e : *cel) {
        ASSERT_NE(find_command(e.opcode), nullptr) << opcode::describe(e.opcode);
        EXPECT_EQ(command_is_read_only(e.opcode), (e.effects & kChanges) == 0)
            << opcode::describe(e.opcode);
    }
}

TEST(EmuMailbox, TimestampRoundTrip) {
    EmuRig rig;
    const uint64_t now = 1'700'000'000'000'000'000ull;
    ASSERT_TRUE(rig.typed(set_timestamp(now)).ok());
    auto ts = rig.typed(get_timestamp());
    ASSERT_TRUE(ts.ok()) << ts.error().describe();
    EXPECT_GE(*ts, now);
    EXPECT_LT(*ts, now + 60'000'000'000ull);
}

TEST(EmuMailbox, InjectedTimeoutFaultTakesTheMailboxOutOfServiceUntilReset) {
    MailboxConfig config;
    config.doorbell_timeout = 50ms;
    EmuRig rig(nlohmann::json{{"timing", {{"mailbox_timeout_fault_us", 300000}}}}, config);
    rig.model->arm_fault(emu::Fault::MailboxTimeout);
    auto r = rig.raw(identify_memory_device().request);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, Errc::Timeout);
    ASSERT_TRUE(rig.mailbox->failure().has_value());
    EXPECT_EQ(rig.raw(identify_memory_device().request).error().code, Errc::DeviceError);
    EXPECT_EQ(rig.mailbox->reset().error().code, Errc::Busy) << "the doorbell is still set";
    std::this_thread::sleep_for(300ms);
    ASSERT_TRUE(rig.mailbox->reset().ok());
    EXPECT_TRUE(rig.typed(identify_memory_device()).ok());
}

TEST(EmuMailbox, InjectedBusyLengthLieAndRemoval) {
    EmuRig rig(nlohmann::json{{"timing", {{"mailbox_busy_fault_us", 20000}}}});
    rig.model->arm_fault(emu::Fault::MailboxBusy);
    auto busy = rig.raw(identify_memory_device().request);
    ASSERT_FALSE(busy.ok());
    EXPECT_EQ(busy.error().code, Errc::Busy);

    rig.model->clear_faults();
    rig.model->arm_fault(emu::Fault::MailboxLengthLie);
    std::this_thread::sleep_for(40ms);  // the busy fault's foreign doorbell lapses
    auto lie = rig.raw(identify_memory_device().request);
    ASSERT_FALSE(lie.ok());
    EXPECT_EQ(lie.error().code, Errc::DeviceError);
    EXPECT_NE(lie.error().message.find("length lie"), std::string::npos) << lie.error().message;
    EXPECT_TRUE(rig.typed(identify_memory_device()).ok());

    rig.model->arm_fault(emu::Fault::SurpriseRemoval);
    EXPECT_EQ(rig.raw(identify_memory_device().request).error().code, Errc::DeviceGone);
    EXPECT_EQ(
        discover_device_registers(*std::make_shared<pci::EmulatedDevice>(rig.model)).error().code,
        Errc::DeviceGone);
}

}  // namespace
}  // namespace cxlmgr::cxl
