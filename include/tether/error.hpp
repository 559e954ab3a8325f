#pragma once

/// \file error.hpp
/// tether's error names. Every failure tether reports carries one of these codes; the names are
/// part of the API (the CLI's event log and the docs use them verbatim) and never change meaning.

#include <string_view>
#include <system_error>

#include "tether/export.hpp"

namespace tether {

/// Stable error codes. `to_string(errc)` gives the snake_case name used in events and docs.
enum class errc {
  invalid_url = 1,       ///< The URL cannot be used (scheme, host, port).
  dns_failed,            ///< The host name does not resolve.
  connect_refused,       ///< TCP refused or reset during connect.
  connect_timeout,       ///< DNS + TCP + proxy + TLS + upgrade not done within the connect timeout.
  tls_verify_failed,     ///< The server certificate was rejected; the message names the reason.
  tls_handshake_failed,  ///< TLS failed for another reason (protocol, a plain server on wss).
  proxy_failed,          ///< The HTTP proxy refused or broke the CONNECT.
  handshake_rejected,    ///< The server answered the upgrade with a status other than 101.
  handshake_failed,      ///< A 101 that is invalid, a non-HTTP reply, or headers over the limit.
  protocol_error,        ///< The peer broke RFC 6455 framing; the client closes with 1002.
  invalid_utf8,          ///< Invalid UTF-8 in a text message or close reason; closes with 1007.
  message_too_big,       ///< An inbound message over the size limit; closes with 1009.
  heartbeat_timeout,     ///< No frame arrived within the pong timeout after a ping.
  connection_lost,       ///< The connection ended without a close frame.
  auth_rejected,         ///< Auth error response, close 4001/4003, or HTTP 401/403.
  auth_timeout,          ///< No auth response within the auth timeout.
  queue_full,            ///< The outbound queue refused a message (overflow policy `reject`).
  retries_exhausted,     ///< The retry limit of one outage was reached.
  decode_error,          ///< An inbound message could not be decoded by the message codec.
  subscribe_rejected,    ///< A subscribe request got an error response.
  invalid_request,       ///< A request could not be built from the caller's input.
  timeout,               ///< A request got no response within its timeout.
  cancelled,             ///< A request was cancelled by the caller.
  encode_error,          ///< A message or request could not be encoded.
  closed,                ///< The operation needs a client that has not been closed.
  invalid_argument,      ///< A caller passed an invalid option or argument.
};

/// The stable snake_case name of `code` ("tls_verify_failed"), or "unknown".
TETHER_API std::string_view to_string(errc code) noexcept;

/// Looks a name up; returns false when `name` is not an error name.
TETHER_API bool errc_from_string(std::string_view name, errc& out) noexcept;

/// The category of tether's error codes (name "tether").
TETHER_API const std::error_category& error_category() noexcept;

/// Makes `std::error_code` from `errc` (found by ADL).
inline std::error_code make_error_code(errc code) noexcept {
  return {static_cast<int>(code), error_category()};
}

}  // namespace tether

namespace std {
template <>
struct is_error_code_enum<tether::errc> : true_type {};
}  // namespace std
