#pragma once

// The fault-injecting TCP proxy (tests/proxy/, README there) as a child process of a test: it
// listens on 127.0.0.1 with an ephemeral port and forwards to a target on loopback; faults are
// set with commands over its control port. Stopped by PID when the object goes away.

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "support/process.hpp"

namespace tether::testing {

/// One line of `list`: a connection through the proxy, open or ended.
struct ProxyConnection {
  std::uint64_t id = 0;
  std::string state;  ///< "connecting" (to the target), "open" or "closed".
  std::uint64_t c2s_in = 0, c2s_out = 0, c2s_discarded = 0;  ///< client → server bytes
  std::uint64_t s2c_in = 0, s2c_out = 0, s2c_discarded = 0;  ///< server → client bytes
  std::string c2s_mode, s2c_mode;                            ///< "pass", "blackhole" or "stall".
  bool upgraded = false;  ///< The server's response head (the 101) was forwarded.
  /// When the last fault took effect on it (steady_clock, which is CLOCK_MONOTONIC on Linux and
  /// so comparable across processes); empty when none did.
  std::optional<std::chrono::steady_clock::time_point> fault_at;
  std::string end;  ///< How it ended ("reset", "cut", "closed", ...); empty while open.
  std::optional<std::chrono::steady_clock::time_point> ended_at;  ///< When it ended.
  bool open() const { return state != "closed"; }
};

/// `stats`.
struct ProxyStats {
  std::uint64_t accepted = 0, refused = 0, active = 0, c2s = 0, s2c = 0;
  bool refusing = false;
};

class FaultProxy {
 public:
  /// Starts the proxy in front of `target_host:target_port` (throws ServerStartError).
  explicit FaultProxy(int target_port, const std::string& target_host = "127.0.0.1");
  ~FaultProxy();
  FaultProxy(const FaultProxy&) = delete;
  FaultProxy& operator=(const FaultProxy&) = delete;

  int port() const noexcept { return process_.port(); }
  int control_port() const noexcept { return control_port_; }
  /// "ws://127.0.0.1:<port><path>".
  std::string ws_url(const std::string& path = "/") const;

  /// Sends one command line and returns the reply (every line, the final `OK ...` included).
  /// Throws std::runtime_error on an `ERR` reply or when the proxy does not answer within 5 s.
  std::string command(const std::string& line);

  // Shorthands for the commands (grammar in tests/proxy/README.md); `options` is appended, e.g.
  // "dir=c2s on=next after=upgrade".
  void heal() { command("heal"); }
  void reset(const std::string& options = "") { command(join("reset", options)); }
  void blackhole(const std::string& options = "") { command(join("blackhole", options)); }
  void stall(const std::string& options = "") { command(join("stall", options)); }
  void stall_upgrade(const std::string& options = "") { command(join("stall_upgrade", options)); }
  void latency(int ms, const std::string& options = "") {
    command(join("latency " + std::to_string(ms), options));
  }
  void throttle(std::uint64_t bytes_per_s, const std::string& options = "") {
    command(join("throttle " + std::to_string(bytes_per_s), options));
  }
  void cut_after(std::uint64_t bytes, const std::string& options = "") {
    command(join("cut_after " + std::to_string(bytes), options));
  }
  /// `refuse SECONDS how=close|rst|ignore`; 0 s = until accept() or heal().
  void refuse(double seconds, const std::string& how = "close");
  void accept() { command("accept"); }

  /// Every connection so far (the last 1000 ended ones), by id.
  std::vector<ProxyConnection> connections();
  std::optional<ProxyConnection> connection(std::uint64_t id);
  ProxyStats stats();
  /// Polls `list` until `condition` holds (true) or `timeout` passes (false).
  bool wait_for(const std::function<bool(const std::vector<ProxyConnection>&)>& condition,
                std::chrono::milliseconds timeout = std::chrono::seconds(10));

  /// Stops the proxy (every connection through it ends) and starts it again on the same listen
  /// port, with no faults; the control port is found again.
  void restart();

  ServerProcess& process() noexcept { return process_; }
  std::string log() const { return process_.log(); }

 private:
  static std::string join(const std::string& head, const std::string& tail) {
    return tail.empty() ? head : head + " " + tail;
  }
  void read_control_port();
  void connect_control();
  void disconnect_control() noexcept;

  ServerProcess process_;
  int control_port_ = 0;
  int control_fd_ = -1;
  std::string pending_;  ///< Received bytes after the last reply.
};

/// Parses one `CONN ...` line of `list` (std::nullopt when it is not one).
std::optional<ProxyConnection> parse_proxy_connection(const std::string& line);

}  // namespace tether::testing
