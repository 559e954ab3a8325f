// The fast path of parse_json: a recursive-descent parser building the Json directly, for the
// JSON that messages are made of. It accepts only text the full parser (RapidJSON's SAX reader
// with the Builder) accepts, and gives the same value; anything else — invalid JSON, but also
// valid JSON it leaves alone (\u escapes, exponents, nesting deeper than kMaxDepth) — returns
// false and the full parser decides, so errors and their offsets come from one place.

#include <cstddef>
#include <string>
#include <utility>

#include "codec/json_io.hpp"

namespace tether::codec {

namespace {

// Recursion is bounded by this; deeper text goes to the iterative full parser.
constexpr int kMaxDepth = 32;
// Longer numbers go to the full parser too.
constexpr std::ptrdiff_t kMaxNumberLength = 40;

class FastParser {
 public:
  explicit FastParser(std::string_view text) : p_(text.data()), end_(text.data() + text.size()) {}

  bool document(Json& out) {
    skip_space();
    if (!value(out, 0)) return false;
    skip_space();
    return p_ == end_;
  }

  // A document that is an object, its members handed to `sink` one by one: the grammar and the
  // depth of object(), without building the object.
  bool members(MemberSink& sink) {
    skip_space();
    if (p_ == end_ || *p_ != '{') return false;
    if (!object_members(0, [&](std::string_view name) { return sink.member(name); })) return false;
    skip_space();
    return p_ == end_;
  }

 private:
  void skip_space() {
    while (p_ != end_ && (*p_ == ' ' || *p_ == '\n' || *p_ == '\r' || *p_ == '\t')) ++p_;
  }

  bool literal(std::string_view word) {
    if (static_cast<std::size_t>(end_ - p_) < word.size()) return false;
    if (std::string_view(p_, word.size()) != word) return false;
    p_ += word.size();
    return true;
  }

  bool value(Json& out, int depth) {
    if (p_ == end_) return false;
    switch (*p_) {
      case '"': {
        std::string text;
        if (!string(text)) return false;
        out = Json(std::move(text));
        return true;
      }
      case '{':
        return object(out, depth);
      case '[':
        return array(out, depth);
      case 't':
        if (!literal("true")) return false;
        out = Json(true);
        return true;
      case 'f':
        if (!literal("false")) return false;
        out = Json(false);
        return true;
      case 'n':
        if (!literal("null")) return false;
        out = Json();
        return true;
      default:
        return number(out);
    }
  }

  static bool digit(char c) { return c >= '0' && c <= '9'; }

  // RFC 8259 without the exponent: -?(0|[1-9][0-9]*)(\.[0-9]+)?
  bool number(Json& out) {
    const char* begin = p_;
    if (p_ != end_ && *p_ == '-') ++p_;
    if (p_ == end_ || !digit(*p_)) return false;
    if (*p_ == '0') {
      ++p_;
    } else {
      while (p_ != end_ && digit(*p_)) ++p_;
    }
    if (p_ != end_ && *p_ == '.') {
      ++p_;
      if (p_ == end_ || !digit(*p_)) return false;
      while (p_ != end_ && digit(*p_)) ++p_;
    }
    // Exponents and very long numbers are left to the full parser, whose range checks refuse
    // some of them ("0e400").
    if (p_ != end_ && (*p_ == 'e' || *p_ == 'E')) return false;
    if (p_ - begin > kMaxNumberLength) return false;
    std::string_view reason;
    return number_from_text(std::string_view(begin, static_cast<std::size_t>(p_ - begin)), out,
                            reason);
  }

