// tether-cli's error table (docs/cli.md, "Errors"): every row a server on 127.0.0.1 can provoke,
// seen through the CLI: the `error` event's code and message, the `close` event (the code the
// client sent when it failed the connection, 1006 when no close frame came), the exit code.
// Addresses: IPv4, IPv6 ([::1]) and a host name (localhost) reach the same servers.

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <ostream>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "cli_test_support.hpp"

namespace tether::testing {
namespace {

using namespace std::chrono_literals;

/// Runs with stdin left open: the CLI must end by itself.
CliResult run_open(const std::vector<std::string>& args, std::chrono::milliseconds timeout = 10s) {
  return run_cli(kCli, args, {}, false, timeout);
}

/// A server that logs what the client sends (--log), for the close codes the client sent.
struct LoggedServer {
  TempDir dir{"tether-cli-errors"};
  std::string log_path = dir.file("server.log");
  ServerProcess server;

  explicit LoggedServer(std::vector<std::string> extra = {}) {
    extra.insert(extra.begin(), {"--log", log_path});
    server = start_tether_server(extra);
  }
  std::string log() const { return read_file(log_path); }
  bool wait_for(const std::string& needle, std::chrono::milliseconds timeout = 3s) const {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      if (log().find(needle) != std::string::npos) return true;
      if (std::chrono::steady_clock::now() >= deadline) return false;
      std::this_thread::sleep_for(10ms);
    }
  }
};

/// A run that failed before any connection opened: exit 2, the first error is `code` (with a
/// message), no open, no close, nothing on stdout, state failed.
void expect_failed_before_open(const CliResult& r, const std::string& code) {
  ASSERT_FALSE(r.timed_out) << r.describe();
  EXPECT_EQ(r.exit_code, 2) << r.describe();
  const auto events = events_of(r);
  const auto errors = named(events, "error");
  ASSERT_FALSE(errors.empty()) << r.describe();
  EXPECT_EQ(errors.front().str("code"), code) << r.describe();
  EXPECT_FALSE(errors.front().str("message").empty()) << r.describe();
  EXPECT_TRUE(named(events, "open").empty()) << r.describe();
  EXPECT_TRUE(named(events, "close").empty()) << "an attempt that never opened has no close\n"
                                              << r.describe();
  EXPECT_EQ(last_state(events), "failed") << r.describe();
  EXPECT_EQ(r.out, "") << r.describe();
}

/// A connection that opened, then failed with `code`; `close_code` is the close event's code.
void expect_failed_after_open(const CliResult& r, const std::string& code, int close_code) {
  ASSERT_FALSE(r.timed_out) << r.describe();
  EXPECT_EQ(r.exit_code, 2) << r.describe();
  const auto events = events_of(r);
  ASSERT_EQ(named(events, "open").size(), 1u) << r.describe();
  const auto errors = named(events, "error");
  ASSERT_FALSE(errors.empty()) << r.describe();
  EXPECT_EQ(errors.front().str("code"), code) << r.describe();
  EXPECT_FALSE(errors.front().str("message").empty()) << r.describe();
  const auto closes = named(events, "close");
  ASSERT_EQ(closes.size(), 1u) << r.describe();
  EXPECT_EQ(closes[0].integer("code"), close_code) << r.describe();
  EXPECT_EQ(closes[0].fields.boolean("reconnect"), std::optional<bool>(false)) << r.describe();
  EXPECT_EQ(last_state(events), "failed") << r.describe();
}

// --- before the connection opens -------------------------------------------------------------

TEST(CliErrors, DnsFailedForANameThatDoesNotResolve) {
  // The .invalid top-level domain never resolves (RFC 6761).
  const auto r = run_open({"--events", "--no-reconnect", "ws://tether-cli-test.invalid/"}, 30s);
  expect_failed_before_open(r, "dns_failed");
  const auto errors = named(events_of(r), "error");
  ASSERT_FALSE(errors.empty());
  EXPECT_NE(errors[0].str("message").find("tether-cli-test.invalid"), std::string::npos)
      << r.describe();
}

struct VerifyCase {
  const char* name;
  std::string CertSet::*cert;
  std::string CertSet::*key;
  bool with_ca;
  const char* reason;  ///< In the error message.
};

void PrintTo(const VerifyCase& c, std::ostream* os) {
  *os << c.name;
}

class CliTlsVerify : public ::testing::TestWithParam<VerifyCase> {};

TEST_P(CliTlsVerify, GivesUpAtOnceNamingTheReason) {
  const auto& c = GetParam();
  const CertSet& certs = test_certs();
  PythonEchoOptions options;
  options.tls_cert = certs.*c.cert;
  options.tls_key = certs.*c.key;
  auto server = start_python_echo(options);
  // No --no-reconnect: tls_verify_failed gives up by itself.
  std::vector<std::string> args = {"--events", "--backoff-initial", "20"};
  if (c.with_ca) args.insert(args.end(), {"--ca", certs.ca});
  args.push_back("wss://127.0.0.1:" + std::to_string(server.port()) + "/");
  const auto r = run_open(args);
  expect_failed_before_open(r, "tls_verify_failed");
  const auto events = events_of(r);
  EXPECT_TRUE(named(events, "reconnect_scheduled").empty()) << r.describe();
  const auto errors = named(events, "error");
  ASSERT_FALSE(errors.empty());
  EXPECT_NE(errors[0].str("message").find(c.reason), std::string::npos) << r.describe();
}

INSTANTIATE_TEST_SUITE_P(Reasons, CliTlsVerify,
                         ::testing::Values(VerifyCase{"SelfSigned", &CertSet::self_signed_cert,
                                                      &CertSet::self_signed_key, true,
                                                      "self-signed"},
                                           VerifyCase{"Expired", &CertSet::expired_cert,
                                                      &CertSet::expired_key, true, "expired"},
                                           VerifyCase{"HostnameMismatch", &CertSet::wrong_host_cert,
                                                      &CertSet::wrong_host_key, true, "mismatch"},
                                           VerifyCase{"UnknownCa", &CertSet::server_cert,
                                                      &CertSet::server_key, false, "local issuer"}),
                         [](const auto& p) { return std::string(p.param.name); });

/// A plain-text peer on 127.0.0.1 that answers whatever arrives first with `reply`, then closes.
/// By default the way an HTTP server answers bytes it cannot parse (the project's servers wait for
/// a complete HTTP head, which a TLS ClientHello never is).
class PlainHttpPeer {
 public:
  explicit PlainHttpPeer(
      std::string reply = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
      : reply_(std::move(reply)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
        ::listen(fd_, 8) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
      throw std::runtime_error("cannot listen on 127.0.0.1");
    }
    port_ = ntohs(address.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~PlainHttpPeer() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }
  int port() const { return port_; }

 private:
  void serve() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      const int client = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (client < 0) continue;
      pollfd c{client, POLLIN, 0};
      char buffer[4096];
      if (::poll(&c, 1, 2000) > 0) {
        ssize_t ignored = ::recv(client, buffer, sizeof buffer, 0);
        ignored = ::send(client, reply_.data(), reply_.size(), MSG_NOSIGNAL);
        (void)ignored;
      }
      ::close(client);
    }
  }

