#pragma once

/// \file state.hpp
/// The states of a client's connection, why it moved, and the reconnect decision.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "tether/error.hpp"
#include "tether/export.hpp"

namespace tether {

/// The connection's state. The names are API: the CLI's `state` events and the docs use them.
enum class State {
  idle,            ///< Not started.
  connecting,      ///< An attempt is under way (DNS, TCP, proxy, TLS, upgrade).
  authenticating,  ///< Open, waiting for the auth response (with first-message auth).
  open,            ///< Ready: messages flow.
  waiting,         ///< A reconnect is scheduled.
  closing,         ///< The client's close handshake is under way.
  closed,          ///< Ended by the client's close, or by the server with a code that means stop.
  failed,          ///< Gave up: retries exhausted, rejected (TLS, auth, handshake), or no reconnect.
};

/// "idle", "connecting", ...
TETHER_API std::string_view to_string(State state) noexcept;

/// Why a connection ended or an attempt failed.
struct Cause {
  std::optional<errc> error;   ///< Set for failures (connect_refused, heartbeat_timeout, ...).
  std::string message;         ///< Detail for the error.
  std::uint16_t close_code = 0;  ///< The close code, when a connection that opened ended.
  /// The close reason that came with `close_code`.
  std::string close_reason;
  bool by_client = false;      ///< The client closed first.
  int http_status = 0;         ///< The upgrade's status for handshake_rejected.
  /// The server's Retry-After on a 408/429/5xx upgrade, when present.
  std::optional<std::chrono::milliseconds> retry_after;
};

/// What happens after a connection attempt failed or an open connection ended
/// (ReconnectOptions::should_reconnect, default_reconnect_decision).
enum class ReconnectDecision {
  reconnect,  ///< Schedule a retry with backoff.
  stop,       ///< End in `closed` (the server asked to stop).
  fail,       ///< End in `failed`.
};

/// tether's default policy (the table in docs/state-machine.md): user close never reconnects;
/// server close codes 1001, 1002, 1005, 1006, 1011-1014, 3000-3499, 4000-4499 (except 4001/4003)
/// reconnect; 1000, 1003, 1007-1010, 3500-3999, 4500-4999 stop; 4001/4003 fail (auth_rejected);
/// upgrade status 401/403 fail (auth_rejected), 3xx and 4xx other than 408/429 fail, 408/429/5xx
/// and other statuses reconnect; tls_verify_failed, invalid_url, invalid_argument, auth_rejected
/// fail; other transport errors reconnect.
TETHER_API ReconnectDecision default_reconnect_decision(const Cause& cause) noexcept;

}  // namespace tether
