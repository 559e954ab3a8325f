// tether-cli driven as a user or a script drives it (argv, stdin lines, stdout, the --events log
// on stderr, the exit code) against real servers on 127.0.0.1, checked against its contract
// (docs/cli.md).

#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <cstdlib>
#include <ostream>
#include <string>
#include <tether/json.hpp>
#include <tether/version.hpp>
#include <thread>
#include <vector>

#include "cli_test_support.hpp"

namespace tether::testing {
namespace {

using namespace std::chrono_literals;

CliResult run(const std::vector<std::string>& args, std::string_view input = {},
              bool close_stdin = true, std::chrono::milliseconds timeout = 10s,
              const CliRunOptions& options = {}) {
  return run_cli(kCli, args, input, close_stdin, timeout, options);
}

/// Runs with stdin left open (the CLI must end by itself: a failure, --count, the server).
CliResult run_open(const std::vector<std::string>& args, std::string_view input = {},
                   std::chrono::milliseconds timeout = 10s, const CliRunOptions& options = {}) {
  return run_cli(kCli, args, input, false, timeout, options);
}

std::string wss_url(const ServerProcess& server, const std::string& path = "/") {
  return "wss://127.0.0.1:" + std::to_string(server.port()) + path;
}
std::string proxy_url(const ServerProcess& proxy, const std::string& credentials = "") {
  return "http://" + credentials + "127.0.0.1:" + std::to_string(proxy.port());
}

std::vector<std::string> names(const std::vector<CliEvent>& events) {
  std::vector<std::string> out;
  for (const auto& e : events) out.push_back(e.name);
  return out;
}

/// The events other than `state` (the connection's life as the other events tell it).
std::vector<CliEvent> without_state(const std::vector<CliEvent>& events) {
  std::vector<CliEvent> out;
  for (const auto& e : events)
    if (e.name != "state") out.push_back(e);
  return out;
}

/// The `state` events chain (each `from` is the previous `to`, the first from idle) and end in
/// `last`.
void expect_states_end_in(const std::vector<CliEvent>& events, const std::string& last,
                          const CliResult& r) {
  const auto states = named(events, "state");
  ASSERT_FALSE(states.empty()) << r.describe();
  std::string previous = "idle";
  for (const auto& e : states) {
    EXPECT_EQ(e.str("from"), previous) << e.fields.source() << "\n" << r.describe();
    EXPECT_NE(e.str("from"), e.str("to")) << e.fields.source();
    previous = e.str("to");
  }
  EXPECT_EQ(previous, last) << r.describe();
}

std::string error_code(const std::vector<CliEvent>& events) {
  auto errors = named(events, "error");
  return errors.empty() ? std::string() : errors.front().str("code");
}

std::string joined_lines(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) out += l + "\n";
  return out;
}

/// An interactive session: writes `lines`, waits until each has come back on stdout, then closes
/// stdin and waits for the exit. (Piping everything then EOF at once races with servers that
/// answer the client's close frame before echoing what preceded it, as Python websockets does.)
CliResult echo_session(const std::vector<std::string>& args, const std::vector<std::string>& lines,
                       const CliRunOptions& options = {}) {
  CliProcess cli(kCli, args, options);
  const std::string expected = joined_lines(lines);
  cli.write(expected);
  const bool echoed = cli.wait_until(
      [&](const std::string& out, const std::string&) { return out.size() >= expected.size(); },
      5s);
  cli.close_stdin();
  auto r = cli.wait(5s);
  EXPECT_TRUE(echoed) << "the echoes did not come back\n" << r.describe();
  return r;
}

/// The project's server with its --log file in `dir`.
struct LoggedServer {
  TempDir dir{"tether-cli-test"};
  std::string log_path = dir.file("server.log");
  ServerProcess server = start_tether_server({"--log", log_path});

  std::string log() const { return read_file(log_path); }
  /// Polls the log until it contains `needle`.
  bool wait_for(const std::string& needle, std::chrono::milliseconds timeout = 3s) const {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      if (log().find(needle) != std::string::npos) return true;
      if (std::chrono::steady_clock::now() >= deadline) return false;
      std::this_thread::sleep_for(10ms);
    }
  }
};

/// Expects the exit code.
void expect_exit(const CliResult& r, int expected) {
  EXPECT_EQ(r.exit_code, expected) << r.describe();
}

/// Checks a run that failed before any connection opened: exit 2, an error event with `code`,
/// no open and no close event, nothing on stdout.
void expect_gave_up_with(const CliResult& r, const std::string& code) {
  EXPECT_FALSE(r.timed_out) << r.describe();
  EXPECT_EQ(r.exit_code, 2) << r.describe();
  const auto events = events_of(r);
  EXPECT_EQ(error_code(events), code) << r.describe();
  EXPECT_TRUE(named(events, "open").empty()) << r.describe();
  EXPECT_TRUE(named(events, "close").empty()) << "an attempt that never opened has no close\n"
                                              << r.describe();
  EXPECT_EQ(r.out, "") << r.describe();
  for (const auto& e : named(events, "error")) EXPECT_FALSE(e.str("message").empty());
}

// --- the runner's own parser ---------------------------------------------------------------------

TEST(CliRunnerJson, ParsesFlatObjectsAndRejectsOthers) {
  auto o = JsonObject::parse(
      R"({"event":"close","t_ms":12,"code":1000,"reason":"a\"b\\c\u00e9\n","reconnect":false,"p":null,"x":-1.5e3})");
  ASSERT_TRUE(o);
  EXPECT_EQ(o->str("event"), "close");
  EXPECT_EQ(o->integer("t_ms"), 12);
  EXPECT_EQ(o->str("reason"), "a\"b\\c\xC3\xA9\n");
  EXPECT_EQ(o->boolean("reconnect"), std::optional<bool>(false));
  EXPECT_TRUE(o->is_null("p"));
  ASSERT_NE(o->find("x"), nullptr);
  EXPECT_FALSE(o->find("x")->is_integer());
  EXPECT_DOUBLE_EQ(o->find("x")->number, -1500.0);
  EXPECT_EQ(o->keys().size(), 7u);
  EXPECT_TRUE(JsonObject::parse("{}"));
  for (const char* bad :
       {"", "{", "{\"a\":1,}", "{\"a\":{}}", "{\"a\":[1]}", "{\"a\":1}x", "{\"a\":1,\"a\":2}",
        "{a:1}", "{\"a\":tru}", "{\"a\":01}", "[]", "{\"a\":\"\t\"}"}) {
    std::string error;
    EXPECT_FALSE(JsonObject::parse(bad, &error)) << bad;
    EXPECT_FALSE(error.empty()) << bad;
  }
  auto log = parse_event_log("{\"event\":\"a\",\"t_ms\":5}\n{\"event\":\"b\",\"t_ms\":4}\nhello\n");
  EXPECT_EQ(log.events.size(), 2u);
  EXPECT_EQ(log.problems.size(), 2u);  // t_ms going back, a line that is not JSON
}

TEST(CliRunner, BothStreamsAreReadWhileStdinIsWritten) {
  // 1 MiB through cat while 2000 lines go to stderr: more than any pipe buffer each way.
  std::string input;
  for (int i = 0; input.size() < (1u << 20); ++i) input += "line " + std::to_string(i) + "\n";
  const auto r = run_cli(
      "/bin/sh", {"-c", "cat; i=0; while [ $i -lt 2000 ]; do echo e$i >&2; i=$((i+1)); done"},
      input, true, 20s);
  ASSERT_FALSE(r.timed_out);
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_TRUE(r.out == input) << r.out.size() << " of " << input.size() << " bytes";
  const auto err = r.err_lines();
  ASSERT_EQ(err.size(), 2000u);
  EXPECT_EQ(err.back(), "e1999");
}

TEST(CliRunner, TimeoutKillsByPidAndEnvironmentChanges) {
  const auto slow = run_cli("/bin/sleep", {"10"}, {}, true, 200ms);
  EXPECT_TRUE(slow.timed_out);
  EXPECT_EQ(slow.term_signal, SIGKILL);
  EXPECT_EQ(slow.exit_code, -1);
  EXPECT_LT(slow.elapsed, 3s);

  // The developer's proxy variables never reach the child unless a test sets them.
  const char* saved = std::getenv("http_proxy");
  const std::string saved_value = saved != nullptr ? saved : "";
  ::setenv("http_proxy", "http://127.0.0.1:1", 1);
  CliRunOptions options;
  options.env = {{"TETHER_RUNNER_TEST", "set"}, {"https_proxy", "http://127.0.0.1:2"}};
  options.unset_env = {"HOME"};
  const auto env = run_cli(
      "/bin/sh",
      {"-c", "echo \"$TETHER_RUNNER_TEST ${HOME:-unset} ${http_proxy:-none} $https_proxy\""}, {},
      true, 5s, options);
  if (saved != nullptr) {
    ::setenv("http_proxy", saved_value.c_str(), 1);
  } else {
    ::unsetenv("http_proxy");
  }
  EXPECT_EQ(env.exit_code, 0);
  EXPECT_EQ(env.out, "set unset none http://127.0.0.1:2\n");
}

// --- stdin → messages → stdout
// ---------------------------------------------------------------------

/// The round trip's event log: open (no subprotocol) before every sent, sent ×N and message ×N
/// with the sizes of `lines` (each echo after its send), then close 1000 last; states end closed.
void expect_echo_log(const CliResult& r, const std::vector<std::string>& lines) {
  const auto all = events_of(r);
  expect_states_end_in(all, "closed", r);
  // Lines read before the client was ready wait in the queue: `queued` events, depth 1, 2, ...,
  // all before the change to `open`.
  std::vector<CliEvent> events;
  std::int64_t depth = 0;
  bool opened = false;
  for (const auto& e : all) {
    if (e.name == "state") {
      if (e.str("to") == "open") opened = true;
      continue;
    }
    if (e.name != "queued") {
      events.push_back(e);
      continue;
    }
    EXPECT_FALSE(opened) << "queued after open\n" << r.describe();
    EXPECT_EQ(e.integer("depth"), ++depth) << r.describe();
  }
  EXPECT_TRUE(named(all, "dropped").empty()) << r.describe();
  ASSERT_GE(events.size(), 2u) << r.describe();
  EXPECT_EQ(events.front().name, "open") << r.describe();
  EXPECT_TRUE(events.front().fields.is_null("subprotocol")) << events.front().fields.source();
  EXPECT_EQ(events.back().name, "close") << r.describe();
  EXPECT_EQ(events.back().integer("code"), 1000);
  EXPECT_EQ(events.back().str("reason"), "");
  EXPECT_EQ(events.back().fields.boolean("reconnect"), std::optional<bool>(false));
  EXPECT_TRUE(named(events, "error").empty()) << r.describe();

  std::vector<std::size_t> sent_at, message_at;
  for (std::size_t i = 0; i < events.size(); ++i) {
    if (events[i].name == "sent") sent_at.push_back(i);
    if (events[i].name == "message") message_at.push_back(i);
  }
  ASSERT_EQ(sent_at.size(), lines.size()) << r.describe();
  ASSERT_EQ(message_at.size(), lines.size()) << r.describe();
  for (std::size_t k = 0; k < lines.size(); ++k) {
    const auto& sent = events[sent_at[k]];
    const auto& message = events[message_at[k]];
    EXPECT_EQ(sent.integer("bytes"), static_cast<std::int64_t>(lines[k].size())) << k;
    EXPECT_EQ(message.str("kind"), "text") << k;
    EXPECT_EQ(message.integer("bytes"), static_cast<std::int64_t>(lines[k].size())) << k;
    EXPECT_LT(sent_at[k], message_at[k]) << "echo " << k << " before its message was sent";
  }
}

