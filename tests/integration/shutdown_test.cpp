// Shutdown safety against real servers on 127.0.0.1: closing or destroying a client from inside
// each of its callbacks, in every callback mode; releasing the last reference to its runtime
// from inside a callback; and destroying a client from another thread while it waits to
// reconnect, while its TLS handshake is under way and while a 64 MiB message is being written to
// a peer that does not read. Run under ASan too (use-after-free) and TSan.
//
// Each test runs under a watchdog that aborts the binary with a message if it does not finish in
// a generous time (a deadlock). Nothing asserts a tight duration.
//
// Covered in tests/integration/threading_test.cpp and not repeated here: destroying from inside
// on_message, on_reconnect_scheduled and the final on_state callback, every public method from
// inside callbacks, destroying from another thread while a callback is running, and destroying
// from an executor task between two callbacks.

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
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
using std::chrono::milliseconds;

// An application event loop for CallbackMode::executor: one thread running tasks in order.
class Executor {
 public:
  Executor() : thread_([this] { run(); }) {}
  ~Executor() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;

  void post(std::function<void()> task) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      tasks_.push_back(std::move(task));
    }
    cv_.notify_all();
  }

 private:
  void run() {
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
      cv_.wait(lock, [this] { return stop_ || !tasks_.empty(); });
      if (tasks_.empty()) return;  // stop_ and nothing left
      auto task = std::move(tasks_.front());
      tasks_.pop_front();
      lock.unlock();
      task();
      lock.lock();
    }
  }

  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;
  bool stop_ = false;
  std::thread thread_;
};

// Runs a client's callbacks in one mode: polls it in poll mode, runs an Executor in executor mode.
class ModeDriver {
 public:
  explicit ModeDriver(CallbackMode mode) : mode_(mode) {
    if (mode_ == CallbackMode::executor) executor_ = std::make_shared<Executor>();
  }

  ClientOptions configure(ClientOptions options) const {
    options.callback_mode = mode_;
    if (executor_) {
      std::weak_ptr<Executor> weak = executor_;
      options.executor = [weak](std::function<void()> task) {
        if (auto e = weak.lock()) e->post(std::move(task));
      };
    }
    return options;
  }

  /// Waits for `condition` (false after `timeout`). In poll mode `client` is polled on this
  /// thread while `gone` is false: a callback may destroy it inside poll().
  bool run_until(const std::function<bool()>& condition, milliseconds timeout, Client* client,
                 const std::atomic<bool>* gone) {
    const auto deadline = Clock::now() + timeout;
    while (!condition()) {
      if (Clock::now() > deadline) return false;
      if (mode_ == CallbackMode::poll && client != nullptr && !gone->load()) client->poll();
      std::this_thread::sleep_for(1ms);
    }
    return true;
  }

  CallbackMode mode() const { return mode_; }

 private:
  CallbackMode mode_;
  std::shared_ptr<Executor> executor_;
};

ClientOptions direct(std::string url) {
  ClientOptions options;
  options.url = std::move(url);
  options.proxy = "direct";
  options.connect_timeout = 10000ms;
  return options;
}

std::string ws_url(const ServerProcess& server, const std::string& path) {
  return "ws://127.0.0.1:" + std::to_string(server.port()) + path;
}

// --- Closing or destroying from inside each callback ---------------------------------------------

enum class Action { destroy, close };

// The client under test, destroyed (or closed) by one of its own callbacks.
struct Subject {
  /// Set once the test's own thread has made its last call on the client: destroying an object
  /// while another thread is still inside one of its methods is a bug in any program, so the
  /// acting callback waits for it (bounded).
  std::atomic<bool> main_done{false};
  std::atomic<bool> acted{false};
  std::atomic<bool> gone{false};
  std::atomic<int> calls_after{0};
  std::unique_ptr<Client> client;  // last: destroyed first

