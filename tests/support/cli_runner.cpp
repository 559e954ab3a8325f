#include "support/cli_runner.hpp"

#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <termios.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

extern char** environ;

namespace tether::testing {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

std::string errno_text(const std::string& what) {
  return what + ": " + std::strerror(errno);
}

// --- flat JSON parser
// -----------------------------------------------------------------------------

class Parser {
 public:
  explicit Parser(std::string_view text) : text_(text) {}

  bool fail(const std::string& why) {
    if (error_.empty()) error_ = why + " at offset " + std::to_string(pos_);
    return false;
  }
  const std::string& error() const { return error_; }

  void skip_ws() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t' ||
                                   text_[pos_] == '\n' || text_[pos_] == '\r'))
      ++pos_;
  }
  bool at_end() const { return pos_ >= text_.size(); }
  bool consume(char c) {
    if (pos_ < text_.size() && text_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  char peek() const { return pos_ < text_.size() ? text_[pos_] : '\0'; }

  static void append_utf8(std::string& out, std::uint32_t cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }

  bool hex4(std::uint32_t& out) {
    if (pos_ + 4 > text_.size()) return fail("short \\u escape");
    out = 0;
    for (int i = 0; i < 4; ++i) {
      const char c = text_[pos_++];
      out <<= 4;
      if (c >= '0' && c <= '9')
        out |= static_cast<std::uint32_t>(c - '0');
      else if (c >= 'a' && c <= 'f')
        out |= static_cast<std::uint32_t>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F')
        out |= static_cast<std::uint32_t>(c - 'A' + 10);
      else
        return fail("bad hex digit in \\u escape");
    }
    return true;
  }

  bool string(std::string& out) {
    if (!consume('"')) return fail("expected '\"'");
    for (;;) {
      if (at_end()) return fail("unterminated string");
      const char c = text_[pos_++];
      if (c == '"') return true;
      if (static_cast<unsigned char>(c) < 0x20) return fail("control character in string");
      if (c != '\\') {
        out += c;
        continue;
      }
      if (at_end()) return fail("unterminated escape");
      const char e = text_[pos_++];
      switch (e) {
        case '"':
          out += '"';
          break;
        case '\\':
          out += '\\';
          break;
        case '/':
          out += '/';
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'n':
          out += '\n';
          break;
        case 'r':
          out += '\r';
          break;
        case 't':
          out += '\t';
          break;
        case 'u': {
          std::uint32_t cp = 0;
          if (!hex4(cp)) return false;
          if (cp >= 0xD800 && cp <= 0xDBFF && pos_ + 6 <= text_.size() && text_[pos_] == '\\' &&
              text_[pos_ + 1] == 'u') {
            const std::size_t save = pos_;
            pos_ += 2;
            std::uint32_t low = 0;
            if (!hex4(low)) return false;
            if (low >= 0xDC00 && low <= 0xDFFF) {
              cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
            } else {
              pos_ = save;
            }
          }
          append_utf8(out, cp);
          break;
        }
        default:
          return fail(std::string("bad escape \\") + e);
      }
    }
  }

  bool number(JsonValue& value) {
    const std::size_t start = pos_;
    bool is_int = true;
    consume('-');
    if (peek() == '0') {
      ++pos_;
    } else if (peek() >= '1' && peek() <= '9') {
      while (peek() >= '0' && peek() <= '9') ++pos_;
    } else {
      return fail("bad number");
    }
    if (consume('.')) {
      is_int = false;
      if (!(peek() >= '0' && peek() <= '9')) return fail("bad fraction");
      while (peek() >= '0' && peek() <= '9') ++pos_;
    }
    if (peek() == 'e' || peek() == 'E') {
      is_int = false;
      ++pos_;
      if (peek() == '+' || peek() == '-') ++pos_;
      if (!(peek() >= '0' && peek() <= '9')) return fail("bad exponent");
      while (peek() >= '0' && peek() <= '9') ++pos_;
    }
    value.type = JsonValue::Type::number;
    value.text = std::string(text_.substr(start, pos_ - start));
    value.number = std::strtod(value.text.c_str(), nullptr);
    if (is_int) {
      errno = 0;
      const long long v = std::strtoll(value.text.c_str(), nullptr, 10);
      if (errno == 0) {
        value.integer = true;
        value.int_value = v;
      }
    }
    return true;
  }

  bool literal(std::string_view word) {
    if (text_.substr(pos_, word.size()) != word) return fail("bad literal");
    pos_ += word.size();
    return true;
  }

  bool value(JsonValue& v) {
    const char c = peek();
    if (c == '"') {
      v.type = JsonValue::Type::string;
      return string(v.text);
    }
    if (c == '-' || (c >= '0' && c <= '9')) return number(v);
    if (c == 't') {
      v.type = JsonValue::Type::boolean;
      v.boolean = true;
      return literal("true");
    }
    if (c == 'f') {
      v.type = JsonValue::Type::boolean;
      v.boolean = false;
      return literal("false");
    }
    if (c == 'n') {
      v.type = JsonValue::Type::null;
      return literal("null");
    }
    if (c == '{' || c == '[') return fail("nested object or array (only flat objects)");
    return fail("expected a value");
  }

 private:
  std::string_view text_;
  std::size_t pos_ = 0;
  std::string error_;
};

// --- child process
// ----------------------------------------------------------------------------------

bool is_proxy_variable(const std::string& name) {
  std::string lower = name;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return lower == "http_proxy" || lower == "https_proxy" || lower == "no_proxy" ||
         lower == "all_proxy";
}

std::vector<std::string> child_environment(const CliRunOptions& options) {
  std::vector<std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    const std::string entry = *e;
    const std::string key = entry.substr(0, entry.find('='));
    if (options.clear_proxy_env && is_proxy_variable(key)) continue;
    if (std::find(options.unset_env.begin(), options.unset_env.end(), key) !=
        options.unset_env.end())
      continue;
    bool replaced = false;
    for (const auto& [name, value] : options.env) replaced = replaced || name == key;
    if (!replaced) env.push_back(entry);
  }
  for (const auto& [name, value] : options.env) env.push_back(name + "=" + value);
  return env;
}

