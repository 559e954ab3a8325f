// tether through its public API: a tether::Client with default options (state machine, queue and
// callbacks included) on a Runtime of its own, in one of the three threading models. Every send
// is made from the client's callbacks (where the threading model runs them).

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "adapters.hpp"
#include "tether/tether.hpp"

namespace bench {
namespace {

std::string describe(const tether::Error& error) {
  return std::string(tether::to_string(error.code)) + ": " + error.message;
}

// The application thread of the executor model: runs posted tasks in order.
class TaskThread {
 public:
  TaskThread() : thread_([this] { run(); }) {}
  ~TaskThread() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    cv_.notify_one();
    thread_.join();
  }
  void post(std::function<void()> task) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      tasks_.push_back(std::move(task));
    }
    cv_.notify_one();
  }

 private:
  void run() {
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
      cv_.wait(lock, [&] { return stop_ || !tasks_.empty(); });
      if (tasks_.empty()) return;
      auto batch = std::move(tasks_);
      tasks_.clear();
      lock.unlock();
      for (auto& task : batch) task();
      lock.lock();
    }
  }

  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;
  bool stop_ = false;
  std::thread thread_;
};

// Where callbacks run, and how the main thread waits for them.
class Threading {
 public:
  explicit Threading(const std::string& kind) : kind_(kind) {
    tether::RuntimeOptions options;
    options.own_thread = kind != "poll";
    options.log = [](tether::LogLevel, const std::string&) {};
    runtime_ = tether::Runtime::create(options);
    if (kind == "executor") tasks_ = std::make_unique<TaskThread>();
  }
  ~Threading() {
    runtime_.reset();
    tasks_.reset();
  }

  tether::ClientOptions options(const Config& config) const {
    tether::ClientOptions options;
    options.url = config.url;
    options.proxy = "direct";
    options.tls.ca_file = config.ca_file;
    options.tls.insecure = config.insecure;
    if (kind_ == "poll") options.callback_mode = tether::CallbackMode::poll;
    if (kind_ == "executor") {
      options.callback_mode = tether::CallbackMode::executor;
      TaskThread* tasks = tasks_.get();
      options.executor = [tasks](std::function<void()> task) { tasks->post(std::move(task)); };
    }
    return options;
  }
  const std::shared_ptr<tether::Runtime>& runtime() const { return runtime_; }

  void add(tether::Client* client) {
    std::lock_guard<std::mutex> lock(mutex_);
    clients_.push_back(client);
  }
  void remove(tether::Client* client) {
    std::lock_guard<std::mutex> lock(mutex_);
    clients_.erase(std::remove(clients_.begin(), clients_.end(), client), clients_.end());
  }

  /// Callbacks call this after changing what a wait() predicate reads.
  void notify() {
    std::lock_guard<std::mutex> lock(mutex_);
    cv_.notify_all();
  }

  /// Waits until `done()` or the deadline (false then). In the poll model this thread polls
  /// the clients meanwhile (yielding the CPU when nothing happened).
  template <typename P>
  bool wait(P done, Clock::time_point deadline) {
    if (kind_ != "poll") {
      std::unique_lock<std::mutex> lock(mutex_);
      return cv_.wait_until(lock, deadline, done);
    }
    for (;;) {
      std::size_t ran = 0;
      for (tether::Client* client : snapshot()) ran += client->poll();
      if (done()) return true;
      if (Clock::now() >= deadline) return false;
      if (ran == 0) ::sched_yield();
    }
  }

  /// Stays idle for `seconds`: sleeps, or in the poll model polls 100 times a second (a frame
  /// loop).
  void idle(double seconds) {
    const auto until =
        Clock::now() + std::chrono::microseconds(static_cast<std::int64_t>(seconds * 1e6));
    if (kind_ != "poll") {
      std::this_thread::sleep_until(until);
      return;
    }
    while (Clock::now() < until) {
      for (tether::Client* client : snapshot()) client->poll();
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }

 private:
  std::vector<tether::Client*> snapshot() {
    std::lock_guard<std::mutex> lock(mutex_);
    return clients_;
  }

  std::string kind_;
  std::shared_ptr<tether::Runtime> runtime_;
  std::unique_ptr<TaskThread> tasks_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<tether::Client*> clients_;
};

// The first error of a run, set from any thread.
class Failure {
 public:
  void set(const std::string& why) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (why_.empty()) why_ = why;
    failed_.store(true);
  }
  bool failed() const { return failed_.load(); }
  std::string why() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return why_;
  }

 private:
  mutable std::mutex mutex_;
  std::string why_;
  std::atomic<bool> failed_{false};
};