  void act(Action action) {
    const auto deadline = Clock::now() + 10s;
    while (!main_done.load() && Clock::now() < deadline) std::this_thread::sleep_for(1ms);
    if (acted.exchange(true)) return;
    if (action == Action::close) {
      client->close_now(1000, "closing from a callback");
      return;
    }
    client.reset();
    gone = true;
  }
  void count_if_gone() {
    if (gone.load()) ++calls_after;
  }
  // Counts every callback that runs after the destructor returned (there must be none).
  void watch(Client& c) {
    c.on_open([this](const OpenInfo&) { count_if_gone(); });
    c.on_close([this](const CloseInfo&) { count_if_gone(); });
    c.on_error([this](const Error&) { count_if_gone(); });
    c.on_sent([this](MessageId, std::size_t) { count_if_gone(); });
    c.on_state([this](State, State, const Cause&) { count_if_gone(); });
    c.on_dropped([this](MessageId, std::size_t, DropReason) { count_if_gone(); });
    c.on_queued([this](MessageId, std::size_t) { count_if_gone(); });
    c.on_message([this](const Message&) { count_if_gone(); });
  }
};

struct CallbackPoint {
  const char* name;
  const char* path;  // the tether_test_server scenario; nullptr: a refused port
  std::function<void(ClientOptions&)> configure;
  /// Sets the acting callback (after Subject::watch, so it replaces that one).
  std::function<void(Client&, Subject&, Action)> install;
  /// Runs after start().
  std::function<void(Client&, Subject&, Action)> after_start;
};

std::vector<CallbackPoint> callback_points() {
  auto none = [](ClientOptions&) {};
  auto nothing = [](Client&, Subject&, Action) {};
  auto send_one = [](Client& c, Subject&, Action) { c.send("x"); };
  return {
      {"on_open", "/echo", none,
       [](Client& c, Subject& s, Action a) { c.on_open([&s, a](const OpenInfo&) { s.act(a); }); },
       nothing},
      {"first_on_state", "/echo", none,
       [](Client& c, Subject& s, Action a) {
         c.on_state([&s, a](State, State, const Cause&) { s.act(a); });
       },
       nothing},
      {"on_message", "/echo", none,
       [](Client& c, Subject& s, Action a) { c.on_message([&s, a](const Message&) { s.act(a); }); },
       send_one},
      {"on_sent", "/echo", none,
       [](Client& c, Subject& s, Action a) {
         c.on_sent([&s, a](MessageId, std::size_t) { s.act(a); });
       },
       send_one},
      {"on_close", "/close?code=1000", none,
       [](Client& c, Subject& s, Action a) { c.on_close([&s, a](const CloseInfo&) { s.act(a); }); },
       nothing},
      {"on_error", nullptr, none,
       [](Client& c, Subject& s, Action a) { c.on_error([&s, a](const Error&) { s.act(a); }); },
       nothing},
      {"on_queued", "/noanswer", none,
       [](Client& c, Subject& s, Action a) {
         c.on_queued([&s, a](MessageId, std::size_t) { s.act(a); });
       },
       send_one},
      {"on_dropped", "/noanswer", [](ClientOptions& o) { o.queue.ttl = 20ms; },
       [](Client& c, Subject& s, Action a) {
         c.on_dropped([&s, a](MessageId, std::size_t, DropReason) { s.act(a); });
       },
       send_one},
      {"on_authenticated", "/app?token=t1",
       [](ClientOptions& o) {
         o.auth.token = "t1";
         o.auth.first_message = true;
       },
       [](Client& c, Subject& s, Action a) { c.on_authenticated([&s, a] { s.act(a); }); }, nothing},
      {"request_callback", "/app", none, nothing,
       [](Client& c, Subject& s, Action a) {
         c.request("echo", Json::object({{"n", 1}}), [&s, a](const Response&) { s.act(a); });
       }},
      {"send_on_done", "/echo", none, nothing,
       [](Client& c, Subject& s, Action a) {
         SendOptions options;
         options.on_done = [&s, a](const Delivery&) { s.act(a); };
         c.send("x", options);
       }},
  };
}

struct InCallbackCase {
  CallbackMode mode;
  Action action;
  std::size_t point;
};

