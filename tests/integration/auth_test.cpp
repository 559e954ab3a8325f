// Auth on open, subscriptions and resume against the project's scriptable server (/app scenario,
// real sockets on 127.0.0.1): auth is the first message of every connection and nothing precedes
// its success; subscriptions come before queued messages; the token provider is asked on every
// attempt and once more after a rejection; a second rejection fails after exactly two attempts;
// resume replays what was missed and duplicates are dropped; messages sent from callbacks on the
// loop thread follow the subscriptions. Also the delivery guarantee across a server restarted
// twice while two threads send.

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "integration/client_harness.hpp"
#include "support/cli_runner.hpp"
#include "support/servers.hpp"

namespace tether::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

struct AppServer {
  TempDir dir{"tether-auth"};
  std::string log_path = dir.file("server.jsonl");
  ServerProcess server = start_tether_server({"--log", log_path});

  std::string url(const std::string& target) const {
    return "ws://127.0.0.1:" + std::to_string(server.port()) + target;
  }
  /// The server's log lines, parsed (only the flat fields; nested ones are skipped).
  std::vector<JsonObject> events() const {
    std::vector<JsonObject> out;
    std::istringstream lines(read_file(log_path));
    std::string line;
    while (std::getline(lines, line)) {
      // "open" lines carry a nested headers object: keep only what a flat parser can read.
      const auto headers = line.find(",\"headers\":");
      if (headers != std::string::npos) line = line.substr(0, headers) + "}";
      if (auto object = JsonObject::parse(line)) out.push_back(std::move(*object));
    }
    return out;
  }
  std::vector<JsonObject> events(const std::string& kind) const {
    std::vector<JsonObject> out;
    for (auto& e : events()) {
      if (e.str("event") == kind) out.push_back(std::move(e));
    }
    return out;
  }
  bool wait_events(const std::string& kind, std::size_t n, std::chrono::milliseconds timeout = 10s) const {
    const auto deadline = Clock::now() + timeout;
    while (events(kind).size() < n) {
      if (Clock::now() > deadline) return false;
      std::this_thread::sleep_for(10ms);
    }
    return true;
  }
};

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

/// A token provider recording its calls; `answer(refresh, call index)` gives the token.
struct Tokens {
  std::mutex mutex;
  std::vector<bool> calls;
  std::function<std::optional<std::string>(bool, std::size_t)> answer;

  TokenProvider provider() {
    return [this](bool refresh, TokenReply reply) {
      std::size_t index = 0;
      {
        std::lock_guard<std::mutex> lock(mutex);
        index = calls.size();
        calls.push_back(refresh);
      }
      reply(answer(refresh, index));
    };
  }
  std::vector<bool> seen() {
    std::lock_guard<std::mutex> lock(mutex);
    return calls;
  }
};

int count_errors(ClientHarness& h, errc code) {
  int n = 0;
  for (const auto& e : h.errors()) n += e.code == code ? 1 : 0;
  return n;
}

// --- order on every open ------------------------------------------------------------------------