const std::vector<std::string> kLines = {"hello", "", "tab\there  two spaces",
                                         "h\xC3\xA9llo \xE2\x9C\x93", std::string(3000, 'x') + "!"};

TEST(CliEcho, LinesRoundTripWithACompleteEventLog) {
  auto server = start_python_echo();
  const auto r = echo_session({"--events", ws_url(server)}, kLines);
  ASSERT_FALSE(r.timed_out) << r.describe();
  expect_exit(r, 0);
  EXPECT_EQ(r.out, joined_lines(kLines)) << r.describe();
  expect_echo_log(r, kLines);
  EXPECT_TRUE(server.wait_for_log("CLOSE 1000", 3s)) << server.log();
}

TEST(CliEcho, PipedInputThenEof) {
  // The project's server echoes every message before it answers the close frame, so a pipe
  // that ends at once still gets every echo printed.
  auto server = start_tether_server();
  const auto r = run({"--events", ws_url(server, "/echo")}, joined_lines(kLines));
  ASSERT_FALSE(r.timed_out) << r.describe();
  expect_exit(r, 0);
  EXPECT_EQ(r.out, joined_lines(kLines)) << r.describe();
  expect_echo_log(r, kLines);
}

TEST(CliEcho, WithoutEventsStdoutHasOnlyTheMessages) {
  auto server = start_tether_server();
  const auto r = run({ws_url(server, "/echo")}, "one\ntwo\n");
  ASSERT_FALSE(r.timed_out) << r.describe();
  expect_exit(r, 0);
  EXPECT_EQ(r.out, "one\ntwo\n") << r.describe();
  for (const auto& line : r.err_lines()) {
    EXPECT_FALSE(JsonObject::parse(line)) << "JSON on stderr without --events: " << line;
  }
}

TEST(CliEcho, ALastLineWithoutNewlineIsSentAtEof) {
  auto server = start_tether_server();
  const auto r = run({"--events", ws_url(server, "/echo")}, "first\nlast");
  ASSERT_FALSE(r.timed_out) << r.describe();
  expect_exit(r, 0);
  EXPECT_EQ(r.out, "first\nlast\n") << r.describe();
  EXPECT_EQ(named(events_of(r), "sent").size(), 2u) << r.describe();
}

TEST(CliEcho, LinesAreSentExactlyAsReadCarriageReturnsIncluded) {
  // Only the newline ends a line: a CR before it, a lone CR, a tab, stay in the message.
  LoggedServer s;
  const auto r = run({"--events", ws_url(s.server, "/echo")}, "crlf\r\nmid\rdle\n\t\n");
  ASSERT_FALSE(r.timed_out) << r.describe();
  expect_exit(r, 0);
  EXPECT_EQ(r.out, "crlf\r\nmid\rdle\n\t\n") << r.describe();
  const auto sent = named(events_of(r), "sent");
  ASSERT_EQ(sent.size(), 3u) << r.describe();
  EXPECT_EQ(sent[0].integer("bytes"), 5) << r.describe();
  EXPECT_EQ(sent[1].integer("bytes"), 7) << r.describe();
  EXPECT_EQ(sent[2].integer("bytes"), 1) << r.describe();
  EXPECT_TRUE(s.wait_for("\"text\":\"crlf\\r\"")) << s.log();
}

TEST(CliEcho, EofBeforeAnythingIsSentClosesAndExitsZero) {
  // Contract: on EOF, deliver what is queued (nothing here), close with 1000, exit 0.
  auto server = start_tether_server();
  const auto r = run({"--events", ws_url(server, "/echo")}, "");
  ASSERT_FALSE(r.timed_out) << r.describe();
  expect_exit(r, 0);
  EXPECT_EQ(r.out, "") << r.describe();
  EXPECT_TRUE(named(events_of(r), "error").empty()) << r.describe();
}

// --- --count, --stay
// -------------------------------------------------------------------------------

TEST(CliCount, PrintsExactlyNMessagesThenClosesAndExitsZero) {
  auto server = start_tether_server();
  const auto r = run_open({"--events", "--count", "3", ws_url(server, "/send?count=10")});
  ASSERT_FALSE(r.timed_out) << r.describe();
  expect_exit(r, 0);
  EXPECT_EQ(r.out, "0 cdefghijklmnop\n1 cdefghijklmnop\n2 cdefghijklmnop\n") << r.describe();
  const auto events = without_state(events_of(r));
  EXPECT_EQ(named(events, "message").size(), 3u) << r.describe();
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back().name, "close") << r.describe();
  EXPECT_EQ(events.back().integer("code"), 1000) << r.describe();
}

struct StayCase {
  int code;
  int exit_code;
  bool no_reconnect;  ///< A code that means reconnect ends the client only with --no-reconnect.
};

class CliStay : public ::testing::TestWithParam<StayCase> {
 protected:
  static void SetUpTestSuite() { server_ = new ServerProcess(start_tether_server()); }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  static ServerProcess* server_;
};
ServerProcess* CliStay::server_ = nullptr;

TEST_P(CliStay, KeepsRunningAfterEofUntilTheServerCloses) {
  ASSERT_NE(server_, nullptr);
  const ServerProcess* server = server_;
  const auto [code, expected_exit, no_reconnect] = GetParam();
  const std::string path = "/close?code=" + std::to_string(code) + "&after_ms=300";
  std::vector<std::string> args = {"--events", "--stay", ws_url(*server, path)};
  if (no_reconnect) args.insert(args.begin(), "--no-reconnect");
  const auto r = run(args, "");
  ASSERT_FALSE(r.timed_out) << r.describe();
  expect_exit(r, expected_exit);
  EXPECT_GE(r.elapsed, 250ms) << "it did not stay after EOF\n" << r.describe();
  const auto events = events_of(r);
  ASSERT_EQ(named(events, "open").size(), 1u) << r.describe();
  const auto closes = named(events, "close");
  ASSERT_EQ(closes.size(), 1u) << r.describe();
  EXPECT_EQ(closes[0].integer("code"), code);
  EXPECT_EQ(closes[0].fields.boolean("reconnect"), std::optional<bool>(false));
  EXPECT_TRUE(named(events, "reconnect_scheduled").empty()) << r.describe();
  expect_states_end_in(events, expected_exit == 3 ? "closed" : "failed", r);
  EXPECT_EQ(r.out, "");
}

INSTANTIATE_TEST_SUITE_P(CloseCodes, CliStay,
                         ::testing::Values(StayCase{1000, 3, false}, StayCase{1008, 3, false},
                                           StayCase{4500, 3, false}, StayCase{1012, 2, true},
                                           StayCase{1001, 2, true}, StayCase{1005, 2, true},
                                           StayCase{4000, 2, true}),
                         [](const auto& p) { return "code" + std::to_string(p.param.code); });

TEST(CliStayNoServerClose, StdinEofWithoutStayEndsButWithStayDoesNot) {
  auto server = start_tether_server();
  CliProcess cli(kCli, {"--events", "--stay", ws_url(server, "/echo")});
  cli.write_line("still here");
  cli.close_stdin();
  ASSERT_TRUE(cli.wait_for_out("still here\n", 5s)) << cli.err();
  std::this_thread::sleep_for(300ms);
  EXPECT_TRUE(cli.running()) << "--stay: EOF must not end the client";
  cli.signal(SIGINT);
  const auto r = cli.wait(5s);
  expect_exit(r, 0);
}

// --- output formats
// --------------------------------------------------------------------------------

// Binary: empty, 4 bytes (00 01 ab ff), 1 byte (0a); then the text "a\nb".
const std::string kFramesPath = "/frames?hex=820082040001abff82010a8103610a62&then=echo";

TEST(CliHex, BinaryMessagesAsLowercaseHexAndEmptyAsEmptyLine) {
  auto server = start_tether_server();
  const auto r = run_open({"--events", "--hex", "--count", "4", ws_url(server, kFramesPath)});
  ASSERT_FALSE(r.timed_out) << r.describe();
  expect_exit(r, 0);
  EXPECT_EQ(r.out, "\n00 01 ab ff\n0a\na\nb\n") << r.describe();
  const auto messages = named(events_of(r), "message");
  ASSERT_EQ(messages.size(), 4u) << r.describe();
  const std::vector<std::pair<std::string, int>> expected = {
      {"binary", 0}, {"binary", 4}, {"binary", 1}, {"text", 3}};
  for (std::size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(messages[i].str("kind"), expected[i].first) << i;
    EXPECT_EQ(messages[i].integer("bytes"), expected[i].second) << i;
  }
}

TEST(CliHex, WithoutHexBinaryIsSummarised) {
  auto server = start_tether_server();
  const auto r = run_open({"--count", "4", ws_url(server, kFramesPath)});
  ASSERT_FALSE(r.timed_out) << r.describe();
  expect_exit(r, 0);
  EXPECT_EQ(r.out, "<binary 0 bytes>\n<binary 4 bytes>\n<binary 1 bytes>\na\nb\n") << r.describe();
}

TEST(CliHex, PushedBinaryMessages) {
  auto server = start_tether_server();
  const auto r =
      run_open({"--hex", "--count", "3", ws_url(server, "/send?count=3&kind=binary&size=4")});
  ASSERT_FALSE(r.timed_out) << r.describe();
  expect_exit(r, 0);
  EXPECT_EQ(r.out, "30 20 63 64\n31 20 63 64\n32 20 63 64\n") << r.describe();
}

// --- handshake options
// -----------------------------------------------------------------------------

TEST(CliHandshake, HeadersReachTheServer) {
  LoggedServer s;
  const auto r = run({"--events", "-H", "X-Tether-Test: hello world", "--header", "X-Other:v2",
                      ws_url(s.server, "/echo")},
                     "ping\n");
  ASSERT_FALSE(r.timed_out) << r.describe();
  expect_exit(r, 0);
  EXPECT_EQ(r.out, "ping\n");
  ASSERT_TRUE(s.wait_for("\"event\":\"open\"")) << s.log();
  const std::string log = s.log();
  EXPECT_NE(log.find("\"x-tether-test\":\"hello world\""), std::string::npos) << log;
  EXPECT_NE(log.find("\"x-other\":\"v2\""), std::string::npos) << log;
}

TEST(CliHandshake, SubprotocolSelectedByTheServerShowsInTheOpenEvent) {
  PythonEchoOptions options;
  options.subprotocols = {"chat.v2"};
  auto server = start_python_echo(options);
  const auto r =
      run({"--events", "-s", "chat.v1", "--subprotocol", "chat.v2", ws_url(server)}, "x\n");
  ASSERT_FALSE(r.timed_out) << r.describe();
  expect_exit(r, 0);
  const auto opens = named(events_of(r), "open");
  ASSERT_EQ(opens.size(), 1u) << r.describe();
  EXPECT_EQ(opens[0].str("subprotocol"), "chat.v2") << opens[0].fields.source();
  EXPECT_TRUE(server.wait_for_log("OPEN / chat.v2", 3s)) << server.log();
}

