// The message codecs: the default envelope and JSON-RPC 2.0 — encoding of messages and
// requests, decoding of every inbound kind, JSON-RPC batches, the examples of the JSON-RPC 2.0
// specification (section 7), and tables of bad inputs with the errors they must give.

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "codec/envelope_codec.hpp"
#include "codec/json_io.hpp"
#include "tether/codec.hpp"
#include "tether/json.hpp"

namespace {

using tether::Codec;
using tether::Inbound;
using tether::Json;
using Kind = tether::Inbound::Kind;

Json parse(std::string_view text) { return Json::parse(text).value_or(Json("<invalid test JSON>")); }

std::vector<Inbound> decode_ok(const Codec& codec, std::string_view text) {
  std::vector<Inbound> out;
  std::string error;
  EXPECT_TRUE(codec.decode(text, out, error)) << codec.name() << ": " << text << " -> " << error;
  return out;
}

std::string decode_error(const Codec& codec, std::string_view text) {
  std::vector<Inbound> out(2);  // Must be emptied.
  std::string error;
  EXPECT_FALSE(codec.decode(text, out, error)) << codec.name() << ": " << text;
  EXPECT_TRUE(out.empty()) << text;
  EXPECT_FALSE(error.empty()) << text;
  EXPECT_EQ(error.find('\n'), std::string::npos) << error;
  return error;
}

std::string encode_message(const Codec& codec, std::string_view type, const Json& payload) {
  std::string out;
  std::string error;
  EXPECT_TRUE(codec.encode_message(type, payload, out, error)) << error;
  return out;
}

std::string encode_request(const Codec& codec, std::string_view type, std::string_view id,
                           const Json& payload) {
  std::string out;
  std::string error;
  EXPECT_TRUE(codec.encode_request(type, id, payload, out, error)) << error;
  return out;
}

std::string nested_arrays(std::size_t depth) {
  return std::string(depth, '[') + std::string(depth, ']');
}

Json nested_payload(std::size_t depth) {
  Json value = Json::array();
  for (std::size_t i = 1; i < depth; ++i) value = Json::array({value});
  return value;
}

// --- envelope: encoding ------------------------------------------------------------------------

TEST(EnvelopeCodec, EncodesMessagesAndRequests) {
  const auto codec = tether::envelope_codec();
  ASSERT_NE(codec, nullptr);
  EXPECT_EQ(codec->name(), "envelope");
  EXPECT_EQ(encode_message(*codec, "chat", Json::object({{"text", "hi"}})),
            R"({"type":"chat","payload":{"text":"hi"}})");
  EXPECT_EQ(encode_message(*codec, "ping", Json()), R"({"type":"ping","payload":null})");
  EXPECT_EQ(encode_message(*codec, "n", Json(5)), R"({"type":"n","payload":5})");
  EXPECT_EQ(encode_request(*codec, "get", "42", Json::object({{"key", "k"}})),
            R"({"type":"get","id":"42","payload":{"key":"k"}})");
}

TEST(EnvelopeCodec, CustomFieldNames) {
  tether::EnvelopeFields fields;
  fields.type = "kind";
  fields.id = "ref";
  fields.payload = "data";
  fields.error = "fault";
  const auto codec = tether::envelope_codec(fields);
  ASSERT_NE(codec, nullptr);
  EXPECT_EQ(encode_request(*codec, "get", "1", Json(true)), R"({"kind":"get","ref":"1","data":true})");
  auto items = decode_ok(*codec, R"({"ref":"1","fault":{"code":"E","message":"m"}})");
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(items[0].kind, Kind::error_response);
  EXPECT_EQ(items[0].error.code, "E");
  items = decode_ok(*codec, R"({"kind":"tick","data":[1]})");
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(items[0].type, "tick");
  EXPECT_EQ(items[0].payload, Json::array({1}));
  // The default names mean nothing to it.
  EXPECT_NE(decode_error(*codec, R"({"type":"x"})").find(R"(no field "kind" or field "ref")"),
            std::string::npos);
  EXPECT_NE(decode_error(*codec, R"({"kind":1})").find(R"(field "kind" is not a string)"),
            std::string::npos);
}

TEST(EnvelopeCodec, InvalidFieldNamesGiveNoCodec) {
  tether::EnvelopeFields empty;
  empty.type = "";
  EXPECT_EQ(tether::envelope_codec(empty), nullptr);
  tether::EnvelopeFields same;
  same.payload = "id";
  EXPECT_EQ(tether::envelope_codec(same), nullptr);
  tether::EnvelopeFields bad_utf8;
  bad_utf8.error = "\xFF";
  EXPECT_EQ(tether::envelope_codec(bad_utf8), nullptr);
}

TEST(EnvelopeCodec, EncodeFailures) {
  const auto codec = tether::envelope_codec();
  struct Case {
    std::string type;
    std::string id;  // Empty: a message.
    Json payload;
    const char* error;
  };
  Json bad_string = Json::object({{"user", Json::object({{"name", "a\xFF"}})}});
  Json bad_key = Json::object();
  bad_key["k\xC0"] = 1;
  const Case cases[] = {
      {"", "", Json(), "the type is empty"},
      {"t\xFF", "", Json(), "the type is not valid UTF-8"},
      {"t", "", bad_string, R"(field "payload.user.name": a string is not valid UTF-8)"},
      {"t", "", Json::array({1, std::nan("")}), R"(field "payload[1]": NaN or infinity cannot be encoded)"},
      {"t", "", Json(std::numeric_limits<double>::infinity()), R"(field "payload": NaN or infinity)"},
      {"t", "", bad_key, "a key is not valid UTF-8"},
      {"t", "", nested_payload(64), R"(field "payload": nesting deeper than 63)"},
  };
  for (const Case& c : cases) {
    std::string out = "stale";
    std::string error;
    EXPECT_FALSE(codec->encode_message(c.type, c.payload, out, error)) << c.error;
    EXPECT_NE(error.find(c.error), std::string::npos) << error;
    EXPECT_TRUE(out.empty());
  }
  std::string out;
  std::string error;
  EXPECT_FALSE(codec->encode_request("t", "", Json(), out, error));
  EXPECT_EQ(error, "the request id is empty");
  // 63 levels in the payload make a message of 64: accepted, and it decodes.
  const std::string deepest = encode_message(*codec, "t", nested_payload(63));
  EXPECT_EQ(decode_ok(*codec, deepest).size(), 1u);
}

// --- envelope: decoding ------------------------------------------------------------------------

TEST(EnvelopeCodec, DecodesEveryKind) {
  const auto codec = tether::envelope_codec();

  auto items = decode_ok(*codec, R"({"type":"chat","payload":{"text":"hi"}})");
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(items[0].kind, Kind::message);
  EXPECT_EQ(items[0].type, "chat");
  EXPECT_EQ(items[0].id, "");
  EXPECT_EQ(items[0].payload, parse(R"({"text":"hi"})"));

  items = decode_ok(*codec, R"({"type":"ping"})");
  ASSERT_EQ(items.size(), 1u);
  EXPECT_TRUE(items[0].payload.is_null());

  // A message with an id (a server request) keeps it.
  items = decode_ok(*codec, R"({"type":"confirm","id":"s-1","payload":1})");
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(items[0].kind, Kind::message);
  EXPECT_EQ(items[0].id, "s-1");

  items = decode_ok(*codec, R"({"id":"42","payload":{"value":1}})");
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(items[0].kind, Kind::response);
  EXPECT_EQ(items[0].id, "42");
  EXPECT_EQ(items[0].payload, parse(R"({"value":1})"));

  items = decode_ok(*codec, R"({"id":42})");
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(items[0].kind, Kind::response);
  EXPECT_EQ(items[0].id, "42");
  EXPECT_TRUE(items[0].payload.is_null());

  items = decode_ok(*codec, R"({"id":-7,"payload":null,"error":null})");
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(items[0].kind, Kind::response);
  EXPECT_EQ(items[0].id, "-7");

  items = decode_ok(*codec, R"({"id":18446744073709551615,"payload":1})");
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(items[0].id, "18446744073709551615");

  items = decode_ok(*codec,
                    R"({"id":"9","error":{"code":"not_found","message":"no such key","data":{"key":"k"}}})");
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(items[0].kind, Kind::error_response);
  EXPECT_EQ(items[0].id, "9");
  EXPECT_EQ(items[0].error.code, "not_found");
  EXPECT_EQ(items[0].error.message, "no such key");
  EXPECT_EQ(items[0].error.data, parse(R"({"key":"k"})"));

  items = decode_ok(*codec, R"({"id":"9","error":{"code":404}})");
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(items[0].error.code, "404");
  EXPECT_EQ(items[0].error.message, "");
  EXPECT_TRUE(items[0].error.data.is_null());

  items = decode_ok(*codec, R"({"id":"9","error":{"code":4.5,"message":"m"}})");
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(items[0].error.code, "4.5");

  items = decode_ok(*codec, R"({"id":"9","error":"denied"})");
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(items[0].kind, Kind::error_response);
  EXPECT_EQ(items[0].error.code, "");
  EXPECT_EQ(items[0].error.message, "denied");

  // "type" null counts as absent: a response.
  items = decode_ok(*codec, R"({"type":null,"id":"3","payload":true})");
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(items[0].kind, Kind::response);
  // Unknown members are ignored.
  items = decode_ok(*codec, R"({"type":"t","seq":5,"extra":[1,2]})");
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(items[0].type, "t");
}

TEST(EnvelopeCodec, RoundTrips) {
  const auto codec = tether::envelope_codec();
  const Json payloads[] = {Json(), Json(true), Json(-1), Json(0.5), Json("s"),
                           parse(R"({"a":[1,{"b":null}],"c":"\u00e9"})")};
  for (const Json& payload : payloads) {
    auto items = decode_ok(*codec, encode_message(*codec, "t", payload));
    ASSERT_EQ(items.size(), 1u);
    EXPECT_EQ(items[0].kind, Kind::message);
    EXPECT_EQ(items[0].type, "t");
    EXPECT_EQ(items[0].payload, payload);
    items = decode_ok(*codec, encode_request(*codec, "t", "17", payload));
    ASSERT_EQ(items.size(), 1u);
    EXPECT_EQ(items[0].id, "17");
    EXPECT_EQ(items[0].payload, payload);
  }
}

TEST(EnvelopeCodec, BadInputs) {
  const auto codec = tether::envelope_codec();
  struct Case {
    std::string text;
    const char* fragment;
  };
  const Case cases[] = {
      {"", "not JSON: the text is empty"},
      {"hello", "not JSON: invalid value at offset 0"},
      {R"({"type":"x"} trailing)", "not JSON: text after the JSON value"},
      {R"({"type":"x")", "not JSON: missing a comma or '}'"},
      {"[]", "not an object (got an array)"},
      {R"("type")", "not an object (got a string)"},
      {"null", "not an object (got null)"},
      {"42", "not an object (got an integer)"},
      {"{}", R"(no field "type" or field "id")"},
      {R"({"payload":1})", R"(no field "type" or field "id")"},
      {R"({"type":1})", R"(field "type" is not a string)"},
      {R"({"type":{"a":1}})", R"(field "type" is not a string)"},
      {R"({"type":""})", R"(field "type" is empty)"},
      {R"({"id":1.5})", R"(field "id" is not a string or an integer)"},
      {R"({"id":true})", R"(field "id" is not a string or an integer)"},
      {R"({"id":[1]})", R"(field "id" is not a string or an integer)"},
      {R"({"type":"t","id":{}})", R"(field "id" is not a string or an integer)"},
      {R"({"id":"1","error":5})", R"(field "error" is not an object or a string)"},
      {R"({"id":"1","error":{"code":true}})", R"(field "error.code" is not a string or a number)"},
      {R"({"id":"1","error":{"code":"c","message":7}})", R"(field "error.message" is not a string)"},
      {nested_arrays(65), "nesting deeper than 64"},
      {"{\"type\":" + nested_arrays(100000) + "}", "nesting deeper than 64"},
      {"{\"type\":\"t\",\"payload\":1e400}", "not JSON: number too big"},
      {"{\"type\":\"\xFF\"}", "not JSON: invalid UTF-8"},
      {R"({"type":"\udc00"})", "not JSON: lone surrogate"},
      {std::string("{\"type\":\"t\"}\0", 13), "not JSON: text after the JSON value"},
  };
  for (const Case& c : cases) {
    const std::string error = decode_error(*codec, c.text);
    EXPECT_NE(error.find(c.fragment), std::string::npos)
        << "text: " << c.text.substr(0, 80) << "\nerror: " << error;
  }
}

// --- envelope: the decoding fast path -----------------------------------------------------------

// Stricter than ==: the same types and member order.
bool identical(const Json& a, const Json& b) {
  return a == b && a.dump() == b.dump();
}

void expect_same_decode(const Codec& fast, const Codec& full, const std::string& text) {
  std::vector<Inbound> a(1);
  std::vector<Inbound> b(1);
  std::string error_a;
  std::string error_b;
  const bool ok_a = fast.decode(text, a, error_a);
  const bool ok_b = full.decode(text, b, error_b);
  ASSERT_EQ(ok_a, ok_b) << text << "\n" << error_a << "\n" << error_b;
  EXPECT_EQ(error_a, error_b) << text;
  ASSERT_EQ(a.size(), b.size()) << text;
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].kind, b[i].kind) << text;
    EXPECT_EQ(a[i].type, b[i].type) << text;
    EXPECT_EQ(a[i].id, b[i].id) << text;
    EXPECT_TRUE(identical(a[i].payload, b[i].payload)) << text << "\n" << a[i].payload.dump();
    EXPECT_EQ(a[i].error.code, b[i].error.code) << text;
    EXPECT_EQ(a[i].error.message, b[i].error.message) << text;
    EXPECT_TRUE(identical(a[i].error.data, b[i].error.data)) << text;
  }
}

