// The outbound queue against real servers on 127.0.0.1: messages sent while the client is not
// ready wait and go out in order; the overflow policies and time-to-live drop the right messages;
// close() delivers what waits before closing, close_now() and giving up drop it; every accepted
// message ends in exactly one sent or dropped, and the counters balance at every moment.

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
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

std::string ws_url(const ServerProcess& server, const std::string& path = "/echo") {
  return "ws://127.0.0.1:" + std::to_string(server.port()) + path;
}

ClientOptions quick(std::string url) {
  ClientOptions options;
  options.url = std::move(url);
  options.proxy = "direct";
  options.connect_timeout = 5000ms;
  options.close_timeout = 1000ms;
  options.reconnect.initial = 50ms;
  options.reconnect.max = 200ms;
  return options;
}

/// The texts the server logged as received, in order (its --log file).
std::vector<std::string> server_texts(const std::string& log_path) {
  std::vector<std::string> out;
  std::istringstream lines(read_file(log_path));
  std::string line;
  while (std::getline(lines, line)) {
    if (line.find("\"event\":\"message\"") == std::string::npos) continue;
    auto begin = line.find("\"text\":\"");
    if (begin == std::string::npos) continue;
    begin += 8;
    const auto end = line.find('"', begin);
    if (end != std::string::npos) out.push_back(line.substr(begin, end - begin));
  }
  return out;
}