void close_fd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

void set_nonblocking(int fd) {
  const int flags = fcntl(fd, F_GETFL);
  if (flags >= 0) fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

/// Complete lines of `text` (the part after the last '\n' is left out).
std::vector<std::string_view> complete_lines(std::string_view text) {
  std::vector<std::string_view> lines;
  std::size_t start = 0;
  for (;;) {
    const auto nl = text.find('\n', start);
    if (nl == std::string_view::npos) break;
    lines.push_back(text.substr(start, nl - start));
    start = nl + 1;
  }
  return lines;
}

std::string clip(const std::string& text, std::size_t max) {
  if (text.size() <= max) return text;
  return text.substr(0, max / 2) + "\n[... " + std::to_string(text.size() - max) +
         " bytes left out ...]\n" + text.substr(text.size() - max / 2);
}

}  // namespace

// --- JsonObject ----------------------------------------------------------------------------------

std::optional<JsonObject> JsonObject::parse(std::string_view text, std::string* error) {
  Parser p(text);
  JsonObject object;
  object.source_ = std::string(text);
  auto failed = [&]() -> std::optional<JsonObject> {
    if (error != nullptr) *error = p.error();
    return std::nullopt;
  };
  p.skip_ws();
  if (!p.consume('{')) {
    p.fail("expected '{'");
    return failed();
  }
  p.skip_ws();
  if (!p.consume('}')) {
    for (;;) {
      p.skip_ws();
      std::string key;
      if (!p.string(key)) return failed();
      p.skip_ws();
      if (!p.consume(':')) {
        p.fail("expected ':'");
        return failed();
      }
      p.skip_ws();
      JsonValue value;
      if (!p.value(value)) return failed();
      if (object.values_.count(key) != 0) {
        p.fail("duplicate key \"" + key + "\"");
        return failed();
      }
      object.keys_.push_back(key);
      object.values_.emplace(std::move(key), std::move(value));
      p.skip_ws();
      if (p.consume(',')) continue;
      if (p.consume('}')) break;
      p.fail("expected ',' or '}'");
      return failed();
    }
  }
  p.skip_ws();
  if (!p.at_end()) {
    p.fail("text after the object");
    return failed();
  }
  return object;
}

const JsonValue* JsonObject::find(const std::string& key) const {
  const auto it = values_.find(key);
  return it == values_.end() ? nullptr : &it->second;
}

std::string JsonObject::str(const std::string& key) const {
  const JsonValue* v = find(key);
  return v != nullptr && v->is_string() ? v->text : std::string();
}

std::int64_t JsonObject::integer(const std::string& key, std::int64_t fallback) const {
  const JsonValue* v = find(key);
  return v != nullptr && v->is_integer() ? v->int_value : fallback;
}

std::optional<bool> JsonObject::boolean(const std::string& key) const {
  const JsonValue* v = find(key);
  if (v == nullptr || !v->is_bool()) return std::nullopt;
  return v->boolean;
}

