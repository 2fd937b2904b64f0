#include <gtest/gtest.h>

#include "cxl/command_table.hpp"
#include "cxl/commands/firmware.hpp"
#include "cxl/return_code.hpp"

namespace cxlmgr::cxl {
namespace {

Bytes fw_info_bytes(uint8_t slots = 2, uint8_t active = 1, uint8_t staged = 2) {
    Bytes b(kFwInfoOutputSize, 0);
    b[0] = slots;
    b[1] = static_cast<uint8_t>(active | (staged << 3));
    b[2] = 1;
    const std::string a = "REV A", c = "REV B";
    std::copy(a.begin(), a.end(), b.begin() + 0x10);
    std::copy(c.begin(), c.end(), b.begin() + 0x20);
    return b;
}

TEST(FwInfo, DecodesSlotsAndRevisions) {
    auto r = decode_fw_info(fw_info_bytes());
    ASSERT_TRUE(r.ok()) << r.error().describe();
    EXPECT_EQ(r->slot_count, 2);
    EXPECT_EQ(r->active_slot, 1);
    EXPECT_EQ(r->staged_slot, 2);
    EXPECT_TRUE(r->online_activation);
    EXPECT_EQ(r->slot_revisions, (std::vector<std::string>{"REV A", "REV B"}));
    auto j = fw_info_to_json(*r);
    EXPECT_EQ(j["slot_count"], 2);
    EXPECT_EQ(j["active_slot"], 1);
    EXPECT_EQ(j["staged_slot"], 2);
    EXPECT_EQ(j["online_activation"], true);
    EXPECT_EQ(j["slot_revisions"][1], "REV B");
}

TEST(FwInfo, RefusesTruncatedAndInconsistentOutputs) {
    auto t = decode_fw_info(ByteSpan(fw_info_bytes()).first(0x4F));
    ASSERT_FALSE(t.ok());
    EXPECT_NE(t.error().message.find("Get FW Info"), std::string::npos);
    EXPECT_NE(t.error().message.find("79 bytes"), std::string::npos);
    for (auto [slots, active, staged] :
         {std::tuple{0, 1, 0}, {5, 1, 0}, {2, 0, 0}, {2, 3, 0}, {2, 1, 3}}) {
        auto r =
            decode_fw_info(fw_info_bytes(static_cast<uint8_t>(slots), static_cast<uint8_t>(active),
                                         static_cast<uint8_t>(staged)));
        EXPECT_FALSE(r.ok()) << slots << " " << active << " " << staged;
        if (!r.ok()) {
            EXPECT_EQ(r.error().code, Errc::DeviceError);
        }
    }
    Bytes longer = fw_info_bytes(4, 4, 0);
    longer.resize(0x80, 0x41);
    auto ok = decode_fw_info(longer);
    ASSERT_TRUE(ok.ok());
    EXPECT_EQ(ok->slot_revisions.size(), 4u);
}

TEST(TransferFw, HeaderLayoutAndOffsetUnits) {
    const Bytes data(256, 0xAB);
    auto in = encode_transfer_fw({TransferAction::Continue, 0, 128 * 5, data}, 2048);
    ASSERT_TRUE(in.ok()) << in.error().describe();
    ASSERT_EQ(in->size(), 0x80u + 256);
    EXPECT_EQ((*in)[0], 2);
    EXPECT_EQ((*in)[1], 0);
    EXPECT_EQ(u32_at(*in, 4), 5u);
    for (size_t i = 8; i < 0x80; ++i) {
        ASSERT_EQ((*in)[i], 0) << i;
    }
    EXPECT_EQ((*in)[0x80], 0xAB);

    auto end = encode_transfer_fw({TransferAction::End, 2, 128, data}, 2048);
    ASSERT_TRUE(end.ok());
    EXPECT_EQ((*end)[0], 3);
    EXPECT_EQ((*end)[1], 2);

    auto abort = transfer_fw({TransferAction::Abort, 0, 0, {}}, 256);
    ASSERT_TRUE(abort.ok());
    EXPECT_EQ(abort->request.opcode, opcode::kTransferFw);
    EXPECT_EQ(abort->request.input.size(), 0x80u);
    EXPECT_EQ(abort->request.input[0], 4);
    EXPECT_EQ(abort->request.options.background_timeout, kFirmwareBackgroundTimeout);
}

TEST(TransferFw, RefusesWhatTheDeviceWouldRefuse) {
    const Bytes data(128, 1);
    auto expect_invalid = [](const Result<Bytes>& r, std::string_view text) {
        ASSERT_FALSE(r.ok());
        EXPECT_EQ(r.error().code, Errc::InvalidArgument);
        EXPECT_NE(r.error().message.find(text), std::string::npos) << r.error().message;
    };
    expect_invalid(encode_transfer_fw({TransferAction::Initiate, 0, 64, data}, 2048),
                   "multiple of 128");
    expect_invalid(encode_transfer_fw({TransferAction::Full, 0, 0, data}, 2048), "slot 0");
    expect_invalid(encode_transfer_fw({TransferAction::End, 5, 0, data}, 2048), "slot 5");
    expect_invalid(encode_transfer_fw({TransferAction::Continue, 1, 0, data}, 2048), "only given");
    expect_invalid(encode_transfer_fw({TransferAction::Abort, 0, 0, data}, 2048), "no data");
    expect_invalid(encode_transfer_fw({TransferAction::Continue, 0, 0, {}}, 2048), "no data");
    expect_invalid(encode_transfer_fw({TransferAction::Continue, 0, 0, Bytes(129)}, 256),
                   "do not fit");
    expect_invalid(encode_transfer_fw({TransferAction::Continue, 0, 128ull << 32, data}, 2048),
                   "too large");
    expect_invalid(encode_transfer_fw({static_cast<TransferAction>(9), 0, 0, data}, 2048),
                   "does not exist");
    EXPECT_TRUE(encode_transfer_fw({TransferAction::Continue, 0, 0, Bytes(128)}, 256).ok());
}

TEST(TransferFw, ChunkSizeKeepsOffsetsAligned) {
    EXPECT_EQ(transfer_fw_max_data(256), 128u);
    EXPECT_EQ(transfer_fw_max_data(2048), 1920u);
    EXPECT_EQ(transfer_fw_max_data(1u << 20), (1u << 20) - 128);
    EXPECT_EQ(transfer_fw_max_data(128), 0u);
}

TEST(ActivateFw, EncodesModeAndSlot) {
    auto on = encode_activate_fw(ActivateMode::OnReset, 2);
    ASSERT_TRUE(on.ok());
    EXPECT_EQ(*on, (Bytes{1, 2}));
    auto activate = activate_fw(ActivateMode::Online, 3);
    ASSERT_TRUE(activate.ok());
    EXPECT_EQ(activate->request.opcode, opcode::kActivateFw);
    EXPECT_EQ(activate->request.input, (Bytes{0, 3}));
    EXPECT_FALSE(encode_activate_fw(ActivateMode::Online, 0).ok());
    EXPECT_FALSE(encode_activate_fw(static_cast<ActivateMode>(2), 1).ok());
    EXPECT_EQ(*parse_activate_mode("on-reset"), ActivateMode::OnReset);
    EXPECT_EQ(activate_mode_name(ActivateMode::Online), "online");
    EXPECT_EQ(parse_activate_mode("later").error().code, Errc::InvalidArgument);

    MailboxResponse resp{opcode::kActivateFw,
                         static_cast<uint16_t>(ReturnCode::ActivationFailedFwRolledBack),
                         0,
                         true,
                         {}};
    auto s = parse(*activate, resp);
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.error().code, Errc::DeviceError);
    EXPECT_NE(s.error().message.find("Activate FW"), std::string::npos) << s.error().message;
    EXPECT_NE(s.error().message.find("Rolled Back"), std::string::npos);
    resp.return_code = static_cast<uint16_t>(ReturnCode::FwTransferOutOfOrder);
    auto transfer = transfer_fw({TransferAction::Abort, 0, 0, {}}, 256);
    ASSERT_TRUE(transfer.ok());
    EXPECT_NE(parse(*transfer, resp).error().message.find("Out Of Order"), std::string::npos);
}

}  // namespace
}  // namespace cxlmgr::cxl