  // At the opening quote.
  bool string(std::string& out) {
    ++p_;
    for (;;) {
      const std::size_t n = static_cast<std::size_t>(end_ - p_);
      const std::size_t run = plain_prefix(p_, n);
      out.append(p_, run);
      p_ += run;
      if (p_ == end_) return false;
      const auto c = static_cast<unsigned char>(*p_);
      if (c == '"') {
        ++p_;
        return true;
      }
      if (c >= 0x80) {
        const auto* bytes = reinterpret_cast<const unsigned char*>(p_);
        const std::size_t len = utf8_sequence(bytes, n - run, 0);
        if (len == 0) return false;
        out.append(p_, len);
        p_ += len;
        continue;
      }
      if (c != '\\') return false;  // a control character (NUL included)
      if (end_ - p_ < 2) return false;
      char unescaped = 0;
      switch (p_[1]) {
        case '"':
          unescaped = '"';
          break;
        case '\\':
          unescaped = '\\';
          break;
        case '/':
          unescaped = '/';
          break;
        case 'b':
          unescaped = '\b';
          break;
        case 'f':
          unescaped = '\f';
          break;
        case 'n':
          unescaped = '\n';
          break;
        case 'r':
          unescaped = '\r';
          break;
        case 't':
          unescaped = '\t';
          break;
        default:
          return false;  // \u (surrogates, NUL) and invalid escapes
      }
      out.push_back(unescaped);
      p_ += 2;
    }
  }

  // At the opening quote of a key: a view of the text when the key holds only plain bytes,
  // else the key decoded into `scratch` (viewed by `out`).
  bool key(std::string& scratch, std::string_view& out) {
    const char* begin = p_ + 1;
    const std::size_t run = plain_prefix(begin, static_cast<std::size_t>(end_ - begin));
    if (begin + run != end_ && begin[run] == '"') {
      out = std::string_view(begin, run);
      p_ = begin + run + 1;
      return true;
    }
    scratch.clear();
    if (!string(scratch)) return false;
    out = scratch;
    return true;
  }

  // At the '{' of an object at `depth`: each member's value is parsed into `slot(name)` (nullptr
  // stops the parse).
  template <typename Slot>
  bool object_members(int depth, Slot&& slot) {
    ++p_;
    skip_space();
    if (p_ != end_ && *p_ == '}') {
      ++p_;
      return true;
    }
    std::string escaped;
    for (;;) {
      skip_space();
      if (p_ == end_ || *p_ != '"') return false;
      std::string_view name;
      if (!key(escaped, name)) return false;
      skip_space();
      if (p_ == end_ || *p_ != ':') return false;
      ++p_;
      skip_space();
      Json* target = slot(name);
      if (target == nullptr || !value(*target, depth + 1)) return false;
      skip_space();
      if (p_ == end_) return false;
      if (*p_ == ',') {
        ++p_;
        continue;
      }
      if (*p_ != '}') return false;
      ++p_;
      return true;
    }
  }

  bool object(Json& out, int depth) {
    if (depth >= kMaxDepth) return false;
    Json::Object members;
    members.reserve(4);  // messages are small objects: one allocation for most
    const bool ok = object_members(depth, [&](std::string_view name) {
      members.emplace_back(std::string(name), Json());
      return &members.back().second;
    });
    if (!ok) return false;
    out = Json(std::move(members));
    return true;
  }

  bool array(Json& out, int depth) {
    if (depth >= kMaxDepth) return false;
    ++p_;
    Json::Array elements;
    skip_space();
    if (p_ != end_ && *p_ == ']') {
      ++p_;
      out = Json(std::move(elements));
      return true;
    }
    for (;;) {
      skip_space();
      elements.emplace_back();
      if (!value(elements.back(), depth + 1)) return false;
      skip_space();
      if (p_ == end_) return false;
      if (*p_ == ',') {
        ++p_;
        continue;
      }
      if (*p_ != ']') return false;
      ++p_;
      out = Json(std::move(elements));
      return true;
    }
  }

  const char* p_;
  const char* end_;
};

}  // namespace

bool parse_json_fast(std::string_view text, Json& out) {
  FastParser parser(text);
  return parser.document(out);
}

bool parse_members_fast(std::string_view text, MemberSink& sink) {
  FastParser parser(text);
  return parser.members(sink);
}

}  // namespace tether::codec
