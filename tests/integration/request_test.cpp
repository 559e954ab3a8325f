// Requests and typed messages against real servers on 127.0.0.1: the project's /app scenario
// (the default envelope) and an independent JSON-RPC 2.0 server (python3-websockets). Out-of-order
// responses, 10,000 concurrent requests, timeouts against a server that never answers, remote
// errors, connection_lost and retry_on_reconnect across a server restart, cancellation, unknown
// response ids, typed handlers and typed requests, and bad inbound JSON.

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "integration/client_harness.hpp"
#include "support/servers.hpp"

namespace chat {

struct Message {
  std::string user;
  std::string text;
  int likes = 0;
};

void to_json(tether::Json& out, const Message& m) {
  out = tether::Json::object();
  out["user"] = m.user;
  out["text"] = m.text;
  out["likes"] = m.likes;
}

bool from_json(const tether::Json& in, Message& m, std::string* error) {
  return tether::json_field(in, "user", m.user, error) &&
         tether::json_field(in, "text", m.text, error) &&
         tether::json_field(in, "likes", m.likes, error);
}

}  // namespace chat

namespace tether::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

std::string url_of(const ServerProcess& server, const std::string& target) {
  return "ws://127.0.0.1:" + std::to_string(server.port()) + target;
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

/// Collects request results.
struct Results {
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<Response> all;

  std::function<void(const Response&)> sink() {
    return [this](const Response& r) {
      std::lock_guard<std::mutex> lock(mutex);
      all.push_back(r);
      changed.notify_all();
    };
  }
  bool wait(std::size_t n, std::chrono::milliseconds timeout = 10s) {
    std::unique_lock<std::mutex> lock(mutex);
    return changed.wait_for(lock, timeout, [&] { return all.size() >= n; });
  }
  std::vector<Response> get() {
    std::lock_guard<std::mutex> lock(mutex);
    return all;
  }
};

// --- the default envelope against /app ------------------------------------------------------------

TEST(Requests, TenThousandConcurrentRequestsResolveWithTheirOwnResponses) {
  auto server = start_tether_server();
  ClientHarness h(quick(url_of(server, "/app")));
  ASSERT_FALSE(h.start());
  ASSERT_TRUE(h.wait_open());
  constexpr int kCount = 10000;
  std::atomic<int> done{0};
  std::atomic<int> wrong{0};
  std::mutex mutex;
  std::condition_variable changed;
  const auto start = Clock::now();
  for (int i = 0; i < kCount; ++i) {
    Json payload = Json::object();
    payload["n"] = i;
    h.client().request("echo", payload, [&, i](const Response& r) {
      if (!r.ok() || r.payload["n"].as_int(-1) != i) ++wrong;
      if (++done == kCount) {
        std::lock_guard<std::mutex> lock(mutex);
        changed.notify_all();
      }
    });
  }
  {
    std::unique_lock<std::mutex> lock(mutex);
    ASSERT_TRUE(changed.wait_for(lock, 30s, [&] { return done.load() == kCount; })) << done.load();
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_EQ(h.client().stats().requests_pending, 0u);
  EXPECT_EQ(h.client().stats().responses_unmatched, 0u);
  std::printf("[  MEASURE ] %d requests in %.3f s (%.0f requests/s, unloaded test run)\n", kCount,
              seconds, kCount / seconds);
}

TEST(Requests, ATimeoutAgainstAServerThatNeverAnswers) {
  auto server = start_tether_server();
  ClientHarness h(quick(url_of(server, "/app")));
  ASSERT_FALSE(h.start());
  Results results;
  RequestOptions options;
  options.timeout = 200ms;
  const auto start = Clock::now();
  h.client().request("never", Json(), results.sink(), options);
  ASSERT_TRUE(results.wait(1, 5s));
  const auto elapsed = Clock::now() - start;
  const Response r = results.get()[0];
  EXPECT_EQ(r.error, errc::timeout);
  EXPECT_FALSE(r.rtt);
  EXPECT_GE(elapsed, 200ms);
  EXPECT_EQ(h.client().stats().requests_pending, 0u);
  EXPECT_TRUE(h.client().is_open()) << "a timeout leaves the connection alone";
}

TEST(Requests, RemoteErrorsCarryTheServersCodeAndMessage) {
  auto server = start_tether_server();
  ClientHarness h(quick(url_of(server, "/app")));
  ASSERT_FALSE(h.start());
  auto future = h.client().request("fail", Json::object());
  ASSERT_EQ(future.wait_for(5s), std::future_status::ready);
  const Response r = future.get();
  EXPECT_EQ(r.error, errc{});
  ASSERT_TRUE(r.remote);
  EXPECT_EQ(r.remote->code, "failed");
  EXPECT_EQ(r.remote->message, "requested failure");
  EXPECT_FALSE(r.ok());
  EXPECT_TRUE(r.rtt);
}

TEST(Requests, TheRoundTripCoversTheServersDelayAndNotMoreThanTheWait) {
  // Answers 150 ms late. The first request goes from the test thread, the next ones from the
  // previous result's callback (written while the read that brought that result is handled):
  // each rtt covers the server's delay and is no longer than the wait the application saw, up to
  // the slack of timing each socket event once.
  auto server = start_tether_server();
  ClientHarness h(quick(url_of(server, "/app?request_delay_ms=150")));
  ASSERT_FALSE(h.start());
  ASSERT_TRUE(h.wait_open());
  constexpr int kCount = 3;
  std::mutex mutex;
  std::vector<std::pair<Response, Clock::duration>> seen;
  std::promise<void> done;
  std::function<void(int)> issue = [&](int n) {
    const auto asked = Clock::now();
    h.client().request("echo", Json(n), [&, n, asked](const Response& r) {
      {
        std::lock_guard<std::mutex> lock(mutex);
        seen.emplace_back(r, Clock::now() - asked);
      }
      if (n + 1 < kCount) {
        issue(n + 1);
      } else {
        done.set_value();
      }
    });
  };
  issue(0);
  ASSERT_EQ(done.get_future().wait_for(10s), std::future_status::ready);
  std::lock_guard<std::mutex> lock(mutex);
  ASSERT_EQ(seen.size(), static_cast<std::size_t>(kCount));
  for (const auto& [r, waited] : seen) {
    SCOPED_TRACE(r.id);
    EXPECT_TRUE(r.ok());
    ASSERT_TRUE(r.rtt);
    EXPECT_GE(*r.rtt, 150ms);
    EXPECT_LE(*r.rtt, waited + 50ms);
  }
}

TEST(Requests, EachResultCarriesOnlyItsOwnFields) {
  // Results on the loop thread, remote errors and answers alternating, each request sent from
  // the previous one's callback: nothing of one result shows in the next.
  auto server = start_tether_server();
  ClientHarness h(quick(url_of(server, "/app")));
  ASSERT_FALSE(h.start());
  ASSERT_TRUE(h.wait_open());
  Results results;
  constexpr int kCount = 6;
  std::function<void(int)> issue = [&](int n) {
    Json payload = Json::object();
    payload["n"] = n;
    payload["pad"] = std::string(static_cast<std::size_t>(200 - 30 * n), 'p');
    h.client().request(n % 2 == 0 ? "fail" : "echo", payload, [&, n](const Response& r) {
      results.sink()(r);
      if (n + 1 < kCount) issue(n + 1);
    });
  };
  issue(0);
  ASSERT_TRUE(results.wait(kCount, 10s));
  const std::vector<Response> all = results.get();
  ASSERT_EQ(all.size(), static_cast<std::size_t>(kCount));
  for (int n = 0; n < kCount; ++n) {
    const Response& r = all[static_cast<std::size_t>(n)];
    SCOPED_TRACE(n);
    EXPECT_EQ(r.error, errc{});
    EXPECT_TRUE(r.message.empty());
    EXPECT_TRUE(r.rtt);
    EXPECT_FALSE(r.id.empty());
    const auto parsed = Json::parse(r.text);
    ASSERT_TRUE(parsed) << r.text;
    EXPECT_EQ((*parsed)["id"].as_string(), r.id);
    if (n % 2 == 0) {
      ASSERT_TRUE(r.remote);
      EXPECT_EQ(r.remote->code, "failed");
      EXPECT_TRUE(r.payload.is_null());
    } else {
      EXPECT_FALSE(r.remote);
      EXPECT_TRUE(r.ok());
      EXPECT_EQ(r.payload["n"].as_int(-1), n);
      EXPECT_EQ(r.payload["pad"].as_string().size(), static_cast<std::size_t>(200 - 30 * n));
      EXPECT_EQ((*parsed)["payload"], r.payload);
    }
  }
}

TEST(Requests, QueuedRequestsWaitForTheConnectionAndTheirTimeoutRuns) {
  auto server = start_tether_server();
  const std::string url = url_of(server, "/app");
  server.stop();
  ClientHarness h(quick(url));
  ASSERT_FALSE(h.start());
  Results results;
  RequestOptions short_timeout;
  short_timeout.timeout = 150ms;
  h.client().request("echo", Json("short"), results.sink(), short_timeout);
  h.client().request("echo", Json("long"), results.sink());
  ASSERT_TRUE(results.wait(1, 5s));
  EXPECT_EQ(results.get()[0].error, errc::timeout);
  ASSERT_TRUE(h.wait_dropped(1));
  EXPECT_EQ(h.dropped()[0].reason, DropReason::ttl) << "its queued message is dropped too";
  server.start();
  ASSERT_TRUE(results.wait(2, 10s));
  const Response r = results.get()[1];
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.payload.as_string(), "long");
}

TEST(Requests, ConnectionLostFailsPendingRequestsRetryableOnesAreResentWithTheSameId) {
  TempDir dir("tether-requests");
  const std::string log_path = dir.file("server.jsonl");
  auto server = start_tether_server({"--log", log_path});
  ClientHarness h(quick(url_of(server, "/app?request_delay_ms=400")));
  ASSERT_FALSE(h.start());
  ASSERT_TRUE(h.wait_open());
  Results plain;
  Results retried;
  RequestOptions retry;
  retry.retry_on_reconnect = true;
  const RequestHandle a = h.client().request("echo", Json("a"), plain.sink());
  const RequestHandle b = h.client().request("echo", Json("b"), retried.sink(), retry);
  // Both written; the server is restarted before it answers.
  const auto deadline = Clock::now() + 5s;
  while (read_file(log_path).find("\"id\":\"" + b.id() + "\"") == std::string::npos &&
         Clock::now() < deadline) {
    std::this_thread::sleep_for(5ms);
  }
  server.stop();
  ASSERT_TRUE(plain.wait(1, 5s));
  EXPECT_EQ(plain.get()[0].error, errc::connection_lost);
  EXPECT_EQ(plain.get()[0].id, a.id());
  server.start();
  ASSERT_TRUE(retried.wait(1, 10s));
  const Response r = retried.get()[0];
  EXPECT_TRUE(r.ok()) << to_string(r.error) << " " << r.message;
  EXPECT_EQ(r.id, b.id());
  EXPECT_EQ(r.payload.as_string(), "b");
  // The server saw b twice (once per connection), with the same id.
  std::size_t seen = 0;
  std::istringstream lines(read_file(log_path));
  std::string line;
  while (std::getline(lines, line)) {
    if (line.find("\"event\":\"request\"") != std::string::npos &&
        line.find("\"id\":\"" + b.id() + "\"") != std::string::npos) {
      ++seen;
    }
  }
  EXPECT_EQ(seen, 2u);
}

TEST(Requests, CancelEndsWithCancelledAndALateResponseIsUnmatched) {
  auto server = start_tether_server();
  ClientHarness h(quick(url_of(server, "/app?request_delay_ms=200")));
  std::atomic<int> caught{0};
  h.client().on_any([&](const Inbound& item) {
    if (item.kind == Inbound::Kind::response) ++caught;
  });
  ASSERT_FALSE(h.start());
  ASSERT_TRUE(h.wait_open());
  Results results;
  const RequestHandle handle = h.client().request("echo", Json(1), results.sink());
  handle.cancel();
  ASSERT_TRUE(results.wait(1));
  EXPECT_EQ(results.get()[0].error, errc::cancelled);
  std::this_thread::sleep_for(400ms);
  EXPECT_EQ(results.get().size(), 1u) << "exactly one result";
  EXPECT_EQ(h.client().stats().responses_unmatched, 1u);
  EXPECT_EQ(caught.load(), 1) << "the late response reaches the catch-all";
}

TEST(Requests, IdsAreUniqueAcrossClients) {
  auto server = start_tether_server();
  ClientHarness a(quick(url_of(server, "/app")));
  ClientHarness b(quick(url_of(server, "/app")));
  std::vector<std::string> ids;
  for (int i = 0; i < 100; ++i) {
    ids.push_back(a.client().request("echo", Json(i), [](const Response&) {}).id());
    ids.push_back(b.client().request("echo", Json(i), [](const Response&) {}).id());
  }
  std::sort(ids.begin(), ids.end());
  EXPECT_EQ(std::adjacent_find(ids.begin(), ids.end()), ids.end());
}

TEST(Requests, AResponseWithAnUnknownIdGoesToTheCatchAll) {
  auto server = start_tether_server();
  // {"id":"zzz","payload":1} as a text frame right after the upgrade.
  const std::string text = R"({"id":"zzz","payload":1})";
  std::string hex = "81" + std::string(text.size() < 16 ? "0" : "");
  static const char* digits = "0123456789abcdef";
  hex = "81";
  hex += digits[text.size() >> 4];
  hex += digits[text.size() & 15];
  for (unsigned char c : text) {
    hex += digits[c >> 4];
    hex += digits[c & 15];
  }
  ClientHarness h(quick(url_of(server, "/frames?then=echo&hex=" + hex)));
  std::mutex mutex;
  std::vector<Inbound> seen;
  h.client().on_any([&](const Inbound& item) {
    std::lock_guard<std::mutex> lock(mutex);
    seen.push_back(item);
  });
  ASSERT_FALSE(h.start());
  ASSERT_TRUE(h.wait_messages(1));
  std::this_thread::sleep_for(50ms);
  std::lock_guard<std::mutex> lock(mutex);
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].kind, Inbound::Kind::response);
  EXPECT_EQ(seen[0].id, "zzz");
  EXPECT_EQ(h.client().stats().responses_unmatched, 1u);
  EXPECT_TRUE(h.client().is_open());
}