TEST(EnvelopeCodec, DecodesTheSameWithAndWithoutItsFastPath) {
  tether::EnvelopeFields short_names;
  short_names.type = "t";
  short_names.id = "i";
  short_names.payload = "p";
  short_names.error = "e";
  const std::pair<std::shared_ptr<const Codec>, std::shared_ptr<const Codec>> codecs[] = {
      {tether::envelope_codec(), tether::codec::envelope_codec_without_fast_path()},
      {tether::envelope_codec(short_names),
       tether::codec::envelope_codec_without_fast_path(short_names)},
  };
  const std::string texts[] = {
      // What the fast path decodes.
      R"({"id":"1","payload":"xxxx"})",
      R"({"id":42,"payload":{"a":[1,2.5,null,true]}})",
      R"({"id":-7,"payload":null,"error":null})",
      R"({"id":18446744073709551615})",
      R"({"id":"9","payload":1,"seq":[1,{"x":"y"}],"other":"z"})",
      R"({"type":"chat","payload":{"text":"hi"}})",
      R"({"type":"chat","id":"s-1","payload":[]})",
      R"({"type":null,"id":"3","payload":true})",
      R"({"payload":5,"id":"3"})",
      " \t\r\n{ \"id\" : \"1\" , \"payload\" : [ 1 , 2 ] } \n",
      R"({"t":"x","i":"1","p":2,"e":null})",
      R"({"i":"1","p":2})",
      // Keys with escapes, repeated keys, error responses, unusual values: the full path's.
      R"({"id":"1","payload":1,"payload":2})",
      R"({"id":"1","id":"2","payload":0})",
      R"({"type":"a","type":"b"})",
      R"({"x":1,"x":2,"id":"1"})",
      R"({"i\u0064":"1","payload":3})",
      R"({"\"id":"1","id":"2"})",
      R"({"id":"1","pay\nload":3})",
      R"({"id":"1","payload":"\u00e9"})",
      R"({"id":"1","payload":1e2})",
      R"({"id":"9","error":{"code":"not_found","message":"no such key","data":{"key":"k"}}})",
      R"({"id":"9","error":"denied"})",
      R"({"id":"1","error":5})",
      "{\"id\":\"1\",\"payload\":" + std::string(40, '[') + std::string(40, ']') + "}",
      "{\"id\":\"1\",\"payload\":\"\xC3\xA9\"}",
      // Not messages, or not JSON: the same errors.
      "{}",
      R"({"payload":1})",
      R"({"type":1})",
      R"({"type":""})",
      R"({"id":1.5})",
      R"({"id":true})",
      R"({"type":"t","id":{}})",
      R"({"id":"1","payload":1,})",
      R"({"id":"1" "payload":1})",
      R"({"id":"1"} x)",
      R"({"id":"1")",
      R"({"id":"1","payload":01})",
      "{\"id\":\"\xFF\"}",
      std::string("{\"id\":\"1\"}\0", 11),
      "[]",
      "null",
      "",
  };
  for (const auto& [fast, full] : codecs) {
    for (const std::string& text : texts) expect_same_decode(*fast, *full, text);
  }
}

