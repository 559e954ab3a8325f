// The threading contract (docs/threading.md) against real servers on 127.0.0.1: where callbacks
// run in each CallbackMode, poll() never blocking, a runtime without a thread of its own driven by
// a 60 Hz-style loop, every public method called from inside callbacks, and destroying a client
// from another thread, from inside its own callbacks and from inside an executor task.
//
// Nothing here asserts a tight duration: measured values (poll() durations) are printed and
// recorded as test properties; bounds are generous. A watchdog aborts a test that deadlocks.

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "integration/client_harness.hpp"
#include "support/servers.hpp"
#include "support/watchdog.hpp"

namespace tether::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using std::chrono::microseconds;
using std::chrono::milliseconds;

std::string ws_url(const ServerProcess& server, const std::string& path = "/") {
  return "ws://127.0.0.1:" + std::to_string(server.port()) + path;
}

ClientOptions direct(std::string url) {
  ClientOptions options;
  options.url = std::move(url);
  options.proxy = "direct";
  options.connect_timeout = 5000ms;
  options.close_timeout = 1000ms;
  options.reconnect.initial = 100ms;
  options.reconnect.max = 1000ms;
  return options;
}

/// A refused port: every attempt fails with connect_refused and a reconnect is scheduled.
std::string refused_url() { return "ws://127.0.0.1:" + std::to_string(free_port()) + "/"; }

void report(const std::string& key, const std::string& value) {
  ::testing::Test::RecordProperty(key, value);
  std::printf("[  MEASURE ] %s = %s\n", key.c_str(), value.c_str());
  std::fflush(stdout);
}
void report(const std::string& key, long long value) { report(key, std::to_string(value)); }

/// The application's own event loop for CallbackMode::executor: one thread running posted tasks
/// in order (a queue and a condition variable), like a UI thread.
class TaskLoop {
 public:
  TaskLoop() : thread_([this] { run(); }) { id_ = thread_.get_id(); }
  ~TaskLoop() {
    if (std::this_thread::get_id() == id_) {
      stop_requested();
      thread_.detach();
      return;
    }
    stop();
  }
  TaskLoop(const TaskLoop&) = delete;
  TaskLoop& operator=(const TaskLoop&) = delete;

  void post(std::function<void()> task) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_) return;
    tasks_.push_back(std::move(task));
    ++posted_;
    ready_.notify_one();
  }
  /// Stops the thread; tasks not run yet are dropped.
  void stop() {
    stop_requested();
    if (thread_.joinable()) thread_.join();
    std::deque<std::function<void()>> dropped;
    std::lock_guard<std::mutex> lock(mutex_);
    dropped.swap(tasks_);
  }
  std::thread::id id() const { return id_; }
  std::size_t posted() {
    std::lock_guard<std::mutex> lock(mutex_);
    return posted_;
  }
  /// An executor for ClientOptions: hands each task to this loop.
  static std::function<void(std::function<void()>)> executor(const std::shared_ptr<TaskLoop>& loop) {
    return [loop](std::function<void()> task) { loop->post(std::move(task)); };
  }

 private:
  void stop_requested() {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
    ready_.notify_all();
  }
  void run() {
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
      ready_.wait(lock, [this] { return stopping_ || !tasks_.empty(); });
      if (stopping_) return;
      auto task = std::move(tasks_.front());
      tasks_.pop_front();
      lock.unlock();
      task();
      task = nullptr;
      lock.lock();
    }
  }

  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<std::function<void()>> tasks_;
  std::size_t posted_ = 0;
  bool stopping_ = false;
  std::thread::id id_;
  std::thread thread_;
};

/// Stops a TaskLoop when the scope ends (declare it before the clients that post to it).
struct StopOnExit {
  std::shared_ptr<TaskLoop> loop;
  ~StopOnExit() {
    if (loop) loop->stop();
  }
};

/// One callback as seen by a test: its name, its thread and a detail.
struct Call {
  std::string what;
  std::thread::id thread;
  std::string detail;
};