std::vector<InCallbackCase> in_callback_cases() {
  std::vector<InCallbackCase> out;
  for (auto mode : {CallbackMode::loop_thread, CallbackMode::poll, CallbackMode::executor}) {
    for (auto action : {Action::destroy, Action::close}) {
      for (std::size_t i = 0; i < callback_points().size(); ++i) out.push_back({mode, action, i});
    }
  }
  return out;
}

std::string case_name(const ::testing::TestParamInfo<InCallbackCase>& info) {
  return std::string(info.param.action == Action::destroy ? "Destroy" : "Close") + "_" +
         callback_points()[info.param.point].name + "_" + mode_name(info.param.mode);
}

class ShutdownInCallback : public ::testing::TestWithParam<InCallbackCase> {};

TEST_P(ShutdownInCallback, EndsWithoutDeadlockOrLateCallbacks) {
  const InCallbackCase param = GetParam();
  const CallbackPoint point = callback_points()[param.point];
  Watchdog watchdog(case_name({param, 0}), 90s);
  auto server = start_tether_server();
  ModeDriver driver(param.mode);
  auto runtime = silent_runtime();
  auto options = direct(point.path ? ws_url(server, point.path)
                                   : "ws://127.0.0.1:" + std::to_string(free_port()) + "/");
  point.configure(options);
  Subject s;
  s.client = std::make_unique<Client>(driver.configure(options), runtime);
  Client* raw = s.client.get();
  s.watch(*raw);
  point.install(*raw, s, param.action);
  ASSERT_FALSE(raw->start());
  point.after_start(*raw, s, param.action);
  s.main_done = true;

  ASSERT_TRUE(driver.run_until([&] { return s.acted.load(); }, 30s, raw, &s.gone))
      << point.name << ": the callback never ran";
  if (param.action == Action::destroy) {
    // The destructor may still be running on the callback's thread: wait for it to return.
    ASSERT_TRUE(driver.run_until([&] { return s.gone.load(); }, 30s, nullptr, &s.gone));
    // Nothing may run afterwards, on any thread; give late callbacks a chance to show up.
    driver.run_until([] { return false; }, 300ms, nullptr, &s.gone);
    EXPECT_EQ(s.calls_after.load(), 0) << point.name;
    return;
  }
  // close_now() from inside the callback: the client finishes, then is destroyed normally.
  EXPECT_TRUE(driver.run_until([&] { return raw->is_finished(); }, 30s, raw, &s.gone))
      << point.name << ": still " << to_string(raw->state());
  EXPECT_EQ(raw->send("after close").error, errc::closed);
  s.client.reset();
}

INSTANTIATE_TEST_SUITE_P(AllCallbacks, ShutdownInCallback, ::testing::ValuesIn(in_callback_cases()),
                         case_name);

// --- The last reference to the runtime, released inside a callback -----------------------------

class ShutdownLastRuntime : public ::testing::TestWithParam<CallbackMode> {};

// The application keeps no reference to the runtime: the client holds the last one, so
// destroying the client from its own callback also ends the runtime, whose loop thread may be the
// one running that callback.
TEST_P(ShutdownLastRuntime, DestroyingTheClientThatHoldsTheLastRuntimeReference) {
  Watchdog watchdog(std::string("ShutdownLastRuntime/") + mode_name(GetParam()), 90s);
  auto server = start_tether_server({"--log", "/dev/stdout"});
  ModeDriver driver(GetParam());
  Subject s;
  s.client =
      std::make_unique<Client>(driver.configure(direct(ws_url(server, "/echo"))), silent_runtime());
  Client* raw = s.client.get();
  s.watch(*raw);
  raw->on_message([&s](const Message&) { s.act(Action::destroy); });
  ASSERT_FALSE(raw->start());
  raw->send("bye");
  s.main_done = true;
  ASSERT_TRUE(driver.run_until([&] { return s.gone.load(); }, 30s, raw, &s.gone));
  // The connection was closed with a close frame, not dropped.
  EXPECT_TRUE(server.wait_for_log("\"event\":\"close\",\"code\":1000", 10s)) << server.log();
  EXPECT_EQ(s.calls_after.load(), 0);
}