  std::string reply_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

TEST(CliErrors, TlsHandshakeFailedAgainstAPlainServer) {
  PlainHttpPeer peer;
  const auto r = run_open(
      {"--events", "--no-reconnect", "wss://127.0.0.1:" + std::to_string(peer.port()) + "/"});
  expect_failed_before_open(r, "tls_handshake_failed");
}

TEST(CliErrors, TlsHandshakeFailedIsRetried) {
  // Not a verification failure: the policy retries it.
  PlainHttpPeer peer;
  const auto r = run_open({"--events", "--max-retries", "1", "--backoff-initial", "20",
                           "wss://127.0.0.1:" + std::to_string(peer.port()) + "/"});
  ASSERT_FALSE(r.timed_out) << r.describe();
  EXPECT_EQ(r.exit_code, 2) << r.describe();
  const auto events = events_of(r);
  EXPECT_EQ(named(events, "reconnect_scheduled").size(), 1u) << r.describe();
  std::vector<std::string> codes;
  for (const auto& e : named(events, "error")) codes.push_back(e.str("code"));
  EXPECT_EQ(codes, (std::vector<std::string>{"tls_handshake_failed", "tls_handshake_failed",
                                             "retries_exhausted"}))
      << r.describe();
}

struct HandshakeCase {
  const char* name;
  std::string path;
};

void PrintTo(const HandshakeCase& c, std::ostream* os) {
  *os << c.name;
}

class CliHandshakeFailed : public ::testing::TestWithParam<HandshakeCase> {
 protected:
  // One server for every row.
  static void SetUpTestSuite() { server_ = new ServerProcess(start_tether_server()); }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  static ServerProcess* server_;
};
ServerProcess* CliHandshakeFailed::server_ = nullptr;

TEST_P(CliHandshakeFailed, IsReportedAndNeverOpens) {
  ASSERT_NE(server_, nullptr);
  const auto r = run_open({"--events", "--no-reconnect", "--connect-timeout", "5000",
                           ws_url(*server_, GetParam().path)});
  expect_failed_before_open(r, "handshake_failed");
}

INSTANTIATE_TEST_SUITE_P(
    Defects, CliHandshakeFailed,
    ::testing::Values(HandshakeCase{"WrongAccept", "/reply101?accept=bad"},
                      HandshakeCase{"NoAccept", "/reply101?accept=omit"},
                      HandshakeCase{"NoUpgrade", "/reply101?upgrade=omit"},
                      HandshakeCase{"BadConnection", "/reply101?connection=bad"},
                      HandshakeCase{"AnExtension", "/reply101?extensions=permessage-deflate"},
                      HandshakeCase{"UnofferedSubprotocol", "/reply101?protocol=chat"},
                      HandshakeCase{"NotHttp", "/garbage"},
                      HandshakeCase{"HeadersOver16KiB", "/bigheaders?bytes=17000"},
                      HandshakeCase{"NotHttpRaw", "/rawreply?hex=53534820322e300d0a"}),
    [](const auto& p) { return std::string(p.param.name); });

TEST(CliErrors, HandshakeFailedWhenTheConnectionClosesBeforeTheReplyIsComplete) {
  PlainHttpPeer peer("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n");
  const auto r = run_open(
      {"--events", "--no-reconnect", "ws://127.0.0.1:" + std::to_string(peer.port()) + "/"});
  expect_failed_before_open(r, "handshake_failed");
}

TEST(CliErrors, HeadersUnder16KiBAreFine) {
  auto server = start_tether_server();
  const auto r = run_cli(kCli, {"--events", ws_url(server, "/bigheaders?bytes=15000")}, "big\n");
  ASSERT_FALSE(r.timed_out) << r.describe();
  EXPECT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_EQ(r.out, "big\n") << r.describe();
}

TEST(CliErrors, ATrickledUpgradeStillOpens) {
  auto server = start_tether_server();
  const auto r =
      run_cli(kCli, {"--events", ws_url(server, "/trickle?interval_ms=1")}, "slow\n", true, 20s);
  ASSERT_FALSE(r.timed_out) << r.describe();
  EXPECT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_EQ(r.out, "slow\n") << r.describe();
}

// --- after the connection opened: the client fails it ----------------------------------------

struct FrameCase {
  const char* name;
  std::string hex;  ///< Sent by the server right after the 101.
  const char* code;
  int close_code;  ///< What the client sends.
  std::vector<std::string> extra_args = {};
};

void PrintTo(const FrameCase& c, std::ostream* os) {
  *os << c.name;
}

class CliBadFrames : public ::testing::TestWithParam<FrameCase> {};

TEST_P(CliBadFrames, TheClientFailsTheConnectionWithItsCloseCode) {
  const auto& c = GetParam();
  LoggedServer s;
  std::vector<std::string> args = {"--events", "--no-reconnect"};
  args.insert(args.end(), c.extra_args.begin(), c.extra_args.end());
  args.push_back(ws_url(s.server, "/frames?then=read&hex=" + c.hex));
  const auto r = run_open(args);
  expect_failed_after_open(r, c.code, c.close_code);
  // The server received that close code.
  EXPECT_TRUE(s.wait_for("\"event\":\"close\",\"code\":" + std::to_string(c.close_code)))
      << s.log();
}

INSTANTIATE_TEST_SUITE_P(
    Rows, CliBadFrames,
    ::testing::Values(
        FrameCase{"ReservedBits", "c100", "protocol_error", 1002},
        FrameCase{"ReservedOpcode", "8300", "protocol_error", 1002},
        FrameCase{"MaskedFrame",
                  "818100000000"
                  "61",
                  "protocol_error", 1002},
        FrameCase{"ControlFrameOver125Bytes", "897e0080" + std::string(256, '6'), "protocol_error",
                  1002},
        FrameCase{"FragmentedControlFrame", "0900", "protocol_error", 1002},
        FrameCase{"ContinuationWithoutStart", "800161", "protocol_error", 1002},
        FrameCase{"NewMessageInsideAFragmentedOne",
                  "010161"
                  "810162",
                  "protocol_error", 1002},
        FrameCase{"LengthWithTheTopBitSet", "827f8000000000000000", "protocol_error", 1002},
        FrameCase{"InvalidCloseCode", "880203e7", "protocol_error", 1002},
        FrameCase{"CloseWithOneBytePayload", "880103", "protocol_error", 1002},
        FrameCase{"InvalidUtf8Text", "8102c328", "invalid_utf8", 1007},
        FrameCase{"InvalidUtf8CloseReason", "880403e8c328", "invalid_utf8", 1007},
        FrameCase{"MessageOverMaxMessage",
                  "8265" + std::string(202, '6'),
                  "message_too_big",
                  1009,
                  {"--max-message", "100"}},
        // The header alone announces too much: refused before any payload arrives (none does).
        FrameCase{"HeaderAnnouncingTooMuch",
                  "827e0400",
                  "message_too_big",
                  1009,
                  {"--max-message", "1000"}},
        FrameCase{"HeaderAnnouncing256MiB", "827f0000000010000000", "message_too_big", 1009}),
    [](const auto& p) { return std::string(p.param.name); });

TEST(CliErrors, HeartbeatTimeoutWhenThePeerGoesSilent) {
  auto server = start_tether_server();
  const auto r = run_open({"--events", "--no-reconnect", "--ping-interval", "200", "--pong-timeout",
                           "300", ws_url(server, "/silent")});
  ASSERT_FALSE(r.timed_out) << r.describe();
  EXPECT_EQ(r.exit_code, 2) << r.describe();
  EXPECT_GE(r.elapsed, 450ms) << r.describe();
  const auto events = events_of(r);
  const auto errors = named(events, "error");
  ASSERT_FALSE(errors.empty()) << r.describe();
  EXPECT_EQ(errors[0].str("code"), "heartbeat_timeout") << r.describe();
  const auto closes = named(events, "close");
  ASSERT_EQ(closes.size(), 1u) << r.describe();
  EXPECT_EQ(closes[0].integer("code"), 1006) << r.describe();
  EXPECT_EQ(last_state(events), "failed") << r.describe();
}

TEST(CliErrors, PingsKeepALiveConnectionOpen) {
  // The echo scenario answers pings: well past several ping intervals nothing fails.
  auto server = start_tether_server();
  CliProcess cli(kCli, {"--events", "--ping-interval", "50", "--pong-timeout", "200",
                        ws_url(server, "/echo")});
  ASSERT_TRUE(cli.wait_for_event("open", 5s)) << cli.err();
  std::this_thread::sleep_for(600ms);
  cli.write_line("still alive");
  const bool echoed = cli.wait_for_out("still alive\n", 5s);
  cli.close_stdin();
  const auto r = cli.wait(5s);
  ASSERT_FALSE(r.timed_out) << r.describe();
  EXPECT_TRUE(echoed) << r.describe();
  EXPECT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_TRUE(named(events_of(r), "error").empty()) << r.describe();
}

TEST(CliErrors, APingGoesOutAfterPingIntervalOfSilence) {
  LoggedServer s;
  CliProcess cli(kCli, {"--events", "--ping-interval", "100", ws_url(s.server, "/echo")});
  EXPECT_TRUE(s.wait_for("\"event\":\"ping\"", 5s)) << s.log();
  cli.signal(SIGINT);
  const auto r = cli.wait(5s);
  ASSERT_FALSE(r.timed_out) << r.describe();
  EXPECT_EQ(r.exit_code, 0) << r.describe();
}

TEST(CliErrors, PingIntervalZeroSendsNoPing) {
  LoggedServer s;
  CliProcess cli(kCli, {"--events", "--ping-interval", "0", ws_url(s.server, "/echo")});
  ASSERT_TRUE(cli.wait_for_event("open", 5s)) << cli.err();
  std::this_thread::sleep_for(500ms);
  cli.write_line("after a while");
  EXPECT_TRUE(cli.wait_for_out("after a while\n", 5s)) << cli.err();
  cli.close_stdin();
  const auto r = cli.wait(5s);
  EXPECT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_EQ(s.log().find("\"event\":\"ping\""), std::string::npos) << s.log();
}

TEST(CliErrors, ConnectTimeoutZeroMeansNoLimit) {
  // /noanswer never answers the upgrade: with no limit the client keeps waiting, no error.
  auto server = start_tether_server();
  CliProcess cli(kCli, {"--events", "--connect-timeout", "0", ws_url(server, "/noanswer")});
  std::this_thread::sleep_for(1500ms);
  EXPECT_TRUE(cli.running());
  cli.signal(SIGTERM);
  const auto r = cli.wait(10s);
  ASSERT_FALSE(r.timed_out) << r.describe();
  EXPECT_EQ(r.exit_code, 0) << r.describe();
  EXPECT_TRUE(named(events_of(r), "error").empty()) << r.describe();
}

class CliLost : public ::testing::TestWithParam<const char*> {};

TEST_P(CliLost, ConnectionLostIsClose1006WithAnEmptyReason) {
  auto server = start_tether_server();
  const auto r = run_open({"--events", "--no-reconnect", ws_url(server, GetParam())});
  expect_failed_after_open(r, "connection_lost", 1006);
  const auto closes = named(events_of(r), "close");
  ASSERT_EQ(closes.size(), 1u);
  EXPECT_EQ(closes[0].str("reason"), "") << r.describe();
}

INSTANTIATE_TEST_SUITE_P(Drops, CliLost,
                         ::testing::Values("/drop", "/drop?after_ms=100&rst=1",
                                           "/frames?hex=810568656c&then=close"),
                         [](const auto& p) {
                           const std::string path = p.param;
                           if (path.find("rst") != std::string::npos) return std::string("Reset");
                           if (path.find("frames") != std::string::npos) {
                             return std::string("InsideAFrame");
                           }
                           return std::string("Fin");
                         });

// --- addresses ---------------------------------------------------------------------------------

TEST(CliAddresses, Ipv6LoopbackAndAHostName) {
  ServerProcess v6;
  try {
    v6 = start_tether_server({"--host", "::1"});
  } catch (const std::exception& e) {
    GTEST_SKIP() << "no IPv6 loopback on this machine: " << e.what();
  }
  const auto r6 = run_cli(kCli, {"--events", "ws://[::1]:" + std::to_string(v6.port()) + "/echo"},
                          "over ipv6\n");
  ASSERT_FALSE(r6.timed_out) << r6.describe();
  EXPECT_EQ(r6.exit_code, 0) << r6.describe();
  EXPECT_EQ(r6.out, "over ipv6\n") << r6.describe();

  auto v4 = start_tether_server();
  const auto named_host = run_cli(
      kCli, {"--events", "ws://localhost:" + std::to_string(v4.port()) + "/echo"}, "by name\n");
  ASSERT_FALSE(named_host.timed_out) << named_host.describe();
  EXPECT_EQ(named_host.exit_code, 0) << named_host.describe();
  EXPECT_EQ(named_host.out, "by name\n") << named_host.describe();
}

}  // namespace
}  // namespace tether::testing