class CallLog {
 public:
  void add(std::string what, std::string detail = {}) {
    std::lock_guard<std::mutex> lock(mutex_);
    calls_.push_back({std::move(what), std::this_thread::get_id(), std::move(detail)});
  }
  std::vector<Call> calls() {
    std::lock_guard<std::mutex> lock(mutex_);
    return calls_;
  }
  std::size_t size() {
    std::lock_guard<std::mutex> lock(mutex_);
    return calls_.size();
  }
  std::size_t count(const std::string& what) {
    std::lock_guard<std::mutex> lock(mutex_);
    return static_cast<std::size_t>(std::count_if(
        calls_.begin(), calls_.end(), [&](const Call& c) { return c.what == what; }));
  }
  bool has(const std::string& what, const std::string& detail) {
    std::lock_guard<std::mutex> lock(mutex_);
    return std::any_of(calls_.begin(), calls_.end(),
                       [&](const Call& c) { return c.what == what && c.detail == detail; });
  }

 private:
  std::mutex mutex_;
  std::vector<Call> calls_;
};

/// Sets every callback of `client` to append to `log`.
void log_every_callback(Client& client, CallLog& log) {
  client.on_open([&log](const OpenInfo&) { log.add("open"); });
  client.on_message([&log](const Message& m) { log.add("message", std::string(m.data)); });
  client.on_close([&log](const CloseInfo& info) { log.add("close", std::to_string(info.code)); });
  client.on_error([&log](const Error& e) { log.add("error", std::string(to_string(e.code))); });
  client.on_sent([&log](MessageId id, std::size_t) { log.add("sent", std::to_string(id)); });
  client.on_state([&log](State from, State to, const Cause&) {
    log.add("state", std::string(to_string(from)) + ">" + std::string(to_string(to)));
  });
  client.on_reconnect_scheduled(
      [&log](int attempt, milliseconds) { log.add("reconnect_scheduled", std::to_string(attempt)); });
}

bool wait_for(const std::function<bool()>& condition, milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (!condition()) {
    if (Clock::now() > deadline) return false;
    std::this_thread::sleep_for(2ms);
  }
  return true;
}

// --- CallbackMode::poll ---------------------------------------------------------------------------

TEST(ThreadingPoll, CallbacksRunOnlyInsidePollOnTheCallingThread) {
  Watchdog watchdog("ThreadingPoll.CallbacksRunOnlyInsidePollOnTheCallingThread", 120s);
  auto server = start_tether_server();
  auto options = direct(ws_url(server, "/echo"));
  options.callback_mode = CallbackMode::poll;
  CallLog log;
  auto runtime = silent_runtime();
  Client client(options, runtime);
  log_every_callback(client, log);

  EXPECT_EQ(client.poll(), 0u);  // not started: nothing to run
  ASSERT_FALSE(client.start());
  (void)client.stats();  // readable from any thread, also while the loop thread starts the client
  ASSERT_TRUE(client.send("hello"));

  // The loop thread connects, sends and receives the echo without any callback running.
  ASSERT_TRUE(wait_for([&] { return client.stats().messages_received >= 1; }, 10s));
  EXPECT_EQ(client.state(), State::open);
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(log.size(), 0u) << "a callback ran outside poll()";

  microseconds worst{0};
  std::size_t polls = 0;
  auto timed_poll = [&] {
    const auto t0 = Clock::now();
    const std::size_t ran = client.poll();
    worst = std::max(worst, std::chrono::duration_cast<microseconds>(Clock::now() - t0));
    ++polls;
    return ran;
  };
  const std::size_t ran = timed_poll();
  EXPECT_GE(ran, 4u);  // state x2, open, sent, message
  EXPECT_TRUE(log.has("message", "hello"));
  EXPECT_EQ(log.count("open"), 1u);
  EXPECT_EQ(log.count("sent"), 1u);
  EXPECT_TRUE(log.has("state", "idle>connecting"));
  EXPECT_TRUE(log.has("state", "connecting>open"));

  // Idle polls: nothing pending, the next event (a ping) is 20 s away; none may wait for it.
  for (int i = 0; i < 200; ++i) {
    timed_poll();
    std::this_thread::sleep_for(1ms);
  }

  // A lost connection: its callbacks also wait for poll().
  const std::size_t before = log.size();
  server.kill_hard();
  ASSERT_TRUE(wait_for([&] { return client.state() == State::waiting ||
                                    client.state() == State::connecting; }, 10s));
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(log.size(), before) << "a callback ran outside poll()";
  timed_poll();
  EXPECT_TRUE(log.has("state", "open>waiting"));
  EXPECT_TRUE(log.has("close", "1006"));
  EXPECT_TRUE(log.has("error", "connection_lost"));
  EXPECT_TRUE(log.has("reconnect_scheduled", "1"));
  server.start();
  ASSERT_TRUE(wait_for([&] {
    timed_poll();
    return log.count("open") >= 2;
  }, 15s));

  const auto me = std::this_thread::get_id();
  for (const auto& call : log.calls()) {
    EXPECT_EQ(call.thread, me) << call.what << " " << call.detail << " ran on another thread";
  }
  report("polls", static_cast<long long>(polls));
  report("worst_poll_us", worst.count());
  EXPECT_LT(worst, microseconds(2s)) << "poll() blocked";
}

