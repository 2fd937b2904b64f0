// The emulated firmware image format: CRC32, builders and the streaming verifier.
#include <gtest/gtest.h>

#include <stdexcept>
#include <string_view>

#include "emu/firmware_image.hpp"

namespace cxlmgr::emu {
namespace {

std::vector<uint8_t> bytes(std::string_view s) {
    return {s.begin(), s.end()};
}

std::vector<uint8_t> counting_payload(size_t n) {
    std::vector<uint8_t> p(n);
    for (size_t i = 0; i < n; ++i) {
        p[i] = static_cast<uint8_t>(i * 7 + (i >> 8));
    }
    return p;
}

Result<FirmwareImageHeader> verify(std::span<const uint8_t> image, size_t piece = 128) {
    FirmwareImageVerifier v;
    for (size_t off = 0; off < image.size(); off += piece) {
        v.feed(image.subspan(off, std::min(piece, image.size() - off)));
    }
    return v.finish();
}

TEST(Crc32, MatchesTheStandardCheckValue) {
    EXPECT_EQ(crc32(bytes("123456789")), 0xCBF43926u);
    EXPECT_EQ(crc32({}), 0u);
    auto data = counting_payload(1000);
    Crc32 pieces;
    for (size_t off = 0; off < data.size(); off += 13) {
        pieces.update(std::span(data).subspan(off, std::min<size_t>(13, data.size() - off)));
    }
    EXPECT_EQ(pieces.value(), crc32(data));
    // Against a bitwise reference, so the sliced tables are checked independently.
    uint32_t c = 0xFFFFFFFFu;
    for (uint8_t b : data) {
        c ^= b;
        for (int k = 0; k < 8; ++k) {
            c = (c & 1) ? (c >> 1) ^ 0xEDB88320u : c >> 1;
        }
    }
    EXPECT_EQ(crc32(data), ~c);
}

TEST(FirmwareImage, LayoutIsHeaderPayloadAndPadding) {
    auto payload = counting_payload(1000);
    auto image = build_firmware_image("EMU FW 2.0", payload);
    ASSERT_EQ(image.size(), 1152u);  // 64 + 1000 rounded up to 128
    EXPECT_EQ(firmware_image_size(1000), 1152u);
    EXPECT_EQ(firmware_image_size(64), 128u);
    EXPECT_EQ(std::string(image.begin(), image.begin() + 8), "CXLEMUFW");
    EXPECT_EQ(image[8] | image[9] << 8, 1);
    EXPECT_EQ(image[0x0A], 0x40);
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(&image[0x10])), "EMU FW 2.0");
    uint64_t len = 0;
    uint32_t crc = 0;
    for (int i = 7; i >= 0; --i) {
        len = len << 8 | image[0x20 + i];
    }
    for (int i = 3; i >= 0; --i) {
        crc = crc << 8 | image[0x28 + i];
    }
    EXPECT_EQ(len, 1000u);
    EXPECT_EQ(crc, crc32(payload));
    EXPECT_TRUE(std::equal(payload.begin(), payload.end(), image.begin() + 0x40));
    EXPECT_TRUE(
        std::all_of(image.begin() + 0x40 + 1000, image.end(), [](uint8_t b) { return b == 0; }));
    auto h = verify(image, 77);
    ASSERT_TRUE(h.ok()) << h.error().describe();
    EXPECT_EQ(h->revision, "EMU FW 2.0");
    EXPECT_EQ(h->payload_length, 1000u);
}

TEST(FirmwareImage, VerifierRejectsDamage) {
    auto image = build_firmware_image("R1", counting_payload(500));
    auto flip = [&](size_t at) {
        auto copy = image;
        copy[at] ^= 0x01;
        return copy;
    };
    EXPECT_TRUE(verify(image).ok());
    auto magic = verify(flip(0));
    ASSERT_FALSE(magic.ok());
    EXPECT_NE(magic.error().message.find("magic"), std::string::npos);
    EXPECT_NE(verify(flip(0x08)).error().message.find("version"), std::string::npos);
    EXPECT_NE(verify(flip(0x12)).error().message.find("header CRC"), std::string::npos);
    EXPECT_NE(verify(flip(0x40 + 100)).error().message.find("payload CRC"), std::string::npos);
    std::vector<uint8_t> shorter(image.begin(), image.end() - 128);
    EXPECT_NE(verify(shorter).error().message.find("announces"), std::string::npos);
    auto longer = image;
    longer.resize(image.size() + 128, 0);
    EXPECT_FALSE(verify(longer).ok());
    EXPECT_FALSE(verify(std::span(image).first(32)).ok());
}

TEST(FirmwareImage, RevisionsAreCheckedBeforeBuilding) {
    EXPECT_TRUE(check_firmware_revision("EMU FW 1.0").ok());
    EXPECT_TRUE(check_firmware_revision("0123456789abcdef").ok());
    EXPECT_FALSE(check_firmware_revision("").ok());
    EXPECT_FALSE(check_firmware_revision("0123456789abcdefg").ok());
    EXPECT_FALSE(check_firmware_revision("tab\there").ok());
    EXPECT_THROW(build_firmware_image("", {}), std::invalid_argument);
}

TEST(FirmwareImage, PatternImageStreamsTheSameBytesAsABuiltOne) {
    PatternFirmwareImage pattern("PATTERN 1", 5000, 7);
    ASSERT_EQ(pattern.size(), firmware_image_size(5000));
    std::vector<uint8_t> streamed(pattern.size());
    for (size_t off = 0; off < streamed.size(); off += 333) {
        size_t n = std::min<size_t>(333, streamed.size() - off);
        pattern.read(off, std::span(streamed).subspan(off, n));
    }
    std::vector<uint8_t> payload(streamed.begin() + 0x40, streamed.begin() + 0x40 + 5000);
    EXPECT_EQ(streamed, build_firmware_image("PATTERN 1", payload));
    EXPECT_EQ(pattern.payload_crc(), crc32(payload));
    PatternFirmwareImage other("PATTERN 1", 5000, 8);
    EXPECT_NE(other.payload_crc(), pattern.payload_crc()) << "the seed changes the payload";
    std::vector<uint8_t> one(1);
    EXPECT_THROW(pattern.read(pattern.size(), one), std::out_of_range);
}

TEST(FirmwareImage, VerifierStateCanBeRolledBack) {
    auto image = build_firmware_image("R", counting_payload(300));
    FirmwareImageVerifier v;
    v.feed(std::span(image).first(128));
    FirmwareImageVerifier saved = v;
    v.feed(std::span(image).subspan(128, 128));
    v = saved;
    v.feed(std::span(image).subspan(128));
    EXPECT_TRUE(v.finish().ok());
    EXPECT_EQ(v.received(), image.size());
}

}  // namespace
}  // namespace cxlmgr::emu