TEST(EnvelopeCodec, TheFastPathKeepsTheLastValueOfARepeatedMember) {
  const auto codec = tether::envelope_codec();
  auto items = decode_ok(*codec, R"({"id":"1","payload":1,"payload":2})");
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(items[0].payload, Json(2));
  items = decode_ok(*codec, R"({"type":"a","id":"7","type":"b"})");
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(items[0].type, "b");
  EXPECT_EQ(items[0].id, "7");
}

// Records every member parse_members_fast hands over.
class RecordingSink final : public tether::codec::MemberSink {
 public:
  Json* member(std::string_view key) override {
    if (key == stop_at) return nullptr;
    members.emplace_back(std::string(key), Json());
    return &members.back().second;
  }
  std::string stop_at = "\x01";
  std::vector<std::pair<std::string, Json>> members;
};

TEST(JsonFastPath, MembersOfAnObjectInTextOrder) {
  RecordingSink sink;
  ASSERT_TRUE(tether::codec::parse_members_fast(
      R"( {"a":1,"b\n":{"c":[true,null]},"a":"x","":-2.5} )", sink));
  ASSERT_EQ(sink.members.size(), 4u);
  EXPECT_EQ(sink.members[0].first, "a");
  EXPECT_EQ(sink.members[0].second, Json(1));
  EXPECT_EQ(sink.members[1].first, "b\n");
  EXPECT_EQ(sink.members[1].second, parse(R"({"c":[true,null]})"));
  EXPECT_EQ(sink.members[2].first, "a");
  EXPECT_EQ(sink.members[2].second, Json("x"));
  EXPECT_EQ(sink.members[3].first, "");
  EXPECT_EQ(sink.members[3].second, Json(-2.5));

  RecordingSink empty;
  EXPECT_TRUE(tether::codec::parse_members_fast("{}", empty));
  EXPECT_TRUE(empty.members.empty());

  // The sink can stop it.
  RecordingSink stopping;
  stopping.stop_at = "b";
  EXPECT_FALSE(tether::codec::parse_members_fast(R"({"a":1,"b":2})", stopping));

  // Whatever parse_json_fast refuses (or leaves to the full parser), and anything not an object.
  for (const char* text :
       {"[]", "1", "\"s\"", "{", "{\"a\":1,}", "{\"a\":1}x", "{\"a\" 1}", "{\"a\":1e2}",
        "{\"\\u0061\":1}", "{\"a\":\"\\u0041\"}", "{a:1}", "{\"a\":01}", "{\"a\":[1,]}"}) {
    RecordingSink refused;
    EXPECT_FALSE(tether::codec::parse_members_fast(text, refused)) << text;
    Json value;
    if (tether::codec::parse_json_fast(text, value)) {
      EXPECT_FALSE(value.is_object()) << text;
    }
  }
  // Nesting: the same limit as parse_json_fast (the object is the first level).
  for (std::size_t depth : {30u, 31u, 32u}) {
    const std::string text = "{\"a\":" + std::string(depth, '[') + std::string(depth, ']') + "}";
    RecordingSink deep;
    Json value;
    EXPECT_EQ(tether::codec::parse_members_fast(text, deep),
              tether::codec::parse_json_fast(text, value))
        << depth;
  }
}

