// The side-by-side benchmark driver: one connection's round-trip latency and echo throughput,
// connection cycles, and tether's own cases (requests, queue flush, reconnect, idle cost, many
// connections), through adapters with one interface. Prints one JSON line on stdout; see
// tests/bench/README.md and scripts/bench.sh.
//
//   transport_bench ADAPTER URL MODE COUNT SIZE [text|binary] [options]
//     ADAPTER  tether | tether-executor | tether-poll   tether's Client (ws:// or wss://),
//     callbacks
//                                        on the loop thread, through an executor, or from poll()
//              lws         libwebsockets' ws-role client (ws://)
//              openssl     a blocking-socket client, blocking OpenSSL for wss:// (ws:// too)
//              beast       Boost.Beast (ws://), when built with its headers
//              websocketpp websocketpp's asio client (ws://), when built with its headers
//              tcp         a blocking TCP socket to tcp://HOST:PORT of a --tcp-echo (the floor)
//     MODE     rtt: send one message, wait for its echo, COUNT times (after a warm-up)
//              flood: COUNT messages with at most a window of them in flight
//              connect: COUNT full cycles (connect, upgrade, close handshake)
//              request: COUNT requests to /app, a window of them pending (tether)
//              queue-flush: COUNT messages queued while the server is down, flushed on
//                      reconnect (tether, needs --server)
//              reconnect: COUNT server restarts, reconnect vs the scheduled delay (tether,
//                      needs --server)
//              idle: CPU and RSS while connected and idle (tether)
//              many: COUNT connections in one process, RSS per connection (tether)
//   options:
//     --cpu N              pin the process (every thread) to CPU N
//     --window N           flood, request: most messages in flight (default 1000)
//     --window-bytes B     flood: and at most this many payload bytes in flight (default 16 MiB,
//                          the default queue limit of a tether client)
//     --warmup N           rtt: round trips before the measured ones (default min(1000, COUNT))
//     --ca FILE            trust this PEM bundle too (wss)
//     --insecure           accept any server certificate (wss)
//     --duration S         rtt, flood (not tcp): stop sending after S seconds; COUNT is then
//                          the most sent (the result says how many were measured)
//     --idle-seconds S     idle: how long (default 10)
//     --server PATH        reconnect, queue-flush: the tether_test_server to start and restart
//     --server-cpu N       ...pinned to CPU N
//     --timeout S          give up after S seconds (default 120)
//
//   transport_bench --tcp-echo [--host ADDR] [--port N] [--cpu N]
//     a TCP echo (a thread per connection, blocking recv/send, TCP_NODELAY); prints
//     `LISTENING <port>` once bound, runs until killed.
//
// Every message carries its index as 16 hex digits at the start and its complement at the end
// (when it is long enough); each echo is checked for size, order and these marks, and the run
// fails unless every message came back.

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "adapters.hpp"

namespace bench {

Result unsupported(const Config& config) {
  Result result;
  result.error = "the " + config.adapter + " adapter has no " + config.mode + " mode";
  return result;
}

}  // namespace bench

