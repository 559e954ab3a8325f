// Reconnection against real servers on 127.0.0.1: a server killed and restarted on the same port,
// close codes and upgrade statuses that do or do not reconnect, half-open peers found by the
// heartbeat, backoff growth without a storm, min_uptime, the retry limit, reconnect_now() and
// close() during a wait, and sends from several threads across a restart.
//
// Timing assertions are bounds with generous slack (the machine may be loaded); the measured
// values are printed and recorded as test properties.

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <functional>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "integration/client_harness.hpp"
#include "support/servers.hpp"

namespace tether::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

long long ms_between(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration_cast<milliseconds>(to - from).count();
}

std::string ws_url(const ServerProcess& server, const std::string& path = "/") {
  return "ws://127.0.0.1:" + std::to_string(server.port()) + path;
}

/// Small backoff values keep the suite fast: 100 ms doubling up to 1 s, jitter 0.5.
ClientOptions fast_reconnect(std::string url) {
  ClientOptions options;
  options.url = std::move(url);
  options.proxy = "direct";
  options.connect_timeout = 5000ms;
  options.close_timeout = 1000ms;
  options.reconnect.initial = 100ms;
  options.reconnect.multiplier = 2.0;
  options.reconnect.max = 1000ms;
  options.reconnect.jitter = 0.5;
  return options;
}

/// Prints a measured value and records it as a property of the running test.
void report(const std::string& key, const std::string& value) {
  ::testing::Test::RecordProperty(key, value);
  std::printf("[  MEASURE ] %s = %s\n", key.c_str(), value.c_str());
  std::fflush(stdout);
}
void report(const std::string& key, long long value) { report(key, std::to_string(value)); }

struct StateEvent {
  State from;
  State to;
  Cause cause;
  Clock::time_point at;
};

struct ScheduledEvent {
  int attempt;
  milliseconds delay;
  Clock::time_point at;
};

std::string describe(const StateEvent& e) {
  std::string out = std::string(to_string(e.from)) + "->" + std::string(to_string(e.to));
  std::string detail;
  if (e.cause.error) detail += std::string(to_string(*e.cause.error));
  if (e.cause.close_code != 0) detail += (detail.empty() ? "" : " ") + std::to_string(e.cause.close_code);
  if (e.cause.http_status != 0) detail += (detail.empty() ? "" : " ") + std::string("http ") +
                                          std::to_string(e.cause.http_status);
  if (e.cause.by_client) detail += (detail.empty() ? "" : " ") + std::string("by_client");
  if (!detail.empty()) out += "(" + detail + ")";
  return out;
}

/// Records state changes and scheduled reconnects (the callbacks ClientHarness does not record).
/// Declare it before the harness: the client, destroyed first, stops calling it.
class Recorder {
 public:
  using Predicate =
      std::function<bool(const std::vector<StateEvent>&, const std::vector<ScheduledEvent>&)>;

  void attach(Client& client) {
    client.on_state([this](State from, State to, const Cause& cause) {
      std::lock_guard<std::mutex> lock(mutex_);
      states_.push_back({from, to, cause, Clock::now()});
      changed_.notify_all();
    });
    client.on_reconnect_scheduled([this](int attempt, milliseconds delay) {
      std::lock_guard<std::mutex> lock(mutex_);
      scheduled_.push_back({attempt, delay, Clock::now()});
      changed_.notify_all();
    });
  }

  bool wait(const Predicate& condition, milliseconds timeout = 10s) {
    std::unique_lock<std::mutex> lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] { return condition(states_, scheduled_); });
  }
  /// Waits for the n-th entry (from 1) into `state`.
  bool wait_entered(State state, std::size_t n = 1, milliseconds timeout = 10s) {
    return wait([&](const auto& states, const auto&) { return count_entries(states, state) >= n; },
                timeout);
  }
  bool wait_scheduled(std::size_t n, milliseconds timeout = 10s) {
    return wait([&](const auto&, const auto& scheduled) { return scheduled.size() >= n; }, timeout);
  }

  std::vector<StateEvent> states() {
    std::lock_guard<std::mutex> lock(mutex_);
    return states_;
  }
  std::vector<ScheduledEvent> scheduled() {
    std::lock_guard<std::mutex> lock(mutex_);
    return scheduled_;
  }
  std::string history() {
    std::lock_guard<std::mutex> lock(mutex_);
    std::string out = "states:";
    for (const auto& e : states_) out += " " + describe(e);
    out += "; scheduled:";
    for (const auto& s : scheduled_) {
      out += " #" + std::to_string(s.attempt) + "=" + std::to_string(s.delay.count()) + "ms";
    }
    return out;
  }

  static std::size_t count_entries(const std::vector<StateEvent>& states, State state) {
    return static_cast<std::size_t>(
        std::count_if(states.begin(), states.end(), [state](const StateEvent& e) { return e.to == state; }));
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<StateEvent> states_;
  std::vector<ScheduledEvent> scheduled_;
};

