#pragma once

// The clients transport_bench compares. Each runs one mode of a Config and returns its Result;
// a mode an adapter does not implement is an error result naming it.

#include "bench_common.hpp"

namespace bench {

/// tether through its public Client API. `threading`: "loop" (callbacks on the runtime's loop
/// thread), "executor" (callbacks handed to an application thread) or "poll" (no loop thread; the
/// main thread calls Client::poll()).
Result run_tether(const Config& config, const std::string& threading);
/// A blocking TCP socket against run_tcp_echo(): the floor.
Result run_tcp(const Config& config);
/// A TCP echo (a thread per connection, blocking recv/send); prints `LISTENING <port>`.
int run_tcp_echo(const std::string& host, int port);
/// libwebsockets' own ws-role client (lws_service loop on the calling thread).
Result run_lws(const Config& config);
/// A WebSocket client over a blocking socket with blocking OpenSSL (SSL_set_fd) for wss://.
Result run_openssl(const Config& config);
#ifdef TETHER_BENCH_BEAST
/// Boost.Beast's websocket::stream, asynchronous, on one io_context.
Result run_beast(const Config& config);
#endif
#ifdef TETHER_BENCH_WEBSOCKETPP
/// websocketpp's asio client.
Result run_websocketpp(const Config& config);
#endif

/// A blocking TCP connection with TCP_NODELAY and send/receive timeouts; -1 with `error` set.
int tcp_connect(const std::string& host, const std::string& port, double timeout_s,
                std::string& error);
void set_nodelay(int fd);
/// Writes everything (blocking); false on an error.
bool send_all(int fd, const char* data, std::size_t n);

/// The error result of a mode an adapter does not implement.
Result unsupported(const Config& config);

}  // namespace bench
