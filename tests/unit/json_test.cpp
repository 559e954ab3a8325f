// tether::Json: construction, accessors on every type, objects and arrays, equality, parse and
// dump (round trips, depth bounds, numbers, strings, UTF-8), and the typed conversions.

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "tether/json.hpp"

namespace {

using tether::Json;

Json parse_ok(std::string_view text) {
  std::string error;
  std::optional<Json> value = Json::parse(text, &error);
  EXPECT_TRUE(value.has_value()) << "text: " << text << " error: " << error;
  return value.value_or(Json());
}

std::string parse_error(std::string_view text) {
  std::string error;
  std::optional<Json> value = Json::parse(text, &error);
  EXPECT_FALSE(value.has_value()) << "text: " << text;
  EXPECT_FALSE(error.empty());
  return error;
}

std::uint64_t bits(double d) {
  std::uint64_t out = 0;
  std::memcpy(&out, &d, sizeof out);
  return out;
}

// --- construction and type ---------------------------------------------------------------------

TEST(JsonType, ConstructorsGiveTheirType) {
  EXPECT_EQ(Json().type(), Json::Type::null);
  EXPECT_EQ(Json(nullptr).type(), Json::Type::null);
  EXPECT_EQ(Json(true).type(), Json::Type::boolean);
  EXPECT_EQ(Json(std::int8_t{-3}).type(), Json::Type::integer);
  EXPECT_EQ(Json(short{7}).type(), Json::Type::integer);
  EXPECT_EQ(Json(7).type(), Json::Type::integer);
  EXPECT_EQ(Json(7L).type(), Json::Type::integer);
  EXPECT_EQ(Json(7LL).type(), Json::Type::integer);
  EXPECT_EQ(Json(std::uint8_t{200}).type(), Json::Type::integer);
  EXPECT_EQ(Json(7u).type(), Json::Type::integer);
  EXPECT_EQ(Json(std::numeric_limits<std::uint64_t>::max()).type(), Json::Type::integer);
  EXPECT_EQ(Json(1.5).type(), Json::Type::number);
  EXPECT_EQ(Json(1.5f).type(), Json::Type::number);
  EXPECT_EQ(Json("text").type(), Json::Type::string);
  EXPECT_EQ(Json(std::string("text")).type(), Json::Type::string);
  EXPECT_EQ(Json(std::string_view("text")).type(), Json::Type::string);
  EXPECT_EQ(Json(static_cast<const char*>(nullptr)).type(), Json::Type::null);
  EXPECT_EQ(Json::array().type(), Json::Type::array);
  EXPECT_EQ(Json::object().type(), Json::Type::object);
  EXPECT_EQ(Json(Json::Array{Json(1)}).type(), Json::Type::array);
  EXPECT_EQ(Json(Json::Object{{"a", Json(1)}}).type(), Json::Type::object);
}

TEST(JsonType, Predicates) {
  const Json values[] = {Json(), Json(false), Json(-1), Json(1.25), Json("s"), Json::array(),
                         Json::object()};
  const bool expect[][7] = {
      // null bool number integer string array object
      {true, false, false, false, false, false, false},
      {false, true, false, false, false, false, false},
      {false, false, true, true, false, false, false},
      {false, false, true, false, false, false, false},
      {false, false, false, false, true, false, false},
      {false, false, false, false, false, true, false},
      {false, false, false, false, false, false, true},
  };
  for (std::size_t i = 0; i < 7; ++i) {
    const Json& v = values[i];
    EXPECT_EQ(v.is_null(), expect[i][0]) << i;
    EXPECT_EQ(v.is_bool(), expect[i][1]) << i;
    EXPECT_EQ(v.is_number(), expect[i][2]) << i;
    EXPECT_EQ(v.is_integer(), expect[i][3]) << i;
    EXPECT_EQ(v.is_string(), expect[i][4]) << i;
    EXPECT_EQ(v.is_array(), expect[i][5]) << i;
    EXPECT_EQ(v.is_object(), expect[i][6]) << i;
  }
}

TEST(JsonType, TypeNames) {
  EXPECT_EQ(tether::to_string(Json::Type::null), "null");
  EXPECT_EQ(tether::to_string(Json::Type::boolean), "boolean");
  EXPECT_EQ(tether::to_string(Json::Type::integer), "integer");
  EXPECT_EQ(tether::to_string(Json::Type::number), "number");
  EXPECT_EQ(tether::to_string(Json::Type::string), "string");
  EXPECT_EQ(tether::to_string(Json::Type::array), "array");
  EXPECT_EQ(tether::to_string(Json::Type::object), "object");
}

TEST(JsonType, InitializerListBuilders) {
  const Json a = Json::array({1, "two", 3.5, nullptr, true, Json::array({})});
  EXPECT_EQ(a.dump(), R"([1,"two",3.5,null,true,[]])");
  const Json o = Json::object({{"id", 7}, {"name", "ada"}, {"tags", Json::array({"x"})},
                               {"nested", Json::object({{"ok", false}})}});
  EXPECT_EQ(o.dump(), R"({"id":7,"name":"ada","tags":["x"],"nested":{"ok":false}})");
}

// --- scalar accessors --------------------------------------------------------------------------

TEST(JsonAccess, EveryAccessorOnEveryType) {
  const Json null;
  const Json boolean(true);
  const Json integer(-42);
  const Json big(std::numeric_limits<std::uint64_t>::max());
  const Json real(2.5);
  const Json integral_real(3.0);
  const Json text("hi");
  const Json array = Json::array({1});
  const Json object = Json::object({{"a", 1}});

  // as_bool
  EXPECT_FALSE(null.as_bool());
  EXPECT_TRUE(null.as_bool(true));
  EXPECT_TRUE(boolean.as_bool());
  EXPECT_TRUE(integer.as_bool(true));
  EXPECT_FALSE(integer.as_bool());
  EXPECT_FALSE(text.as_bool());
  EXPECT_FALSE(array.as_bool());
  EXPECT_FALSE(object.as_bool());
  EXPECT_EQ(boolean.get_bool(), std::optional<bool>(true));
  EXPECT_EQ(integer.get_bool(), std::nullopt);

  // as_int / get_int
  EXPECT_EQ(null.as_int(), 0);
  EXPECT_EQ(null.as_int(-1), -1);
  EXPECT_EQ(boolean.as_int(5), 5);
  EXPECT_EQ(integer.as_int(), -42);
  EXPECT_EQ(big.as_int(9), 9);
  EXPECT_EQ(real.as_int(9), 9);
  EXPECT_EQ(integral_real.as_int(), 3);
  EXPECT_EQ(text.as_int(1), 1);
  EXPECT_EQ(array.as_int(1), 1);
  EXPECT_EQ(object.as_int(1), 1);
  EXPECT_EQ(integer.get_int(), std::optional<std::int64_t>(-42));
  EXPECT_EQ(big.get_int(), std::nullopt);
  EXPECT_EQ(real.get_int(), std::nullopt);
  EXPECT_EQ(Json(1e19).get_int(), std::nullopt);
  EXPECT_EQ(Json(-9223372036854775808.0).get_int(),
            std::optional<std::int64_t>(std::numeric_limits<std::int64_t>::min()));
  EXPECT_EQ(Json(std::nan("")).get_int(), std::nullopt);

  // as_uint / get_uint
  EXPECT_EQ(integer.as_uint(7), 7u);
  EXPECT_EQ(Json(42).as_uint(), 42u);
  EXPECT_EQ(big.as_uint(), std::numeric_limits<std::uint64_t>::max());
  EXPECT_EQ(Json(1e19).get_uint(), std::optional<std::uint64_t>(10000000000000000000ull));
  EXPECT_EQ(Json(1.8446744073709552e19).get_uint(), std::nullopt);
  EXPECT_EQ(Json(-1.0).get_uint(), std::nullopt);
  EXPECT_EQ(text.get_uint(), std::nullopt);
  EXPECT_EQ(null.as_uint(), 0u);

  // as_double / get_double
  EXPECT_EQ(null.as_double(), 0.0);
  EXPECT_EQ(null.as_double(1.5), 1.5);
  EXPECT_EQ(integer.as_double(), -42.0);
  EXPECT_EQ(big.as_double(), 18446744073709551615.0);
  EXPECT_EQ(real.as_double(), 2.5);
  EXPECT_EQ(text.as_double(4.0), 4.0);
  EXPECT_EQ(boolean.get_double(), std::nullopt);
  EXPECT_EQ(real.get_double(), std::optional<double>(2.5));

  // as_string / get_string
  EXPECT_EQ(text.as_string(), "hi");
  EXPECT_EQ(null.as_string(), "");
  EXPECT_EQ(integer.as_string(), "");
  EXPECT_EQ(array.as_string(), "");
  EXPECT_EQ(text.get_string(), std::optional<std::string>("hi"));
  EXPECT_EQ(object.get_string(), std::nullopt);

  // size / empty
  EXPECT_EQ(null.size(), 0u);
  EXPECT_EQ(text.size(), 0u);
  EXPECT_EQ(array.size(), 1u);
  EXPECT_EQ(object.size(), 1u);
  EXPECT_TRUE(null.empty());
  EXPECT_FALSE(array.empty());

  // object and array views of non-containers
  EXPECT_TRUE(text.items().empty());
  EXPECT_TRUE(object.elements().empty());
  EXPECT_TRUE(array.items().empty());
  EXPECT_EQ(text.find("a"), nullptr);
  EXPECT_TRUE(text["a"].is_null());
  EXPECT_TRUE(object[std::size_t{0}].is_null());
}

TEST(JsonAccess, UnsignedValuesThatFitAreTheSameAsSigned) {
  EXPECT_EQ(Json(5u), Json(5));
  EXPECT_EQ(Json(5u).get_int(), std::optional<std::int64_t>(5));
  EXPECT_EQ(Json(std::uint64_t{9223372036854775807ull}).get_int(),
            std::optional<std::int64_t>(std::numeric_limits<std::int64_t>::max()));
  EXPECT_EQ(Json(std::uint64_t{9223372036854775808ull}).get_int(), std::nullopt);
}

// --- objects -----------------------------------------------------------------------------------

TEST(JsonObject, IndexInsertsNullAndTurnsNullIntoObject) {
  Json j;
  j["a"] = 1;
  EXPECT_TRUE(j.is_object());
  Json& b = j["b"];
  EXPECT_TRUE(b.is_null());
  EXPECT_EQ(j.size(), 2u);
  EXPECT_TRUE(j.contains("b"));
  j["a"] = "again";
  EXPECT_EQ(j.size(), 2u);
  EXPECT_EQ(j["a"].as_string(), "again");
  EXPECT_EQ(j.dump(), R"({"a":"again","b":null})");

  Json text("not an object");
  text["k"] = true;
  EXPECT_EQ(text.dump(), R"({"k":true})");
}

TEST(JsonObject, ConstLookupsNeverInsert) {
  const Json j = Json::object({{"a", 1}});
  EXPECT_TRUE(j["missing"].is_null());
  EXPECT_EQ(j.size(), 1u);
  EXPECT_EQ(j.find("missing"), nullptr);
  ASSERT_NE(j.find("a"), nullptr);
  EXPECT_EQ(j.find("a")->as_int(), 1);
  EXPECT_FALSE(j.contains("A"));
  // Chained lookups through missing members stay null.
  EXPECT_TRUE(j["x"]["y"]["z"].is_null());
}

TEST(JsonObject, SetEraseItemsOrder) {
  Json j;
  j.set("z", 1).set("a", 2).set("m", 3);
  EXPECT_EQ(j.dump(), R"({"z":1,"a":2,"m":3})");
  j.set("a", Json::array({1}));
  EXPECT_EQ(j.dump(), R"({"z":1,"a":[1],"m":3})");
  EXPECT_TRUE(j.erase("z"));
  EXPECT_FALSE(j.erase("z"));
  EXPECT_FALSE(Json(3).erase("z"));
  std::vector<std::string> keys;
  for (const auto& [key, value] : j.items()) keys.push_back(key);
  EXPECT_EQ(keys, (std::vector<std::string>{"a", "m"}));
  Json* m = j.find("m");
  ASSERT_NE(m, nullptr);
  *m = "changed";
  EXPECT_EQ(j["m"].as_string(), "changed");
}

TEST(JsonObject, DuplicateKeysLastWinsAtFirstPosition) {
  const Json small = Json::object({{"a", 1}, {"b", 2}, {"a", 3}});
  EXPECT_EQ(small.dump(), R"({"a":3,"b":2})");
  Json::Object many;
  for (int i = 0; i < 40; ++i) many.emplace_back("k" + std::to_string(i % 10), Json(i));
  const Json big(std::move(many));
  EXPECT_EQ(big.size(), 10u);
  EXPECT_EQ(big.items()[0].first, "k0");
  EXPECT_EQ(big["k0"].as_int(), 30);
  EXPECT_EQ(big["k9"].as_int(), 39);
  EXPECT_EQ(parse_ok(R"({"x":1,"y":2,"x":{"deep":true}})").dump(), R"({"x":{"deep":true},"y":2})");
}

TEST(JsonObject, KeysWithNulAndUnicode) {
  Json j;
  j[std::string_view("a\0b", 3)] = 1;
  j["é"] = 2;
  EXPECT_EQ(j.size(), 2u);
  EXPECT_FALSE(j.contains("a"));
  EXPECT_TRUE(j.contains(std::string_view("a\0b", 3)));
  const Json back = parse_ok(j.dump());
  EXPECT_EQ(back, j);
  EXPECT_EQ(j.dump(), "{\"a\\u0000b\":1,\"\xC3\xA9\":2}");
}

// --- arrays ------------------------------------------------------------------------------------

TEST(JsonArray, PushIndexGrowAndIterate) {
  Json j;
  j.push_back(1);
  j.push_back("two");
  EXPECT_TRUE(j.is_array());
  EXPECT_EQ(j.size(), 2u);
  EXPECT_EQ(j[1].as_string(), "two");
  const Json& c = j;
  EXPECT_TRUE(c[5].is_null());
  EXPECT_EQ(c.size(), 2u);
  j[3] = true;
  EXPECT_EQ(j.dump(), R"([1,"two",null,true])");
  int count = 0;
  for (const Json& e : j.elements()) {
    (void)e;
    ++count;
  }
  EXPECT_EQ(count, 4);
  Json number(5);
  number.push_back(1);
  EXPECT_EQ(number.dump(), "[1]");
  Json other("x");
  other[1] = 2;
  EXPECT_EQ(other.dump(), "[null,2]");
}

// --- equality ----------------------------------------------------------------------------------

TEST(JsonEquality, NumbersCompareByExactValue) {
  EXPECT_EQ(Json(1), Json(1u));
  EXPECT_EQ(Json(1), Json(1.0));
  EXPECT_EQ(Json(1u), Json(1.0));
  EXPECT_NE(Json(1), Json(1.5));
  EXPECT_NE(Json(-1), Json(std::numeric_limits<std::uint64_t>::max()));
  EXPECT_NE(Json(std::int64_t{9007199254740993}), Json(9007199254740992.0));
  EXPECT_EQ(Json(std::int64_t{9007199254740992}), Json(9007199254740992.0));
  EXPECT_EQ(Json(0), Json(-0.0));
  EXPECT_NE(Json(std::nan("")), Json(std::nan("")));
  EXPECT_NE(Json(1), Json(true));
  EXPECT_NE(Json(0), Json());
  EXPECT_NE(Json("1"), Json(1));
  EXPECT_TRUE(Json(3) == 3);
  EXPECT_TRUE(Json("x") == "x");
  EXPECT_TRUE(Json() == nullptr);
}

TEST(JsonEquality, ContainersDeep) {
  EXPECT_EQ(Json::object({{"a", 1}, {"b", 2}}), Json::object({{"b", 2}, {"a", 1}}));
  EXPECT_NE(Json::object({{"a", 1}}), Json::object({{"a", 1}, {"b", 2}}));
  EXPECT_NE(Json::object({{"a", 1}}), Json::object({{"b", 1}}));
  EXPECT_EQ(Json::array({1, 2}), Json::array({1, 2}));
  EXPECT_NE(Json::array({1, 2}), Json::array({2, 1}));
  EXPECT_NE(Json::array(), Json::object());
  // Large objects in different orders.
  Json a = Json::object();
  Json b = Json::object();
  for (int i = 0; i < 50; ++i) a.set("k" + std::to_string(i), i);
  for (int i = 49; i >= 0; --i) b.set("k" + std::to_string(i), i);
  EXPECT_EQ(a, b);
  b.set("k7", 8);
  EXPECT_NE(a, b);
  const Json copy = a;
  EXPECT_EQ(copy, a);
  Json moved = std::move(a);
  EXPECT_EQ(moved, copy);
}

// --- parse and dump ----------------------------------------------------------------------------

TEST(JsonText, RoundTrips) {
  const char* texts[] = {
      "null", "true", "false", "0", "-1", "42", "1.5", "-0.25", "\"\"", "\"text\"", "[]", "{}",
      "[1,2,3]", R"({"a":{"b":[true,false,null]}})", R"([{"x":1},{"y":[[]]}])",
      R"({"unicode":"\u00e9\u4e2d\ud83d\ude00"})", "1e300", "[0.1,0.2,0.30000000000000004]",
  };
  for (const char* text : texts) {
    const Json value = parse_ok(text);
    const std::string dumped = value.dump();
    EXPECT_EQ(parse_ok(dumped), value) << text;
    EXPECT_EQ(parse_ok(dumped).dump(), dumped) << text;
  }
}

TEST(JsonText, DumpIsCompact) {
  EXPECT_EQ(parse_ok(" { \"a\" : [ 1 , 2 ] ,\n\t\"b\" : { } } ").dump(), R"({"a":[1,2],"b":{}})");
  EXPECT_EQ(Json().dump(), "null");
  EXPECT_EQ(Json(1.0).dump(), "1.0");
  EXPECT_EQ(Json("a\"b\\c\n").dump(), R"("a\"b\\c\n")");
}

TEST(JsonText, DepthBound) {
  const std::string ok = std::string(64, '[') + std::string(64, ']');
  EXPECT_EQ(parse_ok(ok).dump(), ok);
  const std::string too_deep = std::string(65, '[') + std::string(65, ']');
  EXPECT_NE(parse_error(too_deep).find("nesting deeper than 64"), std::string::npos);

  std::string objects;
  for (int i = 0; i < 64; ++i) objects += "{\"a\":";
  objects += "1";
  objects += std::string(64, '}');
  EXPECT_TRUE(Json::parse(objects).has_value());
  std::string deeper;
  for (int i = 0; i < 65; ++i) deeper += "{\"a\":";
  deeper += "1";
  deeper += std::string(65, '}');
  EXPECT_NE(parse_error(deeper).find("nesting deeper than 64"), std::string::npos);
  EXPECT_EQ(Json::max_depth, 64u);
}

TEST(JsonText, HundredThousandDeepIsRefusedWithoutCrash) {
  const std::string open(100000, '[');
  EXPECT_NE(parse_error(open).find("nesting deeper than 64"), std::string::npos);
  const std::string balanced = open + std::string(100000, ']');
  EXPECT_NE(parse_error(balanced).find("nesting deeper than 64"), std::string::npos);
  std::string objects;
  for (int i = 0; i < 100000; ++i) objects += "{\"k\":";
  EXPECT_NE(parse_error(objects).find("nesting deeper than 64"), std::string::npos);
  // Brackets inside strings do not count.
  const std::string in_string = "\"" + open + "\"";
  EXPECT_EQ(parse_ok(in_string).as_string().size(), 100000u);
}

TEST(JsonText, Integers) {
  EXPECT_EQ(parse_ok("9223372036854775807").get_int(),
            std::optional<std::int64_t>(std::numeric_limits<std::int64_t>::max()));
  EXPECT_EQ(parse_ok("-9223372036854775808").get_int(),
            std::optional<std::int64_t>(std::numeric_limits<std::int64_t>::min()));
  const Json umax = parse_ok("18446744073709551615");
  EXPECT_TRUE(umax.is_integer());
  EXPECT_EQ(umax.get_uint(), std::optional<std::uint64_t>(std::numeric_limits<std::uint64_t>::max()));
  EXPECT_EQ(umax.dump(), "18446744073709551615");
  EXPECT_EQ(parse_ok("-9223372036854775808").dump(), "-9223372036854775808");

  // Beyond the integer ranges: doubles.
  const Json over = parse_ok("18446744073709551616");
  EXPECT_FALSE(over.is_integer());
  EXPECT_TRUE(over.is_number());
  EXPECT_EQ(over.as_double(), 18446744073709551616.0);
  const Json under = parse_ok("-9223372036854775809");
  EXPECT_FALSE(under.is_integer());
  EXPECT_EQ(under.as_double(), -9223372036854775808.0);
  EXPECT_TRUE(parse_ok("123456789012345678901234567890").is_number());

  const Json minus_zero = parse_ok("-0");
  EXPECT_TRUE(minus_zero.is_integer());
  EXPECT_EQ(minus_zero.as_int(), 0);
}

TEST(JsonText, Doubles) {
  EXPECT_EQ(parse_ok("1e308").as_double(), 1e308);
  EXPECT_EQ(parse_ok("1.7976931348623157e308").as_double(), std::numeric_limits<double>::max());
  EXPECT_EQ(parse_ok("5e-324").as_double(), std::numeric_limits<double>::denorm_min());
  EXPECT_EQ(parse_ok("1e-400").as_double(), 0.0);
  EXPECT_NE(parse_error("1e400").find("number too big"), std::string::npos);
  EXPECT_NE(parse_error("-1e400").find("number too big"), std::string::npos);
  EXPECT_NE(parse_error("[1,2e999]").find("number too big"), std::string::npos);
  // Past DBL_MAX with a small exponent too.
  EXPECT_NE(parse_error("1.8e308").find("number too big to be stored in a double at offset 0"),
            std::string::npos);
  EXPECT_NE(parse_error("[10e308]").find("number too big"), std::string::npos);
  EXPECT_NE(parse_error(std::string(400, '9')).find("number too big"), std::string::npos);
  EXPECT_EQ(parse_ok("1.7976931348623158e308").as_double(), std::numeric_limits<double>::max());
  // Underflow gives a signed zero.
  EXPECT_EQ(bits(parse_ok("2e-324").as_double()), bits(0.0));
  EXPECT_EQ(bits(parse_ok("-1e-400").as_double()), bits(-0.0));
  EXPECT_EQ(parse_ok("2.4703282292062328e-324").as_double(), std::numeric_limits<double>::denorm_min());
  // Zero significands with exponents are zero (RapidJSON's own full-precision conversion gets
  // these wrong; the numbers are converted from their text instead).
  for (const char* zero : {"0e-300", "0.0e-100", "0.000e-310", "0e10", "0.0E+5", "-0e-320"}) {
    const Json z = parse_ok(zero);
    EXPECT_TRUE(z.is_number()) << zero;
    EXPECT_EQ(z.as_double(), 0.0) << zero;
    EXPECT_EQ(std::signbit(z.as_double()), zero[0] == '-') << zero;
  }
  // Correct rounding on long inputs.
  EXPECT_EQ(parse_ok("0." + std::string(500, '0') + "1e500").as_double(), 0.1);
  EXPECT_EQ(parse_ok("3.14159265358979323846264338327950288419716939937510").as_double(), 3.141592653589793);

  const Json neg_zero = parse_ok("-0.0");
  EXPECT_FALSE(neg_zero.is_integer());
  EXPECT_TRUE(std::signbit(neg_zero.as_double()));
  EXPECT_EQ(neg_zero.dump(), "-0.0");
  EXPECT_TRUE(std::signbit(parse_ok(Json(-0.0).dump()).as_double()));

  EXPECT_EQ(Json(std::nan("")).dump(), "null");
  EXPECT_EQ(Json(std::numeric_limits<double>::infinity()).dump(), "null");
  EXPECT_EQ(Json::array({-std::numeric_limits<double>::infinity(), 1}).dump(), "[null,1]");
}

TEST(JsonText, RandomDoublesRoundTripBitExact) {
  std::mt19937_64 rng(20240607);
  int checked = 0;
  for (int i = 0; i < 20000; ++i) {
    const std::uint64_t raw = rng();
    double d = 0;
    std::memcpy(&d, &raw, sizeof d);
    if (!std::isfinite(d)) continue;
    const std::string text = Json(d).dump();
    const std::optional<Json> back = Json::parse(text);
    ASSERT_TRUE(back.has_value()) << text;
    ASSERT_EQ(bits(back->as_double()), bits(d)) << text;
    ++checked;
  }
  EXPECT_GT(checked, 19000);
}

TEST(JsonText, Strings) {
  EXPECT_EQ(parse_ok(R"("\"\\\/\b\f\n\r\t")").as_string(), "\"\\/\b\f\n\r\t");
  EXPECT_EQ(parse_ok(R"("\u00e9")").as_string(), "\xC3\xA9");
  EXPECT_EQ(parse_ok(R"("\u4E2D")").as_string(), "\xE4\xB8\xAD");
  EXPECT_EQ(parse_ok(R"("\ud83d\ude00")").as_string(), "\xF0\x9F\x98\x80");
  EXPECT_EQ(parse_ok(R"("\uDBFF\uDFFF")").as_string(), "\xF4\x8F\xBF\xBF");
  const Json nul = parse_ok(R"("a\u0000b")");
  EXPECT_EQ(nul.as_string(), std::string("a\0b", 3));
  EXPECT_EQ(nul.dump(), R"("a\u0000b")");
  EXPECT_EQ(parse_ok(nul.dump()), nul);
  // Raw UTF-8 passes through.
  EXPECT_EQ(parse_ok("\"\xF0\x9F\x98\x80\"").as_string(), "\xF0\x9F\x98\x80");
}

TEST(JsonText, BadSurrogatesAndUtf8AreRefused) {
  EXPECT_NE(parse_error(R"("\ud800")").find("surrogate"), std::string::npos);
  EXPECT_NE(parse_error(R"("\ud800\u0041")").find("surrogate"), std::string::npos);
  EXPECT_NE(parse_error(R"("\udc00")").find("lone surrogate"), std::string::npos);
  EXPECT_NE(parse_error(R"({"\udfff":1})").find("lone surrogate"), std::string::npos);
  EXPECT_NE(parse_error(R"("\u12")").find("\\u escape"), std::string::npos);
  const char* invalid[] = {
      "\"\xFF\"",              // never valid
      "\"\xC0\x80\"",          // overlong NUL
      "\"\xE0\x80\xAF\"",      // overlong
      "\"\xED\xA0\x80\"",      // UTF-8 encoded surrogate
      "\"\xF4\x90\x80\x80\"",  // above U+10FFFF
      "\"\xC3\"",              // truncated
      "\"\xE4\xB8\"",          // truncated
      "\"\x80\"",              // lone continuation byte
  };
  for (const char* text : invalid) {
    EXPECT_NE(parse_error(text).find("invalid UTF-8"), std::string::npos) << text;
  }
  EXPECT_FALSE(Json::parse("{\"k\xFF\":1}").has_value());
  EXPECT_FALSE(Json::parse("\xFF").has_value());
  EXPECT_NE(parse_error("\"a\tb\"").find("control character"), std::string::npos);
}

TEST(JsonText, DumpReplacesInvalidUtf8) {
  EXPECT_EQ(Json("a\xFF" "b").dump(), "\"a\xEF\xBF\xBD" "b\"");
  Json j;
  j["k\xC3"] = "\xED\xA0\x80";
  const std::string text = j.dump();
  EXPECT_TRUE(Json::parse(text).has_value()) << text;
}

TEST(JsonText, DumpEscapes) {
  EXPECT_EQ(Json(std::string("\"\\/\b\f\n\r\t\x01\x1F\x7F", 11)).dump(),
            "\"\\\"\\\\/\\b\\f\\n\\r\\t\\u0001\\u001F\x7F\"");
  // Long runs of plain text around the escapes (copied eight bytes at a time).
  const std::string plain(37, 'p');
  EXPECT_EQ(Json(plain + "\"" + plain + "\xC3\xA9" + plain).dump(),
            "\"" + plain + "\\\"" + plain + "\xC3\xA9" + plain + "\"");
  EXPECT_EQ(Json::object({{"k\n", Json::array({1, -2, 2.5, true, nullptr, "s"})}}).dump(),
            R"({"k\n":[1,-2,2.5,true,null,"s"]})");
}

TEST(JsonText, ParsesTheSameWithAndWithoutItsFastPath) {
  // Texts the fast path parses and texts it leaves to the full parser (\u escapes, exponents,
  // nesting between 32 and 64 levels): the same values either way.
  EXPECT_EQ(parse_ok(R"({"a":[1,2.5,-0.25,"x\n"],"b":{"c":null}})"),
            Json::object({{"a", Json::array({1, 2.5, -0.25, "x\n"})}, {"b", Json::object({{"c", nullptr}})}}));
  EXPECT_EQ(parse_ok(R"([1e2,"\u0041",18446744073709551616])"),
            Json::array({100.0, "A", 18446744073709551616.0}));
  EXPECT_EQ(parse_ok(std::string(40, '[') + std::string(40, ']')).size(), 1u);
  EXPECT_EQ(parse_ok(R"({"k":1,"k":2})"), Json::object({{"k", 2}}));
  // Refused whichever path sees them first.
  for (const char* text : {"0e400", "01", "-", "1.", "[1,]", "{\"a\":1,}", "\"a", "tru", "[1 2]"}) {
    EXPECT_FALSE(Json::parse(text).has_value()) << text;
  }
  EXPECT_NE(parse_error("0e400").find("too big"), std::string::npos);
}

TEST(JsonText, SyntaxErrorsAndTrailingText) {
  struct Case {
    std::string text;
    const char* fragment;
  };
  const Case cases[] = {
      {"", "the text is empty at offset 0"},
      {"   ", "the text is empty"},
      {"1 2", "text after the JSON value at offset 2"},
      {"{} x", "text after the JSON value"},
      {"[1]]", "text after the JSON value"},
      {std::string("1\0", 2), "text after the JSON value at offset 1"},
      {std::string("[1,\0 2]", 7), "at offset"},
      {std::string("\"a\0b\"", 5), "missing a closing quotation mark"},
      {"nul", "invalid value"},
      {"[1,]", "invalid value"},
      {"{\"a\" 1}", "missing a colon"},
      {"{\"a\":1 \"b\":2}", "missing a comma or '}'"},
      {"[1 2]", "missing a comma or ']'"},
      {"{1:2}", "missing a name"},
      {"\"abc", "missing a closing quotation mark"},
      {"1.", "missing the fraction"},
      {"1e", "missing the exponent"},
      {"NaN", "invalid value"},
      {"Infinity", "invalid value"},
      {"'single'", "invalid value"},
      {"[1] // comment", "text after the JSON value"},
      {"\"\\x\"", "invalid escape"},
      {"01", "text after the JSON value"},
      {"\xEF\xBB\xBF{}", "invalid value"},
  };
  for (const Case& c : cases) {
    const std::string error = parse_error(c.text);
    EXPECT_NE(error.find(c.fragment), std::string::npos) << "text: " << c.text << " error: " << error;
  }
  // No error string wanted: still refused.
  EXPECT_FALSE(Json::parse("[").has_value());
}

TEST(JsonText, WhitespaceAroundTheValueIsFine) {
  EXPECT_EQ(parse_ok(" \t\r\n 1 \t\r\n ").as_int(), 1);
}

// --- typed conversions -------------------------------------------------------------------------

}  // namespace