/// The n-th (from 1) entry into `state`, or nullptr.
const StateEvent* nth_entry(const std::vector<StateEvent>& states, State state, std::size_t n) {
  std::size_t seen = 0;
  for (const auto& e : states) {
    if (e.to == state && ++seen == n) return &e;
  }
  return nullptr;
}

/// Every change starts where the previous one ended.
void expect_chained(const std::vector<StateEvent>& states) {
  for (std::size_t i = 1; i < states.size(); ++i) {
    EXPECT_EQ(states[i].from, states[i - 1].to) << "state change " << i << ": " << describe(states[i]);
  }
}

/// The backoff base of retry `attempt`: min(max, initial * multiplier^(attempt-1)).
double backoff_base(const ReconnectOptions& o, int attempt) {
  double base = static_cast<double>(o.initial.count());
  for (int i = 1; i < attempt; ++i) base *= o.multiplier;
  return std::min(base, static_cast<double>(o.max.count()));
}

/// base * (1 - jitter) <= delay <= base (the core floors to whole milliseconds).
void expect_delay_within_formula(const ReconnectOptions& o, const ScheduledEvent& e) {
  const double base = backoff_base(o, e.attempt);
  const auto lower = static_cast<long long>(std::floor(base * (1.0 - o.jitter)));
  const auto upper = static_cast<long long>(base);
  EXPECT_GE(e.delay.count(), lower) << "attempt " << e.attempt << " (base " << base << " ms)";
  EXPECT_LE(e.delay.count(), upper) << "attempt " << e.attempt << " (base " << base << " ms)";
}

/// Attempts numbered 1, 2, 3, ... in order.
void expect_consecutive_attempts(const std::vector<ScheduledEvent>& scheduled, int first = 1) {
  for (std::size_t i = 0; i < scheduled.size(); ++i) {
    EXPECT_EQ(scheduled[i].attempt, first + static_cast<int>(i)) << "scheduled event " << i;
  }
}

std::string delays_text(const std::vector<ScheduledEvent>& scheduled) {
  std::string out;
  for (const auto& s : scheduled) {
    out += (out.empty() ? "" : ", ") + std::string("#") + std::to_string(s.attempt) + ":" +
           std::to_string(s.delay.count()) + "ms";
  }
  return out;
}

// --- a server that dies and comes back ----------------------------------------------------------

TEST(ReconnectRestart, KilledServerRestartedOnTheSamePortIsReconnected) {
  auto server = start_tether_server();
  const auto options = fast_reconnect(ws_url(server, "/echo"));
  Recorder rec;
  ClientHarness h(options);
  rec.attach(h.client());
  ASSERT_FALSE(h.start());
  ASSERT_TRUE(rec.wait_entered(State::open)) << rec.history();

  const auto killed_at = Clock::now();
  server.kill_hard();
  std::this_thread::sleep_for(500ms);
  server.start();  // the same port
  const auto restarted_at = Clock::now();
  ASSERT_TRUE(rec.wait_entered(State::open, 2, 15s)) << rec.history();
  h.client().send("after the restart");
  ASSERT_TRUE(h.wait_messages(1));
  EXPECT_EQ(h.messages()[0].data, "after the restart");

  const auto states = rec.states();
  const auto scheduled = rec.scheduled();
  expect_chained(states);
  // connecting, open, then (waiting, connecting) once per retry, then open again.
  ASSERT_GE(states.size(), 5u) << rec.history();
  EXPECT_EQ(states[0].to, State::connecting);
  EXPECT_EQ(states[1].to, State::open);
  std::size_t waits = 0;
  std::size_t i = 2;
  for (; i + 1 < states.size() && states[i].to == State::waiting; i += 2) {
    EXPECT_EQ(states[i + 1].to, State::connecting) << rec.history();
    EXPECT_TRUE(states[i].cause.error.has_value()) << describe(states[i]);
    ++waits;
  }
  ASSERT_LT(i, states.size()) << rec.history();
  EXPECT_EQ(states[i].to, State::open) << rec.history();
  EXPECT_GE(waits, 1u);
  ASSERT_TRUE(states[2].cause.error.has_value());
  EXPECT_EQ(*states[2].cause.error, errc::connection_lost) << describe(states[2]);

  // One scheduled reconnect per wait, attempts 1, 2, ..., delays within the formula.
  ASSERT_EQ(scheduled.size(), waits) << rec.history();
  expect_consecutive_attempts(scheduled);
  for (const auto& s : scheduled) expect_delay_within_formula(options.reconnect, s);

  // Each retry started no earlier than its delay (50 ms slack for when the callbacks ran).
  std::string waited;
  for (std::size_t k = 0; k < scheduled.size(); ++k) {
    const StateEvent* next_connect = nth_entry(states, State::connecting, k + 2);
    ASSERT_NE(next_connect, nullptr);
    const long long gap = ms_between(scheduled[k].at, next_connect->at);
    EXPECT_GE(gap + 50, scheduled[k].delay.count()) << "attempt " << scheduled[k].attempt;
    waited += (waited.empty() ? "" : ", ") + std::string("#") + std::to_string(scheduled[k].attempt) +
              ":" + std::to_string(gap) + "ms";
  }

  const StateEvent* reopened = nth_entry(states, State::open, 2);
  const long long last_scheduled_to_open = ms_between(scheduled.back().at, reopened->at);
  const long long restart_to_open = ms_between(restarted_at, reopened->at);
  report("scheduled_delays", delays_text(scheduled));
  report("waited_before_each_retry", waited);
  report("last_scheduled_to_reopen_ms", last_scheduled_to_open);
  report("kill_to_reopen_ms", ms_between(killed_at, reopened->at));
  report("restart_to_reopen_ms", restart_to_open);
  // After the restart, at most one wait (capped at max) and one connect.
  EXPECT_LE(restart_to_open, options.reconnect.max.count() + 4000);
}