TEST(CliHandshake, ASubprotocolNotOfferedFailsTheHandshake) {
  auto server = start_tether_server();
  const auto r = run_open(
      {"--events", "--no-reconnect", "-s", "good", ws_url(server, "/echo?protocol_force=evil")});
  expect_gave_up_with(r, "handshake_failed");
}

// --- TLS
// -------------------------------------------------------------------------------------------

PythonEchoOptions tls_echo_options() {
  const auto& certs = test_certs();
  PythonEchoOptions options;
  options.tls_cert = certs.server_cert;
  options.tls_key = certs.server_key;
  return options;
}

TEST(CliTls, TheGeneratedCaIsTrustedWithCa) {
  auto server = start_python_echo(tls_echo_options());
  const auto r = echo_session({"--events", "--ca", test_certs().ca, wss_url(server)}, {"secure"});
  ASSERT_FALSE(r.timed_out) << r.describe();
  expect_exit(r, 0);
  EXPECT_EQ(r.out, "secure\n") << r.describe();
  const auto events = events_of(r);
  EXPECT_TRUE(named(events, "warning").empty()) << r.describe();
  EXPECT_TRUE(named(events, "error").empty()) << r.describe();
}

TEST(CliTls, WithoutCaTheCertificateIsRejected) {
  auto server = start_python_echo(tls_echo_options());
  const auto r = run_open({"--events", wss_url(server)});
  expect_gave_up_with(r, "tls_verify_failed");
}

TEST(CliTls, InsecureWarnsThenWorks) {
  auto server = start_python_echo(tls_echo_options());
  const auto r = echo_session({"--events", "--insecure", wss_url(server)}, {"anyway"});
  ASSERT_FALSE(r.timed_out) << r.describe();
  expect_exit(r, 0);
  EXPECT_EQ(r.out, "anyway\n") << r.describe();
  const auto events = events_of(r);
  const auto warnings = named(events, "warning");
  ASSERT_EQ(warnings.size(), 1u) << r.describe();
  EXPECT_FALSE(warnings[0].str("message").empty());
  const auto all = names(events);
  const auto warning_at = std::find(all.begin(), all.end(), "warning");
  const auto open_at = std::find(all.begin(), all.end(), "open");
  EXPECT_LT(warning_at, open_at) << r.describe();
  EXPECT_TRUE(named(events, "error").empty()) << r.describe();
}

TEST(CliTls, InsecureWithoutEventsWarnsInWords) {
  auto server = start_python_echo(tls_echo_options());
  const auto r = echo_session({"--insecure", wss_url(server)}, {"anyway"});
  ASSERT_FALSE(r.timed_out) << r.describe();
  expect_exit(r, 0);
  EXPECT_EQ(r.out, "anyway\n") << r.describe();
  EXPECT_NE(r.err.find("insecure"), std::string::npos) << r.describe();
}

// --- proxy
// -----------------------------------------------------------------------------------------

// tinyproxy's log line for a CONNECT request to the test servers.
const char* const kProxyConnect = "): CONNECT 127.0.0.1:";

TEST(CliProxy, WsAndWssThroughTinyproxy) {
  auto proxy = start_tinyproxy();
  auto echo = start_tether_server();
  auto tls_echo = start_python_echo(tls_echo_options());
  const auto plain =
      run({"--events", "--proxy", proxy_url(proxy), ws_url(echo, "/echo")}, "via proxy\n");
  expect_exit(plain, 0);
  EXPECT_EQ(plain.out, "via proxy\n") << plain.describe();
  EXPECT_TRUE(proxy.wait_for_log(kProxyConnect, 3s)) << proxy.log();

  const auto secure = echo_session(
      {"--events", "--proxy", proxy_url(proxy), "--ca", test_certs().ca, wss_url(tls_echo)},
      {"via proxy, encrypted"});
  expect_exit(secure, 0);
  EXPECT_EQ(secure.out, "via proxy, encrypted\n") << secure.describe();
  events_of(plain);
  events_of(secure);
}

TEST(CliProxy, AuthProxyWithoutCredentialsFailsWithCredentialsWorks) {
  TinyproxyOptions options;
  options.basic_auth_user = "alice";
  options.basic_auth_pass = "s3cret";
  auto proxy = start_tinyproxy(options);
  auto echo = start_tether_server();
  const auto refused =
      run_open({"--events", "--no-reconnect", "--proxy", proxy_url(proxy), ws_url(echo, "/echo")});
  expect_gave_up_with(refused, "proxy_failed");

  const auto ok =
      run({"--events", "--proxy", proxy_url(proxy, "alice:s3cret@"), ws_url(echo, "/echo")},
          "authorised\n");
  expect_exit(ok, 0);
  EXPECT_EQ(ok.out, "authorised\n") << ok.describe();
}

TEST(CliProxy, TheEnvironmentChoosesTheProxyAndProxyOverridesIt) {
  auto proxy = start_tinyproxy();
  auto echo = start_tether_server();
  const std::string dead_proxy = "http://127.0.0.1:" + std::to_string(free_port());

  CliRunOptions via_env;
  via_env.env = {{"http_proxy", proxy_url(proxy)}};
  const auto r1 = run({"--events", ws_url(echo, "/echo")}, "env\n", true, 10s, via_env);
  expect_exit(r1, 0);
  EXPECT_EQ(r1.out, "env\n") << r1.describe();
  EXPECT_TRUE(proxy.wait_for_log(kProxyConnect, 3s)) << proxy.log();
  const std::size_t connects = proxy.count_in_log(kProxyConnect);

  CliRunOptions bypassed;
  bypassed.env = {{"http_proxy", dead_proxy}, {"no_proxy", "localhost,127.0.0.1"}};
  const auto r2 = run({"--events", ws_url(echo, "/echo")}, "direct\n", true, 10s, bypassed);
  expect_exit(r2, 0);
  EXPECT_EQ(r2.out, "direct\n") << r2.describe();
  EXPECT_EQ(proxy.count_in_log(kProxyConnect), connects) << "no_proxy was not honoured";

  CliRunOptions overridden;
  overridden.env = {{"http_proxy", dead_proxy}};
  const auto r3 = run({"--events", "--proxy", proxy_url(proxy), ws_url(echo, "/echo")},
                      "override\n", true, 10s, overridden);
  expect_exit(r3, 0);
  EXPECT_EQ(r3.out, "override\n") << r3.describe();
  EXPECT_GT(proxy.count_in_log(kProxyConnect), connects) << "--proxy was not used\n" << proxy.log();

  const auto r4 =
      run_open({"--events", "--no-reconnect", ws_url(echo, "/echo")}, {}, 10s, overridden);
  expect_gave_up_with(r4, "proxy_failed");
}

// --- failures
// --------------------------------------------------------------------------------------

TEST(CliFailure, ConnectTimeoutEndsQuickly) {
  auto server = start_tether_server();
  const auto r = run_open(
      {"--events", "--no-reconnect", "--connect-timeout", "300", ws_url(server, "/noanswer")});
  expect_gave_up_with(r, "connect_timeout");
  EXPECT_GE(r.elapsed, 250ms) << r.describe();
  EXPECT_LT(r.elapsed, 2500ms) << r.describe();
}

TEST(CliFailure, MessageOverMaxMessageFailsWith1009) {
  LoggedServer s;
  const std::string fits(100, 'a');
  const std::string too_big(101, 'b');
  const auto r =
      run_open({"--events", "--no-reconnect", "--max-message", "100", ws_url(s.server, "/echo")},
               fits + "\n" + too_big + "\n");
  ASSERT_FALSE(r.timed_out) << r.describe();
  EXPECT_EQ(r.out, fits + "\n") << r.describe();
  const auto events = events_of(r);
  EXPECT_EQ(error_code(events), "message_too_big") << r.describe();
  const auto closes = named(events, "close");
  ASSERT_EQ(closes.size(), 1u) << r.describe();
  EXPECT_EQ(closes[0].integer("code"), 1009) << r.describe();
  EXPECT_EQ(closes[0].fields.boolean("reconnect"), std::optional<bool>(false));
  EXPECT_TRUE(s.wait_for("\"event\":\"close\",\"code\":1009")) << s.log();
  // --no-reconnect: "the first loss or failure ends the client: exit 3 if the server closed
  // with a no-reconnect code, else exit 2"; exit 0 is only for the client's own choice.
  EXPECT_EQ(r.exit_code, 2) << r.describe();
  expect_states_end_in(events, "failed", r);
}

TEST(CliFailure, RefusedPort) {
  const auto r = run_open(
      {"--events", "--no-reconnect", "ws://127.0.0.1:" + std::to_string(free_port()) + "/"});
  expect_gave_up_with(r, "connect_refused");
}

TEST(CliFailure, Status404IsHandshakeRejected) {
  auto server = start_tether_server();
  const auto r = run_open({"--events", ws_url(server, "/status?code=404")});
  expect_gave_up_with(r, "handshake_rejected");
  const auto errors = named(events_of(r), "error");
  ASSERT_FALSE(errors.empty());
  EXPECT_NE(errors[0].str("message").find("404"), std::string::npos) << r.describe();
}

TEST(CliFailure, Status403GivesUp) {
  auto server = start_tether_server();
  const auto r = run_open({"--events", ws_url(server, "/status?code=403")});
  ASSERT_FALSE(r.timed_out) << r.describe();
  EXPECT_EQ(r.exit_code, 2) << r.describe();
  const std::string code = error_code(events_of(r));
  // The error table of the contract: HTTP 401/403 are auth_rejected.
  EXPECT_EQ(code, "auth_rejected") << r.describe();
}

// --- usage
// ------------------------------------------------------------------------------------------

TEST(CliUsage, ErrorsExitOneWithAPlainMessageAndNoConnection) {
  LoggedServer s;
  const std::string url = ws_url(s.server, "/echo");
  const std::string http = "http://127.0.0.1:" + std::to_string(s.server.port()) + "/echo";
  const std::vector<std::vector<std::string>> cases = {
      {"--bogus", url},
      {"-x", url},
      {url, "--connect-timeout"},
      {url, "-H"},
      {"--connect-timeout", "-5", url},
      {"--connect-timeout", "soon", url},
      {"--max-message", "-1", url},
      {"--count", "many", url},
      {"-H", "NoColonHere", url},
      {"--jitter", "2.5", url},
      {"--pong-timeout", "0", url},
      {"--backoff-multiplier", "0.5", url},
      {"--backoff-initial", "-1", url},
      {"--max-retries", "-2", url},
      {http},
      {"ws://127.0.0.1:99999/echo"},
      {"ws://"},
      {},
      {"--hex"},
      {url, url},
      {"--queue-overflow", "nope", url},
      {"--queue-overflow", "drop_oldest", url},
      {"--queue-max", "0", url},
      {"--queue-max", "-1", url},
      {"--auth-timeout", "-1", url},
      {"--auth-token", "", url},
      {url, "--auth-token"},
      {url, "--subscribe"},
      {"--request-timeout", "-1", url},
      {"--request-timeout", "soon", url},
      {"--request", url, "--request-timeout"},
  };
  for (bool with_events : {false, true}) {
    for (auto args : cases) {
      if (with_events) args.insert(args.begin(), "--events");
      std::string shown;
      for (const auto& a : args) shown += " '" + a + "'";
      const auto r = run(args, "should never be sent\n", true, 5s);
      EXPECT_FALSE(r.timed_out) << shown << "\n" << r.describe();
      EXPECT_EQ(r.exit_code, 1) << shown << "\n" << r.describe();
      EXPECT_EQ(r.out, "") << shown;
      EXPECT_FALSE(r.err.empty()) << shown;
      for (const auto& line : r.err_lines()) {
        EXPECT_FALSE(JsonObject::parse(line))
            << shown << ": a usage error is a plain message, not an event: " << line;
      }
    }
  }
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(s.log(), "") << "a usage error attempted a connection";
}