TEST(ThreadingPoll, NoThreadRuntimeGameLoopEchoesAndSurvivesARestart) {
  Watchdog watchdog("ThreadingPoll.NoThreadRuntimeGameLoopEchoesAndSurvivesARestart", 120s);
  auto server = start_tether_server();
  auto runtime = silent_runtime(false);
  auto options = direct(ws_url(server, "/echo"));
  options.callback_mode = CallbackMode::poll;
  Client client(options, runtime);

  // Everything below is touched by the game thread only (callbacks run inside its poll()), and
  // read by the test thread after join().
  std::thread::id game_id;
  int opens = 0;
  std::vector<std::string> echoes;
  std::vector<std::string> states;
  bool wrong_thread = false;
  auto on_game_thread = [&] { wrong_thread = wrong_thread || std::this_thread::get_id() != game_id; };
  client.on_open([&](const OpenInfo&) {
    on_game_thread();
    ++opens;
  });
  client.on_message([&](const Message& m) {
    on_game_thread();
    echoes.emplace_back(m.data);
  });
  client.on_state([&](State from, State to, const Cause&) {
    on_game_thread();
    states.push_back(std::string(to_string(from)) + ">" + std::string(to_string(to)));
  });

  ASSERT_FALSE(client.start());
  std::atomic<bool> first_batch_done{false};
  std::atomic<bool> finished{false};
  std::atomic<bool> game_over{false};
  microseconds worst{0};
  long long frames = 0;
  std::thread game([&] {
    game_id = std::this_thread::get_id();
    int phase = 0;
    const auto deadline = Clock::now() + 60s;
    auto next_frame = Clock::now();
    while (phase < 4 && Clock::now() < deadline) {
      next_frame += 16ms;
      const auto t0 = Clock::now();
      client.poll();
      worst = std::max(worst, std::chrono::duration_cast<microseconds>(Clock::now() - t0));
      ++frames;
      if (phase == 0 && opens == 1) {
        for (int i = 0; i < 100; ++i) client.send("a" + std::to_string(i));
        phase = 1;
      } else if (phase == 1 && echoes.size() >= 100) {
        first_batch_done = true;
        phase = 2;
      } else if (phase == 2 && opens == 2) {
        for (int i = 0; i < 100; ++i) client.send("b" + std::to_string(i));
        phase = 3;
      } else if (phase == 3 && echoes.size() >= 200) {
        phase = 4;
      }
      std::this_thread::sleep_until(std::max(next_frame, Clock::now()));
    }
    finished = phase == 4;
    game_over = true;
  });
  // The restart happens on this thread: a server must be started by a thread that outlives it.
  const bool first_batch =
      wait_for([&] { return first_batch_done.load() || game_over.load(); }, 70s) &&
      first_batch_done.load();
  if (first_batch) server.restart();  // the same port
  game.join();
  EXPECT_TRUE(first_batch) << "the first 100 echoes did not arrive";

  report("frames", frames);
  report("worst_poll_us", worst.count());
  std::string history;
  for (const auto& s : states) history += s + " ";
  report("state_history", history);
  ASSERT_TRUE(finished) << history << "; " << echoes.size() << " echoes";
  EXPECT_FALSE(wrong_thread);
  ASSERT_EQ(echoes.size(), 200u);
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(echoes[static_cast<std::size_t>(i)], "a" + std::to_string(i));
    EXPECT_EQ(echoes[static_cast<std::size_t>(100 + i)], "b" + std::to_string(i));
  }
}