// A client registered with the threading model for its lifetime.
class ScopedClient {
 public:
  ScopedClient(Threading& threading, tether::ClientOptions options)
      : threading_(threading),
        client_(std::make_unique<tether::Client>(std::move(options), threading.runtime())) {
    threading_.add(client_.get());
  }
  ~ScopedClient() {
    threading_.remove(client_.get());
    client_.reset();
  }
  tether::Client& operator*() { return *client_; }
  tether::Client* operator->() { return client_.get(); }

 private:
  Threading& threading_;
  std::unique_ptr<tether::Client> client_;
};

/// Closes the client and waits (bounded) for on_close, which `closed` reports.
void close_and_wait(Threading& threading, tether::Client& client, std::atomic<bool>& closed) {
  client.close();
  threading.wait([&] { return closed.load() || client.is_finished(); },
                 Clock::now() + std::chrono::seconds(3));
}

// --- rtt, flood ----------------------------------------------------------------------------------

Result run_echo(const Config& config, Threading& threading) {
  Result result;
  EchoRun run(config);
  Failure failure;
  std::atomic<bool> finished{false};
  std::atomic<bool> closed{false};
  ScopedClient client(threading, threading.options(config));

  // Back-pressure as a streaming application applies it: no new message while tether still
  // holds kMaxBuffered bytes the socket has not taken (buffered_amount()). The window (messages
  // and bytes in flight until echoed) stays the same for every client; this bounds only what sits
  // in tether's queue instead of in the kernel. Each echo calls pump again, so the flood
  // continues as the socket drains.
  constexpr std::size_t kMaxBuffered = 2 * 1024 * 1024;
  auto pump = [&] {
    while (run.want_send() && client->buffered_amount() < kMaxBuffered) {
      const std::string_view message = run.next_message();
      const auto sent = config.binary ? client->send_binary(message) : client->send(message);
      if (!sent) {
        failure.set("send refused: " + std::string(tether::to_string(sent.error)));
        threading.notify();
        return;
      }
    }
  };
  client->on_open([&](const tether::OpenInfo&) {
    run.begin();
    pump();
  });
  client->on_message([&](const tether::Message& message) {
    if (!run.on_echo(message.data, !message.is_text())) {
      failure.set(run.error());
    } else if (!run.done()) {
      pump();
      return;
    }
    finished.store(true);
    threading.notify();
  });
  client->on_error([&](const tether::Error& error) {
    failure.set(describe(error));
    threading.notify();
  });
  client->on_close([&](const tether::CloseInfo& info) {
    closed.store(true);
    if (!finished.load())
      failure.set("closed with " + std::to_string(info.code) + " " + info.reason);
    threading.notify();
  });
  if (auto error = client->start()) {
    result.error = describe(error);
    return result;
  }
  const bool ok = threading.wait([&] { return finished.load() || failure.failed(); },
                                 Clock::now() + config.timeout());
  close_and_wait(threading, *client, closed);
  if (failure.failed()) {
    result.error = failure.why();
  } else if (!ok) {
    result.error = "timed out after " + std::to_string(run.received()) + " of " +
                   std::to_string(run.total()) + " echoes";
  } else {
    run.finish(result);
  }
  return result;
}

// --- connect -----------------------------------------------------------------------------------