// --- JSON-RPC: encoding ------------------------------------------------------------------------

TEST(JsonRpcCodec, EncodesRequestsAndNotifications) {
  const auto codec = tether::json_rpc_codec();
  ASSERT_NE(codec, nullptr);
  EXPECT_EQ(codec->name(), "json-rpc");
  EXPECT_EQ(encode_request(*codec, "subtract", "1", Json::array({42, 23})),
            R"({"jsonrpc":"2.0","method":"subtract","params":[42,23],"id":1})");
  EXPECT_EQ(encode_request(*codec, "subtract", "3", parse(R"({"subtrahend":23,"minuend":42})")),
            R"({"jsonrpc":"2.0","method":"subtract","params":{"subtrahend":23,"minuend":42},"id":3})");
  EXPECT_EQ(encode_request(*codec, "get_data", "9", Json()),
            R"({"jsonrpc":"2.0","method":"get_data","id":9})");
  EXPECT_EQ(encode_message(*codec, "update", Json::array({1, 2, 3, 4, 5})),
            R"({"jsonrpc":"2.0","method":"update","params":[1,2,3,4,5]})");
  EXPECT_EQ(encode_message(*codec, "foobar", Json()), R"({"jsonrpc":"2.0","method":"foobar"})");
}

TEST(JsonRpcCodec, RequestIds) {
  const auto codec = tether::json_rpc_codec();
  struct Case {
    const char* id;
    const char* json;  // How it is sent.
  };
  const Case cases[] = {
      {"0", "0"},
      {"42", "42"},
      {"9223372036854775807", "9223372036854775807"},
      {"9223372036854775808", R"("9223372036854775808")"},
      {"007", R"("007")"},
      {"-5", R"("-5")"},
      {"abc", R"("abc")"},
      {"1e3", R"("1e3")"},
      {" 1", R"(" 1")"},
  };
  for (const Case& c : cases) {
    const std::string text = encode_request(*codec, "m", c.id, Json());
    EXPECT_EQ(text, std::string(R"({"jsonrpc":"2.0","method":"m","id":)") + c.json + "}");
    // The server echoes the id as it got it; decoding gives back the same text.
    const std::string response = std::string(R"({"jsonrpc":"2.0","result":null,"id":)") + c.json + "}";
    const auto items = decode_ok(*codec, response);
    ASSERT_EQ(items.size(), 1u);
    EXPECT_EQ(items[0].id, c.id);
    // And a server request round-trips the id as well.
    const auto requests = decode_ok(*codec, text);
    ASSERT_EQ(requests.size(), 1u);
    EXPECT_EQ(requests[0].id, c.id);
  }
}