// --- close codes and upgrade statuses ------------------------------------------------------------

TEST(ReconnectPolicyLive, ServerClose1000EndsClosedWithoutRetry) {
  auto server = start_tether_server();
  Recorder rec;
  ClientHarness h(fast_reconnect(ws_url(server, "/close?code=1000&reason=bye")));
  rec.attach(h.client());
  ASSERT_FALSE(h.start());
  ASSERT_TRUE(rec.wait_entered(State::closed)) << rec.history();
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(h.client().state(), State::closed);
  EXPECT_TRUE(rec.scheduled().empty()) << rec.history();
  EXPECT_EQ(h.client().stats().attempts, 1u);
  const auto states = rec.states();
  expect_chained(states);
  const StateEvent& last = states.back();
  EXPECT_EQ(last.to, State::closed);
  EXPECT_EQ(last.cause.close_code, 1000);
  EXPECT_EQ(last.cause.close_reason, "bye");
  EXPECT_FALSE(last.cause.by_client);
  ASSERT_TRUE(h.wait_close());
  EXPECT_FALSE(h.closes()[0].reconnect);
}

TEST(ReconnectPolicyLive, ServerClose1012Reconnects) {
  auto server = start_tether_server();
  Recorder rec;
  ClientHarness h(fast_reconnect(ws_url(server, "/close?code=1012&reason=restarting")));
  rec.attach(h.client());
  ASSERT_FALSE(h.start());
  ASSERT_TRUE(rec.wait_entered(State::open, 2)) << rec.history();
  const auto scheduled = rec.scheduled();
  ASSERT_FALSE(scheduled.empty());
  EXPECT_EQ(scheduled[0].attempt, 1);
  const auto states = rec.states();
  expect_chained(states);
  const StateEvent* wait = nth_entry(states, State::waiting, 1);
  ASSERT_NE(wait, nullptr);
  EXPECT_EQ(wait->cause.close_code, 1012);
  EXPECT_EQ(wait->cause.close_reason, "restarting");
  ASSERT_TRUE(h.wait_close());
  EXPECT_EQ(h.closes()[0].code, 1012);
  EXPECT_TRUE(h.closes()[0].reconnect);
  report("scheduled_delays", delays_text(scheduled));
}

TEST(ReconnectPolicyLive, ServerClose4001FailsWithAuthRejected) {
  auto server = start_tether_server();
  Recorder rec;
  ClientHarness h(fast_reconnect(ws_url(server, "/close?code=4001&reason=bad%20token")));
  rec.attach(h.client());
  ASSERT_FALSE(h.start());
  ASSERT_TRUE(rec.wait_entered(State::failed)) << rec.history();
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(h.client().state(), State::failed);
  EXPECT_TRUE(rec.scheduled().empty()) << rec.history();
  EXPECT_EQ(h.client().stats().attempts, 1u);
  const StateEvent last = rec.states().back();
  EXPECT_EQ(last.to, State::failed);
  EXPECT_EQ(last.cause.close_code, 4001);
  ASSERT_TRUE(last.cause.error.has_value()) << "no error in the cause: " << describe(last);
  EXPECT_EQ(*last.cause.error, errc::auth_rejected) << describe(last);
}

