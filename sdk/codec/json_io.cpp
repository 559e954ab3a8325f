#include "codec/json_io.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <utility>
#include <vector>

#include <rapidjson/error/error.h>
#include <rapidjson/memorystream.h>
#include <rapidjson/reader.h>

namespace tether::codec {

std::size_t utf8_sequence(const unsigned char* p, std::size_t n, std::size_t i) noexcept {
  const unsigned char c = p[i];
  if (c < 0x80) return 1;
  std::size_t len = 0;
  unsigned char lo = 0x80;
  unsigned char hi = 0xBF;
  if (c >= 0xC2 && c <= 0xDF) {
    len = 2;
  } else if (c == 0xE0) {
    len = 3;
    lo = 0xA0;
  } else if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) {
    len = 3;
  } else if (c == 0xED) {
    len = 3;
    hi = 0x9F;
  } else if (c == 0xF0) {
    len = 4;
    lo = 0x90;
  } else if (c >= 0xF1 && c <= 0xF3) {
    len = 4;
  } else if (c == 0xF4) {
    len = 4;
    hi = 0x8F;
  } else {
    return 0;
  }
  if (n - i < len) return 0;
  if (p[i + 1] < lo || p[i + 1] > hi) return 0;
  for (std::size_t k = 2; k < len; ++k) {
    if ((p[i + k] & 0xC0) != 0x80) return 0;
  }
  return len;
}

std::size_t plain_prefix(const char* p, std::size_t n) noexcept {
  constexpr std::uint64_t kOnes = 0x0101010101010101ULL;
  constexpr std::uint64_t kHigh = 0x8080808080808080ULL;
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    std::uint64_t w;
    std::memcpy(&w, p + i, 8);
    // A high bit in a byte of `special` marks a byte below 0x20, '"', '\\' or non-ASCII.
    const std::uint64_t quote = w ^ (kOnes * '"');
    const std::uint64_t backslash = w ^ (kOnes * '\\');
    const std::uint64_t special = (w - kOnes * 0x20) | (quote - kOnes) | (backslash - kOnes) | w;
    if ((special & kHigh) != 0) break;
  }
  for (; i < n; ++i) {
    const auto c = static_cast<unsigned char>(p[i]);
    if (c < 0x20 || c >= 0x80 || c == '"' || c == '\\') break;
  }
  return i;
}