bool JsonObject::is_null(const std::string& key) const {
  const JsonValue* v = find(key);
  return v != nullptr && v->is_null();
}

std::vector<std::string> split_lines(std::string_view text) {
  std::vector<std::string> lines;
  std::size_t start = 0;
  while (start < text.size()) {
    const auto nl = text.find('\n', start);
    if (nl == std::string_view::npos) {
      lines.emplace_back(text.substr(start));
      break;
    }
    lines.emplace_back(text.substr(start, nl - start));
    start = nl + 1;
  }
  return lines;
}

EventLogCheck parse_event_log(std::string_view log) {
  EventLogCheck check;
  if (!log.empty() && log.back() != '\n') {
    check.problems.push_back("the log does not end with a newline");
  }
  std::int64_t last_t = -1;
  std::size_t line_number = 0;
  for (const std::string& line : split_lines(log)) {
    ++line_number;
    const std::string where = "line " + std::to_string(line_number) + " '" + line + "': ";
    std::string error;
    auto object = JsonObject::parse(line, &error);
    if (!object) {
      check.problems.push_back(where + "not a flat JSON object (" + error + ")");
      continue;
    }
    CliEvent event;
    const JsonValue* name = object->find("event");
    const JsonValue* t = object->find("t_ms");
    if (name == nullptr || !name->is_string() || name->text.empty()) {
      check.problems.push_back(where + "no string \"event\"");
    } else {
      event.name = name->text;
    }
    if (t == nullptr || !t->is_integer() || t->int_value < 0) {
      check.problems.push_back(where + "no integer \"t_ms\" >= 0");
    } else {
      event.t_ms = t->int_value;
      if (event.t_ms < last_t) {
        check.problems.push_back(where + "t_ms goes back from " + std::to_string(last_t));
      }
      last_t = std::max(last_t, event.t_ms);
    }
    event.fields = std::move(*object);
    check.events.push_back(std::move(event));
  }
  return check;
}

std::string CliResult::describe() const {
  std::string s = "exit_code=" + std::to_string(exit_code);
  if (term_signal != 0) s += " signal=" + std::to_string(term_signal);
  if (timed_out) s += " TIMED OUT (killed)";
  s += " elapsed=" + std::to_string(elapsed.count()) + "ms\n--- stdout ---\n" + clip(out, 4000) +
       "\n--- stderr ---\n" + clip(err, 4000) + "\n--------------";
  return s;
}

// --- CliProcess ----------------------------------------------------------------------------------

CliProcess::CliProcess(std::string executable, std::vector<std::string> args,
                       CliRunOptions options) {
  std::vector<std::string> argv;
  argv.push_back(executable);
  for (auto& a : args) argv.push_back(std::move(a));
  std::vector<char*> arg_ptrs;
  for (auto& a : argv) arg_ptrs.push_back(a.data());
  arg_ptrs.push_back(nullptr);
  std::vector<std::string> env = child_environment(options);
  std::vector<char*> env_ptrs;
  for (auto& e : env) env_ptrs.push_back(e.data());
  env_ptrs.push_back(nullptr);

  int in[2] = {-1, -1};
  int out[2] = {-1, -1};
  int err[2] = {-1, -1};
  auto close_all = [&] {
    for (int* p : {in, out, err, wake_fd_}) {
      close_fd(p[0]);
      close_fd(p[1]);
    }
  };
  if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0 ||
      pipe2(wake_fd_, O_CLOEXEC | O_NONBLOCK) != 0) {
    const std::string why = errno_text("pipe2");
    close_all();
    throw std::runtime_error(why);
  }
  if (options.stderr_tty) {
    // err[0] is the terminal's master side (read here), err[1] its slave side (the child's fd 2).
    termios raw{};
    cfmakeraw(&raw);
    winsize size{};
    size.ws_row = 24;
    size.ws_col = options.tty_columns;
    if (openpty(&err[0], &err[1], nullptr, &raw, &size) != 0) {
      const std::string why = errno_text("openpty");
      close_all();
      throw std::runtime_error(why);
    }
    fcntl(err[0], F_SETFD, FD_CLOEXEC);
    fcntl(err[1], F_SETFD, FD_CLOEXEC);
  } else if (pipe2(err, O_CLOEXEC) != 0) {
    const std::string why = errno_text("pipe2");
    close_all();
    throw std::runtime_error(why);
  }

  long max_fd = sysconf(_SC_OPEN_MAX);
  if (max_fd < 0 || max_fd > 65536) max_fd = 65536;
  const pid_t parent = getpid();
  struct sigaction default_action {};
  default_action.sa_handler = SIG_DFL;
  sigset_t empty_mask;
  sigemptyset(&empty_mask);
  static constexpr char kExecFailed[] = "exec failed: ";
  const char* exe = argv[0].c_str();

  started_ = Clock::now();
  const pid_t pid = fork();
  if (pid < 0) {
    const std::string why = errno_text("fork");
    close_all();
    throw std::runtime_error(why);
  }
  if (pid == 0) {
    // Only async-signal-safe calls from here on.
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    for (int sig = 1; sig < NSIG; ++sig) {
      if (sig != SIGKILL && sig != SIGSTOP) sigaction(sig, &default_action, nullptr);
    }
    sigprocmask(SIG_SETMASK, &empty_mask, nullptr);
    if (dup2(in[0], 0) < 0 || dup2(out[1], 1) < 0 || dup2(err[1], 2) < 0) _exit(127);
#ifdef SYS_close_range
    if (syscall(SYS_close_range, 3U, ~0U, 0U) != 0)
#endif
    {
      for (long fd = 3; fd < max_fd; ++fd) ::close(static_cast<int>(fd));
    }
    execve(exe, arg_ptrs.data(), env_ptrs.data());
    ssize_t ignored = ::write(2, kExecFailed, sizeof kExecFailed - 1);
    ignored = ::write(2, exe, std::strlen(exe));
    ignored = ::write(2, "\n", 1);
    (void)ignored;
    _exit(127);
  }
  pid_ = pid;
  close_fd(in[0]);
  close_fd(out[1]);
  close_fd(err[1]);
  stdin_fd_ = in[1];
  stdout_fd_ = out[0];
  stderr_fd_ = err[0];
  set_nonblocking(stdin_fd_);
  set_nonblocking(stdout_fd_);
  set_nonblocking(stderr_fd_);
  io_thread_ = std::thread([this] { io_loop(); });
}