INSTANTIATE_TEST_SUITE_P(Modes, ShutdownLastRuntime,
                         ::testing::Values(CallbackMode::loop_thread, CallbackMode::poll,
                                           CallbackMode::executor),
                         [](const ::testing::TestParamInfo<CallbackMode>& p) {
                           return std::string(mode_name(p.param));
                         });

// A runtime without a thread of its own (a game loop): the client is polled, destroyed inside
// its callback, and the loop goes on polling the runtime so the close completes.
TEST(ShutdownNoThreadRuntime, DestroyingFromACallbackInsidePoll) {
  Watchdog watchdog("ShutdownNoThreadRuntime.DestroyingFromACallbackInsidePoll", 90s);
  auto server = start_tether_server({"--log", "/dev/stdout"});
  auto runtime = silent_runtime(/*own_thread=*/false);
  auto options = direct(ws_url(server, "/echo"));
  options.callback_mode = CallbackMode::poll;
  Subject s;
  s.client = std::make_unique<Client>(options, runtime);
  Client* raw = s.client.get();
  s.watch(*raw);
  raw->on_message([&s](const Message&) { s.act(Action::destroy); });
  ASSERT_FALSE(raw->start());
  raw->send("bye");
  s.main_done = true;
  const auto deadline = Clock::now() + 30s;
  while (!s.gone.load() && Clock::now() < deadline) {
    raw->poll();
    std::this_thread::sleep_for(1ms);
  }
  ASSERT_TRUE(s.gone.load());
  // The close handshake needs the loop: keep polling the runtime until the server saw it.
  const auto close_deadline = Clock::now() + 10s;
  while (Clock::now() < close_deadline &&
         server.count_in_log("\"event\":\"close\",\"code\":1000") == 0) {
    runtime->poll();
    std::this_thread::sleep_for(1ms);
  }
  EXPECT_EQ(server.count_in_log("\"event\":\"close\",\"code\":1000"), 1u) << server.log();
  EXPECT_EQ(s.calls_after.load(), 0);
}

// The same with the client holding the last reference to the thread-less runtime: destroying the
// client inside its callback (inside poll()) ends the runtime too.
TEST(ShutdownNoThreadRuntime, DestroyingTheLastRuntimeReferenceFromACallbackInsidePoll) {
  Watchdog watchdog("ShutdownNoThreadRuntime.DestroyingTheLastRuntimeReference", 90s);
  auto server = start_tether_server({"--log", "/dev/stdout"});
  auto options = direct(ws_url(server, "/echo"));
  options.callback_mode = CallbackMode::poll;
  Subject s;
  s.client = std::make_unique<Client>(options, silent_runtime(/*own_thread=*/false));
  Client* raw = s.client.get();
  s.watch(*raw);
  raw->on_message([&s](const Message&) { s.act(Action::destroy); });
  ASSERT_FALSE(raw->start());
  raw->send("bye");
  s.main_done = true;
  const auto deadline = Clock::now() + 30s;
  while (!s.gone.load() && Clock::now() < deadline) {
    raw->poll();
    std::this_thread::sleep_for(1ms);
  }
  ASSERT_TRUE(s.gone.load());
  // The runtime's destructor closed the connection with a close frame before it returned.
  EXPECT_TRUE(server.wait_for_log("\"event\":\"close\"", 10s)) << server.log();
  EXPECT_EQ(s.calls_after.load(), 0);
}

// --- Destroying from another thread at awkward moments -------------------------------------------

class ShutdownFromAnotherThread : public ::testing::TestWithParam<CallbackMode> {};

std::string mode_param_name(const ::testing::TestParamInfo<CallbackMode>& p) {
  return mode_name(p.param);
}

// Destroys `client` on a thread of its own while `driver` keeps running (polling in poll mode
// until the destroyer starts); returns how long the destructor took.
milliseconds destroy_on_another_thread(ModeDriver& driver, std::unique_ptr<Client>& client) {
  std::atomic<bool> started{false};
  std::atomic<bool> gone{false};
  milliseconds took{0};
  std::thread destroyer([&] {
    started = true;
    const auto t0 = Clock::now();
    client.reset();
    took = std::chrono::duration_cast<milliseconds>(Clock::now() - t0);
    gone = true;
  });
  // No poll() once the destroyer has started: the client may be gone.
  while (!started.load()) std::this_thread::yield();
  driver.run_until([&] { return gone.load(); }, 60s, nullptr, &gone);
  destroyer.join();
  return took;
}

