#include "cli_options.hpp"

#include <cerrno>
#include <cstdlib>
#include <string_view>

#include <tether/version.hpp>

namespace cli {

namespace {

bool parse_double(const std::string& text, double min, double max, double& out) {
  if (text.empty()) return false;
  errno = 0;
  char* end = nullptr;
  const double value = std::strtod(text.c_str(), &end);
  if (errno != 0 || *end != '\0' || !(value >= min && value <= max)) return false;
  out = value;
  return true;
}

bool parse_integer(const std::string& text, long long min, long long max, long long& out) {
  if (text.empty()) return false;
  errno = 0;
  char* end = nullptr;
  const long long value = std::strtoll(text.c_str(), &end, 10);
  if (errno != 0 || *end != '\0' || value < min || value > max) return false;
  out = value;
  return true;
}

}  // namespace

const char* usage_text() {
  return "usage: tether-cli [options] URL\n"
         "\n"
         "Connects to a ws:// or wss:// URL, sends each stdin line as a text message and prints\n"
         "each received message on stdout. On a terminal, stderr ends with a live status line\n"
         "(state, attempt, next retry, queue depth); --events replaces it with a JSON-lines log.\n"
         "Exit: 0 closed by the client (EOF, --count, a signal), 1 usage error, 2 gave up,\n"
         "3 the server closed with a code that means stop.\n"
         "\n"
         "  -H, --header \"Name: value\"   extra handshake header (repeatable)\n"
         "  -s, --subprotocol NAME       offered subprotocol (repeatable)\n"
         "      --ca FILE                PEM CA bundle trusted in addition to the system store\n"
         "      --insecure               accept any server certificate\n"
         "      --proxy URL              HTTP CONNECT proxy (default: the environment)\n"
         "      --connect-timeout MS     DNS + TCP + TLS + upgrade, default 10000 (0 = none)\n"
         "      --backoff-initial MS     default 500\n"
         "      --backoff-max MS         default 30000\n"
         "      --backoff-multiplier X   default 2.0 (>= 1)\n"
         "      --jitter F               0..1, default 0.5\n"
         "      --min-uptime MS          ready this long before the backoff resets, default 5000\n"
         "      --max-retries N          retries per outage; -1 = forever (default)\n"
         "      --no-reconnect\n"
         "      --ping-interval MS       0 = off, default 20000\n"
         "      --pong-timeout MS        default 10000\n"
         "      --max-message BYTES      largest inbound message, default 16777216\n"
         "      --auth-token TOKEN       first-message auth after every open\n"
         "      --auth-timeout MS        default 10000 (0 = none)\n"
         "      --queue-max N            messages waiting to be sent, default 10000 (>= 1)\n"
         "      --queue-overflow P       reject | drop-oldest | drop-newest (default reject)\n"
         "      --request                each stdin line {\"type\":T,\"payload\":P} is sent as a\n"
         "                               request; each result is printed as one JSON line\n"
         "      --request-timeout MS     default 10000 (0 = none)\n"
         "      --retry-requests         re-send requests pending at a disconnect (same id)\n"
         "      --subscribe CHANNEL      subscribe after every (re)open (repeatable)\n"
         "      --events                 JSON-lines event log on stderr\n"
         "      --stay                   keep running after stdin EOF\n"
         "      --count N                exit after N received data messages (responses included)\n"
         "      --hex                    print binary messages as hex\n"
         "      --version, --help\n";
}

ParseResult parse_command_line(int argc, char** argv, CliOptions& out, std::string& message) {
  std::string url;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&](std::string& into) {
      if (i + 1 >= argc) {
        message = "option " + arg + " needs a value";
        return false;
      }
      into = argv[++i];
      return true;
    };
    std::string v;
    if (arg == "--help" || arg == "-h") {
      message = usage_text();
      return ParseResult::exit_ok;
    } else if (arg == "--version") {
      message = std::string("tether-cli ") + TETHER_VERSION_STRING + "\n";
      return ParseResult::exit_ok;
    } else if (arg == "-H" || arg == "--header") {
      if (!value(v)) return ParseResult::usage_error;
      const auto colon = v.find(':');
      if (colon == std::string::npos || colon == 0) {
        message = "invalid header '" + v + "' (expected \"Name: value\")";
        return ParseResult::usage_error;
      }
      std::string name = v.substr(0, colon);
      std::string rest = v.substr(colon + 1);
      const auto first = rest.find_first_not_of(" \t");
      rest = first == std::string::npos ? "" : rest.substr(first);
      out.client.headers.emplace_back(name, rest);
    } else if (arg == "-s" || arg == "--subprotocol") {
      if (!value(v)) return ParseResult::usage_error;
      if (v.empty()) {
        message = "empty subprotocol";
        return ParseResult::usage_error;
      }
      out.client.subprotocols.push_back(v);
    } else if (arg == "--ca") {
      if (!value(out.client.tls.ca_file)) return ParseResult::usage_error;
    } else if (arg == "--insecure") {
      out.client.tls.insecure = true;
    } else if (arg == "--proxy") {
      if (!value(out.client.proxy)) return ParseResult::usage_error;
      if (out.client.proxy.empty()) out.client.proxy = "direct";
    } else if (arg == "--connect-timeout") {
      long long ms = 0;
      if (!value(v)) return ParseResult::usage_error;
      if (!parse_integer(v, 0, 86400000LL, ms)) {
        message = "invalid --connect-timeout '" + v + "' (milliseconds, >= 0)";
        return ParseResult::usage_error;
      }
      out.client.connect_timeout = std::chrono::milliseconds(ms);
    } else if (arg == "--backoff-initial" || arg == "--backoff-max" || arg == "--min-uptime" ||
               arg == "--ping-interval" || arg == "--pong-timeout") {
      long long ms = 0;
      if (!value(v)) return ParseResult::usage_error;
      const long long min = arg == "--pong-timeout" ? 1 : 0;
      if (!parse_integer(v, min, 86400000LL, ms)) {
        message = "invalid " + arg + " '" + v + "' (milliseconds, >= " + std::to_string(min) + ")";
        return ParseResult::usage_error;
      }
      const std::chrono::milliseconds d(ms);
      if (arg == "--backoff-initial") out.client.reconnect.initial = d;
      if (arg == "--backoff-max") out.client.reconnect.max = d;
      if (arg == "--min-uptime") out.client.reconnect.min_uptime = d;
      if (arg == "--ping-interval") out.client.heartbeat.ping_interval = d;
      if (arg == "--pong-timeout") out.client.heartbeat.pong_timeout = d;
    } else if (arg == "--backoff-multiplier") {
      if (!value(v)) return ParseResult::usage_error;
      if (!parse_double(v, 1.0, 1000.0, out.client.reconnect.multiplier)) {
        message = "invalid --backoff-multiplier '" + v + "' (>= 1)";
        return ParseResult::usage_error;
      }
    } else if (arg == "--jitter") {
      if (!value(v)) return ParseResult::usage_error;
      if (!parse_double(v, 0.0, 1.0, out.client.reconnect.jitter)) {
        message = "invalid --jitter '" + v + "' (0..1)";
        return ParseResult::usage_error;
      }
    } else if (arg == "--max-retries") {
      long long n = 0;
      if (!value(v)) return ParseResult::usage_error;
      if (!parse_integer(v, -1, 1000000000LL, n)) {
        message = "invalid --max-retries '" + v + "' (-1 = forever, or >= 0)";
        return ParseResult::usage_error;
      }
      out.client.reconnect.max_retries = static_cast<int>(n);
    } else if (arg == "--no-reconnect") {
      out.client.reconnect.enabled = false;
    } else if (arg == "--max-message") {
      long long bytes = 0;
      if (!value(v)) return ParseResult::usage_error;
      if (!parse_integer(v, 1, 1LL << 40, bytes)) {
        message = "invalid --max-message '" + v + "' (bytes, >= 1)";
        return ParseResult::usage_error;
      }
      out.client.max_message = static_cast<std::size_t>(bytes);
    } else if (arg == "--auth-token") {
      if (!value(v)) return ParseResult::usage_error;
      if (v.empty()) {
        message = "empty --auth-token";
        return ParseResult::usage_error;
      }
      out.client.auth.token = v;
      out.client.auth.first_message = true;
    } else if (arg == "--auth-timeout") {
      long long ms = 0;
      if (!value(v)) return ParseResult::usage_error;
      if (!parse_integer(v, 0, 86400000LL, ms)) {
        message = "invalid --auth-timeout '" + v + "' (milliseconds, >= 0)";
        return ParseResult::usage_error;
      }
      out.client.auth.timeout = std::chrono::milliseconds(ms);
    } else if (arg == "--queue-max") {
      long long n = 0;
      if (!value(v)) return ParseResult::usage_error;
      if (!parse_integer(v, 1, 1LL << 40, n)) {
        message = "invalid --queue-max '" + v + "' (messages, >= 1)";
        return ParseResult::usage_error;
      }
      out.client.queue.max_messages = static_cast<std::size_t>(n);
    } else if (arg == "--queue-overflow") {
      if (!value(v)) return ParseResult::usage_error;
      if (v == "reject") {
        out.client.queue.overflow = tether::OverflowPolicy::reject;
      } else if (v == "drop-oldest") {
        out.client.queue.overflow = tether::OverflowPolicy::drop_oldest;
      } else if (v == "drop-newest") {
        out.client.queue.overflow = tether::OverflowPolicy::drop_newest;
      } else {
        message = "invalid --queue-overflow '" + v + "' (reject, drop-oldest or drop-newest)";
        return ParseResult::usage_error;
      }
    } else if (arg == "--request") {
      out.request = true;
    } else if (arg == "--request-timeout") {
      long long ms = 0;
      if (!value(v)) return ParseResult::usage_error;
      if (!parse_integer(v, 0, 86400000LL, ms)) {
        message = "invalid --request-timeout '" + v + "' (milliseconds, >= 0)";
        return ParseResult::usage_error;
      }
      out.request_timeout = std::chrono::milliseconds(ms);
    } else if (arg == "--retry-requests") {
      out.retry_requests = true;
    } else if (arg == "--subscribe") {
      if (!value(v)) return ParseResult::usage_error;
      if (v.empty()) {
        message = "empty --subscribe channel";
        return ParseResult::usage_error;
      }
      out.subscriptions.push_back(v);
    } else if (arg == "--count") {
      if (!value(v)) return ParseResult::usage_error;
      if (!parse_integer(v, 1, 1LL << 62, out.count)) {
        message = "invalid --count '" + v + "' (>= 1)";
        return ParseResult::usage_error;
      }
    } else if (arg == "--events") {
      out.events = true;
    } else if (arg == "--stay") {
      out.stay = true;
    } else if (arg == "--hex") {
      out.hex = true;
    } else if (!arg.empty() && arg[0] == '-' && arg != "-") {
      message = "unknown option " + arg;
      return ParseResult::usage_error;
    } else if (url.empty()) {
      url = arg;
    } else {
      message = "more than one URL given";
      return ParseResult::usage_error;
    }
  }
  if (url.empty()) {
    message = "no URL given";
    return ParseResult::usage_error;
  }
  out.client.url = url;
  return ParseResult::run;
}

}  // namespace cli