TEST(JsonRpcCodec, EncodeFailures) {
  const auto codec = tether::json_rpc_codec();
  std::string out = "stale";
  std::string error;
  EXPECT_FALSE(codec->encode_message("m", Json(5), out, error));
  EXPECT_EQ(error, "JSON-RPC params must be an object or an array, got an integer");
  EXPECT_TRUE(out.empty());
  EXPECT_FALSE(codec->encode_message("m", Json("text"), out, error));
  EXPECT_NE(error.find("got a string"), std::string::npos);
  EXPECT_FALSE(codec->encode_message("", Json(), out, error));
  EXPECT_EQ(error, "the method is empty");
  EXPECT_FALSE(codec->encode_request("m", "", Json(), out, error));
  EXPECT_EQ(error, "the request id is empty");
  EXPECT_FALSE(codec->encode_request("m", "\xFF", Json(), out, error));
  EXPECT_EQ(error, "the request id is not valid UTF-8");
  EXPECT_FALSE(codec->encode_message("m", Json::array({Json::object({{"x", std::nan("")}})}), out, error));
  EXPECT_EQ(error, R"(field "params[0].x": NaN or infinity cannot be encoded)");
  EXPECT_FALSE(codec->encode_message("m", nested_payload(64), out, error));
  EXPECT_NE(error.find("nesting deeper than 63"), std::string::npos);
  EXPECT_FALSE(encode_message(*codec, "m", nested_payload(63)).empty());
}

// --- JSON-RPC: decoding ------------------------------------------------------------------------

TEST(JsonRpcCodec, DecodesEveryKind) {
  const auto codec = tether::json_rpc_codec();

  auto items = decode_ok(*codec, R"({"jsonrpc":"2.0","result":{"ok":true},"id":7})");
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(items[0].kind, Kind::response);
  EXPECT_EQ(items[0].id, "7");
  EXPECT_EQ(items[0].payload, parse(R"({"ok":true})"));

  items = decode_ok(*codec, R"({"jsonrpc":"2.0","result":null,"id":"abc"})");
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(items[0].kind, Kind::response);
  EXPECT_EQ(items[0].id, "abc");
  EXPECT_TRUE(items[0].payload.is_null());

  items = decode_ok(*codec,
                    R"({"jsonrpc":"2.0","error":{"code":-32000,"message":"busy","data":[1]},"id":8})");
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(items[0].kind, Kind::error_response);
  EXPECT_EQ(items[0].id, "8");
  EXPECT_EQ(items[0].error.code, "-32000");
  EXPECT_EQ(items[0].error.message, "busy");
  EXPECT_EQ(items[0].error.data, Json::array({1}));

  // A result with "error": null (seen from lenient servers) is a result.
  items = decode_ok(*codec, R"({"jsonrpc":"2.0","result":1,"error":null,"id":8})");
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(items[0].kind, Kind::response);

  items = decode_ok(*codec, R"({"jsonrpc":"2.0","method":"tick","params":{"n":1}})");
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(items[0].kind, Kind::message);
  EXPECT_EQ(items[0].type, "tick");
  EXPECT_EQ(items[0].id, "");
  EXPECT_EQ(items[0].payload, parse(R"({"n":1})"));

  // A server request: a message with its id.
  items = decode_ok(*codec, R"({"jsonrpc":"2.0","method":"confirm","params":[true],"id":"s1"})");
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(items[0].kind, Kind::message);
  EXPECT_EQ(items[0].type, "confirm");
  EXPECT_EQ(items[0].id, "s1");

  // "id": null on a method: a notification.
  items = decode_ok(*codec, R"({"jsonrpc":"2.0","method":"m","id":null})");
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(items[0].id, "");
}