namespace shop {

struct Address {
  std::string city;
  std::optional<std::string> zip;
};

struct User {
  std::int64_t id = 0;
  std::string name;
  std::vector<std::string> tags;
  Address address;
  int retries = 3;
};

void to_json(tether::Json& j, const Address& a) {
  j = tether::Json::object({{"city", a.city}, {"zip", tether::json_from(a.zip)}});
}

bool from_json(const tether::Json& j, Address& a, std::string* error) {
  return tether::json_field(j, "city", a.city, error) && tether::json_field(j, "zip", a.zip, error);
}

void to_json(tether::Json& j, const User& u) {
  j = tether::Json::object({{"id", u.id},
                            {"name", u.name},
                            {"tags", tether::json_from(u.tags)},
                            {"address", tether::json_from(u.address)},
                            {"retries", u.retries}});
}

bool from_json(const tether::Json& j, User& u, std::string* error) {
  return tether::json_field(j, "id", u.id, error) && tether::json_field(j, "name", u.name, error) &&
         tether::json_optional_field(j, "tags", u.tags, error) &&
         tether::json_field(j, "address", u.address, error) &&
         tether::json_optional_field(j, "retries", u.retries, error);
}

}  // namespace shop

namespace {

TEST(JsonConvert, Integers) {
  std::string error;
  EXPECT_EQ(tether::json_to<int>(Json(5)), std::optional<int>(5));
  EXPECT_EQ(tether::json_to<int>(Json(5.0)), std::optional<int>(5));
  EXPECT_EQ(tether::json_to<std::int8_t>(Json(300), &error), std::nullopt);
  EXPECT_EQ(error, "expected an integer between -128 and 127, got 300");
  EXPECT_EQ(tether::json_to<std::uint8_t>(Json(-1), &error), std::nullopt);
  EXPECT_EQ(error, "expected an integer between 0 and 255, got -1");
  EXPECT_EQ(tether::json_to<unsigned>(Json(4294967295u)), std::optional<unsigned>(4294967295u));
  EXPECT_EQ(tether::json_to<std::uint64_t>(Json(std::numeric_limits<std::uint64_t>::max())),
            std::optional<std::uint64_t>(std::numeric_limits<std::uint64_t>::max()));
  EXPECT_EQ(tether::json_to<std::int64_t>(Json(std::numeric_limits<std::uint64_t>::max()), &error),
            std::nullopt);
  EXPECT_NE(error.find("between -9223372036854775808 and 9223372036854775807"), std::string::npos);
  EXPECT_EQ(tether::json_to<int>(Json(2.5), &error), std::nullopt);
  EXPECT_EQ(error, "expected an integer, got 2.5");
  EXPECT_EQ(tether::json_to<int>(Json("7"), &error), std::nullopt);
  EXPECT_EQ(error, "expected an integer, got a string");
  EXPECT_EQ(tether::json_to<long>(Json(), &error), std::nullopt);
  EXPECT_EQ(error, "expected an integer, got null");
  EXPECT_EQ(tether::json_from(std::int16_t{-5}), Json(-5));
}

TEST(JsonConvert, Scalars) {
  std::string error;
  EXPECT_EQ(tether::json_to<bool>(Json(true)), std::optional<bool>(true));
  EXPECT_EQ(tether::json_to<bool>(Json(1), &error), std::nullopt);
  EXPECT_EQ(error, "expected a boolean, got an integer");
  EXPECT_EQ(tether::json_to<double>(Json(3)), std::optional<double>(3.0));
  EXPECT_EQ(tether::json_to<double>(Json::array(), &error), std::nullopt);
  EXPECT_EQ(error, "expected a number, got an array");
  EXPECT_EQ(tether::json_to<float>(Json(0.5)), std::optional<float>(0.5f));
  EXPECT_EQ(tether::json_to<float>(Json(1e300), &error), std::nullopt);
  EXPECT_NE(error.find("float's range"), std::string::npos);
  EXPECT_EQ(tether::json_to<std::string>(Json("s")), std::optional<std::string>("s"));
  EXPECT_EQ(tether::json_to<std::string>(Json::object(), &error), std::nullopt);
  EXPECT_EQ(error, "expected a string, got an object");
  EXPECT_EQ(tether::json_to<Json>(Json::array({1})), std::optional<Json>(Json::array({1})));
  EXPECT_EQ(tether::json_from(true), Json(true));
  EXPECT_EQ(tether::json_from(2.5), Json(2.5));
  EXPECT_EQ(tether::json_from(1.5f), Json(1.5));
  EXPECT_EQ(tether::json_from(std::string("x")), Json("x"));
  EXPECT_EQ(tether::json_from(std::string_view("x")), Json("x"));
  EXPECT_EQ(tether::json_from("x"), Json("x"));
}

TEST(JsonConvert, Containers) {
  std::string error;
  const std::vector<std::vector<std::string>> nested{{"a"}, {}, {"b", "c"}};
  const Json j = tether::json_from(nested);
  EXPECT_EQ(j.dump(), R"([["a"],[],["b","c"]])");
  EXPECT_EQ(tether::json_to<std::vector<std::vector<std::string>>>(j), nested);

  EXPECT_EQ(tether::json_to<std::vector<int>>(parse_ok(R"([1,"x"])"), &error), std::nullopt);
  EXPECT_EQ(error, R"(field "[1]": expected an integer, got a string)");
  EXPECT_EQ(tether::json_to<std::vector<std::vector<int>>>(parse_ok("[[1],[2,null]]"), &error),
            std::nullopt);
  EXPECT_EQ(error, R"(field "[1][1]": expected an integer, got null)");
  EXPECT_EQ(tether::json_to<std::vector<int>>(Json(1), &error), std::nullopt);
  EXPECT_EQ(error, "expected an array, got an integer");

  const std::vector<bool> flags{true, false};
  EXPECT_EQ(tether::json_from(flags).dump(), "[true,false]");
  EXPECT_EQ(tether::json_to<std::vector<bool>>(parse_ok("[false,true]")),
            (std::vector<bool>{false, true}));

  std::optional<int> none;
  EXPECT_TRUE(tether::json_from(none).is_null());
  EXPECT_EQ(tether::json_from(std::optional<int>(4)), Json(4));
  const auto from_null = tether::json_to<std::optional<int>>(Json());
  ASSERT_TRUE(from_null.has_value());
  EXPECT_FALSE(from_null->has_value());
  EXPECT_EQ(tether::json_to<std::optional<int>>(Json(2)), std::optional<std::optional<int>>(2));
  EXPECT_EQ(tether::json_to<std::optional<int>>(Json("2"), &error), std::nullopt);

  const std::map<std::string, std::vector<int>> map{{"a", {1}}, {"b", {}}};
  const Json m = tether::json_from(map);
  EXPECT_EQ(m.dump(), R"({"a":[1],"b":[]})");
  EXPECT_EQ((tether::json_to<std::map<std::string, std::vector<int>>>(m)), map);
  EXPECT_EQ((tether::json_to<std::map<std::string, int>>(parse_ok(R"({"a":1,"b":true})"), &error)),
            std::nullopt);
  EXPECT_EQ(error, R"(field "b": expected an integer, got a boolean)");
  EXPECT_EQ((tether::json_to<std::map<std::string, int>>(Json::array(), &error)), std::nullopt);
  EXPECT_EQ(error, "expected an object, got an array");
}

TEST(JsonConvert, FailureLeavesTheTargetUnchanged) {
  std::vector<int> values{9, 9};
  std::string error;
  EXPECT_FALSE(tether::from_json(parse_ok(R"([1,2,"x"])"), values, &error));
  EXPECT_EQ(values, (std::vector<int>{9, 9}));
  int n = 4;
  EXPECT_FALSE(tether::from_json(Json("no"), n, nullptr));  // No error wanted.
  EXPECT_EQ(n, 4);
}

TEST(JsonConvert, UserTypesByAdl) {
  shop::User user;
  user.id = 7;
  user.name = "ada";
  user.tags = {"admin"};
  user.address.city = "Paris";
  const Json j = tether::json_from(user);
  EXPECT_EQ(j.dump(),
            R"({"id":7,"name":"ada","tags":["admin"],"address":{"city":"Paris","zip":null},"retries":3})");
  const std::optional<shop::User> back = tether::json_to<shop::User>(j);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->id, 7);
  EXPECT_EQ(back->name, "ada");
  EXPECT_EQ(back->tags, user.tags);
  EXPECT_EQ(back->address.city, "Paris");
  EXPECT_FALSE(back->address.zip.has_value());

