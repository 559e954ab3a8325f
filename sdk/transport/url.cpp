#include "transport/url.hpp"

#include <arpa/inet.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

namespace tether::transport {
namespace {

constexpr std::size_t kMaxHostNameBytes = 253;
constexpr std::size_t kMaxLabelBytes = 63;
constexpr std::size_t kMaxQuotedBytes = 64;

bool is_alpha(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
bool is_digit(char c) noexcept {
  return c >= '0' && c <= '9';
}
char to_lower(char c) noexcept {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = to_lower(c);
  return out;
}

std::string hex_byte(unsigned char b) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  return {kHex[b >> 4], kHex[b & 0x0F]};
}

// Input quoted for a one-line message: non-printable bytes as \xNN, cut after kMaxQuotedBytes.
std::string quoted(std::string_view s) {
  std::string out = "'";
  const std::size_t n = s.size() < kMaxQuotedBytes ? s.size() : kMaxQuotedBytes;
  for (std::size_t i = 0; i < n; ++i) {
    const auto b = static_cast<unsigned char>(s[i]);
    if (b < 0x20 || b >= 0x7F || b == '\\' || b == '\'') {
      out += "\\x" + hex_byte(b);
    } else {
      out += s[i];
    }
  }
  if (n < s.size()) out += "...";
  out += "'";
  return out;
}

bool parse_port(std::string_view text, std::uint16_t& port, std::string& error, bool quote) {
  if (text.empty()) {
    error = "empty port after ':'";
    return false;
  }
  std::uint32_t value = 0;
  bool overflow = false;
  for (char c : text) {
    if (!is_digit(c)) {
      error = quote ? "invalid port " + quoted(text) : "invalid port (digits expected)";
      return false;
    }
    value = value * 10 + static_cast<std::uint32_t>(c - '0');
    if (value > 65535) {
      overflow = true;
      value = 65536;  // Stays above the range without overflowing on long digit strings.
    }
  }
  if (value == 0 || overflow) {
    // Only digits here, so the number can be shown unquoted.
    std::string shown(text.substr(0, kMaxQuotedBytes));
    if (shown.size() < text.size()) shown += "...";
    error = quote ? "port " + shown + " out of range (1-65535)" : "port out of range (1-65535)";
    return false;
  }
  port = static_cast<std::uint16_t>(value);
  return true;
}

// Four decimal parts 0-255 without leading zeros: the only IPv4 form every resolver reads the
// same way.
bool is_dotted_ipv4(std::string_view s) noexcept {
  int parts = 0;
  std::size_t i = 0;
  while (true) {
    const std::size_t start = i;
    unsigned value = 0;
    while (i < s.size() && is_digit(s[i]) && i - start < 3) {
      value = value * 10 + static_cast<unsigned>(s[i] - '0');
      ++i;
    }
    const std::size_t len = i - start;
    if (len == 0 || value > 255 || (len > 1 && s[start] == '0')) return false;
    ++parts;
    if (i == s.size()) return parts == 4;
    if (s[i] != '.' || parts == 4) return false;
    ++i;
  }
}

bool is_ipv6_literal(const std::string& s) noexcept {
  unsigned char buf[16];
  // inet_pton stops at a NUL: "[::1\0anything]" must not pass as "::1".
  if (s.find('\0') != std::string::npos) return false;
  return inet_pton(AF_INET6, s.c_str(), buf) == 1;
}

bool is_host_name_char(char c) noexcept {
  return is_alpha(c) || is_digit(c) || c == '-' || c == '_' || c == '.';
}

bool check_host_name(std::string_view host, std::string& error, bool quote) {
  for (char c : host) {
    if (!is_host_name_char(c)) {
      error = quote ? "invalid character " + quoted(std::string_view(&c, 1)) + " in host " +
                          quoted(host)
                    : "invalid character in host";
      return false;
    }
  }
  std::string_view name = host;
  if (name.back() == '.') name.remove_suffix(1);  // A fully qualified name ("example.com.").
  bool ok = !name.empty() && name.size() <= kMaxHostNameBytes;
  std::size_t label = 0;
  for (std::size_t i = 0; ok && i <= name.size(); ++i) {
    if (i == name.size() || name[i] == '.') {
      ok = label > 0 && label <= kMaxLabelBytes;
      label = 0;
    } else {
      ++label;
    }
  }
  if (!ok) {
    error = quote ? "invalid host name " + quoted(host) : "invalid host name";
    return false;
  }
  return true;
}

bool only_digits_and_dots(std::string_view s) noexcept {
  for (char c : s) {
    if (!is_digit(c) && c != '.') return false;
  }
  return true;
}

}  // namespace

bool parse_host_port(std::string_view authority, HostPort& out, std::string& error,
                     bool quote_input) {
  HostPort hp;
  std::string_view host;
  std::string_view port_text;
  bool has_port = false;

  if (!authority.empty() && authority.front() == '[') {
    const std::size_t close = authority.find(']');
    if (close == std::string_view::npos) {
      error = "missing ']' after IPv6 address";
      return false;
    }
    host = authority.substr(1, close - 1);
    const std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') {
        error = quote_input ? "unexpected " + quoted(after) + " after IPv6 address"
                            : "unexpected characters after IPv6 address";
        return false;
      }
      has_port = true;
      port_text = after.substr(1);
    }
    if (host.find('%') != std::string_view::npos) {
      error = "IPv6 zone identifiers are not supported";
      return false;
    }
    const std::string literal = lower(host);
    if (literal.empty() || !is_ipv6_literal(literal)) {
      error = quote_input ? "invalid IPv6 address " + quoted(host) : "invalid IPv6 address";
      return false;
    }
    hp.host = literal;
    hp.host_is_ip = true;
    hp.ipv6 = true;
  } else {
    const std::size_t colon = authority.find(':');
    if (colon != std::string_view::npos) {
      if (authority.find(':', colon + 1) != std::string_view::npos) {
        error = "an IPv6 address must be in brackets ([::1]:port)";
        return false;
      }
      host = authority.substr(0, colon);
      has_port = true;
      port_text = authority.substr(colon + 1);
    } else {
      host = authority;
    }
    if (host.empty()) {
      error = "missing host";
      return false;
    }
    if (only_digits_and_dots(host)) {
      if (!is_dotted_ipv4(host)) {
        error = quote_input ? "invalid IPv4 address " + quoted(host) : "invalid IPv4 address";
        return false;
      }
      hp.host_is_ip = true;
    } else if (!check_host_name(host, error, quote_input)) {
      return false;
    }
    hp.host = lower(host);
  }

  if (has_port) {
    if (!parse_port(port_text, hp.port, error, quote_input)) return false;
    hp.port_explicit = true;
  }
  out = std::move(hp);
  return true;
}

