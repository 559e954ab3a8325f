#include "transport/proxy.hpp"

#include <arpa/inet.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "protocol/handshake_key.hpp"

namespace tether::transport {
namespace {

bool is_space(char c) noexcept {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}
char to_lower(char c) noexcept {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = to_lower(c);
  return out;
}

std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool percent_decode(std::string_view in, std::string& out) {
  out.clear();
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out += in[i];
      continue;
    }
    if (i + 2 >= in.size()) return false;
    const int hi = hex_value(in[i + 1]);
    const int lo = hex_value(in[i + 2]);
    if (hi < 0 || lo < 0) return false;
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return true;
}

std::string percent_encode(std::string_view in) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (char c : in) {
    const auto b = static_cast<unsigned char>(c);
    const bool unreserved = (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') ||
                            (b >= '0' && b <= '9') || b == '-' || b == '.' || b == '_' || b == '~';
    if (unreserved) {
      out += c;
    } else {
      out += '%';
      out += kHex[b >> 4];
      out += kHex[b & 0x0F];
    }
  }
  return out;
}

// The first set, non-empty value among `names`, and the name it came from.
std::optional<std::string> first_set(const EnvLookup& env, std::initializer_list<const char*> names,
                                     const char** used) {
  for (const char* name : names) {
    std::optional<std::string> value = env(name);
    if (value && !trim(*value).empty()) {
      if (used != nullptr) *used = name;
      return value;
    }
  }
  return std::nullopt;
}

// An IP address in network byte order, for exact and prefix comparisons.
struct IpAddress {
  int family = 0;  // AF_INET or AF_INET6; 0 when not an address.
  unsigned char bytes[16] = {};
};

IpAddress parse_ip(std::string_view text) {
  IpAddress ip;
  if (text.empty() || text.size() > 64) return ip;
  const std::string s(text);
  if (inet_pton(AF_INET, s.c_str(), ip.bytes) == 1) {
    ip.family = AF_INET;
  } else if (inet_pton(AF_INET6, s.c_str(), ip.bytes) == 1) {
    ip.family = AF_INET6;
  }
  return ip;
}

bool same_network(const IpAddress& a, const IpAddress& b, unsigned bits) noexcept {
  if (a.family != b.family) return false;
  const std::size_t whole = bits / 8;
  if (std::memcmp(a.bytes, b.bytes, whole) != 0) return false;
  const unsigned rest = bits % 8;
  if (rest == 0) return true;
  const auto mask = static_cast<unsigned char>(0xFF << (8 - rest));
  return (a.bytes[whole] & mask) == (b.bytes[whole] & mask);
}

// Digits only, 1..max; false otherwise.
bool parse_bounded(std::string_view text, unsigned max, unsigned& out) noexcept {
  if (text.empty() || text.size() > 5) return false;
  unsigned value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + static_cast<unsigned>(c - '0');
  }
  if (value > max) return false;
  out = value;
  return true;
}

// One no_proxy entry (already trimmed, not empty, not "*") against the target.
bool entry_matches(std::string_view entry, std::string_view host, const IpAddress& host_ip,
                   std::uint16_t port) {
  std::string_view addr = entry;
  std::string_view port_text;
  bool has_port = false;
  if (addr.front() == '[') {
    const std::size_t close = addr.find(']');
    if (close == std::string_view::npos) return false;
    const std::string_view after = addr.substr(close + 1);
    addr = addr.substr(1, close - 1);
    if (parse_ip(addr).family != AF_INET6) return false;  // Brackets are for IPv6 only.
    if (!after.empty()) {
      if (after.front() != ':') return false;
      has_port = true;
      port_text = after.substr(1);
    }
  } else {
    const std::size_t colon = addr.find(':');
    // Two colons or more: a bare IPv6 address, which cannot carry a port.
    if (colon != std::string_view::npos && addr.find(':', colon + 1) == std::string_view::npos) {
      has_port = true;
      port_text = addr.substr(colon + 1);
      addr = addr.substr(0, colon);
    }
  }
  if (has_port) {
    unsigned entry_port = 0;
    if (!parse_bounded(port_text, 65535, entry_port) || entry_port == 0) return false;
    if (entry_port != port) return false;
  }
  if (addr.empty()) return false;

  std::string_view prefix_text;
  const std::size_t slash = addr.find('/');
  if (slash != std::string_view::npos) {
    prefix_text = addr.substr(slash + 1);
    addr = addr.substr(0, slash);
  }
  const IpAddress entry_ip = parse_ip(addr);
  if (entry_ip.family != 0) {
    const unsigned max_bits = entry_ip.family == AF_INET ? 32 : 128;
    unsigned bits = max_bits;
    if (slash != std::string_view::npos && !parse_bounded(prefix_text, max_bits, bits)) {
      return false;
    }
    return same_network(entry_ip, host_ip, bits);
  }
  if (slash != std::string_view::npos || host_ip.family != 0) return false;

  std::string name = lower(addr);
  if (name.size() >= 2 && name[0] == '*' && name[1] == '.') name.erase(0, 1);
  if (!name.empty() && name.front() == '.') name.erase(0, 1);
  if (!name.empty() && name.back() == '.') name.pop_back();
  if (name.empty()) return false;
  if (host == name) return true;
  return host.size() > name.size() && host.substr(host.size() - name.size()) == name &&
         host[host.size() - name.size() - 1] == '.';
}

}  // namespace

