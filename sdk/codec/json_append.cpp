// Json -> JSON text appended straight to a std::string: the same bytes as RapidJSON's Writer
// (write_json), without its intermediate buffer and per-character escaping. Strings are copied
// in runs of plain bytes found eight at a time; numbers use RapidJSON's own conversions.

#include <rapidjson/internal/dtoa.h>
#include <rapidjson/internal/itoa.h>

#include <cmath>
#include <cstdint>
#include <string>

#include "codec/json_io.hpp"

namespace tether::codec {

namespace {

constexpr char kHex[] = "0123456789ABCDEF";

// Appends the string body (no quotes). Strict: false at invalid UTF-8; otherwise invalid bytes
// become U+FFFD, one per byte.
template <bool Strict>
bool append_body(std::string& out, std::string_view text) {
  const char* data = text.data();
  const auto* bytes = reinterpret_cast<const unsigned char*>(data);
  const std::size_t n = text.size();
  std::size_t i = 0;
  while (i < n) {
    const std::size_t run = plain_prefix(data + i, n - i);
    out.append(data + i, run);
    i += run;
    if (i == n) break;
    const unsigned char c = bytes[i];
    if (c >= 0x80) {
      const std::size_t len = utf8_sequence(bytes, n, i);
      if (len == 0) {
        if constexpr (Strict) return false;
        out += "\xEF\xBF\xBD";
        ++i;
      } else {
        out.append(data + i, len);
        i += len;
      }
      continue;
    }
    out.push_back('\\');
    switch (c) {
      case '"':
        out.push_back('"');
        break;
      case '\\':
        out.push_back('\\');
        break;
      case '\b':
        out.push_back('b');
        break;
      case '\f':
        out.push_back('f');
        break;
      case '\n':
        out.push_back('n');
        break;
      case '\r':
        out.push_back('r');
        break;
      case '\t':
        out.push_back('t');
        break;
      default: {
        const char escape[] = {'u', '0', '0', kHex[c >> 4], kHex[c & 0xF]};
        out.append(escape, sizeof escape);
      }
    }
    ++i;
  }
  return true;
}

template <bool Strict>
bool append_value(std::string& out, const Json& value, std::size_t depth, std::size_t max_depth) {
  switch (value.type()) {
    case Json::Type::null:
      out += "null";
      return true;
    case Json::Type::boolean:
      out += value.as_bool() ? "true" : "false";
      return true;
    case Json::Type::integer: {
      char buffer[24];
      const char* end = nullptr;
      if (const auto i = value.get_int()) {
        end = rapidjson::internal::i64toa(*i, buffer);
      } else {
        end = rapidjson::internal::u64toa(value.as_uint(), buffer);
      }
      out.append(buffer, static_cast<std::size_t>(end - buffer));
      return true;
    }
    case Json::Type::number: {
      const double d = value.as_double();
      if (!std::isfinite(d)) {
        if constexpr (Strict) return false;
        out += "null";
        return true;
      }
      char buffer[32];
      const char* end = rapidjson::internal::dtoa(d, buffer);
      out.append(buffer, static_cast<std::size_t>(end - buffer));
      return true;
    }
    case Json::Type::string:
      out.push_back('"');
      if (!append_body<Strict>(out, value.as_string())) return false;
      out.push_back('"');
      return true;
    case Json::Type::array: {
      if (Strict && depth + 1 > max_depth) return false;
      out.push_back('[');
      bool first = true;
      for (const Json& element : value.elements()) {
        if (!first) out.push_back(',');
        first = false;
        if (!append_value<Strict>(out, element, depth + 1, max_depth)) return false;
      }
      out.push_back(']');
      return true;
    }
    case Json::Type::object: {
      if (Strict && depth + 1 > max_depth) return false;
      out.push_back('{');
      bool first = true;
      for (const auto& [key, member] : value.items()) {
        if (!first) out.push_back(',');
        first = false;
        out.push_back('"');
        if (!append_body<Strict>(out, key)) return false;
        out += "\":";
        if (!append_value<Strict>(out, member, depth + 1, max_depth)) return false;
      }
      out.push_back('}');
      return true;
    }
  }
  return true;
}

}  // namespace

void append_string(std::string& out, std::string_view text) {
  out.push_back('"');
  append_body<false>(out, text);
  out.push_back('"');
}

void append_json(std::string& out, const Json& value) {
  append_value<false>(out, value, 0, 0);
}

bool append_encodable(std::string& out, const Json& value, std::size_t max_depth) {
  return append_value<true>(out, value, 0, max_depth);
}

}  // namespace tether::codec
