#include "protocol/http_head.hpp"

#include <algorithm>
#include <cstring>
#include <utility>

namespace tether::protocol {
namespace {

constexpr std::string_view kHttpPrefix = "HTTP/1.";

// How much of a bad line or of a non-HTTP reply goes into an error message.
constexpr std::size_t kQuotedBytes = 64;

unsigned char lower(unsigned char c) noexcept {
  return (c >= 'A' && c <= 'Z') ? static_cast<unsigned char>(c - 'A' + 'a') : c;
}

bool is_ows(char c) noexcept {
  return c == ' ' || c == '\t';
}

bool is_digit(char c) noexcept {
  return c >= '0' && c <= '9';
}

// RFC 7230 3.2.6 tchar.
bool is_tchar(unsigned char c) noexcept {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return c != '\0' && std::strchr("!#$%&'*+-.^_`|~", c) != nullptr;
}

// Field values and reason phrases: HTAB, SP, VCHAR and obs-text; never CR, LF, NUL or other
// controls, which could smuggle a line break past a later consumer of the value.
bool is_text(std::string_view s) noexcept {
  return std::all_of(s.begin(), s.end(), [](char ch) {
    const auto c = static_cast<unsigned char>(ch);
    return c == '\t' || (c >= 0x20 && c != 0x7f);
  });
}

std::string_view trim_ows(std::string_view s) noexcept {
  while (!s.empty() && is_ows(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_ows(s.back())) s.remove_suffix(1);
  return s;
}

}  // namespace

bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (lower(static_cast<unsigned char>(a[i])) != lower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

bool header_has_token(std::string_view list, std::string_view token) noexcept {
  if (token.empty()) return false;
  while (true) {
    const std::size_t comma = list.find(',');
    if (iequals(trim_ows(list.substr(0, comma)), token)) return true;
    if (comma == std::string_view::npos) return false;
    list.remove_prefix(comma + 1);
  }
}

bool is_http_token(std::string_view s) noexcept {
  return !s.empty() && std::all_of(s.begin(), s.end(),
                                   [](char c) { return is_tchar(static_cast<unsigned char>(c)); });
}

std::string escape_printable(std::string_view bytes, std::size_t max_bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  const std::size_t n = std::min(bytes.size(), max_bytes);
  out.reserve(n + 8);
  for (std::size_t i = 0; i < n; ++i) {
    const auto c = static_cast<unsigned char>(bytes[i]);
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c >= 0x20 && c < 0x7f) {
          out += static_cast<char>(c);
        } else {
          out += "\\x";
          out += kHex[c >> 4];
          out += kHex[c & 0xf];
        }
    }
  }
  if (bytes.size() > max_bytes) out += "...";
  return out;
}

std::optional<std::string_view> HttpResponseHead::header(std::string_view name) const noexcept {
  for (const Header& h : headers_) {
    if (iequals(h.name, name)) return std::string_view(h.value);
  }
  return std::nullopt;
}

HttpResponseHead::Result HttpResponseHead::fail(std::string message) {
  error_ = std::move(message);
  result_ = Result::invalid;
  line_.clear();
  line_.shrink_to_fit();
  return result_;
}

bool HttpResponseHead::status_prefix_ok() const noexcept {
  const std::size_t n = std::min(line_.size(), kHttpPrefix.size());
  return std::string_view(line_).substr(0, n) == kHttpPrefix.substr(0, n);
}

// HTTP/1.x SP 3DIGIT [SP reason-phrase]; `line_` has no line terminator. A status below 100
// ("000") is refused: it has no class (RFC 9110 15), and 0 means "no status" elsewhere.
bool HttpResponseHead::parse_status_line() {
  const std::string_view line = line_;
  if (line.size() < 12 || line.substr(0, kHttpPrefix.size()) != kHttpPrefix || !is_digit(line[7]) ||
      line[8] != ' ' || !is_digit(line[9]) || line[9] == '0' || !is_digit(line[10]) ||
      !is_digit(line[11]) || (line.size() > 12 && line[12] != ' ') || !is_text(line)) {
    return false;
  }
  version_ = std::string(line.substr(0, 8));
  status_ = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
  reason_ = line.size() > 13 ? std::string(line.substr(13)) : std::string();
  status_line_ = line_;
  return true;
}

bool HttpResponseHead::parse_header_line() {
  const std::string_view line = line_;
  const std::size_t colon = line.find(':');
  if (colon == std::string_view::npos || !is_http_token(line.substr(0, colon))) return false;
  const std::string_view value = trim_ows(line.substr(colon + 1));
  if (!is_text(value)) return false;
  headers_.push_back(Header{std::string(line.substr(0, colon)), std::string(value)});
  return true;
}

HttpResponseHead::Result HttpResponseHead::feed(const std::uint8_t* data, std::size_t n,
                                                std::size_t* consumed) {
  std::size_t ignored = 0;
  if (consumed == nullptr) consumed = &ignored;
  *consumed = 0;
  if (result_ != Result::need_more) return result_;

  const auto too_big = [this] {
    return fail("response headers exceed " + std::to_string(max_bytes_) + " bytes");
  };
  const auto not_http = [this] {
    return fail("not an HTTP response: " + escape_printable(first_bytes_, kQuotedBytes));
  };

  std::size_t pos = 0;
  while (pos < n) {
    if (total_ >= max_bytes_) return too_big();
    // Never look past the size limit, so a peer that never ends its head costs max_bytes_.
    const std::size_t limit = std::min(n - pos, max_bytes_ - total_);
    const auto* start = reinterpret_cast<const char*>(data + pos);
    const auto* newline = static_cast<const char*>(std::memchr(start, '\n', limit));
    const std::size_t segment = newline != nullptr ? std::size_t(newline - start) + 1 : limit;

    if (first_bytes_.size() <= kQuotedBytes) {
      first_bytes_.append(start, std::min(segment, kQuotedBytes + 1 - first_bytes_.size()));
    }
    line_.append(start, segment);
    total_ += segment;
    pos += segment;
    *consumed = pos;

    if (newline == nullptr) {
      if (lines_ == 0 && !status_prefix_ok()) return not_http();
      continue;
    }

    line_.pop_back();
    if (!line_.empty() && line_.back() == '\r') line_.pop_back();
    if (lines_ == 0) {
      if (!parse_status_line()) return not_http();
    } else if (line_.empty()) {
      result_ = Result::complete;
      line_.clear();
      line_.shrink_to_fit();
      return result_;
    } else if (is_ows(line_.front())) {
      return fail("obsolete line folding in response headers: " +
                  escape_printable(line_, kQuotedBytes));
    } else if (!parse_header_line()) {
      return fail("invalid header line: " + escape_printable(line_, kQuotedBytes));
    }
    ++lines_;
    line_.clear();
  }
  // The head is incomplete and cannot end within the limit: fail now rather than on the next feed.
  if (total_ >= max_bytes_) return too_big();
  return Result::need_more;
}

}  // namespace tether::protocol