bool parse_proxy_url(std::string_view text, ProxyConfig& out, std::string& error) {
  text = trim(text);
  if (text.empty()) {
    error = "empty proxy URL";
    return false;
  }
  if (text.size() > kMaxUrlBytes) {
    error = "proxy URL too long (" + std::to_string(text.size()) + " bytes, at most " +
            std::to_string(kMaxUrlBytes) + ")";
    return false;
  }
  for (char c : text) {
    const auto b = static_cast<unsigned char>(c);
    if (b <= 0x20 || b == 0x7F) {
      error = "space or control character in proxy URL";
      return false;
    }
  }

  std::string_view rest = text;
  const std::size_t sep = rest.find("://");
  if (sep != std::string_view::npos) {
    const std::string scheme = lower(rest.substr(0, sep));
    if (scheme == "https") {
      error = "HTTPS proxies are not supported";
      return false;
    }
    if (scheme != "http") {
      bool plain = !scheme.empty() && scheme.size() <= 16;
      for (char c : scheme) plain = plain && ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'));
      error = plain ? "unsupported proxy scheme '" + scheme + "' (expected http)"
                    : "unsupported proxy scheme (expected http)";
      return false;
    }
    rest.remove_prefix(sep + 3);
  }

  ProxyConfig config;
  const std::size_t at = rest.rfind('@');
  if (at != std::string_view::npos) {
    const std::string_view userinfo = rest.substr(0, at);
    rest.remove_prefix(at + 1);
    const std::size_t colon = userinfo.find(':');
    if (!percent_decode(userinfo.substr(0, colon), config.username) ||
        (colon != std::string_view::npos &&
         !percent_decode(userinfo.substr(colon + 1), config.password))) {
      error = "invalid percent-encoding in proxy credentials";
      return false;
    }
    if (config.username.find(':') != std::string::npos) {
      error = "a proxy user name cannot contain ':'";
      return false;
    }
  }

  const std::size_t authority_end = rest.find_first_of("/?#");
  const std::string_view authority = rest.substr(0, authority_end);
  if (authority_end != std::string_view::npos && rest.substr(authority_end) != "/") {
    error = "a proxy URL has no path, query or fragment";
    return false;
  }
  HostPort hp;
  std::string host_error;
  if (!parse_host_port(authority, hp, host_error, /*quote_input=*/false)) {
    error = host_error + " in proxy URL";
    return false;
  }
  config.host = std::move(hp.host);
  config.port = hp.port_explicit ? hp.port : kDefaultProxyPort;
  out = std::move(config);
  return true;
}

std::optional<std::string> process_environment(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr) return std::nullopt;
  return std::string(value);
}

std::optional<ProxyConfig> proxy_from_environment(const Url& target, const EnvLookup& env,
                                                  std::string* error) {
  if (error != nullptr) error->clear();
  const char* used = nullptr;
  const std::optional<std::string> value =
      target.secure ? first_set(env, {"https_proxy", "HTTPS_PROXY"}, &used)
                    : first_set(env, {"http_proxy", "HTTP_PROXY"}, &used);
  if (!value) return std::nullopt;

  const std::optional<std::string> no_proxy = first_set(env, {"no_proxy", "NO_PROXY"}, nullptr);
  if (no_proxy && no_proxy_matches(*no_proxy, target.host, target.port)) return std::nullopt;

  ProxyConfig config;
  std::string message;
  if (!parse_proxy_url(*value, config, message)) {
    if (error != nullptr) *error = std::string(used) + ": " + message;
    return std::nullopt;
  }
  return config;
}

bool no_proxy_matches(std::string_view no_proxy, std::string_view host, std::uint16_t port) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  std::string name = lower(host);
  if (!name.empty() && name.back() == '.') name.pop_back();
  if (name.empty()) return false;
  const IpAddress host_ip = parse_ip(name);

  std::size_t i = 0;
  while (i < no_proxy.size()) {
    while (i < no_proxy.size() && (no_proxy[i] == ',' || is_space(no_proxy[i]))) ++i;
    const std::size_t start = i;
    while (i < no_proxy.size() && no_proxy[i] != ',' && !is_space(no_proxy[i])) ++i;
    const std::string_view entry = no_proxy.substr(start, i - start);
    if (entry.empty()) continue;
    if (entry == "*") return true;
    if (entry_matches(entry, name, host_ip, port)) return true;
  }
  return false;
}

std::string build_connect_request(const Url& target, const ProxyConfig& proxy) {
  const std::string authority = target.authority();
  std::string request = "CONNECT " + authority + " HTTP/1.1\r\nHost: " + authority + "\r\n";
  if (proxy.has_credentials()) {
    const std::string credentials = proxy.username + ":" + proxy.password;
    request += "Proxy-Authorization: Basic " +
               protocol::base64_encode(reinterpret_cast<const std::uint8_t*>(credentials.data()),
                                       credentials.size()) +
               "\r\n";
  }
  request += "\r\n";
  return request;
}

std::string describe_proxy(const ProxyConfig& proxy) {
  if (proxy.empty()) return "direct";
  std::string out = "http://";
  if (proxy.has_credentials()) out += percent_encode(proxy.username) + ":***@";
  out += format_host_port(proxy.host, proxy.port);
  return out;
}

bool connect_reply_ok(const protocol::HttpResponseHead& head, std::string& error) {
  if (head.status() >= 200 && head.status() <= 299) return true;
  error = "proxy CONNECT failed: " + protocol::escape_printable(head.status_line(), 200);
  return false;
}

}  // namespace tether::transport