// Full cycles: start() (DNS, TCP, TLS, upgrade), on_open, close(), the close handshake, on_close.
Result run_connect(const Config& config, Threading& threading) {
  Result result;
  std::vector<double> open_us;
  const auto deadline = Clock::now() + config.timeout();
  const auto start = Clock::now();
  double cpu_start = process_cpu_seconds();
  for (std::uint64_t i = 0; i < config.count + config.warmup; ++i) {
    if (i == config.warmup) cpu_start = process_cpu_seconds();
    Failure failure;
    std::atomic<bool> closed{false};
    Clock::time_point opened_at;
    std::atomic<bool> opened{false};
    auto options = threading.options(config);
    options.reconnect.enabled = false;
    ScopedClient client(threading, options);
    tether::Client* raw = &*client;
    client->on_open([&, raw](const tether::OpenInfo&) {
      opened_at = Clock::now();
      opened.store(true);
      raw->close();
    });
    client->on_error([&](const tether::Error& error) {
      failure.set(describe(error));
      threading.notify();
    });
    client->on_close([&](const tether::CloseInfo&) {
      closed.store(true);
      threading.notify();
    });
    const auto t0 = Clock::now();
    if (auto error = client->start()) {
      result.error = describe(error);
      return result;
    }
    if (!threading.wait([&] { return closed.load() || failure.failed(); }, deadline)) {
      result.error = "cycle " + std::to_string(i) + " timed out";
      return result;
    }
    const auto t1 = Clock::now();
    if (failure.failed() || !opened.load()) {
      result.error = failure.failed() ? failure.why() : "closed without opening";
      return result;
    }
    if (i >= config.warmup) {
      result.rtt_us.push_back(micros_between(t0, t1));
      open_us.push_back(micros_between(t0, opened_at));
    }
  }
  result.seconds = seconds_between(start, Clock::now());
  result.cpu_seconds = process_cpu_seconds() - cpu_start;
  result.messages = config.count;
  std::sort(open_us.begin(), open_us.end());
  if (!open_us.empty()) result.extras.push_back({"open_p50_us", open_us[open_us.size() / 2], 2});
  return result;
}

// --- request -------------------------------------------------------------------------------------

// Requests to the /app scenario (default envelope), a window of them pending; each response is
// matched by id and its payload checked. The latency of every kLatencySample-th request is timed
// (two clock reads each would otherwise be a measurable part of a request's cost here).
constexpr std::uint64_t kLatencySample = 16;

Result run_request(const Config& config, Threading& threading) {
  Result result;
  Failure failure;
  std::atomic<bool> finished{false};
  std::atomic<bool> closed{false};
  const std::uint64_t window = std::max<std::uint64_t>(1, config.window);
  std::vector<Clock::time_point> sent_at(config.count / kLatencySample + 1);
  std::vector<double> latency_us;
  latency_us.reserve(sent_at.size());
  std::uint64_t next = 0;
  std::uint64_t answered = 0;
  Clock::time_point start;
  Clock::time_point end;
  double cpu_start = 0;
  double cpu_end = 0;
  const tether::Json body(std::string(config.size, 'x'));
  auto options = threading.options(config);
  options.queue.max_messages = static_cast<std::size_t>(window) + 16;
  ScopedClient client(threading, options);

  std::function<void()> issue;
  // A result callback holds a pointer to this and the request's number: small enough for
  // std::function to keep in place, as an application's `this` and an id would be (a capture of
  // every local by reference would cost an allocation per request, in the benchmark, not in
  // tether).
  struct Run {
    const Config& config;
    Threading& threading;
    Failure& failure;
    std::atomic<bool>& finished;
    std::vector<Clock::time_point>& sent_at;
    std::vector<double>& latency_us;
    std::uint64_t& next;
    std::uint64_t& answered;
    Clock::time_point& end;
    double& cpu_end;
    std::function<void()>& issue;
  } run{config, threading, failure, finished, sent_at, latency_us,
        next,   answered,  end,     cpu_end,  issue};
  issue = [&] {
    const std::uint64_t seq = next++;
    if (seq % kLatencySample == 0) sent_at[seq / kLatencySample] = Clock::now();
    client->request("echo", body, [r = &run, seq](const tether::Response& response) {
      if (!response.ok() || !response.payload.is_string() ||
          response.payload.as_string().size() != r->config.size) {
        r->failure.set("request " + std::to_string(seq) + ": " +
                       (response.ok() ? "wrong payload" : response.message));
        r->threading.notify();
        return;
      }
      if (seq % kLatencySample == 0) {
        r->latency_us.push_back(micros_between(r->sent_at[seq / kLatencySample], Clock::now()));
      }
      if (++r->answered == r->config.count) {
        r->end = Clock::now();
        r->cpu_end = process_cpu_seconds();
        r->finished.store(true);
        r->threading.notify();
      } else if (r->next < r->config.count) {
        r->issue();
      }
    });
  };
  client->on_open([&](const tether::OpenInfo&) {
    start = Clock::now();
    cpu_start = process_cpu_seconds();
    while (next < config.count && next < window) issue();
  });
  client->on_error([&](const tether::Error& error) {
    failure.set(describe(error));
    threading.notify();
  });
  client->on_close([&](const tether::CloseInfo& info) {
    closed.store(true);
    if (!finished.load()) failure.set("closed with " + std::to_string(info.code));
    threading.notify();
  });
  if (auto error = client->start()) {
    result.error = describe(error);
    return result;
  }
  const bool ok = threading.wait([&] { return finished.load() || failure.failed(); },
                                 Clock::now() + config.timeout());
  close_and_wait(threading, *client, closed);
  if (failure.failed()) {
    result.error = failure.why();
  } else if (!ok) {
    result.error = "timed out";
  } else {
    result.seconds = seconds_between(start, end);
    result.cpu_seconds = cpu_end - cpu_start;
    result.messages = config.count;
    result.bytes = config.count * config.size;
    result.rtt_us = std::move(latency_us);
  }
  return result;
}