TEST(CliUsage, InsecureWithABadUrlIsStillOnlyAPlainMessage) {
  LoggedServer s;
  const std::string http = "http://127.0.0.1:" + std::to_string(s.server.port()) + "/echo";
  const auto r = run({"--events", "--insecure", http}, "", true, 5s);
  ASSERT_FALSE(r.timed_out) << r.describe();
  EXPECT_EQ(r.exit_code, 1) << r.describe();
  EXPECT_EQ(r.out, "");
  bool json_line = false;
  for (const auto& line : r.err_lines()) json_line = json_line || JsonObject::parse(line);
  EXPECT_FALSE(json_line) << "a usage error is a plain message only\n" << r.describe();
  EXPECT_FALSE(r.err.empty());
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(s.log(), "");
}

TEST(CliUsage, HelpAndVersion) {
  const auto help = run({"--help"});
  EXPECT_EQ(help.exit_code, 0) << help.describe();
  EXPECT_NE(help.out.find("usage: tether-cli"), std::string::npos) << help.describe();
  for (const char* option : {"--header",          "--subprotocol",   "--ca",
                             "--insecure",        "--proxy",         "--connect-timeout",
                             "--backoff-initial", "--backoff-max",   "--backoff-multiplier",
                             "--jitter",          "--min-uptime",    "--max-retries",
                             "--no-reconnect",    "--ping-interval", "--pong-timeout",
                             "--max-message",     "--events",        "--stay",
                             "--count",           "--hex",           "--version",
                             "--auth-token",      "--auth-timeout",  "--queue-max",
                             "--queue-overflow",  "--subscribe",     "drop-oldest",
                             "drop-newest",       "--request",       "--request-timeout",
                             "--retry-requests"}) {
    EXPECT_NE(help.out.find(option), std::string::npos) << option << " missing from --help";
  }
  EXPECT_EQ(help.err, "");

  const auto version = run({"--version"});
  EXPECT_EQ(version.exit_code, 0) << version.describe();
  EXPECT_EQ(version.out, std::string("tether-cli ") + TETHER_VERSION_STRING + "\n");
  EXPECT_EQ(version.err, "");

  // --help wins over whatever else is on the line, and connects nowhere.
  const auto help_with_url = run({"--help", "ws://127.0.0.1:1/"});
  EXPECT_EQ(help_with_url.exit_code, 0) << help_with_url.describe();
}

// --- signals
// ----------------------------------------------------------------------------------------

class CliSignal : public ::testing::TestWithParam<int> {};

TEST_P(CliSignal, WhileConnectedClosesWith1000AndExitsZero) {
  LoggedServer s;
  CliProcess cli(kCli, {"--events", ws_url(s.server, "/echo")});
  cli.write_line("before the signal");
  ASSERT_TRUE(cli.wait_for_out("before the signal\n", 5s)) << cli.err();
  cli.signal(GetParam());
  const auto r = cli.wait(5s);
  ASSERT_FALSE(r.timed_out) << r.describe();
  expect_exit(r, 0);
  EXPECT_EQ(r.out, "before the signal\n");
  const auto all = events_of(r);
  expect_states_end_in(all, "closed", r);
  const auto events = without_state(all);
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back().name, "close") << r.describe();
  EXPECT_EQ(events.back().integer("code"), 1000) << r.describe();
  EXPECT_TRUE(s.wait_for("\"event\":\"close\",\"code\":1000")) << s.log();
}

INSTANTIATE_TEST_SUITE_P(IntTerm, CliSignal, ::testing::Values(SIGINT, SIGTERM), [](const auto& p) {
  return std::string(p.param == SIGINT ? "SIGINT" : "SIGTERM");
});

TEST(CliSignalTwice, ASecondSignalExitsAtOnceWithZero) {
  // /silent never answers the close frame, so the first signal leaves the client waiting for
  // the close handshake (up to the library's close timeout).
  auto server = start_tether_server();
  CliProcess cli(kCli, {"--events", ws_url(server, "/silent")});
  ASSERT_TRUE(cli.wait_for_event("open", 5s)) << cli.err();
  cli.signal(SIGINT);
  std::this_thread::sleep_for(300ms);
  // The close handshake waits for a close frame that never comes (up to 5 s).
  ASSERT_TRUE(cli.running()) << "the first signal did not wait for the close handshake\n"
                             << cli.wait(1s).describe();
  const auto second = std::chrono::steady_clock::now();
  cli.signal(SIGINT);
  const auto r = cli.wait(5s);
  const auto took = std::chrono::steady_clock::now() - second;
  ASSERT_FALSE(r.timed_out) << r.describe();
  expect_exit(r, 0);
  EXPECT_LT(took, 1s) << r.describe();
}

// --- stdout / stderr separation
// -------------------------------------------------------------------

TEST(CliStreams, WithEventsStderrHoldsOnlyEventLines) {
  auto server = start_python_echo(tls_echo_options());
  // Success with a warning, then a failure: every stderr line is an event in both.
  const auto ok = echo_session({"--events", "--insecure", wss_url(server)}, {"a", "b"});
  expect_exit(ok, 0);
  EXPECT_EQ(ok.out, "a\nb\n") << ok.describe();
  EXPECT_FALSE(events_of(ok).empty());

  const auto failed = run_open({"--events", wss_url(server)});
  EXPECT_EQ(failed.exit_code, 2) << failed.describe();
  EXPECT_EQ(failed.out, "");
  EXPECT_FALSE(events_of(failed).empty());

  // Without --events the same failure is told in words, still only on stderr.
  const auto human = run_open({wss_url(server)});
  EXPECT_EQ(human.exit_code, 2) << human.describe();
  EXPECT_EQ(human.out, "");
  EXPECT_NE(human.err.find("tls_verify_failed"), std::string::npos) << human.describe();
  for (const auto& line : human.err_lines()) EXPECT_FALSE(JsonObject::parse(line)) << line;
}

// --- auth, subscriptions, the outbound queue
// ------------------------------------------------------

/// The flat lines of the server's --log (the `open` lines, which nest the headers, are left out).
std::vector<JsonObject> server_events(const std::string& log) {
  std::vector<JsonObject> out;
  for (const auto& line : split_lines(log))
    if (auto o = JsonObject::parse(line)) out.push_back(std::move(*o));
  return out;
}

/// The server's log lines of one kind (`message`, `auth`, `subscribe`, ...) on connection `conn`.
std::vector<JsonObject> server_events(const std::string& log, const std::string& event,
                                      std::int64_t conn = 1) {
  std::vector<JsonObject> out;
  for (auto& o : server_events(log))
    if (o.str("event") == event && o.integer("conn") == conn) out.push_back(std::move(o));
  return out;
}

/// What the server received on connection `conn`, as text, in order.
std::vector<std::string> server_texts(const std::string& log, std::int64_t conn = 1) {
  std::vector<std::string> out;
  for (const auto& o : server_events(log, "message", conn)) out.push_back(o.str("text"));
  return out;
}

bool starts_with(const std::string& text, std::string_view prefix) {
  return text.compare(0, prefix.size(), prefix) == 0;
}

/// The envelope requests the CLI's client sends itself (auth, subscribe).
bool is_request(const std::string& text, const std::string& type) {
  return starts_with(text, "{\"type\":\"" + type + "\"");
}

/// Complete event lines named `name` in a (possibly partial) stderr.
std::size_t count_events(const std::string& err, const std::string& name) {
  return named(parse_event_log(err).events, name).size();
}

/// An event's place in the log: "state FROM>TO" for `state`, otherwise its name.
std::string label(const CliEvent& e) {
  return e.name == "state" ? "state " + e.str("from") + ">" + e.str("to") : e.name;
}

/// The index of the first event with `wanted` as its label, or events.size().
std::size_t index_of(const std::vector<CliEvent>& events, const std::string& wanted) {
  for (std::size_t i = 0; i < events.size(); ++i)
    if (label(events[i]) == wanted) return i;
  return events.size();
}

std::vector<std::int64_t> integers(const std::vector<CliEvent>& events, const std::string& key) {
  std::vector<std::int64_t> out;
  for (const auto& e : events) out.push_back(e.integer(key));
  return out;
}

TEST(CliAuth, TheTokenGoesFirstAndLinesTypedBeforeOpenWaitInTheQueue) {
  LoggedServer s;
  // Paused, the server takes the TCP connection but does not answer the upgrade: the lines are
  // typed while the client is still connecting.
  s.server.pause();
  CliProcess cli(kCli,
                 {"--events", "--auth-token", "good", ws_url(s.server, "/app?token=good&echo=1")});
  cli.write_line("one");
  cli.write_line("two");
  cli.write_line("three");
  const bool queued = cli.wait_until(
      [](const std::string&, const std::string& err) { return count_events(err, "queued") >= 3; },
      5s);
  s.server.resume();
  const bool echoed = cli.wait_for_out("one\ntwo\nthree\n", 5s);
  cli.close_stdin();
  const auto r = cli.wait(5s);
  ASSERT_FALSE(r.timed_out) << r.describe();
  EXPECT_TRUE(queued) << r.describe();
  EXPECT_TRUE(echoed) << r.describe();
  expect_exit(r, 0);
  // The auth response is consumed, not printed.
  EXPECT_EQ(r.out, "one\ntwo\nthree\n") << r.describe();

  const auto events = events_of(r);
  expect_states_end_in(events, "closed", r);
  EXPECT_TRUE(named(events, "error").empty()) << r.describe();
  EXPECT_EQ(integers(named(events, "queued"), "depth"), (std::vector<std::int64_t>{1, 2, 3}))
      << r.describe();
  const std::size_t open = index_of(events, "open");
  const std::size_t authenticating = index_of(events, "state connecting>authenticating");
  const std::size_t authenticated = index_of(events, "authenticated");
  const std::size_t ready = index_of(events, "state authenticating>open");
  ASSERT_LT(ready, events.size()) << r.describe();
  EXPECT_LT(open, authenticating) << r.describe();
  EXPECT_LT(authenticating, authenticated) << r.describe();
  EXPECT_LT(authenticated, ready) << r.describe();
  EXPECT_EQ(named(events, "authenticated").size(), 1u) << r.describe();
  EXPECT_EQ(index_of(events, "state connecting>open"), events.size())
      << "with auth the client is not ready at open\n"
      << r.describe();
  for (std::size_t i = 0; i < events.size(); ++i) {
    if (events[i].name == "queued") {
      EXPECT_LT(i, open) << r.describe();
    }
    if (events[i].name == "sent") {
      EXPECT_GT(i, ready) << "sent before authenticated\n" << r.describe();
    }
  }
  EXPECT_EQ(named(events, "sent").size(), 3u) << r.describe();
  EXPECT_TRUE(named(events, "dropped").empty()) << r.describe();

  ASSERT_TRUE(s.wait_for("\"text\":\"three\"")) << s.log();
  const std::string log = s.log();
  const auto texts = server_texts(log);
  ASSERT_EQ(texts.size(), 4u) << log;
  EXPECT_TRUE(is_request(texts[0], "auth")) << "the first message is not the auth request\n" << log;
  EXPECT_NE(texts[0].find("\"token\":\"good\""), std::string::npos) << log;
  EXPECT_EQ(std::vector<std::string>(texts.begin() + 1, texts.end()),
            (std::vector<std::string>{"one", "two", "three"}))
      << log;
  const auto auths = server_events(log, "auth");
  ASSERT_EQ(auths.size(), 1u) << log;
  EXPECT_EQ(auths[0].boolean("ok"), std::optional<bool>(true)) << log;
  for (const auto& e : server_events(log, "app_error"))
    EXPECT_NE(e.str("error"), "before_auth") << log;
}