TEST_P(ShutdownFromAnotherThread, DuringAReconnectWait) {
  Watchdog watchdog(std::string("DuringAReconnectWait/") + mode_name(GetParam()), 90s);
  ModeDriver driver(GetParam());
  auto runtime = silent_runtime();
  auto options = direct("ws://127.0.0.1:" + std::to_string(free_port()) + "/");
  options.reconnect.initial = 60000ms;
  options.reconnect.max = 60000ms;
  std::atomic<bool> gone{false};
  auto client = std::make_unique<Client>(driver.configure(options), runtime);
  Client* raw = client.get();
  ASSERT_FALSE(client->start());
  ASSERT_TRUE(driver.run_until([&] { return raw->state() == State::waiting; }, 20s, raw, &gone));
  const milliseconds took = destroy_on_another_thread(driver, client);
  EXPECT_LT(took, 30000ms) << "the destructor waited for the 60 s reconnect timer";
  std::printf("[ destroy during reconnect wait (%s): %lld ms ]\n", mode_name(GetParam()),
              static_cast<long long>(took.count()));
}

// A TCP listener that completes connections and reads, but never answers: the client's TLS
// handshake (or upgrade) stays under way.
class MuteListener {
 public:
  MuteListener() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(fd_, 8) != 0) {
      throw std::runtime_error("listener setup failed");
    }
    socklen_t len = sizeof addr;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
  }
  ~MuteListener() {
    if (conn_ >= 0) ::close(conn_);
    ::close(fd_);
  }
  MuteListener(const MuteListener&) = delete;
  MuteListener& operator=(const MuteListener&) = delete;

  int port() const { return port_; }

  /// Accepts one connection and waits for its first bytes; returns the first byte, -1 on timeout.
  int first_byte(milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) != 1) return -1;
    conn_ = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (conn_ < 0) return -1;
    const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
    pollfd c{conn_, POLLIN, 0};
    if (::poll(&c, 1, static_cast<int>(std::max<long long>(1, left.count()))) != 1) return -1;
    unsigned char byte = 0;
    if (::recv(conn_, &byte, 1, MSG_PEEK) != 1) return -1;
    return byte;
  }

  /// True once the accepted connection was closed by the client (EOF), within `timeout`.
  bool closed_by_client(milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    char buf[4096];
    while (Clock::now() < deadline) {
      pollfd c{conn_, POLLIN, 0};
      if (::poll(&c, 1, 100) == 1) {
        const ssize_t n = ::recv(conn_, buf, sizeof buf, 0);
        if (n <= 0) return true;
      }
    }
    return false;
  }

 private:
  int fd_ = -1;
  int conn_ = -1;
  int port_ = 0;
};

TEST_P(ShutdownFromAnotherThread, DuringATlsHandshake) {
  Watchdog watchdog(std::string("DuringATlsHandshake/") + mode_name(GetParam()), 90s);
  ModeDriver driver(GetParam());
  MuteListener listener;
  auto runtime = silent_runtime();
  auto options = direct("wss://127.0.0.1:" + std::to_string(listener.port()) + "/");
  options.tls.ca_file = test_certs().ca;
  options.connect_timeout = 60000ms;
  auto client = std::make_unique<Client>(driver.configure(options), runtime);
  ASSERT_FALSE(client->start());
  // 0x16: a TLS handshake record (the ClientHello) has arrived; no answer will ever come.
  ASSERT_EQ(listener.first_byte(20s), 0x16);
  EXPECT_EQ(client->state(), State::connecting);
  const milliseconds took = destroy_on_another_thread(driver, client);
  EXPECT_LT(took, 30000ms);
  // The abandoned attempt's socket is closed.
  EXPECT_TRUE(listener.closed_by_client(20s));
  std::printf("[ destroy during a TLS handshake (%s): %lld ms ]\n", mode_name(GetParam()),
              static_cast<long long>(took.count()));
}

