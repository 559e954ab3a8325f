#pragma once

// Runs a command-line program (tether-cli) the way a user or a script would: argv, a pipe on
// stdin (lines written, then closed for EOF), stdout and stderr captured separately, an optional
// environment change, a bounded wait for the exit (SIGKILL by PID after it). Also a minimal
// parser for the flat JSON objects of the `--events` log.

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace tether::testing {

// --- flat JSON
// ------------------------------------------------------------------------------------

/// A JSON scalar: string, number, boolean or null.
struct JsonValue {
  enum class Type { string, number, boolean, null };
  Type type = Type::null;
  std::string text;      ///< The decoded string, or a number's literal text.
  bool boolean = false;  ///< For booleans.
  bool integer = false;  ///< A number without fraction or exponent that fits in int64.
  std::int64_t int_value = 0;
  double number = 0;  ///< For numbers.

  bool is_string() const noexcept { return type == Type::string; }
  bool is_number() const noexcept { return type == Type::number; }
  bool is_integer() const noexcept { return type == Type::number && integer; }
  bool is_bool() const noexcept { return type == Type::boolean; }
  bool is_null() const noexcept { return type == Type::null; }
};

/// A JSON object whose values are all scalars; keys in the order they appeared.
class JsonObject {
 public:
  /// Parses exactly one flat object (surrounding whitespace allowed). Nested objects or arrays,
  /// duplicate keys, trailing text or any syntax error: std::nullopt, with the reason in `error`.
  static std::optional<JsonObject> parse(std::string_view text, std::string* error = nullptr);

  bool has(const std::string& key) const { return values_.count(key) != 0; }
  /// The value, or nullptr.
  const JsonValue* find(const std::string& key) const;
  /// The string value, or "" when absent or not a string.
  std::string str(const std::string& key) const;
  /// The integer value, or `fallback` when absent or not an integer.
  std::int64_t integer(const std::string& key, std::int64_t fallback = -1) const;
  /// The boolean value, or std::nullopt when absent or not a boolean.
  std::optional<bool> boolean(const std::string& key) const;
  bool is_null(const std::string& key) const;

  const std::vector<std::string>& keys() const noexcept { return keys_; }
  /// The line this object was parsed from.
  const std::string& source() const noexcept { return source_; }

 private:
  std::map<std::string, JsonValue> values_;
  std::vector<std::string> keys_;
  std::string source_;
};

/// One `--events` line: {"event":NAME,"t_ms":T,...}.
struct CliEvent {
  std::string name;  ///< "event"
  std::int64_t t_ms = -1;
  JsonObject fields;  ///< The whole object, "event" and "t_ms" included.

  std::string str(const std::string& key) const { return fields.str(key); }
  std::int64_t integer(const std::string& key) const { return fields.integer(key); }
};

/// What parsing an `--events` log found.
struct EventLogCheck {
  std::vector<CliEvent> events;
  /// Every violation of the log's rules: a line that is not a flat JSON object, no string
  /// "event", no integer "t_ms" >= 0, t_ms going backwards, text after the last newline.
  std::vector<std::string> problems;
};

/// Splits `log` into lines and checks each as an event.
EventLogCheck parse_event_log(std::string_view log);

/// The lines of `text` (split at '\n'; a final line without '\n' is kept, "" gives none).
std::vector<std::string> split_lines(std::string_view text);

// --- running the program
// --------------------------------------------------------------------------

struct CliRunOptions {
  /// Set (replacing) in the child's environment.
  std::vector<std::pair<std::string, std::string>> env;
  /// Removed from the child's environment.
  std::vector<std::string> unset_env;
  /// Remove http_proxy, https_proxy, no_proxy, all_proxy (both cases) before applying `env`, so
  /// the developer's environment never routes a test through a proxy.
  bool clear_proxy_env = true;
  /// Give the child a pseudo-terminal as stderr instead of a pipe (raw output: no line-ending
  /// translation), `tty_columns` wide; CliProcess::err() then holds the bytes drawn on it.
  bool stderr_tty = false;
  unsigned short tty_columns = 200;
};

/// The end of a run.
struct CliResult {
  int exit_code = -1;                    ///< -1 when killed by a signal.
  int term_signal = 0;                   ///< The signal that ended the child, else 0.
  bool timed_out = false;                ///< wait() ran out of time and killed the child.
  std::string out;                       ///< Everything on stdout.
  std::string err;                       ///< Everything on stderr.
  std::chrono::milliseconds elapsed{0};  ///< From start to exit.

  std::vector<std::string> out_lines() const { return split_lines(out); }
  std::vector<std::string> err_lines() const { return split_lines(err); }
  /// A summary for assertion messages: exit status, elapsed time, stdout and stderr.
  std::string describe() const;
};

/// One running child. Started by the constructor (from the calling thread: the child gets
/// PR_SET_PDEATHSIG, so start it from a thread that outlives it, e.g. the test's). A thread of
/// this object feeds stdin and reads stdout and stderr with poll(), so the child never blocks on
/// a full pipe. The destructor kills (SIGKILL) and reaps a child still running.
class CliProcess {
 public:
  CliProcess(std::string executable, std::vector<std::string> args, CliRunOptions options = {});
  ~CliProcess();
  CliProcess(const CliProcess&) = delete;
  CliProcess& operator=(const CliProcess&) = delete;

  pid_t pid() const noexcept { return pid_; }

  /// Queues bytes for stdin (written as the child reads them). Ignored after close_stdin().
  void write(std::string_view data);
  /// write(line + "\n").
  void write_line(std::string_view line) { write(std::string(line) + "\n"); }
  /// Closes stdin (EOF for the child) once everything queued has been written.
  void close_stdin();

  /// Sends `sig` to the child's PID (no-op once it has been reaped).
  void signal(int sig);
  /// The child has not exited yet.
  bool running();

  /// Snapshots of what the child printed so far.
  std::string out() const;
  std::string err() const;

  /// Waits until `predicate(stdout, stderr)` holds (true) or `timeout` passes or the child has
  /// exited and its pipes are closed (false).
  bool wait_until(
      const std::function<bool(const std::string& out, const std::string& err)>& predicate,
      std::chrono::milliseconds timeout);
  bool wait_for_out(std::string_view needle, std::chrono::milliseconds timeout);
  bool wait_for_err(std::string_view needle, std::chrono::milliseconds timeout);
  /// Waits for a complete stderr line that is an event named `name` (with --events).
  bool wait_for_event(std::string_view name, std::chrono::milliseconds timeout);

  /// Waits for the exit; after `timeout` sends SIGKILL to the PID and reports timed_out. Then
  /// reads the pipes to their end (bounded) and returns everything. Idempotent: a second call
  /// returns the same result.
  CliResult wait(std::chrono::milliseconds timeout = std::chrono::seconds(10));

 private:
  void io_loop();
  void wake();
  bool try_reap(int flags);

  pid_t pid_ = -1;
  int stdin_fd_ = -1;  // owned by the I/O thread once started
  int stdout_fd_ = -1;
  int stderr_fd_ = -1;
  int wake_fd_[2] = {-1, -1};
  std::chrono::steady_clock::time_point started_;

  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::string pending_in_;
  bool close_in_requested_ = false;
  bool stop_io_ = false;
  bool out_open_ = true;
  bool err_open_ = true;
  std::string out_;
  std::string err_;
  std::thread io_thread_;

  bool reaped_ = false;
  int wait_status_ = 0;
  std::optional<CliResult> result_;
};

/// Runs `executable args...` with `input` on stdin (then EOF when `close_stdin`; otherwise stdin
/// stays open until the child exits) and waits up to `timeout` for it to exit.
CliResult run_cli(const std::string& executable, const std::vector<std::string>& args,
                  std::string_view input = {}, bool close_stdin = true,
                  std::chrono::milliseconds timeout = std::chrono::seconds(10),
                  const CliRunOptions& options = {});

}  // namespace tether::testing
