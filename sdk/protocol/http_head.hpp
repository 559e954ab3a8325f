#pragma once

// An incremental parser for an HTTP/1.x response head (status line + headers up to the blank
// line), bounded in size. Shared by the WebSocket upgrade and the HTTP CONNECT proxy reply.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tether::protocol {

struct Header {
  std::string name;
  std::string value;
};

/// Case-insensitive ASCII comparison (header names, tokens).
bool iequals(std::string_view a, std::string_view b) noexcept;

/// True when the comma-separated header value `list` contains `token` (case-insensitive).
/// Elements are trimmed of optional whitespace (SP, HTAB); empty elements are ignored.
bool header_has_token(std::string_view list, std::string_view token) noexcept;

/// True when `s` is a non-empty RFC 7230 token (header names, subprotocols).
bool is_http_token(std::string_view s) noexcept;

/// `bytes` made safe for a one-line log or error message: printable ASCII as is, backslash
/// doubled, \r \n \t escaped, other bytes as \xNN; cut after `max_bytes` input bytes with "...".
std::string escape_printable(std::string_view bytes, std::size_t max_bytes = 64);

/// Accepts "\r\n" line endings and tolerates a bare "\n". Rejects, as `invalid`: a first line
/// that is not `HTTP/1.x SP 3DIGIT [SP reason]` (as soon as the first bytes cannot start one, so a
/// non-HTTP peer fails without waiting for the size limit), header lines without ':' or with a
/// name that is not a token, control characters other than HTAB (a bare CR included), obsolete
/// line folding, and a head that would be longer than `max_bytes` (terminator included).
/// Each byte is examined once, whatever the chunking, and only the current line is buffered.
class HttpResponseHead {
 public:
  enum class Result {
    need_more,  ///< The head is not complete yet; feed more bytes.
    complete,   ///< The head parsed; `consumed` tells where the body or next protocol starts.
    invalid,    ///< Not an HTTP response, or over the size limit; see error().
  };

  explicit HttpResponseHead(std::size_t max_bytes = 16 * 1024) : max_bytes_(max_bytes) {}

  /// Feeds bytes. `*consumed` is set to how many of these bytes belong to the head; the rest
  /// (on `complete`) belong to whatever follows. Feeding after `complete` or `invalid` consumes
  /// nothing and repeats the result.
  Result feed(const std::uint8_t* data, std::size_t n, std::size_t* consumed);

  int status() const noexcept { return status_; }
  const std::string& reason() const noexcept { return reason_; }
  const std::string& version() const noexcept { return version_; }
  const std::vector<Header>& headers() const noexcept { return headers_; }
  /// The first header named `name` (case-insensitive), if any.
  std::optional<std::string_view> header(std::string_view name) const noexcept;
  /// The parse error when feed() returned `invalid`.
  const std::string& error() const noexcept { return error_; }
  /// The first status line ("HTTP/1.1 101 Switching Protocols").
  std::string status_line() const { return status_line_; }

 private:
  Result fail(std::string message);
  bool status_prefix_ok() const noexcept;
  bool parse_status_line();
  bool parse_header_line();

  std::size_t max_bytes_;
  std::string line_;         // The current line, not yet terminated.
  std::size_t total_ = 0;    // Bytes of the head examined so far.
  std::size_t lines_ = 0;    // Complete lines so far (the status line is line 0).
  std::string first_bytes_;  // The start of the response, quoted when it is not HTTP.
  std::string status_line_;
  Result result_ = Result::need_more;
  int status_ = 0;
  std::string version_;
  std::string reason_;
  std::vector<Header> headers_;
  std::string error_;
};

}  // namespace tether::protocol