// --- typed messages and requests ----------------------------------------------------------------

TEST(Typed, ATypedChatMessageEndToEnd) {
  auto server = start_tether_server();
  ClientHarness h(quick(url_of(server, "/app?echo=1")));
  std::mutex mutex;
  std::vector<chat::Message> got;
  h.client().on<chat::Message>("chat", [&](const chat::Message& m) {
    std::lock_guard<std::mutex> lock(mutex);
    got.push_back(m);
  });
  ASSERT_FALSE(h.start());
  ASSERT_TRUE(h.client().send("chat", chat::Message{"ada", "hello", 3}));
  // A chat message whose user is a number: a decode_error, the connection stays.
  ASSERT_TRUE(h.client().send(R"({"type":"chat","payload":{"user":5,"text":"x","likes":0}})"));
  ASSERT_TRUE(h.client().send("chat", chat::Message{"bob", "bye", 0}));
  ASSERT_TRUE(h.wait_messages(3));
  ASSERT_TRUE(h.wait_error());
  std::this_thread::sleep_for(50ms);
  {
    std::lock_guard<std::mutex> lock(mutex);
    ASSERT_EQ(got.size(), 2u);
    EXPECT_EQ(got[0].user, "ada");
    EXPECT_EQ(got[0].text, "hello");
    EXPECT_EQ(got[0].likes, 3);
    EXPECT_EQ(got[1].user, "bob");
  }
  const auto errors = h.errors();
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].code, errc::decode_error);
  EXPECT_NE(errors[0].message.find("chat::Message"), std::string::npos) << errors[0].message;
  EXPECT_NE(errors[0].message.find("user"), std::string::npos) << errors[0].message;
  EXPECT_TRUE(h.client().is_open());
}