// --- the accessors from any thread ----------------------------------------------------------------

TEST(ThreadingAccessors, StateAndStatsAreReadableFromAnyThreadThroughALifetime) {
  Watchdog watchdog("ThreadingAccessors.StateAndStatsAreReadableFromAnyThreadThroughALifetime", 120s);
  auto server = start_tether_server();
  auto runtime = silent_runtime();
  Client client(direct(ws_url(server, "/echo")), runtime);
  std::atomic<bool> stop{false};
  std::atomic<long long> reads{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < 2; ++r) {
    readers.emplace_back([&] {
      while (!stop.load()) {
        (void)client.state();
        (void)client.stats();
        (void)client.is_open();
        (void)client.is_finished();
        (void)client.buffered_amount();
        ++reads;
        std::this_thread::yield();
      }
    });
  }
  // Reads race with start, messages, a lost connection, a reconnect and the close.
  ASSERT_FALSE(client.start());
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(client.send("m" + std::to_string(i)));
  const bool echoed = wait_for([&] { return client.stats().messages_received >= 100; }, 20s);
  server.kill_hard();
  const bool lost = wait_for([&] { return client.state() == State::waiting; }, 10s);
  server.start();
  const bool reopened = wait_for([&] { return client.stats().reconnects >= 1 && client.is_open(); }, 15s);
  client.close();
  const bool finished = wait_for([&] { return client.is_finished(); }, 10s);
  stop = true;
  for (auto& reader : readers) reader.join();
  report("accessor_reads", reads.load());
  EXPECT_TRUE(echoed);
  EXPECT_TRUE(lost);
  EXPECT_TRUE(reopened);
  EXPECT_TRUE(finished);
  EXPECT_EQ(client.state(), State::closed);
}

// --- CallbackMode::executor -----------------------------------------------------------------------

TEST(ThreadingExecutor, CallbacksRunInOrderOnTheExecutorThread) {
  Watchdog watchdog("ThreadingExecutor.CallbacksRunInOrderOnTheExecutorThread", 120s);
  auto server = start_tether_server();
  auto loop = std::make_shared<TaskLoop>();
  StopOnExit stop_loop{loop};
  auto options = direct(ws_url(server, "/echo"));
  options.callback_mode = CallbackMode::executor;
  options.executor = TaskLoop::executor(loop);
  CallLog log;
  auto runtime = silent_runtime();
  {
    Client client(options, runtime);
    log_every_callback(client, log);
    ASSERT_FALSE(client.start());
    constexpr int kMessages = 50;
    for (int i = 0; i < kMessages; ++i) ASSERT_TRUE(client.send("m" + std::to_string(i)));
    ASSERT_TRUE(wait_for([&] { return log.count("message") >= kMessages; }, 20s));
    client.close(1000, "done");
    ASSERT_TRUE(wait_for([&] { return log.has("state", "closing>closed"); }, 10s));

    const auto calls = log.calls();
    for (const auto& call : calls) {
      EXPECT_EQ(call.thread, loop->id()) << call.what << " " << call.detail;
    }
    // In event order: the state changes chain, open comes before the first message, the echoes
    // come in the order sent, the close comes before the final state.
    std::string previous_to = "idle";
    int next_message = 0;
    bool opened = false;
    std::size_t close_at = 0;
    std::size_t closed_at = 0;
    for (std::size_t i = 0; i < calls.size(); ++i) {
      const auto& call = calls[i];
      if (call.what == "state") {
        const auto gt = call.detail.find('>');
        EXPECT_EQ(call.detail.substr(0, gt), previous_to) << "state change " << call.detail;
        previous_to = call.detail.substr(gt + 1);
        if (previous_to == "closed") closed_at = i;
      } else if (call.what == "open") {
        opened = true;
      } else if (call.what == "message") {
        EXPECT_TRUE(opened) << "a message before open";
        EXPECT_EQ(call.detail, "m" + std::to_string(next_message));
        ++next_message;
      } else if (call.what == "close") {
        close_at = i;
      }
    }
    EXPECT_EQ(next_message, kMessages);
    EXPECT_EQ(previous_to, "closed");
    EXPECT_GT(close_at, 0u);
    EXPECT_LT(close_at, closed_at);
    EXPECT_EQ(log.count("sent"), static_cast<std::size_t>(kMessages));
  }
  report("executor_tasks", static_cast<long long>(loop->posted()));
}