namespace {

std::string replace_invalid_utf8(std::string_view text) {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  std::string out;
  out.reserve(text.size() + 8);
  for (std::size_t i = 0; i < text.size();) {
    const std::size_t len = utf8_sequence(p, text.size(), i);
    if (len == 0) {
      out += "\xEF\xBF\xBD";
      ++i;
    } else {
      out.append(text.data() + i, len);
      i += len;
    }
  }
  return out;
}

std::string_view parse_error_text(rapidjson::ParseErrorCode code) noexcept {
  switch (code) {
    case rapidjson::kParseErrorDocumentEmpty: return "the text is empty";
    case rapidjson::kParseErrorDocumentRootNotSingular: return "text after the JSON value";
    case rapidjson::kParseErrorValueInvalid: return "invalid value";
    case rapidjson::kParseErrorObjectMissName: return "missing a name for an object member";
    case rapidjson::kParseErrorObjectMissColon: return "missing a colon after an object member name";
    case rapidjson::kParseErrorObjectMissCommaOrCurlyBracket:
      return "missing a comma or '}' after an object member";
    case rapidjson::kParseErrorArrayMissCommaOrSquareBracket:
      return "missing a comma or ']' after an array element";
    case rapidjson::kParseErrorStringUnicodeEscapeInvalidHex:
      return "invalid hex digits in a \\u escape";
    case rapidjson::kParseErrorStringUnicodeSurrogateInvalid:
      return "invalid surrogate pair in a \\u escape";
    case rapidjson::kParseErrorStringEscapeInvalid:
      return "invalid escape or control character in a string";
    case rapidjson::kParseErrorStringMissQuotationMark:
      return "missing a closing quotation mark in a string";
    case rapidjson::kParseErrorStringInvalidEncoding: return "invalid UTF-8 in a string";
    case rapidjson::kParseErrorNumberTooBig: return "number too big to be stored in a double";
    case rapidjson::kParseErrorNumberMissFraction: return "missing the fraction part of a number";
    case rapidjson::kParseErrorNumberMissExponent: return "missing the exponent of a number";
    default: return "syntax error";
  }
}

// For a JSON number (valid syntax): m such that its absolute value is in [10^(m-1), 10^m), or
// a very negative value when it is zero. Tells an overflow from an underflow.
std::int64_t decimal_magnitude(std::string_view t) noexcept {
  const auto digit = [&](std::size_t k) { return k < t.size() && t[k] >= '0' && t[k] <= '9'; };
  std::size_t i = 0;
  if (i < t.size() && t[i] == '-') ++i;
  std::int64_t lead = 0;
  bool nonzero = false;
  const std::size_t int_begin = i;
  while (digit(i)) ++i;
  for (std::size_t k = int_begin; k < i; ++k) {
    if (t[k] != '0') {
      lead = static_cast<std::int64_t>(i - k);
      nonzero = true;
      break;
    }
  }
  if (i < t.size() && t[i] == '.') {
    const std::size_t frac_begin = ++i;
    while (digit(i)) ++i;
    for (std::size_t k = frac_begin; !nonzero && k < i; ++k) {
      if (t[k] != '0') {
        lead = -static_cast<std::int64_t>(k - frac_begin);
        nonzero = true;
      }
    }
  }
  std::int64_t exponent = 0;
  if (i < t.size() && (t[i] == 'e' || t[i] == 'E')) {
    ++i;
    bool negative = false;
    if (i < t.size() && (t[i] == '+' || t[i] == '-')) negative = t[i++] == '-';
    for (; digit(i); ++i) exponent = std::min<std::int64_t>(exponent * 10 + (t[i] - '0'), 1000000);
    if (negative) exponent = -exponent;
  }
  return nonzero ? lead + exponent : std::numeric_limits<std::int64_t>::min();
}

// GCC 12 reports moving a Json (a std::variant of strings and vectors) into a container here as
// "maybe uninitialized" at -O2 and above: a known false positive of its variant analysis.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

// SAX handler building a Json with an explicit stack of open containers (no recursion).
class Builder {
 public:
  bool Null() { return add(Json()); }
  bool Bool(bool b) { return add(Json(b)); }
  // Numbers arrive as text (kParseNumbersAsStringsFlag), already validated by the reader.
  bool Int(int i) { return add(Json(i)); }
  bool Uint(unsigned u) { return add(Json(u)); }
  bool Int64(std::int64_t i) { return add(Json(i)); }
  bool Uint64(std::uint64_t u) { return add(Json(u)); }
  bool Double(double d) { return add(Json(d)); }
  bool RawNumber(const char* s, rapidjson::SizeType length, bool) {
    Json value;
    std::string_view reason;
    if (!number_from_text(std::string_view(s, length), value, reason)) {
      return fail(JsonParseFailure::syntax, reason);
    }
    return add(std::move(value));
  }
  bool String(const char* s, rapidjson::SizeType length, bool) {
    std::string_view text(s, length);
    if (!valid_utf8(text)) return fail(JsonParseFailure::syntax, kLoneSurrogate);
    return add(Json(std::string(text)));
  }
  bool Key(const char* s, rapidjson::SizeType length, bool) {
    std::string_view text(s, length);
    if (!valid_utf8(text)) return fail(JsonParseFailure::syntax, kLoneSurrogate);
    frames_.back().key.assign(text);
    return true;
  }
  bool StartObject() { return open(true); }
  bool EndObject(rapidjson::SizeType) { return close(); }
  bool StartArray() { return open(false); }
  bool EndArray(rapidjson::SizeType) { return close(); }

  Json take_root() { return std::move(root_); }
  JsonParseFailure failure() const noexcept { return failure_; }
  std::string_view reason() const noexcept { return reason_; }

 private:
  static constexpr std::string_view kLoneSurrogate = "lone surrogate in a \\u escape";

  struct Frame {
    bool object = false;
    Json::Array elements;
    Json::Object members;
    std::string key;
  };

  bool fail(JsonParseFailure failure, std::string_view reason) {
    failure_ = failure;
    reason_ = reason;
    return false;
  }

  bool open(bool object) {
    if (frames_.size() >= Json::max_depth) {
      return fail(JsonParseFailure::too_deep,
                  "nesting deeper than " + std::to_string(Json::max_depth));
    }
    frames_.emplace_back();
    frames_.back().object = object;
    return true;
  }

  bool close() {
    Frame& top = frames_.back();
    Json value = top.object ? Json(std::move(top.members)) : Json(std::move(top.elements));
    frames_.pop_back();
    return add(std::move(value));
  }

  bool add(Json&& value) {
    if (frames_.empty()) {
      root_ = std::move(value);
      return true;
    }
    Frame& top = frames_.back();
    if (top.object) {
      top.members.emplace_back(std::move(top.key), std::move(value));
      top.key.clear();
    } else {
      top.elements.push_back(std::move(value));
    }
    return true;
  }

