// libFuzzer target for HTTP CONNECT proxies (built and run by scripts/fuzz.sh proxy).
//
// The first byte picks what the rest of the input is:
//   0: a proxy URL. A failure gives a one-line reason that never quotes the credentials; a
//      parsed proxy has a host and a port, describe_proxy() never shows the password, and the
//      CONNECT request built from it has exactly the expected lines (Proxy-Authorization only
//      with credentials; nothing injected).
//   1: the proxy's reply to CONNECT, fed in one piece and in chunks (same result either way);
//      a complete head opens the tunnel exactly when its status is 2xx, and a refusal names the
//      status line in one printable line.
//   2: a no_proxy list and a host: "*" matches everything, an empty list nothing, the host
//      itself listed matches, and names compare case-insensitively.
//   3: the environment (http_proxy, https_proxy, no_proxy and their upper-case forms) for a ws
//      and a wss target: a chosen proxy parses, an error names the variable.

#include <cctype>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_input.hpp"
#include "protocol/http_head.hpp"
#include "transport/proxy.hpp"
#include "transport/url.hpp"

namespace {

using tether::fuzz::check;
using tether::fuzz::no_controls;
using tether::fuzz::one_line;
using namespace tether::transport;
using tether::protocol::HttpResponseHead;

std::size_t count_lines(const std::string& text) {
  std::size_t lines = 0;
  for (std::size_t at = 0; (at = text.find("\r\n", at)) != std::string::npos; at += 2) ++lines;
  return lines;
}

Url parse_target(const char* text) {
  Url url;
  std::string error;
  check(parse_ws_url(text, url, error), "fixed target URL does not parse", error);
  return url;
}

void check_proxy_url(std::string_view text) {
  ProxyConfig config;
  config.host = "sentinel";
  std::string error;
  if (!parse_proxy_url(text, config, error)) {
    check(one_line(error), "proxy URL error not one line", error);
    check(config.host == "sentinel", "a failed proxy parse wrote its output");
    // Whatever precedes the last '@' may be a password: never in the error.
    const std::size_t at = text.rfind('@');
    if (at != std::string_view::npos) {
      std::string_view userinfo = text.substr(0, at);
      const std::size_t scheme = userinfo.find("://");
      if (scheme != std::string_view::npos) userinfo.remove_prefix(scheme + 3);
      // Only credentials with a byte no fixed error text holds, so none is mistaken for them.
      if (userinfo.size() >= 6 && userinfo.find_first_of("!$&=~_") != std::string_view::npos) {
        check(error.find(userinfo) == std::string::npos, "proxy URL error quotes credentials",
              error);
      }
    }
    return;
  }
  check(!config.host.empty() && config.port != 0, "proxy without host or port");
  check(config.username.find(':') == std::string::npos, "':' in a proxy user name");
  const std::string described = describe_proxy(config);
  check(one_line(described) && no_controls(described), "describe_proxy not one printable line",
        described);
  // Credentials: "http://" + the user name, percent-encoded + ":***@" + host and port. The
  // encoded part must decode to the user name exactly, so the password cannot hide in it.
  if (config.has_credentials()) {
    const std::size_t stars = described.rfind(":***@");
    check(stars != std::string::npos, "credentials not redacted", described);
    check(described.rfind("http://", 0) == 0, "description without http://", described);
    const std::string encoded = described.substr(7, stars - 7);
    std::string decoded;
    for (std::size_t i = 0; i < encoded.size(); ++i) {
      const char c = encoded[i];
      if (c == '%' && i + 2 < encoded.size() &&
          std::isxdigit(static_cast<unsigned char>(encoded[i + 1])) &&
          std::isxdigit(static_cast<unsigned char>(encoded[i + 2]))) {
        decoded += static_cast<char>(std::stoi(encoded.substr(i + 1, 2), nullptr, 16));
        i += 2;
      } else {
        check(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_' ||
                  c == '~',
              "user name in the description not percent-encoded", described);
        decoded += c;
      }
    }
    check(decoded == config.username, "description shows more than the user name", described);
    check(described.substr(stars + 5) == format_host_port(config.host, config.port),
          "description has more than host and port after the credentials", described);
  } else {
    check(described.find('@') == std::string::npos, "'@' in a description without credentials",
          described);
  }

  for (const char* target_text : {"ws://example.test/chat", "wss://[::1]:8443/"}) {
    const Url target = parse_target(target_text);
    const std::string request = build_connect_request(target, config);
    const std::size_t expected = 2 + (config.has_credentials() ? 1 : 0) + 1;
    check(count_lines(request) == expected, "CONNECT request has unexpected lines", request);
    check(request.find('\n') == request.find("\r\n") + 1, "bare LF in the CONNECT request");
    check(request.find('\0') == std::string::npos, "NUL in the CONNECT request");
    check(request.rfind("CONNECT " + target.authority() + " HTTP/1.1\r\n", 0) == 0,
          "CONNECT request line", request);
    check((request.find("Proxy-Authorization: Basic ") != std::string::npos) ==
              config.has_credentials(),
          "Proxy-Authorization present without credentials, or missing with them", request);
  }
}

struct ReplyOutcome {
  HttpResponseHead::Result result = HttpResponseHead::Result::need_more;
  std::size_t consumed = 0;
  bool ok = false;
  std::string error;
};

ReplyOutcome run_reply(std::string_view bytes, std::size_t chunk) {
  HttpResponseHead head(16 * 1024);
  const auto* p = reinterpret_cast<const std::uint8_t*>(bytes.data());
  ReplyOutcome out;
  std::size_t at = 0;
  while (at < bytes.size() && out.result == HttpResponseHead::Result::need_more) {
    const std::size_t n = chunk == 0 ? bytes.size() - at : std::min(chunk, bytes.size() - at);
    std::size_t consumed = 0;
    out.result = head.feed(p + at, n, &consumed);
    check(consumed <= n, "reply consumed more than fed");
    out.consumed = at + consumed;
    at += n;
  }
  if (out.result != HttpResponseHead::Result::complete) return out;
  out.ok = connect_reply_ok(head, out.error);
  const int status = head.status();
  check(out.ok == (status >= 200 && status <= 299),
        "tunnel opened for a non-2xx, or refused a 2xx");
  if (!out.ok) {
    check(one_line(out.error) && no_controls(out.error), "CONNECT refusal not one printable line",
          out.error);
    check(out.error.rfind("proxy CONNECT failed: ", 0) == 0, "CONNECT refusal prefix", out.error);
  }
  return out;
}

void check_reply(tether::fuzz::Input& in) {
  const std::size_t chunk = 1 + in.byte() % 7;
  const std::string_view bytes = in.rest();
  const ReplyOutcome a = run_reply(bytes, 0);
  const ReplyOutcome b = run_reply(bytes, chunk);
  check(a.result == b.result && a.ok == b.ok && a.error == b.error, "chunking changed the reply");
  if (a.result == HttpResponseHead::Result::complete) {
    check(a.consumed == b.consumed, "chunking changed where the reply ends");
  }
}

void check_no_proxy(tether::fuzz::Input& in) {
  const std::string list(in.bytes(200));
  const std::string host(in.bytes(60));
  const std::uint16_t port = in.u16();
  const bool matched = no_proxy_matches(list, host, port);
  check(no_proxy_matches(list, host, port) == matched, "no_proxy_matches not deterministic");
  check(!no_proxy_matches("", host, port), "an empty no_proxy matched");
  check(!no_proxy_matches(" , ,", host, port), "a no_proxy of separators matched");

  HostPort hp;
  std::string error;
  if (!parse_host_port(host, hp, error) || hp.port_explicit) return;
  check(no_proxy_matches("*", hp.host, port), "'*' did not match", hp.host);
  // The host as found in a URL: listed alone, or after other entries, it matches.
  check(no_proxy_matches(hp.host, hp.host, port), "a host does not match itself", hp.host);
  check(no_proxy_matches("other.invalid, " + hp.host, hp.host, port),
        "a host does not match itself in a list", hp.host);
  if (!hp.host_is_ip) {
    std::string upper = hp.host;
    for (char& c : upper) c = (c >= 'a' && c <= 'z') ? static_cast<char>(c - 32) : c;
    check(no_proxy_matches(upper, hp.host, port), "no_proxy is case-sensitive", upper);
    check(no_proxy_matches(list, upper, port) == no_proxy_matches(list, hp.host, port),
          "host case changed the no_proxy result", list);
    check(!no_proxy_matches("x" + hp.host, hp.host, port), "a longer name matched", hp.host);
  }
}

void check_environment(tether::fuzz::Input& in) {
  std::map<std::string, std::string> vars;
  for (const char* name :
       {"http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "no_proxy", "NO_PROXY"}) {
    if (in.flag()) vars[name] = std::string(in.bytes(80));
  }
  const EnvLookup env = [&vars](const char* name) -> std::optional<std::string> {
    const auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
  for (const char* target_text : {"ws://example.test/", "wss://127.0.0.1:8443/", "ws://[::1]/"}) {
    const Url target = parse_target(target_text);
    std::string error = "stale";
    const auto proxy = proxy_from_environment(target, env, &error);
    if (proxy) {
      check(error.empty(), "a proxy was chosen but error is set", error);
      check(!proxy->host.empty() && proxy->port != 0, "chosen proxy without host or port");
    } else if (!error.empty()) {
      check(one_line(error), "environment error not one line", error);
      check(error.rfind("http_proxy: ", 0) == 0 || error.rfind("HTTP_PROXY: ", 0) == 0 ||
                error.rfind("https_proxy: ", 0) == 0 || error.rfind("HTTPS_PROXY: ", 0) == 0,
            "environment error does not name the variable", error);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  tether::fuzz::Input in(data, size);
  switch (in.byte() % 4) {
    case 0:
      check_proxy_url(in.rest());
      break;
    case 1:
      check_reply(in);
      break;
    case 2:
      check_no_proxy(in);
      break;
    default:
      check_environment(in);
      break;
  }
  return 0;
}