// --- every public method from inside callbacks, in each mode ---------------------------------------

/// Drives a client's callbacks in any mode: polls in poll mode, runs a TaskLoop in executor mode.
class ModeDriver {
 public:
  explicit ModeDriver(CallbackMode mode) : mode_(mode) {
    if (mode_ == CallbackMode::executor) loop_ = std::make_shared<TaskLoop>();
  }
  ~ModeDriver() {
    if (loop_) loop_->stop();
  }
  ModeDriver(const ModeDriver&) = delete;
  ModeDriver& operator=(const ModeDriver&) = delete;

  ClientOptions configure(ClientOptions options) const {
    options.callback_mode = mode_;
    if (loop_) options.executor = TaskLoop::executor(loop_);
    return options;
  }
  /// Runs until `condition` (false on timeout). In poll mode `client` is polled on this thread
  /// while `gone` is false (a callback may destroy it).
  bool run_until(const std::function<bool()>& condition, milliseconds timeout, Client* client,
                 const std::atomic<bool>* gone = nullptr) {
    const auto deadline = Clock::now() + timeout;
    while (!condition()) {
      if (Clock::now() > deadline) return false;
      if (mode_ == CallbackMode::poll && client != nullptr && (gone == nullptr || !gone->load())) {
        client->poll();
      }
      std::this_thread::sleep_for(1ms);
    }
    return true;
  }

 private:
  CallbackMode mode_;
  std::shared_ptr<TaskLoop> loop_;
};

std::string mode_param_name(const ::testing::TestParamInfo<CallbackMode>& param) {
  return mode_name(param.param);
}

class ThreadingReentrancy : public ::testing::TestWithParam<CallbackMode> {};

TEST_P(ThreadingReentrancy, EveryPublicMethodFromInsideCallbacks) {
  Watchdog watchdog(std::string("EveryPublicMethodFromInsideCallbacks/") + mode_name(GetParam()), 90s);
  auto server = start_tether_server();
  ModeDriver driver(GetParam());
  CallLog log;
  std::atomic<bool> closed{false};
  std::atomic<int> late_send_error{-1};
  auto runtime = silent_runtime();
  auto client = std::make_unique<Client>(driver.configure(direct(ws_url(server, "/echo"))), runtime);
  Client* raw = client.get();
  raw->on_open([&](const OpenInfo&) {
    log.add("open", std::string(to_string(raw->state())));
    (void)raw->stats();
    (void)raw->is_open();
    (void)raw->is_finished();
    (void)raw->buffered_amount();
    raw->ping("from open");
    EXPECT_TRUE(raw->send("first"));
  });
  raw->on_message([&](const Message& m) {
    log.add("message", std::string(m.data));
    if (m.data == "first") {
      raw->reconnect_now();  // open: only resets the attempt counter
      EXPECT_TRUE(raw->send("second"));
    } else if (m.data == "second") {
      raw->close(1000, "closed from a callback");
    }
  });
  raw->on_sent([&](MessageId, std::size_t) { (void)raw->stats(); });
  raw->on_close([&](const CloseInfo& info) {
    log.add("close", std::to_string(info.code));
    (void)raw->state();
  });
  raw->on_state([&](State, State to, const Cause&) {
    (void)raw->state();
    (void)raw->stats();
    if (to == State::closed) {
      late_send_error = static_cast<int>(raw->send("after close").error);
      raw->reconnect_now();
      raw->close();
      closed = true;
    }
  });
  ASSERT_FALSE(raw->start());
  ASSERT_TRUE(driver.run_until([&] { return closed.load(); }, 20s, raw)) << log.size() << " calls";
  EXPECT_TRUE(log.has("message", "first"));
  EXPECT_TRUE(log.has("message", "second"));
  EXPECT_TRUE(log.has("close", "1000"));
  EXPECT_EQ(late_send_error.load(), static_cast<int>(errc::closed));
  EXPECT_EQ(raw->state(), State::closed);
  EXPECT_EQ(raw->stats().attempts, 1u);
  client.reset();
}