CliProcess::~CliProcess() {
  if (!result_) wait(milliseconds(0));
  close_fd(wake_fd_[0]);
  close_fd(wake_fd_[1]);
}

void CliProcess::wake() {
  const char byte = 1;
  ssize_t ignored = ::write(wake_fd_[1], &byte, 1);
  (void)ignored;
}

void CliProcess::io_loop() {
  // A write to a stdin whose reader is gone raises SIGPIPE for this thread: keep it blocked and
  // take it back after an EPIPE, so the test process never dies of it.
  sigset_t pipe_set;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_set, nullptr);
  const timespec no_wait{0, 0};

  char buf[65536];
  for (;;) {
    bool want_write = false;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (stop_io_) break;
      if (stdin_fd_ >= 0) {
        if (!pending_in_.empty()) {
          want_write = true;
        } else if (close_in_requested_) {
          close_fd(stdin_fd_);
        }
      }
    }
    pollfd fds[4];
    nfds_t n = 0;
    fds[n++] = {wake_fd_[0], POLLIN, 0};
    const nfds_t out_index = stdout_fd_ >= 0 ? n++ : 0;
    if (stdout_fd_ >= 0) fds[out_index] = {stdout_fd_, POLLIN, 0};
    const nfds_t err_index = stderr_fd_ >= 0 ? n++ : 0;
    if (stderr_fd_ >= 0) fds[err_index] = {stderr_fd_, POLLIN, 0};
    const nfds_t in_index = want_write ? n++ : 0;
    if (want_write) fds[in_index] = {stdin_fd_, POLLOUT, 0};

    const int ready = ::poll(fds, n, -1);
    if (ready < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (fds[0].revents != 0) {
      while (::read(wake_fd_[0], buf, sizeof buf) > 0) {
      }
    }
    auto drain = [&](nfds_t index, int& fd, std::string& into, bool& open_flag) {
      if (fd < 0 || index == 0 || fds[index].revents == 0) return;
      for (;;) {
        const ssize_t got = ::read(fd, buf, sizeof buf);
        if (got > 0) {
          std::lock_guard<std::mutex> lock(mutex_);
          into.append(buf, static_cast<std::size_t>(got));
          continue;
        }
        if (got < 0 && errno == EINTR) continue;
        if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
        close_fd(fd);  // EOF or error
        std::lock_guard<std::mutex> lock(mutex_);
        open_flag = false;
        break;
      }
      changed_.notify_all();
    };
    drain(out_index, stdout_fd_, out_, out_open_);
    drain(err_index, stderr_fd_, err_, err_open_);

    if (want_write && fds[in_index].revents != 0) {
      std::string chunk;
      {
        std::lock_guard<std::mutex> lock(mutex_);
        chunk = pending_in_.substr(0, 65536);
      }
      const ssize_t wrote = ::write(stdin_fd_, chunk.data(), chunk.size());
      if (wrote > 0) {
        std::lock_guard<std::mutex> lock(mutex_);
        pending_in_.erase(0, static_cast<std::size_t>(wrote));
      } else if (wrote < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        // EPIPE: the child no longer reads stdin; what it did not take is dropped.
        close_fd(stdin_fd_);
        sigtimedwait(&pipe_set, nullptr, &no_wait);
        std::lock_guard<std::mutex> lock(mutex_);
        pending_in_.clear();
      }
    }
  }
  close_fd(stdin_fd_);
  close_fd(stdout_fd_);
  close_fd(stderr_fd_);
  std::lock_guard<std::mutex> lock(mutex_);
  out_open_ = false;
  err_open_ = false;
  changed_.notify_all();
}