  std::vector<Frame> frames_;
  Json root_;
  JsonParseFailure failure_ = JsonParseFailure::none;
  std::string reason_;
};

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

std::string at_offset(std::string_view what, std::size_t offset) {
  std::string out(what);
  out += " at offset ";
  out += std::to_string(offset);
  return out;
}

enum class Encodable { ok, too_deep, bad };

Encodable check(const Json& value, std::size_t depth, std::size_t max_depth, std::string& error) {
  switch (value.type()) {
    case Json::Type::number:
      if (!std::isfinite(value.as_double())) {
        error = "NaN or infinity cannot be encoded";
        return Encodable::bad;
      }
      return Encodable::ok;
    case Json::Type::string:
      if (!valid_utf8(value.as_string())) {
        error = "a string is not valid UTF-8";
        return Encodable::bad;
      }
      return Encodable::ok;
    case Json::Type::array: {
      if (depth + 1 > max_depth) return Encodable::too_deep;
      const Json::Array& elements = value.elements();
      for (std::size_t i = 0; i < elements.size(); ++i) {
        const Encodable r = check(elements[i], depth + 1, max_depth, error);
        if (r == Encodable::bad) json_error_prefix(&error, "[" + std::to_string(i) + "]");
        if (r != Encodable::ok) return r;
      }
      return Encodable::ok;
    }
    case Json::Type::object:
      if (depth + 1 > max_depth) return Encodable::too_deep;
      for (const auto& [key, member] : value.items()) {
        if (!valid_utf8(key)) {
          error = "a key is not valid UTF-8";
          return Encodable::bad;
        }
        const Encodable r = check(member, depth + 1, max_depth, error);
        if (r == Encodable::bad) json_error_prefix(&error, key);
        if (r != Encodable::ok) return r;
      }
      return Encodable::ok;
    default:
      return Encodable::ok;
  }
}

}  // namespace

bool number_from_text(std::string_view text, Json& out, std::string_view& reason) {
  const char* begin = text.data();
  const char* end = begin + text.size();
  if (text.empty()) {
    reason = "invalid number";
    return false;
  }
  if (text.find_first_of(".eE") == std::string_view::npos) {
    if (text.front() == '-') {
      std::int64_t i = 0;
      const auto r = std::from_chars(begin, end, i);
      if (r.ec == std::errc() && r.ptr == end) {
        out = Json(i);
        return true;
      }
    } else {
      std::uint64_t u = 0;
      const auto r = std::from_chars(begin, end, u);
      if (r.ec == std::errc() && r.ptr == end) {
        out = Json(u);
        return true;
      }
    }
    // Beyond int64/uint64: a double.
  }
  double d = 0.0;
  const auto r = std::from_chars(begin, end, d);
  if (r.ptr != end) {
    reason = "invalid number";
    return false;
  }
  if (r.ec == std::errc::result_out_of_range) {
    if (decimal_magnitude(text) > 0) {
      reason = "number too big to be stored in a double";
      return false;
    }
    d = text.front() == '-' ? -0.0 : 0.0;  // Underflow.
  } else if (r.ec != std::errc()) {
    reason = "invalid number";
    return false;
  }
  out = Json(d);
  return true;
}

bool valid_utf8(std::string_view text) noexcept {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const std::size_t n = text.size();
  for (std::size_t i = 0; i < n;) {
    if (i + 8 <= n) {
      std::uint64_t w;
      std::memcpy(&w, p + i, 8);
      if ((w & 0x8080808080808080ULL) == 0) {
        i += 8;
        continue;
      }
    }
    if (p[i] < 0x80) {
      ++i;
      continue;
    }
    const std::size_t len = utf8_sequence(p, n, i);
    if (len == 0) return false;
    i += len;
  }
  return true;
}

JsonParseFailure parse_json(std::string_view text, Json& out, std::string& error) {
  if (parse_json_fast(text, out)) return JsonParseFailure::none;
  // Invalid JSON, or something the fast path leaves here: the full parser decides and names
  // the problem.
  return parse_json_full(text, out, error);
}

