// libFuzzer target for WebSocket URL and host:port parsing (built and run by
// scripts/fuzz.sh url).
//
// The input is parsed as a ws:// or wss:// URL and as an authority ("host:port"). Aborts when:
//   - a failure leaves the output changed or gives no one-line reason, or quotes credentials;
//   - a parsed URL is not normalised: scheme ws/wss, `secure` matching it, a port in 1-65535
//     (the default when none is named), a lower-case host without brackets, a target starting
//     with '/' made only of printable ASCII without space or '#';
//   - a parsed URL, written back out, parses to the same fields (idempotence), and its
//     authority() parses back to the same host and port;
//   - parse_host_port with quote_input = false echoes the input.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_input.hpp"
#include "transport/url.hpp"

namespace {

using tether::fuzz::check;
using tether::fuzz::one_line;
using tether::transport::format_host_port;
using tether::transport::HostPort;
using tether::transport::parse_host_port;
using tether::transport::parse_ws_url;
using tether::transport::Url;

bool same(const Url& a, const Url& b) {
  return a.scheme == b.scheme && a.secure == b.secure && a.host == b.host &&
         a.host_is_ip == b.host_is_ip && a.ipv6 == b.ipv6 && a.port == b.port &&
         a.target == b.target;
}

void check_host(const std::string& host, bool ipv6, bool is_ip) {
  check(!host.empty(), "empty host");
  check(host.find_first_of("[]@/?# ") == std::string::npos, "host with a delimiter", host);
  for (const char c : host) check(!(c >= 'A' && c <= 'Z'), "host not lower-cased", host);
  if (ipv6) check(is_ip, "IPv6 but not an IP");
}

void check_url(std::string_view text) {
  Url url;
  url.host = "sentinel";
  std::string error;
  if (!parse_ws_url(text, url, error)) {
    check(one_line(error), "URL error not one line", error);
    check(url.host == "sentinel", "a failed parse wrote its output");
    // Credentials (between "//" and the last '@' of the authority) never appear in the error.
    const std::size_t slashes = text.find("//");
    if (slashes != std::string_view::npos) {
      const std::string_view after = text.substr(slashes + 2);
      const std::string_view authority = after.substr(0, after.find_first_of("/?#"));
      const std::size_t at = authority.rfind('@');
      // Only credentials with a byte no scheme can hold ('_', ':', '%', '!'), so that a scheme
      // quoted in the error cannot be mistaken for them.
      if (at != std::string_view::npos && at >= 6 &&
          authority.substr(0, at).find_first_of("_:%!") != std::string_view::npos) {
        check(error.find(authority.substr(0, at)) == std::string::npos,
              "URL error quotes credentials", error);
      }
    }
    return;
  }
  check(url.scheme == "ws" || url.scheme == "wss", "scheme not ws/wss", url.scheme);
  check(url.secure == (url.scheme == "wss"), "secure does not match the scheme");
  check(url.port != 0, "port 0");
  if (!url.port_explicit) check(url.port == (url.secure ? 443 : 80), "wrong default port");
  check_host(url.host, url.ipv6, url.host_is_ip);
  check(!url.target.empty() && url.target.front() == '/', "target does not start with '/'",
        url.target);
  for (const char c : url.target) {
    const auto u = static_cast<unsigned char>(c);
    check(u > 0x20 && u < 0x7f && c != '#', "target byte not allowed in a request line",
          url.target);
  }

  // Written back out, the URL parses to the same thing. The length limit is on the text given;
  // the written-out form (explicit port, bytes above 0x7F percent-encoded) of a URL near the
  // limit can pass it, and is then refused for its length alone.
  const std::string again_text = url.scheme + "://" + url.authority() + url.target;
  Url again;
  std::string again_error;
  if (again_text.size() > tether::transport::kMaxUrlBytes) {
    check(!parse_ws_url(again_text, again, again_error) &&
              again_error.compare(0, 13, "URL too long ") == 0,
          "an over-long normalised URL is not refused for its length", again_error);
  } else {
    check(parse_ws_url(again_text, again, again_error), "a normalised URL does not parse",
          again_text + " : " + again_error);
    check(same(url, again), "a normalised URL parses differently", again_text);
    check(again.port_explicit, "explicit port lost");
  }

  HostPort hp;
  std::string hp_error;
  check(parse_host_port(url.authority(), hp, hp_error), "authority() does not parse",
        url.authority() + " : " + hp_error);
  check(hp.host == url.host && hp.port == url.port && hp.ipv6 == url.ipv6 &&
            hp.host_is_ip == url.host_is_ip,
        "authority() parses differently", url.authority());
}

void check_authority(std::string_view text) {
  HostPort hp;
  hp.host = "sentinel";
  std::string error;
  if (!parse_host_port(text, hp, error)) {
    check(one_line(error), "host:port error not one line", error);
    check(hp.host == "sentinel", "a failed host:port parse wrote its output");
    std::string quiet_error;
    HostPort quiet;
    check(!parse_host_port(text, quiet, quiet_error, false), "quote_input changed the result");
    check(one_line(quiet_error), "quiet host:port error not one line", quiet_error);
    // An input with '_' or '%' cannot be mistaken for a fixed error text.
    if (text.size() >= 4 && text.find_first_of("_%") != std::string_view::npos) {
      check(quiet_error.find(text) == std::string::npos, "quote_input=false echoed the input",
            quiet_error);
    }
    return;
  }
  check_host(hp.host, hp.ipv6, hp.host_is_ip);
  if (hp.port_explicit) check(hp.port != 0, "explicit port 0");
  if (!hp.port_explicit) check(hp.port == 0, "port without port_explicit");
  const std::string formatted = format_host_port(hp.host, hp.port_explicit ? hp.port : 1);
  HostPort back;
  std::string back_error;
  check(parse_host_port(formatted, back, back_error), "format_host_port does not parse back",
        formatted + " : " + back_error);
  check(back.host == hp.host && back.ipv6 == hp.ipv6 && back.host_is_ip == hp.host_is_ip,
        "format_host_port parses back differently", formatted);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  check_url(text);
  check_authority(text);
  // The same text behind each scheme, so the fuzzer need not find one first.
  if (size < 4096) {
    check_url("ws://" + std::string(text));
    check_url("wss://" + std::string(text));
  }
  return 0;
}
