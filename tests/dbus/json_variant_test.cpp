// D-Bus arguments become JSON by the rules in dbus/json_variant.hpp, and what the JSON cannot
// take is refused, naming the key.
#include "dbus/json_variant.hpp"

#include <gtest/gtest.h>

#include <sdbus-c++/Types.h>

#include "tests/dbus/json_reference.hpp"

namespace cxlmgr::dbus {
namespace {

using nlohmann::json;

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
    auto dict = reference::json_to_dict(original);
    ASSERT_TRUE(dict.ok());
    auto back = dict_to_json(*dict);
    ASSERT_TRUE(back.ok()) << back.error().message;
    EXPECT_EQ(*back, original);
}

}  // namespace
}  // namespace cxlmgr::dbus