JsonParseFailure parse_json_full(std::string_view text, Json& out, std::string& error) {
  out = Json();
  // MemoryStream reads exactly `text` (no terminator needed) and reports '\0' at its end.
  rapidjson::MemoryStream stream(text.data(), text.size());
  Builder builder;
  rapidjson::Reader reader;
  // Numbers are converted from their text by the builder (std::from_chars: correctly rounded,
  // locale-independent): RapidJSON's own conversion mis-reads some inputs such as 0e-300.
  constexpr unsigned kFlags = rapidjson::kParseIterativeFlag |
                              rapidjson::kParseValidateEncodingFlag |
                              rapidjson::kParseNumbersAsStringsFlag;
  const rapidjson::ParseResult result = reader.Parse<kFlags>(stream, builder);
  if (!result) {
    if (result.Code() == rapidjson::kParseErrorTermination &&
        builder.failure() != JsonParseFailure::none) {
      error = at_offset(builder.reason(), result.Offset());
      return builder.failure();
    }
    error = at_offset(parse_error_text(result.Code()), result.Offset());
    return JsonParseFailure::syntax;
  }
  // The reader stops at a NUL byte as if the text ended there.
  if (stream.Tell() != text.size()) {
    error = at_offset("text after the JSON value", stream.Tell());
    return JsonParseFailure::syntax;
  }
  out = builder.take_root();
  return JsonParseFailure::none;
}

void write_string(JsonWriter& writer, std::string_view text) {
  if (valid_utf8(text)) {
    writer.String(text.data(), static_cast<rapidjson::SizeType>(text.size()));
  } else {
    const std::string fixed = replace_invalid_utf8(text);
    writer.String(fixed.data(), static_cast<rapidjson::SizeType>(fixed.size()));
  }
}

void write_key(JsonWriter& writer, std::string_view key) {
  if (valid_utf8(key)) {
    writer.Key(key.data(), static_cast<rapidjson::SizeType>(key.size()));
  } else {
    const std::string fixed = replace_invalid_utf8(key);
    writer.Key(fixed.data(), static_cast<rapidjson::SizeType>(fixed.size()));
  }
}

void write_json(JsonWriter& writer, const Json& value) {
  switch (value.type()) {
    case Json::Type::null:
      writer.Null();
      break;
    case Json::Type::boolean:
      writer.Bool(value.as_bool());
      break;
    case Json::Type::integer:
      if (const auto i = value.get_int()) {
        writer.Int64(*i);
      } else {
        writer.Uint64(value.as_uint());
      }
      break;
    case Json::Type::number: {
      const double d = value.as_double();
      if (std::isfinite(d)) {
        writer.Double(d);
      } else {
        writer.Null();
      }
      break;
    }
    case Json::Type::string:
      write_string(writer, value.as_string());
      break;
    case Json::Type::array:
      writer.StartArray();
      for (const Json& element : value.elements()) write_json(writer, element);
      writer.EndArray();
      break;
    case Json::Type::object:
      writer.StartObject();
      for (const auto& [key, member] : value.items()) {
        write_key(writer, key);
        write_json(writer, member);
      }
      writer.EndObject();
      break;
  }
}

bool check_encodable(const Json& value, std::string_view name, std::size_t max_depth,
                     std::string& error) {
  std::string reason;
  switch (check(value, 0, max_depth, reason)) {
    case Encodable::ok:
      return true;
    case Encodable::too_deep:
      error = "field \"" + std::string(name) + "\": nesting deeper than " +
              std::to_string(max_depth);
      return false;
    case Encodable::bad:
      json_error_prefix(&reason, name);
      error = std::move(reason);
      return false;
  }
  return false;
}

bool id_text(const Json& id, std::string& out) {
  if (id.is_string()) {
    out = id.as_string();
    return true;
  }
  if (id.is_integer()) {
    if (const auto i = id.get_int()) {
      out = std::to_string(*i);
    } else {
      out = std::to_string(id.as_uint());
    }
    return true;
  }
  return false;
}

bool parse_message(std::string_view text, Json& out, std::string& error) {
  std::string reason;
  switch (parse_json(text, out, reason)) {
    case JsonParseFailure::none:
      return true;
    case JsonParseFailure::too_deep:
      error = std::move(reason);
      return false;
    case JsonParseFailure::syntax:
      error = "not JSON: " + reason;
      return false;
  }
  return false;
}

bool check_text(std::string_view what, std::string_view text, std::string& error) {
  if (text.empty()) {
    error = std::string(what) + " is empty";
    return false;
  }
  if (!valid_utf8(text)) {
    error = std::string(what) + " is not valid UTF-8";
    return false;
  }
  return true;
}

std::string_view type_with_article(Json::Type type) noexcept {
  switch (type) {
    case Json::Type::null: return "null";
    case Json::Type::boolean: return "a boolean";
    case Json::Type::integer: return "an integer";
    case Json::Type::number: return "a number";
    case Json::Type::string: return "a string";
    case Json::Type::array: return "an array";
    case Json::Type::object: return "an object";
  }
  return "a value";
}

}  // namespace tether::codec