TEST(JsonRpcCodec, Batches) {
  const auto codec = tether::json_rpc_codec();
  const auto items = decode_ok(*codec, R"([
      {"jsonrpc":"2.0","result":1,"id":1},
      {"jsonrpc":"2.0","error":{"code":-32601,"message":"Method not found"},"id":2},
      {"jsonrpc":"2.0","method":"note","params":[1]},
      {"jsonrpc":"2.0","method":"ask","id":"q"}
  ])");
  ASSERT_EQ(items.size(), 4u);
  EXPECT_EQ(items[0].kind, Kind::response);
  EXPECT_EQ(items[0].id, "1");
  EXPECT_EQ(items[0].payload, Json(1));
  EXPECT_EQ(items[1].kind, Kind::error_response);
  EXPECT_EQ(items[1].error.code, "-32601");
  EXPECT_EQ(items[2].kind, Kind::message);
  EXPECT_EQ(items[2].type, "note");
  EXPECT_EQ(items[3].kind, Kind::message);
  EXPECT_EQ(items[3].id, "q");

  EXPECT_EQ(decode_error(*codec, "[]"), "empty batch");
  EXPECT_EQ(decode_error(*codec, R"([{"jsonrpc":"2.0","result":1,"id":1},5])"),
            "batch item 1: not an object (got an integer)");
  EXPECT_EQ(decode_error(*codec, R"([{"jsonrpc":"2.0","result":1,"id":1},{"result":2,"id":2}])"),
            R"(batch item 1: field "jsonrpc" is missing)");
  EXPECT_EQ(decode_error(*codec, R"([[{"jsonrpc":"2.0","result":1,"id":1}]])"),
            "batch item 0: not an object (got an array)");
}

// --- JSON-RPC 2.0 specification, section 7: every example, in both directions -------------------