// --- a server process to restart ---------------------------------------------------------------

// tether_test_server as a child process: started with a port (0 = ephemeral), stopped by PID.
class ServerProcess {
 public:
  explicit ServerProcess(const Config& config) : config_(config) {}
  ~ServerProcess() { stop(SIGKILL); }

  /// Starts it and reads its `LISTENING <port>` line; the port, or -1 with `error` set.
  int start(int port, std::string& error) {
    int fds[2];
    if (::pipe(fds) != 0) {
      error = "pipe failed";
      return -1;
    }
    std::vector<std::string> args = {config_.server, "--host", "127.0.0.1", "--port",
                                     std::to_string(port)};
    if (config_.server_cpu >= 0) {
      args.push_back("--cpu");
      args.push_back(std::to_string(config_.server_cpu));
    }
    // posix_spawn, not fork(): a fork marks every page of this process copy-on-write, and the
    // queue-flush case restarts the server with a hundred thousand messages queued, so the
    // flush would then fault on each of those pages again (about 13 MB) as it takes them.
    std::vector<char*> argv;
    for (auto& arg : args) argv.push_back(&arg[0]);
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addclosefrom_np(&actions, 3);  // none of the client's sockets
    pid_t pid = -1;
    const int spawned = ::posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (spawned != 0) {
      ::close(fds[0]);
      ::close(fds[1]);
      error = "cannot start " + config_.server + ": " + std::strerror(spawned);
      return -1;
    }
    pid_ = pid;
    ::close(fds[1]);
    std::string out;
    char c = 0;
    while (out.find('\n') == std::string::npos && ::read(fds[0], &c, 1) == 1) out += c;
    ::close(fds[0]);
    if (out.compare(0, 10, "LISTENING ") != 0) {
      error = "the server did not start: " + config_.server;
      stop(SIGKILL);
      return -1;
    }
    return std::atoi(out.c_str() + 10);
  }

