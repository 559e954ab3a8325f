// fault_proxy: a fault-injecting TCP proxy for tests, on loopback only.
//
//   fault_proxy --target 127.0.0.1:PORT [--listen-host ADDR] [--listen-port N]
//               [--control-port N]
//
// Prints `CONTROL <port>` then `LISTENING <port>` on stdout once bound. Commands (one per line,
// each answered by one `OK ...` or `ERR ...` line, after `CONN ...` lines for `list`) come on the
// control port or on stdin. See tests/proxy/README.md.

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "proxy_server.hpp"

namespace {

int usage(const char* message) {
  std::fprintf(stderr,
               "fault_proxy: %s\n"
               "usage: fault_proxy --target HOST:PORT [--listen-host ADDR] [--listen-port N] "
               "[--control-port N]\n",
               message);
  return 2;
}

bool parse_port(const std::string& text, int& port) {
  if (text.empty() || text.size() > 5) return false;
  int value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + (c - '0');
  }
  if (value > 65535) return false;
  port = value;
  return true;
}

/// "127.0.0.1:8080" or "[::1]:8080".
bool parse_host_port(const std::string& text, std::string& host, int& port) {
  const auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0) return false;
  host = text.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  return parse_port(text.substr(colon + 1), port) && port != 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);
  tether::proxy::ProxyOptions options;
  bool have_target = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (i + 1 >= argc) return usage(("missing value for " + arg).c_str());
    const std::string value = argv[++i];
    if (arg == "--target") {
      if (!parse_host_port(value, options.target_host, options.target_port)) {
        return usage("--target needs HOST:PORT");
      }
      have_target = true;
    } else if (arg == "--listen-host") {
      options.listen_host = value;
    } else if (arg == "--listen-port") {
      if (!parse_port(value, options.listen_port)) return usage("bad --listen-port");
    } else if (arg == "--control-port") {
      if (!parse_port(value, options.control_port)) return usage("bad --control-port");
    } else {
      return usage(("unknown option " + arg).c_str());
    }
  }
  if (!have_target) return usage("--target is required");
  tether::proxy::ProxyServer server(options);
  return server.run();
}
