#include <gtest/gtest.h>

#include "cxl/command_table.hpp"
#include "cxl/commands/health.hpp"
#include "cxl/commands/identify.hpp"
#include "cxl/return_code.hpp"

namespace cxlmgr::cxl {
namespace {

Bytes identify_bytes(size_t size = kIdentifyOutputSize) {
    Bytes b(size, 0);
    const std::string rev = "FW 2.3";
    std::copy(rev.begin(), rev.end(), b.begin());
    store_le(b, 0x10, 4, 8);  // 1 GiB total
    store_le(b, 0x18, 1, 8);
    store_le(b, 0x20, 3, 8);
    store_le(b, 0x28, 1, 8);
    store_le(b, 0x30, 0x11, 2);
    store_le(b, 0x32, 0x22, 2);
    store_le(b, 0x34, 0x33, 2);
    store_le(b, 0x36, 0x44, 2);
    store_le(b, 0x38, 0x20000, 4);
    store_le(b, 0x3C, 0x123456, 3);
    store_le(b, 0x3F, 0xBEEF, 2);
    b[0x41] = 0x5A;
    b[0x42] = 0xA5;
    return b;
}

TEST(Identify, DecodesEveryFieldWithCapacitiesInBytes) {
    auto r = decode_identify(identify_bytes());
    ASSERT_TRUE(r.ok()) << r.error().describe();
    EXPECT_EQ(r->fw_revision, "FW 2.3");
    EXPECT_EQ(r->total_capacity, 1ull << 30);
    EXPECT_EQ(r->volatile_capacity, 256ull << 20);
    EXPECT_EQ(r->persistent_capacity, 768ull << 20);
    EXPECT_EQ(r->partition_align, 256ull << 20);
    EXPECT_EQ(r->info_event_log_size, 0x11);
    EXPECT_EQ(r->warning_event_log_size, 0x22);
    EXPECT_EQ(r->failure_event_log_size, 0x33);
    EXPECT_EQ(r->fatal_event_log_size, 0x44);
    EXPECT_EQ(r->lsa_size, 0x20000u);
    EXPECT_EQ(r->poison_list_max, 0x123456u);
    EXPECT_EQ(r->inject_poison_limit, 0xBEEF);
    EXPECT_EQ(r->poison_caps, 0x5A);
    EXPECT_EQ(r->qos_telemetry_caps, 0xA5);
    EXPECT_FALSE(r->dc_event_log_size.has_value());
}

TEST(Identify, JsonKeysAreTheApiContract) {
    auto j = identify_to_json(*decode_identify(identify_bytes()));
    for (const char* key :
         {"fw_revision", "total_capacity", "volatile_capacity", "persistent_capacity",
          "partition_align", "info_event_log_size", "warning_event_log_size",
          "failure_event_log_size", "fatal_event_log_size", "lsa_size", "poison_list_max",
          "inject_poison_limit", "poison_caps", "qos_telemetry_caps"}) {
        EXPECT_TRUE(j.contains(key)) << key;
    }
    EXPECT_EQ(j["total_capacity"].get<uint64_t>(), 1ull << 30);
    EXPECT_EQ(j["fw_revision"], "FW 2.3");
    EXPECT_FALSE(j.contains("dc_event_log_size"));
}

TEST(Identify, TruncatedOutputNamesTheCommandAndBothLengths) {
    auto r = decode_identify(ByteSpan(identify_bytes()).first(0x42));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, Errc::DeviceError);
    EXPECT_NE(r.error().message.find("Identify Memory Device"), std::string::npos);
    EXPECT_NE(r.error().message.find("66 bytes"), std::string::npos) << r.error().message;
    EXPECT_NE(r.error().message.find("67"), std::string::npos);
    EXPECT_FALSE(decode_identify({}).ok());
}

TEST(Identify, LongerOutputKeepsTheKnownPrefixAndTheR31Field) {
    Bytes b = identify_bytes(0x45);
    store_le(b, 0x43, 0x77, 2);
    auto r = decode_identify(b);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->dc_event_log_size, std::optional<uint16_t>(0x77));
    EXPECT_EQ(identify_to_json(*r)["dc_event_log_size"], 0x77);
    Bytes big = identify_bytes(0x200);
    std::fill(big.begin() + 0x45, big.end(), 0xEE);
    EXPECT_TRUE(decode_identify(big).ok());
}