TEST(CliAuth, WithoutEventsTheLinesStillFollowTheAuth) {
  LoggedServer s;
  const auto r =
      run({"--auth-token", "good", ws_url(s.server, "/app?token=good&echo=1")}, "plain\n");
  ASSERT_FALSE(r.timed_out) << r.describe();
  expect_exit(r, 0);
  EXPECT_EQ(r.out, "plain\n") << r.describe();
  for (const auto& line : r.err_lines()) EXPECT_FALSE(JsonObject::parse(line)) << line;
  ASSERT_TRUE(s.wait_for("\"text\":\"plain\"")) << s.log();
  const auto texts = server_texts(s.log());
  ASSERT_EQ(texts.size(), 2u) << s.log();
  EXPECT_TRUE(is_request(texts[0], "auth")) << s.log();
}

class CliAuthRejected : public ::testing::TestWithParam<std::string> {};

TEST_P(CliAuthRejected, AWrongTokenGivesUpAfterOneConnection) {
  LoggedServer s;
  const std::string reject = GetParam();
  const std::string path = "/app?token=good" + (reject.empty() ? "" : "&reject=" + reject);
  s.server.pause();  // the line waits in the queue before the connection opens
  CliProcess cli(
      kCli, {"--events", "--auth-token", "bad", "--backoff-initial", "50", ws_url(s.server, path)});
  cli.write_line("never sent");
  const bool queued = cli.wait_for_event("queued", 5s);
  s.server.resume();
  const auto r = cli.wait(10s);
  ASSERT_FALSE(r.timed_out) << r.describe();
  EXPECT_TRUE(queued) << r.describe();
  EXPECT_EQ(r.exit_code, 2) << r.describe();
  EXPECT_EQ(r.out, "") << r.describe();
  const auto events = events_of(r);
  expect_states_end_in(events, "failed", r);
  const auto errors = named(events, "error");
  ASSERT_FALSE(errors.empty()) << r.describe();
  EXPECT_EQ(errors.front().str("code"), "auth_rejected") << r.describe();
  EXPECT_TRUE(named(events, "authenticated").empty()) << r.describe();
  EXPECT_TRUE(named(events, "reconnect_scheduled").empty()) << r.describe();
  EXPECT_TRUE(named(events, "sent").empty()) << r.describe();
  // The line that waited for auth is never sent.
  const auto dropped = named(events, "dropped");
  ASSERT_EQ(dropped.size(), 1u) << r.describe();
  EXPECT_EQ(dropped[0].str("reason"), "closed");
  EXPECT_EQ(dropped[0].integer("bytes"), 10);
  const auto closes = named(events, "close");
  ASSERT_EQ(closes.size(), 1u) << r.describe();
  EXPECT_EQ(closes[0].fields.boolean("reconnect"), std::optional<bool>(false)) << r.describe();
  if (reject.empty()) {
    EXPECT_EQ(closes[0].integer("code"), 1000) << r.describe();
    EXPECT_EQ(closes[0].str("reason"), "auth rejected") << r.describe();
  } else {
    EXPECT_EQ(closes[0].integer("code"), std::stoi(reject)) << r.describe();
  }

  std::this_thread::sleep_for(200ms);
  const std::string log = s.log();
  EXPECT_EQ(server_events(log, "auth").size(), 1u) << log;
  EXPECT_TRUE(server_events(log, "auth", 2).empty()) << "a second connection\n" << log;
  std::size_t opens = 0;
  for (std::size_t at = log.find("\"event\":\"open\""); at != std::string::npos;
       at = log.find("\"event\":\"open\"", at + 1))
    ++opens;
  EXPECT_EQ(opens, 1u) << log;
  for (const auto& text : server_texts(log)) EXPECT_NE(text, "never sent") << log;
}

INSTANTIATE_TEST_SUITE_P(Modes, CliAuthRejected, ::testing::Values("", "4001"), [](const auto& p) {
  return p.param.empty() ? std::string("ErrorResponse") : "Close" + p.param;
});

TEST(CliAuth, NoAnswerTimesOutOnEveryConnectionThenRetriesAreExhausted) {
  LoggedServer s;
  const auto r = run_open({"--events", "--auth-token", "good", "--auth-timeout", "300",
                           "--max-retries", "1", "--backoff-initial", "50", "--backoff-max", "50",
                           ws_url(s.server, "/app?token=good&auth_noanswer=1")});
  ASSERT_FALSE(r.timed_out) << r.describe();
  EXPECT_EQ(r.exit_code, 2) << r.describe();
  EXPECT_GE(r.elapsed, 550ms) << r.describe();
  const auto events = events_of(r);
  expect_states_end_in(events, "failed", r);
  std::vector<std::string> codes;
  for (const auto& e : named(events, "error")) codes.push_back(e.str("code"));
  EXPECT_EQ(codes, (std::vector<std::string>{"auth_timeout", "auth_timeout", "retries_exhausted"}))
      << r.describe();
  EXPECT_TRUE(named(events, "authenticated").empty()) << r.describe();
  EXPECT_EQ(named(events, "open").size(), 2u) << r.describe();
  EXPECT_EQ(named(events, "reconnect_scheduled").size(), 1u) << r.describe();
  for (const auto& close : named(events, "close")) {
    EXPECT_EQ(close.integer("code"), 1000) << r.describe();
    EXPECT_EQ(close.str("reason"), "auth timeout") << r.describe();
  }
  const std::string log = s.log();
  EXPECT_EQ(server_events(log, "auth", 1).size(), 1u) << log;
  EXPECT_EQ(server_events(log, "auth", 2).size(), 1u) << log;
}

TEST(CliSubscribe, ChannelsAreSubscribedAfterOpenBeforeTheQueuedLines) {
  LoggedServer s;
  s.server.pause();
  CliProcess cli(kCli, {"--events", "--subscribe", "alpha", "--subscribe", "beta",
                        ws_url(s.server, "/app?echo=1")});
  cli.write_line("x");
  cli.write_line("y");
  const bool queued = cli.wait_until(
      [](const std::string&, const std::string& err) { return count_events(err, "queued") >= 2; },
      5s);
  s.server.resume();
  const bool done = cli.wait_until(
      [](const std::string& out, const std::string& err) {
        return out == "x\ny\n" && count_events(err, "subscribed") >= 2;
      },
      5s);
  cli.close_stdin();
  const auto r = cli.wait(5s);
  ASSERT_FALSE(r.timed_out) << r.describe();
  EXPECT_TRUE(queued) << r.describe();
  EXPECT_TRUE(done) << r.describe();
  expect_exit(r, 0);
  // The subscribe responses are consumed, not printed.
  EXPECT_EQ(r.out, "x\ny\n") << r.describe();
  const auto events = events_of(r);
  EXPECT_TRUE(named(events, "error").empty()) << r.describe();
  std::vector<std::string> channels;
  for (const auto& e : named(events, "subscribed")) channels.push_back(e.str("channel"));
  std::sort(channels.begin(), channels.end());
  EXPECT_EQ(channels, (std::vector<std::string>{"alpha", "beta"})) << r.describe();
  EXPECT_LT(index_of(events, "open"), index_of(events, "subscribed")) << r.describe();

  ASSERT_TRUE(s.wait_for("\"text\":\"y\"")) << s.log();
  const std::string log = s.log();
  const auto texts = server_texts(log);
  ASSERT_EQ(texts.size(), 4u) << log;
  EXPECT_TRUE(is_request(texts[0], "subscribe")) << log;
  EXPECT_TRUE(is_request(texts[1], "subscribe")) << log;
  EXPECT_EQ(texts[2], "x") << log;
  EXPECT_EQ(texts[3], "y") << log;
  const auto subscribes = server_events(log, "subscribe");
  ASSERT_EQ(subscribes.size(), 2u) << log;
  EXPECT_EQ(subscribes[0].str("channel"), "alpha") << log;
  EXPECT_EQ(subscribes[1].str("channel"), "beta") << log;
  for (const auto& sub : subscribes) EXPECT_EQ(sub.boolean("ok"), std::optional<bool>(true));
}

TEST(CliSubscribe, WithAuthTheOrderIsAuthThenSubscribesThenLines) {
  LoggedServer s;
  s.server.pause();
  CliProcess cli(kCli, {"--events", "--auth-token", "good", "--subscribe", "news",
                        ws_url(s.server, "/app?token=good&echo=1")});
  cli.write_line("hello");
  const bool queued = cli.wait_for_event("queued", 5s);
  s.server.resume();
  const bool done = cli.wait_until(
      [](const std::string& out, const std::string& err) {
        return out == "hello\n" && count_events(err, "subscribed") >= 1;
      },
      5s);
  cli.close_stdin();
  const auto r = cli.wait(5s);
  ASSERT_FALSE(r.timed_out) << r.describe();
  EXPECT_TRUE(queued) << r.describe();
  EXPECT_TRUE(done) << r.describe();
  expect_exit(r, 0);
  const auto events = events_of(r);
  EXPECT_LT(index_of(events, "authenticated"), index_of(events, "subscribed")) << r.describe();
  ASSERT_TRUE(s.wait_for("\"text\":\"hello\"")) << s.log();
  const std::string log = s.log();
  const auto texts = server_texts(log);
  ASSERT_EQ(texts.size(), 3u) << log;
  EXPECT_TRUE(is_request(texts[0], "auth")) << log;
  EXPECT_TRUE(is_request(texts[1], "subscribe")) << log;
  EXPECT_EQ(texts[2], "hello") << log;
  for (const auto& e : server_events(log, "app_error"))
    EXPECT_NE(e.str("error"), "before_auth") << log;
}

