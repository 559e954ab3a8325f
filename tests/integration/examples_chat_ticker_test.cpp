// The chat, ticker and outage-demo examples run as a user runs them (argv, stdin lines, stdout,
// stderr, exit code) against the bundled example server (examples/servers/chat_server.py) on
// 127.0.0.1, each through a server restart on the same port.

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "support/cli_runner.hpp"
#include "support/servers.hpp"

namespace tether::testing {
namespace {

using namespace std::chrono_literals;

#if defined(TETHER_CHAT_PATH) && defined(TETHER_TICKER_PATH) && defined(TETHER_OUTAGE_DEMO_PATH)
const std::string kChat = TETHER_CHAT_PATH;
const std::string kTicker = TETHER_TICKER_PATH;
const std::string kOutageDemo = TETHER_OUTAGE_DEMO_PATH;
#else
// Built without the examples (TETHER_BUILD_EXAMPLES=OFF): every test is skipped.
const std::string kChat;
const std::string kTicker;
const std::string kOutageDemo;
class NoExamples : public ::testing::Environment {
 public:
  void SetUp() override {
    GTEST_SKIP() << "the examples are not built (TETHER_BUILD_EXAMPLES=OFF)";
  }
};
const auto* const kNoExamples = ::testing::AddGlobalTestEnvironment(new NoExamples);
#endif

// Generous bounds: the machine may be loaded; every wait ends as soon as its condition holds.
constexpr auto kWait = 30s;

/// chat_server.py on 127.0.0.1 with an ephemeral port and its event log in dir()/events.log;
/// restart() brings it back on the same port.
ServerProcess start_example_server(std::vector<std::string> extra = {}) {
  TempDir dir("tether-examples");
  std::string log = dir.file("events.log");
  ProcessSpec spec;
  spec.name = "chat_server";
  spec.argv = {TETHER_PYTHON, source_path("examples/servers/chat_server.py"),
               "--host",      "127.0.0.1",
               "--port",      "0",
               "--log",       log};
  spec.argv.insert(spec.argv.end(), extra.begin(), extra.end());
  spec.env = {{"PYTHONUNBUFFERED", "1"}, {"PYTHONDONTWRITEBYTECODE", "1"}};
  spec.ready_timeout = 30s;  // Python's start-up on a loaded machine
  spec.stop_timeout = 10s;
  spec.extra_logs = {log};
  ServerProcess server(std::move(spec), std::move(dir));
  server.start();
  return server;
}

std::string url(const ServerProcess& server, const std::string& path) {
  return "ws://127.0.0.1:" + std::to_string(server.port()) + path;
}

std::size_t count_of(std::string_view text, std::string_view needle) {
  std::size_t count = 0;
  for (auto at = text.find(needle); at != std::string_view::npos;
       at = text.find(needle, at + needle.size())) {
    ++count;
  }
  return count;
}

/// Waits until `needle` appears at least `times` times on the child's stdout.
bool wait_out_count(CliProcess& child, std::string_view needle, std::size_t times) {
  return child.wait_until(
      [&](const std::string& out, const std::string&) { return count_of(out, needle) >= times; },
      kWait);
}
bool wait_err_count(CliProcess& child, std::string_view needle, std::size_t times) {
  return child.wait_until(
      [&](const std::string&, const std::string& err) { return count_of(err, needle) >= times; },
      kWait);
}

std::string describe(CliProcess& child) {
  return "stdout:\n" + child.out() + "\nstderr:\n" + child.err();
}

// --- chat --------------------------------------------------------------------------------------

TEST(ExamplesChatTest, RoomsPresenceWhoAndBroadcastsSurviveAServerRestart) {
  ServerProcess server = start_example_server();
  CliProcess ada(kChat, {url(server, "/chat"), "--user", "ada"});
  CliProcess bob(kChat, {url(server, "/chat"), "--user", "bob"});

  ada.write_line("/join lobby");
  ASSERT_TRUE(ada.wait_for_out("* ada joined lobby (here: ada)", kWait)) << describe(ada);
  bob.write_line("/join lobby");
  ASSERT_TRUE(ada.wait_for_out("* bob joined lobby (here: ada, bob)", kWait)) << describe(ada);
  ASSERT_TRUE(bob.wait_for_out("* bob joined lobby (here: ada, bob)", kWait)) << describe(bob);

  // A broadcast reaches everyone in the room, the sender included; `who` is a request.
  bob.write_line("hello ada");
  EXPECT_TRUE(ada.wait_for_out("[lobby] bob: hello ada", kWait)) << describe(ada);
  EXPECT_TRUE(bob.wait_for_out("[lobby] bob: hello ada", kWait)) << describe(bob);
  bob.write_line("/who");
  EXPECT_TRUE(bob.wait_for_out("* in lobby: ada, bob", kWait)) << describe(bob);
  // A room nobody is in: an empty list.
  bob.write_line("/who kitchen");
  EXPECT_TRUE(bob.wait_for_out("* in kitchen: nobody", kWait)) << describe(bob);

  // The server goes away (1001) and comes back on the same port. bob says something while it is
  // down: the request waits in tether's queue and goes out after the reconnect.
  server.stop();
  ASSERT_TRUE(bob.wait_for_err("-- waiting (closed 1001 \"going away\")", kWait)) << describe(bob);
  bob.write_line("said during the outage");
  server.start();

  // Both reconnect and join the room again (tether re-sends the subscriptions): whoever joins
  // second makes the server announce both.
  EXPECT_TRUE(wait_err_count(ada, "-- open", 2)) << describe(ada);
  EXPECT_TRUE(wait_err_count(bob, "-- open", 2)) << describe(bob);
  EXPECT_TRUE(wait_out_count(ada, "joined lobby (here: ada, bob)", 2)) << describe(ada);
  EXPECT_TRUE(bob.wait_for_out("[lobby] bob: said during the outage", kWait)) << describe(bob);

  bob.write_line("back again");
  EXPECT_TRUE(ada.wait_for_out("[lobby] bob: back again", kWait)) << describe(ada);
  bob.write_line("/leave");
  EXPECT_TRUE(bob.wait_for_out("* you left lobby", kWait)) << describe(bob);
  EXPECT_TRUE(ada.wait_for_out("* bob left lobby (here: ada)", kWait)) << describe(ada);
  bob.write_line("nobody hears this");
  EXPECT_TRUE(bob.wait_for_out("* join a room first: /join ROOM", kWait)) << describe(bob);

  bob.close_stdin();
  ada.close_stdin();
  CliResult bob_end = bob.wait(kWait);
  CliResult ada_end = ada.wait(kWait);
  EXPECT_EQ(bob_end.exit_code, 0) << bob_end.describe();
  EXPECT_EQ(ada_end.exit_code, 0) << ada_end.describe();
  EXPECT_EQ(count_of(bob_end.out, "not delivered"), 0u) << bob_end.describe();
  // Every line said reached the server exactly once (the restart duplicated nothing).
  std::string log = server.log();
  EXPECT_EQ(count_of(log, "hello ada"), 1u) << log;
  EXPECT_EQ(count_of(log, "said during the outage"), 1u) << log;
  EXPECT_EQ(count_of(log, "back again"), 1u) << log;
  EXPECT_EQ(count_of(log, "nobody hears this"), 0u) << log;
}

TEST(ExamplesChatTest, TokenIsSentAsFirstMessageAndAWrongOneFails) {
  ServerProcess server = start_example_server({"--token", "s3cret"});
  CliResult good = run_cli(kChat, {url(server, "/chat"), "--user", "ada", "--token", "s3cret"},
                           "/join lobby\nhi\n", true, kWait);
  EXPECT_EQ(good.exit_code, 0) << good.describe();
  EXPECT_NE(good.out.find("[lobby] ada: hi"), std::string::npos) << good.describe();

  CliResult bad = run_cli(kChat, {url(server, "/chat"), "--user", "eve", "--token", "wrong"},
                          "/join lobby\nhi\n", false, kWait);
  EXPECT_EQ(bad.exit_code, 1) << bad.describe();
  EXPECT_NE(bad.out.find("auth_rejected"), std::string::npos) << bad.describe();
  EXPECT_NE(bad.err.find("-- failed"), std::string::npos) << bad.describe();
  EXPECT_EQ(count_of(server.log(), "\"text\":\"{\\\"type\\\":\\\"chat\\\""), 1u) << server.log();
}

// --- ticker ------------------------------------------------------------------------------------

TEST(ExamplesTickerTest, ResumesAcrossAServerRestartWithNoGapAndNoDuplicate) {
  ServerProcess server = start_example_server({"--tick-ms", "50"});
  CliProcess ticker(kTicker,
                    {url(server, "/ticker"), "--symbols", "ACME,GLOBEX", "--prices", "100"});

  // The quotes (request/response), then live prices of both symbols.
  ASSERT_TRUE(ticker.wait_for_out("quote ACME ", kWait)) << describe(ticker);
  ASSERT_TRUE(ticker.wait_for_out("quote GLOBEX ", kWait)) << describe(ticker);
  ASSERT_TRUE(wait_out_count(ticker, "GLOBEX  ", 10)) << describe(ticker);

  // The outage: down until the client has seen a refused reconnect (ticks go by meanwhile).
  server.stop();
  ASSERT_TRUE(ticker.wait_for_err("connect_refused", kWait)) << describe(ticker);
  server.start();

  CliResult end = ticker.wait(60s);
  ASSERT_EQ(end.exit_code, 0) << end.describe();
  std::string check;
  for (const auto& line : end.out_lines()) {
    if (line.rfind("check: ", 0) == 0) check = line;
  }
  EXPECT_EQ(check.rfind("check: OK, no gap, no duplicate: 200 prices;", 0), 0u) << end.describe();
  EXPECT_NE(check.find("ACME ticks "), std::string::npos) << check;
  EXPECT_NE(check.find("(100, gaps 0, duplicates 0"), std::string::npos) << check;
  EXPECT_NE(check.find("reconnects 1,"), std::string::npos) << check;
  // The resubscribe carried the last sequence number seen, and the server replayed the gap.
  EXPECT_NE(server.log().find("resume_from"), std::string::npos) << server.log();
  EXPECT_EQ(count_of(end.out, "GAP"), 0u) << end.describe();
  EXPECT_EQ(count_of(end.out, "DUPLICATE"), 0u) << end.describe();
}

TEST(ExamplesTickerTest, UnknownSymbolIsRefusedAndReported) {
  ServerProcess server = start_example_server({"--tick-ms", "50"});
  CliResult r = run_cli(
      kTicker,
      {url(server, "/ticker"), "--symbols", "NOPE", "--prices", "1", "--timeout-ms", "2000"}, {},
      true, kWait);
  EXPECT_EQ(r.exit_code, 1) << r.describe();
  EXPECT_NE(r.out.find("quote NOPE failed: unknown symbol NOPE"), std::string::npos)
      << r.describe();
  EXPECT_NE(r.err.find("subscribe_rejected"), std::string::npos) << r.describe();
  EXPECT_NE(r.out.find("check: FAILED (incomplete)"), std::string::npos) << r.describe();
}

// --- outage-demo -------------------------------------------------------------------------------

TEST(ExamplesOutageDemoTest, EveryMessageSentDuringTheOutageIsEchoedOnceInOrder) {
  ServerProcess server = start_example_server();
  CliProcess demo(kOutageDemo, {url(server, "/echo"), "--count", "30", "--interval-ms", "100"});
  ASSERT_TRUE(demo.wait_for_out("echo   message 5\n", kWait)) << describe(demo);
  server.stop();
  // Down until at least two messages have waited for the connection.
  ASSERT_TRUE(wait_out_count(demo, "waits for the connection", 2)) << describe(demo);
  server.start();

  CliResult end = demo.wait(60s);
  EXPECT_EQ(end.exit_code, 0) << end.describe();
  EXPECT_NE(end.out.find("outage-demo: sent=30 accepted=30 written=30 echoed=30 dropped=0 "
                         "duplicate_echoes=0 out_of_order=0 reconnects=1"),
            std::string::npos)
      << end.describe();
  EXPECT_NE(end.out.find("(server closed 1001 \"going away\")"), std::string::npos)
      << end.describe();
  EXPECT_NE(end.out.find("scheduled in "), std::string::npos) << end.describe();
  // The server received each message exactly once.
  std::string log = server.log();
  for (int n = 1; n <= 30; ++n) {
    std::string text = "\"text\":\"message " + std::to_string(n) + "\"";
    EXPECT_EQ(count_of(log, text), 1u) << text;
  }
}

}  // namespace
}  // namespace tether::testing