/// Destroys the client from inside a callback; checks nothing runs afterwards.
struct DestroyInCallback {
  std::atomic<bool> gone{false};
  std::atomic<int> calls_after{0};
  std::unique_ptr<Client> client;  // last: destroyed first

  /// Destroys the client, then lingers in the callback so that tether's loop thread can finish
  /// closing in the background before the callback returns.
  void destroy() {
    client.reset();
    gone = true;
    std::this_thread::sleep_for(100ms);
  }
  void count_if_gone() {
    if (gone.load()) ++calls_after;
  }
  void watch_every_callback(Client& c) {
    c.on_open([this](const OpenInfo&) { count_if_gone(); });
    c.on_close([this](const CloseInfo&) { count_if_gone(); });
    c.on_error([this](const Error&) { count_if_gone(); });
    c.on_sent([this](MessageId, std::size_t) { count_if_gone(); });
    c.on_state([this](State, State, const Cause&) { count_if_gone(); });
  }
};

TEST_P(ThreadingReentrancy, DestroyingTheClientFromItsMessageCallback) {
  Watchdog watchdog(std::string("DestroyingTheClientFromItsMessageCallback/") + mode_name(GetParam()),
                    90s);
  TempDir dir("tether-threading");
  const std::string log_path = dir.file("server.jsonl");
  auto server = start_tether_server({"--log", log_path});
  ModeDriver driver(GetParam());
  auto runtime = silent_runtime();
  DestroyInCallback d;
  d.client = std::make_unique<Client>(driver.configure(direct(ws_url(server, "/echo"))), runtime);
  Client* raw = d.client.get();
  d.watch_every_callback(*raw);
  // The test thread still uses the client until both sends returned: the callback (on tether's
  // loop thread in loop_thread mode) waits for that before it destroys the client.
  std::atomic<bool> sent_both{false};
  raw->on_message([&](const Message&) {
    d.count_if_gone();
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (!sent_both.load() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(1ms);
    }
    d.destroy();
  });
  ASSERT_FALSE(raw->start());
  // Two echoes: the second is usually queued behind the callback that destroys the client.
  const bool sent_first = static_cast<bool>(raw->send("bye"));
  const bool sent_second = static_cast<bool>(raw->send("bye again"));
  sent_both = true;
  ASSERT_TRUE(sent_first);
  ASSERT_TRUE(sent_second);
  ASSERT_TRUE(driver.run_until([&] { return d.gone.load(); }, 20s, raw, &d.gone));
  // The connection is closed with 1000 in the background.
  EXPECT_TRUE(wait_for([&] { return read_file(log_path).find("\"code\":1000") != std::string::npos; },
                       5s))
      << read_file(log_path);
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(d.calls_after.load(), 0);
}

TEST_P(ThreadingReentrancy, DestroyingTheClientFromItsReconnectScheduledCallback) {
  Watchdog watchdog(
      std::string("DestroyingTheClientFromItsReconnectScheduledCallback/") + mode_name(GetParam()),
      90s);
  ModeDriver driver(GetParam());
  auto runtime = silent_runtime();
  DestroyInCallback d;
  d.client = std::make_unique<Client>(driver.configure(direct(refused_url())), runtime);
  Client* raw = d.client.get();
  d.watch_every_callback(*raw);
  raw->on_reconnect_scheduled([&](int, milliseconds) {
    d.count_if_gone();
    d.destroy();
  });
  ASSERT_FALSE(raw->start());
  ASSERT_TRUE(driver.run_until([&] { return d.gone.load(); }, 20s, raw, &d.gone));
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(d.calls_after.load(), 0);
}