TEST(ReconnectPolicyLive, Status401FailsWithAuthRejected) {
  auto server = start_tether_server();
  Recorder rec;
  ClientHarness h(fast_reconnect(ws_url(server, "/status?code=401&header=WWW-Authenticate:%20Bearer")));
  rec.attach(h.client());
  ASSERT_FALSE(h.start());
  ASSERT_TRUE(rec.wait_entered(State::failed)) << rec.history();
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(h.client().state(), State::failed);
  EXPECT_TRUE(rec.scheduled().empty()) << rec.history();
  EXPECT_EQ(h.client().stats().attempts, 1u);
  const StateEvent last = rec.states().back();
  ASSERT_TRUE(last.cause.error.has_value()) << describe(last);
  EXPECT_EQ(*last.cause.error, errc::auth_rejected) << describe(last);
  EXPECT_EQ(last.cause.http_status, 401);
}

TEST(ReconnectPolicyLive, Status503WithRetryAfterWaitsAtLeastThatLong) {
  auto server = start_tether_server();
  const auto options = fast_reconnect(ws_url(server, "/status?code=503&header=Retry-After:%201"));
  Recorder rec;
  ClientHarness h(options);
  rec.attach(h.client());
  ASSERT_FALSE(h.start());
  // The first retry, then the attempt after its wait.
  ASSERT_TRUE(rec.wait_entered(State::connecting, 2)) << rec.history();
  const auto scheduled = rec.scheduled();
  ASSERT_GE(scheduled.size(), 1u);
  EXPECT_EQ(scheduled[0].attempt, 1);
  EXPECT_GE(scheduled[0].delay.count(), 1000) << "Retry-After: 1 was not honoured";
  EXPECT_LE(scheduled[0].delay.count(), 1000) << "nothing but Retry-After should lengthen it";
  const auto states = rec.states();
  const StateEvent* wait = nth_entry(states, State::waiting, 1);
  ASSERT_NE(wait, nullptr);
  ASSERT_TRUE(wait->cause.error.has_value());
  EXPECT_EQ(*wait->cause.error, errc::handshake_rejected);
  EXPECT_EQ(wait->cause.http_status, 503);
  ASSERT_TRUE(wait->cause.retry_after.has_value());
  EXPECT_EQ(wait->cause.retry_after->count(), 1000);
  const long long waited = ms_between(scheduled[0].at, nth_entry(states, State::connecting, 2)->at);
  EXPECT_GE(waited + 50, 1000);
  report("scheduled_delay_ms", scheduled[0].delay.count());
  report("waited_ms", waited);
}

TEST(ReconnectPolicyLive, Status404FailsWithoutRetry) {
  auto server = start_tether_server();
  Recorder rec;
  ClientHarness h(fast_reconnect(ws_url(server, "/status?code=404")));
  rec.attach(h.client());
  ASSERT_FALSE(h.start());
  ASSERT_TRUE(rec.wait_entered(State::failed)) << rec.history();
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(h.client().state(), State::failed);
  EXPECT_TRUE(rec.scheduled().empty()) << rec.history();
  EXPECT_EQ(h.client().stats().attempts, 1u);
  const StateEvent last = rec.states().back();
  ASSERT_TRUE(last.cause.error.has_value());
  EXPECT_EQ(*last.cause.error, errc::handshake_rejected);
  EXPECT_EQ(last.cause.http_status, 404);
  ASSERT_TRUE(h.wait_error());
  EXPECT_EQ(h.errors()[0].http_status, 404);
}

// --- half-open connections ----------------------------------------------------------------------

ClientOptions with_fast_heartbeat(ClientOptions options) {
  options.heartbeat.ping_interval = 300ms;
  options.heartbeat.pong_timeout = 300ms;
  return options;
}

