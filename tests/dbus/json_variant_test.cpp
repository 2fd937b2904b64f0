// The JSON <-> D-Bus conversions give every key a type a client can rely on (the rules are in
// dbus/json_variant.hpp) and refuse what D-Bus cannot carry instead of dropping it.
#include "dbus/json_variant.hpp"

#include <gtest/gtest.h>

#include <sdbus-c++/Types.h>

#include "doe/cdat.hpp"

namespace cxlmgr::dbus {
namespace {

using nlohmann::json;

sdbus::Variant to_variant(const json& j, std::string_view key = {}) {
    auto v = json_to_variant(j, key);
    EXPECT_TRUE(v.ok()) << (v.ok() ? "" : v.error().message);
    return v.ok() ? *v : sdbus::Variant();
}

std::string sig(const json& j, std::string_view key = {}) {
    return to_variant(j, key).peekValueType();
}

TEST(JsonToVariant, ScalarsKeepTheirKind) {
    EXPECT_EQ(sig(json("text")), "s");
    EXPECT_EQ(sig(json(true)), "b");
    EXPECT_EQ(sig(json(uint64_t{7})), "t");
    EXPECT_EQ(sig(json(int64_t{-7})), "x");
    EXPECT_EQ(sig(json(1.5)), "d");
    EXPECT_EQ(to_variant(json(uint64_t{0xffffffffffffffff})).get<uint64_t>(),
              0xffffffffffffffffull);
    EXPECT_EQ(to_variant(json(int64_t{-40})).get<int64_t>(), -40);
}

TEST(JsonToVariant, SignedFieldsStaySignedWhenPositive) {
    // A temperature rendered from an int16_t keeps x at 35 degrees, not only below zero.
    EXPECT_EQ(sig(json(int16_t{35})), "x");
    EXPECT_EQ(to_variant(json(int16_t{35})).get<int64_t>(), 35);
}

TEST(JsonToVariant, ArraysPickOneElementType) {
    EXPECT_EQ(sig(json::array()), "av");
    EXPECT_EQ(sig(json{"a", "b"}), "as");
    EXPECT_EQ(sig(json{true, false}), "ab");
    EXPECT_EQ(sig(json::parse("[1, 2, 300]")), "at");
    EXPECT_EQ(sig(json::parse("[1, -2]")), "ax");
    EXPECT_EQ(sig(json::parse("[1, 2.5]")), "ad");
    EXPECT_EQ(sig(json::parse(R"([{"a": 1}, {"b": "x"}])")), "aa{sv}");
    EXPECT_EQ(sig(json::parse(R"([1, "a"])")), "av");
    EXPECT_EQ(sig(json::parse("[[1], [2, 3]]")), "av");
    // Signed and beyond-int64 unsigned elements fit no single integer array.
    EXPECT_EQ(sig(json::parse("[-1, 18446744073709551615]")), "av");
    EXPECT_EQ(to_variant(json::parse("[1, -2]")).get<std::vector<int64_t>>(),
              (std::vector<int64_t>{1, -2}));
}

TEST(JsonToVariant, RawBytesBecomeAyOnlyUnderRaw) {
    const json bytes = json::parse("[0, 1, 255]");
    EXPECT_EQ(sig(bytes, "raw"), "ay");
    EXPECT_EQ(to_variant(bytes, "raw").get<std::vector<uint8_t>>(),
              (std::vector<uint8_t>{0, 1, 255}));
    EXPECT_EQ(sig(bytes, "entries"), "at");
    EXPECT_EQ(sig(json::parse("[0, 256]"), "raw"), "at");  // not bytes after all
    EXPECT_EQ(sig(json("0b61f9c8-2a37-4f28-a3d8-9a6d4a0a1c2e"), "uuid"), "s");
}

TEST(JsonToVariant, JsonBinariesBecomeAyUnderAnyKey) {
    // Decoders keep undecoded device bytes (an event record's component_id, ...) as binaries.
    auto dict = json_to_dict(json{{"component_id", json::binary({7, 0, 9})}});
    ASSERT_TRUE(dict.ok()) << dict.error().describe();
    ASSERT_EQ(dict->at("component_id").peekValueType(), "ay");
    EXPECT_EQ(dict->at("component_id").get<std::vector<uint8_t>>(),
              (std::vector<uint8_t>{7, 0, 9}));
}

TEST(JsonToVariant, ObjectsBecomeDictionariesRecursively) {
    auto dict = json_to_dict(json::parse(R"({"a": 1, "n": {"raw": [1, 2], "s": "x"}})"));
    ASSERT_TRUE(dict.ok());
    EXPECT_EQ(dict->at("a").peekValueType(), "t");
    ASSERT_EQ(dict->at("n").peekValueType(), "a{sv}");
    auto inner = dict->at("n").get<VariantDict>();
    EXPECT_EQ(inner.at("raw").peekValueType(), "ay");
    EXPECT_EQ(inner.at("s").get<std::string>(), "x");
}

TEST(JsonToVariant, NullAndNonObjectsAreRefused) {
    auto null_value = json_to_dict(json::parse(R"({"a": null})"));
    ASSERT_FALSE(null_value.ok());
    EXPECT_EQ(null_value.error().code, Errc::InvalidArgument);
    EXPECT_NE(null_value.error().message.find("'a'"), std::string::npos);
    EXPECT_FALSE(json_to_dict(json::array()).ok());
    EXPECT_FALSE(json_to_dict_array(json::object()).ok());
    EXPECT_FALSE(json_to_dict_array(json::parse("[1]")).ok());
}

TEST(JsonToVariant, CdatRenderingConverts) {
    doe::CdatTable table;
    table.header = {.length = 16 + 24, .revision = 1, .checksum = 0x42, .sequence = 3};
    table.entries.push_back(
        {16,
         doe::CdatDsmas{.dsmad_handle = 0, .flags = 0, .dpa_base = 0, .dpa_length = 0x10000000}});
    table.entries.push_back({40, doe::CdatUnknown{.type_id = 9, .raw = {9, 0, 8, 0, 1, 2, 3, 4}}});
    auto entries = json_to_dict_array(doe::cdat_to_json(table));
    ASSERT_TRUE(entries.ok());
    ASSERT_EQ(entries->size(), 3u);
    EXPECT_EQ((*entries)[0].at("type").get<std::string>(), "header");
    EXPECT_EQ((*entries)[0].at("checksum").get<uint64_t>(), 0x42u);
    EXPECT_EQ((*entries)[1].at("dpa_length").get<uint64_t>(), 0x10000000u);
    EXPECT_EQ((*entries)[2].at("raw").peekValueType(), "ay");
}

TEST(VariantToJson, AcceptsEveryIntegerType) {
    VariantDict fields{
        {"y", sdbus::Variant(uint8_t{200})},     {"q", sdbus::Variant(uint16_t{60000})},
        {"u", sdbus::Variant(uint32_t{7})},      {"t", sdbus::Variant(uint64_t{1} << 40)},
        {"n", sdbus::Variant(int16_t{-5})},      {"i", sdbus::Variant(int32_t{-70000})},
        {"x", sdbus::Variant(int64_t{-1} << 40)}};
    auto j = dict_to_json(fields);
    ASSERT_TRUE(j.ok()) << j.error().message;
    EXPECT_EQ((*j)["y"], 200);
    EXPECT_EQ((*j)["q"], 60000);
    EXPECT_EQ((*j)["u"], 7);
    EXPECT_EQ((*j)["t"].get<uint64_t>(), uint64_t{1} << 40);
    EXPECT_EQ((*j)["n"], -5);
    EXPECT_EQ((*j)["i"], -70000);
    EXPECT_EQ((*j)["x"].get<int64_t>(), -(int64_t{1} << 40));
    EXPECT_TRUE((*j)["u"].is_number_unsigned());
    EXPECT_FALSE((*j)["n"].is_number_unsigned());
}

TEST(VariantToJson, AcceptsStringsBooleansFloatsArraysAndDicts) {
    VariantDict inner{{"k", sdbus::Variant(std::string("v"))}};
    VariantDict fields{
        {"s", sdbus::Variant(std::string("abc"))},
        {"b", sdbus::Variant(true)},
        {"d", sdbus::Variant(2.5)},
        {"data", sdbus::Variant(std::vector<uint8_t>{1, 2, 3})},
        {"mask", sdbus::Variant(std::vector<uint64_t>{1, 2})},
        {"names", sdbus::Variant(std::vector<std::string>{"a", "b"})},
        {"any", sdbus::Variant(std::vector<sdbus::Variant>{sdbus::Variant(uint8_t{1}),
                                                           sdbus::Variant(std::string("x"))})},
        {"dict", sdbus::Variant(inner)},
    };
    auto j = dict_to_json(fields);
    ASSERT_TRUE(j.ok()) << j.error().message;
    EXPECT_EQ(*j, json::parse(R"({"s": "abc", "b": true, "d": 2.5, "data": [1, 2, 3],
                                  "mask": [1, 2], "names": ["a", "b"], "any": [1, "x"],
                                  "dict": {"k": "v"}})"));
}

TEST(VariantToJson, RefusesTypesFieldsDoNotTake) {
    VariantDict fields{{"where", sdbus::Variant(sdbus::ObjectPath("/org/cxlmgr1"))}};
    auto j = dict_to_json(fields);
    ASSERT_FALSE(j.ok());
    EXPECT_EQ(j.error().code, Errc::InvalidArgument);
    EXPECT_NE(j.error().message.find("'where'"), std::string::npos);
    EXPECT_NE(j.error().message.find("'o'"), std::string::npos);

    VariantDict with_struct{{"pair", sdbus::Variant(sdbus::Struct<uint8_t, std::string>(1, "a"))}};
    EXPECT_FALSE(dict_to_json(with_struct).ok());
}

TEST(VariantToJson, RoundTripsJsonRenderings) {
    const json original = json::parse(R"({"fw_revision": "EMU FW 1.0", "total_capacity": 268435456,
        "flags": [true], "nested": {"raw": [1, 2], "list": [{"a": 1}]}})");
    auto dict = json_to_dict(original);
    ASSERT_TRUE(dict.ok());
    auto back = dict_to_json(*dict);
    ASSERT_TRUE(back.ok()) << back.error().message;
    EXPECT_EQ(*back, original);
}

}  // namespace
}  // namespace cxlmgr::dbus