  // Optional members: absent keeps the default.
  const auto minimal = tether::json_to<shop::User>(
      parse_ok(R"({"id":1,"name":"b","address":{"city":"x","zip":"75001"}})"));
  ASSERT_TRUE(minimal.has_value());
  EXPECT_EQ(minimal->retries, 3);
  EXPECT_TRUE(minimal->tags.empty());
  EXPECT_EQ(minimal->address.zip, std::optional<std::string>("75001"));

  const auto users = tether::json_to<std::vector<shop::User>>(
      parse_ok(R"([{"id":1,"name":"a","address":{"city":"x"}}])"));
  ASSERT_TRUE(users.has_value());
  EXPECT_EQ(users->size(), 1u);
}

TEST(JsonConvert, ErrorsNameTheFieldPath) {
  struct Case {
    const char* text;
    const char* error;
  };
  const Case cases[] = {
      {R"({"id":"7","name":"a","address":{"city":"x"}})",
       R"(field "id": expected an integer, got a string)"},
      {R"({"name":"a","address":{"city":"x"}})", R"(field "id": missing)"},
      {R"({"id":1,"name":"a","address":{"city":5}})",
       R"(field "address.city": expected a string, got an integer)"},
      {R"({"id":1,"name":"a","address":{}})", R"(field "address.city": missing)"},
      {R"({"id":1,"name":"a","address":{"city":"x","zip":1}})",
       R"(field "address.zip": expected a string, got an integer)"},
      {R"({"id":1,"name":"a","tags":["x",2],"address":{"city":"x"}})",
       R"(field "tags[1]": expected a string, got an integer)"},
      {R"({"id":1,"name":"a","address":{"city":"x"},"retries":1.5})",
       R"(field "retries": expected an integer, got 1.5)"},
      {R"({"id":1,"name":"a","address":[]})", R"(field "address": expected an object, got an array)"},
      {R"([])", R"(expected an object, got an array)"},
  };
  for (const Case& c : cases) {
    std::string error;
    EXPECT_FALSE(tether::json_to<shop::User>(parse_ok(c.text), &error).has_value()) << c.text;
    EXPECT_EQ(error, c.error) << c.text;
  }
  // Paths through containers of user types.
  std::string error;
  const Json users = parse_ok(R"({"team":[{"id":1,"name":"a","address":{"city":"x"}},{"id":true}]})");
  std::map<std::string, std::vector<shop::User>> teams;
  EXPECT_FALSE(tether::from_json(users, teams, &error));
  EXPECT_EQ(error, R"(field "team[1].id": expected an integer, got a boolean)");
}

TEST(JsonConvert, ErrorPrefixHelper) {
  std::string error = "expected an integer, got a string";
  tether::json_error_prefix(&error, "id");
  EXPECT_EQ(error, R"(field "id": expected an integer, got a string)");
  tether::json_error_prefix(&error, "user");
  EXPECT_EQ(error, R"(field "user.id": expected an integer, got a string)");
  tether::json_error_prefix(&error, "[2]");
  EXPECT_EQ(error, R"(field "[2].user.id": expected an integer, got a string)");
  tether::json_error_prefix(&error, "users");
  EXPECT_EQ(error, R"(field "users[2].user.id": expected an integer, got a string)");
  tether::json_error_prefix(nullptr, "x");  // Nothing to do.
  EXPECT_EQ(tether::json_type_error("an array", Json("s")), "expected an array, got a string");
}

}  // namespace