TEST(AuthOrder, AuthFirstThenSubscriptionsThenQueuedMessagesOnEveryConnection) {
  AppServer app;
  // Each connection is dropped about 300 ms after auth, once its stream has written seq 2: the
  // client reconnects again and again while a thread keeps sending.
  auto options = quick(app.url("/app?token=good&stream=2&interval_ms=150&drop_at=2"));
  options.auth.token = "good";
  options.auth.first_message = true;
  ClientHarness h(options);
  h.client().subscribe("alpha");
  h.client().subscribe("beta");
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(h.client().send("early " + std::to_string(i)));
  ASSERT_FALSE(h.start());
  std::atomic<bool> stop{false};
  std::thread sender([&] {
    for (int i = 0; !stop.load() && i < 2000; ++i) {
      h.client().send("m " + std::to_string(i));
      std::this_thread::sleep_for(1ms);
    }
  });
  ASSERT_TRUE(app.wait_events("open", 4, 15s)) << read_file(app.log_path);
  stop = true;
  sender.join();
  h.client().close_now();
  ASSERT_TRUE(h.wait_finished(10s));

  // Per connection: the first message is the auth request; the subscribes follow before any
  // application message; no message arrives before authentication.
  std::map<std::int64_t, std::vector<std::string>> texts;
  for (const auto& e : app.events("message")) texts[e.integer("conn")].push_back(e.str("text"));
  ASSERT_GE(texts.size(), 3u);
  int checked = 0;
  for (const auto& [conn, list] : texts) {
    SCOPED_TRACE("connection " + std::to_string(conn));
    ASSERT_FALSE(list.empty());
    EXPECT_NE(list[0].find("\"type\":\"auth\""), std::string::npos) << list[0];
    EXPECT_NE(list[0].find("\"token\":\"good\""), std::string::npos) << list[0];
    std::size_t app_message = list.size();
    for (std::size_t i = 1; i < list.size(); ++i) {
      if (list[i].rfind("{", 0) != 0) {
        app_message = std::min(app_message, i);
      } else {
        EXPECT_LT(i, app_message) << "a subscribe after an application message: " << list[i];
      }
    }
    if (list.size() >= 3) {
      EXPECT_NE(list[1].find("\"channel\":\"alpha\""), std::string::npos) << list[1];
      EXPECT_NE(list[2].find("\"channel\":\"beta\""), std::string::npos) << list[2];
      ++checked;
    }
  }
  EXPECT_GE(checked, 2) << read_file(app.log_path);
  for (const auto& e : app.events("app_error")) {
    EXPECT_NE(e.str("error"), "before_auth") << e.str("message");
  }
  // The early messages went out first, in order, on the first connection that carried any.
  std::vector<std::string> app_texts;
  for (const auto& [conn, list] : texts) {
    for (const auto& t : list) {
      if (t.rfind("{", 0) != 0) app_texts.push_back(t);
    }
  }
  ASSERT_GE(app_texts.size(), 5u);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(app_texts[static_cast<std::size_t>(i)], "early " + std::to_string(i));
  EXPECT_GE(h.authenticated(), 3);
}

/// What the server received on each connection of a run whose client subscribes to "alpha" and
/// "beta": the application messages (those `number_of` gives a number) are checked to follow
/// both subscriptions of their connection.
struct AfterSubscriptions {
  std::vector<int> numbers;  ///< of the application messages, in the order the server got them
  std::size_t connections = 0;
  int checked = 0;  ///< connections that carried both subscriptions and an application message
};

AfterSubscriptions check_after_subscriptions(
    const AppServer& app, const std::function<std::optional<int>(const std::string&)>& number_of) {
  std::map<std::int64_t, std::vector<std::string>> texts;
  for (const auto& e : app.events("message")) texts[e.integer("conn")].push_back(e.str("text"));
  AfterSubscriptions out;
  out.connections = texts.size();
  for (const auto& [conn, list] : texts) {
    SCOPED_TRACE("connection " + std::to_string(conn));
    std::size_t first_app = list.size();
    for (std::size_t i = 0; i < list.size(); ++i) {
      if (const auto n = number_of(list[i])) {
        first_app = std::min(first_app, i);
        out.numbers.push_back(*n);
      } else {
        EXPECT_LT(i, first_app) << "a subscribe after an application message: " << list[i];
      }
    }
    if (list.size() >= 3 && first_app < list.size()) {
      EXPECT_NE(list[0].find("\"channel\":\"alpha\""), std::string::npos) << list[0];
      EXPECT_NE(list[1].find("\"channel\":\"beta\""), std::string::npos) << list[1];
      ++out.checked;
    }
  }
  return out;
}

void expect_increasing(const std::vector<int>& numbers) {
  for (std::size_t i = 1; i < numbers.size(); ++i) EXPECT_GT(numbers[i], numbers[i - 1]) << i;
}