TEST_P(ThreadingReentrancy, DestroyingTheClientFromItsFinalStateCallback) {
  Watchdog watchdog(
      std::string("DestroyingTheClientFromItsFinalStateCallback/") + mode_name(GetParam()), 90s);
  auto server = start_tether_server();
  ModeDriver driver(GetParam());
  auto runtime = silent_runtime();
  DestroyInCallback d;
  d.client = std::make_unique<Client>(
      driver.configure(direct(ws_url(server, "/close?code=1000"))), runtime);
  Client* raw = d.client.get();
  d.watch_every_callback(*raw);
  raw->on_state([&](State, State to, const Cause&) {
    d.count_if_gone();
    if (to == State::closed) d.destroy();
  });
  ASSERT_FALSE(raw->start());
  ASSERT_TRUE(driver.run_until([&] { return d.gone.load(); }, 20s, raw, &d.gone));
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(d.calls_after.load(), 0);
}

INSTANTIATE_TEST_SUITE_P(Modes, ThreadingReentrancy,
                         ::testing::Values(CallbackMode::loop_thread, CallbackMode::poll,
                                           CallbackMode::executor),
                         mode_param_name);

// --- destroying a client from another thread ------------------------------------------------------

class ThreadingDestroy : public ::testing::TestWithParam<CallbackMode> {};

// The client waits 10 s before its next attempt; another thread destroys it while one of its
// callbacks is running (on the loop thread, on the polling thread, on the executor thread). The
// destructor returns only once that callback has finished, and nothing runs afterwards.
TEST_P(ThreadingDestroy, FromAnotherThreadDuringAReconnectWait) {
  Watchdog watchdog(std::string("FromAnotherThreadDuringAReconnectWait/") + mode_name(GetParam()),
                    90s);
  ModeDriver driver(GetParam());
  auto runtime = silent_runtime();
  auto options = direct(refused_url());
  options.reconnect.initial = 10000ms;
  options.reconnect.max = 10000ms;
  std::atomic<bool> in_callback{false};
  std::atomic<bool> callback_done{false};
  std::atomic<bool> gone{false};
  std::atomic<int> calls_after{0};
  std::atomic<bool> callback_running_when_destroyed{false};
  auto client = std::make_unique<Client>(driver.configure(options), runtime);
  Client* raw = client.get();
  raw->on_state([&](State, State, const Cause&) {
    if (gone.load()) ++calls_after;
  });
  raw->on_error([&](const Error&) {
    if (gone.load()) ++calls_after;
  });
  raw->on_reconnect_scheduled([&](int, milliseconds) {
    if (gone.load()) ++calls_after;
    in_callback = true;
    std::this_thread::sleep_for(300ms);
    callback_done = true;
  });
  ASSERT_FALSE(raw->start());

  std::thread destroyer([&] {
    while (!in_callback.load()) std::this_thread::sleep_for(1ms);
    client.reset();
    callback_running_when_destroyed = !callback_done.load();
    gone = true;
  });
  // In poll mode the callback runs inside this poll(); no poll() once it has started.
  const bool reached = driver.run_until([&] { return in_callback.load(); }, 20s,
                                        GetParam() == CallbackMode::poll ? raw : nullptr);
  if (!reached) {
    // No callback ever started: let the destroyer go on without one.
    in_callback = true;
  }
  destroyer.join();
  EXPECT_TRUE(reached) << "the reconnect_scheduled callback never ran";
  EXPECT_FALSE(callback_running_when_destroyed.load())
      << "the destructor returned while a callback was still running";
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(calls_after.load(), 0);
}

INSTANTIATE_TEST_SUITE_P(Modes, ThreadingDestroy,
                         ::testing::Values(CallbackMode::loop_thread, CallbackMode::poll,
                                           CallbackMode::executor),
                         mode_param_name);

