// The examples run as a user runs them, against the bundled example server
// (examples/servers/chat_server.py, /echo) on 127.0.0.1: game-loop in both modes through a
// server restart on the same port, and desktop-executor. Their own summaries are checked; the
// frame times they measure are printed, never asserted on.

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "support/cli_runner.hpp"
#include "support/servers.hpp"

namespace tether::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

#if defined(TETHER_GAME_LOOP_PATH) && defined(TETHER_DESKTOP_EXECUTOR_PATH)
const std::string kGameLoop = TETHER_GAME_LOOP_PATH;
const std::string kDesktopExecutor = TETHER_DESKTOP_EXECUTOR_PATH;
#else
// Built without the examples (TETHER_BUILD_EXAMPLES=OFF): every test is skipped.
const std::string kGameLoop;
const std::string kDesktopExecutor;
class NoExamples : public ::testing::Environment {
 public:
  void SetUp() override {
    GTEST_SKIP() << "the examples are not built (TETHER_BUILD_EXAMPLES=OFF)";
  }
};
const auto* const kNoExamples = ::testing::AddGlobalTestEnvironment(new NoExamples);
#endif

void report(const std::string& key, const std::string& value) {
  ::testing::Test::RecordProperty(key, value);
  std::printf("[  MEASURE ] %s = %s\n", key.c_str(), value.c_str());
  std::fflush(stdout);
}

/// examples/servers/chat_server.py on 127.0.0.1 with an ephemeral port; restart() brings it
/// back on the same port.
ServerProcess start_chat_server() {
  ProcessSpec spec;
  spec.name = "chat_server";
  spec.argv = {TETHER_PYTHON, source_path("examples/servers/chat_server.py"),
               "--host",      "127.0.0.1",
               "--port",      "0"};
  spec.readiness = Readiness::port_line;
  spec.ready_text = "LISTENING ";
  spec.ready_timeout = 30s;  // Python's start-up under a loaded machine
  spec.stop_timeout = 10s;
  ServerProcess server(spec);
  server.start();
  return server;
}

std::string echo_url(const ServerProcess& server) {
  return "ws://127.0.0.1:" + std::to_string(server.port()) + "/echo";
}

/// The summary game-loop prints on stdout at the end of a run (-1: the line was missing).
struct GameLoopSummary {
  long long frames = -1, planned = -1, late = -1;
  long long worst_us = -1, p99_us = -1, mean_us = -1;
  long long sent = -1, echoed = -1, dropped = -1, ttl = -1, overflow = -1, closed = -1, lost = -1,
            unresolved = -1, refused = -1;
  long long unexpected = -1, other = -1;
  long long reconnects = -1;
};

GameLoopSummary parse_summary(const std::string& out) {
  GameLoopSummary s;
  for (const std::string& line : split_lines(out)) {
    const char* text = line.c_str();
    if (std::sscanf(text, "frames: %lld of %lld (%lld late)", &s.frames, &s.planned, &s.late) ==
        3) {
      continue;
    }
    if (std::sscanf(text, "tether time per frame: worst %lld us, p99 %lld us, mean %lld us",
                    &s.worst_us, &s.p99_us, &s.mean_us) == 3) {
      continue;
    }
    if (std::sscanf(text,
                    "messages: sent %lld, echoed %lld, dropped %lld (ttl %lld, overflow %lld, "
                    "closed %lld, lost in flight %lld), unresolved %lld, refused %lld",
                    &s.sent, &s.echoed, &s.dropped, &s.ttl, &s.overflow, &s.closed, &s.lost,
                    &s.unresolved, &s.refused) == 9) {
      continue;
    }
    if (std::sscanf(text, "inbound: unexpected echoes %lld, other messages %lld", &s.unexpected,
                    &s.other) == 2) {
      continue;
    }
    std::sscanf(text, "reconnects: %lld", &s.reconnects);
  }
  return s;
}

// --- game-loop --------------------------------------------------------------------------------

class GameLoopExample : public ::testing::TestWithParam<std::string> {};

TEST_P(GameLoopExample, RunsEveryFrameThroughAServerRestartAndAccountsForEveryUpdate) {
  const std::string mode = GetParam();
  auto server = start_chat_server();
  // Long enough for the restart and the reconnect on a loaded machine (Python's start-up alone
  // has taken over 4 s there); the run never ends early.
  const int seconds = 15;
  CliProcess game(
      kGameLoop, {"--url", echo_url(server), "--mode", mode, "--seconds", std::to_string(seconds)});

  // The restart happens once the game is connected, early in its run.
  ASSERT_TRUE(game.wait_for_err("] open\n", 30s)) << game.wait(1s).describe();
  const auto restart_started = Clock::now();
  server.restart();  // the same port; the server closes the connection with 1001 first
  const long long restart_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - restart_started).count();
  report("server_restart_ms", std::to_string(restart_ms));
  const bool running_after_restart = game.running();

  const CliResult r = game.wait(90s);
  ASSERT_TRUE(running_after_restart)
      << "the game's run ended before the server was back (restart took " << restart_ms << " ms)\n"
      << r.describe();
  ASSERT_FALSE(r.timed_out) << r.describe();
  EXPECT_EQ(r.exit_code, 0) << r.describe();
  const GameLoopSummary s = parse_summary(r.out);

  // Every frame ran, the loop never stopped for the outage.
  EXPECT_EQ(s.planned, seconds * 60LL) << r.describe();
  EXPECT_EQ(s.frames, s.planned) << r.describe();
  // No update lost: each ended echoed or dropped (and was counted once).
  EXPECT_EQ(s.sent, s.frames) << r.describe();
  EXPECT_EQ(s.refused, 0) << r.describe();
  EXPECT_EQ(s.sent, s.echoed + s.dropped) << r.describe();
  EXPECT_EQ(s.dropped, s.ttl + s.overflow + s.closed + s.lost) << r.describe();
  EXPECT_EQ(s.unresolved, 0) << r.describe();
  EXPECT_EQ(s.unexpected, 0) << r.describe();
  EXPECT_EQ(s.other, 0) << r.describe();
  EXPECT_GT(s.echoed, 0) << r.describe();
  // The restart was survived.
  EXPECT_GE(s.reconnects, 1) << r.describe();
  EXPECT_NE(r.err.find("closed 1001"), std::string::npos) << r.describe();
  EXPECT_NE(r.err.find("open again (reconnect 1)"), std::string::npos) << r.describe();

  // Measured, never asserted on: the machine is shared.
  report("mode", mode);
  report("frames", std::to_string(s.frames));
  report("late_frames", std::to_string(s.late));
  report("worst_tether_us_per_frame", std::to_string(s.worst_us));
  report("p99_tether_us_per_frame", std::to_string(s.p99_us));
  report("mean_tether_us_per_frame", std::to_string(s.mean_us));
  report("sent_echoed_dropped",
         std::to_string(s.sent) + " " + std::to_string(s.echoed) + " " + std::to_string(s.dropped));
}

