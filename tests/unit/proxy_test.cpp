#include "transport/proxy.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "protocol/http_head.hpp"
#include "transport/url.hpp"

namespace tether::transport {
namespace {

Url url(const std::string& text) {
  Url out;
  std::string error;
  EXPECT_TRUE(parse_ws_url(text, out, error)) << text << ": " << error;
  return out;
}

// A fake environment: only the variables given are set.
EnvLookup env_of(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const char* name) -> std::optional<std::string> {
    const auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

// --- parse_proxy_url -----------------------------------------------------------------------------

struct GoodProxy {
  std::string text;
  std::string host;
  std::uint16_t port;
  std::string username;
  std::string password;
};

TEST(ParseProxyUrl, AcceptsGoodProxies) {
  const std::vector<GoodProxy> cases = {
      {"http://proxy.example:3128", "proxy.example", 3128, "", ""},
      {"http://proxy.example:3128/", "proxy.example", 3128, "", ""},
      {"HTTP://Proxy.Example:8080", "proxy.example", 8080, "", ""},
      {"http://proxy.example", "proxy.example", 80, "", ""},
      {"proxy.example:3128", "proxy.example", 3128, "", ""},
      {"proxy.example", "proxy.example", 80, "", ""},
      {"10.0.0.1:8080", "10.0.0.1", 8080, "", ""},
      {"http://[::1]:3128", "::1", 3128, "", ""},
      {"[2001:db8::2]", "2001:db8::2", 80, "", ""},
      {"  http://p:1\n", "p", 1, "", ""},
      // Credentials, percent-decoded.
      {"http://user:pass@p:3128", "p", 3128, "user", "pass"},
      {"http://user@p:3128", "p", 3128, "user", ""},
      {"http://user:@p", "p", 80, "user", ""},
      {"http://:pass@p", "p", 80, "", "pass"},
      {"user:pass@p:3128", "p", 3128, "user", "pass"},
      {"http://me%40corp.example:p%40ss%3Aw%2Fd%25@p:3128", "p", 3128, "me@corp.example",
       "p@ss:w/d%"},
      {"http://u:%E2%82%AC@p", "p", 80, "u", "\xE2\x82\xAC"},
      {"http://u:%00%0d%0A@p", "p", 80, "u", std::string("\0\r\n", 3)},
      // Raw '@', ':' and '/' in a password: the last '@' ends the credentials.
      {"http://u:p@ss:w/rd@p:3128/", "p", 3128, "u", "p@ss:w/rd"},
  };
  for (const GoodProxy& c : cases) {
    SCOPED_TRACE(c.text);
    ProxyConfig config;
    std::string error;
    ASSERT_TRUE(parse_proxy_url(c.text, config, error)) << error;
    EXPECT_EQ(config.host, c.host);
    EXPECT_EQ(config.port, c.port);
    EXPECT_EQ(config.username, c.username);
    EXPECT_EQ(config.password, c.password);
    EXPECT_FALSE(config.empty());
  }
}

struct BadProxy {
  std::string text;
  std::string message;
};

TEST(ParseProxyUrl, RefusesBadProxies) {
  const std::vector<BadProxy> cases = {
      {"", "empty proxy URL"},
      {"  ", "empty proxy URL"},
      {"https://p:443", "HTTPS proxies are not supported"},
      {"HTTPS://user:secret@p", "HTTPS proxies are not supported"},
      {"socks5://p:1080", "unsupported proxy scheme 'socks5' (expected http)"},
      {"ws://p", "unsupported proxy scheme 'ws' (expected http)"},
      {"se$cret://p", "unsupported proxy scheme (expected http)"},
      {"://p", "unsupported proxy scheme (expected http)"},
      {"http://", "missing host in proxy URL"},
      {"http://user:secret@", "missing host in proxy URL"},
      {"http://user:secret@:3128", "missing host in proxy URL"},
      {"http://p:0", "port out of range (1-65535) in proxy URL"},
      {"http://p:65536", "port out of range (1-65535) in proxy URL"},
      {"http://p:x", "invalid port (digits expected) in proxy URL"},
      {"http://p:", "empty port after ':' in proxy URL"},
      // A forgotten "@" must not put the password into the message.
      {"http://user:secret", "invalid port (digits expected) in proxy URL"},
      {"http://p:3128/path", "a proxy URL has no path, query or fragment"},
      {"http://p:3128?x", "a proxy URL has no path, query or fragment"},
      {"http://p:3128#x", "a proxy URL has no path, query or fragment"},
      {"http://p..q", "invalid host name in proxy URL"},
      {"http://se,cret", "invalid character in host in proxy URL"},
      {"http://::1:3128", "an IPv6 address must be in brackets ([::1]:port) in proxy URL"},
      {"http://[::1", "missing ']' after IPv6 address in proxy URL"},
      {"http://[fe80::1%25eth0]:3128", "IPv6 zone identifiers are not supported in proxy URL"},
      {"http://u:p%4@p", "invalid percent-encoding in proxy credentials"},
      {"http://u:p%zz@p", "invalid percent-encoding in proxy credentials"},
      {"http://u%3Ax:p@p", "a proxy user name cannot contain ':'"},
      {"http://p :3128", "space or control character in proxy URL"},
      {"http://p:3128\r\nX: y", "space or control character in proxy URL"},
      {"http://" + std::string(kMaxUrlBytes, 'a'), "proxy URL too long (8199 bytes, at most 8192)"},
  };
  for (const BadProxy& c : cases) {
    SCOPED_TRACE(c.text);
    ProxyConfig config;
    config.host = "untouched";
    std::string error;
    EXPECT_FALSE(parse_proxy_url(c.text, config, error));
    EXPECT_EQ(error, c.message);
    EXPECT_EQ(config.host, "untouched");
    EXPECT_EQ(error.find("secret"), std::string::npos);
  }
}

TEST(ProxyConfig, EmptyAndCredentials) {
  ProxyConfig config;
  EXPECT_TRUE(config.empty());
  EXPECT_FALSE(config.has_credentials());
  config.host = "p";
  EXPECT_FALSE(config.empty());
  config.password = "x";
  EXPECT_TRUE(config.has_credentials());
}

// --- proxy_from_environment ----------------------------------------------------------------------

struct EnvCase {
  std::string name;
  std::map<std::string, std::string> vars;
  std::string target;
  std::optional<std::string> proxy;  // describe_proxy of the result; nullopt = direct.
};

TEST(ProxyFromEnvironment, ChoosesPerScheme) {
  const std::vector<EnvCase> cases = {
      {"nothing set", {}, "ws://h", std::nullopt},
      {"ws uses http_proxy", {{"http_proxy", "http://a:1"}}, "ws://h", "http://a:1"},
      {"ws uses HTTP_PROXY", {{"HTTP_PROXY", "http://b:2"}}, "ws://h", "http://b:2"},
      {"lower case first (ws)",
       {{"http_proxy", "http://a:1"}, {"HTTP_PROXY", "http://b:2"}},
       "ws://h",
       "http://a:1"},
      {"empty lower case falls back",
       {{"http_proxy", ""}, {"HTTP_PROXY", "http://b:2"}},
       "ws://h",
       "http://b:2"},
      {"blank lower case falls back",
       {{"http_proxy", " \t"}, {"HTTP_PROXY", "http://b:2"}},
       "ws://h",
       "http://b:2"},
      {"both empty", {{"http_proxy", ""}, {"HTTP_PROXY", ""}}, "ws://h", std::nullopt},
      {"ws ignores https_proxy", {{"https_proxy", "http://s:3"}}, "ws://h", std::nullopt},
      {"wss uses https_proxy", {{"https_proxy", "http://s:3"}}, "wss://h", "http://s:3"},
      {"wss uses HTTPS_PROXY", {{"HTTPS_PROXY", "http://t:4"}}, "wss://h", "http://t:4"},
      {"lower case first (wss)",
       {{"https_proxy", "http://s:3"}, {"HTTPS_PROXY", "http://t:4"}},
       "wss://h",
       "http://s:3"},
      {"wss ignores http_proxy",
       {{"http_proxy", "http://a:1"}, {"HTTP_PROXY", "http://b:2"}},
       "wss://h",
       std::nullopt},
      {"all set, ws",
       {{"http_proxy", "http://a:1"}, {"https_proxy", "http://s:3"}},
       "ws://h",
       "http://a:1"},
      {"all set, wss",
       {{"http_proxy", "http://a:1"}, {"https_proxy", "http://s:3"}},
       "wss://h",
       "http://s:3"},
      {"credentials", {{"http_proxy", "http://u:pw@a:1"}}, "ws://h", "http://u:***@a:1"},
      {"no scheme, default port", {{"http_proxy", "a"}}, "ws://h", "http://a:80"},
      // no_proxy.
      {"no_proxy bypasses",
       {{"http_proxy", "http://a:1"}, {"no_proxy", "h"}},
       "ws://h",
       std::nullopt},
      {"NO_PROXY bypasses",
       {{"http_proxy", "http://a:1"}, {"NO_PROXY", ".example.com"}},
       "ws://x.example.com",
       std::nullopt},
      {"no_proxy before NO_PROXY",
       {{"http_proxy", "http://a:1"}, {"no_proxy", "other"}, {"NO_PROXY", "h"}},
       "ws://h",
       "http://a:1"},
      {"empty no_proxy falls back to NO_PROXY",
       {{"http_proxy", "http://a:1"}, {"no_proxy", ""}, {"NO_PROXY", "h"}},
       "ws://h",
       std::nullopt},
      {"no_proxy for another host",
       {{"https_proxy", "http://s:3"}, {"no_proxy", "localhost,127.0.0.1"}},
       "wss://example.com",
       "http://s:3"},
      {"no_proxy with port, default port of wss",
       {{"https_proxy", "http://s:3"}, {"no_proxy", "example.com:443"}},
       "wss://example.com",
       std::nullopt},
      {"no_proxy with port, other port",
       {{"https_proxy", "http://s:3"}, {"no_proxy", "example.com:443"}},
       "wss://example.com:8443",
       "http://s:3"},
      {"no_proxy IPv6",
       {{"http_proxy", "http://a:1"}, {"no_proxy", "::1"}},
       "ws://[::1]:9",
       std::nullopt},
      {"no_proxy star", {{"http_proxy", "http://a:1"}, {"no_proxy", "*"}}, "ws://h", std::nullopt},
      {"no_proxy without a proxy", {{"no_proxy", "*"}}, "ws://h", std::nullopt},
  };
  for (const EnvCase& c : cases) {
    SCOPED_TRACE(c.name);
    std::string error = "stale";
    const std::optional<ProxyConfig> proxy =
        proxy_from_environment(url(c.target), env_of(c.vars), &error);
    EXPECT_EQ(error, "");
    ASSERT_EQ(proxy.has_value(), c.proxy.has_value());
    if (proxy) {
      EXPECT_EQ(describe_proxy(*proxy), *c.proxy);
    }
  }
}

TEST(ProxyFromEnvironment, InvalidValueIsReportedWithTheVariableName) {
  std::string error;
  EXPECT_FALSE(
      proxy_from_environment(url("wss://h"), env_of({{"HTTPS_PROXY", "https://p"}}), &error));
  EXPECT_EQ(error, "HTTPS_PROXY: HTTPS proxies are not supported");

  EXPECT_FALSE(
      proxy_from_environment(url("ws://h"), env_of({{"http_proxy", "http://u:secret"}}), &error));
  EXPECT_EQ(error, "http_proxy: invalid port (digits expected) in proxy URL");

  // Without an error pointer the result is still direct.
  EXPECT_FALSE(proxy_from_environment(url("ws://h"), env_of({{"http_proxy", "socks5://p"}})));

  // A bypassed host never looks at the proxy value.
  EXPECT_FALSE(proxy_from_environment(
      url("ws://h"), env_of({{"http_proxy", "socks5://p"}, {"no_proxy", "h"}}), &error));
  EXPECT_EQ(error, "");
}

TEST(ProxyFromEnvironment, AsksOnlyForTheVariablesItNeeds) {
  std::vector<std::string> asked;
  const EnvLookup env = [&asked](const char* name) -> std::optional<std::string> {
    asked.emplace_back(name);
    return std::nullopt;
  };
  EXPECT_FALSE(proxy_from_environment(url("wss://h"), env));
  EXPECT_EQ(asked, (std::vector<std::string>{"https_proxy", "HTTPS_PROXY"}));
}

TEST(ProcessEnvironment, ReadsGetenv) {
  EXPECT_FALSE(process_environment("TETHER_TEST_SURELY_UNSET_VARIABLE_1f3a"));
  const std::optional<std::string> path = process_environment("PATH");
  if (std::getenv("PATH") != nullptr) {
    ASSERT_TRUE(path);
    EXPECT_EQ(*path, std::getenv("PATH"));
  }
}

// --- no_proxy_matches ----------------------------------------------------------------------------

struct NoProxyCase {
  std::string no_proxy;
  std::string host;
  std::uint16_t port;
  bool matches;
};

TEST(NoProxyMatches, Table) {
  const std::vector<NoProxyCase> cases = {
      // Empty lists and entries.
      {"", "example.com", 80, false},
      {" , ,, ", "example.com", 80, false},
      // '*'.
      {"*", "example.com", 80, true},
      {"*", "10.0.0.1", 1, true},
      {"*", "::1", 443, true},
      {"a.test, *", "example.com", 80, true},
      {"*x", "example.com", 80, false},
      // Exact names and suffixes, with or without a leading dot or "*.".
      {"example.com", "example.com", 80, true},
      {"example.com", "a.example.com", 80, true},
      {"example.com", "a.b.example.com", 80, true},
      {".example.com", "example.com", 80, true},
      {".example.com", "a.example.com", 80, true},
      {"*.example.com", "a.example.com", 80, true},
      {"*.example.com", "example.com", 80, true},
      {"example.com", "badexample.com", 80, false},
      {".example.com", "badexample.com", 80, false},
      {"example.com", "example.com.evil", 80, false},
      {"a.example.com", "example.com", 80, false},
      {"example.com", "example.co", 80, false},
      {"localhost", "localhost", 9000, true},
      {"local", "localhost", 9000, false},
      // Case and trailing dots.
      {"EXAMPLE.Com", "example.com", 80, true},
      {"example.com", "A.EXAMPLE.COM", 80, true},
      {"example.com.", "a.example.com", 80, true},
      {"example.com", "a.example.com.", 80, true},
      {".", "example.com", 80, false},
      // Lists: commas and whitespace.
      {"a.test,example.com", "example.com", 80, true},
      {"a.test, example.com", "example.com", 80, true},
      {"a.test example.com", "example.com", 80, true},
      {"a.test,\texample.com\n", "example.com", 80, true},
      {"a.test,b.test", "example.com", 80, false},
      // Ports.
      {"example.com:8080", "example.com", 8080, true},
      {"example.com:8080", "example.com", 80, false},
      {".example.com:443", "a.example.com", 443, true},
      {"example.com:0", "example.com", 80, false},
      {"example.com:x", "example.com", 80, false},
      {"example.com:", "example.com", 80, false},
      {"example.com:65536", "example.com", 80, false},
      {"example.com:81, example.com:80", "example.com", 80, true},
      // IPv4.
      {"10.0.0.1", "10.0.0.1", 80, true},
      {"10.0.0.1", "10.0.0.2", 80, false},
      {"10.0.0.1:9000", "10.0.0.1", 9000, true},
      {"10.0.0.1:9000", "10.0.0.1", 9001, false},
      {"0.1", "10.0.0.1", 80, false},  // A name entry never suffix-matches an address.
      {"0.0.1", "10.0.0.1", 80, false},
      {"10.0.0.0/8", "10.200.3.4", 80, true},
      {"10.0.0.0/8", "11.0.0.1", 80, false},
      {"192.168.1.0/24", "192.168.1.77", 80, true},
      {"192.168.1.0/24", "192.168.2.77", 80, false},
      {"192.168.1.128/25", "192.168.1.200", 80, true},
      {"192.168.1.128/25", "192.168.1.100", 80, false},
      {"0.0.0.0/0", "203.0.113.9", 80, true},
      {"10.0.0.1/32", "10.0.0.1", 80, true},
      {"10.0.0.0/33", "10.0.0.1", 80, false},
      {"10.0.0.0/x", "10.0.0.1", 80, false},
      {"10.0.0.0/8:80", "10.0.0.1", 80, true},
      {"10.0.0.0/8:80", "10.0.0.1", 81, false},
      {"example.com/8", "example.com", 80, false},
      // Names and addresses never match each other: nothing is resolved.
      {"localhost", "127.0.0.1", 80, false},
      {"127.0.0.1", "localhost", 80, false},
      // IPv6, bare or bracketed, compared as addresses.
      {"::1", "::1", 80, true},
      {"::1", "0:0:0:0:0:0:0:1", 80, true},
      {"0:0::1", "::1", 80, true},
      {"::1", "::2", 80, false},
      {"[::1]", "::1", 80, true},
      {"[::1]:8080", "::1", 8080, true},
      {"[::1]:8080", "::1", 8081, false},
      {"[::1]x", "::1", 80, false},
      {"[::1", "::1", 80, false},
      {"[example.com]", "example.com", 80, false},
      {"[10.0.0.1]", "10.0.0.1", 80, false},
      {"2001:DB8::1", "2001:db8::1", 80, true},
      {"2001:db8::/32", "2001:db8:ffff::1", 80, true},
      {"2001:db8::/32", "2001:db9::1", 80, false},
      {"fd00::/8", "fdab::1", 80, true},
      {"fd00::/8", "fe80::1", 80, false},
      {"::/0", "2001:db8::1", 80, true},
      {"::/0", "10.0.0.1", 80, false},  // Families never mix.
      {"0.0.0.0/0", "::1", 80, false},
      {"::ffff:10.0.0.1", "10.0.0.1", 80, false},
      // The host may be given bracketed too.
      {"::1", "[::1]", 80, true},
  };
  for (const NoProxyCase& c : cases) {
    EXPECT_EQ(no_proxy_matches(c.no_proxy, c.host, c.port), c.matches)
        << "no_proxy='" << c.no_proxy << "' host=" << c.host << " port=" << c.port;
  }
}

// --- build_connect_request -----------------------------------------------------------------------

TEST(BuildConnectRequest, WithoutCredentials) {
  ProxyConfig proxy;
  proxy.host = "proxy";
  proxy.port = 3128;
  EXPECT_EQ(build_connect_request(url("ws://example.com/chat?x=1"), proxy),
            "CONNECT example.com:80 HTTP/1.1\r\nHost: example.com:80\r\n\r\n");
  EXPECT_EQ(build_connect_request(url("wss://Example.com"), proxy),
            "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n");
  EXPECT_EQ(build_connect_request(url("wss://10.1.2.3:8443/"), proxy),
            "CONNECT 10.1.2.3:8443 HTTP/1.1\r\nHost: 10.1.2.3:8443\r\n\r\n");
  EXPECT_EQ(build_connect_request(url("ws://[2001:db8::1]:9000/"), proxy),
            "CONNECT [2001:db8::1]:9000 HTTP/1.1\r\nHost: [2001:db8::1]:9000\r\n\r\n");
}

TEST(BuildConnectRequest, WithCredentials) {
  ProxyConfig proxy;
  ASSERT_TRUE([&] {
    std::string error;
    return parse_proxy_url("http://Aladdin:open%20sesame@proxy:3128", proxy, error);
  }());
  // RFC 7617 2's example.
  EXPECT_EQ(build_connect_request(url("wss://[::1]"), proxy),
            "CONNECT [::1]:443 HTTP/1.1\r\nHost: [::1]:443\r\n"
            "Proxy-Authorization: Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==\r\n\r\n");

  ProxyConfig user_only;
  user_only.host = "proxy";
  user_only.port = 1;
  user_only.username = "user";
  EXPECT_EQ(build_connect_request(url("ws://h:1"), user_only),
            "CONNECT h:1 HTTP/1.1\r\nHost: h:1\r\nProxy-Authorization: Basic dXNlcjo=\r\n\r\n");

  // Credentials holding CR LF cannot break the request: they are base64-encoded.
  ProxyConfig evil = user_only;
  evil.password = "x\r\nX-Injected: 1";
  const std::string request = build_connect_request(url("ws://h"), evil);
  EXPECT_EQ(request.find("X-Injected"), std::string::npos);
  EXPECT_EQ(request.find("\r\n\r\n"), request.size() - 4);
}

// --- describe_proxy ------------------------------------------------------------------------------

TEST(DescribeProxy, RedactsCredentials) {
  ProxyConfig proxy;
  EXPECT_EQ(describe_proxy(proxy), "direct");
  proxy.host = "proxy.example";
  proxy.port = 3128;
  EXPECT_EQ(describe_proxy(proxy), "http://proxy.example:3128");
  proxy.username = "alice";
  proxy.password = "s3cret";
  EXPECT_EQ(describe_proxy(proxy), "http://alice:***@proxy.example:3128");
  proxy.username.clear();
  EXPECT_EQ(describe_proxy(proxy), "http://:***@proxy.example:3128");
  proxy.username = "alice";
  proxy.password.clear();
  EXPECT_EQ(describe_proxy(proxy), "http://alice:***@proxy.example:3128");
  // A user name cannot forge anything in a log line.
  proxy.username = "me@corp x\r\n:";
  EXPECT_EQ(describe_proxy(proxy), "http://me%40corp%20x%0D%0A%3A:***@proxy.example:3128");
  proxy.host = "::1";
  proxy.username = "a";
  EXPECT_EQ(describe_proxy(proxy), "http://a:***@[::1]:3128");
}

TEST(DescribeProxy, NeverShowsThePassword) {
  ProxyConfig proxy;
  std::string error;
  ASSERT_TRUE(parse_proxy_url("http://u:hunter2@p:8080", proxy, error)) << error;
  const std::string text = describe_proxy(proxy);
  EXPECT_EQ(text, "http://u:***@p:8080");
  EXPECT_EQ(text.find("hunter2"), std::string::npos);
}

// --- connect_reply_ok ----------------------------------------------------------------------------

protocol::HttpResponseHead head_of(const std::string& text) {
  protocol::HttpResponseHead head;
  std::size_t consumed = 0;
  const auto result =
      head.feed(reinterpret_cast<const std::uint8_t*>(text.data()), text.size(), &consumed);
  EXPECT_EQ(result, protocol::HttpResponseHead::Result::complete) << head.error();
  return head;
}

TEST(ConnectReplyOk, AnyTwoHundredOpensTheTunnel) {
  std::string error;
  EXPECT_TRUE(connect_reply_ok(head_of("HTTP/1.0 200 Connection established\r\n\r\n"), error));
  EXPECT_TRUE(connect_reply_ok(head_of("HTTP/1.1 200 OK\r\nProxy-Agent: x\r\n\r\n"), error));
  EXPECT_TRUE(connect_reply_ok(head_of("HTTP/1.1 204 No Content\r\n\r\n"), error));
  EXPECT_EQ(error, "");
}

TEST(ConnectReplyOk, OtherStatusesFail) {
  struct Case {
    std::string reply;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"HTTP/1.0 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic\r\n\r\n",
       "proxy CONNECT failed: HTTP/1.0 407 Proxy Authentication Required"},
      {"HTTP/1.0 401 Unauthorized\r\n\r\n", "proxy CONNECT failed: HTTP/1.0 401 Unauthorized"},
      {"HTTP/1.1 403 Forbidden\r\n\r\n", "proxy CONNECT failed: HTTP/1.1 403 Forbidden"},
      {"HTTP/1.1 502 Bad Gateway\r\n\r\n", "proxy CONNECT failed: HTTP/1.1 502 Bad Gateway"},
      {"HTTP/1.1 100 Continue\r\n\r\n", "proxy CONNECT failed: HTTP/1.1 100 Continue"},
      {"HTTP/1.1 301 Moved\r\n\r\n", "proxy CONNECT failed: HTTP/1.1 301 Moved"},
      {"HTTP/1.1 500\r\n\r\n", "proxy CONNECT failed: HTTP/1.1 500"},
  };
  for (const Case& c : cases) {
    std::string error;
    EXPECT_FALSE(connect_reply_ok(head_of(c.reply), error)) << c.reply;
    EXPECT_EQ(error, c.message);
  }
}

}  // namespace
}  // namespace tether::transport