TEST(CliSubscribe, ADeniedChannelIsAnErrorAndTheClientGoesOn) {
  LoggedServer s;
  CliProcess cli(kCli, {"--events", "--subscribe", "news", "--subscribe", "secret",
                        ws_url(s.server, "/app?deny=secret&echo=1")});
  const bool rejected = cli.wait_until(
      [](const std::string&, const std::string& err) {
        return count_events(err, "error") >= 1 && count_events(err, "subscribed") >= 1;
      },
      5s);
  cli.write_line("still here");
  const bool echoed = cli.wait_for_out("still here\n", 5s);
  EXPECT_TRUE(cli.running()) << "a rejected subscribe ended the client";
  cli.close_stdin();
  const auto r = cli.wait(5s);
  ASSERT_FALSE(r.timed_out) << r.describe();
  EXPECT_TRUE(rejected) << r.describe();
  EXPECT_TRUE(echoed) << r.describe();
  expect_exit(r, 0);
  EXPECT_EQ(r.out, "still here\n") << r.describe();
  const auto events = events_of(r);
  expect_states_end_in(events, "closed", r);
  const auto errors = named(events, "error");
  ASSERT_EQ(errors.size(), 1u) << r.describe();
  EXPECT_EQ(errors[0].str("code"), "subscribe_rejected") << r.describe();
  EXPECT_NE(errors[0].str("message").find("secret"), std::string::npos) << r.describe();
  const auto subscribed = named(events, "subscribed");
  ASSERT_EQ(subscribed.size(), 1u) << r.describe();
  EXPECT_EQ(subscribed[0].str("channel"), "news") << r.describe();
  EXPECT_EQ(named(events, "open").size(), 1u) << "the rejection cost the connection\n"
                                              << r.describe();
  EXPECT_TRUE(named(events, "queued").empty()) << "a line sent while open was queued\n"
                                               << r.describe();
  const std::string log = s.log();
  const auto subscribes = server_events(log, "subscribe");
  ASSERT_EQ(subscribes.size(), 2u) << log;
  EXPECT_EQ(subscribes[1].str("channel"), "secret") << log;
  EXPECT_EQ(subscribes[1].boolean("ok"), std::optional<bool>(false)) << log;
}

// The queue bounded to 2 against a server that never lets the client become ready (the auth is
// never answered), 4 lines of 1, 2, 3 and 4 bytes, then the end.
struct OverflowCase {
  std::string policy;
  bool by_signal;  ///< SIGTERM (close now); else stdin EOF (close after delivery, which fails).
  std::vector<std::int64_t> overflow;  ///< Bytes of the lines dropped by the overflow, in order.
  std::vector<std::int64_t> closed;    ///< Bytes of the lines dropped at the end (sorted).
  std::vector<std::int64_t> depths;    ///< `queued` depths.
};

void PrintTo(const OverflowCase& c, std::ostream* os) {
  *os << c.policy << (c.by_signal ? " then SIGTERM" : " then EOF");
}

class CliQueueOverflow : public ::testing::TestWithParam<OverflowCase> {};

TEST_P(CliQueueOverflow, DroppedEventsNameTheRightLines) {
  const OverflowCase& c = GetParam();
  LoggedServer s;
  std::vector<std::string> args = {"--events", "--auth-token",
                                   "good",     "--queue-max",
                                   "2",        "--queue-overflow",
                                   c.policy,   "--max-retries",
                                   "0",        ws_url(s.server, "/app?token=good&auth_noanswer=1")};
  if (!c.by_signal) args.insert(args.begin() + 1, {"--auth-timeout", "1000"});
  CliProcess cli(kCli, args);
  for (const char* line : {"a", "bb", "ccc", "dddd"}) cli.write_line(line);
  if (c.by_signal) {
    const bool full = cli.wait_until(
        [&](const std::string&, const std::string& err) {
          return count_events(err, "dropped") >= 2 && count_events(err, "open") >= 1;
        },
        5s);
    EXPECT_TRUE(full) << cli.err();
    cli.signal(SIGTERM);
  } else {
    cli.close_stdin();
  }
  const auto r = cli.wait(8s);
  ASSERT_FALSE(r.timed_out) << r.describe();
  EXPECT_EQ(r.out, "") << r.describe();
  const auto events = events_of(r);
  if (c.by_signal) {
    expect_exit(r, 0);
    expect_states_end_in(events, "closed", r);
  } else {
    EXPECT_EQ(r.exit_code, 2) << r.describe();
    expect_states_end_in(events, "failed", r);
  }
  EXPECT_TRUE(named(events, "sent").empty()) << r.describe();
  EXPECT_EQ(integers(named(events, "queued"), "depth"), c.depths) << r.describe();

  // Every line ends in exactly one `dropped`: the overflow ones as they happen, the rest at exit.
  std::vector<std::int64_t> overflow, closed;
  std::size_t last_overflow = 0, first_closed = events.size();
  std::vector<std::size_t> overflow_at;
  for (std::size_t i = 0; i < events.size(); ++i) {
    if (events[i].name != "dropped") continue;
    const std::string reason = events[i].str("reason");
    if (reason == "overflow") {
      overflow.push_back(events[i].integer("bytes"));
      overflow_at.push_back(i);
      last_overflow = i;
    } else {
      EXPECT_EQ(reason, "closed") << events[i].fields.source();
      closed.push_back(events[i].integer("bytes"));
      first_closed = std::min(first_closed, i);
    }
  }
  std::sort(closed.begin(), closed.end());
  EXPECT_EQ(overflow, c.overflow) << r.describe();
  EXPECT_EQ(closed, c.closed) << r.describe();
  EXPECT_LT(last_overflow, first_closed) << r.describe();

  // `reject` refuses the line: an `error` queue_full right before its `dropped` overflow.
  std::vector<std::size_t> full_at;
  std::vector<std::string> other_errors;
  for (std::size_t i = 0; i < events.size(); ++i) {
    if (events[i].name != "error") continue;
    if (events[i].str("code") == "queue_full") {
      full_at.push_back(i);
      EXPECT_FALSE(events[i].str("message").empty());
    } else {
      other_errors.push_back(events[i].str("code"));
    }
  }
  if (c.policy == "reject") {
    ASSERT_EQ(full_at.size(), 2u) << r.describe();
    ASSERT_EQ(overflow_at.size(), 2u) << r.describe();
    for (std::size_t k = 0; k < 2; ++k) EXPECT_EQ(full_at[k] + 1, overflow_at[k]) << r.describe();
  } else {
    EXPECT_TRUE(full_at.empty()) << r.describe();
  }
  if (c.by_signal) {
    EXPECT_TRUE(other_errors.empty()) << r.describe();
  } else {
    EXPECT_EQ(other_errors, (std::vector<std::string>{"auth_timeout", "retries_exhausted"}))
        << r.describe();
  }

  // Nothing but the auth request reached the server.
  const auto texts = server_texts(s.log());
  ASSERT_EQ(texts.size(), 1u) << s.log();
  EXPECT_TRUE(is_request(texts[0], "auth")) << s.log();
}

INSTANTIATE_TEST_SUITE_P(
    Policies, CliQueueOverflow,
    ::testing::Values(OverflowCase{"reject", true, {3, 4}, {1, 2}, {1, 2}},
                      OverflowCase{"reject", false, {3, 4}, {1, 2}, {1, 2}},
                      OverflowCase{"drop-oldest", true, {1, 2}, {3, 4}, {1, 2, 2, 2}},
                      OverflowCase{"drop-oldest", false, {1, 2}, {3, 4}, {1, 2, 2, 2}},
                      OverflowCase{"drop-newest", true, {3, 4}, {1, 2}, {1, 2}},
                      OverflowCase{"drop-newest", false, {3, 4}, {1, 2}, {1, 2}}),
    [](const auto& p) {
      std::string name = p.param.policy + (p.param.by_signal ? "_SIGTERM" : "_EOF");
      std::replace(name.begin(), name.end(), '-', '_');
      return name;
    });

TEST(CliQueue, ARefusedLineWithoutEventsIsReportedInWords) {
  LoggedServer s;
  CliProcess cli(kCli, {"--auth-token", "good", "--queue-max", "1", "--max-retries", "0",
                        ws_url(s.server, "/app?token=good&auth_noanswer=1")});
  cli.write_line("kept");
  cli.write_line("refused");
  const bool reported = cli.wait_for_err("queue_full", 5s);
  cli.signal(SIGTERM);
  const auto r = cli.wait(5s);
  ASSERT_FALSE(r.timed_out) << r.describe();
  EXPECT_TRUE(reported) << r.describe();
  expect_exit(r, 0);
  for (const auto& line : r.err_lines()) EXPECT_FALSE(JsonObject::parse(line)) << line;
}

TEST(CliQueue, ASignalWhileEofStillWaitsToDeliverDropsWhatWaits) {
  // EOF asks for a close after delivery, which cannot happen (the auth is never answered); the
  // signal then closes at once and the waiting lines are dropped.
  LoggedServer s;
  CliProcess cli(kCli, {"--events", "--auth-token", "good", "--auth-timeout", "0",
                        ws_url(s.server, "/app?token=good&auth_noanswer=1")});
  cli.write_line("first");
  cli.write_line("second");
  cli.close_stdin();
  const bool waiting = cli.wait_until(
      [](const std::string&, const std::string& err) {
        return count_events(err, "queued") >= 2 && count_events(err, "open") >= 1;
      },
      5s);
  std::this_thread::sleep_for(200ms);
  EXPECT_TRUE(cli.running()) << "EOF ended the client before its lines were delivered";
  cli.signal(SIGTERM);
  const auto r = cli.wait(5s);
  ASSERT_FALSE(r.timed_out) << r.describe();
  EXPECT_TRUE(waiting) << r.describe();
  expect_exit(r, 0);
  const auto events = events_of(r);
  expect_states_end_in(events, "closed", r);
  EXPECT_TRUE(named(events, "error").empty()) << r.describe();
  EXPECT_TRUE(named(events, "sent").empty()) << r.describe();
  const auto dropped = named(events, "dropped");
  ASSERT_EQ(dropped.size(), 2u) << r.describe();
  for (const auto& d : dropped) EXPECT_EQ(d.str("reason"), "closed") << r.describe();
  EXPECT_EQ(integers(dropped, "bytes"), (std::vector<std::int64_t>{5, 6})) << r.describe();
  const auto closes = named(events, "close");
  ASSERT_EQ(closes.size(), 1u) << r.describe();
  EXPECT_EQ(closes[0].integer("code"), 1000) << r.describe();
  EXPECT_TRUE(s.wait_for("\"event\":\"close\",\"code\":1000")) << s.log();
}

// --- --request -----------------------------------------------------------------------------------

/// A stdout line as JSON (a response line nests objects: the flat parser does not take it).
tether::Json json_line(const std::string& line) {
  std::string error;
  std::optional<tether::Json> parsed = tether::Json::parse(line, &error);
  EXPECT_TRUE(parsed.has_value()) << "not JSON: " << error << ": " << line;
  return parsed ? std::move(*parsed) : tether::Json();
}

/// The printed failure the client decided: {"id":ID,"error":{"code":CODE,"message":TEXT}}.
void expect_local_failure(const std::string& line, const std::string& id, const std::string& code) {
  const tether::Json printed = json_line(line);
  EXPECT_EQ(printed.size(), 2u) << line;
  EXPECT_EQ(printed["id"], tether::Json(id)) << line;
  const tether::Json& error = printed["error"];
  EXPECT_EQ(error.size(), 2u) << line;
  EXPECT_EQ(error["code"], tether::Json(code)) << line;
  EXPECT_TRUE(error["message"].is_string()) << line;
  EXPECT_FALSE(error["message"].as_string().empty()) << line;
}

