#include "transport/url.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

namespace tether::transport {
namespace {

struct Good {
  std::string text;
  std::string scheme;
  std::string host;
  bool host_is_ip;
  bool ipv6;
  std::uint16_t port;
  bool port_explicit;
  std::string target;
};

TEST(ParseWsUrl, AcceptsGoodUrls) {
  const std::vector<Good> cases = {
      // Host names, default ports, empty path.
      {"ws://example.com", "ws", "example.com", false, false, 80, false, "/"},
      {"wss://example.com", "wss", "example.com", false, false, 443, false, "/"},
      {"ws://example.com/", "ws", "example.com", false, false, 80, false, "/"},
      {"ws://localhost:8080/chat", "ws", "localhost", false, false, 8080, true, "/chat"},
      {"ws://a-b_c.d.example:1", "ws", "a-b_c.d.example", false, false, 1, true, "/"},
      {"ws://example.com.:65535/", "ws", "example.com.", false, false, 65535, true, "/"},
      {"ws://x", "ws", "x", false, false, 80, false, "/"},
      // A default port written out is still explicit.
      {"ws://example.com:80", "ws", "example.com", false, false, 80, true, "/"},
      {"wss://example.com:443/", "wss", "example.com", false, false, 443, true, "/"},
      {"ws://example.com:0080", "ws", "example.com", false, false, 80, true, "/"},
      // Case: scheme and host are lower-cased, the path is not.
      {"WS://Example.COM/Path", "ws", "example.com", false, false, 80, false, "/Path"},
      {"wSs://EXAMPLE.com", "wss", "example.com", false, false, 443, false, "/"},
      // IPv4.
      {"ws://127.0.0.1:9001/", "ws", "127.0.0.1", true, false, 9001, true, "/"},
      {"wss://0.0.0.0", "wss", "0.0.0.0", true, false, 443, false, "/"},
      {"ws://255.255.255.255/x", "ws", "255.255.255.255", true, false, 80, false, "/x"},
      // IPv6: brackets stripped, hex digits lower-cased.
      {"ws://[::1]", "ws", "::1", true, true, 80, false, "/"},
      {"ws://[::1]:8080/", "ws", "::1", true, true, 8080, true, "/"},
      {"wss://[2001:db8::1]:9000/s?q=1", "wss", "2001:db8::1", true, true, 9000, true, "/s?q=1"},
      {"ws://[2001:DB8::A]/", "ws", "2001:db8::a", true, true, 80, false, "/"},
      {"ws://[::ffff:192.0.2.1]", "ws", "::ffff:192.0.2.1", true, true, 80, false, "/"},
      // Path and query byte for byte; fragment dropped.
      {"ws://h/a%2Fb?x=%2F&y=a?b/c", "ws", "h", false, false, 80, false, "/a%2Fb?x=%2F&y=a?b/c"},
      {"ws://h/%7e%7E/./../", "ws", "h", false, false, 80, false, "/%7e%7E/./../"},
      {"ws://h?x=1", "ws", "h", false, false, 80, false, "/?x=1"},
      {"ws://h:81?x=1", "ws", "h", false, false, 81, true, "/?x=1"},
      {"ws://h?", "ws", "h", false, false, 80, false, "/?"},
      {"ws://h/p#frag", "ws", "h", false, false, 80, false, "/p"},
      {"ws://h/p?q#frag?x", "ws", "h", false, false, 80, false, "/p?q"},
      {"ws://h#frag", "ws", "h", false, false, 80, false, "/"},
      {"ws://h:90#", "ws", "h", false, false, 90, true, "/"},
      {"ws://h//double//slash", "ws", "h", false, false, 80, false, "//double//slash"},
      {"ws://h/a@b:c;d=e,f$g!h*i'j(k)l+m~n", "ws", "h", false, false, 80, false,
       "/a@b:c;d=e,f$g!h*i'j(k)l+m~n"},
      // Bytes outside ASCII cannot go raw into the request line.
      {"ws://h/caf\xC3\xA9?q=\xFF", "ws", "h", false, false, 80, false, "/caf%C3%A9?q=%FF"},
  };
  for (const Good& c : cases) {
    SCOPED_TRACE(c.text);
    Url url;
    std::string error;
    ASSERT_TRUE(parse_ws_url(c.text, url, error)) << error;
    EXPECT_EQ(url.scheme, c.scheme);
    EXPECT_EQ(url.secure, c.scheme == "wss");
    EXPECT_EQ(url.host, c.host);
    EXPECT_EQ(url.host_is_ip, c.host_is_ip);
    EXPECT_EQ(url.ipv6, c.ipv6);
    EXPECT_EQ(url.port, c.port);
    EXPECT_EQ(url.port_explicit, c.port_explicit);
    EXPECT_EQ(url.target, c.target);
  }
}

struct Bad {
  std::string text;
  std::string message;  // The exact error.
};

TEST(ParseWsUrl, RefusesBadUrls) {
  const std::vector<Bad> cases = {
      {"", "empty URL"},
      // Scheme.
      {"http://example.com", "unsupported scheme 'http' (expected ws or wss)"},
      {"HTTPS://example.com", "unsupported scheme 'https' (expected ws or wss)"},
      {"wss+unix://x", "unsupported scheme 'wss+unix' (expected ws or wss)"},
      {"ftp://x", "unsupported scheme 'ftp' (expected ws or wss)"},
      {"example.com", "missing scheme (expected ws:// or wss://)"},
      {"example.com/a:b", "missing scheme (expected ws:// or wss://)"},
      {"ws//x", "missing scheme (expected ws:// or wss://)"},
      {"://x", "missing scheme (expected ws:// or wss://)"},
      {"1ws://x", "missing scheme (expected ws:// or wss://)"},
      {"ws:/x", "expected '//' after 'ws:'"},
      {"ws:x", "expected '//' after 'ws:'"},
      {"WSS:", "expected '//' after 'wss:'"},
      // Userinfo, whatever its shape, and without echoing it.
      {"ws://user@h", "credentials in a ws URL are not supported"},
      {"ws://user:secret@h:80/", "credentials in a ws URL are not supported"},
      {"ws://@h", "credentials in a ws URL are not supported"},
      // Host.
      {"ws://", "missing host"},
      {"ws:///path", "missing host"},
      {"ws://:80", "missing host"},
      {"ws://?x", "missing host"},
      {"ws://exa%6dple.com", "invalid character '%' in host 'exa%6dple.com'"},
      {"ws://a,b", "invalid character ',' in host 'a,b'"},
      {"ws://a\\b/", "invalid character '\\x5C' in host 'a\\x5Cb'"},
      {"ws://a..b", "invalid host name 'a..b'"},
      {"ws://.a", "invalid host name '.a'"},
      {"ws://a.b..", "invalid host name 'a.b..'"},
      {"ws://" + std::string(64, 'a') + ".com",
       "invalid host name '" + std::string(64, 'a') + "...'"},
      {"ws://1.2.3", "invalid IPv4 address '1.2.3'"},
      {"ws://1.2.3.4.5", "invalid IPv4 address '1.2.3.4.5'"},
      {"ws://256.0.0.1", "invalid IPv4 address '256.0.0.1'"},
      {"ws://1.2.3.04", "invalid IPv4 address '1.2.3.04'"},
      {"ws://1..2.3", "invalid IPv4 address '1..2.3'"},
      {"ws://1.2.3.4.", "invalid IPv4 address '1.2.3.4.'"},
      {"ws://1234", "invalid IPv4 address '1234'"},
      {"ws://1.2.3.1000", "invalid IPv4 address '1.2.3.1000'"},
      // IPv6.
      {"ws://::1/", "an IPv6 address must be in brackets ([::1]:port)"},
      {"ws://2001:db8::1:80", "an IPv6 address must be in brackets ([::1]:port)"},
      {"ws://[::1", "missing ']' after IPv6 address"},
      {"ws://[]", "invalid IPv6 address ''"},
      {"ws://[::g]", "invalid IPv6 address '::g'"},
      {"ws://[1.2.3.4]", "invalid IPv6 address '1.2.3.4'"},
      {"ws://[1:2:3:4:5:6:7:8:9]", "invalid IPv6 address '1:2:3:4:5:6:7:8:9'"},
      {"ws://[fe80::1%25eth0]/", "IPv6 zone identifiers are not supported"},
      {"ws://[::1]x", "unexpected 'x' after IPv6 address"},
      {"ws://[::1]]:80", "unexpected ']:80' after IPv6 address"},
      // Port.
      {"ws://h:", "empty port after ':'"},
      {"ws://h:/x", "empty port after ':'"},
      {"ws://[::1]:", "empty port after ':'"},
      {"ws://h:0", "port 0 out of range (1-65535)"},
      {"ws://h:00000", "port 00000 out of range (1-65535)"},
      {"ws://h:65536", "port 65536 out of range (1-65535)"},
      {"ws://h:99999999999999999999", "port 99999999999999999999 out of range (1-65535)"},
      {"ws://h:abc", "invalid port 'abc'"},
      {"ws://h:-1", "invalid port '-1'"},
      {"ws://h:+80", "invalid port '+80'"},
      {"ws://h:8o", "invalid port '8o'"},
      {"ws://h:80:81", "an IPv6 address must be in brackets ([::1]:port)"},
      // Spaces and control characters, anywhere.
      {"ws://h/a b", "space in URL at offset 8 (percent-encode it as %20)"},
      {" ws://h/", "space in URL at offset 0 (percent-encode it as %20)"},
      {"ws://h/ ", "space in URL at offset 7 (percent-encode it as %20)"},
      {"ws://h/?q=a b", "space in URL at offset 11 (percent-encode it as %20)"},
      {"ws://h/#a b", "space in URL at offset 9 (percent-encode it as %20)"},
      {"ws://h/a\tb", "control character 0x09 in URL at offset 8"},
      {"ws://h/\r\nHost: evil", "control character 0x0D in URL at offset 7"},
      {std::string("ws://h/\0", 8), "control character 0x00 in URL at offset 7"},
      {"ws://h/\x7F", "control character 0x7F in URL at offset 7"},
      {"ws://h\n", "control character 0x0A in URL at offset 6"},
  };
  for (const Bad& c : cases) {
    SCOPED_TRACE(c.text);
    Url url;
    url.host = "untouched";
    std::string error;
    EXPECT_FALSE(parse_ws_url(c.text, url, error));
    EXPECT_EQ(error, c.message);
    EXPECT_EQ(url.host, "untouched");  // `out` is only written on success.
  }
}

TEST(ParseWsUrl, LengthLimit) {
  const std::string prefix = "ws://h/";
  const std::string at_limit = prefix + std::string(kMaxUrlBytes - prefix.size(), 'a');
  Url url;
  std::string error;
  ASSERT_TRUE(parse_ws_url(at_limit, url, error)) << error;
  EXPECT_EQ(url.target.size(), kMaxUrlBytes - prefix.size() + 1);

  EXPECT_FALSE(parse_ws_url(at_limit + "a", url, error));
  EXPECT_EQ(error, "URL too long (8193 bytes, at most 8192)");
}

TEST(ParseWsUrl, LongBadPortIsShortenedInTheMessage) {
  Url url;
  std::string error;
  EXPECT_FALSE(parse_ws_url("ws://h:" + std::string(100, '9'), url, error));
  EXPECT_EQ(error, "port " + std::string(64, '9') + "... out of range (1-65535)");
  EXPECT_FALSE(parse_ws_url("ws://h:" + std::string(100, 'x'), url, error));
  EXPECT_EQ(error, "invalid port '" + std::string(64, 'x') + "...'");
}

TEST(ParseWsUrl, HostNameLimits) {
  Url url;
  std::string error;
  const std::string label63(63, 'a');
  EXPECT_TRUE(parse_ws_url("ws://" + label63 + ".com", url, error)) << error;
  // 253 bytes in four labels of 63 + dots: the longest name DNS carries.
  const std::string name253 = label63 + "." + label63 + "." + label63 + "." + std::string(61, 'b');
  ASSERT_EQ(name253.size(), 253u);
  EXPECT_TRUE(parse_ws_url("ws://" + name253, url, error)) << error;
  EXPECT_TRUE(parse_ws_url("ws://" + name253 + ".", url, error)) << error;
  EXPECT_FALSE(parse_ws_url("ws://" + name253 + "b", url, error));
  EXPECT_EQ(error.rfind("invalid host name '", 0), 0u) << error;
}

TEST(ParseWsUrl, Authority) {
  struct Case {
    std::string text;
    std::string authority;
  };
  const std::vector<Case> cases = {
      {"ws://example.com", "example.com:80"},
      {"wss://example.com", "example.com:443"},
      {"ws://Example.com:8080/x", "example.com:8080"},
      {"ws://10.0.0.1:1", "10.0.0.1:1"},
      {"wss://[::1]", "[::1]:443"},
      {"ws://[2001:db8::1]:9000", "[2001:db8::1]:9000"},
  };
  for (const Case& c : cases) {
    Url url;
    std::string error;
    ASSERT_TRUE(parse_ws_url(c.text, url, error)) << c.text << ": " << error;
    EXPECT_EQ(url.authority(), c.authority) << c.text;
  }
}

TEST(ParseHostPort, WithoutPort) {
  HostPort hp;
  std::string error;
  ASSERT_TRUE(parse_host_port("Proxy.Example", hp, error)) << error;
  EXPECT_EQ(hp.host, "proxy.example");
  EXPECT_FALSE(hp.port_explicit);
  EXPECT_EQ(hp.port, 0);

  ASSERT_TRUE(parse_host_port("[::1]:3128", hp, error)) << error;
  EXPECT_EQ(hp.host, "::1");
  EXPECT_TRUE(hp.ipv6);
  EXPECT_TRUE(hp.port_explicit);
  EXPECT_EQ(hp.port, 3128);
}

TEST(ParseHostPort, QuietMessagesDoNotEchoTheInput) {
  const std::vector<Bad> cases = {
      {"user:secret", "invalid port (digits expected)"},
      {"h:0", "port out of range (1-65535)"},
      {"se cret", "invalid character in host"},
      {"secret..x", "invalid host name"},
      {"1.2.3.999", "invalid IPv4 address"},
      {"[secret]", "invalid IPv6 address"},
      {"[::1]secret", "unexpected characters after IPv6 address"},
  };
  for (const Bad& c : cases) {
    HostPort hp;
    std::string error;
    EXPECT_FALSE(parse_host_port(c.text, hp, error, /*quote_input=*/false)) << c.text;
    EXPECT_EQ(error, c.message) << c.text;
  }
}

TEST(FormatHostPort, BracketsIpv6Only) {
  EXPECT_EQ(format_host_port("example.com", 443), "example.com:443");
  EXPECT_EQ(format_host_port("192.0.2.1", 80), "192.0.2.1:80");
  EXPECT_EQ(format_host_port("::1", 8080), "[::1]:8080");
}

}  // namespace
}  // namespace tether::transport