TEST(Typed, ATypedRequestEndToEnd) {
  auto server = start_tether_server();
  ClientHarness h(quick(url_of(server, "/app")));
  ASSERT_FALSE(h.start());
  std::promise<chat::Message> echoed;
  h.client().request<chat::Message, chat::Message>(
      "echo", chat::Message{"ada", "ping", 7},
      [&](const Response& r, const chat::Message* m) {
        EXPECT_TRUE(r.ok());
        ASSERT_NE(m, nullptr);
        echoed.set_value(*m);
      });
  auto future = echoed.get_future();
  ASSERT_EQ(future.wait_for(5s), std::future_status::ready);
  const chat::Message m = future.get();
  EXPECT_EQ(m.user, "ada");
  EXPECT_EQ(m.likes, 7);

  // A response that does not decode into the type: decode_error, nullptr.
  std::promise<Response> failed;
  h.client().request<Json, chat::Message>("echo", Json(42),
                                          [&](const Response& r, const chat::Message* value) {
                                            EXPECT_EQ(value, nullptr);
                                            failed.set_value(r);
                                          });
  auto f = failed.get_future();
  ASSERT_EQ(f.wait_for(5s), std::future_status::ready);
  const Response r = f.get();
  EXPECT_EQ(r.error, errc::decode_error);
  EXPECT_NE(r.message.find("chat::Message"), std::string::npos) << r.message;
}