TEST_P(ShutdownFromAnotherThread, DuringALargeSendToAPeerThatDoesNotRead) {
  Watchdog watchdog(std::string("DuringALargeSend/") + mode_name(GetParam()), 120s);
  ModeDriver driver(GetParam());
  // The server never reads after the handshake: 64 MiB cannot all go out.
  auto server = start_tether_server();
  auto runtime = silent_runtime();
  auto options = direct(ws_url(server, "/silent"));
  options.queue.max_bytes = 128u << 20;
  options.close_timeout = 2000ms;
  std::atomic<bool> gone{false};
  std::atomic<int> sent{0};
  auto client = std::make_unique<Client>(driver.configure(options), runtime);
  Client* raw = client.get();
  client->on_sent([&](MessageId, std::size_t) { ++sent; });
  ASSERT_FALSE(client->start());
  // Both wait in the queue until the connection opens, then go out coalesced: once the small
  // one is reported sent, the socket has taken the first bytes of the big one with it.
  const std::size_t size = 64u << 20;
  ASSERT_TRUE(client->send("first"));
  ASSERT_TRUE(client->send(std::string(size, 'x')));
  ASSERT_TRUE(driver.run_until([&] { return sent.load() >= 1; }, 20s, raw, &gone));
  EXPECT_EQ(sent.load(), 1);  // the peer does not read: 64 MiB cannot have gone out whole
  const milliseconds took = destroy_on_another_thread(driver, client);
  EXPECT_LT(took, 30000ms);
  std::printf("[ destroy during a 64 MiB send (%s): %lld ms ]\n", mode_name(GetParam()),
              static_cast<long long>(took.count()));
  // The runtime, destroyed here, closes what is left within its bound.
  const auto t0 = Clock::now();
  runtime.reset();
  EXPECT_LT(Clock::now() - t0, 30s);
}

TEST_P(ShutdownFromAnotherThread, CloseThenDestroyDuringALargeSend) {
  Watchdog watchdog(std::string("CloseThenDestroyDuringALargeSend/") + mode_name(GetParam()), 120s);
  ModeDriver driver(GetParam());
  auto server = start_tether_server();
  auto runtime = silent_runtime();
  auto options = direct(ws_url(server, "/silent"));
  options.queue.max_bytes = 128u << 20;
  options.close_timeout = 1000ms;
  std::atomic<bool> gone{false};
  std::atomic<int> dropped{0};
  auto client = std::make_unique<Client>(driver.configure(options), runtime);
  Client* raw = client.get();
  client->on_dropped([&](MessageId, std::size_t, DropReason) { ++dropped; });
  ASSERT_FALSE(client->start());
  ASSERT_TRUE(driver.run_until([&] { return raw->is_open(); }, 20s, raw, &gone));
  ASSERT_TRUE(client->send(std::string(64u << 20, 'x')));
  // close() from another thread: the peer never reads, so the close is bounded by close_timeout
  // and the message ends as dropped.
  const auto t0 = Clock::now();
  std::thread closer([raw] { raw->close_now(1000, "bye"); });
  closer.join();
  EXPECT_TRUE(driver.run_until([&] { return raw->is_finished(); }, 60s, raw, &gone))
      << to_string(raw->state());
  const auto finished_ms = std::chrono::duration_cast<milliseconds>(Clock::now() - t0).count();
  EXPECT_TRUE(driver.run_until([&] { return dropped.load() == 1; }, 20s, raw, &gone));
  const milliseconds took = destroy_on_another_thread(driver, client);
  std::printf(
      "[ close_now during a 64 MiB send (%s): finished after %lld ms, destroyed in %lld ms ]\n",
      mode_name(GetParam()), static_cast<long long>(finished_ms),
      static_cast<long long>(took.count()));
}

INSTANTIATE_TEST_SUITE_P(Modes, ShutdownFromAnotherThread,
                         ::testing::Values(CallbackMode::loop_thread, CallbackMode::poll,
                                           CallbackMode::executor),
                         mode_param_name);

}  // namespace
}  // namespace tether::testing