TEST(JsonRpcCodec, SpecificationExamples) {
  const auto codec = tether::json_rpc_codec();
  struct Example {
    const char* text;
    std::vector<Kind> kinds;  // Empty: refused.
    std::vector<std::string> ids;
    const char* error = "";  // A fragment of the error when refused.
  };
  const Example examples[] = {
      // rpc call with positional parameters
      {R"({"jsonrpc": "2.0", "method": "subtract", "params": [42, 23], "id": 1})", {Kind::message}, {"1"}},
      {R"({"jsonrpc": "2.0", "result": 19, "id": 1})", {Kind::response}, {"1"}},
      {R"({"jsonrpc": "2.0", "method": "subtract", "params": [23, 42], "id": 2})", {Kind::message}, {"2"}},
      {R"({"jsonrpc": "2.0", "result": -19, "id": 2})", {Kind::response}, {"2"}},
      // rpc call with named parameters
      {R"({"jsonrpc": "2.0", "method": "subtract", "params": {"subtrahend": 23, "minuend": 42}, "id": 3})",
       {Kind::message}, {"3"}},
      {R"({"jsonrpc": "2.0", "result": 19, "id": 3})", {Kind::response}, {"3"}},
      {R"({"jsonrpc": "2.0", "method": "subtract", "params": {"minuend": 42, "subtrahend": 23}, "id": 4})",
       {Kind::message}, {"4"}},
      {R"({"jsonrpc": "2.0", "result": 19, "id": 4})", {Kind::response}, {"4"}},
      // a Notification
      {R"({"jsonrpc": "2.0", "method": "update", "params": [1,2,3,4,5]})", {Kind::message}, {""}},
      {R"({"jsonrpc": "2.0", "method": "foobar"})", {Kind::message}, {""}},
      // rpc call of non-existent method
      {R"({"jsonrpc": "2.0", "method": "foobar", "id": "1"})", {Kind::message}, {"1"}},
      {R"({"jsonrpc": "2.0", "error": {"code": -32601, "message": "Method not found"}, "id": "1"})",
       {Kind::error_response}, {"1"}},
      // rpc call with invalid JSON
      {R"({"jsonrpc": "2.0", "method": "foobar, "params": "bar", "baz])", {}, {}, "not JSON: "},
      {R"({"jsonrpc": "2.0", "error": {"code": -32700, "message": "Parse error"}, "id": null})",
       {Kind::error_response}, {""}},
      // rpc call with invalid Request object
      {R"({"jsonrpc": "2.0", "method": 1, "params": "bar"})", {}, {}, R"(field "method" is not a string)"},
      {R"({"jsonrpc": "2.0", "error": {"code": -32600, "message": "Invalid Request"}, "id": null})",
       {Kind::error_response}, {""}},
      // rpc call Batch, invalid JSON
      {R"([
  {"jsonrpc": "2.0", "method": "sum", "params": [1,2,4], "id": "1"},
  {"jsonrpc": "2.0", "method"
])",
       {}, {}, "not JSON: "},
      // rpc call with an empty Array
      {"[]", {}, {}, "empty batch"},
      // rpc call with an invalid Batch (but not empty)
      {"[1]", {}, {}, "batch item 0: not an object"},
      {R"([
  {"jsonrpc": "2.0", "error": {"code": -32600, "message": "Invalid Request"}, "id": null}
])",
       {Kind::error_response}, {""}},
      // rpc call with invalid Batch
      {"[1,2,3]", {}, {}, "batch item 0: not an object"},
      {R"([
  {"jsonrpc": "2.0", "error": {"code": -32600, "message": "Invalid Request"}, "id": null},
  {"jsonrpc": "2.0", "error": {"code": -32600, "message": "Invalid Request"}, "id": null},
  {"jsonrpc": "2.0", "error": {"code": -32600, "message": "Invalid Request"}, "id": null}
])",
       {Kind::error_response, Kind::error_response, Kind::error_response}, {"", "", ""}},
      // rpc call Batch: the request batch holds {"foo": "boo"}, which is not a JSON-RPC object.
      {R"([
        {"jsonrpc": "2.0", "method": "sum", "params": [1,2,4], "id": "1"},
        {"jsonrpc": "2.0", "method": "notify_hello", "params": [7]},
        {"jsonrpc": "2.0", "method": "subtract", "params": [42,23], "id": "2"},
        {"foo": "boo"},
        {"jsonrpc": "2.0", "method": "foo.get", "params": {"name": "myself"}, "id": "5"},
        {"jsonrpc": "2.0", "method": "get_data", "id": "9"}
    ])",
       {}, {}, R"(batch item 3: field "jsonrpc" is missing)"},
      {R"([
        {"jsonrpc": "2.0", "result": 7, "id": "1"},
        {"jsonrpc": "2.0", "result": 19, "id": "2"},
        {"jsonrpc": "2.0", "error": {"code": -32600, "message": "Invalid Request"}, "id": null},
        {"jsonrpc": "2.0", "error": {"code": -32601, "message": "Method not found"}, "id": "5"},
        {"jsonrpc": "2.0", "result": ["hello", 5], "id": "9"}
    ])",
       {Kind::response, Kind::response, Kind::error_response, Kind::error_response, Kind::response},
       {"1", "2", "", "5", "9"}},
      // rpc call Batch (all notifications)
      {R"([
        {"jsonrpc": "2.0", "method": "notify_sum", "params": [1,2,4]},
        {"jsonrpc": "2.0", "method": "notify_hello", "params": [7]}
    ])",
       {Kind::message, Kind::message}, {"", ""}},
  };
  for (const Example& e : examples) {
    std::vector<Inbound> out;
    std::string error;
    const bool ok = codec->decode(e.text, out, error);
    if (e.kinds.empty()) {
      EXPECT_FALSE(ok) << e.text;
      EXPECT_NE(error.find(e.error), std::string::npos) << e.text << "\nerror: " << error;
      EXPECT_TRUE(out.empty());
      continue;
    }
    ASSERT_TRUE(ok) << e.text << "\nerror: " << error;
    ASSERT_EQ(out.size(), e.kinds.size()) << e.text;
    for (std::size_t i = 0; i < out.size(); ++i) {
      EXPECT_EQ(out[i].kind, e.kinds[i]) << e.text << " item " << i;
      EXPECT_EQ(out[i].id, e.ids[i]) << e.text << " item " << i;
    }
  }

  // Details of a few of them.
  auto items = decode_ok(*codec, R"({"jsonrpc": "2.0", "result": ["hello", 5], "id": "9"})");
  EXPECT_EQ(items[0].payload, Json::array({"hello", 5}));
  items = decode_ok(*codec,
                    R"({"jsonrpc": "2.0", "error": {"code": -32700, "message": "Parse error"}, "id": null})");
  EXPECT_EQ(items[0].error.code, "-32700");
  EXPECT_EQ(items[0].error.message, "Parse error");
  items = decode_ok(*codec, R"({"jsonrpc": "2.0", "method": "subtract", "params": {"subtrahend": 23, "minuend": 42}, "id": 3})");
  EXPECT_EQ(items[0].type, "subtract");
  EXPECT_EQ(items[0].payload["minuend"].as_int(), 42);
}

TEST(JsonRpcCodec, RoundTrips) {
  const auto codec = tether::json_rpc_codec();
  const Json payloads[] = {Json(), Json::array(), Json::object(), parse(R"({"a":[1,2.5,"x",null]})"),
                           parse(R"([{"deep":{"er":[true]}}])")};
  for (const Json& payload : payloads) {
    auto items = decode_ok(*codec, encode_message(*codec, "note", payload));
    ASSERT_EQ(items.size(), 1u);
    EXPECT_EQ(items[0].kind, Kind::message);
    EXPECT_EQ(items[0].type, "note");
    EXPECT_EQ(items[0].payload, payload);
    items = decode_ok(*codec, encode_request(*codec, "call", "12", payload));
    ASSERT_EQ(items.size(), 1u);
    EXPECT_EQ(items[0].id, "12");
    EXPECT_EQ(items[0].payload, payload);
  }
}

