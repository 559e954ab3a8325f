// libFuzzer target for tether::Json and the message codecs (built and run by scripts/fuzz.sh).
//
// Every input goes to Json::parse and to the decode of each codec. Any inconsistency aborts:
//   - the fast parser and writer must agree with the RapidJSON paths (check_fast_paths);
//   - a parsed value must dump to text that parses back identical (same types, same bits of
//     every double, same member order) and dumps to the same text again;
//   - accessors must agree with the type of each value;
//   - a typed conversion that succeeds must convert back to an equal value;
//   - a failed decode leaves no items and gives a one-line reason; a decoded message must
//     encode, and its encoding must decode to the same message.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "codec/envelope_codec.hpp"
#include "codec/json_io.hpp"
#include "tether/codec.hpp"
#include "tether/json.hpp"

namespace {

using tether::Json;

[[noreturn]] void fail(const char* what, std::string_view detail = {}) {
  std::fprintf(stderr, "codec_fuzz: %s\n", what);
  if (!detail.empty()) {
    std::fprintf(stderr, "  %.*s\n", static_cast<int>(detail.size() > 2000 ? 2000 : detail.size()),
                 detail.data());
  }
  std::abort();
}

void check(bool condition, const char* what, std::string_view detail = {}) {
  if (!condition) fail(what, detail);
}

std::uint64_t bits(double d) {
  std::uint64_t out = 0;
  std::memcpy(&out, &d, sizeof out);
  return out;
}

// Stricter than ==: the same representation, member order included.
bool identical(const Json& a, const Json& b) {
  if (a.type() != b.type()) return false;
  switch (a.type()) {
    case Json::Type::null:
      return true;
    case Json::Type::boolean:
      return a.as_bool() == b.as_bool();
    case Json::Type::integer:
      return a.get_int() == b.get_int() && a.get_uint() == b.get_uint();
    case Json::Type::number:
      return bits(a.as_double()) == bits(b.as_double());
    case Json::Type::string:
      return a.as_string() == b.as_string();
    case Json::Type::array: {
      if (a.size() != b.size()) return false;
      for (std::size_t i = 0; i < a.size(); ++i) {
        if (!identical(a[i], b[i])) return false;
      }
      return true;
    }
    case Json::Type::object: {
      const Json::Object& x = a.items();
      const Json::Object& y = b.items();
      if (x.size() != y.size()) return false;
      for (std::size_t i = 0; i < x.size(); ++i) {
        if (x[i].first != y[i].first || !identical(x[i].second, y[i].second)) return false;
      }
      return true;
    }
  }
  return false;
}

// Accessors agree with the type; lookups find what iteration shows. Returns the depth.
std::size_t check_accessors(const Json& v) {
  const Json::Type t = v.type();
  check(v.is_null() == (t == Json::Type::null), "is_null");
  check(v.is_bool() == (t == Json::Type::boolean), "is_bool");
  check(v.is_integer() == (t == Json::Type::integer), "is_integer");
  check(v.is_number() == (t == Json::Type::integer || t == Json::Type::number), "is_number");
  check(v.is_string() == (t == Json::Type::string), "is_string");
  check(v.is_array() == (t == Json::Type::array), "is_array");
  check(v.is_object() == (t == Json::Type::object), "is_object");
  check(!tether::to_string(t).empty(), "to_string(Type)");
  check(v.get_bool().has_value() == v.is_bool(), "get_bool");
  check(v.get_string().has_value() == v.is_string(), "get_string");
  check(v.get_double().has_value() == v.is_number(), "get_double");
  if (v.is_integer()) check(v.get_int() || v.get_uint(), "integer without a value");
  if (const auto i = v.get_int()) check(Json(*i) == v, "get_int value", v.dump());
  if (const auto u = v.get_uint()) check(Json(*u) == v, "get_uint value", v.dump());
  if (!v.is_string()) check(v.as_string().empty(), "as_string of a non-string");
  check(v == v, "value not equal to itself", v.dump());  // Parsed values hold no NaN.

  std::size_t depth = 0;
  if (v.is_array()) {
    check(v.size() == v.elements().size(), "array size");
    for (const Json& e : v.elements()) depth = std::max(depth, check_accessors(e));
    check(v[v.size()].is_null(), "out-of-range element not null");
    return depth + 1;
  }
  if (v.is_object()) {
    check(v.size() == v.items().size(), "object size");
    for (const auto& [key, member] : v.items()) {
      const Json* found = v.find(key);
      check(found == &member, "find does not give the member (duplicate key?)", key);
      check(v.contains(key), "contains");
      depth = std::max(depth, check_accessors(member));
    }
    check(v["\x01no such key\x02"].is_null(), "missing key not null");
    return depth + 1;
  }
  check(v.size() == 0 && v.items().empty() && v.elements().empty(), "scalar with children");
  return 0;
}

// The fast parser and the fast writer against the RapidJSON paths they stand in for: the fast
// parser accepts only what the full parser accepts, with an identical value, and the writer
// gives RapidJSON's Writer's bytes.
void check_fast_paths(std::string_view text) {
  Json fast;
  const bool fast_ok = tether::codec::parse_json_fast(text, fast);
  Json full;
  std::string error;
  const bool full_ok =
      tether::codec::parse_json_full(text, full, error) == tether::codec::JsonParseFailure::none;
  if (fast_ok) {
    check(full_ok, "the fast parser accepts what the full parser refuses", error);
    check(identical(fast, full), "the fast parser gives another value", text);
  }
  // The object fast path hands over exactly the members parse_json_fast gives, in order (a
  // repeated key as often as it appears).
  struct Members final : tether::codec::MemberSink {
    Json::Object members;
    Json* member(std::string_view key) override {
      members.emplace_back(std::string(key), Json());
      return &members.back().second;
    }
  } members;
  const bool members_ok = tether::codec::parse_members_fast(text, members);
  check(members_ok == (fast_ok && fast.is_object()), "parse_members_fast disagrees", text);
  if (members_ok) {
    check(identical(Json(std::move(members.members)), fast),
          "parse_members_fast gives another value", text);
  }
  if (!full_ok) return;
  rapidjson::StringBuffer buffer;
  tether::codec::JsonWriter writer(buffer);
  tether::codec::write_json(writer, full);
  std::string appended;
  tether::codec::append_json(appended, full);
  check(appended == std::string_view(buffer.GetString(), buffer.GetSize()),
        "append_json differs from the RapidJSON writer", appended);
}

void check_json(std::string_view text) {
  check_fast_paths(text);
  std::string error;
  const std::optional<Json> parsed = Json::parse(text, &error);
  if (!parsed) {
    check(!error.empty(), "parse failed without a reason");
    check(error.find('\n') == std::string::npos, "multi-line parse error", error);
    check(error.find(" at offset ") != std::string::npos, "parse error without an offset", error);
    return;
  }
  const Json& x = *parsed;
  check(check_accessors(x) <= Json::max_depth, "parsed value deeper than max_depth");

  const std::string dumped = x.dump();
  std::string again_error;
  const std::optional<Json> again = Json::parse(dumped, &again_error);
  if (!again) fail("dump() does not parse back", again_error + " in " + dumped);
  if (!identical(x, *again)) fail("parse(dump(x)) is not identical to x", dumped);
  if (!(x == *again)) fail("parse(dump(x)) != x", dumped);
  if (again->dump() != dumped) fail("dump is not stable", dumped);

  const Json copy = x;
  check(identical(copy, x) && copy == x, "copy differs");

  // Typed conversions: either a clean failure, or a value that converts back to an equal Json.
  std::string conversion_error;
  using Typed = std::map<std::string, std::vector<std::optional<std::int32_t>>>;
  if (const auto typed = tether::json_to<Typed>(x, &conversion_error)) {
    check(tether::json_from(*typed) == x, "typed round trip differs", dumped);
  } else {
    check(!conversion_error.empty(), "conversion failed without a reason");
  }
  conversion_error.clear();
  if (const auto strings = tether::json_to<std::vector<std::string>>(x, &conversion_error)) {
    check(tether::json_from(*strings) == x, "string vector round trip differs", dumped);
  } else {
    check(!conversion_error.empty(), "conversion failed without a reason");
  }
  if (const auto number = tether::json_to<double>(x)) {
    check(x.is_number(), "a double from a non-number");
  }
  if (const auto small = tether::json_to<std::int8_t>(x)) {
    check(Json(*small) == x, "int8 round trip differs", dumped);
  }

  // Mutation on a copy keeps the invariants.
  Json edited = x;
  if (edited.is_object() && !edited.empty()) {
    const std::string key = edited.items().front().first;
    edited.set(key, Json::array({1, "x"}));
    check(edited[key] == Json::array({1, "x"}), "set");
    check(edited.size() == x.size(), "set changed the size");
    check(edited.erase(key) && !edited.contains(key), "erase");
  } else if (edited.is_array()) {
    edited.push_back(nullptr);
    check(edited.size() == x.size() + 1, "push_back");
  }
}

// A codec with a decoding fast path against the same codec without it: the same result.
void check_same_decode(const tether::Codec& codec, const tether::Codec& reference,
                       std::string_view text) {
  std::vector<tether::Inbound> a;
  std::vector<tether::Inbound> b;
  std::string error_a;
  std::string error_b;
  const bool ok_a = codec.decode(text, a, error_a);
  const bool ok_b = reference.decode(text, b, error_b);
  check(ok_a == ok_b, "the decoding fast path disagrees on success", text);
  check(error_a == error_b, "the decoding fast path gives another error",
        error_a + " / " + error_b);
  check(a.size() == b.size(), "the decoding fast path gives another item count", text);
  for (std::size_t i = 0; i < a.size(); ++i) {
    check(a[i].kind == b[i].kind && a[i].type == b[i].type && a[i].id == b[i].id &&
              identical(a[i].payload, b[i].payload) && a[i].error.code == b[i].error.code &&
              a[i].error.message == b[i].error.message &&
              identical(a[i].error.data, b[i].error.data),
          "the decoding fast path gives another item", text);
  }
}

void check_codec(const tether::Codec& codec, std::string_view text) {
  std::vector<tether::Inbound> items(1);
  std::string error;
  if (!codec.decode(text, items, error)) {
    check(items.empty(), "failed decode left items");
    check(!error.empty(), "failed decode without a reason");
    check(error.find('\n') == std::string::npos, "multi-line decode error", error);
    return;
  }
  check(!items.empty(), "decode succeeded with no items");
  for (const tether::Inbound& item : items) {
    std::string dumped = item.payload.dump();
    const std::optional<Json> payload = Json::parse(dumped);
    check(payload && identical(*payload, item.payload), "payload does not round trip", dumped);
    if (item.kind != tether::Inbound::Kind::message) {
      check(item.type.empty(), "a response with a type");
      if (item.kind == tether::Inbound::Kind::response) {
        check(item.error.code.empty() && item.error.message.empty(), "a response with an error");
      }
      continue;
    }
    check(!item.type.empty(), "a message without a type");
    // A decoded message encodes, and decodes back to itself.
    std::string encoded;
    std::string encode_error;
    const bool encoded_ok =
        item.id.empty()
            ? codec.encode_message(item.type, item.payload, encoded, encode_error)
            : codec.encode_request(item.type, item.id, item.payload, encoded, encode_error);
    if (!encoded_ok) fail("a decoded message does not encode", encode_error);
    std::vector<tether::Inbound> back;
    std::string back_error;
    if (!codec.decode(encoded, back, back_error))
      fail("an encoded message does not decode", back_error);
    check(back.size() == 1, "re-decoded message count");
    check(back[0].kind == tether::Inbound::Kind::message, "re-decoded kind", encoded);
    check(back[0].type == item.type, "re-decoded type", encoded);
    check(back[0].id == item.id, "re-decoded id", encoded);
    check(identical(back[0].payload, item.payload), "re-decoded payload", encoded);
  }
}

struct Codecs {
  std::shared_ptr<const tether::Codec> envelope = tether::envelope_codec();
  std::shared_ptr<const tether::Codec> custom;
  std::shared_ptr<const tether::Codec> json_rpc = tether::json_rpc_codec();
  std::shared_ptr<const tether::Codec> envelope_reference =
      tether::codec::envelope_codec_without_fast_path();
  std::shared_ptr<const tether::Codec> custom_reference;
  Codecs() {
    tether::EnvelopeFields fields;
    fields.type = "t";
    fields.id = "i";
    fields.payload = "p";
    fields.error = "e";
    custom = tether::envelope_codec(fields);
    custom_reference = tether::codec::envelope_codec_without_fast_path(fields);
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const Codecs codecs;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  check_json(text);
  check_codec(*codecs.envelope, text);
  check_codec(*codecs.custom, text);
  check_same_decode(*codecs.envelope, *codecs.envelope_reference, text);
  check_same_decode(*codecs.custom, *codecs.custom_reference, text);
  check_codec(*codecs.json_rpc, text);
  return 0;
}