TEST(BadInput, EachBadMessageIsADecodeErrorAndStillReachesTheRawHandler) {
  auto server = start_tether_server();
  ClientHarness h(quick(url_of(server, "/echo")));
  std::atomic<int> typed{0};
  h.client().on("x", [&](const Json&) { ++typed; });
  ASSERT_FALSE(h.start());
  const std::vector<std::string> bad = {
      "not json",
      "[1,2,3]",
      R"({"type":5,"payload":1})",
      std::string(100, '[') + std::string(100, ']'),
      R"({"type":"x","payload":1e400})",
      R"({"type":"x","payload":)",
      "\"just a string\"",
  };
  for (const auto& text : bad) ASSERT_TRUE(h.client().send(text));
  ASSERT_TRUE(h.client().send(R"({"type":"x","payload":{"big":123456789012345678901234567890}})"));
  ASSERT_TRUE(h.wait_messages(bad.size() + 1));
  ASSERT_TRUE(h.wait([&] { return true; }));
  std::this_thread::sleep_for(100ms);
  const auto errors = h.errors();
  EXPECT_EQ(errors.size(), bad.size());
  for (const auto& e : errors) {
    EXPECT_EQ(e.code, errc::decode_error);
    EXPECT_FALSE(e.message.empty());
  }
  EXPECT_EQ(typed.load(), 1) << "a huge integer is a number, not an error";
  EXPECT_TRUE(h.client().is_open());
}

