#pragma once

// HTTP CONNECT proxies: the proxy URL, the choice made from http_proxy / https_proxy / no_proxy,
// the CONNECT request and the check of its reply. Pure: the environment is passed in as a lookup
// function (process_environment() reads the real one), and nothing here touches a socket.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "protocol/http_head.hpp"
#include "transport/url.hpp"

namespace tether::transport {

/// The port of a proxy URL that names none, as for any http:// URL.
inline constexpr std::uint16_t kDefaultProxyPort = 80;

struct ProxyConfig {
  std::string host;  ///< No brackets for IPv6; lower-cased.
  std::uint16_t port = 0;
  std::string username;  ///< Percent-decoded.
  std::string password;  ///< Percent-decoded.

  bool empty() const noexcept { return host.empty(); }
  bool has_credentials() const noexcept { return !username.empty() || !password.empty(); }
};

/// Parses "http://[user[:pass]@]host[:port][/]" or the same without "http://". The port defaults
/// to kDefaultProxyPort (80). User and password are percent-decoded ("%40" is '@'); the last '@'
/// ends the credentials, so a raw '@' or '/' in a password works too. Surrounding whitespace is
/// ignored. Refused: https:// ("HTTPS proxies are not supported": TLS to the proxy itself is not
/// implemented) and other schemes, a path other than "/", a query or fragment, a ':' in the
/// decoded user name (RFC 7617 2). Error messages never quote the input, which may hold a
/// password.
bool parse_proxy_url(std::string_view text, ProxyConfig& out, std::string& error);

/// Looks an environment variable up: its value, or nullopt when unset.
using EnvLookup = std::function<std::optional<std::string>(const char*)>;

/// The process environment (getenv), for proxy_from_environment.
std::optional<std::string> process_environment(const char* name);

/// The proxy for `target` according to the environment, or nullopt to connect directly.
/// ws:// uses http_proxy, then HTTP_PROXY; wss:// uses https_proxy, then HTTPS_PROXY; no_proxy,
/// then NO_PROXY, lists the hosts to reach directly (see no_proxy_matches). An empty value counts
/// as unset, so the upper-case name is consulted next. When the chosen value does not parse,
/// returns nullopt and, when `error` is given, sets it to "<variable name>: <reason>" (the caller
/// decides whether that is fatal); `error` is cleared otherwise.
std::optional<ProxyConfig> proxy_from_environment(const Url& target, const EnvLookup& env,
                                                  std::string* error = nullptr);

/// True when `host`:`port` is listed in `no_proxy`: entries separated by commas and/or
/// whitespace, empty ones ignored, compared case-insensitively:
/// - "*" matches every host;
/// - a name ("example.com", ".example.com" or "*.example.com") matches that name and every name
///   below it;
/// - an IP address ("10.1.2.3", "::1", "[::1]") matches the same address, however written; with
///   "/bits" ("10.0.0.0/8", "fd00::/8") every address of that network;
/// - ":port" after a name, an IPv4 address or a bracketed IPv6 address restricts the entry to that
///   port.
/// Names never match IP addresses and the other way round: nothing is resolved. Malformed entries
/// are ignored. `host` is as in Url (IPv6 without brackets; brackets are tolerated).
bool no_proxy_matches(std::string_view no_proxy, std::string_view host, std::uint16_t port);

/// "CONNECT host:port HTTP/1.1\r\nHost: host:port\r\n" plus, with credentials,
/// "Proxy-Authorization: Basic base64(user:pass)\r\n", then "\r\n". IPv6 hosts are bracketed.
std::string build_connect_request(const Url& target, const ProxyConfig& proxy);

/// The proxy for logs, credentials redacted: "http://user:***@host:port", "http://host:port",
/// or "direct" for an empty config. The user name is percent-encoded so that it cannot forge
/// anything in a log line.
std::string describe_proxy(const ProxyConfig& proxy);

/// Checks a complete reply head to CONNECT: any 2xx opens the tunnel (RFC 9110 9.3.6). Otherwise
/// returns false with `error` = "proxy CONNECT failed: HTTP/1.0 407 Proxy Authentication
/// Required" (errc::proxy_failed).
bool connect_reply_ok(const protocol::HttpResponseHead& head, std::string& error);

}  // namespace tether::transport