bool wait_server_texts(const std::string& log_path, std::size_t n, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (server_texts(log_path).size() < n) {
    if (Clock::now() > deadline) return false;
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

std::vector<MessageId> ids_dropped_for(const std::vector<Dropped>& dropped, DropReason reason) {
  std::vector<MessageId> out;
  for (const auto& d : dropped) {
    if (d.reason == reason) out.push_back(d.id);
  }
  return out;
}

/// A server that is down now (its port remembered) and can be started later on the same port.
struct LateServer {
  TempDir dir{"tether-delivery"};
  std::string log_path = dir.file("server.jsonl");
  ServerProcess server = start_tether_server({"--log", log_path});
  LateServer() { server.stop(); }
};

// --- waiting while not ready --------------------------------------------------------------------

TEST(QueueWaiting, MessagesSentBeforeTheServerIsUpArriveInOrderOnce) {
  LateServer late;
  ClientHarness h(quick(ws_url(late.server)));
  ASSERT_FALSE(h.start());
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(h.client().send("m" + std::to_string(i)));
  ASSERT_TRUE(h.wait_state(State::waiting));
  EXPECT_EQ(h.client().stats().messages_queued, 50u);
  EXPECT_GT(h.client().buffered_amount(), 0u);
  late.server.start();
  ASSERT_TRUE(h.wait_sent(50, 15s));
  ASSERT_TRUE(wait_server_texts(late.log_path, 50, 5s));
  const auto texts = server_texts(late.log_path);
  ASSERT_EQ(texts.size(), 50u);
  for (int i = 0; i < 50; ++i) EXPECT_EQ(texts[static_cast<std::size_t>(i)], "m" + std::to_string(i));
  const auto depths = h.queued_depths();
  ASSERT_EQ(depths.size(), 50u) << "each message waited: one queued event each";
  for (std::size_t i = 0; i < depths.size(); ++i) EXPECT_EQ(depths[i], i + 1);
  EXPECT_EQ(h.client().buffered_amount(), 0u);
  const Stats stats = h.client().stats();
  EXPECT_EQ(stats.messages_accepted, 50u);
  EXPECT_EQ(stats.messages_sent, 50u);
  EXPECT_EQ(stats.messages_queued, 0u);
  EXPECT_TRUE(h.dropped().empty());
}

// --- overflow -----------------------------------------------------------------------------------

struct OverflowCase {
  OverflowPolicy policy;
  std::vector<std::string> delivered;
  std::vector<MessageId> dropped;  // overflow
  int refused;
};

class QueueOverflow : public ::testing::TestWithParam<OverflowCase> {};

TEST_P(QueueOverflow, FiveMessagesIntoAQueueOfThree) {
  const OverflowCase& c = GetParam();
  LateServer late;
  auto options = quick(ws_url(late.server));
  options.queue.max_messages = 3;
  options.queue.overflow = c.policy;
  ClientHarness h(options);
  ASSERT_FALSE(h.start());
  int refused = 0;
  for (int i = 1; i <= 5; ++i) {
    const SendResult r = h.client().send("m" + std::to_string(i));
    EXPECT_EQ(r.id, static_cast<MessageId>(i));
    if (!r) {
      EXPECT_EQ(r.error, errc::queue_full);
      ++refused;
    }
  }
  EXPECT_EQ(refused, c.refused);
  ASSERT_TRUE(h.wait_dropped(2));
  EXPECT_EQ(ids_dropped_for(h.dropped(), DropReason::overflow), c.dropped);
  late.server.start();
  ASSERT_TRUE(h.wait_sent(3, 15s));
  ASSERT_TRUE(wait_server_texts(late.log_path, 3, 5s));
  EXPECT_EQ(server_texts(late.log_path), c.delivered);
  const Stats stats = h.client().stats();
  EXPECT_EQ(stats.messages_rejected, static_cast<std::uint64_t>(c.refused));
  EXPECT_EQ(stats.messages_accepted, stats.messages_sent + stats.messages_dropped + stats.messages_queued);
  EXPECT_EQ(stats.messages_accepted, 5u - static_cast<std::uint64_t>(c.refused));
}

INSTANTIATE_TEST_SUITE_P(
    Policies, QueueOverflow,
    ::testing::Values(OverflowCase{OverflowPolicy::reject, {"m1", "m2", "m3"}, {4, 5}, 2},
                      OverflowCase{OverflowPolicy::drop_oldest, {"m3", "m4", "m5"}, {1, 2}, 0},
                      OverflowCase{OverflowPolicy::drop_newest, {"m1", "m2", "m3"}, {4, 5}, 0}),
    [](const ::testing::TestParamInfo<OverflowCase>& param_info) {
      switch (param_info.param.policy) {
        case OverflowPolicy::reject:
          return std::string("reject");
        case OverflowPolicy::drop_oldest:
          return std::string("drop_oldest");
        case OverflowPolicy::drop_newest:
          return std::string("drop_newest");
      }
      return std::string("unknown");
    });

TEST(QueueBounds, MaxBytesCountsPayloadBytes) {
  LateServer late;
  auto options = quick(ws_url(late.server));
  options.queue.max_bytes = 1000;
  ClientHarness h(options);
  ASSERT_FALSE(h.start());
  EXPECT_TRUE(h.client().send(std::string(600, 'a')));
  EXPECT_TRUE(h.client().send(std::string(400, 'b')));
  const SendResult third = h.client().send("c");
  EXPECT_EQ(third.error, errc::queue_full);
  EXPECT_EQ(h.client().buffered_amount(), 1000u);
  ASSERT_TRUE(h.wait_dropped(1));
  EXPECT_EQ(h.dropped()[0].id, third.id);
  EXPECT_EQ(h.dropped()[0].bytes, 1u);
  EXPECT_EQ(h.dropped()[0].reason, DropReason::overflow);
}

// --- time to live -------------------------------------------------------------------------------

TEST(QueueTtl, ExpiredMessagesAreDroppedTheOthersDelivered) {
  LateServer late;
  auto options = quick(ws_url(late.server));
  options.queue.ttl = 300ms;
  ClientHarness h(options);
  ASSERT_FALSE(h.start());
  SendOptions short_ttl;
  short_ttl.ttl = 100ms;
  SendOptions long_ttl;
  long_ttl.ttl = 30s;
  std::mutex mutex;
  std::vector<Delivery> deliveries;
  long_ttl.on_done = [&](const Delivery& d) {
    std::lock_guard<std::mutex> lock(mutex);
    deliveries.push_back(d);
  };
  const auto a = h.client().send("short", short_ttl).id;
  const auto b = h.client().send("default").id;
  const auto c = h.client().send("long", long_ttl).id;
  ASSERT_TRUE(h.wait_dropped(2, 5s));
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(ids_dropped_for(h.dropped(), DropReason::ttl), (std::vector<MessageId>{a, b}));
  late.server.start();
  ASSERT_TRUE(h.wait_sent(1, 15s));
  EXPECT_EQ(h.sent_ids(), std::vector<MessageId>{c});
  ASSERT_TRUE(wait_server_texts(late.log_path, 1, 5s));
  EXPECT_EQ(server_texts(late.log_path), std::vector<std::string>{"long"});
  // on_done runs on the loop thread after the `sent` callback: wait for it.
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  for (;;) {
    {
      std::lock_guard<std::mutex> lock(mutex);
      if (!deliveries.empty()) break;
    }
    if (std::chrono::steady_clock::now() > deadline) break;
    std::this_thread::sleep_for(5ms);
  }
  std::this_thread::sleep_for(50ms);  // a second (wrong) call would land here
  std::lock_guard<std::mutex> lock(mutex);
  ASSERT_EQ(deliveries.size(), 1u) << "on_done runs once";
  EXPECT_EQ(deliveries[0].id, c);
  EXPECT_TRUE(deliveries[0].sent());
  EXPECT_EQ(deliveries[0].bytes, 4u);
}

// --- close, close_now, giving up ------------------------------------------------------------------

TEST(QueueClose, CloseDeliversWhatWaitsThenCloses) {
  LateServer late;
  ClientHarness h(quick(ws_url(late.server)));
  ASSERT_FALSE(h.start());
  for (int i = 0; i < 200; ++i) ASSERT_TRUE(h.client().send("m" + std::to_string(i)));
  h.client().close(1000, "done");
  EXPECT_EQ(h.client().send("late").error, errc::closed) << "nothing is accepted after close()";
  std::this_thread::sleep_for(200ms);
  EXPECT_FALSE(h.client().is_finished()) << "close() waits for the queue";
  late.server.start();
  ASSERT_TRUE(h.wait_finished(15s));
  EXPECT_EQ(h.client().state(), State::closed);
  EXPECT_EQ(h.sent_count(), 200u);
  EXPECT_TRUE(h.dropped().empty());
  ASSERT_TRUE(wait_server_texts(late.log_path, 200, 5s));
  EXPECT_EQ(server_texts(late.log_path).size(), 200u);
  EXPECT_NE(read_file(late.log_path).find("\"event\":\"close\",\"code\":1000,\"reason\":\"done\""),
            std::string::npos)
      << read_file(late.log_path);
}

TEST(QueueClose, CloseNowDropsWhatWaitsWithReasonClosed) {
  LateServer late;
  ClientHarness h(quick(ws_url(late.server)));
  ASSERT_FALSE(h.start());
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(h.client().send("m" + std::to_string(i)));
  h.client().close_now();
  ASSERT_TRUE(h.wait_finished());
  ASSERT_TRUE(h.wait_dropped(10));
  EXPECT_EQ(ids_dropped_for(h.dropped(), DropReason::closed).size(), 10u);
  const Stats stats = h.client().stats();
  EXPECT_EQ(stats.messages_dropped, 10u);
  EXPECT_EQ(stats.messages_queued, 0u);
  EXPECT_EQ(h.client().buffered_amount(), 0u);
}

TEST(QueueClose, GivingUpDropsEverythingWithReasonClosed) {
  LateServer late;
  auto options = quick(ws_url(late.server));
  options.reconnect.max_retries = 1;
  ClientHarness h(options);
  ASSERT_FALSE(h.start());
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(h.client().send("m" + std::to_string(i)));
  ASSERT_TRUE(h.wait_finished());
  EXPECT_EQ(h.client().state(), State::failed);
  ASSERT_TRUE(h.wait_dropped(5));
  EXPECT_EQ(ids_dropped_for(h.dropped(), DropReason::closed), (std::vector<MessageId>{1, 2, 3, 4, 5}));
}

// --- backpressure -------------------------------------------------------------------------------

TEST(QueueBackpressure, ASilentServerFillsTheQueueUpToItsBound) {
  auto server = start_tether_server();
  auto options = quick(ws_url(server, "/silent"));
  options.heartbeat.ping_interval = 0ms;
  options.queue.max_bytes = 8u << 20;
  ClientHarness h(options);
  ASSERT_FALSE(h.start());
  ASSERT_TRUE(h.wait_open());
  const std::string chunk(64 * 1024, 'x');
  int accepted = 0;
  errc refusal{};
  for (int i = 0; i < 1000 && refusal == errc{}; ++i) {
    const SendResult r = h.client().send_binary(chunk);
    if (r) {
      ++accepted;
    } else {
      refusal = r.error;
    }
    if (i % 16 == 0) std::this_thread::sleep_for(1ms);  // let the socket take what it can
  }
  EXPECT_EQ(refusal, errc::queue_full) << "the socket stopped taking bytes; the bound holds";
  const Stats stats = h.client().stats();
  EXPECT_EQ(stats.messages_accepted, static_cast<std::uint64_t>(accepted));
  EXPECT_EQ(stats.messages_accepted, stats.messages_sent + stats.messages_dropped + stats.messages_queued);
  EXPECT_GT(stats.messages_queued, 0u);
  EXPECT_LE(h.client().buffered_amount(), 8u << 20);
  EXPECT_EQ(h.client().buffered_amount(), stats.messages_queued * chunk.size());
  std::printf("[  MEASURE ] accepted=%d sent=%llu queued=%llu buffered=%zu\n", accepted,
              static_cast<unsigned long long>(stats.messages_sent),
              static_cast<unsigned long long>(stats.messages_queued), h.client().buffered_amount());
  h.client().close_now();
  ASSERT_TRUE(h.wait_finished(10s));
  const Stats end = h.client().stats();
  EXPECT_EQ(end.messages_queued, 0u);
  EXPECT_EQ(end.messages_accepted, end.messages_sent + end.messages_dropped);
}

TEST(QueueBackpressure, StatsAreFinalOnceTheClientIsFinished) {
  // Messages the silent server never reads are still in the queue when close_now() ends the
  // connection. is_finished() must not turn true until they have ended, so the stats a caller
  // reads then are final (a slow on_state on the loop thread widens any window between them).
  auto server = start_tether_server();
  auto options = quick(ws_url(server, "/silent"));
  options.heartbeat.ping_interval = 0ms;
  options.close_timeout = 200ms;
  Client client(options, silent_runtime());
  std::atomic<bool> opened{false};
  client.on_open([&](const OpenInfo&) { opened = true; });
  client.on_state([](State, State to, const Cause&) {
    if (to == State::closed || to == State::failed) std::this_thread::sleep_for(300ms);
  });
  ASSERT_FALSE(client.start());
  const auto open_deadline = Clock::now() + 5s;
  while (!opened && Clock::now() < open_deadline) std::this_thread::sleep_for(2ms);
  ASSERT_TRUE(opened);
  const std::string chunk(256 * 1024, 'x');
  for (int i = 0; i < 64; ++i) ASSERT_TRUE(client.send_binary(chunk));
  std::this_thread::sleep_for(50ms);  // the socket takes what it can; the rest stays queued
  ASSERT_GT(client.stats().messages_queued, 0u);
  client.close_now();
  const auto deadline = Clock::now() + 10s;
  while (!client.is_finished() && Clock::now() < deadline) std::this_thread::sleep_for(1ms);
  ASSERT_TRUE(client.is_finished());
  const Stats end = client.stats();
  EXPECT_EQ(end.messages_queued, 0u);
  EXPECT_EQ(end.messages_accepted, end.messages_sent + end.messages_dropped);
  EXPECT_EQ(client.buffered_amount(), 0u);
}

class ClientEnd : public ::testing::TestWithParam<CallbackMode> {};

TEST_P(ClientEnd, TheChangeToClosedIsTheLastEventAndTheClientIsFinishedWhenItArrives) {
  // A request pending and messages queued behind a silent server when close_now() ends the
  // connection: their results and drops are reported first, then the change to closed, and
  // nothing after it. In on_state, is_finished() is already true and the stats are final.
  auto server = start_tether_server();
  auto options = quick(ws_url(server, "/silent"));
  options.heartbeat.ping_interval = 0ms;
  options.close_timeout = 200ms;
  options.callback_mode = GetParam();
  Client client(options, silent_runtime());
  std::mutex mutex;
  std::vector<std::string> events;
  bool finished_in_callback = false;
  Stats stats_in_callback;
  auto note = [&](std::string event) {
    std::lock_guard<std::mutex> lock(mutex);
    events.push_back(std::move(event));
  };
  std::atomic<bool> opened{false};
  client.on_open([&](const OpenInfo&) { opened = true; });
  client.on_dropped([&](MessageId, std::size_t, DropReason) { note("dropped"); });
  client.on_state([&](State, State to, const Cause&) {
    if (to != State::closed && to != State::failed) return;
    const bool finished = client.is_finished();
    const Stats stats = client.stats();
    std::lock_guard<std::mutex> lock(mutex);
    finished_in_callback = finished;
    stats_in_callback = stats;
    events.push_back(to == State::closed ? "closed" : "failed");
  });
  ASSERT_FALSE(client.start());
  const bool polled = GetParam() == CallbackMode::poll;
  const auto open_deadline = Clock::now() + 5s;
  while (!opened && Clock::now() < open_deadline) {
    if (polled) client.poll();
    std::this_thread::sleep_for(2ms);
  }
  ASSERT_TRUE(opened);
  client.request("never", Json(), [&](const Response& r) { note(r.ok() ? "ok" : "result"); });
  const std::string chunk(256 * 1024, 'x');
  for (int i = 0; i < 64; ++i) ASSERT_TRUE(client.send_binary(chunk));
  std::this_thread::sleep_for(50ms);  // the socket takes what it can; the rest stays queued
  ASSERT_GT(client.stats().messages_queued, 0u);
  client.close_now();
  const auto deadline = Clock::now() + 10s;
  auto closed_seen = [&] {
    std::lock_guard<std::mutex> lock(mutex);
    return std::find(events.begin(), events.end(), "closed") != events.end();
  };
  while (!closed_seen() && Clock::now() < deadline) {
    if (polled) client.poll();
    std::this_thread::sleep_for(1ms);
  }
  ASSERT_TRUE(closed_seen());
  for (int i = 0; i < 20; ++i) {  // anything reported late would arrive here
    if (polled) client.poll();
    std::this_thread::sleep_for(10ms);
  }
  std::lock_guard<std::mutex> lock(mutex);
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back(), "closed") << "an event followed the change to closed";
  EXPECT_EQ(std::count(events.begin(), events.end(), "closed"), 1);
  EXPECT_EQ(std::count(events.begin(), events.end(), "result"), 1);
  EXPECT_GT(std::count(events.begin(), events.end(), "dropped"), 0);
  EXPECT_TRUE(finished_in_callback);
  EXPECT_EQ(stats_in_callback.messages_queued, 0u);
  EXPECT_EQ(stats_in_callback.requests_pending, 0u);
  EXPECT_EQ(stats_in_callback.messages_accepted,
            stats_in_callback.messages_sent + stats_in_callback.messages_dropped);
}

INSTANTIATE_TEST_SUITE_P(Modes, ClientEnd,
                         ::testing::Values(CallbackMode::loop_thread, CallbackMode::poll),
                         [](const ::testing::TestParamInfo<CallbackMode>& mode) {
                           return mode.param == CallbackMode::poll ? std::string("Poll")
                                                                   : std::string("LoopThread");
                         });

// --- the invariant --------------------------------------------------------------------------------

TEST(QueueInvariant, AcceptedIsSentPlusDroppedPlusQueuedAtEveryMoment) {
  // Connections that drop every 100 ms, a small queue evicting the oldest, two sender threads
  // and a third thread checking the counters as fast as it can.
  auto server = start_tether_server();
  auto options = quick(ws_url(server, "/drop?after_ms=100"));
  options.reconnect.initial = 10ms;
  options.reconnect.max = 50ms;
  options.queue.max_messages = 200;
  options.queue.overflow = OverflowPolicy::drop_oldest;
  ClientHarness h(options);
  ASSERT_FALSE(h.start());
  std::atomic<bool> done{false};
  std::atomic<long> samples{0};
  std::atomic<long> violations{0};
  std::string first_violation;
  std::thread checker([&] {
    while (!done.load()) {
      const Stats s = h.client().stats();
      ++samples;
      if (s.messages_accepted != s.messages_sent + s.messages_dropped + s.messages_queued &&
          violations++ == 0) {
        first_violation = std::to_string(s.messages_accepted) + " != " +
                          std::to_string(s.messages_sent) + " + " +
                          std::to_string(s.messages_dropped) + " + " +
                          std::to_string(s.messages_queued);
      }
    }
  });
  std::vector<std::thread> senders;
  for (int t = 0; t < 2; ++t) {
    senders.emplace_back([&, t] {
      for (int i = 0; i < 5000; ++i) {
        h.client().send(std::to_string(t) + ":" + std::to_string(i));
        if (i % 10 == 0) std::this_thread::sleep_for(1ms);
      }
    });
  }
  for (auto& s : senders) s.join();
  h.client().close_now();
  ASSERT_TRUE(h.wait_finished(15s));
  std::this_thread::sleep_for(50ms);
  done = true;
  checker.join();
  EXPECT_EQ(violations.load(), 0) << first_violation;
  const Stats s = h.client().stats();
  EXPECT_EQ(s.messages_accepted, 10000u);
  EXPECT_EQ(s.messages_queued, 0u);
  EXPECT_EQ(s.messages_sent + s.messages_dropped, 10000u);
  EXPECT_EQ(h.sent_count() + h.dropped().size(), 10000u) << "one event per message";
  EXPECT_GE(s.reconnects, 2u) << "the connection dropped while messages flowed";
  std::printf("[  MEASURE ] samples=%ld sent=%llu dropped=%llu reconnects=%llu\n", samples.load(),
              static_cast<unsigned long long>(s.messages_sent),
              static_cast<unsigned long long>(s.messages_dropped),
              static_cast<unsigned long long>(s.reconnects));
}

// --- exactly once across server restarts ---------------------------------------------------------

TEST(DeliveryRestart, ThousandMessagesFromTwoThreadsAcrossTwoServerRestartsArriveExactlyOnce) {
  // The server is stopped (SIGTERM: it closes every connection with 1001 and reads what the
  // client sent until the client's close frame) and started again on the same port, twice, while
  // two threads send 500 numbered messages each.
  TempDir dir("tether-delivery");
  const std::string log_path = dir.file("server.jsonl");
  auto server = start_tether_server({"--log", log_path});
  auto options = quick(ws_url(server, "/echo"));
  ClientHarness h(options);
  ASSERT_FALSE(h.start());
  ASSERT_TRUE(h.wait_open());
  constexpr int kThreads = 2;
  constexpr int kEach = 500;
  std::atomic<bool> go{false};
  std::atomic<int> refused{0};
  std::vector<std::thread> senders;
  for (int t = 0; t < kThreads; ++t) {
    senders.emplace_back([&, t] {
      while (!go.load()) std::this_thread::yield();
      for (int i = 0; i < kEach; ++i) {
        if (!h.client().send(std::to_string(t) + ":" + std::to_string(i))) ++refused;
        std::this_thread::sleep_for(std::chrono::microseconds(600));
      }
    });
  }
  go = true;
  for (int restart = 0; restart < 2; ++restart) {
    std::this_thread::sleep_for(100ms);
    server.stop();
    std::this_thread::sleep_for(100ms);
    server.start();
    // The next stop comes once the client is connected again.
    const auto deadline = Clock::now() + 10s;
    while (h.client().stats().reconnects < static_cast<std::uint64_t>(restart + 1) &&
           Clock::now() < deadline) {
      std::this_thread::sleep_for(5ms);
    }
  }
  for (auto& t : senders) t.join();
  EXPECT_EQ(refused.load(), 0);
  h.client().close(1000, "done");  // delivers everything still queued first
  ASSERT_TRUE(h.wait_finished(30s));
  EXPECT_EQ(h.client().state(), State::closed);

  const Stats stats = h.client().stats();
  EXPECT_EQ(stats.messages_accepted, static_cast<std::uint64_t>(kThreads * kEach));
  EXPECT_EQ(stats.messages_sent, stats.messages_accepted);
  EXPECT_EQ(stats.messages_dropped, 0u);
  EXPECT_EQ(stats.messages_queued, 0u);
  EXPECT_GE(stats.reconnects, 2u);

  ASSERT_TRUE(wait_server_texts(log_path, kThreads * kEach, 10s));
  std::vector<int> next(kThreads, 0);
  std::size_t total = 0;
  for (const auto& text : server_texts(log_path)) {
    const auto colon = text.find(':');
    ASSERT_NE(colon, std::string::npos) << text;
    const int t = std::stoi(text.substr(0, colon));
    const int i = std::stoi(text.substr(colon + 1));
    ASSERT_TRUE(t >= 0 && t < kThreads) << text;
    ASSERT_EQ(i, next[static_cast<std::size_t>(t)])
        << "thread " << t << ": expected message " << next[static_cast<std::size_t>(t)]
        << " next (each exactly once, in order), got " << i;
    ++next[static_cast<std::size_t>(t)];
    ++total;
  }
  EXPECT_EQ(total, static_cast<std::size_t>(kThreads * kEach));
  std::printf("[  MEASURE ] reconnects=%llu\n", static_cast<unsigned long long>(stats.reconnects));
}

TEST(DeliveryDrops, LargeMessagesCutOffByADropGoOutAgainIntact) {
  // Large payloads are masked as send() copies them and go to the socket from the queue's copy.
  // The server drops every connection after a few milliseconds; a message the socket had not
  // fully taken goes out again on the next connection, masked again with a fresh key. Whatever
  // the server receives is whole and readable, in order, each message at most once; messages the
  // socket took before a drop may be lost with it (they were reported sent).
  TempDir dir("tether-delivery");
  const std::string log_path = dir.file("server.jsonl");
  auto server = start_tether_server({"--log", log_path});
  auto options = quick(ws_url(server, "/drop?after_ms=4"));
  options.reconnect.initial = 5ms;
  options.reconnect.max = 20ms;
  ClientHarness h(options);
  ASSERT_FALSE(h.start());
  ASSERT_TRUE(h.wait_open());
  constexpr int kCount = 60;
  constexpr std::size_t kSize = 200 * 1024;
  const auto payload_of = [](int i) {
    std::string text = std::to_string(i) + " ";
    text.reserve(kSize);
    while (text.size() < kSize) text.push_back(static_cast<char>('a' + text.size() % 26));
    return text;
  };
  for (int i = 0; i < kCount; ++i) {
    const auto sent = h.client().send(payload_of(i));
    ASSERT_TRUE(sent) << "message " << i << ": " << to_string(sent.error);
  }
  h.client().close(1000, "done");  // once every message is sent
  ASSERT_TRUE(h.wait_finished(60s));
  const Stats stats = h.client().stats();
  EXPECT_EQ(stats.messages_sent, static_cast<std::uint64_t>(kCount));
  EXPECT_EQ(stats.messages_dropped, 0u);
  EXPECT_GE(stats.reconnects, 1u);

  // The server logs a message once it has all of it (and has checked its UTF-8).
  std::this_thread::sleep_for(100ms);
  const std::string log = read_file(log_path);
  EXPECT_EQ(log.find("invalid_utf8"), std::string::npos);
  EXPECT_EQ(log.find("protocol_error"), std::string::npos);
  std::istringstream lines(log);
  std::string line;
  std::size_t messages = 0;
  while (std::getline(lines, line)) {
    if (line.find("\"event\":\"message\"") == std::string::npos) continue;
    ++messages;
    EXPECT_NE(line.find("\"bytes\":" + std::to_string(kSize)), std::string::npos)
        << line.substr(0, 200);
  }
  const auto texts = server_texts(log_path);
  // Under a sanitizer's slowdown a connection may not outlive the first frame: nothing arrives,
  // and there is nothing to check but the counters above.
  EXPECT_EQ(texts.size(), messages);
  int last = -1;
  for (const auto& text : texts) {
    const int i = std::atoi(text.c_str());
    EXPECT_GT(i, last) << "in order, at most once";
    last = i;
    ASSERT_EQ(text, payload_of(i).substr(0, text.size())) << "message " << i;
    EXPECT_GE(text.size(), 16u);
  }
  std::printf("[  MEASURE ] reconnects=%llu received=%zu of %d\n",
              static_cast<unsigned long long>(stats.reconnects), texts.size(), kCount);
}

}  // namespace
}  // namespace tether::testing
