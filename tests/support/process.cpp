#include "support/process.hpp"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

extern char** environ;

namespace tether::testing {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

std::string errno_text(const std::string& what) {
  return what + ": " + std::strerror(errno);
}

void sleep_ms(int ms) {
  std::this_thread::sleep_for(milliseconds(ms));
}

/// argv[0] as a path: kept when it holds a '/', else looked up in PATH ("" when not found).
std::string resolve_executable(const std::string& name) {
  if (name.find('/') != std::string::npos) return name;
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    const std::string candidate = (dir.empty() ? "." : dir) + "/" + name;
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

std::vector<std::string> merged_environment(
    const std::vector<std::pair<std::string, std::string>>& additions) {
  std::vector<std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    const std::string entry = *e;
    const std::string key = entry.substr(0, entry.find('='));
    bool replaced = false;
    for (const auto& [name, value] : additions) replaced = replaced || name == key;
    if (!replaced) env.push_back(entry);
  }
  for (const auto& [name, value] : additions) env.push_back(name + "=" + value);
  return env;
}

/// Forks and execs `argv` with stdin from /dev/null and stdout + stderr on `out_fd`. The child
/// leads a new process group, dies with its parent (thread) and inherits no other descriptor,
/// signal disposition or mask. Everything the child needs is prepared before fork: only
/// async-signal-safe calls happen in it.
pid_t spawn(const std::vector<std::string>& argv,
            const std::vector<std::pair<std::string, std::string>>& env, int out_fd) {
  if (argv.empty()) throw std::invalid_argument("spawn: empty argv");
  const std::string exe = resolve_executable(argv[0]);
  if (exe.empty()) throw std::runtime_error("spawn: " + argv[0] + " not found in PATH");
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const std::vector<std::string> env_strings = merged_environment(env);
  std::vector<char*> envp;
  for (const auto& e : env_strings) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);

  const int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (devnull < 0) throw std::runtime_error(errno_text("open /dev/null"));
  long max_fd = sysconf(_SC_OPEN_MAX);
  if (max_fd < 0 || max_fd > 65536) max_fd = 65536;
  const pid_t parent = getpid();
  struct sigaction default_action {};
  default_action.sa_handler = SIG_DFL;
  sigset_t empty_mask;
  sigemptyset(&empty_mask);
  static constexpr char kExecFailed[] = "exec failed: ";

  const pid_t pid = fork();
  if (pid < 0) {
    const int saved = errno;
    close(devnull);
    errno = saved;
    throw std::runtime_error(errno_text("fork"));
  }
  if (pid == 0) {
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    for (int sig = 1; sig < NSIG; ++sig) {
      if (sig != SIGKILL && sig != SIGSTOP) sigaction(sig, &default_action, nullptr);
    }
    sigprocmask(SIG_SETMASK, &empty_mask, nullptr);
    if (dup2(devnull, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(out_fd, 2) < 0) _exit(127);
#ifdef SYS_close_range
    if (syscall(SYS_close_range, 3U, ~0U, 0U) != 0)
#endif
    {
      for (long fd = 3; fd < max_fd; ++fd) close(static_cast<int>(fd));
    }
    execve(exe.c_str(), args.data(), envp.data());
    const int err = errno;
    ssize_t ignored = write(2, kExecFailed, sizeof kExecFailed - 1);
    ignored = write(2, exe.c_str(), exe.size());
    ignored = write(2, "\n", 1);
    (void)ignored;
    _exit(err == ENOENT ? 127 : 126);
  }
  setpgid(pid, pid);  // also from the parent: signals to the group work as soon as fork returns
  close(devnull);
  return pid;
}

/// One attempt to connect to host:port within `timeout`.
bool tcp_connect_once(const std::string& host, int port, milliseconds timeout) {
  sockaddr_storage addr{};
  socklen_t len = 0;
  int family = AF_INET;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&addr);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&addr);
  if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<std::uint16_t>(port));
    len = sizeof(sockaddr_in);
  } else if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    family = AF_INET6;
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<std::uint16_t>(port));
    len = sizeof(sockaddr_in6);
  } else {
    throw std::invalid_argument("wait_for_tcp: not an IP literal: " + host);
  }
  const int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), len) == 0;
  if (!ok && errno == EINPROGRESS) {
    pollfd p{fd, POLLOUT, 0};
    if (poll(&p, 1, static_cast<int>(timeout.count())) == 1) {
      int err = 0;
      socklen_t err_len = sizeof err;
      ok = getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &err_len) == 0 && err == 0;
    }
  }
  close(fd);
  return ok;
}

std::string describe_status(int status) {
  if (status < 0) return "not reaped";
  if (WIFEXITED(status)) return "exit code " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return std::string("killed by ") + strsignal(WTERMSIG(status));
  return "wait status " + std::to_string(status);
}

