#pragma once

/// \file options.hpp
/// Everything a Client can be told, with the defaults of the CLI contract.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "tether/state.hpp"

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

/// Reconnection with exponential backoff and jitter. For retry number `attempt` (1, 2, ... within
/// one outage): base = min(max, initial * multiplier^(attempt-1)), delay = base * (1 - jitter * U)
/// with U uniform in [0, 1). The cap applies before the jitter, so the jitter survives at the cap.
struct ReconnectOptions {
  bool enabled = true;
  std::chrono::milliseconds initial{500};
  double multiplier = 2.0;  ///< >= 1
  std::chrono::milliseconds max{30000};
  double jitter = 0.5;  ///< 0..1; 1 = full jitter in [0, base]
  int max_retries = -1;  ///< Retries per outage; -1 = forever.
  /// A connection must stay ready this long before the attempt counter resets.
  std::chrono::milliseconds min_uptime{5000};
  /// Overrides the default policy (see default_reconnect_decision); may call it.
  std::function<ReconnectDecision(const Cause&)> should_reconnect;
};

/// Dead-connection detection.
struct HeartbeatOptions {
  /// A ping goes out whenever nothing has been received for this long; 0 = off.
  std::chrono::milliseconds ping_interval{20000};
  /// No frame within this long after a ping: the connection is dead (`heartbeat_timeout`).
  std::chrono::milliseconds pong_timeout{10000};
  /// Application-level heartbeat for servers that ignore control frames: when not empty, this
  /// text message is sent instead of a protocol ping...
  std::string app_ping;
  /// ...and a text message equal to this one counts as its answer (and is not delivered).
  std::string app_pong;
};

/// Where callbacks run.
enum class CallbackMode {
  loop_thread,  ///< On the runtime's loop thread, as events happen (default).
  poll,         ///< Queued; run by Client::poll() on the caller's thread.
  executor,     ///< Each callback is handed to ClientOptions::executor as a task.
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

  ReconnectOptions reconnect;
  HeartbeatOptions heartbeat;

  CallbackMode callback_mode = CallbackMode::loop_thread;
  /// With CallbackMode::executor: receives each callback as a task to run (e.g. post it to a UI
  /// thread). Tasks must run in the order given.
  std::function<void(std::function<void()>)> executor;
};

}  // namespace tether