// --- JSON-RPC 2.0 against an independent server --------------------------------------------------

TEST(JsonRpc, RequestsResultsErrorsAndNotificationsAgainstPython) {
  auto server = start_python_jsonrpc();
  auto options = quick(url_of(server, "/"));
  options.codec = json_rpc_codec();
  ClientHarness h(options);
  std::promise<Json> tick;
  h.client().on("tick", [&](const Json& params) { tick.set_value(params); });
  ASSERT_FALSE(h.start());

  auto sum = h.client().request("add", Json::array({2, 3}));
  ASSERT_EQ(sum.wait_for(5s), std::future_status::ready);
  const Response s = sum.get();
  EXPECT_TRUE(s.ok()) << s.message;
  EXPECT_EQ(s.payload.as_int(), 5);

  auto failure = h.client().request("fail", Json());
  ASSERT_EQ(failure.wait_for(5s), std::future_status::ready);
  const Response f = failure.get();
  ASSERT_TRUE(f.remote);
  EXPECT_EQ(f.remote->code, "-32000");
  EXPECT_EQ(f.remote->message, "requested failure");
  EXPECT_EQ(f.remote->data["why"].as_string(), "asked");

  auto missing = h.client().request("nope", Json());
  ASSERT_EQ(missing.wait_for(5s), std::future_status::ready);
  EXPECT_EQ(missing.get().remote->code, "-32601");

  Json params = Json::object();
  params["method"] = "tick";
  params["params"] = Json::object({{"n", 1}});
  auto notified = h.client().request("notify_me", params);
  auto t = tick.get_future();
  ASSERT_EQ(t.wait_for(5s), std::future_status::ready);
  EXPECT_EQ(t.get()["n"].as_int(), 1);
  EXPECT_TRUE(notified.get().ok());
}