std::string tail(const std::string& s, std::size_t n) {
  return s.size() <= n ? s : "..." + s.substr(s.size() - n);
}

std::string join(const std::vector<std::string>& parts) {
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : " ") + p;
  return out;
}

/// The process state letter from /proc/<pid>/stat ('R', 'S', 'T', 'Z'...), or 0.
char process_state(pid_t pid) {
  const std::string stat = read_file("/proc/" + std::to_string(pid) + "/stat");
  const auto paren = stat.rfind(')');
  if (paren == std::string::npos || paren + 2 >= stat.size()) return 0;
  return stat[paren + 2];
}

}  // namespace

// --- TempDir -------------------------------------------------------------------------------------

TempDir::TempDir(std::string_view prefix) {
  std::string pattern = "/tmp/" + std::string(prefix) + "-XXXXXX";
  std::vector<char> buf(pattern.begin(), pattern.end());
  buf.push_back('\0');
  if (mkdtemp(buf.data()) == nullptr) throw std::runtime_error(errno_text("mkdtemp " + pattern));
  path_ = buf.data();
}

TempDir::~TempDir() {
  remove();
}

TempDir::TempDir(TempDir&& other) noexcept : path_(std::exchange(other.path_, {})) {}

TempDir& TempDir::operator=(TempDir&& other) noexcept {
  if (this != &other) {
    remove();
    path_ = std::exchange(other.path_, {});
  }
  return *this;
}

std::string TempDir::file(std::string_view name) const {
  return path_ + "/" + std::string(name);
}

void TempDir::remove() noexcept {
  if (path_.empty()) return;
  const char* keep = std::getenv("TETHER_KEEP_TEST_DIRS");
  std::error_code ec;
  if (keep == nullptr || *keep == '\0' || *keep == '0') std::filesystem::remove_all(path_, ec);
  path_.clear();
}

// --- files, ports, processes ---------------------------------------------------------------------

void write_file(const std::string& path, std::string_view contents) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(contents.data(), static_cast<std::streamsize>(contents.size()));
  out.close();
  if (!out) throw std::runtime_error("cannot write " + path);
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "";
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int free_port() {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error(errno_text("free_port: socket"));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    const std::string message = errno_text("free_port: bind");
    close(fd);
    throw std::runtime_error(message);
  }
  close(fd);
  return ntohs(addr.sin_port);
}

bool wait_for_tcp(int port, milliseconds timeout, const std::string& host) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
    if (tcp_connect_once(host, port, std::clamp(left, milliseconds(1), milliseconds(200)))) {
      return true;
    }
    if (Clock::now() >= deadline) return false;
    sleep_ms(10);
  }
}

std::vector<pid_t> child_processes() {
  std::vector<pid_t> children;
  const pid_t self = getpid();
  DIR* proc = opendir("/proc");
  if (proc == nullptr) return children;
  while (const dirent* entry = readdir(proc)) {
    char* end = nullptr;
    const long pid = std::strtol(entry->d_name, &end, 10);
    if (pid <= 0 || *end != '\0') continue;
    const std::string stat = read_file(std::string("/proc/") + entry->d_name + "/stat");
    const auto paren = stat.rfind(')');
    if (paren == std::string::npos) continue;
    char state = 0;
    long ppid = 0;
    if (std::sscanf(stat.c_str() + paren + 1, " %c %ld", &state, &ppid) == 2 && ppid == self) {
      children.push_back(static_cast<pid_t>(pid));
    }
  }
  closedir(proc);
  return children;
}

CommandResult run_command(const std::vector<std::string>& argv, milliseconds timeout) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error(errno_text("pipe2"));
  pid_t pid;
  try {
    pid = spawn(argv, {}, fds[1]);
  } catch (...) {
    close(fds[0]);
    close(fds[1]);
    throw;
  }
  close(fds[1]);
  CommandResult result;
  const auto deadline = Clock::now() + timeout;
  auto left_ms = [&] {
    const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
    return static_cast<int>(std::max<long long>(left, 0));
  };
  char buf[4096];
  bool eof = false;
  while (!eof) {
    pollfd p{fds[0], POLLIN, 0};
    const int r = poll(&p, 1, left_ms());
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;  // timed out
    const ssize_t n = read(fds[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0)
      eof = true;
    else
      result.output.append(buf, static_cast<std::size_t>(n));
  }
  close(fds[0]);
  int status = 0;
  for (;;) {
    const pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) break;
    if (r < 0 && errno != EINTR) return result;
    if (!eof || left_ms() == 0) {
      result.timed_out = true;
      kill(-pid, SIGKILL);
      kill(pid, SIGKILL);
      while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
      return result;
    }
    sleep_ms(2);
  }
  if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  return result;
}

