// The reference mapping of the JSON renderings to D-Bus types (json_reference.hpp): the rules
// the v1 contract's replies were built by, against which dbus/values.hpp is measured.
#include "tests/dbus/json_reference.hpp"

#include <gtest/gtest.h>

#include <sdbus-c++/Types.h>

namespace cxlmgr::dbus::reference {
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

}  // namespace
}  // namespace cxlmgr::dbus::reference