namespace {

using bench::Config;
using bench::Result;

[[noreturn]] void usage() {
  std::fprintf(stderr,
               "usage: transport_bench ADAPTER URL MODE COUNT SIZE [text|binary]\n"
               "           [--cpu N] [--window N] [--window-bytes B] [--warmup N]\n"
               "           [--ca FILE] [--insecure] [--timeout S]\n"
               "           [--duration S] [--idle-seconds S] [--server PATH] [--server-cpu N]\n"
               "       ADAPTER: tether tether-executor tether-poll lws openssl tcp"
#ifdef TETHER_BENCH_BEAST
               " beast"
#endif
#ifdef TETHER_BENCH_WEBSOCKETPP
               " websocketpp"
#endif
               "\n"
               "       MODE: rtt flood connect request queue-flush reconnect idle many\n"
               "       transport_bench --tcp-echo [--host ADDR] [--port N] [--cpu N]\n");
  std::exit(2);
}


}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  Config config;
  std::vector<std::string> positional;
  bool tcp_echo = false;
  std::string echo_host = "127.0.0.1";
  std::uint64_t echo_port = 0;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    auto value = [&]() -> const char* {
      if (i + 1 >= args.size()) usage();
      return args[++i].c_str();
    };
    std::uint64_t n = 0;
    if (arg == "--tcp-echo") {
      tcp_echo = true;
    } else if (arg == "--host") {
      echo_host = value();
    } else if (arg == "--port") {
      if (!bench::parse_u64(value(), echo_port) || echo_port > 65535) usage();
    } else if (arg == "--cpu") {
      if (!bench::parse_u64(value(), n) || n > 1023) usage();
      config.cpu = static_cast<int>(n);
    } else if (arg == "--window") {
      if (!bench::parse_u64(value(), config.window) || config.window == 0) usage();
    } else if (arg == "--window-bytes") {
      if (!bench::parse_u64(value(), config.window_bytes)) usage();
    } else if (arg == "--warmup") {
      if (!bench::parse_u64(value(), config.warmup)) usage();
      config.warmup_set = true;
    } else if (arg == "--ca") {
      config.ca_file = value();
    } else if (arg == "--insecure") {
      config.insecure = true;
    } else if (arg == "--duration") {
      config.duration_s = std::atof(value());
      if (config.duration_s < 0) usage();
    } else if (arg == "--idle-seconds") {
      config.idle_s = std::atof(value());
      if (config.idle_s <= 0) usage();
    } else if (arg == "--server") {
      config.server = value();
    } else if (arg == "--server-cpu") {
      if (!bench::parse_u64(value(), n) || n > 1023) usage();
      config.server_cpu = static_cast<int>(n);
    } else if (arg == "--timeout") {
      config.timeout_s = std::atof(value());
      if (config.timeout_s <= 0) usage();
    } else if (arg.size() > 1 && arg[0] == '-') {
      usage();
    } else {
      positional.push_back(arg);
    }
  }
  if (!bench::pin_to_cpu(config.cpu)) return 1;
  if (tcp_echo) {
    if (!positional.empty()) usage();
    return bench::run_tcp_echo(echo_host, static_cast<int>(echo_port));
  }

  if (positional.size() != 5 && positional.size() != 6) usage();
  config.adapter = positional[0];
  config.url = positional[1];
  config.mode = positional[2];
  std::uint64_t size = 0;
  static const char* const kModes[] = {"rtt",         "flood",     "connect", "request",
                                       "queue-flush", "reconnect", "idle",    "many"};
  bool mode_ok = false;
  for (const char* mode : kModes) mode_ok = mode_ok || config.mode == mode;
  if (!mode_ok || !bench::parse_u64(positional[3].c_str(), config.count) || config.count == 0 ||
      !bench::parse_u64(positional[4].c_str(), size) || size > 0xFFFFFFFFu) {
    usage();
  }
  config.size = static_cast<std::size_t>(size);
  if (positional.size() == 6) {
    if (positional[5] != "text" && positional[5] != "binary") usage();
    config.binary = positional[5] == "binary";
  }
  if (!config.warmup_set) {
    config.warmup = std::min<std::uint64_t>(config.mode == "connect" ? 20 : 1000, config.count);
  }
  if (!config.rtt() && config.mode != "connect") config.warmup = 0;

  Result result;
  const std::string& a = config.adapter;
  if (a == "tether") {
    result = bench::run_tether(config, "loop");
  } else if (a == "tether-executor") {
    result = bench::run_tether(config, "executor");
  } else if (a == "tether-poll") {
    result = bench::run_tether(config, "poll");
  } else if (a == "tcp") {
    result = bench::run_tcp(config);
  } else if (a == "lws") {
    result = bench::run_lws(config);
  } else if (a == "openssl") {
    result = bench::run_openssl(config);
#ifdef TETHER_BENCH_BEAST
  } else if (a == "beast") {
    result = bench::run_beast(config);
#endif
#ifdef TETHER_BENCH_WEBSOCKETPP
  } else if (a == "websocketpp") {
    result = bench::run_websocketpp(config);
#endif
  } else {
    usage();
  }
  return bench::print_result(config, result);
}