TEST(AuthOrder, MessagesSentFromCallbacksFollowTheSubscriptionsOnEveryConnection) {
  // Callbacks on the loop thread send: one message when the state changes to open (reported
  // before the subscriptions go out) and one answer to every message of the stream. A message
  // sent on the loop thread can go straight to the connection; it still follows the
  // subscriptions of its connection, and nothing is lost or reordered across the reconnects.
  AppServer app;
  ClientHarness h(quick(app.url("/app?stream=3&interval_ms=40&drop_at=3")));
  h.client().subscribe("alpha");
  h.client().subscribe("beta");
  std::atomic<int> sent{0};
  Client* client = &h.client();
  h.client().on_state([client, &sent](State, State to, const Cause&) {
    if (to == State::open) {
      client->send("app " + std::to_string(sent.fetch_add(1)));
    }
  });
  h.client().on_message([client, &sent](const Message& m) {
    if (m.data.rfind("{", 0) == 0) client->send("app " + std::to_string(sent.fetch_add(1)));
  });
  ASSERT_FALSE(h.start());
  ASSERT_TRUE(app.wait_events("open", 4, 15s)) << read_file(app.log_path);
  h.client().close();
  ASSERT_TRUE(h.wait_finished(10s));

  const AfterSubscriptions got =
      check_after_subscriptions(app, [](const std::string& text) -> std::optional<int> {
        if (text.rfind("{", 0) == 0) return std::nullopt;
        return std::stoi(text.substr(4));  // "app N"
      });
  ASSERT_GE(got.connections, 3u);
  EXPECT_GE(got.checked, 3) << read_file(app.log_path);
  // Nothing was delivered twice or out of order. (The answer to the stream's last message may
  // be lost: the server drops the connection right after it, and the socket had taken it.)
  ASSERT_GE(got.numbers.size(), static_cast<std::size_t>(sent.load()) - got.connections);
  expect_increasing(got.numbers);
}

TEST(AuthOrder, RequestsSentFromCallbacksFollowTheSubscriptionsOnEveryConnection) {
  // As above with requests: one when the state changes to open, one for every message of the
  // stream. Each follows the subscriptions of its connection, goes out in order, and ends
  // exactly once.
  AppServer app;
  ClientHarness h(quick(app.url("/app?stream=3&interval_ms=40&drop_at=3")));
  h.client().subscribe("alpha");
  h.client().subscribe("beta");
  std::atomic<int> asked{0};
  std::atomic<int> answered{0};
  std::atomic<int> ended{0};
  Client* client = &h.client();
  auto ask = [client, &asked, &answered, &ended] {
    client->request("echo", Json(asked.fetch_add(1)), [&answered, &ended](const Response& r) {
      if (r.ok()) answered.fetch_add(1);
      ended.fetch_add(1);
    });
  };
  h.client().on_state([ask](State, State to, const Cause&) {
    if (to == State::open) ask();
  });
  h.client().on_message([ask](const Message& m) {
    if (m.data.rfind("{", 0) == 0) ask();
  });
  ASSERT_FALSE(h.start());
  ASSERT_TRUE(app.wait_events("open", 4, 15s)) << read_file(app.log_path);
  h.client().close();
  ASSERT_TRUE(h.wait_finished(10s));

  const AfterSubscriptions got =
      check_after_subscriptions(app, [](const std::string& text) -> std::optional<int> {
        const auto payload = text.find("\"payload\":");
        if (text.find("\"type\":\"echo\"") == std::string::npos || payload == std::string::npos) {
          return std::nullopt;
        }
        return std::stoi(text.substr(payload + 10));
      });
  ASSERT_GE(got.connections, 3u);
  EXPECT_GE(got.checked, 3) << read_file(app.log_path);
  // Every request ended once, most with an answer; the server saw them in the order asked.
  EXPECT_EQ(ended.load(), asked.load());
  EXPECT_GE(answered.load(), asked.load() - static_cast<int>(got.connections));
  ASSERT_GE(got.numbers.size(), static_cast<std::size_t>(answered.load()));
  expect_increasing(got.numbers);
}

