#include "protocol/handshake.hpp"

#include <algorithm>
#include <utility>

#include "protocol/handshake_key.hpp"

namespace tether::protocol {
namespace {

// How much of a server-chosen value goes into an error message.
constexpr std::size_t kQuotedBytes = 64;

bool is_control(unsigned char c) noexcept {
  return c < 0x20 || c == 0x7f;
}

// Field values: HTAB is the only control character a header value may carry.
bool is_safe_value(std::string_view s) noexcept {
  return std::none_of(s.begin(), s.end(), [](char ch) {
    const auto c = static_cast<unsigned char>(ch);
    return c != '\t' && is_control(c);
  });
}

// Request-line and Host parts: no control character and no space either.
bool is_safe_word(std::string_view s) noexcept {
  return std::none_of(s.begin(), s.end(), [](char ch) {
    const auto c = static_cast<unsigned char>(ch);
    return c == ' ' || is_control(c);
  });
}

bool starts_with_icase(std::string_view s, std::string_view prefix) noexcept {
  return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

// Headers the handshake writes itself; a second copy from the caller would make the request
// ambiguous (duplicate Host is a 400) or offer what the client cannot honour (extensions).
bool is_handshake_header(std::string_view name, bool origin_set) noexcept {
  return iequals(name, "Host") || iequals(name, "Upgrade") || iequals(name, "Connection") ||
         starts_with_icase(name, "Sec-WebSocket-") || (origin_set && iequals(name, "Origin"));
}

std::error_code refuse(std::string* message, std::string why) {
  if (message != nullptr) *message = std::move(why);
  return make_error_code(errc::invalid_argument);
}

std::string quoted(std::string_view s) {
  return escape_printable(s, kQuotedBytes);
}

}  // namespace

std::string host_header_value(const std::string& host, std::uint16_t port, bool secure) {
  std::string value;
  const bool bracket = host.find(':') != std::string::npos && host.front() != '[';
  if (bracket) value += '[';
  value += host;
  if (bracket) value += ']';
  if (port != (secure ? 443 : 80)) {
    value += ':';
    value += std::to_string(port);
  }
  return value;
}

std::error_code validate_handshake_request(const HandshakeRequest& request, std::string* message) {
  if (!is_safe_word(request.host)) {
    return refuse(message, "host contains a space or control character: " + quoted(request.host));
  }
  if (!is_safe_word(request.target)) {
    return refuse(message,
                  "target contains a space or control character: " + quoted(request.target));
  }
  if (!is_safe_value(request.origin)) {
    return refuse(message, "origin contains a control character: " + quoted(request.origin));
  }
  for (const std::string& protocol : request.subprotocols) {
    if (!is_http_token(protocol)) {
      return refuse(message, "subprotocol is not a valid token: \"" + quoted(protocol) + "\"");
    }
  }
  for (const Header& header : request.headers) {
    if (!is_http_token(header.name)) {
      return refuse(message, "header name is not a valid token: \"" + quoted(header.name) + "\"");
    }
    if (is_handshake_header(header.name, !request.origin.empty())) {
      return refuse(message, "header " + header.name + " is set by the WebSocket handshake");
    }
    if (!is_safe_value(header.value)) {
      return refuse(message, "header " + header.name +
                                 " value contains a control character: " + quoted(header.value));
    }
  }
  return {};
}

std::string build_handshake_request(const HandshakeRequest& request, const std::string& key) {
  if (validate_handshake_request(request)) return {};
  std::string out;
  out.reserve(256);
  out += "GET ";
  out += request.target.empty() ? std::string("/") : request.target;
  out += " HTTP/1.1\r\nHost: ";
  out += host_header_value(request.host, request.port, request.secure);
  out += "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ";
  out += key;
  out += "\r\nSec-WebSocket-Version: 13\r\n";
  if (!request.subprotocols.empty()) {
    out += "Sec-WebSocket-Protocol: ";
    for (std::size_t i = 0; i < request.subprotocols.size(); ++i) {
      if (i > 0) out += ", ";
      out += request.subprotocols[i];
    }
    out += "\r\n";
  }
  if (!request.origin.empty()) {
    out += "Origin: ";
    out += request.origin;
    out += "\r\n";
  }
  for (const Header& header : request.headers) {
    out += header.name;
    out += ": ";
    out += header.value;
    out += "\r\n";
  }
  out += "\r\n";
  return out;
}

HandshakeResponse::HandshakeResponse(std::string key, std::vector<std::string> offered_subprotocols,
                                     std::size_t max_header_bytes)
    : expected_accept_(compute_accept_key(key)),
      offered_(std::move(offered_subprotocols)),
      head_(max_header_bytes) {}

HandshakeResponse::Result HandshakeResponse::fail(errc code, std::string message) {
  error_ = code;
  message_ = std::move(message);
  result_ = code == errc::handshake_rejected ? Result::rejected : Result::failed;
  return result_;
}

HandshakeResponse::Result HandshakeResponse::feed(const std::uint8_t* data, std::size_t n,
                                                  std::size_t* consumed) {
  std::size_t ignored = 0;
  if (consumed == nullptr) consumed = &ignored;
  *consumed = 0;
  if (result_ != Result::need_more) return result_;
  switch (head_.feed(data, n, consumed)) {
    case HttpResponseHead::Result::need_more:
      return result_;
    case HttpResponseHead::Result::invalid:
      return fail(errc::handshake_failed, head_.error());
    case HttpResponseHead::Result::complete:
      break;
  }
  return check_upgrade();
}

HandshakeResponse::Result HandshakeResponse::on_eof() {
  if (result_ != Result::need_more) return result_;
  return fail(errc::handshake_failed,
              "connection closed before the handshake response was complete");
}

HandshakeResponse::Result HandshakeResponse::check_upgrade() {
  if (head_.status() != 101) {
    std::string message = "HTTP status " + std::to_string(head_.status());
    if (!head_.reason().empty()) message += " " + quoted(head_.reason());
    return fail(errc::handshake_rejected, message + " (expected 101)");
  }
  if (head_.version() != "HTTP/1.1") {
    return fail(errc::handshake_failed,
                head_.version() + " 101 is not a valid upgrade (expected HTTP/1.1)");
  }

  bool has_upgrade = false;
  bool has_connection_upgrade = false;
  std::size_t accepts = 0;
  std::size_t protocols = 0;
  std::string_view accept;
  std::string_view protocol;
  for (const Header& header : head_.headers()) {
    if (iequals(header.name, "Upgrade")) {
      if (!iequals(header.value, "websocket")) {
        return fail(errc::handshake_failed,
                    "unexpected Upgrade: " + quoted(header.value) + " (expected websocket)");
      }
      has_upgrade = true;
    } else if (iequals(header.name, "Connection")) {
      has_connection_upgrade = has_connection_upgrade || header_has_token(header.value, "upgrade");
    } else if (iequals(header.name, "Sec-WebSocket-Accept")) {
      ++accepts;
      accept = header.value;
    } else if (iequals(header.name, "Sec-WebSocket-Extensions")) {
      if (!header.value.empty()) {
        return fail(errc::handshake_failed,
                    "server selected extension " + quoted(header.value) + " that was not offered");
      }
    } else if (iequals(header.name, "Sec-WebSocket-Protocol")) {
      // An empty field selects nothing; it only counts when it names something.
      if (!header.value.empty()) {
        ++protocols;
        protocol = header.value;
      }
    }
  }

  if (!has_upgrade) return fail(errc::handshake_failed, "missing Upgrade: websocket");
  if (!has_connection_upgrade) return fail(errc::handshake_failed, "missing Connection: Upgrade");
  if (accepts == 0) return fail(errc::handshake_failed, "missing Sec-WebSocket-Accept");
  // RFC 6455 11.3.3: the field must not appear more than once in a response.
  if (accepts > 1 || accept != expected_accept_) {
    return fail(errc::handshake_failed, "wrong Sec-WebSocket-Accept");
  }
  if (protocols > 1) {
    return fail(errc::handshake_failed, "server selected more than one subprotocol");
  }
  if (protocols == 1) {
    if (std::find(offered_.begin(), offered_.end(), protocol) == offered_.end()) {
      return fail(errc::handshake_failed,
                  "server selected subprotocol " + quoted(protocol) + " that was not offered");
    }
    subprotocol_ = std::string(protocol);
  }
  result_ = Result::accepted;
  return result_;
}

}  // namespace tether::protocol