TEST(ReconnectHalfOpen, SilentServerIsFoundByTheHeartbeatThenReconnected) {
  auto server = start_tether_server();
  const auto options = with_fast_heartbeat(fast_reconnect(ws_url(server, "/silent_after?ms=200")));
  Recorder rec;
  ClientHarness h(options);
  rec.attach(h.client());
  ASSERT_FALSE(h.start());
  ASSERT_TRUE(rec.wait_entered(State::open)) << rec.history();
  // The last frame received: the probe's echo (the server still answers for 200 ms), else the 101.
  Clock::time_point last_frame = nth_entry(rec.states(), State::open, 1)->at;
  h.client().send("probe");
  const bool echoed = h.wait_messages(1, 1000ms);
  if (echoed) last_frame = Clock::now();
  ASSERT_TRUE(rec.wait_entered(State::waiting, 1, 10s)) << rec.history();
  ASSERT_TRUE(rec.wait_entered(State::open, 2, 10s)) << rec.history();

  const auto states = rec.states();
  expect_chained(states);
  const StateEvent* lost = nth_entry(states, State::waiting, 1);
  ASSERT_EQ(lost->from, State::open);
  ASSERT_TRUE(lost->cause.error.has_value()) << describe(*lost);
  EXPECT_EQ(*lost->cause.error, errc::heartbeat_timeout) << describe(*lost);

  const long long detection = ms_between(last_frame, lost->at);
  const long long budget =
      options.heartbeat.ping_interval.count() + options.heartbeat.pong_timeout.count();
  report("probe_echoed", echoed ? "yes" : "no");
  report("detection_since_last_frame_ms", detection);
  report("detection_budget_ms", budget);
  report("reopen_after_detection_ms", ms_between(lost->at, nth_entry(states, State::open, 2)->at));
  // A ping goes out after ping_interval of silence, the verdict pong_timeout later.
  EXPECT_GE(detection + 50, options.heartbeat.pong_timeout.count());
  EXPECT_LE(detection, budget + 1500);
  ASSERT_FALSE(rec.scheduled().empty());
  EXPECT_EQ(rec.scheduled()[0].attempt, 1);
  ASSERT_TRUE(h.wait_error());
  EXPECT_EQ(h.errors()[0].code, errc::heartbeat_timeout);
}

TEST(ReconnectHalfOpen, PausedServerIsFoundByTheHeartbeatThenReconnectedOnResume) {
  auto server = start_tether_server();
  const auto options = with_fast_heartbeat(fast_reconnect(ws_url(server, "/echo")));
  Recorder rec;
  ClientHarness h(options);
  rec.attach(h.client());
  ASSERT_FALSE(h.start());
  ASSERT_TRUE(rec.wait_entered(State::open)) << rec.history();
  h.client().send("probe");
  ASSERT_TRUE(h.wait_messages(1));
  const auto last_echo = Clock::now();  // no frame can arrive after the pause completes
  server.pause();
  const auto paused_at = Clock::now();
  ASSERT_TRUE(rec.wait_entered(State::waiting, 1, 10s)) << rec.history();
  const auto detected_at = rec.states().back().at;
  server.resume();
  const auto resumed_at = Clock::now();
  ASSERT_TRUE(rec.wait_entered(State::open, 2, 15s)) << rec.history();

  const auto states = rec.states();
  expect_chained(states);
  const StateEvent* lost = nth_entry(states, State::waiting, 1);
  ASSERT_EQ(lost->from, State::open);
  ASSERT_TRUE(lost->cause.error.has_value()) << describe(*lost);
  EXPECT_EQ(*lost->cause.error, errc::heartbeat_timeout) << describe(*lost);
  const long long budget = options.heartbeat.ping_interval.count() + options.heartbeat.pong_timeout.count();
  const long long since_pause = ms_between(paused_at, lost->at);
  report("detection_since_last_echo_ms", ms_between(last_echo, lost->at));
  report("detection_since_pause_ms", since_pause);
  report("pause_took_ms", ms_between(last_echo, paused_at));
  report("resume_to_reopen_ms", ms_between(resumed_at, nth_entry(states, State::open, 2)->at));
  // The last frame came before the pause completed: detection within the budget of it.
  EXPECT_LE(since_pause, budget + 1500);
  EXPECT_GE(ms_between(last_echo, detected_at), options.heartbeat.pong_timeout.count());
  h.client().send("after resume");
  ASSERT_TRUE(h.wait_messages(2));
  EXPECT_EQ(h.messages()[1].data, "after resume");
}

// --- backoff growth and min_uptime ----------------------------------------------------------------