// --- the token provider -------------------------------------------------------------------------

struct Rejection {
  std::string name;
  std::string target;  // with TOKENS standing for the accepted token option
  bool first_message;
  std::string header;
  std::string query;
};

class AuthRefresh : public ::testing::TestWithParam<Rejection> {};

TEST_P(AuthRefresh, RejectedTokenIsRefreshedOnceThenAccepted) {
  const Rejection& r = GetParam();
  AppServer app;
  auto options = quick(app.url(r.target));
  options.auth.first_message = r.first_message;
  options.auth.header = r.header;
  options.auth.query_parameter = r.query;
  Tokens tokens;
  tokens.answer = [](bool refresh, std::size_t) -> std::optional<std::string> {
    return refresh ? "fresh" : "stale";
  };
  options.auth.token_provider = tokens.provider();
  ClientHarness h(options);
  ASSERT_FALSE(h.start());
  ASSERT_TRUE(h.wait_state(State::open, 10s));
  EXPECT_EQ(tokens.seen(), (std::vector<bool>{false, true}));
  EXPECT_EQ(count_errors(h, errc::auth_rejected), 1);
  const auto auths = app.events("auth");
  ASSERT_EQ(auths.size(), 2u) << read_file(app.log_path);
  EXPECT_EQ(auths[0].str("token"), "stale");
  EXPECT_EQ(auths[0].boolean("ok"), false);
  EXPECT_EQ(auths[1].str("token"), "fresh");
  EXPECT_EQ(auths[1].boolean("ok"), true);
  EXPECT_EQ(app.events("open").size(), 2u);
  if (r.first_message) {
    EXPECT_EQ(h.authenticated(), 1);
  }
  h.client().close();
  ASSERT_TRUE(h.wait_finished());
}

TEST_P(AuthRefresh, ASecondRejectionFailsAfterTwoAttempts) {
  const Rejection& r = GetParam();
  AppServer app;
  auto options = quick(app.url(r.target));
  options.auth.first_message = r.first_message;
  options.auth.header = r.header;
  options.auth.query_parameter = r.query;
  Tokens tokens;
  tokens.answer = [](bool, std::size_t) -> std::optional<std::string> { return "bad"; };
  options.auth.token_provider = tokens.provider();
  ClientHarness h(options);
  ASSERT_FALSE(h.start());
  ASSERT_TRUE(h.wait_finished(10s));
  EXPECT_EQ(h.client().state(), State::failed);
  EXPECT_EQ(count_errors(h, errc::auth_rejected), 2);
  EXPECT_EQ(tokens.seen(), (std::vector<bool>{false, true}));
  std::this_thread::sleep_for(300ms);  // nothing more happens
  EXPECT_EQ(app.events("open").size(), 2u) << "no more than two attempts";
  EXPECT_EQ(app.events("auth").size(), 2u);
}

INSTANTIATE_TEST_SUITE_P(
    Placements, AuthRefresh,
    ::testing::Values(Rejection{"error_response", "/app?token=fresh", true, "", ""},
                      Rejection{"close_4001", "/app?token=fresh&reject=4001", true, "", ""},
                      Rejection{"close_4003", "/app?token=fresh&reject=4003", true, "", ""},
                      Rejection{"http_401_header", "/app?token=fresh&auth_via=header", false,
                                "Authorization", ""},
                      Rejection{"http_403_query", "/app?token=fresh&auth_via=query", false, "",
                                "access_token"}),
    [](const ::testing::TestParamInfo<Rejection>& param_info) { return param_info.param.name; });