  /// Signals it and waits for it to exit (SIGKILL after 5 s).
  void stop(int signal) {
    if (pid_ <= 0) return;
    ::kill(pid_, signal);
    for (int i = 0; i < 500; ++i) {
      if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {
        pid_ = -1;
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

 private:
  const Config& config_;
  pid_t pid_ = -1;
};

std::string with_port(const std::string& url, int port) {
  std::string scheme, host, old_port, path;
  split_url(url, scheme, host, old_port, path);
  return scheme + "://127.0.0.1:" + std::to_string(port) + path;
}

// --- queue-flush -------------------------------------------------------------------------------

// Connected, the server goes away (SIGTERM), COUNT messages are queued, the server comes back on
// the same port: the time from the reconnect's on_open to the last echo.
Result run_queue_flush(const Config& config, Threading& threading) {
  Result result;
  if (config.server.empty()) {
    result.error = "queue-flush needs --server";
    return result;
  }
  ServerProcess server(config);
  const int port = server.start(0, result.error);
  if (port < 0) return result;
  Config run_config = config;
  run_config.url = with_port(config.url, port);
  auto options = threading.options(run_config);
  options.queue.max_messages = static_cast<std::size_t>(config.count) + 16;
  options.queue.max_bytes =
      std::max<std::size_t>(options.queue.max_bytes, 2 * config.count * config.size);

  Failure failure;
  std::atomic<int> opens{0};
  std::atomic<int> closes{0};
  std::atomic<std::uint64_t> received{0};
  Clock::time_point reopened_at;
  Clock::time_point last_echo;
  double cpu_open = 0;
  double cpu_end = 0;
  long faults_open = 0;
  long faults_end = 0;
  ScopedClient client(threading, options);
  client->on_open([&](const tether::OpenInfo&) {
    if (opens.load() == 1) {
      reopened_at = Clock::now();
      cpu_open = process_cpu_seconds();
      faults_open = process_minor_faults();
    }
    ++opens;
    threading.notify();
  });
  client->on_close([&](const tether::CloseInfo&) {
    ++closes;
    threading.notify();
  });
  // The marks expected next (see HexMark): the check costs next to nothing per message.
  HexMark head(0);
  HexMark tail(~std::uint64_t{0});
  const std::size_t size = config.size;
  client->on_message([&](const tether::Message& message) {
    const std::uint64_t seq = received.load();
    const std::string_view data = message.data;
    const bool ok = data.size() == size && (head_len(size) == 0 || head.matches(data.data())) &&
                    (tail_len(size) == 0 || tail.matches(data.data() + size - kMark));
    head.increment();
    tail.decrement();
    if (!ok) {
      failure.set("echo " + std::to_string(seq) + " is wrong");
      threading.notify();
      return;
    }
    if (seq + 1 == config.count) {
      last_echo = Clock::now();
      cpu_end = process_cpu_seconds();
      faults_end = process_minor_faults();
    }
    received.store(seq + 1);
    if (seq + 1 == config.count) threading.notify();
  });
  if (auto error = client->start()) {
    result.error = describe(error);
    return result;
  }
  const auto deadline = Clock::now() + config.timeout();
  if (!threading.wait([&] { return opens.load() == 1; }, deadline)) {
    result.error = "not open";
    return result;
  }
  server.stop(SIGTERM);
  if (!threading.wait([&] { return closes.load() == 1; }, deadline)) {
    result.error = "no close after the server stopped";
    return result;
  }
  Payload payload(config.size);
  for (std::uint64_t i = 0; i < config.count; ++i) {
    payload.stamp(i);
    const auto sent =
        config.binary ? client->send_binary(payload.view()) : client->send(payload.view());
    if (!sent) {
      result.error =
          "send " + std::to_string(i) + " refused: " + std::string(tether::to_string(sent.error));
      return result;
    }
  }
  const std::size_t queued = client->buffered_amount();
  if (server.start(port, result.error) < 0) return result;
  if (!threading.wait([&] { return received.load() == config.count || failure.failed(); },
                      deadline)) {
    result.error =
        "flushed " + std::to_string(received.load()) + " of " + std::to_string(config.count);
    return result;
  }
  if (failure.failed()) {
    result.error = failure.why();
    return result;
  }
  result.seconds = seconds_between(reopened_at, last_echo);
  result.cpu_seconds = cpu_end - cpu_open;
  result.messages = config.count;
  result.bytes = config.count * config.size;
  result.extras.push_back({"queued_bytes", static_cast<double>(queued), 0});
  result.extras.push_back({"flush_minor_faults", static_cast<double>(faults_end - faults_open), 0});
  return result;
}

// --- reconnect ---------------------------------------------------------------------------------

// COUNT server restarts (SIGTERM, then the same port again at once): for each, the time from the
// last reconnect_scheduled event to on_open, minus the scheduled delay (the lateness).
Result run_reconnect(const Config& config, Threading& threading) {
  Result result;
  if (config.server.empty()) {
    result.error = "reconnect needs --server";
    return result;
  }
  ServerProcess server(config);
  const int port = server.start(0, result.error);
  if (port < 0) return result;
  Config run_config = config;
  run_config.url = with_port(config.url, port);
  auto options = threading.options(run_config);
  // Each restart is a new outage (attempt 1), not the next step of one backoff.
  options.reconnect.min_uptime = std::chrono::milliseconds(100);

  std::mutex mutex;
  std::atomic<int> opens{0};
  Clock::time_point scheduled_at;
  Clock::time_point connecting_at;  // the last attempt's start
  Clock::time_point opened_at;
  double delay_ms = 0;
  int schedules = 0;
  ScopedClient client(threading, options);
  client->on_state([&](tether::State, tether::State to, const tether::Cause&) {
    if (to != tether::State::connecting) return;
    std::lock_guard<std::mutex> lock(mutex);
    connecting_at = Clock::now();
  });
  client->on_open([&](const tether::OpenInfo&) {
    {
      std::lock_guard<std::mutex> lock(mutex);
      opened_at = Clock::now();
    }
    ++opens;
    threading.notify();
  });
  client->on_reconnect_scheduled([&](int, std::chrono::milliseconds delay) {
    std::lock_guard<std::mutex> lock(mutex);
    scheduled_at = Clock::now();
    delay_ms = static_cast<double>(delay.count());
    ++schedules;
  });
  if (auto error = client->start()) {
    result.error = describe(error);
    return result;
  }
  const auto deadline = Clock::now() + config.timeout();
  if (!threading.wait([&] { return opens.load() == 1; }, deadline)) {
    result.error = "not open";
    return result;
  }
  std::vector<double> delays;
  std::vector<double> timer_late_us;  // the attempt's start after the scheduled delay
  std::vector<double> attempt_us;     // the attempt's start to the open (connect, upgrade)
  int retries = 0;
  const auto start = Clock::now();
  for (std::uint64_t i = 0; i < config.count; ++i) {
    threading.idle(0.2);  // longer than min_uptime
    {
      std::lock_guard<std::mutex> lock(mutex);
      schedules = 0;
    }
    server.stop(SIGTERM);
    if (server.start(port, result.error) < 0) return result;
    const int want = static_cast<int>(i) + 2;
    if (!threading.wait([&] { return opens.load() >= want; }, deadline)) {
      result.error = "no reopen after restart " + std::to_string(i);
      return result;
    }
    std::lock_guard<std::mutex> lock(mutex);
    if (schedules == 0) {
      result.error = "reopened without a scheduled reconnect";
      return result;
    }
    retries += schedules - 1;
    delays.push_back(delay_ms);
    result.rtt_us.push_back(micros_between(scheduled_at, opened_at) - delay_ms * 1000);
    if (schedules == 1) {
      timer_late_us.push_back(micros_between(scheduled_at, connecting_at) - delay_ms * 1000);
      attempt_us.push_back(micros_between(connecting_at, opened_at));
    }
  }
  result.seconds = seconds_between(start, Clock::now());
  result.messages = config.count;
  double delay_sum = 0;
  for (double d : delays) delay_sum += d;
  result.extras.push_back({"mean_delay_ms", delay_sum / static_cast<double>(delays.size()), 1});
  result.extras.push_back({"extra_attempts", static_cast<double>(retries), 0});
  // Where the time after the delay goes (restarts that opened at the first attempt): the
  // timer's lateness, and the attempt itself (TCP connect and the upgrade, against a server
  // process that has just started).
  std::sort(timer_late_us.begin(), timer_late_us.end());
  std::sort(attempt_us.begin(), attempt_us.end());
  result.extras.push_back({"timer_late_p50_us", percentile(timer_late_us, 0.5), 1});
  result.extras.push_back({"timer_late_max_us", percentile(timer_late_us, 1.0), 1});
  result.extras.push_back({"attempt_p50_us", percentile(attempt_us, 0.5), 1});
  result.extras.push_back({"attempt_max_us", percentile(attempt_us, 1.0), 1});
  return result;
}

// --- idle, many --------------------------------------------------------------------------------

// One connection open and idle: CPU% and RSS over `--idle-seconds`.
Result run_idle(const Config& config, Threading& threading) {
  Result result;
  std::atomic<bool> opened{false};
  std::atomic<bool> closed{false};
  ScopedClient client(threading, threading.options(config));
  client->on_open([&](const tether::OpenInfo&) {
    opened.store(true);
    threading.notify();
  });
  client->on_close([&](const tether::CloseInfo&) {
    closed.store(true);
    threading.notify();
  });
  if (auto error = client->start()) {
    result.error = describe(error);
    return result;
  }
  if (!threading.wait([&] { return opened.load(); }, Clock::now() + config.timeout())) {
    result.error = "not open";
    return result;
  }
  threading.idle(0.2);
  const double cpu0 = process_cpu_seconds();
  const auto t0 = Clock::now();
  threading.idle(config.idle_s);
  const double cpu = process_cpu_seconds() - cpu0;
  result.seconds = seconds_between(t0, Clock::now());
  result.cpu_seconds = cpu;
  const long rss = rss_kib();
  if (closed.load() || !client->is_open()) {
    result.error = "the connection did not stay open";
    return result;
  }
  result.extras.push_back({"idle_cpu_pct", 100.0 * cpu / result.seconds, 3});
  result.extras.push_back({"rss_kib", static_cast<double>(rss), 0});
  close_and_wait(threading, *client, closed);
  return result;
}

// COUNT connections in one process (one runtime): RSS with none, one, and all open.
Result run_many(const Config& config, Threading& threading) {
  Result result;
  const long rss_none = rss_kib();
  std::atomic<std::uint64_t> opens{0};
  Failure failure;
  std::vector<std::unique_ptr<ScopedClient>> clients;
  clients.reserve(config.count);
  const auto deadline = Clock::now() + config.timeout();
  long rss_one = 0;
  const auto start = Clock::now();
  for (std::uint64_t i = 0; i < config.count; ++i) {
    auto client = std::make_unique<ScopedClient>(threading, threading.options(config));
    (*client)->on_open([&](const tether::OpenInfo&) {
      ++opens;
      threading.notify();
    });
    (*client)->on_error([&](const tether::Error& error) {
      failure.set(describe(error));
      threading.notify();
    });
    if (auto error = (*client)->start()) {
      result.error = describe(error);
      return result;
    }
    clients.push_back(std::move(client));
    if (i == 0) {
      if (!threading.wait([&] { return opens.load() == 1 || failure.failed(); }, deadline)) {
        result.error = "the first connection did not open";
        return result;
      }
      threading.idle(0.1);
      rss_one = rss_kib();
    }
  }
  if (!threading.wait([&] { return opens.load() == config.count || failure.failed(); }, deadline)) {
    result.error = std::to_string(opens.load()) + " of " + std::to_string(config.count) + " open";
    return result;
  }
  if (failure.failed()) {
    result.error = failure.why();
    return result;
  }
  result.seconds = seconds_between(start, Clock::now());
  threading.idle(0.2);
  const long rss_all = rss_kib();
  result.messages = config.count;
  add_many_extras(result, config.count, rss_none, rss_one, rss_all);
  for (auto& client : clients) (**client).close_now();
  clients.clear();
  return result;
}

}  // namespace

Result run_tether(const Config& config, const std::string& threading_kind) {
  // The process before tether does anything: the binary and its libraries.
  const long rss_before = rss_kib();
  Threading threading(threading_kind);
  if (config.rtt() || config.flood()) return run_echo(config, threading);
  if (config.mode == "connect") return run_connect(config, threading);
  if (config.mode == "request") return run_request(config, threading);
  if (config.mode == "queue-flush") return run_queue_flush(config, threading);
  if (config.mode == "reconnect") return run_reconnect(config, threading);
  Result result;
  if (config.mode == "idle") {
    result = run_idle(config, threading);
  } else if (config.mode == "many") {
    result = run_many(config, threading);
  } else {
    return unsupported(config);
  }
  result.extras.push_back({"rss_before_tether_kib", static_cast<double>(rss_before), 0});
  return result;
}

}  // namespace bench
