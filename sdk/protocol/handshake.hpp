#pragma once

// The client side of the RFC 6455 opening handshake: the request and the response check.

#include <cstddef>
#include <cstdint>
#include <string>
#include <system_error>
#include <vector>

#include "protocol/http_head.hpp"
#include "tether/error.hpp"

namespace tether::protocol {

struct HandshakeRequest {
  std::string host;  ///< Host name or IP literal (IPv6 without brackets).
  std::uint16_t port = 80;
  bool secure = false;                    ///< wss: the default port is 443 instead of 80.
  std::string target = "/";               ///< Path and query, starting with '/'.
  std::vector<Header> headers;            ///< Extra headers, sent as given.
  std::vector<std::string> subprotocols;  ///< Offered in Sec-WebSocket-Protocol, in order.
  std::string origin;                     ///< Sent as Origin when not empty.
};

/// The Host header value: host, bracketed when IPv6, with ":port" when not the default.
std::string host_header_value(const std::string& host, std::uint16_t port, bool secure);

/// Checks that `request` cannot inject anything into the request: header names and subprotocols
/// must be tokens; header values, origin and host must hold no control character but HTAB (never
/// CR, LF or NUL); target and host no space; extra headers must not name a header the handshake
/// sets itself (Host, Upgrade, Connection, Sec-WebSocket-*, and Origin when `origin` is set).
/// Returns errc::invalid_argument and, when `message` is given, a one-line reason; an empty
/// error_code when the request is safe. The URL itself (scheme, host syntax, port) is validated
/// elsewhere.
std::error_code validate_handshake_request(const HandshakeRequest& request,
                                           std::string* message = nullptr);

/// The complete GET request (ending with the blank line) for `key` (see make_handshake_key); an
/// empty target is sent as "/". Returns an empty string when validate_handshake_request refuses
/// `request`: unsafe input is refused rather than stripped, so a header is never sent with a
/// silently altered value.
std::string build_handshake_request(const HandshakeRequest& request, const std::string& key);

/// Checks the server's answer to the upgrade request, fed incrementally.
///
/// A 101 is accepted only from HTTP/1.1 (Upgrade does not exist in HTTP/1.0) with
/// `Upgrade: websocket` (case-insensitive; every Upgrade field), the token "upgrade" in
/// Connection, exactly one Sec-WebSocket-Accept equal to compute_accept_key(key), no non-empty
/// Sec-WebSocket-Extensions (none are offered) and at most one Sec-WebSocket-Protocol naming an
/// offered subprotocol. A server may select no subprotocol even when some were offered (RFC 6455
/// 4.2.2): that is accepted with subprotocol() == "", and an empty Sec-WebSocket-Protocol counts as
/// none. Any other status, 1xx included, is `rejected` once its head is complete.
/// After a result, feed() consumes nothing and returns the same result.
class HandshakeResponse {
 public:
  enum class Result {
    need_more,  ///< Keep feeding.
    accepted,   ///< A valid 101: the connection is open; bytes after `consumed` are frames.
    rejected,   ///< A complete non-101 response: status(), headers() tell why (handshake_rejected).
    failed,     ///< Not a valid upgrade (handshake_failed); error_message() tells why.
  };

  HandshakeResponse(std::string key, std::vector<std::string> offered_subprotocols,
                    std::size_t max_header_bytes = 16 * 1024);

  Result feed(const std::uint8_t* data, std::size_t n, std::size_t* consumed);

  /// Call when the connection closed before a result: turns need_more into failed.
  Result on_eof();

  int status() const noexcept { return head_.status(); }
  const HttpResponseHead& head() const noexcept { return head_; }
  /// The subprotocol the server selected ("" when none).
  const std::string& subprotocol() const noexcept { return subprotocol_; }
  /// handshake_rejected or handshake_failed once the result is rejected or failed.
  errc error() const noexcept { return error_; }
  /// A one-line explanation: "HTTP status 403 Forbidden (expected 101)", "wrong
  /// Sec-WebSocket-Accept", ...
  const std::string& error_message() const noexcept { return message_; }

 private:
  Result fail(errc code, std::string message);
  Result check_upgrade();

  std::string expected_accept_;
  std::vector<std::string> offered_;
  HttpResponseHead head_;
  Result result_ = Result::need_more;
  std::string subprotocol_;
  errc error_ = errc::handshake_failed;
  std::string message_;
};

}  // namespace tether::protocol