// --- ServerStartError ----------------------------------------------------------------------------

ServerStartError::ServerStartError(const std::string& what, bool exited, int wait_status,
                                   std::string log)
    : std::runtime_error(what), exited_(exited), wait_status_(wait_status), log_(std::move(log)) {}

int ServerStartError::exit_code() const noexcept {
  return exited_ && wait_status_ >= 0 && WIFEXITED(wait_status_) ? WEXITSTATUS(wait_status_) : -1;
}

int ServerStartError::term_signal() const noexcept {
  return exited_ && wait_status_ >= 0 && WIFSIGNALED(wait_status_) ? WTERMSIG(wait_status_) : 0;
}

// --- ServerProcess -------------------------------------------------------------------------------

ServerProcess::ServerProcess(ProcessSpec spec) : spec_(std::move(spec)) {}

ServerProcess::ServerProcess(ProcessSpec spec, TempDir dir)
    : spec_(std::move(spec)), dir_(std::move(dir)) {}

ServerProcess::~ServerProcess() {
  stop();
}

ServerProcess::ServerProcess(ServerProcess&& other) noexcept
    : spec_(std::move(other.spec_)),
      dir_(std::move(other.dir_)),
      pid_(std::exchange(other.pid_, -1)),
      port_(std::exchange(other.port_, 0)),
      last_status_(other.last_status_),
      run_offset_(other.run_offset_) {
  other.dir_.reset();
}

ServerProcess& ServerProcess::operator=(ServerProcess&& other) noexcept {
  if (this != &other) {
    stop();
    spec_ = std::move(other.spec_);
    dir_ = std::move(other.dir_);
    other.dir_.reset();
    pid_ = std::exchange(other.pid_, -1);
    port_ = std::exchange(other.port_, 0);
    last_status_ = other.last_status_;
    run_offset_ = other.run_offset_;
  }
  return *this;
}

const std::string& ServerProcess::dir() const noexcept {
  static const std::string none;
  return dir_ ? dir_->path() : none;
}

std::string ServerProcess::log_path() const {
  return dir() + "/" + spec_.name + ".log";
}

std::string ServerProcess::log() const {
  std::string out = read_file(log_path());
  for (const auto& extra : spec_.extra_logs) {
    out += "\n--- " + extra + " ---\n" + read_file(extra);
  }
  return out;
}

bool ServerProcess::wait_for_log(std::string_view needle, milliseconds timeout,
                                 bool current_run_only) const {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    std::string text = log();
    if (current_run_only) text.erase(0, std::min(run_offset_, text.size()));
    if (text.find(needle) != std::string::npos) return true;
    if (Clock::now() >= deadline) return false;
    sleep_ms(5);
  }
}

std::size_t ServerProcess::count_in_log(std::string_view needle) const {
  if (needle.empty()) return 0;
  const std::string text = log();
  std::size_t count = 0;
  for (auto pos = text.find(needle); pos != std::string::npos;
       pos = text.find(needle, pos + needle.size())) {
    ++count;
  }
  return count;
}

void ServerProcess::start() {
  if (pid_ > 0 && running()) throw std::logic_error(spec_.name + " is already running");
  if (pid_ > 0) reap();  // exited on its own since
  if (port_ == 0) {
    start_once(false);
    return;
  }
  // Starting again on the same port: the old socket may take a moment to go away.
  const auto deadline =
      Clock::now() + std::min<milliseconds>(spec_.ready_timeout, milliseconds(3000));
  for (;;) {
    try {
      start_once(true);
      return;
    } catch (const ServerStartError& e) {
      if (!e.exited() || Clock::now() >= deadline) throw;
    }
    sleep_ms(100);
  }
}

void ServerProcess::restart() {
  stop();
  start();
}

