// tether-cli's reconnect policy (docs/cli.md, "Reconnect policy") seen from outside: the
// `reconnect_scheduled` events (attempt numbers and delays), the backoff formula, the attempt
// counter's reset after --min-uptime, --max-retries, the HTTP status and close code tables,
// Retry-After, --no-reconnect; and the proxy chosen from the environment.

#include <gtest/gtest.h>
#include <signal.h>

#include <ctime>
#include <ostream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "cli_test_support.hpp"

namespace tether::testing {
namespace {

using namespace std::chrono_literals;

std::string refused_url() {
  return "ws://127.0.0.1:" + std::to_string(free_port()) + "/";
}

CliResult run_open(const std::vector<std::string>& args, std::chrono::milliseconds timeout = 20s,
                   const CliRunOptions& options = {}) {
  return run_cli(kCli, args, {}, false, timeout, options);
}

std::vector<std::int64_t> integers(const std::vector<CliEvent>& events, const std::string& key) {
  std::vector<std::int64_t> out;
  for (const auto& e : events) out.push_back(e.integer(key));
  return out;
}

std::vector<std::string> error_codes(const std::vector<CliEvent>& events) {
  std::vector<std::string> out;
  for (const auto& e : named(events, "error")) out.push_back(e.str("code"));
  return out;
}

/// Ends with retries_exhausted after `retries` retries: exit 2, state failed.
void expect_exhausted(const CliResult& r, int retries) {
  ASSERT_FALSE(r.timed_out) << r.describe();
  EXPECT_EQ(r.exit_code, 2) << r.describe();
  const auto events = events_of(r);
  const auto scheduled = named(events, "reconnect_scheduled");
  ASSERT_EQ(scheduled.size(), static_cast<std::size_t>(retries)) << r.describe();
  const auto codes = error_codes(events);
  ASSERT_FALSE(codes.empty()) << r.describe();
  EXPECT_EQ(codes.back(), "retries_exhausted") << r.describe();
  EXPECT_EQ(last_state(events), "failed") << r.describe();
}

// --- backoff
// --------------------------------------------------------------------------------------

TEST(CliBackoff, WithoutJitterTheDelaysGrowByTheMultiplierUpToTheCap) {
  const auto r =
      run_open({"--events", "--backoff-initial", "40", "--backoff-multiplier", "2", "--backoff-max",
                "200", "--jitter", "0", "--max-retries", "5", refused_url()});
  expect_exhausted(r, 5);
  const auto scheduled = named(events_of(r), "reconnect_scheduled");
  EXPECT_EQ(integers(scheduled, "attempt"), (std::vector<std::int64_t>{1, 2, 3, 4, 5}));
  EXPECT_EQ(integers(scheduled, "delay_ms"), (std::vector<std::int64_t>{40, 80, 160, 200, 200}))
      << r.describe();
  // N retries are N+1 attempts, the first connect included.
  std::size_t refused = 0;
  for (const auto& code : error_codes(events_of(r))) refused += code == "connect_refused";
  EXPECT_EQ(refused, 6u) << r.describe();
}

TEST(CliBackoff, AFractionalMultiplier) {
  const auto r = run_open({"--events", "--backoff-initial", "100", "--backoff-multiplier", "1.5",
                           "--jitter", "0", "--max-retries", "3", refused_url()});
  expect_exhausted(r, 3);
  EXPECT_EQ(integers(named(events_of(r), "reconnect_scheduled"), "delay_ms"),
            (std::vector<std::int64_t>{100, 150, 225}))
      << r.describe();
}

struct JitterCase {
  const char* jitter;
  std::int64_t low;  ///< base * (1 - jitter)
};

void PrintTo(const JitterCase& c, std::ostream* os) {
  *os << "jitter " << c.jitter;
}

class CliJitter : public ::testing::TestWithParam<JitterCase> {};

TEST_P(CliJitter, DelaysSpreadBelowTheCappedBase) {
  // initial 100, multiplier 10, cap 150: base 100, then 150 (the cap) for every later retry;
  // the jitter applies after the cap, so delays at the cap still vary.
  const auto& c = GetParam();
  const auto r = run_open({"--events", "--backoff-initial", "100", "--backoff-multiplier", "10",
                           "--backoff-max", "150", "--jitter", c.jitter, "--max-retries", "10",
                           refused_url()});
  expect_exhausted(r, 10);
  const auto delays = integers(named(events_of(r), "reconnect_scheduled"), "delay_ms");
  ASSERT_EQ(delays.size(), 10u);
  EXPECT_GE(delays[0], 100 * c.low / 150) << r.describe();
  EXPECT_LE(delays[0], 100) << r.describe();
  std::set<std::int64_t> at_cap;
  for (std::size_t i = 1; i < delays.size(); ++i) {
    EXPECT_GE(delays[i], c.low) << i << "\n" << r.describe();
    EXPECT_LE(delays[i], 150) << i << "\n" << r.describe();
    at_cap.insert(delays[i]);
  }
  // Nine draws of a uniform jitter over 75 (or 150) values are never all equal in practice.
  EXPECT_GE(at_cap.size(), 2u) << "no jitter at the cap\n" << r.describe();
}

INSTANTIATE_TEST_SUITE_P(Fractions, CliJitter,
                         ::testing::Values(JitterCase{"0.5", 75}, JitterCase{"1", 0}),
                         [](const auto& p) {
                           return std::string(p.param.low == 0 ? "Full" : "Half");
                         });

// --- outages, --min-uptime, --max-retries ---------------------------------------------------

TEST(CliOutage, AServerThatDropsAtOnceGetsGrowingDelaysNotAStorm) {
  // Each connection opens, then drops before --min-uptime: one outage, attempts 1, 2, 3.
  auto server = start_tether_server();
  const auto r = run_open({"--events", "--backoff-initial", "30", "--jitter", "0", "--max-retries",
                           "3", ws_url(server, "/drop")});
  expect_exhausted(r, 3);
  const auto events = events_of(r);
  const auto scheduled = named(events, "reconnect_scheduled");
  EXPECT_EQ(integers(scheduled, "attempt"), (std::vector<std::int64_t>{1, 2, 3})) << r.describe();
  EXPECT_EQ(integers(scheduled, "delay_ms"), (std::vector<std::int64_t>{30, 60, 120}))
      << r.describe();
  EXPECT_EQ(named(events, "open").size(), 4u) << r.describe();
  for (const auto& close : named(events, "close")) {
    EXPECT_EQ(close.integer("code"), 1006) << r.describe();
  }
}

TEST(CliOutage, ReadyForMinUptimeResetsTheAttemptCounter) {
  // Each connection stays open 400 ms, longer than --min-uptime 100: every drop starts a new
  // outage at attempt 1, and --max-retries 1 (per outage) never runs out.
  auto server = start_tether_server();
  CliProcess cli(kCli, {"--events", "--backoff-initial", "30", "--jitter", "0", "--min-uptime",
                        "100", "--max-retries", "1", ws_url(server, "/drop?after_ms=400")});
  const bool three = cli.wait_until(
      [](const std::string&, const std::string& err) {
        return named(parse_event_log(err).events, "reconnect_scheduled").size() >= 3;
      },
      15s);
  cli.signal(SIGINT);
  const auto r = cli.wait(10s);
  ASSERT_FALSE(r.timed_out) << r.describe();
  EXPECT_TRUE(three) << r.describe();
  EXPECT_EQ(r.exit_code, 0) << r.describe();
  const auto events = events_of(r);
  for (const auto& e : named(events, "reconnect_scheduled")) {
    EXPECT_EQ(e.integer("attempt"), 1) << r.describe();
    EXPECT_EQ(e.integer("delay_ms"), 30) << r.describe();
  }
  for (const auto& code : error_codes(events)) {
    EXPECT_NE(code, "retries_exhausted") << r.describe();
  }
}

TEST(CliOutage, DroppingBeforeMinUptimeContinuesTheOutage) {
  // The same server with the default --min-uptime (5 s): the drops after 400 ms continue one
  // outage, so --max-retries 1 runs out after the second connection.
  auto server = start_tether_server();
  const auto r = run_open({"--events", "--backoff-initial", "30", "--jitter", "0", "--max-retries",
                           "1", ws_url(server, "/drop?after_ms=400")});
  expect_exhausted(r, 1);
  EXPECT_EQ(named(events_of(r), "open").size(), 2u) << r.describe();
}

TEST(CliOutage, MaxRetriesZeroGivesUpAtTheFirstFailure) {
  const auto r = run_open({"--events", "--max-retries", "0", refused_url()});
  expect_exhausted(r, 0);
  EXPECT_EQ(error_codes(events_of(r)),
            (std::vector<std::string>{"connect_refused", "retries_exhausted"}))
      << r.describe();
}

TEST(CliOutage, TheFirstConnectIsRetriedLikeAnyOther) {
  // Nothing listens at first; the server starts on that port after the first refusal.
  const int port = free_port();
  CliProcess cli(kCli, {"--events", "--backoff-initial", "300", "--jitter", "0",
                        "ws://127.0.0.1:" + std::to_string(port) + "/echo"});
  cli.write_line("late");
  ASSERT_TRUE(cli.wait_for_event("reconnect_scheduled", 10s)) << cli.err();
  auto server = start_tether_server({"--port", std::to_string(port)});
  const bool echoed = cli.wait_for_out("late\n", 10s);
  cli.close_stdin();
  const auto r = cli.wait(10s);
  ASSERT_FALSE(r.timed_out) << r.describe();
  EXPECT_TRUE(echoed) << r.describe();
  EXPECT_EQ(r.exit_code, 0) << r.describe();
  const auto events = events_of(r);
  EXPECT_EQ(error_codes(events).front(), "connect_refused") << r.describe();
  EXPECT_EQ(last_state(events), "closed") << r.describe();
}

// --- HTTP status on the upgrade -------------------------------------------------------------

struct StatusCase {
  int status;
  const char* error;  ///< The first error's code.
  bool retried;
};

void PrintTo(const StatusCase& c, std::ostream* os) {
  *os << "HTTP " << c.status;
}

class CliHttpStatus : public ::testing::TestWithParam<StatusCase> {
 protected:
  static void SetUpTestSuite() { server_ = new ServerProcess(start_tether_server()); }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  static ServerProcess* server_;
};
ServerProcess* CliHttpStatus::server_ = nullptr;

TEST_P(CliHttpStatus, RetriedOrGivenUpPerTheTable) {
  ASSERT_NE(server_, nullptr);
  const auto& c = GetParam();
  std::string path = "/status?code=" + std::to_string(c.status);
  if (c.status >= 300 && c.status < 400) path += "&header=Location:%20/elsewhere";
  const auto r = run_open({"--events", "--max-retries", "1", "--backoff-initial", "20", "--jitter",
                           "0", ws_url(*server_, path)});
  ASSERT_FALSE(r.timed_out) << r.describe();
  EXPECT_EQ(r.exit_code, 2) << r.describe();
  const auto events = events_of(r);
  const auto codes = error_codes(events);
  ASSERT_FALSE(codes.empty()) << r.describe();
  EXPECT_EQ(codes.front(), c.error) << r.describe();
  const auto errors = named(events, "error");
  EXPECT_NE(errors.front().str("message").find(std::to_string(c.status)), std::string::npos)
      << "the message names the status\n"
      << r.describe();
  EXPECT_TRUE(named(events, "open").empty()) << r.describe();
  EXPECT_EQ(last_state(events), "failed") << r.describe();
  if (c.retried) {
    EXPECT_EQ(named(events, "reconnect_scheduled").size(), 1u) << r.describe();
    EXPECT_EQ(codes.back(), "retries_exhausted") << r.describe();
  } else {
    EXPECT_TRUE(named(events, "reconnect_scheduled").empty()) << r.describe();
    EXPECT_EQ(codes.size(), 1u) << r.describe();
  }
}

INSTANTIATE_TEST_SUITE_P(
    Statuses, CliHttpStatus,
    ::testing::Values(
        StatusCase{401, "auth_rejected", false}, StatusCase{403, "auth_rejected", false},
        StatusCase{400, "handshake_rejected", false}, StatusCase{404, "handshake_rejected", false},
        StatusCase{410, "handshake_rejected", false}, StatusCase{426, "handshake_rejected", false},
        StatusCase{301, "handshake_rejected", false}, StatusCase{302, "handshake_rejected", false},
        StatusCase{307, "handshake_rejected", false}, StatusCase{308, "handshake_rejected", false},
        StatusCase{408, "handshake_rejected", true}, StatusCase{429, "handshake_rejected", true},
        StatusCase{500, "handshake_rejected", true}, StatusCase{502, "handshake_rejected", true},
        StatusCase{503, "handshake_rejected", true}, StatusCase{200, "handshake_rejected", true},
        StatusCase{204, "handshake_rejected", true}),
    [](const auto& p) { return "Http" + std::to_string(p.param.status); });

/// An HTTP date (RFC 7231 IMF-fixdate) `seconds` from now.
std::string http_date_in(int seconds) {
  const std::time_t when = std::time(nullptr) + seconds;
  std::tm tm{};
  gmtime_r(&when, &tm);
  char text[64];
  std::strftime(text, sizeof text, "%a,%%20%d%%20%b%%20%Y%%20%H:%M:%S%%20GMT", &tm);
  return text;
}

/// The first reconnect_scheduled delay for a 503 (or `status`) with `retry_after` (URL-encoded).
std::int64_t first_delay(const ServerProcess& server, const std::string& retry_after,
                         int status = 503) {
  CliProcess cli(kCli, {"--events", "--backoff-initial", "20", "--jitter", "0",
                        ws_url(server, "/status?code=" + std::to_string(status) +
                                           "&header=Retry-After:%20" + retry_after)});
  const bool scheduled = cli.wait_for_event("reconnect_scheduled", 10s);
  cli.signal(SIGTERM);
  const auto r = cli.wait(10s);
  EXPECT_TRUE(scheduled) << r.describe();
  EXPECT_EQ(r.exit_code, 0) << r.describe();
  const auto s = named(events_of(r), "reconnect_scheduled");
  return s.empty() ? -1 : s[0].integer("delay_ms");
}

TEST(CliRetryAfter, SecondsRaiseTheDelay) {
  auto server = start_tether_server();
  EXPECT_EQ(first_delay(server, "2"), 2000);
  EXPECT_EQ(first_delay(server, "1", 429), 1000);
  EXPECT_EQ(first_delay(server, "1", 408), 1000);
}

TEST(CliRetryAfter, AnHttpDateRaisesTheDelay) {
  auto server = start_tether_server();
  const std::int64_t delay = first_delay(server, http_date_in(30));
  // Whole seconds, and time passes between the server's clock read and the client's.
  EXPECT_GE(delay, 27000);
  EXPECT_LE(delay, 31000);
}

TEST(CliRetryAfter, IsCappedAtFiveMinutes) {
  auto server = start_tether_server();
  EXPECT_EQ(first_delay(server, "86400"), 300000);
}

TEST(CliRetryAfter, NeverLowersTheBackoff) {
  auto server = start_tether_server();
  CliProcess cli(kCli, {"--events", "--backoff-initial", "3000", "--jitter", "0",
                        ws_url(server, "/status?code=503&header=Retry-After:%201")});
  const bool scheduled = cli.wait_for_event("reconnect_scheduled", 10s);
  cli.signal(SIGTERM);
  const auto r = cli.wait(10s);
  ASSERT_TRUE(scheduled) << r.describe();
  const auto s = named(events_of(r), "reconnect_scheduled");
  ASSERT_FALSE(s.empty());
  EXPECT_EQ(s[0].integer("delay_ms"), 3000) << r.describe();
}

// --- close codes from the server ------------------------------------------------------------

enum class After { reconnect, stop, auth_rejected };

struct CloseCase {
  int code;
  After after;
};

void PrintTo(const CloseCase& c, std::ostream* os) {
  *os << "close " << c.code;
}

class CliCloseCode : public ::testing::TestWithParam<CloseCase> {
 protected:
  static void SetUpTestSuite() { server_ = new ServerProcess(start_tether_server()); }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  static ServerProcess* server_;
};
ServerProcess* CliCloseCode::server_ = nullptr;

TEST_P(CliCloseCode, ReconnectsStopsOrGivesUpPerTheTable) {
  ASSERT_NE(server_, nullptr);
  const auto& c = GetParam();
  const auto r = run_open({"--events", "--max-retries", "1", "--backoff-initial", "20",
                           ws_url(*server_, "/close?reason=bye&code=" + std::to_string(c.code))});
  ASSERT_FALSE(r.timed_out) << r.describe();
  const auto events = events_of(r);
  const auto closes = named(events, "close");
  ASSERT_FALSE(closes.empty()) << r.describe();
  EXPECT_EQ(closes[0].integer("code"), c.code) << r.describe();
  EXPECT_EQ(closes[0].str("reason"), "bye") << r.describe();
  EXPECT_EQ(closes[0].fields.boolean("reconnect"), std::optional<bool>(c.after == After::reconnect))
      << r.describe();
  switch (c.after) {
    case After::reconnect:
      // Two connections (the retry), each closed the same way, then retries run out.
      EXPECT_EQ(closes.size(), 2u) << r.describe();
      expect_exhausted(r, 1);
      break;
    case After::stop:
      EXPECT_EQ(closes.size(), 1u) << r.describe();
      EXPECT_EQ(r.exit_code, 3) << r.describe();
      EXPECT_EQ(last_state(events), "closed") << r.describe();
      EXPECT_TRUE(named(events, "reconnect_scheduled").empty()) << r.describe();
      EXPECT_TRUE(named(events, "error").empty()) << r.describe();
      break;
    case After::auth_rejected:
      EXPECT_EQ(closes.size(), 1u) << r.describe();
      EXPECT_EQ(r.exit_code, 2) << r.describe();
      EXPECT_EQ(last_state(events), "failed") << r.describe();
      EXPECT_TRUE(named(events, "reconnect_scheduled").empty()) << r.describe();
      EXPECT_EQ(error_codes(events), std::vector<std::string>{"auth_rejected"}) << r.describe();
      break;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Codes, CliCloseCode,
    ::testing::Values(CloseCase{1001, After::reconnect}, CloseCase{1002, After::reconnect},
                      CloseCase{1011, After::reconnect}, CloseCase{1012, After::reconnect},
                      CloseCase{1013, After::reconnect}, CloseCase{1014, After::reconnect},
                      CloseCase{3000, After::reconnect}, CloseCase{3499, After::reconnect},
                      CloseCase{4000, After::reconnect}, CloseCase{4002, After::reconnect},
                      CloseCase{4499, After::reconnect}, CloseCase{1000, After::stop},
                      CloseCase{1003, After::stop}, CloseCase{1007, After::stop},
                      CloseCase{1008, After::stop}, CloseCase{1009, After::stop},
                      CloseCase{1010, After::stop}, CloseCase{3500, After::stop},
                      CloseCase{3999, After::stop}, CloseCase{4500, After::stop},
                      CloseCase{4999, After::stop}, CloseCase{4001, After::auth_rejected},
                      CloseCase{4003, After::auth_rejected}),
    [](const auto& p) { return "Code" + std::to_string(p.param.code); });

TEST(CliCloseCodeNoCode, AnEmptyCloseFrameIs1005AndReconnects) {
  auto server = start_tether_server();
  const auto r = run_open({"--events", "--max-retries", "1", "--backoff-initial", "20",
                           ws_url(server, "/close?code=1005")});
  expect_exhausted(r, 1);
  const auto closes = named(events_of(r), "close");
  ASSERT_EQ(closes.size(), 2u) << r.describe();
  EXPECT_EQ(closes[0].integer("code"), 1005) << r.describe();
  EXPECT_EQ(closes[0].fields.boolean("reconnect"), std::optional<bool>(true)) << r.describe();
}

// --- --no-reconnect -----------------------------------------------------------------------------

TEST(CliNoReconnect, ARetryableFailureEndsWithExit2) {
  auto server = start_tether_server();
  for (const std::string path : {"/status?code=503", "/drop", "/close?code=1012"}) {
    const auto r = run_open({"--events", "--no-reconnect", ws_url(server, path)});
    ASSERT_FALSE(r.timed_out) << path << "\n" << r.describe();
    EXPECT_EQ(r.exit_code, 2) << path << "\n" << r.describe();
    const auto events = events_of(r);
    EXPECT_TRUE(named(events, "reconnect_scheduled").empty()) << path << "\n" << r.describe();
    EXPECT_EQ(last_state(events), "failed") << path << "\n" << r.describe();
    for (const auto& close : named(events, "close")) {
      EXPECT_EQ(close.fields.boolean("reconnect"), std::optional<bool>(false)) << r.describe();
    }
  }
}

TEST(CliNoReconnect, ANoReconnectCodeStillExits3) {
  auto server = start_tether_server();
  const auto r = run_open({"--events", "--no-reconnect", ws_url(server, "/close?code=1008")});
  ASSERT_FALSE(r.timed_out) << r.describe();
  EXPECT_EQ(r.exit_code, 3) << r.describe();
  EXPECT_EQ(last_state(events_of(r)), "closed") << r.describe();
}

// --- the proxy from the environment -----------------------------------------------------------

// tinyproxy's log line for a CONNECT request.
const char* const kProxyConnect = "): CONNECT ";

class CliProxyEnvironment : public ::testing::Test {
 protected:
  ServerProcess proxy_ = start_tinyproxy();
  ServerProcess echo_ = start_tether_server();
  std::string dead_proxy_ = "http://127.0.0.1:" + std::to_string(free_port());

  std::string proxy_url() const { return "http://127.0.0.1:" + std::to_string(proxy_.port()); }

  /// Runs one echo through `url` with `env`; true when it worked.
  bool echoes(const std::string& url, std::vector<std::pair<std::string, std::string>> env,
              std::string* why = nullptr) {
    CliRunOptions options;
    options.env = std::move(env);
    const auto r = run_cli(kCli, {"--events", "--no-reconnect", url}, "x\n", true, 10s, options);
    if (why != nullptr) *why = r.describe();
    return r.exit_code == 0 && r.out == "x\n";
  }
  std::size_t connects() const { return proxy_.count_in_log(kProxyConnect); }
};

TEST_F(CliProxyEnvironment, UppercaseHttpProxyIsUsedToo) {
  std::string why;
  EXPECT_TRUE(echoes(ws_url(echo_, "/echo"), {{"HTTP_PROXY", proxy_url()}}, &why)) << why;
  EXPECT_TRUE(proxy_.wait_for_log(kProxyConnect, 3s)) << proxy_.log();
}

TEST_F(CliProxyEnvironment, WssUsesHttpsProxyNotHttpProxy) {
  PythonEchoOptions tls;
  tls.tls_cert = test_certs().server_cert;
  tls.tls_key = test_certs().server_key;
  auto secure = start_python_echo(tls);
  const std::string url = "wss://127.0.0.1:" + std::to_string(secure.port()) + "/";
  for (const char* name : {"https_proxy", "HTTPS_PROXY"}) {
    const std::size_t before = connects();
    CliRunOptions options;
    options.env = {{name, proxy_url()}, {"http_proxy", dead_proxy_}};
    CliProcess cli(kCli, {"--events", "--no-reconnect", "--ca", test_certs().ca, url}, options);
    cli.write_line("secure");
    const bool echoed = cli.wait_for_out("secure\n", 10s);
    cli.close_stdin();
    const auto r = cli.wait(10s);
    EXPECT_TRUE(echoed) << name << "\n" << r.describe();
    EXPECT_EQ(r.exit_code, 0) << name << "\n" << r.describe();
    EXPECT_GT(connects(), before) << name << "\n" << proxy_.log();
  }
}

TEST_F(CliProxyEnvironment, NoProxyForms) {
  const std::string port = std::to_string(echo_.port());
  const std::string by_ip = ws_url(echo_, "/echo");
  const std::string by_name = "ws://localhost:" + port + "/echo";
  // Each of these lists sends the connection direct: the dead proxy is never asked.
  const std::vector<std::pair<std::string, std::string>> direct = {
      {"no_proxy", "*"},
      {"no_proxy", "example.test, 127.0.0.1"},
      {"no_proxy", "127.0.0.1:" + port},
      {"NO_PROXY", "127.0.0.1"},
  };
  for (const auto& [name, value] : direct) {
    std::string why;
    EXPECT_TRUE(echoes(by_ip, {{"http_proxy", dead_proxy_}, {name, value}}, &why))
        << name << "=" << value << "\n"
        << why;
  }
  for (const std::string& value :
       std::vector<std::string>{"LOCALHOST", "localhost:" + port, ".localhost", "*"}) {
    std::string why;
    EXPECT_TRUE(echoes(by_name, {{"http_proxy", dead_proxy_}, {"no_proxy", value}}, &why))
        << "no_proxy=" << value << "\n"
        << why;
  }
  // Lists that do not match: the connection goes through the proxy.
  for (const std::string value : {"127.0.0.2", "127.0.0.1:1", "example.test"}) {
    const std::size_t before = connects();
    std::string why;
    EXPECT_TRUE(echoes(by_ip, {{"http_proxy", proxy_url()}, {"no_proxy", value}}, &why))
        << "no_proxy=" << value << "\n"
        << why;
    EXPECT_GT(connects(), before) << "no_proxy=" << value << " bypassed the proxy";
  }
}

TEST_F(CliProxyEnvironment, TheProxyOptionOverridesNoProxy) {
  const std::size_t before = connects();
  CliRunOptions options;
  options.env = {{"no_proxy", "*"}};
  const auto r = run_cli(kCli, {"--events", "--proxy", proxy_url(), ws_url(echo_, "/echo")}, "x\n",
                         true, 10s, options);
  EXPECT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_EQ(r.out, "x\n") << r.describe();
  EXPECT_GT(connects(), before) << proxy_.log();
}

}  // namespace
}  // namespace tether::testing