TEST(JsonRpc, OutOfOrderResponsesResolveTheRightRequests) {
  auto server = start_python_jsonrpc();
  auto options = quick(url_of(server, "/"));
  options.codec = json_rpc_codec();
  ClientHarness h(options);
  ASSERT_FALSE(h.start());
  Results results;
  for (int i = 0; i < 3; ++i) {
    Json params = Json::object();
    params["ms"] = 300 - 100 * i;
    params["value"] = i;
    h.client().request("sleep", params, results.sink());
  }
  ASSERT_TRUE(results.wait(3, 10s));
  const auto all = results.get();
  // They complete in reverse order, each with its own value.
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].payload.as_int(), 2);
  EXPECT_EQ(all[1].payload.as_int(), 1);
  EXPECT_EQ(all[2].payload.as_int(), 0);
  for (const auto& r : all) EXPECT_TRUE(r.ok());
}

TEST(JsonRpc, ABatchOfResponsesIsDecodedItemByItem) {
  auto server = start_python_jsonrpc();
  auto options = quick(url_of(server, "/"));
  options.codec = json_rpc_codec();
  ClientHarness h(options);
  std::mutex mutex;
  std::vector<Inbound> seen;
  h.client().on_any([&](const Inbound& item) {
    std::lock_guard<std::mutex> lock(mutex);
    seen.push_back(item);
  });
  ASSERT_FALSE(h.start());
  // A batch sent as raw text: its responses carry ids this client never issued.
  ASSERT_TRUE(h.client().send(
      R"([{"jsonrpc":"2.0","method":"echo","params":1,"id":"x1"},{"jsonrpc":"2.0","method":"echo","params":2,"id":"x2"}])"));
  ASSERT_TRUE(h.wait_messages(1));
  std::this_thread::sleep_for(50ms);
  std::lock_guard<std::mutex> lock(mutex);
  ASSERT_EQ(seen.size(), 2u);
  std::vector<std::string> ids = {seen[0].id, seen[1].id};
  std::sort(ids.begin(), ids.end());
  EXPECT_EQ(ids, (std::vector<std::string>{"x1", "x2"}));
  EXPECT_EQ(h.client().stats().responses_unmatched, 2u);
}

}  // namespace
}  // namespace tether::testing
