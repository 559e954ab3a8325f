#include "protocol/handshake.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "protocol/handshake_key.hpp"
#include "protocol/random.hpp"

namespace tether::protocol {
namespace {

using Result = HandshakeResponse::Result;

// RFC 6455 1.3.
const std::string kKey = "dGhlIHNhbXBsZSBub25jZQ==";
const std::string kAccept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

const std::uint8_t* bytes(const std::string& s) {
  return reinterpret_cast<const std::uint8_t*>(s.data());
}

// Chunk sizes for `n` bytes: whole (seed 0), byte by byte (seed 1), or random from the seed.
std::vector<std::size_t> chunk_sizes(std::size_t n, std::uint32_t seed) {
  if (seed == 0) return {n};
  if (seed == 1) return std::vector<std::size_t>(n, 1);
  std::mt19937 rng(seed);
  const std::size_t cap = seed % 2 == 0 ? 5 : n + 1;
  std::vector<std::size_t> out;
  for (std::size_t done = 0; done < n;) {
    const std::size_t size = std::min<std::size_t>(n - done, 1 + rng() % cap);
    out.push_back(size);
    done += size;
  }
  return out;
}

constexpr std::uint32_t kChunkings = 24;  // Seeds 0 .. kChunkings - 1.

struct Outcome {
  Result result = Result::need_more;
  std::size_t end = 0;  // Absolute offset of the first byte after the response head.
  errc error = errc::handshake_failed;
  std::string message;
  std::string subprotocol;
  int status = 0;
};

Outcome run(HandshakeResponse& response, const std::string& input, std::uint32_t seed) {
  Outcome out;
  std::size_t offset = 0;
  for (std::size_t size : chunk_sizes(input.size(), seed)) {
    std::size_t consumed = 777;
    out.result = response.feed(bytes(input) + offset, size, &consumed);
    EXPECT_LE(consumed, size);
    if (out.result != Result::need_more) {
      out.end = offset + consumed;
      break;
    }
    offset += size;
    out.end = offset;
  }
  out.error = response.error();
  out.message = response.error_message();
  out.subprotocol = response.subprotocol();
  out.status = response.status();
  if (out.result != Result::need_more) {
    // A result sticks: more bytes are not consumed, and EOF changes nothing.
    std::size_t consumed = 777;
    EXPECT_EQ(response.feed(bytes(input), input.size(), &consumed), out.result);
    EXPECT_EQ(consumed, 0u);
    EXPECT_EQ(response.on_eof(), out.result);
    EXPECT_EQ(response.error_message(), out.message);
  }
  return out;
}

Outcome run_once(const std::string& input, std::uint32_t seed,
                 std::vector<std::string> offered = {}, std::size_t max = 16 * 1024) {
  HandshakeResponse response(kKey, std::move(offered), max);
  return run(response, input, seed);
}

std::string response_with(const std::string& headers) {
  return "HTTP/1.1 101 Switching Protocols\r\n" + headers + "\r\n";
}

const std::string kGood = response_with(
    "Upgrade: websocket\r\n"
    "Connection: Upgrade\r\n"
    "Sec-WebSocket-Accept: " +
    kAccept + "\r\n");

TEST(HandshakeKey, RfcSample) {
  EXPECT_EQ(compute_accept_key(kKey), kAccept);
}

TEST(HandshakeResponse, AcceptsTheRfcSample) {
  for (std::uint32_t seed = 0; seed < kChunkings; ++seed) {
    SCOPED_TRACE(seed);
    HandshakeResponse response(kKey, {});
    const Outcome out = run(response, kGood, seed);
    ASSERT_EQ(out.result, Result::accepted) << out.message;
    EXPECT_EQ(out.end, kGood.size());
    EXPECT_EQ(out.status, 101);
    EXPECT_EQ(out.subprotocol, "");
    EXPECT_EQ(out.message, "");
    EXPECT_EQ(response.head().header("sec-websocket-accept"), kAccept);
  }
}

TEST(HandshakeResponse, AcceptsMixedCaseAndTokenLists) {
  const std::vector<std::string> responses = {
      response_with("upgrade: WebSocket\r\nconnection: keep-alive, Upgrade\r\n"
                    "sec-websocket-accept: " +
                    kAccept + "\r\n"),
      response_with("UPGRADE: WEBSOCKET\r\nCONNECTION: UPGRADE\r\nSEC-WEBSOCKET-ACCEPT:" + kAccept +
                    "  \r\n"),
      response_with("Server: test\r\nConnection: keep-alive\r\nConnection: upgrade\r\n"
                    "Upgrade: websocket\r\nSec-WebSocket-Accept: " +
                    kAccept + "\r\nSec-WebSocket-Extensions:\r\nDate: today\r\n"),
      "HTTP/1.1 101 Switching Protocols\nUpgrade: websocket\nConnection: Upgrade\n"
      "Sec-WebSocket-Accept: " +
          kAccept + "\n\n",
  };
  for (const std::string& input : responses) {
    for (std::uint32_t seed = 0; seed < kChunkings; ++seed) {
      const Outcome out = run_once(input, seed);
      ASSERT_EQ(out.result, Result::accepted) << out.message << "\n" << input;
      EXPECT_EQ(out.end, input.size());
    }
  }
}

TEST(HandshakeResponse, KeepsTheBytesAfterTheHead) {
  const std::string frame = "\x81\x05hello\x89\x00";
  const std::string input = kGood + frame;
  {
    HandshakeResponse response(kKey, {});
    std::size_t consumed = 0;
    ASSERT_EQ(response.feed(bytes(input), input.size(), &consumed), Result::accepted);
    EXPECT_EQ(input.substr(consumed), frame);
  }
  for (std::uint32_t seed = 0; seed < kChunkings; ++seed) {
    const Outcome out = run_once(input, seed);
    ASSERT_EQ(out.result, Result::accepted);
    EXPECT_EQ(out.end, kGood.size()) << seed;
  }
}

TEST(HandshakeResponse, FailsInvalidUpgrades) {
  const std::string upgrade = "Upgrade: websocket\r\n";
  const std::string connection = "Connection: Upgrade\r\n";
  const std::string accept = "Sec-WebSocket-Accept: " + kAccept + "\r\n";
  struct Case {
    std::string headers;
    std::string message;
  };
  const std::vector<Case> cases = {
      {connection + accept, "missing Upgrade: websocket"},
      {"Upgrade: h2c\r\n" + connection + accept, "unexpected Upgrade: h2c (expected websocket)"},
      {"Upgrade: websocket, h2c\r\n" + connection + accept,
       "unexpected Upgrade: websocket, h2c (expected websocket)"},
      {upgrade + "Upgrade: h2c\r\n" + connection + accept,
       "unexpected Upgrade: h2c (expected websocket)"},
      {upgrade + accept, "missing Connection: Upgrade"},
      {upgrade + "Connection: keep-alive\r\n" + accept, "missing Connection: Upgrade"},
      {upgrade + "Connection: upgrades\r\n" + accept, "missing Connection: Upgrade"},
      {upgrade + connection, "missing Sec-WebSocket-Accept"},
      {upgrade + connection + "Sec-WebSocket-Accept: \r\n", "wrong Sec-WebSocket-Accept"},
      {upgrade + connection + "Sec-WebSocket-Accept: " + compute_accept_key("other") + "\r\n",
       "wrong Sec-WebSocket-Accept"},
      {upgrade + connection + "Sec-WebSocket-Accept: S3PPLMBITXAQ9KYGZZHZRBK+XOO=\r\n",
       "wrong Sec-WebSocket-Accept"},
      {upgrade + connection + "Sec-WebSocket-Accept: " + kKey + "\r\n",
       "wrong Sec-WebSocket-Accept"},
      {upgrade + connection + accept + accept, "wrong Sec-WebSocket-Accept"},
      {upgrade + connection + accept + "Sec-WebSocket-Extensions: permessage-deflate\r\n",
       "server selected extension permessage-deflate that was not offered"},
      {upgrade + connection + accept + "Sec-WebSocket-Protocol: chat\r\n",
       "server selected subprotocol chat that was not offered"},
  };
  for (const Case& c : cases) {
    const std::string input = response_with(c.headers);
    for (std::uint32_t seed = 0; seed < kChunkings; ++seed) {
      const Outcome out = run_once(input, seed);
      ASSERT_EQ(out.result, Result::failed) << c.message;
      EXPECT_EQ(out.error, errc::handshake_failed);
      EXPECT_EQ(out.message, c.message);
      EXPECT_EQ(out.end, input.size());
      EXPECT_EQ(out.subprotocol, "");
    }
  }
}

TEST(HandshakeResponse, Subprotocols) {
  const std::string base =
      "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + kAccept + "\r\n";
  const std::vector<std::string> offered = {"chat", "superchat"};
  struct Case {
    std::string headers;
    Result result;
    std::string subprotocol;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"Sec-WebSocket-Protocol: superchat\r\n", Result::accepted, "superchat", ""},
      {"sec-websocket-protocol:  chat \r\n", Result::accepted, "chat", ""},
      // The server may select none of the offered subprotocols (RFC 6455 4.2.2).
      {"", Result::accepted, "", ""},
      {"Sec-WebSocket-Protocol:\r\n", Result::accepted, "", ""},
      {"Sec-WebSocket-Protocol: Chat\r\n", Result::failed, "",
       "server selected subprotocol Chat that was not offered"},
      {"Sec-WebSocket-Protocol: mqtt\r\n", Result::failed, "",
       "server selected subprotocol mqtt that was not offered"},
      {"Sec-WebSocket-Protocol: chat, superchat\r\n", Result::failed, "",
       "server selected subprotocol chat, superchat that was not offered"},
      {"Sec-WebSocket-Protocol: chat\r\nSec-WebSocket-Protocol: chat\r\n", Result::failed, "",
       "server selected more than one subprotocol"},
  };
  for (const Case& c : cases) {
    const std::string input = response_with(base + c.headers);
    for (std::uint32_t seed = 0; seed < kChunkings; ++seed) {
      const Outcome out = run_once(input, seed, offered);
      ASSERT_EQ(out.result, c.result) << c.headers << out.message;
      EXPECT_EQ(out.subprotocol, c.subprotocol);
      EXPECT_EQ(out.message, c.message);
    }
  }
}

TEST(HandshakeResponse, RejectsOtherStatuses) {
  struct Case {
    std::string head;
    int status;
    std::string message;
    std::string header;
    std::string value;
  };
  const std::vector<Case> cases = {
      {"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n", 200, "HTTP status 200 OK (expected 101)",
       "content-length", "2"},
      {"HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\n\r\n", 403,
       "HTTP status 403 Forbidden (expected 101)", "Content-Type", "text/plain"},
      {"HTTP/1.1 404 Not Found\r\n\r\n", 404, "HTTP status 404 Not Found (expected 101)", "", ""},
      {"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 120\r\n\r\n", 503,
       "HTTP status 503 Service Unavailable (expected 101)", "retry-after", "120"},
      {"HTTP/1.1 301 Moved Permanently\r\nLocation: wss://other.example/ws\r\n\r\n", 301,
       "HTTP status 301 Moved Permanently (expected 101)", "Location", "wss://other.example/ws"},
      {"HTTP/1.1 426\r\nSec-WebSocket-Version: 13\r\n\r\n", 426, "HTTP status 426 (expected 101)",
       "Sec-WebSocket-Version", "13"},
      {"HTTP/1.0 403 Forbidden\r\n\r\n", 403, "HTTP status 403 Forbidden (expected 101)", "", ""},
      // A 1xx other than 101 is not an upgrade either.
      {"HTTP/1.1 100 Continue\r\n\r\n", 100, "HTTP status 100 Continue (expected 101)", "", ""},
      // A reason phrase is quoted safely.
      {"HTTP/1.1 400 Bad\xff Request\r\n\r\n", 400,
       "HTTP status 400 Bad\\xff Request (expected 101)", "", ""},
  };
  for (const Case& c : cases) {
    const std::string input = c.head + "<html>body</html>";
    for (std::uint32_t seed = 0; seed < kChunkings; ++seed) {
      HandshakeResponse response(kKey, {});
      const Outcome out = run(response, input, seed);
      ASSERT_EQ(out.result, Result::rejected) << c.message;
      EXPECT_EQ(out.error, errc::handshake_rejected);
      EXPECT_EQ(out.status, c.status);
      EXPECT_EQ(out.message, c.message);
      EXPECT_EQ(out.end, c.head.size());
      if (!c.header.empty()) {
        EXPECT_EQ(response.head().header(c.header), c.value);
      }
    }
  }
}

TEST(HandshakeResponse, AcceptsOnlyHttp11Upgrades) {
  const std::string input =
      "HTTP/1.0 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Accept: " +
      kAccept + "\r\n\r\n";
  for (std::uint32_t seed = 0; seed < kChunkings; ++seed) {
    const Outcome out = run_once(input, seed);
    ASSERT_EQ(out.result, Result::failed);
    EXPECT_EQ(out.error, errc::handshake_failed);
    EXPECT_EQ(out.message, "HTTP/1.0 101 is not a valid upgrade (expected HTTP/1.1)");
  }
}

TEST(HandshakeResponse, FailsOnInvalidHttp) {
  struct Case {
    std::string input;
    std::string message;  // For the whole input; other chunkings share its start.
  };
  const std::vector<Case> cases = {
      {"garbage\r\n\r\n", "not an HTTP response: garbage\\r\\n"},
      {std::string("\x15\x03\x01\x00\x02\x02\x28", 7),
       "not an HTTP response: \\x15\\x03\\x01\\x00\\x02\\x02("},
      {"SSH-2.0-OpenSSH_9.2p1\r\n", "not an HTTP response: SSH-2.0-OpenSSH_9.2p1\\r\\n"},
      {"HTTP/1.1 101 Switching Protocols\r\nUpgrade websocket\r\n\r\n",
       "invalid header line: Upgrade websocket"},
      {"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n folded\r\n\r\n",
       "obsolete line folding in response headers:  folded"},
  };
  for (const Case& c : cases) {
    for (std::uint32_t seed = 0; seed < kChunkings; ++seed) {
      const Outcome out = run_once(c.input, seed);
      ASSERT_EQ(out.result, Result::failed) << c.message;
      EXPECT_EQ(out.error, errc::handshake_failed);
      if (seed == 0) {
        EXPECT_EQ(out.message, c.message);
      } else {
        EXPECT_EQ(c.message.rfind(out.message.substr(0, 23), 0), 0u) << out.message;
      }
    }
  }
}

TEST(HandshakeResponse, FailsOnHeadersOverTheLimit) {
  std::string input = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n";
  while (input.size() <= 16 * 1024) input += "X-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n";
  input += "Connection: Upgrade\r\nSec-WebSocket-Accept: " + kAccept + "\r\n\r\n";
  for (std::uint32_t seed = 0; seed < 4; ++seed) {
    const Outcome out = run_once(input, seed);
    ASSERT_EQ(out.result, Result::failed);
    EXPECT_EQ(out.error, errc::handshake_failed);
    EXPECT_EQ(out.message, "response headers exceed 16384 bytes");
    EXPECT_EQ(out.end, 16384u);
  }
  // The limit is configurable, and a response that fits it passes.
  EXPECT_EQ(run_once(kGood, 0, {}, kGood.size()).result, Result::accepted);
  const Outcome small = run_once(kGood, 1, {}, kGood.size() - 1);
  EXPECT_EQ(small.result, Result::failed);
  EXPECT_EQ(small.message,
            "response headers exceed " + std::to_string(kGood.size() - 1) + " bytes");
}

TEST(HandshakeResponse, TruncatedResponseFailsOnEof) {
  const std::string rejected = "HTTP/1.1 403 Forbidden\r\nX: y\r\n\r\n";
  for (const std::string* full : {&kGood, &rejected}) {
    for (std::size_t len = 0; len < full->size(); ++len) {
      const std::string prefix = full->substr(0, len);
      for (std::uint32_t seed : {0u, 1u, 7u}) {
        HandshakeResponse response(kKey, {});
        const Outcome out = run(response, prefix, seed);
        ASSERT_EQ(out.result, Result::need_more) << len;
        EXPECT_EQ(out.end, len);
        ASSERT_EQ(response.on_eof(), Result::failed);
        EXPECT_EQ(response.error(), errc::handshake_failed);
        EXPECT_EQ(response.error_message(),
                  "connection closed before the handshake response was complete");
        // The result sticks.
        std::size_t consumed = 9;
        EXPECT_EQ(response.feed(bytes(*full), full->size(), &consumed), Result::failed);
        EXPECT_EQ(consumed, 0u);
        EXPECT_EQ(response.on_eof(), Result::failed);
      }
    }
  }
}

TEST(HandshakeResponse, EofAfterAResultChangesNothing) {
  HandshakeResponse response(kKey, {});
  std::size_t consumed = 0;
  ASSERT_EQ(response.feed(bytes(kGood), kGood.size(), &consumed), Result::accepted);
  EXPECT_EQ(response.on_eof(), Result::accepted);
  EXPECT_EQ(response.error_message(), "");
}

TEST(HostHeader, DefaultPortsAreOmitted) {
  EXPECT_EQ(host_header_value("example.com", 80, false), "example.com");
  EXPECT_EQ(host_header_value("example.com", 443, true), "example.com");
  EXPECT_EQ(host_header_value("example.com", 443, false), "example.com:443");
  EXPECT_EQ(host_header_value("example.com", 80, true), "example.com:80");
  EXPECT_EQ(host_header_value("example.com", 8080, false), "example.com:8080");
  EXPECT_EQ(host_header_value("127.0.0.1", 9001, true), "127.0.0.1:9001");
}

TEST(HostHeader, Ipv6LiteralsAreBracketed) {
  EXPECT_EQ(host_header_value("::1", 80, false), "[::1]");
  EXPECT_EQ(host_header_value("::1", 8080, false), "[::1]:8080");
  EXPECT_EQ(host_header_value("2001:db8::7", 443, true), "[2001:db8::7]");
  EXPECT_EQ(host_header_value("2001:db8::7", 65535, true), "[2001:db8::7]:65535");
  // Already bracketed: not bracketed twice.
  EXPECT_EQ(host_header_value("[::1]", 81, false), "[::1]:81");
}

HandshakeRequest rfc_request() {
  HandshakeRequest request;
  request.host = "server.example.com";
  request.target = "/chat";
  request.subprotocols = {"chat", "superchat"};
  request.origin = "http://example.com";
  return request;
}

TEST(BuildHandshakeRequest, ByteExactSample) {
  HandshakeRequest request = rfc_request();
  request.headers = {{"Authorization", "Bearer abc.def"}, {"X-Trace", "a\tb"}};
  EXPECT_EQ(build_handshake_request(request, kKey),
            "GET /chat HTTP/1.1\r\n"
            "Host: server.example.com\r\n"
            "Upgrade: websocket\r\n"
            "Connection: Upgrade\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            "Sec-WebSocket-Version: 13\r\n"
            "Sec-WebSocket-Protocol: chat, superchat\r\n"
            "Origin: http://example.com\r\n"
            "Authorization: Bearer abc.def\r\n"
            "X-Trace: a\tb\r\n"
            "\r\n");
}

TEST(BuildHandshakeRequest, MinimalRequest) {
  HandshakeRequest request;
  request.host = "::1";
  request.port = 8443;
  request.secure = true;
  request.target = "/ws?token=a%20b&x=1";
  EXPECT_EQ(build_handshake_request(request, "AAAAAAAAAAAAAAAAAAAAAA=="),
            "GET /ws?token=a%20b&x=1 HTTP/1.1\r\n"
            "Host: [::1]:8443\r\n"
            "Upgrade: websocket\r\n"
            "Connection: Upgrade\r\n"
            "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==\r\n"
            "Sec-WebSocket-Version: 13\r\n"
            "\r\n");
  request.target = "";
  EXPECT_EQ(build_handshake_request(request, "k").rfind("GET / HTTP/1.1\r\n", 0), 0u);
}

TEST(BuildHandshakeRequest, RefusesInjection) {
  struct Case {
    HandshakeRequest request;
    std::string message;
  };
  std::vector<Case> cases;
  const auto add = [&](auto edit, std::string message) {
    HandshakeRequest request = rfc_request();
    edit(request);
    cases.push_back({std::move(request), std::move(message)});
  };
  add(
      [](HandshakeRequest& r) {
        r.headers = {{"X-A", "v\r\nX-Evil: 1"}};
      },
      "header X-A value contains a control character: v\\r\\nX-Evil: 1");
  add(
      [](HandshakeRequest& r) {
        r.headers = {{"X-A", "v\nX-Evil: 1"}};
      },
      "header X-A value contains a control character: v\\nX-Evil: 1");
  add(
      [](HandshakeRequest& r) {
        r.headers = {{"X-A", std::string("v\0w", 3)}};
      },
      "header X-A value contains a control character: v\\x00w");
  add(
      [](HandshakeRequest& r) {
        r.headers = {{"X-A\r\nX-Evil", "1"}};
      },
      "header name is not a valid token: \"X-A\\r\\nX-Evil\"");
  add(
      [](HandshakeRequest& r) {
        r.headers = {{"", "1"}};
      },
      "header name is not a valid token: \"\"");
  add(
      [](HandshakeRequest& r) {
        r.headers = {{"X A", "1"}};
      },
      "header name is not a valid token: \"X A\"");
  add(
      [](HandshakeRequest& r) {
        r.headers = {{"X-A:", "1"}};
      },
      "header name is not a valid token: \"X-A:\"");
  add([](HandshakeRequest& r) { r.origin = "http://a\r\nX-Evil: 1"; },
      "origin contains a control character: http://a\\r\\nX-Evil: 1");
  add([](HandshakeRequest& r) { r.target = "/a HTTP/1.1\r\nX-Evil: 1\r\n\r\nGET /"; },
      "target contains a space or control character: /a HTTP/1.1\\r\\nX-Evil: 1\\r\\n\\r\\nGET /");
  add([](HandshakeRequest& r) { r.target = "/a b"; },
      "target contains a space or control character: /a b");
  add([](HandshakeRequest& r) { r.host = "a.example\r\nX-Evil: 1"; },
      "host contains a space or control character: a.example\\r\\nX-Evil: 1");
  add(
      [](HandshakeRequest& r) {
        r.subprotocols = {"chat", "a\r\nb"};
      },
      "subprotocol is not a valid token: \"a\\r\\nb\"");
  add([](HandshakeRequest& r) { r.subprotocols = {"a, b"}; },
      "subprotocol is not a valid token: \"a, b\"");
  add([](HandshakeRequest& r) { r.subprotocols = {""}; }, "subprotocol is not a valid token: \"\"");
  add(
      [](HandshakeRequest& r) {
        r.headers = {{"host", "evil.example"}};
      },
      "header host is set by the WebSocket handshake");
  add(
      [](HandshakeRequest& r) {
        r.headers = {{"Sec-WebSocket-Extensions", "permessage-deflate"}};
      },
      "header Sec-WebSocket-Extensions is set by the WebSocket handshake");
  add(
      [](HandshakeRequest& r) {
        r.headers = {{"Connection", "close"}};
      },
      "header Connection is set by the WebSocket handshake");
  add(
      [](HandshakeRequest& r) {
        r.headers = {{"Upgrade", "h2c"}};
      },
      "header Upgrade is set by the WebSocket handshake");
  add(
      [](HandshakeRequest& r) {
        r.headers = {{"origin", "http://b"}};
      },
      "header origin is set by the WebSocket handshake");
  for (const Case& c : cases) {
    std::string message;
    EXPECT_EQ(validate_handshake_request(c.request, &message), errc::invalid_argument) << c.message;
    EXPECT_EQ(message, c.message);
    EXPECT_EQ(validate_handshake_request(c.request), errc::invalid_argument);
    EXPECT_EQ(build_handshake_request(c.request, kKey), "");
  }
}

TEST(BuildHandshakeRequest, AcceptsSafeInput) {
  HandshakeRequest request = rfc_request();
  std::string message = "untouched";
  EXPECT_FALSE(validate_handshake_request(request, &message));
  EXPECT_EQ(message, "untouched");
  // Origin may come through the extra headers when the origin field is not used.
  request.origin.clear();
  request.headers = {{"Origin", "https://app.example"},
                     {"Cookie", "a=1; b=\"x y\""},
                     {"X-Utf8", "caf\xc3\xa9"},
                     {"X-Empty", ""}};
  EXPECT_FALSE(validate_handshake_request(request));
  const std::string built = build_handshake_request(request, kKey);
  EXPECT_NE(built.find("\r\nOrigin: https://app.example\r\n"), std::string::npos);
  EXPECT_NE(built.find("\r\nX-Empty: \r\n\r\n"), std::string::npos);
}

// A fixed byte pattern, so the generated key is known.
class CountingSource final : public RandomSource {
 public:
  void fill(std::uint8_t* out, std::size_t n) override {
    for (std::size_t i = 0; i < n; ++i) out[i] = next_++;
  }

 private:
  std::uint8_t next_ = 0;
};

TEST(Handshake, RequestAndResponseRoundTrip) {
  CountingSource random;
  const std::string key = make_handshake_key(random);
  HandshakeRequest request = rfc_request();
  const std::string built = build_handshake_request(request, key);
  ASSERT_NE(built.find("Sec-WebSocket-Key: " + key + "\r\n"), std::string::npos);
  const std::string reply = response_with(
      "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Protocol: superchat\r\n"
      "Sec-WebSocket-Accept: " +
      compute_accept_key(key) + "\r\n");
  HandshakeResponse response(key, request.subprotocols);
  std::size_t consumed = 0;
  ASSERT_EQ(response.feed(bytes(reply), reply.size(), &consumed), Result::accepted)
      << response.error_message();
  EXPECT_EQ(response.subprotocol(), "superchat");
  // The same reply does not fit another key.
  HandshakeResponse other(kKey, request.subprotocols);
  EXPECT_EQ(other.feed(bytes(reply), reply.size(), &consumed), Result::failed);
  EXPECT_EQ(other.error_message(), "wrong Sec-WebSocket-Accept");
}

}  // namespace
}  // namespace tether::protocol
