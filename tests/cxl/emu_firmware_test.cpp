// Firmware update against the emulated device: Get FW Info, a whole Transfer FW sequence with
// background completion, verification, activation, verification failure and abort.
#include <gtest/gtest.h>

#include "cxl/command_table.hpp"
#include "cxl/commands/firmware.hpp"
#include "cxl/return_code.hpp"
#include "emu/firmware_image.hpp"
#include "tests/cxl/emu_rig.hpp"

namespace cxlmgr::cxl {
namespace {

using testing::EmuRig;

Bytes image(const std::string& revision, size_t payload_bytes) {
    Bytes payload(payload_bytes);
    for (size_t i = 0; i < payload.size(); ++i) {
        payload[i] = static_cast<uint8_t>(i * 31 + 7);
    }
    return emu::build_firmware_image(revision, payload);
}

TEST(EmuFirmware, InfoReportsTheDescribedSlots) {
    EmuRig rig(nlohmann::json{{"fw_revision", "EMU FW 1.0"},
                              {"firmware", {{"slots", 2}, {"online_activation", true}}}});
    auto info = rig.typed(get_fw_info());
    ASSERT_TRUE(info.ok()) << info.error().describe();
    EXPECT_EQ(info->slot_count, 2);
    EXPECT_EQ(info->active_slot, 1);
    EXPECT_EQ(info->staged_slot, 0);
    EXPECT_TRUE(info->online_activation);
    EXPECT_EQ(info->slot_revisions, (std::vector<std::string>{"EMU FW 1.0", ""}));
}

TEST(EmuFirmware, TransferVerifyActivateOnline) {
    EmuRig rig(nlohmann::json{{"payload_size", 512}, {"firmware", {{"online_activation", true}}}});
    const Bytes img = image("EMU FW 2.0", 5000);  // 12 parts of 384 bytes
    ASSERT_GT(img.size(), 10 * transfer_fw_max_data(512));
    Status s = rig.transfer(img, 2);
    ASSERT_TRUE(s.ok()) << s.error().describe();
    EXPECT_FALSE(rig.model->firmware_transfer_open());

    auto info = rig.typed(get_fw_info());
    ASSERT_TRUE(info.ok());
    EXPECT_EQ(info->slot_revisions.at(1), "EMU FW 2.0") << "the slot verified and installed";
    EXPECT_EQ(info->active_slot, 1);

    ASSERT_TRUE(rig.typed(*activate_fw(ActivateMode::Online, 2)).ok());
    info = rig.typed(get_fw_info());
    ASSERT_TRUE(info.ok());
    EXPECT_EQ(info->active_slot, 2);
    auto j = fw_info_to_json(*info);
    EXPECT_EQ(j["active_slot"], 2);
}

TEST(EmuFirmware, SingleFullTransferAndOnResetActivation) {
    EmuRig rig;
    const Bytes img = image("EMU FW 3.0", 300);
    ASSERT_LE(img.size(), transfer_fw_max_data(2048));
    ASSERT_TRUE(rig.transfer(img, 3).ok());
    ASSERT_TRUE(rig.typed(*activate_fw(ActivateMode::OnReset, 3)).ok());
    auto info = rig.typed(get_fw_info());
    ASSERT_TRUE(info.ok());
    EXPECT_EQ(info->staged_slot, 3);
    EXPECT_EQ(info->active_slot, 1);
}

TEST(EmuFirmware, BackgroundProgressIsFollowedWhenTheDeviceTakesTime) {
    EmuRig rig(nlohmann::json{{"timing", {{"fw_transfer_us_per_kib", 20000}}}});
    const Bytes img = image("EMU FW 4.0", 3000);
    std::vector<unsigned> progress;
    ASSERT_TRUE(rig.transfer(img, 2, [&](unsigned p) { progress.push_back(p); }).ok());
    ASSERT_FALSE(progress.empty());
    EXPECT_EQ(progress.back(), 100u);
    EXPECT_GT(progress.size(), 2u) << "intermediate percentages are reported";
    auto info = rig.typed(get_fw_info());
    ASSERT_TRUE(info.ok());
    EXPECT_EQ(info->slot_revisions.at(1), "EMU FW 4.0");
}

TEST(EmuFirmware, VerificationFailureIsADeviceErrorAndLeavesTheSlot) {
    EmuRig rig;
    rig.model->arm_fault(emu::Fault::FwVerifyFail);
    Status s = rig.transfer(image("EMU FW 5.0", 6000), 2);
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.error().code, Errc::DeviceError);
    EXPECT_EQ(s.error().cxl_return_code,
              std::optional<uint16_t>(static_cast<uint16_t>(ReturnCode::FwVerificationFailed)));
    EXPECT_NE(s.error().message.find("FW Verification Failed"), std::string::npos);
    auto info = rig.typed(get_fw_info());
    ASSERT_TRUE(info.ok());
    EXPECT_EQ(info->slot_revisions.at(1), "");
}

TEST(EmuFirmware, CorruptImageFailsVerification) {
    EmuRig rig;
    Bytes img = image("EMU FW 6.0", 6000);
    img[0x100] ^= 0xFF;
    Status s = rig.transfer(img, 2);
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.error().cxl_return_code,
              std::optional<uint16_t>(static_cast<uint16_t>(ReturnCode::FwVerificationFailed)));
}

TEST(EmuFirmware, AbortEndsAnOpenTransfer) {
    EmuRig rig;
    const Bytes img = image("EMU FW 7.0", 6000);
    const uint32_t payload = rig.mailbox->payload_size();
    const ByteSpan first = ByteSpan(img).first(transfer_fw_max_data(payload));
    ASSERT_TRUE(rig.typed(*transfer_fw({TransferAction::Initiate, 0, 0, first}, payload)).ok());
    EXPECT_TRUE(rig.model->firmware_transfer_open());

    // A second initiate while one is open is refused by the device with its code.
    auto again = rig.typed(*transfer_fw({TransferAction::Initiate, 0, 0, first}, payload));
    ASSERT_FALSE(again.ok());
    EXPECT_EQ(again.error().cxl_return_code,
              std::optional<uint16_t>(static_cast<uint16_t>(ReturnCode::FwTransferInProgress)));

    ASSERT_TRUE(rig.typed(*transfer_fw({TransferAction::Abort, 0, 0, {}}, payload)).ok());
    EXPECT_FALSE(rig.model->firmware_transfer_open());
}

TEST(EmuFirmware, ActiveSlotCannotBeOverwritten) {
    EmuRig rig;
    Status s = rig.transfer(image("EMU FW 8.0", 100), 1);
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.error().cxl_return_code, std::optional<uint16_t>(0x0B));
    EXPECT_NE(s.error().message.find("Invalid Slot"), std::string::npos);
}

}  // namespace
}  // namespace cxlmgr::cxl