TEST(ReconnectBackoff, AcceptThenDropServerBacksOffWithoutAStorm) {
  auto server = start_tether_server();
  auto options = fast_reconnect(ws_url(server, "/drop?after_ms=0"));
  options.reconnect.min_uptime = 5000ms;
  Recorder rec;
  ClientHarness h(options);
  rec.attach(h.client());
  const auto started = Clock::now();
  ASSERT_FALSE(h.start());
  ASSERT_TRUE(rec.wait_scheduled(4, 20s)) << rec.history();
  const auto window = 2000ms;
  std::this_thread::sleep_until(std::max(Clock::now(), started + window));
  const auto scheduled = rec.scheduled();
  h.client().close();

  expect_consecutive_attempts(scheduled);
  for (const auto& s : scheduled) expect_delay_within_formula(options.reconnect, s);
  // Below the cap each base doubles, so with jitter 0.5 each delay is at least the previous one.
  for (std::size_t i = 1; i < scheduled.size() && scheduled[i].attempt <= 4; ++i) {
    EXPECT_GE(scheduled[i].delay, scheduled[i - 1].delay) << delays_text(scheduled);
  }
  // How many retries fit into the window at the shortest delays the formula allows.
  std::size_t in_window = 0;
  for (const auto& s : scheduled) in_window += s.at - started <= window ? 1 : 0;
  std::size_t bound = 0;
  long long elapsed = 0;
  for (int attempt = 1; elapsed <= window.count(); ++attempt) {
    ++bound;
    elapsed += static_cast<long long>(
        std::floor(backoff_base(options.reconnect, attempt) * (1.0 - options.reconnect.jitter)));
  }
  report("scheduled_delays", delays_text(scheduled));
  report("retries_scheduled_in_2s", static_cast<long long>(in_window));
  report("formula_bound_in_2s", static_cast<long long>(bound));
  EXPECT_LE(in_window, bound);
  EXPECT_GE(scheduled.size(), 4u);
  // Each attempt opened (the server accepts) and was dropped.
  const auto states = rec.states();
  const StateEvent* first_drop = nth_entry(states, State::waiting, 1);
  ASSERT_NE(first_drop, nullptr);
  EXPECT_EQ(first_drop->from, State::open) << rec.history();
}

TEST(ReconnectBackoff, ConnectionsShorterThanMinUptimeKeepCounting) {
  auto server = start_tether_server();
  auto options = fast_reconnect(ws_url(server, "/drop?after_ms=800"));
  options.reconnect.min_uptime = 5000ms;
  Recorder rec;
  ClientHarness h(options);
  rec.attach(h.client());
  ASSERT_FALSE(h.start());
  ASSERT_TRUE(rec.wait_scheduled(3, 20s)) << rec.history();
  const auto scheduled = rec.scheduled();
  expect_consecutive_attempts(scheduled);
  report("scheduled_delays", delays_text(scheduled));
}

TEST(ReconnectBackoff, ConnectionsLongerThanMinUptimeResetTheAttemptCounter) {
  auto server = start_tether_server();
  auto options = fast_reconnect(ws_url(server, "/drop?after_ms=800"));
  options.reconnect.min_uptime = 200ms;
  Recorder rec;
  ClientHarness h(options);
  rec.attach(h.client());
  ASSERT_FALSE(h.start());
  ASSERT_TRUE(rec.wait_scheduled(3, 20s)) << rec.history();
  const auto scheduled = rec.scheduled();
  for (const auto& s : scheduled) EXPECT_EQ(s.attempt, 1) << delays_text(scheduled);
  report("scheduled_delays", delays_text(scheduled));
}

TEST(ReconnectBackoff, AnOutageAfterALongConnectionStartsAgainAtAttemptOne) {
  auto server = start_tether_server();
  auto options = fast_reconnect(ws_url(server, "/echo"));
  options.reconnect.min_uptime = 200ms;
  Recorder rec;
  ClientHarness h(options);
  rec.attach(h.client());
  ASSERT_FALSE(h.start());
  ASSERT_TRUE(rec.wait_entered(State::open)) << rec.history();

  // First outage: at least two retries while the server is down.
  server.kill_hard();
  ASSERT_TRUE(rec.wait_scheduled(2, 10s)) << rec.history();
  server.start();
  ASSERT_TRUE(rec.wait_entered(State::open, 2, 15s)) << rec.history();
  const std::size_t first_outage = rec.scheduled().size();

  // Open for longer than min_uptime, then a second outage.
  std::this_thread::sleep_for(600ms);
  server.kill_hard();
  ASSERT_TRUE(rec.wait_scheduled(first_outage + 1, 10s)) << rec.history();
  const auto scheduled = rec.scheduled();
  expect_consecutive_attempts(std::vector<ScheduledEvent>(scheduled.begin(),
                                                          scheduled.begin() + static_cast<long>(first_outage)));
  EXPECT_GE(scheduled[first_outage - 1].attempt, 2);
  EXPECT_EQ(scheduled[first_outage].attempt, 1) << delays_text(scheduled);
  report("scheduled_delays", delays_text(scheduled));
}

// --- the retry limit ---------------------------------------------------------------------------