void ServerProcess::start_once(bool reuse_port) {
  if (spec_.argv.empty()) throw std::invalid_argument(spec_.name + ": empty argv");
  if (!dir_) dir_.emplace("tether-" + spec_.name);
  std::vector<std::string> argv = spec_.argv;
  if (reuse_port && spec_.readiness == Readiness::port_line && !spec_.port_flag.empty()) {
    for (std::size_t i = 0; i + 1 < argv.size(); ++i) {
      if (argv[i] == spec_.port_flag) argv[i + 1] = std::to_string(port_);
    }
  }
  const int log_fd = open(log_path().c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) throw std::runtime_error(errno_text("open " + log_path()));
  struct stat st {};
  run_offset_ = fstat(log_fd, &st) == 0 ? static_cast<std::size_t>(st.st_size) : 0;
  const std::string banner = "=== start: " + join(argv) + "\n";
  run_offset_ += banner.size();
  ssize_t ignored = write(log_fd, banner.data(), banner.size());
  (void)ignored;
  try {
    pid_ = spawn(argv, spec_.env, log_fd);
  } catch (...) {
    close(log_fd);
    throw;
  }
  close(log_fd);
  if (spec_.readiness != Readiness::port_line) port_ = spec_.port;

  const auto deadline = Clock::now() + spec_.ready_timeout;
  for (;;) {
    const int previous_port = port_;
    if (ready_now()) {
      if (reuse_port && previous_port != 0 && port_ != previous_port) {
        const int wrong_port = std::exchange(port_, previous_port);
        fail_start("came back on port " + std::to_string(wrong_port) + " instead of " +
                   std::to_string(previous_port));
      }
      if (child_exited()) fail_start("exited right after it looked ready");
      return;
    }
    if (child_exited()) fail_start("exited before it was ready");
    if (Clock::now() >= deadline) {
      fail_start("not ready after " + std::to_string(spec_.ready_timeout.count()) + " ms");
    }
    sleep_ms(5);
  }
}

bool ServerProcess::ready_now() {
  switch (spec_.readiness) {
    case Readiness::port_line: {
      const int port = find_port_line();
      if (port <= 0) return false;
      port_ = port;
      return true;
    }
    case Readiness::log_line: {
      std::string text = read_file(log_path());
      text.erase(0, std::min(run_offset_, text.size()));
      return text.find(spec_.ready_text) != std::string::npos;
    }
    case Readiness::tcp_port:
      return tcp_connect_once("127.0.0.1", spec_.port, milliseconds(200));
    case Readiness::custom:
      return spec_.ready_check && spec_.ready_check();
  }
  return false;
}

int ServerProcess::find_port_line() const {
  std::string text = read_file(log_path());
  text.erase(0, std::min(run_offset_, text.size()));
  std::size_t line_start = 0;
  for (;;) {
    const auto line_end = text.find('\n', line_start);
    if (line_end == std::string::npos) return 0;  // only complete lines count
    const std::string_view line(text.data() + line_start, line_end - line_start);
    const auto at = line.find(spec_.ready_text);
    if (at != std::string_view::npos) {
      long port = 0;
      std::size_t i = at + spec_.ready_text.size();
      while (i < line.size() && line[i] >= '0' && line[i] <= '9' && port <= 65535) {
        port = port * 10 + (line[i++] - '0');
      }
      if (port > 0 && port <= 65535) return static_cast<int>(port);
    }
    line_start = line_end + 1;
  }
}

void ServerProcess::fail_start(const std::string& reason) {
  const bool exited = child_exited();
  kill_hard();
  const std::string output = log();
  throw ServerStartError(spec_.name + " (" + join(spec_.argv) + ") " + reason + ", " +
                             describe_status(last_status_) + "; output:\n" + tail(output, 4000),
                         exited, last_status_, output);
}

bool ServerProcess::child_exited() const noexcept {
  if (pid_ <= 0) return true;
  siginfo_t info{};
  if (waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT) != 0) {
    return errno == ECHILD;
  }
  return info.si_pid != 0;
}

bool ServerProcess::running() const noexcept {
  return pid_ > 0 && !child_exited();
}

void ServerProcess::signal_group(int sig) const noexcept {
  if (pid_ <= 0) return;
  if (kill(-pid_, sig) != 0) kill(pid_, sig);
}

void ServerProcess::reap() noexcept {
  if (pid_ <= 0) return;
  int status = 0;
  pid_t r;
  while ((r = waitpid(pid_, &status, 0)) < 0 && errno == EINTR) {
  }
  last_status_ = r == pid_ ? status : -1;
  pid_ = -1;
}

void ServerProcess::stop() noexcept {
  if (pid_ <= 0) return;
  signal_group(SIGTERM);
  signal_group(SIGCONT);
  const auto deadline = Clock::now() + spec_.stop_timeout;
  while (!child_exited() && Clock::now() < deadline) sleep_ms(2);
  // The leader is gone or overdue: end it and anything it left in its group, then reap (the
  // unreaped leader keeps the group id from being reused until then).
  signal_group(SIGKILL);
  reap();
}

void ServerProcess::kill_hard() noexcept {
  if (pid_ <= 0) return;
  signal_group(SIGKILL);
  reap();
}

void ServerProcess::pause() {
  if (pid_ <= 0) throw std::logic_error(spec_.name + " is not running");
  signal_group(SIGSTOP);
  const auto deadline = Clock::now() + milliseconds(2000);
  while (process_state(pid_) != 'T' && Clock::now() < deadline) sleep_ms(1);
}

void ServerProcess::resume() {
  if (pid_ <= 0) throw std::logic_error(spec_.name + " is not running");
  signal_group(SIGCONT);
}

}  // namespace tether::testing
