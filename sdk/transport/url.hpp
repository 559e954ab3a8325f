#pragma once

// WebSocket URL parsing (RFC 6455 3, RFC 3986). Pure: no DNS, no sockets. Every failure is
// errc::invalid_url; the message says what is wrong without echoing credentials.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace tether::transport {

/// The longest URL accepted, in bytes.
inline constexpr std::size_t kMaxUrlBytes = 8 * 1024;

/// A host and an optional port, as found in the authority of a URL.
struct HostPort {
  std::string host;         ///< No brackets for IPv6; lower-cased.
  bool host_is_ip = false;  ///< An IPv4 or IPv6 literal (no DNS lookup needed).
  bool ipv6 = false;        ///< An IPv6 literal (bracketed in URLs and in "host:port").
  std::uint16_t port = 0;   ///< 0 when the authority has no port.
  bool port_explicit = false;
};

/// Parses "host", "host:port", "1.2.3.4:port" or "[v6]:port" (no userinfo, no path).
/// host: a name made of letters, digits, '-', '_' and '.' (no empty label; one trailing dot
/// allowed), a dotted IPv4 address (four decimal parts 0-255, no leading zeros: "010" would mean
/// 8 to some resolvers and 10 to others), or a bracketed IPv6 address without zone id. Text made
/// only of digits and dots must be a valid IPv4 address. port: 1-65535, digits only.
/// `quote_input` = false keeps the input out of error messages (it may hold a secret).
bool parse_host_port(std::string_view authority, HostPort& out, std::string& error,
                     bool quote_input = true);

/// "host:port", with brackets around an IPv6 literal: the CONNECT request target.
std::string format_host_port(const std::string& host, std::uint16_t port);

struct Url {
  std::string scheme;          ///< "ws" or "wss" (lower-cased).
  bool secure = false;         ///< wss.
  std::string host;            ///< No brackets for IPv6; lower-cased.
  bool host_is_ip = false;     ///< An IPv4 or IPv6 literal.
  bool ipv6 = false;           ///< An IPv6 literal.
  std::uint16_t port = 0;      ///< Explicit, or the default 80 (ws) / 443 (wss).
  bool port_explicit = false;  ///< The URL named the port (even when it is the default).
  std::string target;          ///< Path + "?" + query, "/" when the path is empty; no fragment.

  /// "host:port", port always present, IPv6 bracketed (the CONNECT target; see
  /// protocol::host_header_value for the Host header, which omits a default port).
  std::string authority() const { return format_host_port(host, port); }
};

/// Parses a ws:// or wss:// URL. Returns false and sets `error` (a one-line reason) on failure;
/// `out` is only written on success.
///
/// The scheme is case-insensitive; "//" is required; userinfo is refused (a WebSocket URL has no
/// credentials, and silently dropping them would hide a mistake); see parse_host_port for the
/// host and port. The path and query are kept byte for byte (percent-encodings untouched),
/// except that bytes outside ASCII are percent-encoded, since an HTTP request line cannot carry
/// them raw; spaces and control characters anywhere are refused. The fragment is dropped.
bool parse_ws_url(std::string_view text, Url& out, std::string& error);

}  // namespace tether::transport