TEST(AuthToken, AFixedTokenThatIsRejectedFailsAtOnce) {
  AppServer app;
  auto options = quick(app.url("/app?token=good"));
  options.auth.token = "wrong";
  options.auth.first_message = true;
  ClientHarness h(options);
  ASSERT_FALSE(h.start());
  ASSERT_TRUE(h.wait_finished());
  EXPECT_EQ(h.client().state(), State::failed);
  EXPECT_EQ(count_errors(h, errc::auth_rejected), 1);
  EXPECT_EQ(app.events("open").size(), 1u);
  // The client closed with 1000 "auth rejected".
  ASSERT_TRUE(app.wait_events("close", 1));
  EXPECT_EQ(app.events("close")[0].integer("code"), 1000);
  EXPECT_EQ(app.events("close")[0].str("reason"), "auth rejected");
}

TEST(AuthToken, TheProviderIsAskedBeforeEveryAttemptAndMayAnswerLaterFromAnotherThread) {
  AppServer app;
  auto options = quick(app.url("/app?token=t0&token=t1&token=t2&stream=1&drop_at=1"));
  options.auth.first_message = true;
  std::mutex mutex;
  std::vector<std::thread> repliers;
  std::atomic<int> calls{0};
  options.auth.token_provider = [&](bool refresh, TokenReply reply) {
    EXPECT_FALSE(refresh);
    const int n = calls++;
    std::lock_guard<std::mutex> lock(mutex);
    repliers.emplace_back([reply, n] {
      std::this_thread::sleep_for(30ms);
      reply("t" + std::to_string(n % 3));
    });
  };
  {
    ClientHarness h(options);
    ASSERT_FALSE(h.start());
    ASSERT_TRUE(app.wait_events("auth", 3, 15s));
    h.client().close_now();
    ASSERT_TRUE(h.wait_finished());
    EXPECT_GE(h.authenticated(), 3);
  }
  std::lock_guard<std::mutex> lock(mutex);
  for (auto& t : repliers) t.join();
  const auto auths = app.events("auth");
  ASSERT_GE(auths.size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(auths[i].str("token"), "t" + std::to_string(i)) << "a new token per attempt";
    EXPECT_EQ(auths[i].boolean("ok"), true);
  }
  EXPECT_GE(calls.load(), 3);
}

TEST(AuthTimeout, NoAuthResponseReconnectsThenRetriesRunOut) {
  AppServer app;
  auto options = quick(app.url("/app?token=good&auth_noanswer=1"));
  options.auth.token = "good";
  options.auth.first_message = true;
  options.auth.timeout = 200ms;
  options.reconnect.max_retries = 1;
  ClientHarness h(options);
  for (int i = 0; i < 3; ++i) h.client().send("held " + std::to_string(i));
  ASSERT_FALSE(h.start());
  ASSERT_TRUE(h.wait_finished(10s));
  EXPECT_EQ(h.client().state(), State::failed);
  EXPECT_EQ(count_errors(h, errc::auth_timeout), 2);
  EXPECT_EQ(app.events("open").size(), 2u);
  // Nothing but the auth requests reached the server.
  for (const auto& m : app.events("message")) {
    EXPECT_NE(m.str("text").find("\"type\":\"auth\""), std::string::npos) << m.str("text");
  }
  ASSERT_TRUE(h.wait_dropped(3));
  for (const auto& d : h.dropped()) EXPECT_EQ(d.reason, DropReason::closed);
}

TEST(AuthTimeout, AProviderThatNeverAnswersIsAnAuthTimeout) {
  AppServer app;
  auto options = quick(app.url("/app?token=good"));
  options.auth.first_message = true;
  options.auth.timeout = 150ms;
  options.reconnect.max_retries = 0;
  std::vector<TokenReply> kept;
  std::mutex mutex;
  options.auth.token_provider = [&](bool, TokenReply reply) {
    std::lock_guard<std::mutex> lock(mutex);
    kept.push_back(std::move(reply));  // never called
  };
  ClientHarness h(options);
  ASSERT_FALSE(h.start());
  ASSERT_TRUE(h.wait_finished(5s));
  EXPECT_EQ(count_errors(h, errc::auth_timeout), 1);
  EXPECT_TRUE(app.events("open").empty()) << "no connection without a token";
  std::lock_guard<std::mutex> lock(mutex);
  for (auto& reply : kept) reply("late");  // a late answer is ignored
}