// The application owns the client on its executor thread and destroys it from a task of its own
// (not a client callback), while the loop thread keeps handing it callbacks.
TEST(ThreadingExecutor, DestroyingTheClientFromInsideAnExecutorTask) {
  Watchdog watchdog("ThreadingExecutor.DestroyingTheClientFromInsideAnExecutorTask", 90s);
  auto server = start_tether_server();
  auto loop = std::make_shared<TaskLoop>();
  StopOnExit stop_loop{loop};
  auto runtime = silent_runtime();
  auto options = direct(ws_url(server, "/send?count=1000000&size=16"));
  options.callback_mode = CallbackMode::executor;
  options.executor = TaskLoop::executor(loop);
  std::atomic<long long> messages{0};
  std::atomic<bool> gone{false};
  std::atomic<int> calls_after{0};
  std::atomic<bool> scheduled{false};
  std::atomic<bool> destroyed{false};
  std::atomic<bool> waiting_destroyed{false};
  auto client = std::make_unique<Client>(options, runtime);
  client->on_message([&](const Message&) {
    if (gone.load()) ++calls_after;
    ++messages;
  });
  client->on_state([&](State, State, const Cause&) {
    if (gone.load()) ++calls_after;
  });
  ASSERT_FALSE(client->start());
  ASSERT_TRUE(wait_for([&] { return messages.load() >= 2000; }, 20s)) << messages.load();

  loop->post([&] {
    client.reset();  // on the executor thread, between two of the client's callbacks
    gone = true;
    destroyed = true;
  });
  ASSERT_TRUE(wait_for([&] { return destroyed.load(); }, 20s));
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(calls_after.load(), 0);
  report("messages_before_destruction", messages.load());

  // The same from a task while the client is waiting to reconnect.
  auto waiting_options = direct(refused_url());
  waiting_options.reconnect.initial = 10000ms;
  waiting_options.reconnect.max = 10000ms;
  waiting_options.callback_mode = CallbackMode::executor;
  waiting_options.executor = TaskLoop::executor(loop);
  auto waiting = std::make_unique<Client>(waiting_options, runtime);
  waiting->on_reconnect_scheduled([&](int, milliseconds) { scheduled = true; });
  ASSERT_FALSE(waiting->start());
  ASSERT_TRUE(wait_for([&] { return scheduled.load(); }, 20s));
  loop->post([&] {
    waiting.reset();
    waiting_destroyed = true;
  });
  ASSERT_TRUE(wait_for([&] { return waiting_destroyed.load(); }, 20s));
}

// After ~Client returns, tether hands nothing more to the application's executor: the executor
// (and what it refers to, such as a UI loop) may be gone once the client is.
TEST(ThreadingExecutor, NoExecutorCallsAfterTheDestructorReturns) {
  Watchdog watchdog("ThreadingExecutor.NoExecutorCallsAfterTheDestructorReturns", 90s);
  auto server = start_tether_server();
  auto loop = std::make_shared<TaskLoop>();
  StopOnExit stop_loop{loop};
  auto runtime = silent_runtime();
  struct Counters {
    std::atomic<bool> destroyed{false};
    std::atomic<long long> calls{0};
    std::atomic<long long> calls_after{0};
  };
  auto counters = std::make_shared<Counters>();
  auto options = direct(ws_url(server, "/send?count=1000000&size=16"));
  options.callback_mode = CallbackMode::executor;
  options.executor = [loop, counters](std::function<void()> task) {
    ++counters->calls;
    if (counters->destroyed.load()) ++counters->calls_after;
    loop->post(std::move(task));
  };
  std::atomic<long long> messages{0};
  {
    Client client(options, runtime);
    client.on_message([&](const Message&) { ++messages; });
    client.on_state([](State, State, const Cause&) {});
    ASSERT_FALSE(client.start());
    ASSERT_TRUE(wait_for([&] { return messages.load() >= 2000; }, 20s)) << messages.load();
  }
  counters->destroyed = true;
  std::this_thread::sleep_for(500ms);
  report("executor_calls", counters->calls.load());
  report("executor_calls_after_destructor", counters->calls_after.load());
  EXPECT_EQ(counters->calls_after.load(), 0);
}

}  // namespace
}  // namespace tether::testing
