#pragma once

// Child processes for the integration tests: servers started on 127.0.0.1 with ephemeral ports,
// stopped by PID, never outliving the test binary; plus temp dirs, ports and one-shot commands.
//
// A child gets PR_SET_PDEATHSIG SIGKILL. Linux delivers it when the *thread* that forked the child
// exits, so start servers from the test's main thread (or from a thread that outlives them).

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tether::testing {

/// A fresh directory under /tmp (mkdtemp), removed with everything in it on destruction (kept
/// when the environment sets TETHER_KEEP_TEST_DIRS=1, to read server logs after a failure).
class TempDir {
 public:
  /// Creates /tmp/<prefix>-XXXXXX; throws std::runtime_error on failure.
  explicit TempDir(std::string_view prefix = "tether-test");
  ~TempDir();
  TempDir(TempDir&& other) noexcept;
  TempDir& operator=(TempDir&& other) noexcept;
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const noexcept { return path_; }
  /// path() + "/" + name.
  std::string file(std::string_view name) const;
  /// Removes the directory now (idempotent).
  void remove() noexcept;

 private:
  std::string path_;
};

/// Writes (replaces) a file; throws std::runtime_error on failure.
void write_file(const std::string& path, std::string_view contents);
/// The whole file, or "" when it cannot be read.
std::string read_file(const std::string& path);

/// A TCP port that was free a moment ago on 127.0.0.1 (bind to port 0, read it, close), for
/// servers that cannot report the port they bound. Prefer servers that print it.
int free_port();

/// Polls until a TCP connection to host:port succeeds (true) or `timeout` passes (false).
bool wait_for_tcp(int port, std::chrono::milliseconds timeout,
                  const std::string& host = "127.0.0.1");

/// The PIDs of this process's children (zombies included): empty once every server is stopped.
std::vector<pid_t> child_processes();

struct CommandResult {
  int exit_code = -1;      ///< -1 when killed by a signal or timed out.
  bool timed_out = false;  ///< The command was killed after `timeout`.
  std::string output;      ///< stdout and stderr, interleaved.
};

/// Runs a command to completion (argv[0] is a path, or a name looked up in PATH), killing it
/// after `timeout`.
CommandResult run_command(const std::vector<std::string>& argv,
                          std::chrono::milliseconds timeout = std::chrono::seconds(60));

/// How start() knows that the server is ready.
enum class Readiness {
  port_line,  ///< A line of output contains `ready_text` followed by the port ("LISTENING 1234").
  log_line,   ///< A line of output contains `ready_text`; `port` is given.
  tcp_port,   ///< A TCP connection to 127.0.0.1:`port` succeeds.
  custom,     ///< `ready_check` returns true.
};

struct ProcessSpec {
  std::string name = "server";    ///< For messages and the log file name.
  std::vector<std::string> argv;  ///< argv[0]: a path, or a name looked up in PATH.
  std::vector<std::pair<std::string, std::string>> env;  ///< Added to (replacing) the environment.
  Readiness readiness = Readiness::port_line;
  std::string ready_text = "LISTENING ";
  int port = 0;  ///< Required for log_line and tcp_port; reported by port().
  std::function<bool()> ready_check;
  std::chrono::milliseconds ready_timeout{10000};
  std::chrono::milliseconds stop_timeout{3000};  ///< SIGTERM grace before SIGKILL.
  /// When a port_line server starts again (restart), the argument after this one is replaced by
  /// the port of the first run, so it comes back on the same port. Empty: argv is kept as is.
  std::string port_flag = "--port";
  /// Paths of other files the server logs to: appended to log() and to start errors.
  std::vector<std::string> extra_logs;
};

/// start() failed: the child exited, or was not ready in time (it has been killed). what() holds
/// the reason and the end of the server's output.
class ServerStartError : public std::runtime_error {
 public:
  ServerStartError(const std::string& what, bool exited, int wait_status, std::string log);
  /// The child exited (or died) before it was ready; false for a readiness timeout.
  bool exited() const noexcept { return exited_; }
  /// The exit code when the child exited normally, else -1.
  int exit_code() const noexcept;
  /// The signal that killed the child, else 0.
  int term_signal() const noexcept;
  /// The server's output.
  const std::string& log() const noexcept { return log_; }

 private:
  bool exited_;
  int wait_status_;
  std::string log_;
};

/// A server child process. Its stdout and stderr go to a log file in its own temp dir (dir()), so
/// a chatty server never blocks on a pipe. The child leads its own process group; signals go to
/// the group. Movable; the destructor stops the child and removes dir().
class ServerProcess {
 public:
  ServerProcess() = default;
  /// Does not start: call start().
  explicit ServerProcess(ProcessSpec spec);
  /// Adopts `dir` (configuration files written there beforehand) as dir().
  ServerProcess(ProcessSpec spec, TempDir dir);
  ~ServerProcess();
  ServerProcess(ServerProcess&& other) noexcept;
  ServerProcess& operator=(ServerProcess&& other) noexcept;
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  /// Starts the child and waits (bounded by ready_timeout) until it is ready; throws
  /// ServerStartError otherwise. Starting again after stop() reuses the port of the first run
  /// (see ProcessSpec::port_flag), retrying for a few seconds if the port is not free yet.
  void start();
  /// stop() then start(): the same server on the same port.
  void restart();
  /// SIGTERM (and SIGCONT, in case it is paused), up to stop_timeout, then SIGKILL; always reaps.
  /// Idempotent.
  void stop() noexcept;
  /// SIGKILL now, then reap. Idempotent.
  void kill_hard() noexcept;
  /// SIGSTOP / SIGCONT: the server stops reading and answering (half-open connections).
  void pause();
  void resume();

  /// The child is running (started and not yet exited).
  bool running() const noexcept;
  /// The port the server listens on (0 before the first start).
  int port() const noexcept { return port_; }
  /// The child's PID, or -1 when not running.
  pid_t pid() const noexcept { return pid_; }
  /// The raw wait status of the last child reaped, or -1.
  int last_wait_status() const noexcept { return last_status_; }
  const ProcessSpec& spec() const noexcept { return spec_; }
  /// The server's own temp dir (log, configuration files).
  const std::string& dir() const noexcept;
  std::string log_path() const;
  /// Everything the server printed, each run after a "=== start: <argv>" line, then the extra
  /// log files.
  std::string log() const;
  /// Polls the output until it contains `needle` (true) or `timeout` passes (false).
  /// With `current_run_only`, output of earlier runs (before restart) is ignored.
  bool wait_for_log(std::string_view needle,
                    std::chrono::milliseconds timeout = std::chrono::seconds(5),
                    bool current_run_only = false) const;
  /// How many times `needle` appears in the output.
  std::size_t count_in_log(std::string_view needle) const;

 private:
  void start_once(bool reuse_port);
  /// The child has exited (without reaping it).
  bool child_exited() const noexcept;
  void signal_group(int sig) const noexcept;
  void reap() noexcept;
  [[noreturn]] void fail_start(const std::string& reason);
  /// port_line: the port from the readiness line in the current run's output, or 0.
  int find_port_line() const;
  bool ready_now();

  ProcessSpec spec_;
  std::optional<TempDir> dir_;
  pid_t pid_ = -1;
  int port_ = 0;
  int last_status_ = -1;
  std::size_t run_offset_ = 0;  // log size when the current run started
};

}  // namespace tether::testing