TEST(Identify, CapacityOverflowAndGarbageRevisionAreHandled) {
    Bytes b = identify_bytes();
    store_le(b, 0x18, 1ull << 40, 8);
    auto r = decode_identify(b);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find("volatile capacity"), std::string::npos);

    Bytes g = identify_bytes();
    g[0] = 0xFF;
    g[1] = 0x01;
    g[2] = 'A';
    g[3] = 0;
    g[4] = 'Z';  // after the NUL: ignored
    auto ok = decode_identify(g);
    ASSERT_TRUE(ok.ok());
    EXPECT_EQ(ok->fw_revision, "??A");
    EXPECT_NO_THROW((void)identify_to_json(*ok).dump());
}

TEST(Identify, ParseMapsTheReturnCode) {
    const auto command = identify_memory_device();
    EXPECT_EQ(command.request.opcode, opcode::kIdentifyMemoryDevice);
    EXPECT_TRUE(command.request.input.empty());
    MailboxResponse resp{opcode::kIdentifyMemoryDevice,
                         static_cast<uint16_t>(ReturnCode::InternalError),
                         0,
                         false,
                         {}};
    auto r = parse(command, resp);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().cxl_return_code,
              std::optional<uint16_t>(static_cast<uint16_t>(ReturnCode::InternalError)));
    resp.return_code = 0;
    resp.output = identify_bytes();
    EXPECT_TRUE(parse(command, resp).ok());
}

Bytes health_bytes() {
    Bytes b(kHealthInfoSize, 0);
    b[0] = kHealthMaintenanceNeeded | kHealthReplacementNeeded;
    b[1] = 2;
    b[2] = 0x1 | (0x2 << 2) | 0x20;
    b[3] = 42;
    store_le(b, 4, static_cast<uint16_t>(-12), 2);
    store_le(b, 6, 7, 4);
    store_le(b, 0x0A, 100000, 4);
    store_le(b, 0x0E, 3, 4);
    return b;
}

TEST(Health, DecodesFieldsAndSignedTemperature) {
    auto h = decode_health(health_bytes());
    ASSERT_TRUE(h.ok());
    EXPECT_EQ(h->life_used, 42);
    EXPECT_EQ(h->temperature, -12);
    EXPECT_EQ(h->dirty_shutdown_count, 7u);
    EXPECT_EQ(h->corrected_volatile_errors, 100000u);
    EXPECT_EQ(h->corrected_persistent_errors, 3u);
}

TEST(Health, JsonHasRawFieldsAndDecodedFlags) {
    auto j = health_to_json(*decode_health(health_bytes()));
    for (const char* key :
         {"health_status", "media_status", "additional_status", "life_used", "temperature",
          "dirty_shutdown_count", "corrected_volatile_errors", "corrected_persistent_errors"}) {
        EXPECT_TRUE(j.contains(key)) << key;
    }
    EXPECT_EQ(j["temperature"], -12);
    EXPECT_EQ(j["maintenance_needed"], true);
    EXPECT_EQ(j["performance_degraded"], false);
    EXPECT_EQ(j["replacement_needed"], true);
    EXPECT_EQ(j["media_status_name"], "write persistency lost");
    EXPECT_EQ(j["life_used_status"], "warning");
    EXPECT_EQ(j["temperature_status"], "critical");
    EXPECT_EQ(j["corrected_volatile_error_threshold"], false);
    EXPECT_EQ(j["corrected_persistent_error_threshold"], true);
    EXPECT_EQ(media_status_name(200), "reserved");
}

TEST(Health, TruncatedUnsupportedAndLonger) {
    auto short_r = decode_health(ByteSpan(health_bytes()).first(0x11));
    ASSERT_FALSE(short_r.ok());
    EXPECT_NE(short_r.error().message.find("Get Health Info"), std::string::npos);
    Bytes longer = health_bytes();
    longer.resize(0x40, 0xCC);
    EXPECT_TRUE(decode_health(longer).ok());

    MailboxResponse resp{
        opcode::kGetHealthInfo, static_cast<uint16_t>(ReturnCode::Unsupported), 0, false, {}};
    auto r = parse(get_health_info(), resp);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, Errc::Unsupported);
    EXPECT_EQ(r.error().message,
              "Get Health Info is not supported by this device (CXL return code 0x03 Unsupported)");
}

}  // namespace
}  // namespace cxlmgr::cxl
