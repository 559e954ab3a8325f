// libFuzzer target for the upgrade response check and the HTTP response-head parser (built and
// run by scripts/fuzz.sh handshake).
//
// Input: a configuration byte (head size limit, offered subprotocols), a chunking byte, then the
// server's bytes. They are fed to HandshakeResponse and HttpResponseHead in one piece and in
// chunks; aborts on any inconsistency:
//   - the result, status, selected subprotocol, error and bytes consumed do not depend on the
//     chunking, and a result is final (later feeds consume nothing and repeat it);
//   - `accepted` only for an HTTP/1.1 101 carrying the right Sec-WebSocket-Accept, with a
//     subprotocol that was offered (or none); `rejected` only for a complete non-101 head;
//     `failed` with handshake_failed and a one-line message;
//   - a complete head stays within the size limit, its header names are tokens, its values carry
//     no control character, its status has three digits;
//   - escape_printable() gives printable ASCII only; a request built from fuzzed fields either is
//     refused or has exactly the expected lines (no header injection).

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_input.hpp"
#include "protocol/handshake.hpp"
#include "protocol/handshake_key.hpp"
#include "protocol/http_head.hpp"

namespace {

using tether::fuzz::check;
using tether::fuzz::fail;
using namespace tether::protocol;

constexpr const char* kKey = "dGhlIHNhbXBsZSBub25jZQ==";

struct ResponseOutcome {
  HandshakeResponse::Result result = HandshakeResponse::Result::need_more;
  std::size_t consumed = 0;  // total bytes consumed up to the result
  int status = 0;
  std::string subprotocol;
  tether::errc error = tether::errc::handshake_failed;
};

std::vector<std::size_t> chunk_sizes(std::uint8_t chunking) {
  if (chunking == 0) return {1};
  std::vector<std::size_t> out;
  for (int i = 0; i < 4; ++i) out.push_back(1 + ((chunking >> (2 * i)) & 3) * (1 + i * 5));
  return out;
}

ResponseOutcome run_response(std::string_view bytes, const std::vector<std::string>& offered,
                             std::size_t limit, const std::vector<std::size_t>& chunks) {
  HandshakeResponse response(kKey, offered, limit);
  const auto* p = reinterpret_cast<const std::uint8_t*>(bytes.data());
  ResponseOutcome out;
  std::size_t at = 0, index = 0;
  while (at < bytes.size() && out.result == HandshakeResponse::Result::need_more) {
    std::size_t n = bytes.size() - at;
    if (!chunks.empty()) n = std::min(n, chunks[index++ % chunks.size()]);
    std::size_t consumed = 12345;
    out.result = response.feed(p + at, n, &consumed);
    check(consumed <= n, "consumed more than fed");
    if (out.result == HandshakeResponse::Result::need_more) {
      check(consumed == n, "need_more without consuming everything");
    }
    out.consumed = at + consumed;
    at += n;
  }
  if (out.result == HandshakeResponse::Result::need_more) {
    out.result = response.on_eof();
    check(out.result == HandshakeResponse::Result::failed, "eof before a result is not failed");
  } else {
    std::size_t consumed = 99;
    const auto again = response.feed(p, bytes.size(), &consumed);
    check(again == out.result && consumed == 0, "a result is not final");
    check(response.on_eof() == out.result, "eof changed a result");
  }
  out.status = response.status();
  out.subprotocol = response.subprotocol();
  out.error = response.error();

  switch (out.result) {
    case HandshakeResponse::Result::accepted: {
      check(response.status() == 101, "accepted without 101");
      check(response.head().version() == "HTTP/1.1", "accepted from a version other than 1.1");
      const auto accept = response.head().header("Sec-WebSocket-Accept");
      check(accept && *accept == compute_accept_key(kKey), "accepted with a wrong accept key");
      if (!out.subprotocol.empty()) {
        bool was_offered = false;
        for (const auto& s : offered) was_offered = was_offered || s == out.subprotocol;
        check(was_offered, "accepted a subprotocol that was not offered", out.subprotocol);
      }
      break;
    }
    case HandshakeResponse::Result::rejected:
      check(response.status() != 101, "rejected a 101");
      check(response.error() == tether::errc::handshake_rejected, "rejected without its error");
      check(tether::fuzz::one_line(response.error_message()), "rejection message not one line",
            response.error_message());
      break;
    case HandshakeResponse::Result::failed:
      check(response.error() == tether::errc::handshake_failed, "failed without its error");
      check(tether::fuzz::one_line(response.error_message()), "failure message not one line",
            response.error_message());
      break;
    case HandshakeResponse::Result::need_more:
      fail("need_more after eof");
  }
  return out;
}

struct HeadOutcome {
  HttpResponseHead::Result result = HttpResponseHead::Result::need_more;
  std::size_t consumed = 0;
  int status = 0;
  std::size_t headers = 0;
};

HeadOutcome run_head(std::string_view bytes, std::size_t limit,
                     const std::vector<std::size_t>& chunks) {
  HttpResponseHead head(limit);
  const auto* p = reinterpret_cast<const std::uint8_t*>(bytes.data());
  HeadOutcome out;
  std::size_t at = 0, index = 0;
  while (at < bytes.size() && out.result == HttpResponseHead::Result::need_more) {
    std::size_t n = bytes.size() - at;
    if (!chunks.empty()) n = std::min(n, chunks[index++ % chunks.size()]);
    std::size_t consumed = 12345;
    out.result = head.feed(p + at, n, &consumed);
    check(consumed <= n, "head consumed more than fed");
    out.consumed = at + consumed;
    at += n;
  }
  if (out.result == HttpResponseHead::Result::complete) {
    check(out.consumed <= limit, "complete head over the size limit");
    check(head.status() >= 100 && head.status() <= 999, "status not 100-999");
    const std::string& v = head.version();
    check(v.size() == 8 && v.compare(0, 7, "HTTP/1.") == 0 && v[7] >= '0' && v[7] <= '9',
          "version other than HTTP/1.x", v);
    check(tether::fuzz::no_controls(head.reason()), "control character in the reason");
    for (const Header& h : head.headers()) {
      check(is_http_token(h.name), "header name not a token", h.name);
      check(tether::fuzz::no_controls(h.value), "control character in a header value", h.value);
      const auto found = head.header(h.name);
      check(found.has_value(), "header() misses a parsed header", h.name);
    }
    std::size_t consumed = 7;
    check(head.feed(p, bytes.size(), &consumed) == out.result && consumed == 0,
          "complete head not final");
  } else if (out.result == HttpResponseHead::Result::invalid) {
    check(tether::fuzz::one_line(head.error()), "head error not one line", head.error());
  }
  out.status = head.status();
  out.headers = head.headers().size();
  return out;
}

void check_escape(std::string_view bytes, std::size_t max) {
  const std::string e = escape_printable(bytes, max);
  for (const char c : e) {
    const auto u = static_cast<unsigned char>(c);
    check(u >= 0x20 && u < 0x7f, "escape_printable left a non-printable byte", e);
  }
  check(e.size() <= 4 * max + 3, "escape_printable longer than its bound", e);
}

void check_request(tether::fuzz::Input& in) {
  HandshakeRequest request;
  request.host = std::string(in.bytes(40));
  request.port = in.u16();
  request.secure = in.flag();
  request.target = "/" + std::string(in.bytes(40));
  request.origin = std::string(in.bytes(20));
  const int headers = in.byte() % 4;
  for (int i = 0; i < headers; ++i) {
    std::string name(in.bytes(20));
    std::string value(in.bytes(40));
    request.headers.push_back({std::move(name), std::move(value)});
  }
  const int protocols = in.byte() % 3;
  for (int i = 0; i < protocols; ++i) request.subprotocols.emplace_back(in.bytes(12));

  std::string message;
  const auto error = validate_handshake_request(request, &message);
  const std::string text = build_handshake_request(request, kKey);
  if (error) {
    check(text.empty(), "a refused request was built");
    check(tether::fuzz::one_line(message), "refusal message not one line", message);
    return;
  }
  check(!text.empty(), "a valid request was not built");
  // Count the lines: request line, Host, Upgrade, Connection, Key, Version, [Origin],
  // [Protocol], extra headers, then the blank line. Any CR or LF smuggled in would add lines.
  std::size_t lines = 0;
  for (std::size_t at = 0; (at = text.find("\r\n", at)) != std::string::npos; at += 2) ++lines;
  std::size_t expected = 6 + (request.origin.empty() ? 0 : 1) +
                         (request.subprotocols.empty() ? 0 : 1) + request.headers.size() + 1;
  check(lines == expected, "request has unexpected lines (injection?)", text);
  check(text.find('\n') == text.find("\r\n") + 1, "bare LF in the request", text);
  check(text.size() >= 4 && text.compare(text.size() - 4, 4, "\r\n\r\n") == 0,
        "request does not end with a blank line", text);
  check(text.find('\0') == std::string::npos, "NUL in the request", text);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  tether::fuzz::Input in(data, size);
  const std::uint8_t config = in.byte();
  static constexpr std::size_t kLimits[] = {16 * 1024, 64, 200, 1024};
  const std::size_t limit = kLimits[config & 3];
  std::vector<std::string> offered;
  if (config & 0x04) offered.emplace_back("chat");
  if (config & 0x08) offered.emplace_back("superchat");
  if (config & 0x10) offered.emplace_back("v2.json");
  const std::uint8_t chunking = in.byte();

  if (config & 0x80) {
    // The request builder.
    check_request(in);
    return 0;
  }
  const std::string_view bytes = in.rest();
  const auto chunks = chunk_sizes(chunking);

  const ResponseOutcome a = run_response(bytes, offered, limit, {});
  const ResponseOutcome b = run_response(bytes, offered, limit, chunks);
  check(a.result == b.result, "chunking changed the handshake result");
  check(a.status == b.status, "chunking changed the status");
  check(a.subprotocol == b.subprotocol, "chunking changed the subprotocol");
  check(a.error == b.error, "chunking changed the error");
  if (a.result == HandshakeResponse::Result::accepted ||
      a.result == HandshakeResponse::Result::rejected) {
    check(a.consumed == b.consumed, "chunking changed where the head ends");
  }

  const HeadOutcome h1 = run_head(bytes, limit, {});
  const HeadOutcome h2 = run_head(bytes, limit, chunks);
  check(h1.result == h2.result, "chunking changed the head result");
  if (h1.result == HttpResponseHead::Result::complete) {
    check(h1.consumed == h2.consumed && h1.status == h2.status && h1.headers == h2.headers,
          "chunking changed the head");
    check(a.result != HandshakeResponse::Result::need_more, "complete head but no result");
    check(a.status == h1.status, "handshake and head disagree on the status");
  }
  check_escape(bytes, 1 + (config & 0x3f));
  return 0;
}