TEST(ReconnectLimit, MaxRetriesTwoMeansThreeAttemptsThenFailed) {
  const int port = free_port();
  auto options = fast_reconnect("ws://127.0.0.1:" + std::to_string(port) + "/");
  options.reconnect.max_retries = 2;
  Recorder rec;
  ClientHarness h(options);
  rec.attach(h.client());
  ASSERT_FALSE(h.start());
  ASSERT_TRUE(rec.wait_entered(State::failed)) << rec.history();
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(h.client().state(), State::failed);
  EXPECT_EQ(h.client().stats().attempts, 3u);
  const auto states = rec.states();
  expect_chained(states);
  EXPECT_EQ(Recorder::count_entries(states, State::connecting), 3u) << rec.history();
  const auto scheduled = rec.scheduled();
  ASSERT_EQ(scheduled.size(), 2u) << rec.history();
  expect_consecutive_attempts(scheduled);
  const StateEvent& last = states.back();
  EXPECT_EQ(last.from, State::connecting);
  EXPECT_EQ(last.to, State::failed);
  ASSERT_TRUE(last.cause.error.has_value());
  EXPECT_EQ(*last.cause.error, errc::retries_exhausted) << describe(last);
  const auto errors = h.errors();
  ASSERT_EQ(errors.size(), 3u);
  for (const auto& e : errors) EXPECT_EQ(e.code, errc::connect_refused) << e.message;
  report("scheduled_delays", delays_text(scheduled));
}

// --- reconnect_now() and close() during a wait -----------------------------------------------------

TEST(ReconnectWait, ReconnectNowSkipsALongWait) {
  auto server = start_tether_server();
  auto options = fast_reconnect(ws_url(server, "/echo"));
  options.reconnect.initial = 10000ms;
  options.reconnect.max = 10000ms;
  options.reconnect.jitter = 0.0;
  Recorder rec;
  ClientHarness h(options);
  rec.attach(h.client());
  ASSERT_FALSE(h.start());
  ASSERT_TRUE(rec.wait_entered(State::open)) << rec.history();
  server.kill_hard();
  ASSERT_TRUE(rec.wait_scheduled(1)) << rec.history();
  EXPECT_EQ(rec.scheduled()[0].delay.count(), 10000);
  server.start();
  const auto asked = Clock::now();
  h.client().reconnect_now();
  ASSERT_TRUE(rec.wait_entered(State::open, 2, 10s)) << rec.history();
  const long long took = ms_between(asked, nth_entry(rec.states(), State::open, 2)->at);
  report("reconnect_now_to_open_ms", took);
  EXPECT_LT(took, 5000) << "the 10 s wait was not skipped";
  EXPECT_EQ(rec.scheduled().size(), 1u) << rec.history();
}

TEST(ReconnectWait, CloseDuringAWaitEndsAtOnceWithoutMoreAttempts) {
  const int port = free_port();
  auto options = fast_reconnect("ws://127.0.0.1:" + std::to_string(port) + "/");
  options.reconnect.initial = 10000ms;
  options.reconnect.max = 10000ms;
  options.reconnect.jitter = 0.0;
  Recorder rec;
  ClientHarness h(options);
  rec.attach(h.client());
  ASSERT_FALSE(h.start());
  ASSERT_TRUE(rec.wait_scheduled(1)) << rec.history();
  ASSERT_TRUE(rec.wait_entered(State::waiting)) << rec.history();
  const auto asked = Clock::now();
  h.client().close();
  ASSERT_TRUE(rec.wait_entered(State::closed, 1, 5s)) << rec.history();
  const long long took = ms_between(asked, rec.states().back().at);
  report("close_to_closed_ms", took);
  EXPECT_LT(took, 5000);
  EXPECT_TRUE(h.client().is_finished());
  EXPECT_EQ(h.client().send("too late").error, errc::closed);
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(h.client().state(), State::closed);
  EXPECT_EQ(h.client().stats().attempts, 1u);
  EXPECT_EQ(rec.scheduled().size(), 1u);
  const auto states = rec.states();
  const StateEvent& last = states.back();
  EXPECT_EQ(last.from, State::waiting);
  EXPECT_EQ(last.to, State::closed);
  EXPECT_TRUE(last.cause.by_client);
  EXPECT_EQ(Recorder::count_entries(states, State::connecting), 1u) << rec.history();
}

// --- sends from several threads across a restart -------------------------------------------------

/// The text of every message event in the server's --log output.
std::vector<std::string> server_received_texts(const std::string& log) {
  std::vector<std::string> out;
  std::istringstream lines(log);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.find("\"event\":\"message\"") == std::string::npos) continue;
    auto begin = line.find("\"text\":\"");
    if (begin == std::string::npos) continue;
    begin += 8;
    const auto end = line.find('"', begin);
    if (end == std::string::npos) continue;
    out.push_back(line.substr(begin, end - begin));
  }
  return out;
}