/// A `response` event: its id, ok, and rtt_ms a number >= 0 (`answered`) or null.
void expect_response_event(const CliEvent& e, const std::string& id, bool ok, bool answered) {
  EXPECT_EQ(e.str("id"), id) << e.fields.source();
  EXPECT_EQ(e.fields.boolean("ok"), std::optional<bool>(ok)) << e.fields.source();
  const JsonValue* rtt = e.fields.find("rtt_ms");
  ASSERT_NE(rtt, nullptr) << e.fields.source();
  if (answered) {
    ASSERT_TRUE(rtt->is_number()) << e.fields.source();
    EXPECT_GE(rtt->number, 0.0) << e.fields.source();
    EXPECT_LT(rtt->number, 5000.0) << e.fields.source();
  } else {
    EXPECT_TRUE(rtt->is_null()) << e.fields.source();
  }
}

/// The ids of the generic requests the server logged (every run of the server, in order).
std::vector<std::string> server_request_ids(const std::string& log, const std::string& type) {
  std::vector<std::string> out;
  for (const auto& o : server_events(log))
    if (o.str("event") == "request" && o.str("type") == type) out.push_back(o.str("id"));
  return out;
}

TEST(CliRequest, TheResponseIsPrintedWithAResponseEvent) {
  LoggedServer s;
  const auto r = run({"--events", "--request", ws_url(s.server, "/app")},
                     "{\"type\":\"echo\",\"payload\":{\"n\":1,\"s\":\"x y\"}}\n");
  ASSERT_FALSE(r.timed_out) << r.describe();
  expect_exit(r, 0);
  const auto lines = r.out_lines();
  ASSERT_EQ(lines.size(), 1u) << r.describe();
  const tether::Json printed = json_line(lines[0]);
  ASSERT_TRUE(printed["id"].is_string()) << lines[0];
  const std::string id = printed["id"].as_string();
  EXPECT_FALSE(id.empty());
  const tether::Json payload = tether::Json::object({{"n", 1}, {"s", "x y"}});
  EXPECT_EQ(printed, tether::Json::object({{"id", id}, {"payload", payload}})) << lines[0];

  const auto events = events_of(r);
  expect_states_end_in(events, "closed", r);
  EXPECT_TRUE(named(events, "error").empty()) << r.describe();
  const auto responses = named(events, "response");
  ASSERT_EQ(responses.size(), 1u) << r.describe();
  expect_response_event(responses[0], id, true, true);
  EXPECT_EQ(named(events, "sent").size(), 1u) << r.describe();
  EXPECT_TRUE(named(events, "message").empty()) << "the answer is a response, not a message\n"
                                                << r.describe();
  // The client closes only after the response.
  EXPECT_LT(index_of(events, "response"), index_of(events, "close")) << r.describe();
  const auto closes = named(events, "close");
  ASSERT_EQ(closes.size(), 1u) << r.describe();
  EXPECT_EQ(closes[0].integer("code"), 1000) << r.describe();

  // On the wire: the default envelope {"type":T,"id":ID,"payload":P}.
  ASSERT_TRUE(s.wait_for("\"event\":\"request\"")) << s.log();
  const auto texts = server_texts(s.log());
  ASSERT_EQ(texts.size(), 1u) << s.log();
  EXPECT_EQ(json_line(texts[0]),
            tether::Json::object({{"type", "echo"}, {"id", id}, {"payload", payload}}))
      << texts[0];
  EXPECT_EQ(server_request_ids(s.log(), "echo"), (std::vector<std::string>{id})) << s.log();
}

TEST(CliRequest, ARemoteErrorIsPrintedAsSentAndIsNotOk) {
  LoggedServer s;
  const auto r = run({"--events", "--request", ws_url(s.server, "/app")}, "{\"type\":\"fail\"}\n");
  ASSERT_FALSE(r.timed_out) << r.describe();
  expect_exit(r, 0);
  const auto lines = r.out_lines();
  ASSERT_EQ(lines.size(), 1u) << r.describe();
  const tether::Json printed = json_line(lines[0]);
  const std::string id = printed["id"].as_string();
  const tether::Json error =
      tether::Json::object({{"code", "failed"}, {"message", "requested failure"}});
  EXPECT_EQ(printed, tether::Json::object({{"id", id}, {"error", error}})) << lines[0];
  const auto events = events_of(r);
  expect_states_end_in(events, "closed", r);
  const auto responses = named(events, "response");
  ASSERT_EQ(responses.size(), 1u) << r.describe();
  // The server answered: ok is false, the round trip is known.
  expect_response_event(responses[0], id, false, true);
  EXPECT_TRUE(named(events, "error").empty()) << "a remote error is not the client's error\n"
                                              << r.describe();
}

TEST(CliRequest, ATimeoutIsAnsweredLocallyAndEofWaitsForIt) {
  LoggedServer s;
  const auto r =
      run({"--events", "--request", "--request-timeout", "200", ws_url(s.server, "/app")},
          "{\"type\":\"never\",\"payload\":1}\n");
  ASSERT_FALSE(r.timed_out) << r.describe();
  expect_exit(r, 0);
  EXPECT_GE(r.elapsed, 200ms) << r.describe();
  const auto lines = r.out_lines();
  ASSERT_EQ(lines.size(), 1u) << r.describe();
  const auto events = events_of(r);
  expect_states_end_in(events, "closed", r);
  const auto responses = named(events, "response");
  ASSERT_EQ(responses.size(), 1u) << r.describe();
  const std::string id = responses[0].str("id");
  expect_local_failure(lines[0], id, "timeout");
  expect_response_event(responses[0], id, false, false);
  EXPECT_GE(responses[0].t_ms, 190) << r.describe();
  EXPECT_LT(index_of(events, "response"), index_of(events, "state open>closing")) << r.describe();
  // It was written (so it is not dropped), and the server saw it.
  EXPECT_EQ(named(events, "sent").size(), 1u) << r.describe();
  EXPECT_TRUE(named(events, "dropped").empty()) << r.describe();
  EXPECT_EQ(server_request_ids(s.log(), "never"), (std::vector<std::string>{id})) << s.log();
}

TEST(CliRequest, ATimeoutWhileQueuedIsAlsoDroppedTtl) {
  LoggedServer s;
  s.server.pause();  // the upgrade is not answered: the request waits in the queue
  CliProcess cli(kCli,
                 {"--events", "--request", "--request-timeout", "200", ws_url(s.server, "/app")});
  const std::string line = "{\"type\":\"echo\",\"payload\":\"late\"}";
  cli.write_line(line);
  cli.close_stdin();
  const bool answered = cli.wait_for_event("response", 5s);
  s.server.resume();
  const auto r = cli.wait(5s);
  ASSERT_FALSE(r.timed_out) << r.describe();
  EXPECT_TRUE(answered) << r.describe();
  expect_exit(r, 0);
  const auto lines = r.out_lines();
  ASSERT_EQ(lines.size(), 1u) << r.describe();
  const auto events = events_of(r);
  const auto responses = named(events, "response");
  ASSERT_EQ(responses.size(), 1u) << r.describe();
  const std::string id = responses[0].str("id");
  expect_local_failure(lines[0], id, "timeout");
  expect_response_event(responses[0], id, false, false);
  const auto dropped = named(events, "dropped");
  ASSERT_EQ(dropped.size(), 1u) << r.describe();
  EXPECT_EQ(dropped[0].str("reason"), "ttl") << r.describe();
  const std::string wire = "{\"type\":\"echo\",\"id\":\"" + id + "\",\"payload\":\"late\"}";
  EXPECT_EQ(dropped[0].integer("bytes"), static_cast<std::int64_t>(wire.size())) << r.describe();
  EXPECT_TRUE(named(events, "sent").empty()) << r.describe();
  std::this_thread::sleep_for(100ms);
  EXPECT_TRUE(server_request_ids(s.log(), "echo").empty()) << s.log();
}

TEST(CliRequest, AnInvalidLineIsSkippedAndTheNextOneWorks) {
  LoggedServer s;
  const auto r = run({"--events", "--request", ws_url(s.server, "/app")},
                     "not json\n"
                     "[1,2]\n"
                     "{\"payload\":1}\n"
                     "{\"type\":7}\n"
                     "{\"type\":\"echo\",\"payload\":\"still here\"}\n");
  ASSERT_FALSE(r.timed_out) << r.describe();
  expect_exit(r, 0);
  const auto events = events_of(r);
  expect_states_end_in(events, "closed", r);
  const auto errors = named(events, "error");
  ASSERT_EQ(errors.size(), 4u) << r.describe();
  for (const auto& e : errors) {
    EXPECT_EQ(e.str("code"), "invalid_request") << e.fields.source();
    EXPECT_FALSE(e.str("message").empty()) << e.fields.source();
  }
  const auto lines = r.out_lines();
  ASSERT_EQ(lines.size(), 1u) << r.describe();
  const tether::Json printed = json_line(lines[0]);
  EXPECT_EQ(printed["payload"], tether::Json("still here")) << lines[0];
  const auto responses = named(events, "response");
  ASSERT_EQ(responses.size(), 1u) << r.describe();
  expect_response_event(responses[0], printed["id"].as_string(), true, true);
  EXPECT_EQ(named(events, "sent").size(), 1u) << r.describe();
  // Only the valid line reached the server.
  ASSERT_TRUE(s.wait_for("\"event\":\"request\"")) << s.log();
  EXPECT_EQ(server_texts(s.log()).size(), 1u) << s.log();
}

TEST(CliRequest, WithoutEventsAnInvalidLineIsReportedInWords) {
  LoggedServer s;
  const auto r =
      run({"--request", ws_url(s.server, "/app")}, "nope\n{\"type\":\"echo\",\"payload\":2}\n");
  ASSERT_FALSE(r.timed_out) << r.describe();
  expect_exit(r, 0);
  const auto lines = r.out_lines();
  ASSERT_EQ(lines.size(), 1u) << r.describe();
  EXPECT_EQ(json_line(lines[0])["payload"], tether::Json(2)) << lines[0];
  EXPECT_NE(r.err.find("invalid_request"), std::string::npos) << r.describe();
  for (const auto& line : r.err_lines()) EXPECT_FALSE(JsonObject::parse(line)) << line;
}

TEST(CliRequest, CountCountsResponses) {
  LoggedServer s;
  // stdin stays open: only --count ends the client.
  const auto r = run_open({"--events", "--request", "--count", "2", ws_url(s.server, "/app")},
                          "{\"type\":\"echo\",\"payload\":1}\n"
                          "{\"type\":\"echo\",\"payload\":2}\n"
                          "{\"type\":\"echo\",\"payload\":3}\n");
  ASSERT_FALSE(r.timed_out) << r.describe();
  expect_exit(r, 0);
  const auto lines = r.out_lines();
  ASSERT_EQ(lines.size(), 2u) << r.describe();
  EXPECT_EQ(json_line(lines[0])["payload"], tether::Json(1)) << r.describe();
  EXPECT_EQ(json_line(lines[1])["payload"], tether::Json(2)) << r.describe();
  const auto events = events_of(r);
  expect_states_end_in(events, "closed", r);
  EXPECT_EQ(named(events, "response").size(), 2u) << r.describe();
  const auto closes = named(events, "close");
  ASSERT_EQ(closes.size(), 1u) << r.describe();
  EXPECT_EQ(closes[0].integer("code"), 1000) << r.describe();
}