// --- subscriptions ------------------------------------------------------------------------------

TEST(Subscriptions, ConfirmedRejectedAndResentAfterAReconnect) {
  AppServer app;
  auto options = quick(app.url("/app?deny=secret&stream=1&drop_at=1"));
  ClientHarness h(options);
  h.client().subscribe("news");
  h.client().subscribe("secret");
  ASSERT_FALSE(h.start());
  ASSERT_TRUE(h.wait_error());
  EXPECT_EQ(h.errors()[0].code, errc::subscribe_rejected);
  EXPECT_NE(h.errors()[0].message.find("secret"), std::string::npos) << h.errors()[0].message;
  // Two confirmed subscriptions (news on two connections) and four subscribe requests seen by
  // the server (news and secret, then news on each of two later connections).
  ASSERT_TRUE(h.wait_subscribed(2, 10s));
  ASSERT_TRUE(app.wait_events("subscribe", 4, 10s)) << read_file(app.log_path);
  h.client().close_now();
  ASSERT_TRUE(h.wait_finished());
  EXPECT_EQ(h.client().subscriptions(), std::vector<std::string>{"news"});
  const auto subs = app.events("subscribe");
  ASSERT_GE(subs.size(), 4u);
  EXPECT_EQ(subs[0].str("channel"), "news");
  EXPECT_EQ(subs[1].str("channel"), "secret");
  EXPECT_EQ(subs[1].boolean("ok"), false);
  // Later connections re-subscribe to news only.
  for (std::size_t i = 2; i < subs.size(); ++i) EXPECT_EQ(subs[i].str("channel"), "news");
  EXPECT_GE(h.subscribed().size(), 2u);
  EXPECT_EQ(count_errors(h, errc::subscribe_rejected), 1) << "a rejected channel is not retried";
}

// --- resume -------------------------------------------------------------------------------------

struct ResumeCase {
  std::string name;
  std::string target;
  bool auth;
};

class Resume : public ::testing::TestWithParam<ResumeCase> {};

TEST_P(Resume, TheServerReplaysFromResumeFromAndDuplicatesAreDropped) {
  const ResumeCase& c = GetParam();
  AppServer app;
  auto options = quick(app.url(c.target));
  options.resume.enabled = true;
  if (c.auth) {
    options.auth.token = "t";
    options.auth.first_message = true;
  }
  ClientHarness h(options);
  if (!c.auth) h.client().subscribe("events");
  ASSERT_FALSE(h.start());
  ASSERT_TRUE(h.wait_messages(20, 15s)) << h.messages().size() << "\n" << read_file(app.log_path);
  std::this_thread::sleep_for(200ms);
  const auto got = h.messages();
  ASSERT_EQ(got.size(), 20u);
  for (std::size_t i = 0; i < got.size(); ++i) {
    EXPECT_NE(got[i].data.find("\"seq\":" + std::to_string(i + 1) + ","), std::string::npos)
        << got[i].data;
  }
  EXPECT_EQ(h.client().stats().duplicates_dropped, 3u);
  const auto streams = app.events("stream");
  ASSERT_EQ(streams.size(), 2u) << read_file(app.log_path);
  EXPECT_EQ(streams[0].integer("resume_from"), 0);
  EXPECT_EQ(streams[1].integer("resume_from"), 10) << "the last sequence number seen";
  EXPECT_EQ(streams[1].integer("from"), 8) << "three duplicates on purpose";
  h.client().close();
  ASSERT_TRUE(h.wait_finished());
}

INSTANTIATE_TEST_SUITE_P(
    Carriers, Resume,
    ::testing::Values(ResumeCase{"in_subscribe", "/app?stream=20&drop_at=10&overlap=3", false},
                      ResumeCase{"in_auth", "/app?token=t&stream=20&drop_at=10&overlap=3", true}),
    [](const ::testing::TestParamInfo<ResumeCase>& param_info) { return param_info.param.name; });

}  // namespace
}  // namespace tether::testing