std::string format_host_port(const std::string& host, std::uint16_t port) {
  const bool ipv6 = host.find(':') != std::string::npos;
  std::string out;
  out.reserve(host.size() + 8);
  if (ipv6) out += '[';
  out += host;
  if (ipv6) out += ']';
  out += ':';
  out += std::to_string(port);
  return out;
}

bool parse_ws_url(std::string_view text, Url& out, std::string& error) {
  if (text.size() > kMaxUrlBytes) {
    error = "URL too long (" + std::to_string(text.size()) + " bytes, at most " +
            std::to_string(kMaxUrlBytes) + ")";
    return false;
  }
  if (text.empty()) {
    error = "empty URL";
    return false;
  }
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto b = static_cast<unsigned char>(text[i]);
    if (b == ' ') {
      error = "space in URL at offset " + std::to_string(i) + " (percent-encode it as %20)";
      return false;
    }
    if (b < 0x20 || b == 0x7F) {
      error = "control character 0x" + hex_byte(b) + " in URL at offset " + std::to_string(i);
      return false;
    }
  }

  // scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) ":"  (RFC 3986 3.1)
  const std::size_t colon = text.find(':');
  bool scheme_ok = colon != std::string_view::npos && colon > 0 && is_alpha(text[0]);
  for (std::size_t i = 1; scheme_ok && i < colon; ++i) {
    const char c = text[i];
    scheme_ok = is_alpha(c) || is_digit(c) || c == '+' || c == '-' || c == '.';
  }
  if (!scheme_ok) {
    error = "missing scheme (expected ws:// or wss://)";
    return false;
  }
  Url url;
  url.scheme = lower(text.substr(0, colon));
  if (url.scheme != "ws" && url.scheme != "wss") {
    error = "unsupported scheme " + quoted(url.scheme) + " (expected ws or wss)";
    return false;
  }
  url.secure = url.scheme == "wss";

  std::string_view rest = text.substr(colon + 1);
  if (rest.substr(0, 2) != "//") {
    error = "expected '//' after '" + url.scheme + ":'";
    return false;
  }
  rest.remove_prefix(2);

  const std::size_t authority_end = rest.find_first_of("/?#");
  const std::string_view authority = rest.substr(0, authority_end);
  if (authority.find('@') != std::string_view::npos) {
    error = "credentials in a ws URL are not supported";
    return false;
  }
  HostPort hp;
  if (!parse_host_port(authority, hp, error)) return false;
  url.host = std::move(hp.host);
  url.host_is_ip = hp.host_is_ip;
  url.ipv6 = hp.ipv6;
  url.port_explicit = hp.port_explicit;
  url.port = hp.port_explicit ? hp.port : (url.secure ? 443 : 80);

  std::string_view target =
      authority_end == std::string_view::npos ? std::string_view() : rest.substr(authority_end);
  target = target.substr(0, target.find('#'));
  if (target.empty() || target.front() == '?') url.target = "/";
  url.target.reserve(url.target.size() + target.size());
  for (char c : target) {
    const auto b = static_cast<unsigned char>(c);
    if (b >= 0x80) {
      url.target += '%';
      url.target += hex_byte(b);
    } else {
      url.target += c;
    }
  }

  out = std::move(url);
  return true;
}

}  // namespace tether::transport
