#include <gtest/gtest.h>

#include "cxl/commands/partition.hpp"

namespace cxlmgr::cxl {
namespace {

TEST(PartitionInfo, CapacitiesAreConvertedFrom256MiBUnits) {
    Bytes b(kPartitionInfoSize, 0);
    store_le(b, 0x00, 1, 8);
    store_le(b, 0x08, 3, 8);
    store_le(b, 0x10, 2, 8);
    store_le(b, 0x18, 2, 8);
    auto p = decode_partition_info(b);
    ASSERT_TRUE(p.ok()) << p.error().describe();
    EXPECT_EQ(p->active_volatile, 256ull << 20);
    EXPECT_EQ(p->active_persistent, 768ull << 20);
    EXPECT_EQ(p->next_volatile, 512ull << 20);
    EXPECT_EQ(p->next_persistent, 512ull << 20);
    EXPECT_EQ(partition_info_to_json(*p)["active_persistent"], 768ull << 20);
    EXPECT_TRUE(get_partition_info().request.input.empty());
}

TEST(PartitionInfo, ShortOutputAndOverflowAreDeviceErrors) {
    Bytes b(kPartitionInfoSize, 0);
    auto r = decode_partition_info(ByteSpan(b).first(0x1F));
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find("Get Partition Info"), std::string::npos);
    store_le(b, 0x10, 1ull << 40, 8);
    auto o = decode_partition_info(b);
    ASSERT_FALSE(o.ok());
    EXPECT_EQ(o.error().code, Errc::DeviceError);
    EXPECT_NE(o.error().message.find("next volatile"), std::string::npos);
}

}  // namespace
}  // namespace cxlmgr::cxl