TEST(JsonRpcCodec, BadInputs) {
  const auto codec = tether::json_rpc_codec();
  struct Case {
    std::string text;
    const char* fragment;
  };
  const Case cases[] = {
      {"", "not JSON: the text is empty"},
      {"{", "not JSON: "},
      {R"({"jsonrpc":"2.0","result":1,"id":1}})", "not JSON: text after the JSON value"},
      {"\"2.0\"", "not an object or an array (got a string)"},
      {"true", "not an object or an array (got a boolean)"},
      {"[]", "empty batch"},
      {"{}", R"(field "jsonrpc" is missing)"},
      {R"({"result":1,"id":1})", R"(field "jsonrpc" is missing)"},
      {R"({"jsonrpc":"1.0","result":1,"id":1})", R"(field "jsonrpc" is not "2.0")"},
      {R"({"jsonrpc":2.0,"result":1,"id":1})", R"(field "jsonrpc" is not "2.0")"},
      {R"({"jsonrpc":null,"method":"m"})", R"(field "jsonrpc" is not "2.0")"},
      {R"({"jsonrpc":"2.0"})", R"(no field "method", "result" or "error")"},
      {R"({"jsonrpc":"2.0","id":1})", R"(no field "method", "result" or "error")"},
      {R"({"jsonrpc":"2.0","method":""})", R"(field "method" is empty)"},
      {R"({"jsonrpc":"2.0","method":["m"]})", R"(field "method" is not a string)"},
      {R"({"jsonrpc":"2.0","method":"m","params":"bar"})", R"(field "params" is not an object or an array)"},
      {R"({"jsonrpc":"2.0","method":"m","params":3})", R"(field "params" is not an object or an array)"},
      {R"({"jsonrpc":"2.0","method":"m","id":1.5})", R"(field "id" is not a string, an integer or null)"},
      {R"({"jsonrpc":"2.0","result":1,"id":{}})", R"(field "id" is not a string, an integer or null)"},
      {R"({"jsonrpc":"2.0","result":1})", R"(field "id" is missing)"},
      {R"({"jsonrpc":"2.0","result":1,"id":null})", R"(field "id" is null in a result response)"},
      {R"({"jsonrpc":"2.0","result":1,"error":{"code":1,"message":"m"},"id":1})",
       R"(both field "result" and field "error")"},
      {R"({"jsonrpc":"2.0","error":null,"id":1})", R"(field "error" is not an object)"},
      {R"({"jsonrpc":"2.0","error":"bad","id":1})", R"(field "error" is not an object)"},
      {R"({"jsonrpc":"2.0","error":{"message":"m"},"id":1})", R"(field "error.code" is missing)"},
      {R"({"jsonrpc":"2.0","error":{"code":"E1","message":"m"},"id":1})", R"(field "error.code" is not an integer)"},
      {R"({"jsonrpc":"2.0","error":{"code":1.5,"message":"m"},"id":1})", R"(field "error.code" is not an integer)"},
      {R"({"jsonrpc":"2.0","error":{"code":1},"id":1})", R"(field "error.message" is missing)"},
      {R"({"jsonrpc":"2.0","error":{"code":1,"message":null},"id":1})", R"(field "error.message" is not a string)"},
      {nested_arrays(65), "nesting deeper than 64"},
      {std::string(100000, '['), "nesting deeper than 64"},
      {R"({"jsonrpc":"2.0","result":1e400,"id":1})", "not JSON: number too big"},
      {"{\"jsonrpc\":\"2.0\",\"method\":\"\xC0\x80\"}", "not JSON: invalid UTF-8"},
      {R"({"jsonrpc":"2.0","method":"\ud800"})", "not JSON: invalid surrogate pair"},
  };
  for (const Case& c : cases) {
    const std::string error = decode_error(*codec, c.text);
    EXPECT_NE(error.find(c.fragment), std::string::npos)
        << "text: " << c.text.substr(0, 80) << "\nerror: " << error;
  }
}

TEST(Codecs, DecodeReplacesTheOutput) {
  for (const auto& codec : {tether::envelope_codec(), tether::json_rpc_codec()}) {
    std::vector<Inbound> out(3);
    std::string error;
    const std::string text = encode_message(*codec, "t", Json::array());
    EXPECT_TRUE(codec->decode(text, out, error)) << error;
    EXPECT_EQ(out.size(), 1u);
  }
}

TEST(Codecs, HugeNumbersAndBigIntegersInPayloads) {
  const auto codec = tether::envelope_codec();
  const auto items = decode_ok(
      *codec, R"({"type":"t","payload":[18446744073709551615,-9223372036854775808,1e308,123456789012345678901234]})");
  ASSERT_EQ(items.size(), 1u);
  const Json& p = items[0].payload;
  EXPECT_EQ(p[0].as_uint(), std::numeric_limits<std::uint64_t>::max());
  EXPECT_EQ(p[1].as_int(), std::numeric_limits<std::int64_t>::min());
  EXPECT_EQ(p[2].as_double(), 1e308);
  EXPECT_FALSE(p[3].is_integer());
  // And back out unchanged.
  const auto again = decode_ok(*codec, encode_message(*codec, "t", p));
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].payload, p);
}

}  // namespace
