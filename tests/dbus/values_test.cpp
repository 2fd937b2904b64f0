// The typed converters (dbus/values.hpp) and writers (dbus/message_writer.hpp) give every reply
// exactly the keys, D-Bus types and values of the v1 contract, which the replies used to get
// from the decoders' JSON renderings mapped by the rules kept in json_reference.hpp. Both paths
// are run on the same sample values, many of them spread over the fields' ranges, and must agree
// key for key. What a writer writes is read back from a message made by a connection to a
// private bus (sd-bus makes messages only for an open bus); nothing is sent.
#include "dbus/values.hpp"

#include <gtest/gtest.h>

#include <sdbus-c++/sdbus-c++.h>
#include <random>

#include "cxl/commands/firmware.hpp"
#include "cxl/commands/health.hpp"
#include "cxl/commands/identify.hpp"
#include "cxl/event_record.hpp"
#include "cxl/uuid.hpp"
#include "daemon/event_journal.hpp"
#include "dbus/json_variant.hpp"
#include "dbus/message_writer.hpp"
#include "doe/cdat.hpp"
#include "tests/dbus/json_reference.hpp"
#include "tests/support/private_bus.hpp"

namespace cxlmgr::dbus {
namespace {

std::string describe(const VariantDict& dict);

// A variant as "<signature>:<value>", nested containers element by element, so two renderings
// compare equal only when every signature and every value is the same.
std::string describe(const sdbus::Variant& v) {
    const std::string sig = v.peekValueType();
    if (sig == "a{sv}") {
        return "a{sv}{" + describe(v.get<VariantDict>()) + "}";
    }
    if (sig == "aa{sv}") {
        std::string out = "aa{sv}[";
        for (const auto& d : v.get<std::vector<VariantDict>>()) {
            out += "{" + describe(d) + "}";
        }
        return out + "]";
    }
    if (sig == "av") {
        std::string out = "av[";
        for (const auto& e : v.get<std::vector<sdbus::Variant>>()) {
            out += describe(e) + ",";
        }
        return out + "]";
    }
    if (sig == "ay") {
        std::string out = "ay[";
        for (uint8_t b : v.get<std::vector<uint8_t>>()) {
            out += std::to_string(b) + ",";
        }
        return out + "]";
    }
    // Scalars and arrays of scalars: the signature says the type, the JSON the value.
    auto j = variant_to_json(v);
    return sig + ":" + (j.ok() ? j->dump() : "<" + j.error().message + ">");
}

std::string describe(const VariantDict& dict) {
    std::string out;
    for (const auto& [key, value] : dict) {
        out += key + "=" + describe(value) + "; ";
    }
    return out;
}

std::string describe(const std::vector<VariantDict>& dicts) {
    std::string out;
    for (const auto& d : dicts) {
        out += "{" + describe(d) + "}\n";
    }
    return out;
}

// What `write` writes with a MessageWriter, read back as a dict.
template <typename Write>
VariantDict written(Write write) {
    static testing::PrivateBus bus;
    static auto connection = sdbus::createSessionBusConnectionWithAddress(bus.address());
    static auto proxy = sdbus::createProxy(*connection, "org.cxlmgr1.Test", "/");
    auto message = proxy->createMethodCall("org.cxlmgr1.Test", "M");
    MessageWriter writer(message);
    write(writer);
    message.seal();
    message.rewind(true);
    VariantDict dict;
    message >> dict;
    return dict;
}

VariantDict health_to_dict(const daemon::HealthInfo& health) {
    return written([&health](MessageWriter& w) { w.health(health); });
}

VariantDict event_fields_to_dict(const daemon::DecodedEvent& event) {
    return written([&event](MessageWriter& w) { w.event_fields(event); });
}

// The old path: the decoder's JSON rendering through the reference rules.
VariantDict old_dict(const nlohmann::json& rendering) {
    auto dict = reference::json_to_dict(rendering);
    EXPECT_TRUE(dict.ok()) << dict.error().describe();
    return dict.ok() ? *dict : VariantDict{};
}

std::mt19937_64& rng() {
    static std::mt19937_64 generator(20240613);  // fixed: a failure reproduces
    return generator;
}

template <typename T>
T any() {
    return static_cast<T>(rng()());
}

TEST(Values, IdentifyAsBefore) {
    cxl::IdentifyInfo info;
    info.fw_revision = "EMU FW 1.0";
    info.total_capacity = 512ull << 28;
    info.volatile_capacity = 256ull << 28;
    info.persistent_capacity = 256ull << 28;
    info.partition_align = 1ull << 28;
    info.info_event_log_size = 1;
    info.warning_event_log_size = 2;
    info.failure_event_log_size = 3;
    info.fatal_event_log_size = 0xffff;
    info.lsa_size = 0x10000;
    info.poison_list_max = 0xffffff;
    info.inject_poison_limit = 7;
    info.poison_caps = 0x3;
    info.qos_telemetry_caps = 0x1;
    const VariantDict cxl20 = identify_to_dict(info);
    EXPECT_EQ(describe(cxl20), describe(old_dict(cxl::identify_to_json(info))));
    EXPECT_EQ(cxl20.size(), 14u);
    EXPECT_EQ(cxl20.count("dc_event_log_size"), 0u);

    info.dc_event_log_size = 0x77;  // r3.1
    const VariantDict r31 = identify_to_dict(info);
    EXPECT_EQ(describe(r31), describe(old_dict(cxl::identify_to_json(info))));
    EXPECT_EQ(r31.at("dc_event_log_size").peekValueType(), "t");
    EXPECT_EQ(r31.at("fw_revision").get<std::string>(), "EMU FW 1.0");

    for (int i = 0; i < 100; ++i) {
        cxl::IdentifyInfo r;
        r.fw_revision = std::to_string(any<uint32_t>());
        r.total_capacity = any<uint64_t>();
        r.volatile_capacity = any<uint64_t>();
        r.persistent_capacity = any<uint64_t>();
        r.partition_align = any<uint64_t>();
        r.info_event_log_size = any<uint16_t>();
        r.warning_event_log_size = any<uint16_t>();
        r.failure_event_log_size = any<uint16_t>();
        r.fatal_event_log_size = any<uint16_t>();
        r.lsa_size = any<uint32_t>();
        r.poison_list_max = any<uint32_t>() & 0xffffff;
        r.inject_poison_limit = any<uint16_t>();
        r.poison_caps = any<uint8_t>();
        r.qos_telemetry_caps = any<uint8_t>();
        if (i % 2 != 0) {
            r.dc_event_log_size = any<uint16_t>();
        }
        EXPECT_EQ(describe(identify_to_dict(r)), describe(old_dict(cxl::identify_to_json(r))));
    }
}

TEST(Values, HealthAsBeforeForEveryStatusByte) {
    for (unsigned byte = 0; byte < 256; ++byte) {
        cxl::HealthInfo h;
        h.health_status = static_cast<uint8_t>(byte);
        h.media_status = static_cast<uint8_t>(byte);  // past the table: "reserved"
        h.additional_status = static_cast<uint8_t>(byte);
        h.life_used = static_cast<uint8_t>(byte);
        h.temperature = static_cast<int16_t>(static_cast<int>(byte) * 257 - 32768);
        h.dirty_shutdown_count = any<uint32_t>();
        h.corrected_volatile_errors = any<uint32_t>();
        h.corrected_persistent_errors = any<uint32_t>();
        const VariantDict dict = health_to_dict(h);
        ASSERT_EQ(describe(dict), describe(old_dict(cxl::health_to_json(h)))) << "byte " << byte;
        EXPECT_EQ(dict.size(), 17u);
    }
    cxl::HealthInfo warm;
    warm.temperature = 35;
    // Signed even when positive, so the key keeps one type.
    EXPECT_EQ(health_to_dict(warm).at("temperature").peekValueType(), "x");
}

TEST(Values, FirmwareInfoAsBefore) {
    cxl::FwInfo fw;
    fw.slot_count = 4;
    fw.active_slot = 2;
    fw.staged_slot = 3;
    fw.online_activation = true;
    fw.slot_revisions = {"EMU FW 1.0", "EMU FW 2.0", "", "x"};
    const VariantDict dict = fw_info_to_dict(fw);
    EXPECT_EQ(describe(dict), describe(old_dict(cxl::fw_info_to_json(fw))));
    EXPECT_EQ(dict.at("slot_revisions").peekValueType(), "as");
    // No slots (never decoded from a device, which reports 1 to 4): an empty array is av.
    EXPECT_EQ(describe(fw_info_to_dict(cxl::FwInfo{})),
              describe(old_dict(cxl::fw_info_to_json(cxl::FwInfo{}))));
}

TEST(Values, CdatAsBeforeForEveryStructure) {
    doe::CdatTable table;
    table.header = {.length = 0x1234, .revision = 1, .checksum = 0xfe, .sequence = 0xdeadbeef};
    table.entries.push_back(
        {16,
         doe::CdatDsmas{
             .dsmad_handle = 1, .flags = 0x4, .dpa_base = 0, .dpa_length = 0xffffffffffffffff}});
    table.entries.push_back({40, doe::CdatDslbis{.handle = 1,
                                                 .flags = 0,
                                                 .data_type = 3,
                                                 .entry_base_unit = 1000,
                                                 .entries = {100, 0, 0xffff}}});
    table.entries.push_back({64, doe::CdatDsmscis{.dsmas_handle = 1,
                                                  .side_cache_size = 1ull << 30,
                                                  .cache_attributes = 0x12345678}});
    table.entries.push_back({84, doe::CdatDsis{.flags = 1, .handle = 2}});
    table.entries.push_back({92, doe::CdatDsemts{.dsmas_handle = 1,
                                                 .efi_memory_type_attr = 2,
                                                 .dpa_offset = 0x1000,
                                                 .dpa_length = 0x2000}});
    table.entries.push_back(
        {116, doe::CdatSslbis{
                  .data_type = 0,
                  .entry_base_unit = 10,
                  .entries = {{.port_x_id = 0x100, .port_y_id = 0xffff, .latency_or_bandwidth = 5},
                              {.port_x_id = 1, .port_y_id = 2, .latency_or_bandwidth = 0xffff}}}});
    // No port pairs: its entries are an empty array, av.
    table.entries.push_back(
        {148, doe::CdatSslbis{.data_type = 1, .entry_base_unit = 1, .entries = {}}});
    table.entries.push_back(
        {164, doe::CdatUnknown{.type_id = 9, .raw = {9, 0, 8, 0, 1, 2, 255, 4}}});

    auto expected = reference::json_to_dict_array(doe::cdat_to_json(table));
    ASSERT_TRUE(expected.ok()) << expected.error().describe();
    const auto dicts = cdat_to_dicts(table);
    EXPECT_EQ(describe(dicts), describe(*expected));
    ASSERT_EQ(dicts.size(), 9u);
    EXPECT_EQ(dicts[2].at("entries").peekValueType(), "at");
    EXPECT_EQ(dicts[6].at("entries").peekValueType(), "aa{sv}");
    EXPECT_EQ(dicts[7].at("entries").peekValueType(), "av");
    EXPECT_EQ(dicts[8].at("raw").peekValueType(), "ay");
}

// A record of the kind `uuid` names with every other byte random (length kept valid).
std::array<uint8_t, cxl::kEventRecordSize> random_record(std::string_view uuid) {
    std::array<uint8_t, cxl::kEventRecordSize> bytes{};
    for (auto& b : bytes) {
        b = any<uint8_t>();
    }
    if (!uuid.empty()) {
        auto id = cxl::known_uuid(uuid).bytes;
        std::copy(id.begin(), id.end(), bytes.begin());
    }
    bytes[0x10] = cxl::kEventRecordSize;
    return bytes;
}

void expect_event_as_before(const daemon::EventEntry& entry) {
    const daemon::StoredEvent stored{.seq = 42, .entry = entry};
    auto decoded = daemon::decode_event(stored);
    ASSERT_TRUE(decoded.ok()) << decoded.error().describe();
    EXPECT_EQ(decoded->seq, 42u);
    EXPECT_EQ(decoded->kind, entry.kind);
    EXPECT_EQ(decoded->timestamp, entry.timestamp);
    auto rendering = daemon::event_fields(entry);
    ASSERT_TRUE(rendering.ok()) << rendering.error().describe();
    const VariantDict dict = event_fields_to_dict(*decoded);
    EXPECT_EQ(describe(dict), describe(old_dict(*rendering))) << entry.kind;
    EXPECT_FALSE(dict.empty());
}

TEST(Values, EventFieldsAsBeforeForEveryKind) {
    for (std::string_view uuid : {cxl::uuids::kGeneralMedia, cxl::uuids::kDram,
                                  cxl::uuids::kMemoryModule, std::string_view()}) {
        for (int i = 0; i < 50; ++i) {
            const auto bytes = random_record(uuid);
            auto record = cxl::decode_event_record(bytes);
            ASSERT_TRUE(record.ok()) << record.error().describe();
            expect_event_as_before(daemon::record_entry(cxl::EventLog::Warning, *record));
        }
    }
    cxl::EventRecordsPage page;
    page.overflow = true;
    page.overflow_count = 0xffff;
    page.first_overflow_timestamp = 1;
    page.last_overflow_timestamp = 0xffffffffffffffff;
    expect_event_as_before(daemon::overflow_entry(cxl::EventLog::Fatal, page));
}

TEST(Values, MemoryModuleHealthFlagsKeepTheirPrefix) {
    auto bytes = random_record(cxl::uuids::kMemoryModule);
    bytes[0x11] = 0;    // no header flags
    bytes[0x31] = 0x3;  // health status: maintenance needed, performance degraded
    auto record = cxl::decode_event_record(bytes);
    ASSERT_TRUE(record.ok()) << record.error().describe();
    auto decoded = daemon::decode_event(
        {.seq = 1, .entry = daemon::record_entry(cxl::EventLog::Warning, *record)});
    ASSERT_TRUE(decoded.ok()) << decoded.error().describe();
    const VariantDict dict = event_fields_to_dict(*decoded);
    EXPECT_FALSE(dict.at("maintenance_needed").get<bool>());
    EXPECT_TRUE(dict.at("health_maintenance_needed").get<bool>());
    EXPECT_TRUE(dict.at("health_performance_degraded").get<bool>());
    EXPECT_EQ(dict.at("raw").peekValueType(), "ay");
}

TEST(Values, AStoredRecordThatDoesNotDecodeIsAnError) {
    daemon::EventEntry entry;
    entry.kind = "dram";
    entry.record.assign(cxl::kEventRecordSize, 0);  // length field 0, not 0x80
    auto decoded = daemon::decode_event({.seq = 7, .entry = entry});
    ASSERT_FALSE(decoded.ok());
    EXPECT_EQ(decoded.error().code, Errc::DeviceError);
}

}  // namespace
}  // namespace cxlmgr::dbus
