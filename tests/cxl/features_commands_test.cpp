#include <gtest/gtest.h>

#include "cxl/commands/features.hpp"

namespace cxlmgr::cxl {
namespace {

TEST(Features, SupportedFeaturesRequestAndEntries) {
    auto c = get_supported_features(3, 512);
    EXPECT_EQ(c.request.input, (Bytes{0x00, 0x02, 0, 0, 3, 0, 0, 0}));

    const Uuid scrub = known_uuid(kPatrolScrubFeature);
    Bytes b(kSupportedFeaturesHeaderSize + kFeatureEntrySize, 0);
    store_le(b, 0, 1, 2);
    store_le(b, 2, 5, 2);
    std::copy(scrub.bytes.begin(), scrub.bytes.end(), b.begin() + 8);
    store_le(b, 8 + 0x10, 7, 2);
    store_le(b, 8 + 0x12, 4, 2);
    store_le(b, 8 + 0x14, 2, 2);
    store_le(b, 8 + 0x16, kFeatureChangeable | kFeatureDefaultSelection, 4);
    b[8 + 0x1A] = 1;
    b[8 + 0x1B] = 2;
    store_le(b, 8 + 0x1C, 0x0002, 2);
    auto f = decode_supported_features(b);
    ASSERT_TRUE(f.ok()) << f.error().describe();
    EXPECT_EQ(f->total, 5);
    ASSERT_EQ(f->entries.size(), 1u);
    const FeatureEntry& e = f->entries[0];
    EXPECT_EQ(e.uuid, scrub);
    EXPECT_EQ(e.index, 7);
    EXPECT_EQ(e.get_size, 4);
    EXPECT_EQ(e.set_size, 2);
    EXPECT_EQ(e.attributes, kFeatureChangeable | kFeatureDefaultSelection);
    EXPECT_EQ(e.get_version, 1);
    EXPECT_EQ(e.set_version, 2);
    EXPECT_EQ(e.set_effects, 0x0002);
    auto j = supported_features_to_json(*f);
    EXPECT_EQ(j["entries"][0]["uuid"], std::string(kPatrolScrubFeature));
    EXPECT_EQ(j["entries"][0]["changeable"], true);

    store_le(b, 0, 2, 2);
    auto bad = decode_supported_features(b);
    ASSERT_FALSE(bad.ok());
    EXPECT_NE(bad.error().message.find("Get Supported Features"), std::string::npos);
    EXPECT_FALSE(decode_supported_features(Bytes(7)).ok());
}

TEST(Features, GetFeatureLayoutAndData) {
    const Uuid scrub = known_uuid(kPatrolScrubFeature);
    auto c = get_feature(scrub, 1, 3, FeatureSelection::Default, 256);
    ASSERT_TRUE(c.ok());
    ASSERT_EQ(c->request.input.size(), 0x15u);
    EXPECT_TRUE(std::equal(scrub.bytes.begin(), scrub.bytes.end(), c->request.input.begin()));
    EXPECT_EQ(u16_at(c->request.input, 0x10), 1);
    EXPECT_EQ(u16_at(c->request.input, 0x12), 3);
    EXPECT_EQ(c->request.input[0x14], 1);
    EXPECT_FALSE(get_feature(scrub, 0, 0, FeatureSelection::Current, 256).ok());
    EXPECT_FALSE(get_feature(scrub, 0, 257, FeatureSelection::Current, 256).ok());
    auto r = parse(*c, MailboxResponse{opcode::kGetFeature, 0, 0, false, Bytes{1, 2, 3, 4}});
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(*r, (Bytes{1, 2, 3}));
    EXPECT_FALSE(decode_feature_data(Bytes{1, 2}, 3).ok());
}

TEST(Features, SetFeatureHeaderThenData) {
    const Uuid scrub = known_uuid(kPatrolScrubFeature);
    const Bytes value = encode_patrol_scrub(12, true);
    SetFeatureRequest r{scrub, 1, FeatureTransfer::Full, true, 0, value};
    auto c = set_feature(r, 256);
    ASSERT_TRUE(c.ok());
    ASSERT_EQ(c->request.input.size(), 0x22u);
    EXPECT_EQ(u32_at(c->request.input, 0x10), 0x8u);  // full transfer, saved across reset
    EXPECT_EQ(u16_at(c->request.input, 0x14), 0);
    EXPECT_EQ(c->request.input[0x16], 1);
    EXPECT_EQ(c->request.input[0x20], 12);
    EXPECT_EQ(c->request.input[0x21], 1);
    const Bytes big(225);
    EXPECT_FALSE(set_feature({scrub, 1, FeatureTransfer::Full, false, 0, big}, 256).ok());
}

TEST(Features, PatrolScrubValue) {
    auto s = decode_patrol_scrub(Bytes{0x01, 12, 1, 0x01});
    ASSERT_TRUE(s.ok());
    EXPECT_TRUE(s->cycle_changeable);
    EXPECT_FALSE(s->realtime_report);
    EXPECT_EQ(s->cycle_hours, 12);
    EXPECT_EQ(s->min_cycle_hours, 1);
    EXPECT_TRUE(s->enabled);
    EXPECT_FALSE(decode_patrol_scrub(Bytes{1, 2, 3}).ok());
}

}  // namespace
}  // namespace cxlmgr::cxl