void CliProcess::write(std::string_view data) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (close_in_requested_) return;
    pending_in_.append(data);
  }
  wake();
}

void CliProcess::close_stdin() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    close_in_requested_ = true;
  }
  wake();
}

bool CliProcess::try_reap(int flags) {
  if (reaped_) return true;
  int status = 0;
  for (;;) {
    const pid_t r = waitpid(pid_, &status, flags);
    if (r == pid_) {
      reaped_ = true;
      wait_status_ = status;
      return true;
    }
    if (r < 0 && errno == EINTR) continue;
    return false;
  }
}

void CliProcess::signal(int sig) {
  if (!reaped_ && pid_ > 0) ::kill(pid_, sig);
}

bool CliProcess::running() {
  return !try_reap(WNOHANG);
}

std::string CliProcess::out() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return out_;
}

std::string CliProcess::err() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return err_;
}

bool CliProcess::wait_until(
    const std::function<bool(const std::string& out, const std::string& err)>& predicate,
    milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    if (predicate(out_, err_)) return true;
    if (!out_open_ && !err_open_) return false;
    if (changed_.wait_until(lock, deadline) == std::cv_status::timeout) {
      return predicate(out_, err_);
    }
  }
}

bool CliProcess::wait_for_out(std::string_view needle, milliseconds timeout) {
  return wait_until(
      [&](const std::string& o, const std::string&) { return o.find(needle) != std::string::npos; },
      timeout);
}

bool CliProcess::wait_for_err(std::string_view needle, milliseconds timeout) {
  return wait_until(
      [&](const std::string&, const std::string& e) { return e.find(needle) != std::string::npos; },
      timeout);
}

bool CliProcess::wait_for_event(std::string_view name, milliseconds timeout) {
  return wait_until(
      [&](const std::string&, const std::string& e) {
        for (std::string_view line : complete_lines(e)) {
          auto object = JsonObject::parse(line);
          if (object && object->str("event") == name) return true;
        }
        return false;
      },
      timeout);
}

CliResult CliProcess::wait(milliseconds timeout) {
  if (result_) return *result_;
  CliResult result;
  const auto deadline = Clock::now() + timeout;
  while (!try_reap(WNOHANG)) {
    if (Clock::now() >= deadline) {
      result.timed_out = true;
      ::kill(pid_, SIGKILL);
      try_reap(0);
      break;
    }
    std::this_thread::sleep_for(milliseconds(2));
  }
  result.elapsed = std::chrono::duration_cast<milliseconds>(Clock::now() - started_);
  if (WIFEXITED(wait_status_)) result.exit_code = WEXITSTATUS(wait_status_);
  if (WIFSIGNALED(wait_status_)) result.term_signal = WTERMSIG(wait_status_);

  // The child is gone: read what is left in the pipes (bounded: a grandchild could hold them).
  close_stdin();
  {
    std::unique_lock<std::mutex> lock(mutex_);
    changed_.wait_for(lock, std::chrono::seconds(2), [&] { return !out_open_ && !err_open_; });
    stop_io_ = true;
  }
  wake();
  if (io_thread_.joinable()) io_thread_.join();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    result.out = out_;
    result.err = err_;
  }
  result_ = result;
  return result;
}

CliResult run_cli(const std::string& executable, const std::vector<std::string>& args,
                  std::string_view input, bool close_stdin, milliseconds timeout,
                  const CliRunOptions& options) {
  CliProcess process(executable, args, options);
  if (!input.empty()) process.write(input);
  if (close_stdin) process.close_stdin();
  return process.wait(timeout);
}

}  // namespace tether::testing
