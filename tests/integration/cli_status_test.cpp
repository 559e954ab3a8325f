// tether-cli's live status line: drawn only when stderr is a terminal and --events is off. The
// child's stderr is a pseudo-terminal here (openpty); the bytes it draws are replayed on a small
// virtual terminal to check what a user sees, and scanned draw by draw.

#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <set>
#include <string>
#include <vector>

#include "cli_test_support.hpp"

namespace tether::testing {
namespace {

using namespace std::chrono_literals;

constexpr char kEraseToEnd[] = "\x1b[K";

CliRunOptions on_a_terminal(unsigned short columns = 200) {
  CliRunOptions options;
  options.stderr_tty = true;
  options.tty_columns = columns;
  return options;
}

/// Every status drawn: the text between a carriage return and the clear-to-end-of-line that
/// ends it (an erase alone, "\r\x1b[K", draws nothing).
std::vector<std::string> draws(const std::string& err) {
  std::vector<std::string> out;
  std::size_t at = 0;
  while ((at = err.find('\r', at)) != std::string::npos) {
    const std::size_t end = err.find(kEraseToEnd, at + 1);
    if (end == std::string::npos) break;
    const std::string text = err.substr(at + 1, end - at - 1);
    if (!text.empty() && text.find_first_of("\r\n\x1b") == std::string::npos) out.push_back(text);
    at = end;
  }
  return out;
}

bool drew(const std::string& err, const std::string& needle) {
  for (const auto& d : draws(err))
    if (d.find(needle) != std::string::npos) return true;
  return false;
}

/// What a terminal shows after `bytes`: lines, with "\r" back to column 0, "\x1b[K" clearing to
/// the end of the line, "\n" a new line. Any other escape sequence is reported in `problems`.
std::vector<std::string> screen(const std::string& bytes, std::vector<std::string>& problems) {
  std::vector<std::string> lines(1);
  std::size_t column = 0;
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    const char c = bytes[i];
    if (c == '\r') {
      column = 0;
    } else if (c == '\n') {
      lines.emplace_back();
      column = 0;
    } else if (c == '\x1b') {
      if (bytes.compare(i, 3, kEraseToEnd) != 0) {
        problems.push_back("unexpected escape at byte " + std::to_string(i));
        continue;
      }
      lines.back().resize(std::min(lines.back().size(), column));
      i += 2;
    } else {
      std::string& line = lines.back();
      if (column < line.size()) {
        line[column] = c;
      } else {
        line.append(column - line.size(), ' ');
        line += c;
      }
      ++column;
    }
  }
  return lines;
}

/// The screen after the run: every status line erased (the last line is empty), no line holds a
/// status text (each message started on a clean line), nothing unknown was drawn.
void expect_clean_screen(const CliResult& r) {
  std::vector<std::string> problems;
  const auto lines = screen(r.err, problems);
  for (const auto& p : problems) ADD_FAILURE() << p << "\n" << r.describe();
  ASSERT_FALSE(lines.empty());
  EXPECT_EQ(lines.back(), "") << "the status line was not erased at exit\n" << r.describe();
  for (const auto& line : lines) {
    EXPECT_EQ(line.find("| queue "), std::string::npos)
        << "a status line left on screen: '" << line << "'\n"
        << r.describe();
  }
}

TEST(CliStatus, WhileReconnectingShowsStateAttemptCountdownAndQueueDepth) {
  // Nothing listens: every attempt is refused; a fixed 3 s delay leaves time to watch the
  // countdown. Two lines typed meanwhile wait in the queue.
  const std::string url = "ws://127.0.0.1:" + std::to_string(free_port()) + "/";
  CliProcess cli(kCli,
                 {"--backoff-initial", "3000", "--backoff-max", "3000", "--jitter", "0",
                  "--max-retries", "1", url},
                 on_a_terminal());
  cli.write_line("one");
  cli.write_line("two");
  const bool waiting = cli.wait_until(
      [](const std::string&, const std::string& err) {
        return drew(err, "waiting | attempt 1 | retry in ") && drew(err, "| queue 2");
      },
      10s);
  // The countdown goes down while the client waits (redrawn up to 10 times a second).
  const bool counted_down = cli.wait_until(
      [](const std::string&, const std::string& err) {
        std::set<std::string> seen;
        for (const auto& d : draws(err)) {
          const auto at = d.find("retry in ");
          if (at != std::string::npos) seen.insert(d.substr(at));
        }
        return seen.size() >= 2;
      },
      10s);
  cli.close_stdin();
  const auto r = cli.wait(15s);
  ASSERT_FALSE(r.timed_out) << r.describe();
  EXPECT_TRUE(waiting) << r.describe();
  EXPECT_TRUE(counted_down) << r.describe();
  EXPECT_EQ(r.exit_code, 2) << r.describe();  // one retry, refused again: retries exhausted

  const auto all = draws(r.err);
  ASSERT_FALSE(all.empty()) << r.describe();
  EXPECT_TRUE(drew(r.err, "connecting | attempt 1 | queue 2")) << r.describe();
  EXPECT_TRUE(drew(r.err, "failed | queue ")) << r.describe();
  // The countdown starts at the delay and never goes up within one wait.
  EXPECT_TRUE(drew(r.err, "retry in 3.0 s") || drew(r.err, "retry in 2.9 s")) << r.describe();
  double previous = 1e9;
  for (const auto& d : all) {
    const auto at = d.find("retry in ");
    if (at == std::string::npos) {
      previous = 1e9;
      continue;
    }
    const double left = std::stod(d.substr(at + 9));
    EXPECT_LE(left, previous) << d << "\n" << r.describe();
    EXPECT_LE(left, 3.0) << d;
    previous = left;
  }
  // At most ~10 redraws a second, plus one per state change and scheduled retry.
  const auto seconds = std::chrono::duration_cast<std::chrono::milliseconds>(r.elapsed).count();
  EXPECT_LE(all.size(), static_cast<std::size_t>(seconds / 100 + 20)) << r.describe();
  // The human messages are on screen, each on a clean line, and the status line is gone.
  EXPECT_NE(r.err.find("error: connect_refused"), std::string::npos) << r.describe();
  EXPECT_NE(r.err.find("error: retries_exhausted"), std::string::npos) << r.describe();
  expect_clean_screen(r);
}

TEST(CliStatus, OpenThenErasedAtExitAndAroundMessages) {
  auto server = start_tether_server();
  CliProcess cli(kCli, {ws_url(server, "/echo")}, on_a_terminal());
  ASSERT_TRUE(cli.wait_until(
      [](const std::string&, const std::string& err) { return drew(err, "open | queue 0"); }, 10s))
      << cli.err();
  cli.write_line("hello");
  ASSERT_TRUE(cli.wait_for_out("hello\n", 5s)) << cli.err();
  cli.close_stdin();
  const auto r = cli.wait(10s);
  ASSERT_FALSE(r.timed_out) << r.describe();
  EXPECT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_EQ(r.out, "hello\n") << "the status line goes to stderr only\n" << r.describe();
  // "connected to ..." was written on a clean line (the status line erased before it, redrawn
  // after it), and the status line was erased at exit.
  expect_clean_screen(r);
  std::vector<std::string> problems;
  const auto lines = screen(r.err, problems);
  EXPECT_NE(std::find_if(lines.begin(), lines.end(),
                         [](const std::string& l) { return l.rfind("connected to ", 0) == 0; }),
            lines.end())
      << r.describe();
}

TEST(CliStatus, AuthenticatingThenASignalErasesIt) {
  auto server = start_tether_server();
  CliProcess cli(kCli,
                 {"--auth-token", "good", "--auth-timeout", "0",
                  ws_url(server, "/app?token=good&auth_noanswer=1")},
                 on_a_terminal());
  cli.write_line("waits");
  ASSERT_TRUE(
      cli.wait_until([](const std::string&,
                        const std::string& err) { return drew(err, "authenticating | queue 1"); },
                     10s))
      << cli.err();
  cli.signal(SIGINT);
  const auto r = cli.wait(10s);
  ASSERT_FALSE(r.timed_out) << r.describe();
  EXPECT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_EQ(r.out, "");
  expect_clean_screen(r);
}

TEST(CliStatus, CutToTheTerminalsWidth) {
  const std::string url = "ws://127.0.0.1:" + std::to_string(free_port()) + "/";
  const auto r = [&] {
    CliProcess cli(kCli, {"--backoff-initial", "2000", "--jitter", "0", "--max-retries", "1", url},
                   on_a_terminal(16));
    const bool waiting = cli.wait_until(
        [](const std::string&, const std::string& err) { return drew(err, "waiting | atte"); },
        10s);
    cli.signal(SIGTERM);
    auto result = cli.wait(10s);
    EXPECT_TRUE(waiting) << result.describe();
    return result;
  }();
  ASSERT_FALSE(r.timed_out) << r.describe();
  EXPECT_EQ(r.exit_code, 0) << r.describe();
  const auto all = draws(r.err);
  ASSERT_FALSE(all.empty()) << r.describe();
  for (const auto& d : all) EXPECT_LE(d.size(), 15u) << "'" << d << "' wraps a 16-column line";
}

TEST(CliStatus, NeverWithEventsOnATerminal) {
  const std::string url = "ws://127.0.0.1:" + std::to_string(free_port()) + "/";
  const auto r = run_cli(kCli, {"--events", "--backoff-initial", "50", "--max-retries", "2", url},
                         {}, false, 10s, on_a_terminal());
  ASSERT_FALSE(r.timed_out) << r.describe();
  EXPECT_EQ(r.exit_code, 2) << r.describe();
  EXPECT_EQ(r.err.find_first_of("\r\x1b"), std::string::npos) << r.describe();
  const EventLogCheck check = parse_event_log(r.err);
  for (const auto& p : check.problems) ADD_FAILURE() << p << "\n" << r.describe();
  EXPECT_FALSE(check.events.empty()) << r.describe();
}

TEST(CliStatus, NeverWhenStderrIsNotATerminal) {
  const std::string url = "ws://127.0.0.1:" + std::to_string(free_port()) + "/";
  const auto r = run_cli(kCli, {"--backoff-initial", "300", "--max-retries", "1", url}, "queued\n",
                         false, 10s);
  ASSERT_FALSE(r.timed_out) << r.describe();
  EXPECT_EQ(r.exit_code, 2) << r.describe();
  EXPECT_NE(r.err.find("error: connect_refused"), std::string::npos) << r.describe();
  EXPECT_EQ(r.err.find_first_of("\r\x1b"), std::string::npos) << r.describe();
  EXPECT_EQ(r.err.find("| queue"), std::string::npos) << r.describe();
}

}  // namespace
}  // namespace tether::testing