/// Checks that the messages "<thread>:<index>" of every thread come in increasing index order
/// (so also without duplicates); returns "" or the first problem. `counts` gets each thread's count.
std::string check_per_thread_order(const std::vector<std::string>& texts, int threads,
                                   std::vector<int>& counts) {
  counts.assign(static_cast<std::size_t>(threads), 0);
  std::vector<int> last(static_cast<std::size_t>(threads), -1);
  for (const auto& text : texts) {
    const auto colon = text.find(':');
    if (colon == std::string::npos) continue;
    const int t = std::stoi(text.substr(0, colon));
    const int i = std::stoi(text.substr(colon + 1));
    if (t < 0 || t >= threads) return "unexpected message " + text;
    auto& previous = last[static_cast<std::size_t>(t)];
    if (i == previous) return "duplicate " + text;
    if (i < previous) return "out of order: " + text + " after " + std::to_string(previous);
    previous = i;
    ++counts[static_cast<std::size_t>(t)];
  }
  return "";
}

TEST(ReconnectThreads, SendsFromFourThreadsAcrossAKilledAndRestartedServer) {
  TempDir dir("tether-reconnect");
  const std::string log_path = dir.file("server.jsonl");
  auto server = start_tether_server({"--log", log_path});
  const auto options = fast_reconnect(ws_url(server, "/echo"));
  Recorder rec;
  ClientHarness h(options);
  rec.attach(h.client());
  ASSERT_FALSE(h.start());
  ASSERT_TRUE(rec.wait_entered(State::open)) << rec.history();

  constexpr int kThreads = 4;
  constexpr int kEach = 500;
  std::atomic<int> refused{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      while (!go.load()) std::this_thread::yield();
      for (int i = 0; i < kEach; ++i) {
        if (!h.client().send(std::to_string(t) + ":" + std::to_string(i))) ++refused;
        std::this_thread::sleep_for(1ms);
      }
    });
  }
  go = true;
  std::this_thread::sleep_for(100ms);
  server.kill_hard();
  std::this_thread::sleep_for(300ms);
  server.start();
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(refused.load(), 0);

  // A marker sent after every thread is done: once its echo is back, everything before it that
  // made it through has been echoed too.
  ASSERT_TRUE(rec.wait_entered(State::open, 2, 15s)) << rec.history();
  ASSERT_TRUE(h.client().send("end"));
  const auto deadline = Clock::now() + 30s;
  bool marker = false;
  while (!marker && Clock::now() < deadline) {
    const auto got = h.messages();
    marker = !got.empty() && got.back().data == "end";
    if (!marker) std::this_thread::sleep_for(10ms);
  }
  ASSERT_TRUE(marker) << rec.history() << "; " << h.messages().size() << " echoes";
  bool logged = false;
  for (const auto log_deadline = Clock::now() + 5s; !logged && Clock::now() < log_deadline;) {
    logged = read_file(log_path).find("\"text\":\"end\"") != std::string::npos;
    if (!logged) std::this_thread::sleep_for(10ms);
  }
  ASSERT_TRUE(logged) << "the server did not log the marker";

  std::vector<std::string> echoed;
  for (const auto& m : h.messages()) echoed.push_back(m.data);
  const auto received = server_received_texts(read_file(log_path));
  std::vector<int> received_counts;
  std::vector<int> echoed_counts;
  EXPECT_EQ(check_per_thread_order(received, kThreads, received_counts), "");
  EXPECT_EQ(check_per_thread_order(echoed, kThreads, echoed_counts), "");
  int total_received = 0;
  int total_echoed = 0;
  std::string per_thread;
  for (int t = 0; t < kThreads; ++t) {
    total_received += received_counts[static_cast<std::size_t>(t)];
    total_echoed += echoed_counts[static_cast<std::size_t>(t)];
    per_thread += (t ? ", " : "") + std::to_string(received_counts[static_cast<std::size_t>(t)]);
    // An echo comes from a message the server received.
    EXPECT_LE(echoed_counts[static_cast<std::size_t>(t)], received_counts[static_cast<std::size_t>(t)]);
  }
  report("messages_sent", kThreads * kEach);
  report("messages_received_by_server", total_received);
  report("messages_received_per_thread", per_thread);
  report("messages_echoed_back", total_echoed);
  report("reconnect_history", rec.history());
  EXPECT_GT(total_received, 0);
}

}  // namespace
}  // namespace tether::testing
