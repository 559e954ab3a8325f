#pragma once

// fault_proxy's event loop: one thread, non-blocking sockets, level-triggered epoll. Accepts
// clients on the listen port, connects each one to the target, forwards bytes both ways through
// the faults the control commands set (tests/proxy/README.md).

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "fault_command.hpp"

namespace tether::proxy {

struct ProxyOptions {
  std::string listen_host = "127.0.0.1";
  int listen_port = 0;
  std::string target_host = "127.0.0.1";
  int target_port = 0;
  std::string control_host = "127.0.0.1";
  int control_port = 0;
};

class ProxyServer {
 public:
  explicit ProxyServer(ProxyOptions options);
  ~ProxyServer();
  ProxyServer(const ProxyServer&) = delete;
  ProxyServer& operator=(const ProxyServer&) = delete;

  /// Binds, prints `CONTROL <port>` then `LISTENING <port>` on stdout, and serves until `quit`
  /// or a signal. Returns the exit status (1 when a socket cannot be set up).
  int run();

 private:
  using Clock = std::chrono::steady_clock;

  struct Chunk {
    std::string data;
    std::size_t offset = 0;
    Clock::time_point release;
  };

  /// One direction: reads from its source side, writes to the other side.
  struct Flow {
    DirectionFault fault;
    std::deque<Chunk> queue;
    std::size_t queued = 0;
    std::uint64_t in = 0;         ///< Bytes read from the source.
    std::uint64_t out = 0;        ///< Bytes written to the destination.
    std::uint64_t discarded = 0;  ///< Bytes a blackhole threw away.
    bool eof = false;             ///< The source sent its FIN.
    bool shut = false;            ///< The FIN was forwarded.
    bool blocked = false;         ///< The last write would block.
    double tokens = 0;
    Clock::time_point refill;
  };

  struct Deferred {
    Trigger trigger;  ///< Absolute byte counts (relative ones resolved).
    Command command;
  };

  struct Connection {
    std::uint64_t id = 0;
    int fd[2] = {-1, -1};  ///< 0: the client side, 1: the server side.
    std::uint32_t interest[2] = {0, 0};
    bool registered[2] = {false, false};
    bool connecting = true;
    Flow flow[2];  ///< flow[0]: client to server; flow[1]: server to client.
    std::vector<Deferred> deferred;
    bool head_found = false;
    std::uint64_t head_end = 0;  ///< s2c offset just past the response head's blank line.
    std::uint32_t head_state = 0;
    bool was_blackholed = false;
    Clock::time_point opened;
    Clock::time_point fault_at;
    bool has_fault_at = false;
    Clock::time_point ended_at;
  };

  /// The fault state new connections start with.
  struct Template {
    DirectionFault flow[2];
    bool reset = false;
    std::vector<Deferred> deferred;
  };

  struct ControlClient {
    int fd = -1;
    std::string in;
    std::string out;
  };

  bool setup();
  void loop();
  int next_timeout_ms();

  void on_listener();
  void on_control_listener();
  void on_control_client(int fd, std::uint32_t events);
  void on_stdin();
  void on_side(std::uint64_t id, int side, std::uint32_t events);

  std::string execute(const std::string& line);
  std::string apply_fault(const Command& command);
  void apply_to_template(const Command& command, Template& tmpl);
  /// Applies now, or defers until the trigger (false when the connection ended).
  void apply_to_connection(Connection& conn, const Command& command);
  void apply_now(Connection& conn, const Command& command);
  void heal_connection(Connection& conn);
  std::string list(bool active_only) const;
  std::string stats() const;
  std::string describe(const Connection& conn, const std::string& state,
                       const std::string& end) const;

  void accept_one(int fd);
  /// Reads what the side has; false when the connection ended.
  bool read_side(Connection& conn, int side, bool drain);
  /// Writes what is due, applies triggers, forwards FINs; false when the connection ended.
  bool service(Connection& conn);
  bool write_flow(Connection& conn, int f);
  bool fire_triggers(Connection& conn);
  /// The largest write allowed in flow `f` before a trigger or cut is reached.
  std::uint64_t write_limit(const Connection& conn, int f) const;
  void update_interest(Connection& conn);
  void set_interest(Connection& conn, int side, std::uint32_t events);
  void close_side(Connection& conn, int side, bool rst);
  void end_connection(Connection& conn, const std::string& reason, bool rst);
  void scan_head(Connection& conn, const char* data, std::size_t n);
  bool refusing() const;

  ProxyOptions options_;
  int epoll_ = -1;
  int listener_ = -1;
  int control_listener_ = -1;
  bool listener_registered_ = false;
  bool stdin_open_ = false;
  std::string stdin_buffer_;
  bool quit_ = false;

  std::uint64_t next_id_ = 1;
  std::map<std::uint64_t, std::unique_ptr<Connection>> connections_;
  std::deque<std::string> ended_;  ///< `CONN ...` lines of ended connections (bounded).
  std::map<int, ControlClient> controls_;
  Template template_;
  std::vector<Command> next_;  ///< Commands for the next new connection only.

  bool refuse_ = false;
  bool refuse_forever_ = false;
  Clock::time_point refuse_until_;
  RefuseHow refuse_how_ = RefuseHow::close;

  std::uint64_t accepted_ = 0;
  std::uint64_t refused_ = 0;
  std::uint64_t total_c2s_ = 0;
  std::uint64_t total_s2c_ = 0;
  Clock::time_point started_;
};

}  // namespace tether::proxy
