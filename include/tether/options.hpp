#pragma once

/// \file options.hpp
/// Everything a Client can be told, with the defaults of the CLI contract.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace tether {

/// TLS settings for `wss://` URLs. Verification (chain and host name) is on by default.
struct TlsOptions {
  /// PEM bundle trusted in addition to the system store. A file that is missing or unreadable
  /// makes Client::start() fail with `invalid_argument`.
  std::string ca_file;
  /// Client certificate chain and key (PEM) for mutual TLS.
  std::string client_cert_file;
  std::string client_key_file;
  /// Accept any server certificate. Use only for testing; the reason a certificate would have
  /// been rejected is reported as a warning.
  bool insecure = false;
};

struct ClientOptions {
  /// `ws://` or `wss://` URL: host name, IPv4 or bracketed IPv6, optional port, path and query.
  std::string url;
  /// Extra handshake headers, sent as given.
  std::vector<std::pair<std::string, std::string>> headers;
  /// Offered subprotocols; a server selecting one not offered fails the handshake.
  std::vector<std::string> subprotocols;
  /// Sent as the `Origin` header when not empty.
  std::string origin;
  TlsOptions tls;
  /// HTTP CONNECT proxy `http://[user:pass@]host[:port]`. Empty: taken from the environment
  /// (`http_proxy` for ws, `https_proxy` for wss, `no_proxy` honoured). `"direct"`: no proxy.
  std::string proxy;
  /// DNS + TCP + proxy + TLS + upgrade must finish within this; 0 = no limit.
  std::chrono::milliseconds connect_timeout{10000};
  /// How long a close waits for the server's close frame before closing the socket.
  std::chrono::milliseconds close_timeout{5000};
  /// Largest inbound message accepted (bytes); a larger one fails with `message_too_big` (1009).
  std::size_t max_message = 16u * 1024 * 1024;
  /// Follow an HTTP redirect (301, 302, 303, 307, 308 with a Location) answering the upgrade, up
  /// to `max_redirects` times. Off by default: a redirect is `handshake_rejected`.
  bool follow_redirects = false;
  int max_redirects = 5;
  /// Split outbound messages into frames of at most this many bytes; 0 = one frame each.
  std::size_t fragment_size = 0;
};

}  // namespace tether