std::string mode_test_name(const ::testing::TestParamInfo<std::string>& param) {
  return param.param == "poll" ? "Poll" : "NoThread";
}

INSTANTIATE_TEST_SUITE_P(Modes, GameLoopExample, ::testing::Values("poll", "no-thread"),
                         mode_test_name);

TEST(GameLoopExampleUsage, RefusesABadModeAndAMissingUrl) {
  const CliResult bad_mode = run_cli(kGameLoop, {"--url", "ws://127.0.0.1:1/echo", "--mode", "x"});
  EXPECT_EQ(bad_mode.exit_code, 2) << bad_mode.describe();
  EXPECT_NE(bad_mode.err.find("usage: game-loop"), std::string::npos) << bad_mode.describe();
  const CliResult no_url = run_cli(kGameLoop, {"--seconds", "1"});
  EXPECT_EQ(no_url.exit_code, 2) << no_url.describe();
  EXPECT_NE(no_url.err.find("--url is required"), std::string::npos) << no_url.describe();
}

// --- desktop-executor -------------------------------------------------------------------------

TEST(DesktopExecutorExample, EveryCallbackRunsOnTheUiThreadAndEveryEchoArrives) {
  auto server = start_chat_server();
  const CliResult r =
      run_cli(kDesktopExecutor, {"--url", echo_url(server), "--count", "5", "--timeout", "60"}, {},
              true, 90s);
  ASSERT_FALSE(r.timed_out) << r.describe();
  // A callback off the UI thread aborts the example.
  EXPECT_EQ(r.exit_code, 0) << r.describe();

  // The events in order, each printed by the UI thread.
  const std::vector<std::string> expected_in_order = {"[ui] state idle -> connecting",
                                                      "[ui] open",
                                                      "[ui] message \"hello 1\"",
                                                      "[ui] message \"hello 2\"",
                                                      "[ui] message \"hello 3\"",
                                                      "[ui] message \"hello 4\"",
                                                      "[ui] message \"hello 5\"",
                                                      "[ui] every echo is back: closing",
                                                      "[ui] closed 1000 \"done\" clean, by us",
                                                      "[ui] state closing -> closed"};
  const std::vector<std::string> lines = r.out_lines();
  std::size_t next = 0;
  int ui_lines = 0;
  int sent_lines = 0;
  for (const std::string& line : lines) {
    if (line.rfind("[ui] ", 0) == 0) ++ui_lines;
    if (line.rfind("[ui] sent #", 0) == 0) ++sent_lines;
    if (next < expected_in_order.size() && line == expected_in_order[next]) ++next;
  }
  EXPECT_EQ(next, expected_in_order.size())
      << "missing or out of order: "
      << expected_in_order[std::min(next, expected_in_order.size() - 1)] << "\n"
      << r.describe();
  EXPECT_EQ(sent_lines, 5) << r.describe();
  // One line per callback, plus the one the last message's callback adds.
  ASSERT_FALSE(lines.empty()) << r.describe();
  EXPECT_EQ(lines.back(), "desktop-executor: " + std::to_string(ui_lines - 1) +
                              " callbacks, all on the UI thread; 5 of 5 echoes; final state closed")
      << r.describe();
}

TEST(DesktopExecutorExample, ErrorsAlsoReachTheUiThreadAndTheRunEndsAtItsTimeout) {
  // Nothing listens on this port: every attempt is refused and retried until the timeout.
  const std::string url = "ws://127.0.0.1:" + std::to_string(free_port()) + "/echo";
  const CliResult r = run_cli(kDesktopExecutor, {"--url", url, "--timeout", "2"}, {}, true, 60s);
  ASSERT_FALSE(r.timed_out) << r.describe();
  EXPECT_EQ(r.exit_code, 1) << r.describe();
  EXPECT_NE(r.out.find("[ui] error connect_refused: "), std::string::npos) << r.describe();
  EXPECT_NE(r.out.find("[ui] state connecting -> waiting"), std::string::npos) << r.describe();
  EXPECT_NE(r.out.find("desktop-executor: timed out after 2 s"), std::string::npos) << r.describe();
  EXPECT_NE(r.out.find("all on the UI thread; 0 of 5 echoes"), std::string::npos) << r.describe();
}

}  // namespace
}  // namespace tether::testing
