#include "protocol/http_head.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace tether::protocol {
namespace {

using Result = HttpResponseHead::Result;

const std::uint8_t* bytes(const std::string& s) {
  return reinterpret_cast<const std::uint8_t*>(s.data());
}

// A way to cut the input into chunks: whole, one byte at a time, or random sizes from a seed.
struct Chunking {
  std::string name;
  std::vector<std::size_t> sizes(std::size_t n) const {
    std::vector<std::size_t> out;
    if (name == "whole") {
      out.push_back(n);
    } else if (name == "bytewise") {
      out.assign(n, 1);
    } else {
      std::mt19937 rng(seed);
      // Alternate small and large chunks so both terminator splits and big jumps happen.
      const std::size_t cap = seed % 2 == 0 ? 7 : n + 1;
      for (std::size_t done = 0; done < n;) {
        const std::size_t size = std::min<std::size_t>(n - done, 1 + rng() % cap);
        out.push_back(size);
        done += size;
      }
    }
    return out;
  }
  std::uint32_t seed = 0;
};

std::vector<Chunking> all_chunkings() {
  std::vector<Chunking> out = {{"whole"}, {"bytewise"}};
  for (std::uint32_t seed = 1; seed <= 24; ++seed) out.push_back({"random", seed});
  return out;
}

struct Outcome {
  Result result = Result::need_more;
  std::size_t end = 0;  // Absolute offset of the first byte after the head.
  std::string error;
};

// Feeds `input` in the chunks of `chunking` until a result, checking that `consumed` never
// exceeds a chunk and that later feeds repeat the result.
Outcome run(HttpResponseHead& head, const std::string& input, const Chunking& chunking) {
  Outcome out;
  std::size_t offset = 0;
  for (std::size_t size : chunking.sizes(input.size())) {
    std::size_t consumed = 12345;
    out.result = head.feed(bytes(input) + offset, size, &consumed);
    EXPECT_LE(consumed, size);
    if (out.result != Result::need_more) {
      out.end = offset + consumed;
      out.error = head.error();
      std::size_t again = 12345;
      EXPECT_EQ(head.feed(bytes(input) + offset, size, &again), out.result);
      EXPECT_EQ(again, 0u);
      return out;
    }
    EXPECT_EQ(consumed, size);
    offset += size;
  }
  out.end = offset;
  return out;
}

Outcome run_once(const std::string& input, const Chunking& chunking, std::size_t max = 16384) {
  HttpResponseHead head(max);
  return run(head, input, chunking);
}

const std::string kUpgrade =
    "HTTP/1.1 101 Switching Protocols\r\n"
    "Upgrade: websocket\r\n"
    "Connection: Upgrade\r\n"
    "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
    "\r\n";

TEST(HttpHelpers, Iequals) {
  EXPECT_TRUE(iequals("Upgrade", "uPGRADE"));
  EXPECT_TRUE(iequals("", ""));
  EXPECT_FALSE(iequals("Upgrade", "Upgrades"));
  EXPECT_FALSE(iequals("a", "b"));
  // Only ASCII letters fold: '@' and '`' sit next to 'A' and 'a'.
  EXPECT_FALSE(iequals("@", "`"));
  EXPECT_FALSE(iequals("\xc3\xa9", "\xc3\x89"));
}

TEST(HttpHelpers, HeaderHasToken) {
  EXPECT_TRUE(header_has_token("Upgrade", "upgrade"));
  EXPECT_TRUE(header_has_token("keep-alive, Upgrade", "upgrade"));
  EXPECT_TRUE(header_has_token("keep-alive,Upgrade", "upgrade"));
  EXPECT_TRUE(header_has_token(" \tUPGRADE\t , close", "upgrade"));
  EXPECT_TRUE(header_has_token(",,upgrade,,", "upgrade"));
  EXPECT_FALSE(header_has_token("keep-alive", "upgrade"));
  EXPECT_FALSE(header_has_token("upgrades", "upgrade"));
  EXPECT_FALSE(header_has_token("not-upgrade", "upgrade"));
  EXPECT_FALSE(header_has_token("up grade", "upgrade"));
  EXPECT_FALSE(header_has_token("", "upgrade"));
  EXPECT_FALSE(header_has_token("a, , b", ""));
}

TEST(HttpHelpers, IsHttpToken) {
  EXPECT_TRUE(is_http_token("Sec-WebSocket-Key"));
  EXPECT_TRUE(is_http_token("x!#$%&'*+-.^_`|~9"));
  EXPECT_FALSE(is_http_token(""));
  EXPECT_FALSE(is_http_token("a b"));
  EXPECT_FALSE(is_http_token("a:b"));
  EXPECT_FALSE(is_http_token("a,b"));
  EXPECT_FALSE(is_http_token("a\r\nb"));
  EXPECT_FALSE(is_http_token(std::string("a\0b", 3)));
  EXPECT_FALSE(is_http_token("caf\xc3\xa9"));
}

TEST(HttpHelpers, EscapePrintable) {
  EXPECT_EQ(escape_printable("HTTP/1.1 200 OK\r\n"), "HTTP/1.1 200 OK\\r\\n");
  EXPECT_EQ(escape_printable(std::string("a\0\x7f\xff\t\\", 6)), "a\\x00\\x7f\\xff\\t\\\\");
  EXPECT_EQ(escape_printable("abcdef", 3), "abc...");
  EXPECT_EQ(escape_printable("abc", 3), "abc");
  EXPECT_EQ(escape_printable(""), "");
}

TEST(HttpResponseHead, ParsesUpgradeResponse) {
  for (const Chunking& chunking : all_chunkings()) {
    SCOPED_TRACE(chunking.name + " " + std::to_string(chunking.seed));
    HttpResponseHead head;
    const Outcome out = run(head, kUpgrade, chunking);
    ASSERT_EQ(out.result, Result::complete);
    EXPECT_EQ(out.end, kUpgrade.size());
    EXPECT_EQ(head.status(), 101);
    EXPECT_EQ(head.reason(), "Switching Protocols");
    EXPECT_EQ(head.version(), "HTTP/1.1");
    EXPECT_EQ(head.status_line(), "HTTP/1.1 101 Switching Protocols");
    ASSERT_EQ(head.headers().size(), 3u);
    EXPECT_EQ(head.headers()[0].name, "Upgrade");
    EXPECT_EQ(head.headers()[0].value, "websocket");
    EXPECT_EQ(head.headers()[2].name, "Sec-WebSocket-Accept");
    EXPECT_EQ(head.header("sec-websocket-accept"), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    EXPECT_EQ(head.header("CONNECTION"), "Upgrade");
    EXPECT_FALSE(head.header("Sec-WebSocket-Protocol").has_value());
    EXPECT_TRUE(head.error().empty());
  }
}

TEST(HttpResponseHead, ConsumedStopsAtTheEndOfTheHead) {
  const std::string frame = "\x81\x02hi";
  const std::string input = kUpgrade + frame;
  {
    HttpResponseHead head;
    std::size_t consumed = 0;
    ASSERT_EQ(head.feed(bytes(input), input.size(), &consumed), Result::complete);
    EXPECT_EQ(consumed, kUpgrade.size());
    EXPECT_EQ(input.substr(consumed), frame);
  }
  for (const Chunking& chunking : all_chunkings()) {
    SCOPED_TRACE(chunking.name + " " + std::to_string(chunking.seed));
    const Outcome out = run_once(input, chunking);
    ASSERT_EQ(out.result, Result::complete);
    EXPECT_EQ(out.end, kUpgrade.size());
  }
}

TEST(HttpResponseHead, TerminatorSplitAcrossChunks) {
  const std::string input = kUpgrade + "XYZ";
  const std::size_t end = kUpgrade.size();
  // Every way of cutting the input in two (and in three around the terminator) finds the end.
  for (std::size_t cut = 0; cut <= input.size(); ++cut) {
    HttpResponseHead head;
    std::size_t consumed = 0;
    Result r = head.feed(bytes(input), cut, &consumed);
    if (cut < end) {
      ASSERT_EQ(r, Result::need_more) << cut;
      ASSERT_EQ(consumed, cut);
      r = head.feed(bytes(input) + cut, input.size() - cut, &consumed);
      ASSERT_EQ(r, Result::complete) << cut;
      EXPECT_EQ(cut + consumed, end) << cut;
    } else {
      ASSERT_EQ(r, Result::complete) << cut;
      EXPECT_EQ(consumed, end) << cut;
    }
  }
  for (std::size_t a = end - 4; a < end; ++a) {
    for (std::size_t b = a + 1; b <= end; ++b) {
      HttpResponseHead head;
      std::size_t consumed = 0;
      ASSERT_EQ(head.feed(bytes(input), a, &consumed), Result::need_more);
      ASSERT_EQ(head.feed(bytes(input) + a, b - a, &consumed),
                b == end ? Result::complete : Result::need_more);
      if (b < end) {
        ASSERT_EQ(head.feed(bytes(input) + b, input.size() - b, &consumed), Result::complete);
        EXPECT_EQ(b + consumed, end);
      } else {
        EXPECT_EQ(consumed, b - a);
      }
    }
  }
}

TEST(HttpResponseHead, ToleratesBareLineFeeds) {
  const std::vector<std::string> inputs = {
      "HTTP/1.1 101 Switching Protocols\nUpgrade: websocket\nConnection: Upgrade\n\n",
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\nConnection: Upgrade\r\n\n",
      "HTTP/1.1 101 Switching Protocols\nUpgrade: websocket\r\nConnection: Upgrade\n\r\n",
  };
  for (const std::string& input : inputs) {
    for (const Chunking& chunking : all_chunkings()) {
      HttpResponseHead head;
      const Outcome out = run(head, input + "\x81", chunking);
      ASSERT_EQ(out.result, Result::complete) << escape_printable(input);
      EXPECT_EQ(out.end, input.size());
      EXPECT_EQ(head.status(), 101);
      EXPECT_EQ(head.reason(), "Switching Protocols");
      ASSERT_EQ(head.headers().size(), 2u);
      EXPECT_EQ(head.headers()[0].value, "websocket");
      EXPECT_EQ(head.headers()[1].value, "Upgrade");
    }
  }
}

TEST(HttpResponseHead, TrimsOptionalWhitespace) {
  const std::string input =
      "HTTP/1.1 200 OK\r\n"
      "A:value\r\n"
      "B: \t value with  inner space \t \r\n"
      "C:\r\n"
      "D:   \r\n"
      "E: caf\xc3\xa9\r\n"
      "\r\n";
  HttpResponseHead head;
  std::size_t consumed = 0;
  ASSERT_EQ(head.feed(bytes(input), input.size(), &consumed), Result::complete);
  ASSERT_EQ(head.headers().size(), 5u);
  EXPECT_EQ(head.header("a"), "value");
  EXPECT_EQ(head.header("b"), "value with  inner space");
  EXPECT_EQ(head.header("c"), "");
  EXPECT_EQ(head.header("d"), "");
  EXPECT_EQ(head.header("e"), "caf\xc3\xa9");
}

TEST(HttpResponseHead, StatusLineVariants) {
  struct Case {
    std::string line;
    std::string version;
    int status;
    std::string reason;
  };
  const std::vector<Case> cases = {
      {"HTTP/1.1 101", "HTTP/1.1", 101, ""},
      {"HTTP/1.1 101 ", "HTTP/1.1", 101, ""},
      {"HTTP/1.0 403 Forbidden", "HTTP/1.0", 403, "Forbidden"},
      {"HTTP/1.1 503 Service Unavailable", "HTTP/1.1", 503, "Service Unavailable"},
      {"HTTP/1.1 200 Ok\tfine", "HTTP/1.1", 200, "Ok\tfine"},
      {"HTTP/1.1 999 \xe2\x9c\x93", "HTTP/1.1", 999, "\xe2\x9c\x93"},
  };
  for (const Case& c : cases) {
    HttpResponseHead head;
    const std::string input = c.line + "\r\n\r\n";
    std::size_t consumed = 0;
    ASSERT_EQ(head.feed(bytes(input), input.size(), &consumed), Result::complete) << c.line;
    EXPECT_EQ(head.version(), c.version);
    EXPECT_EQ(head.status(), c.status);
    EXPECT_EQ(head.reason(), c.reason);
    EXPECT_EQ(head.status_line(), c.line);
    EXPECT_TRUE(head.headers().empty());
  }
}

TEST(HttpResponseHead, RejectsWhatIsNotAStatusLine) {
  const std::vector<std::string> lines = {
      "HTTP/2 200 OK",    "HTTP/2.0 200 OK",   "http/1.1 200 OK",
      "HTTP/1.1 20 OK",   "HTTP/1.1 2000 OK",  "HTTP/1.1 200OK",
      "HTTP/1.1  200 OK", "HTTP/1.10 200 OK",  "HTTP/1.x 200 OK",
      "HTTP/1.1 2x0 OK",  "HTTP/1.1",          "",
      " HTTP/1.1 200 OK", "HTTP/1.1 200 O\rK", "HTTP/1.1 200 O\x01K",
  };
  for (const std::string& line : lines) {
    const std::string input = line + "\r\nServer: x\r\n\r\n";
    for (const Chunking& chunking : all_chunkings()) {
      const Outcome out = run_once(input, chunking);
      ASSERT_EQ(out.result, Result::invalid) << escape_printable(line);
      EXPECT_EQ(out.error.rfind("not an HTTP response: ", 0), 0u) << out.error;
    }
    // Whole, the message quotes the first line.
    const Outcome whole = run_once(input, {"whole"});
    EXPECT_EQ(whole.error, "not an HTTP response: " + escape_printable(line + "\r\n"));
  }
}

TEST(HttpResponseHead, FailsFastOnGarbage) {
  // A TLS alert, as a TLS server answers plain text: no line feed ever comes.
  const std::string alert("\x15\x03\x01\x00\x02\x02\x46", 7);
  {
    HttpResponseHead head;
    std::size_t consumed = 0;
    ASSERT_EQ(head.feed(bytes(alert), alert.size(), &consumed), Result::invalid);
    EXPECT_EQ(head.error(), "not an HTTP response: \\x15\\x03\\x01\\x00\\x02\\x02F");
  }
  // Byte by byte, the first byte that cannot start "HTTP/1." decides.
  {
    HttpResponseHead head;
    const std::string input = "HTTP/2 200 OK\r\n\r\n";
    std::size_t consumed = 0;
    for (std::size_t i = 0; i < 5; ++i) {
      ASSERT_EQ(head.feed(bytes(input) + i, 1, &consumed), Result::need_more) << i;
    }
    ASSERT_EQ(head.feed(bytes(input) + 5, 1, &consumed), Result::invalid);
    EXPECT_EQ(head.error(), "not an HTTP response: HTTP/2");
  }
  // Long garbage is cut in the message.
  {
    const std::string junk(200, 'z');
    HttpResponseHead head;
    std::size_t consumed = 0;
    ASSERT_EQ(head.feed(bytes(junk), junk.size(), &consumed), Result::invalid);
    EXPECT_EQ(head.error(), "not an HTTP response: " + std::string(64, 'z') + "...");
  }
  for (const Chunking& chunking : all_chunkings()) {
    const Outcome out = run_once("SSH-2.0-OpenSSH_9.2\r\n", chunking);
    EXPECT_EQ(out.result, Result::invalid);
    EXPECT_EQ(out.error.rfind("not an HTTP response: S", 0), 0u) << out.error;
  }
}

TEST(HttpResponseHead, RejectsBadHeaderLines) {
  struct Case {
    std::string line;
    std::string error;
  };
  const std::vector<Case> cases = {
      {"NoColon", "invalid header line: NoColon"},
      {": empty-name", "invalid header line: : empty-name"},
      {"Bad Name: v", "invalid header line: Bad Name: v"},
      {"Name : v", "invalid header line: Name : v"},
      {"N@me: v", "invalid header line: N@me: v"},
      {"Name: a\rb", "invalid header line: Name: a\\rb"},
      {std::string("Name: a\0b", 9), "invalid header line: Name: a\\x00b"},
      {"Name: a\x7f", "invalid header line: Name: a\\x7f"},
      {" folded", "obsolete line folding in response headers:  folded"},
      {"\tfolded", "obsolete line folding in response headers: \\tfolded"},
  };
  for (const Case& c : cases) {
    const std::string input = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n" +
                              c.line + "\r\nConnection: Upgrade\r\n\r\n";
    for (const Chunking& chunking : all_chunkings()) {
      const Outcome out = run_once(input, chunking);
      ASSERT_EQ(out.result, Result::invalid) << c.error;
      EXPECT_EQ(out.error, c.error);
    }
  }
}

TEST(HttpResponseHead, KeepsDuplicateHeadersInOrder) {
  const std::string input = "HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nset-cookie: b=2\r\n\r\n";
  HttpResponseHead head;
  std::size_t consumed = 0;
  ASSERT_EQ(head.feed(bytes(input), input.size(), &consumed), Result::complete);
  ASSERT_EQ(head.headers().size(), 2u);
  EXPECT_EQ(head.header("Set-Cookie"), "a=1");
  EXPECT_EQ(head.headers()[1].name, "set-cookie");
  EXPECT_EQ(head.headers()[1].value, "b=2");
}

std::string head_of_size(std::size_t total) {
  // "HTTP/1.1 200 OK\r\nX: <pad>\r\n\r\n" padded to exactly `total` bytes.
  const std::string start = "HTTP/1.1 200 OK\r\nX: ";
  const std::string end = "\r\n\r\n";
  return start + std::string(total - start.size() - end.size(), 'p') + end;
}

TEST(HttpResponseHead, SizeLimitCountsTheWholeHead) {
  for (std::size_t max : {std::size_t{100}, std::size_t{16384}}) {
    const std::string fits = head_of_size(max);
    const std::string over = head_of_size(max + 1);
    const std::string message = "response headers exceed " + std::to_string(max) + " bytes";
    for (const Chunking& chunking : all_chunkings()) {
      SCOPED_TRACE(chunking.name + " " + std::to_string(chunking.seed));
      const Outcome ok = run_once(fits + "\x81\x00", chunking, max);
      ASSERT_EQ(ok.result, Result::complete);
      EXPECT_EQ(ok.end, max);
      const Outcome bad = run_once(over, chunking, max);
      ASSERT_EQ(bad.result, Result::invalid);
      EXPECT_EQ(bad.error, message);
      // Never looks beyond the limit.
      EXPECT_EQ(bad.end, max);
    }
  }
}

TEST(HttpResponseHead, SizeLimitWithManyHeaders) {
  std::string input = "HTTP/1.1 101 Switching Protocols\r\n";
  while (input.size() < 20000) input += "X-Filler: 0123456789abcdef\r\n";
  input += "\r\n";
  for (const Chunking& chunking : {Chunking{"whole"}, Chunking{"bytewise"}, Chunking{"r", 3}}) {
    const Outcome out = run_once(input, chunking);
    ASSERT_EQ(out.result, Result::invalid);
    EXPECT_EQ(out.error, "response headers exceed 16384 bytes");
  }
}

TEST(HttpResponseHead, ByteByByteLargeHeadCompletes) {
  std::string input = "HTTP/1.1 200 OK\r\n";
  int count = 0;
  while (input.size() < 16000) input += "X-H" + std::to_string(count++) + ": value\r\n";
  input += "\r\n";
  HttpResponseHead head;
  const Outcome out = run(head, input, {"bytewise"});
  ASSERT_EQ(out.result, Result::complete);
  EXPECT_EQ(out.end, input.size());
  EXPECT_EQ(head.headers().size(), static_cast<std::size_t>(count));
  EXPECT_EQ(head.header("X-H7"), "value");
}

TEST(HttpResponseHead, EmptyFeedsChangeNothing) {
  HttpResponseHead head;
  std::size_t consumed = 99;
  EXPECT_EQ(head.feed(nullptr, 0, &consumed), Result::need_more);
  EXPECT_EQ(consumed, 0u);
  ASSERT_EQ(head.feed(bytes(kUpgrade), kUpgrade.size(), &consumed), Result::complete);
  EXPECT_EQ(head.feed(nullptr, 0, &consumed), Result::complete);
  EXPECT_EQ(consumed, 0u);
}

TEST(HttpResponseHead, NullConsumedIsAllowed) {
  HttpResponseHead head;
  EXPECT_EQ(head.feed(bytes(kUpgrade), kUpgrade.size(), nullptr), Result::complete);
}

}  // namespace
}  // namespace tether::protocol