TEST(CliRequest, MessagesThatAnswerNoPendingRequestArePrintedAsMessages) {
  // A stream the server pushes, and the late answer to a request that already timed out.
  LoggedServer s;
  CliProcess cli(kCli, {"--events", "--request", "--request-timeout", "100",
                        ws_url(s.server, "/app?stream=2&stream_on_open=1&request_delay_ms=500")});
  // Written once open: a request still queued at its timeout would never be sent at all.
  ASSERT_TRUE(cli.wait_for_event("open", 5s)) << cli.err();
  cli.write_line("{\"type\":\"slow\",\"payload\":7}");
  const bool late = cli.wait_until(
      [](const std::string& out, const std::string&) { return split_lines(out).size() >= 4; }, 5s);
  cli.close_stdin();
  const auto r = cli.wait(5s);
  ASSERT_FALSE(r.timed_out) << r.describe();
  EXPECT_TRUE(late) << r.describe();
  expect_exit(r, 0);
  const auto events = events_of(r);
  const auto responses = named(events, "response");
  ASSERT_EQ(responses.size(), 1u) << r.describe();
  const std::string id = responses[0].str("id");
  expect_response_event(responses[0], id, false, false);
  const auto lines = r.out_lines();
  ASSERT_EQ(lines.size(), 4u) << r.describe();
  EXPECT_EQ(lines[0], "{\"type\":\"event\",\"seq\":1,\"payload\":{\"n\":1}}") << r.describe();
  EXPECT_EQ(lines[1], "{\"type\":\"event\",\"seq\":2,\"payload\":{\"n\":2}}") << r.describe();
  expect_local_failure(lines[2], id, "timeout");
  // The late answer matches no pending request: printed as it came, a `message` event.
  EXPECT_EQ(lines[3], "{\"id\":\"" + id + "\",\"payload\":7}") << r.describe();
  const auto messages = named(events, "message");
  ASSERT_EQ(messages.size(), 3u) << r.describe();
  EXPECT_EQ(messages[2].integer("bytes"), static_cast<std::int64_t>(lines[3].size()));
  EXPECT_TRUE(named(events, "error").empty()) << r.describe();
}

TEST(CliRequest, APendingRequestFailsWithConnectionLost) {
  LoggedServer s;
  CliProcess cli(kCli, {"--events", "--request", "--backoff-initial", "50", "--backoff-max", "100",
                        ws_url(s.server, "/app?request_delay_ms=2000")});
  cli.write_line("{\"type\":\"echo\",\"payload\":\"x\"}");
  const bool requested = s.wait_for("\"event\":\"request\"", 5s);
  s.server.stop();  // closes with 1001 before the answer is due
  const bool failed = cli.wait_for_event("response", 5s);
  s.server.start();  // the same port: the client reconnects, and does not send it again
  const bool reopened = cli.wait_until(
      [](const std::string&, const std::string& err) { return count_events(err, "open") >= 2; },
      5s);
  cli.close_stdin();
  const auto r = cli.wait(5s);
  ASSERT_FALSE(r.timed_out) << r.describe();
  EXPECT_TRUE(requested) << s.log();
  EXPECT_TRUE(failed) << r.describe();
  EXPECT_TRUE(reopened) << r.describe();
  expect_exit(r, 0);
  const auto events = events_of(r);
  expect_states_end_in(events, "closed", r);
  const auto responses = named(events, "response");
  ASSERT_EQ(responses.size(), 1u) << r.describe();
  const std::string id = responses[0].str("id");
  expect_response_event(responses[0], id, false, false);
  const auto lines = r.out_lines();
  ASSERT_EQ(lines.size(), 1u) << r.describe();
  expect_local_failure(lines[0], id, "connection_lost");
  const auto closes = named(events, "close");
  ASSERT_EQ(closes.size(), 2u) << r.describe();
  EXPECT_EQ(closes[0].integer("code"), 1001) << r.describe();
  EXPECT_EQ(closes[0].fields.boolean("reconnect"), std::optional<bool>(true)) << r.describe();
  // The failure comes with the end of the connection, not with a reconnect.
  EXPECT_LT(index_of(events, "response"), index_of(events, "reconnect_scheduled")) << r.describe();
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(server_request_ids(s.log(), "echo"), (std::vector<std::string>{id})) << s.log();
}

TEST(CliRequest, RetryRequestsSendsTheSameIdAgainAfterTheReconnect) {
  LoggedServer s;
  CliProcess cli(kCli, {"--events", "--request", "--retry-requests", "--backoff-initial", "50",
                        "--backoff-max", "100", ws_url(s.server, "/app?request_delay_ms=1000")});
  cli.write_line("{\"type\":\"echo\",\"payload\":\"again\"}");
  const bool requested = s.wait_for("\"event\":\"request\"", 5s);
  s.server.stop();
  s.server.start();
  const bool answered = cli.wait_for_event("response", 8s);
  cli.close_stdin();
  const auto r = cli.wait(5s);
  ASSERT_FALSE(r.timed_out) << r.describe();
  EXPECT_TRUE(requested) << s.log();
  EXPECT_TRUE(answered) << r.describe();
  expect_exit(r, 0);
  const auto events = events_of(r);
  expect_states_end_in(events, "closed", r);
  const auto responses = named(events, "response");
  ASSERT_EQ(responses.size(), 1u) << r.describe();
  const std::string id = responses[0].str("id");
  expect_response_event(responses[0], id, true, true);
  const auto lines = r.out_lines();
  ASSERT_EQ(lines.size(), 1u) << r.describe();
  EXPECT_EQ(json_line(lines[0]), tether::Json::object({{"id", id}, {"payload", "again"}}))
      << r.describe();
  EXPECT_EQ(named(events, "open").size(), 2u) << r.describe();
  EXPECT_TRUE(named(events, "dropped").empty()) << r.describe();
  // The same id on both connections (each run of the server numbers its connections from 1).
  EXPECT_EQ(server_request_ids(s.log(), "echo"), (std::vector<std::string>{id, id})) << s.log();
}

TEST(CliRequest, NonJsonTextIsADecodeErrorAndIsStillPrinted) {
  LoggedServer s;
  // A text frame "hello" pushed after the 101, then echo.
  const std::string path = "/frames?hex=810568656c6c6f&then=echo";
  for (bool request : {true, false}) {
    std::vector<std::string> args = {"--events", ws_url(s.server, path)};
    if (request) args.insert(args.begin(), "--request");
    CliProcess cli(kCli, args);
    const bool printed = cli.wait_for_out("hello\n", 5s);
    std::this_thread::sleep_for(100ms);
    const bool stayed = cli.running();
    cli.close_stdin();
    const auto r = cli.wait(5s);
    ASSERT_FALSE(r.timed_out) << r.describe();
    EXPECT_TRUE(printed) << r.describe();
    EXPECT_TRUE(stayed) << "the text that is not JSON ended the client\n" << r.describe();
    expect_exit(r, 0);
    EXPECT_EQ(r.out, "hello\n") << r.describe();
    const auto events = events_of(r);
    expect_states_end_in(events, "closed", r);
    EXPECT_EQ(named(events, "message").size(), 1u) << r.describe();
    EXPECT_EQ(named(events, "open").size(), 1u) << r.describe();
    const auto closes = named(events, "close");
    ASSERT_EQ(closes.size(), 1u) << r.describe();
    EXPECT_EQ(closes[0].integer("code"), 1000) << r.describe();
    const auto errors = named(events, "error");
    if (request) {
      ASSERT_EQ(errors.size(), 1u) << r.describe();
      EXPECT_EQ(errors[0].str("code"), "decode_error") << r.describe();
      EXPECT_FALSE(errors[0].str("message").empty()) << r.describe();
      EXPECT_LT(index_of(events, "error"), index_of(events, "message")) << r.describe();
    } else {
      EXPECT_TRUE(errors.empty()) << "without --request the text is not expected to be JSON\n"
                                  << r.describe();
    }
  }
}

TEST(CliRequest, ARequestRefusedByAFullQueueIsAnsweredLocally) {
  // The auth is never answered: the client never gets ready, the queue holds one message.
  LoggedServer s;
  const auto r = run(
      {"--events", "--request", "--request-timeout", "300", "--auth-token", "good", "--queue-max",
       "1", "--max-retries", "0", ws_url(s.server, "/app?token=good&auth_noanswer=1")},
      "{\"type\":\"a\"}\n{\"type\":\"b\"}\n");
  ASSERT_FALSE(r.timed_out) << r.describe();
  expect_exit(r, 0);
  const auto events = events_of(r);
  expect_states_end_in(events, "closed", r);
  const auto responses = named(events, "response");
  ASSERT_EQ(responses.size(), 2u) << r.describe();
  const auto lines = r.out_lines();
  ASSERT_EQ(lines.size(), 2u) << r.describe();
  // The refused one first (at once), then the queued one at its timeout.
  expect_response_event(responses[0], responses[0].str("id"), false, false);
  expect_response_event(responses[1], responses[1].str("id"), false, false);
  expect_local_failure(lines[0], responses[0].str("id"), "queue_full");
  expect_local_failure(lines[1], responses[1].str("id"), "timeout");
  const auto errors = named(events, "error");
  ASSERT_EQ(errors.size(), 1u) << r.describe();
  EXPECT_EQ(errors[0].str("code"), "queue_full") << r.describe();
  const auto dropped = named(events, "dropped");
  ASSERT_EQ(dropped.size(), 2u) << r.describe();
  EXPECT_EQ(dropped[0].str("reason"), "overflow") << r.describe();
  EXPECT_EQ(dropped[1].str("reason"), "ttl") << r.describe();
  EXPECT_EQ(index_of(events, "error") + 1, index_of(events, "dropped")) << r.describe();
}

TEST(CliRequest, IdsAreStringsUniqueWithinTheProcessAcrossAuthSubscribeAndRequests) {
  // The auth, the subscribe and a request on one connection: each id a JSON string, all distinct.
  LoggedServer s;
  CliProcess cli(kCli, {"--events", "--request", "--auth-token", "good", "--subscribe", "news",
                        ws_url(s.server, "/app?token=good")});
  cli.write_line("{\"type\":\"one\"}");
  ASSERT_TRUE(cli.wait_for_event("response", 5s)) << cli.err();
  cli.close_stdin();
  const auto r = cli.wait(10s);
  ASSERT_FALSE(r.timed_out) << r.describe();
  expect_exit(r, 0);

  std::vector<std::string> ids;
  for (const auto& line : split_lines(s.log())) {
    const auto o = JsonObject::parse(line);
    if (!o || o->integer("conn") != 1 || o->str("event") != "message") continue;
    const auto message = tether::Json::parse(o->str("text"));
    ASSERT_TRUE(message && message->is_object()) << line;
    const tether::Json* id = message->find("id");
    ASSERT_NE(id, nullptr) << line;
    ASSERT_TRUE(id->is_string()) << "ids are strings: " << line;
    ids.push_back(id->as_string());
  }
  ASSERT_EQ(ids.size(), 3u) << s.log();  // auth, subscribe, the request
  std::sort(ids.begin(), ids.end());
  EXPECT_EQ(std::unique(ids.begin(), ids.end()), ids.end()) << s.log();
}

}  // namespace
}  // namespace tether::testing
