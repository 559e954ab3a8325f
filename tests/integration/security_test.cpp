// Security defaults against real peers on 127.0.0.1: certificate and host name verification on
// by default, TLS 1.2 as the minimum, truncated TLS streams, secrets kept out of logs and events,
// and the default limits.
//
// Rows of the verification table covered elsewhere (not repeated here):
//   tests/integration/transport_test.cpp  TransportTls.*: CA file with IP and DNS names
//     (WssWithTheGeneratedCa), self-signed, IP address mismatch (WrongHostIsRejectedWithItsReason),
//     expired, no CA file / system store only (UnknownCaIsRejected), each also accepted with
//     `insecure`; a missing CA file; wss:// to a plain server.
//   tests/unit/tls_test.cpp  TlsTest.*: the same rows on the TLS engine alone, plus the name
//     check against the given name rather than the dialled address, wildcards, mutual TLS, a
//     TLS 1.1 server, EOF without close_notify and EOF inside a record.
// Here: the rows the client-level tests lacked (not yet valid, host name mismatch for a DNS
// name, a certificate from another CA while a CA file is given), and the TLS version floor,
// a truncated record and a missing close_notify through a whole Client.

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include "integration/client_harness.hpp"
#include "support/servers.hpp"

namespace tether::testing {
namespace {

using namespace std::chrono_literals;

ClientOptions direct(std::string url) {
  ClientOptions options;
  options.url = std::move(url);
  options.proxy = "direct";
  options.connect_timeout = 10000ms;
  options.reconnect.enabled = false;  // one attempt: its outcome is the test's subject
  return options;
}

std::string url_of(const char* scheme, const ServerProcess& server, const std::string& host,
                   const std::string& path) {
  return std::string(scheme) + "://" + host + ":" + std::to_string(server.port()) + path;
}

std::string first_error_text(ClientHarness& h) {
  const auto errors = h.errors();
  return errors.empty()
             ? std::string("(no error)")
             : std::string(to_string(errors.front().code)) + ": " + errors.front().message;
}

ServerProcess tls_echo(const std::string& cert, const std::string& key) {
  PythonEchoOptions options;
  options.tls_cert = cert;
  options.tls_key = key;
  return start_python_echo(options);
}

// The client (default TLS options but the CA file) refuses the server for `reason_part`.
void expect_rejected(const std::string& cert, const std::string& key, const std::string& host,
                     const std::string& reason_part) {
  auto server = tls_echo(cert, key);
  auto options = direct(url_of("wss", server, host, "/"));
  options.tls.ca_file = test_certs().ca;
  ClientHarness h(options);
  ASSERT_FALSE(h.start());
  ASSERT_TRUE(h.wait_error(20s));
  const Error error = h.errors().front();
  EXPECT_EQ(error.code, errc::tls_verify_failed) << error.message;
  EXPECT_NE(error.message.find(reason_part), std::string::npos) << error.message;
  EXPECT_FALSE(h.opened());
  ASSERT_TRUE(h.wait_finished(20s));
  EXPECT_EQ(h.client().state(), State::failed);  // a verification failure is never retried
}

TEST(SecurityTls, VerificationIsOnByDefault) {
  const ClientOptions defaults;
  EXPECT_FALSE(defaults.tls.insecure);
  EXPECT_TRUE(defaults.tls.ca_file.empty());  // the system store, nothing else
  // The valid certificate chains to a CA the system store does not have: refused.
  auto server = tls_echo(test_certs().server_cert, test_certs().server_key);
  ClientHarness h(direct(url_of("wss", server, "127.0.0.1", "/")));
  ASSERT_FALSE(h.start());
  ASSERT_TRUE(h.wait_error(20s));
  EXPECT_EQ(h.errors().front().code, errc::tls_verify_failed) << first_error_text(h);
  EXPECT_FALSE(h.opened());
}

TEST(SecurityTls, NotYetValidCertificateIsRejected) {
  const auto& certs = test_certs();
  expect_rejected(certs.future_cert, certs.future_key, "127.0.0.1", "not yet valid");
}

TEST(SecurityTls, HostNameMismatchIsRejected) {
  // SAN other.example only, reached as "localhost": the DNS-name check (the IP-address check is
  // TransportTls.WrongHostIsRejectedWithItsReason).
  expect_rejected(test_certs().wrong_host_cert, test_certs().wrong_host_key, "localhost",
                  "hostname mismatch");
}

TEST(SecurityTls, CertificateFromAnotherCaIsRejectedDespiteACaFile) {
  const auto& certs = test_certs();
  expect_rejected(certs.foreign_cert, certs.foreign_key, "127.0.0.1", "local issuer");
}

// --- A scripted TLS peer: version floor, truncated record, missing close_notify -----------------

// One TLS connection at a time over memory BIOs, so the script decides exactly which bytes of the
// TLS stream reach the socket. Modes:
//   tls11      accepts TLS 1.0-1.1 only, then behaves as `clean`
//   clean      TLS 1.2+, 101, a text message "before", then close_notify and FIN
//   truncated  as clean, then a record carrying "after" cut in half, then FIN (no close_notify)
//   nonotify   as clean, then FIN without close_notify
constexpr const char* kTlsPeer = R"PY(
import base64, hashlib, re, socket, ssl, sys, warnings
warnings.simplefilter("ignore")
mode, cert, key = sys.argv[1], sys.argv[2], sys.argv[3]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
if mode == "tls11":
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    ctx.minimum_version = ssl.TLSVersion.TLSv1
    ctx.maximum_version = ssl.TLSVersion.TLSv1_1
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen(8)
print("LISTENING", srv.getsockname()[1], flush=True)
while True:
    conn, _ = srv.accept()
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ctx.wrap_bio(inc, out, server_side=True)
    def flush():
        data = out.read()
        if data:
            conn.sendall(data)
    def feed():
        data = conn.recv(65536)
        if not data:
            raise EOFError("client closed")
        inc.write(data)
    try:
        while True:
            try:
                tls.do_handshake()
                flush()
                break
            except ssl.SSLWantReadError:
                flush()
                feed()
            except ssl.SSLError:
                flush()  # the alert (e.g. protocol_version) goes out before the close
                raise
        print("HANDSHAKE", tls.version(), flush=True)
        head = b""
        while b"\r\n\r\n" not in head:
            try:
                head += tls.read(65536)
            except ssl.SSLWantReadError:
                feed()
        k = re.search(rb"(?i)sec-websocket-key:[ \t]*([^\r\n]+)", head).group(1).strip()
        accept = base64.b64encode(hashlib.sha1(k + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())
        tls.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                  b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n")
        tls.write(b"\x81\x06before")
        flush()
        if mode == "truncated":
            tls.write(b"\x81\x05after")
            record = out.read()
            conn.sendall(record[: len(record) // 2])
        elif mode in ("clean", "tls11"):
            try:
                tls.unwrap()
            except ssl.SSLWantReadError:
                pass
            flush()
        print("SENT", mode, flush=True)
        conn.shutdown(socket.SHUT_WR)
        conn.settimeout(10)
        while conn.recv(65536):
            pass
    except Exception as e:
        print("ERROR", type(e).__name__, e, flush=True)
    finally:
        conn.close()
)PY";

ServerProcess start_tls_peer(const std::string& mode) {
  TempDir dir("tether-tls-peer");
  write_file(dir.file("tls_peer.py"), kTlsPeer);
  ProcessSpec spec;
  spec.name = "tls_peer_" + mode;
  spec.argv = {TETHER_PYTHON, dir.file("tls_peer.py"), mode, test_certs().server_cert,
               test_certs().server_key};
  spec.env = {{"PYTHONUNBUFFERED", "1"}, {"PYTHONDONTWRITEBYTECODE", "1"}};
  ServerProcess server(std::move(spec), std::move(dir));
  server.start();
  return server;
}

ClientOptions tls_peer_options(const ServerProcess& peer) {
  auto options = direct(url_of("wss", peer, "127.0.0.1", "/"));
  options.tls.ca_file = test_certs().ca;
  return options;
}

TEST(SecurityTls, Tls11OnlyServerIsRefused) {
  auto peer = start_tls_peer("tls11");
  ClientHarness h(tls_peer_options(peer));
  ASSERT_FALSE(h.start());
  ASSERT_TRUE(h.wait_error(20s));
  EXPECT_EQ(h.errors().front().code, errc::tls_handshake_failed) << first_error_text(h);
  EXPECT_NE(h.errors().front().message.find("protocol version"), std::string::npos)
      << first_error_text(h);
  EXPECT_FALSE(h.opened());
  EXPECT_EQ(peer.count_in_log("HANDSHAKE"), 0u) << peer.log();
}

TEST(SecurityTls, TheSamePeerWithTls12WorksAndClosesCleanly) {
  // The control for the tests below: with a proper close_notify there is no error.
  auto peer = start_tls_peer("clean");
  ClientHarness h(tls_peer_options(peer));
  ASSERT_FALSE(h.start());
  ASSERT_TRUE(h.wait_messages(1, 20s)) << first_error_text(h);
  EXPECT_EQ(h.messages()[0].data, "before");
  ASSERT_TRUE(peer.wait_for_log("HANDSHAKE TLSv1.", 10s)) << peer.log();
  ASSERT_TRUE(h.wait_close(20s));
  // The peer sent no close frame: 1006, but the TLS stream ended properly.
  for (const Error& e : h.errors()) {
    EXPECT_EQ(e.message.find("close_notify"), std::string::npos) << e.message;
  }
}

void expect_truncation(const std::string& mode) {
  auto peer = start_tls_peer(mode);
  ClientHarness h(tls_peer_options(peer));
  ASSERT_FALSE(h.start());
  ASSERT_TRUE(h.wait_messages(1, 20s)) << first_error_text(h);
  EXPECT_EQ(h.messages()[0].data, "before");
  ASSERT_TRUE(h.wait_close(20s));
  ASSERT_TRUE(h.wait_error(10s));
  EXPECT_EQ(h.closes()[0].code, 1006);
  EXPECT_FALSE(h.closes()[0].clean);
  EXPECT_EQ(h.errors().front().code, errc::connection_lost) << first_error_text(h);
  EXPECT_NE(h.errors().front().message.find("close_notify"), std::string::npos)
      << first_error_text(h);
  // Nothing of the cut record is delivered.
  EXPECT_EQ(h.messages().size(), 1u);
  ASSERT_TRUE(h.wait_finished(10s));
}

TEST(SecurityTls, TruncatedRecordIsConnectionLost) {
  expect_truncation("truncated");
}

TEST(SecurityTls, MissingCloseNotifyIsConnectionLost) {
  expect_truncation("nonotify");
}

TEST(SecurityTls, MissingCloseNotifyFromTheTestServerIsConnectionLost) {
  // tether_test_server's /drop on wss closes TCP without close_notify.
  auto server = start_tether_server(
      {"--tls-cert", test_certs().server_cert, "--tls-key", test_certs().server_key});
  auto options = direct(url_of("wss", server, "127.0.0.1", "/drop?after_ms=100"));
  options.tls.ca_file = test_certs().ca;
  ClientHarness h(options);
  ASSERT_FALSE(h.start());
  ASSERT_TRUE(h.wait_open(20s)) << first_error_text(h);
  ASSERT_TRUE(h.wait_close(20s));
  ASSERT_TRUE(h.wait_error(10s));
  EXPECT_EQ(h.closes()[0].code, 1006);
  EXPECT_EQ(h.errors().front().code, errc::connection_lost) << first_error_text(h);
  EXPECT_NE(h.errors().front().message.find("close_notify"), std::string::npos)
      << first_error_text(h);
}

// --- Secrets never in logs or events -------------------------------------------------------------

// Everything a client tells the application: every log line at every level (tether's and
// libwebsockets'), and the text of every event.
class Transcript {
 public:
  std::shared_ptr<Runtime> runtime() {
    RuntimeOptions options;
    options.log_levels = static_cast<int>(LogLevel::error) | static_cast<int>(LogLevel::warning) |
                         static_cast<int>(LogLevel::notice) | static_cast<int>(LogLevel::debug);
    options.log = [this](LogLevel, const std::string& line) { add("log: " + line); };
    return Runtime::create(options);
  }

  void attach(Client& client) {
    client.on_error([this](const Error& e) {
      std::string text = "error: " + std::string(to_string(e.code)) + " " + e.message;
      for (const auto& [name, value] : e.http_headers) text += " " + name + ": " + value;
      add(text);
    });
    client.on_state([this](State from, State to, const Cause& cause) {
      add("state: " + std::string(to_string(from)) + " -> " + std::string(to_string(to)) + " " +
          cause.message + " " + cause.close_reason);
    });
    client.on_close(
        [this](const CloseInfo& c) { add("close: " + std::to_string(c.code) + " " + c.reason); });
    client.on_open([this](const OpenInfo& info) { add("open: " + info.subprotocol); });
    client.on_authenticated([this] { add("authenticated"); });
    client.on_dropped([this](MessageId, std::size_t, DropReason reason) {
      add("dropped: " + std::string(to_string(reason)));
    });
  }

  void add(std::string line) {
    std::lock_guard<std::mutex> lock(mutex_);
    lines_.push_back(std::move(line));
  }

  std::vector<std::string> lines() {
    std::lock_guard<std::mutex> lock(mutex_);
    return lines_;
  }

  bool contains(const std::string& needle) {
    for (const auto& line : lines()) {
      if (line.find(needle) != std::string::npos) return true;
    }
    return false;
  }

  bool has_log_lines() {
    for (const auto& line : lines()) {
      if (line.rfind("log: ", 0) == 0) return true;
    }
    return false;
  }

  std::string dump() {
    std::string out;
    for (const auto& line : lines()) out += line + "\n";
    return out;
  }

 private:
  std::mutex mutex_;
  std::vector<std::string> lines_;
};

std::string secret(const char* prefix) {
  std::random_device rd;
  std::mt19937_64 rng(rd());
  const char* digits = "0123456789abcdef";
  std::string s = prefix;
  for (int i = 0; i < 24; ++i) s += digits[rng() % 16];
  return s;
}

enum class Via { header, query, message };

// Connects with `token` carried `via`, to an /app server that accepts `accepted`; waits for the
// outcome (authenticated, or failed), then closes. Returns the transcript.
void connect_with_token(Transcript& transcript, Via via, const std::string& token,
                        const std::string& accepted, bool expect_ok) {
  auto server = start_tether_server({"--log", "/dev/stdout"});
  const char* via_name = via == Via::header ? "header" : via == Via::query ? "query" : "message";
  auto options = direct(url_of("ws", server, "127.0.0.1",
                               "/app?token=" + accepted + "&auth_via=" + via_name + "&echo=1"));
  options.auth.token = token;
  if (via == Via::header) options.auth.header = "Authorization";
  if (via == Via::query) options.auth.query_parameter = "access_token";
  if (via == Via::message) options.auth.first_message = true;
  options.auth.timeout = 10000ms;

  auto runtime = transcript.runtime();
  auto client = std::make_unique<Client>(options, runtime);
  transcript.attach(*client);
  ASSERT_FALSE(client->start());
  client->send("hello after auth");
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (std::chrono::steady_clock::now() < deadline) {
    if (expect_ok ? client->is_open() && client->stats().messages_sent >= 1
                  : client->is_finished()) {
      break;
    }
    std::this_thread::sleep_for(5ms);
  }
  if (expect_ok) {
    EXPECT_TRUE(client->is_open()) << transcript.dump();
    // The server really saw the token, so it was really sent.
    EXPECT_TRUE(server.wait_for_log("\"ok\":true", 10s)) << server.log();
  } else {
    EXPECT_EQ(client->state(), State::failed) << transcript.dump();
  }
  client->close();
  const auto closed_by = std::chrono::steady_clock::now() + 10s;
  while (!client->is_finished() && std::chrono::steady_clock::now() < closed_by) {
    std::this_thread::sleep_for(5ms);
  }
  client.reset();
  runtime.reset();  // closes what is left; its log lines are in the transcript
  EXPECT_TRUE(transcript.has_log_lines()) << "no log line captured: the check would be empty";
}

void expect_token_hidden(Via via) {
  for (const bool accepted : {true, false}) {
    const std::string token = secret("tok-");
    const std::string good = accepted ? token : secret("other-");
    Transcript transcript;
    connect_with_token(transcript, via, token, good, accepted);
    EXPECT_FALSE(transcript.contains(token)) << transcript.dump();
    // Not even its distinctive middle part (a cut-off copy would still leak).
    EXPECT_FALSE(transcript.contains(token.substr(6, 12))) << transcript.dump();
  }
}

TEST(SecurityLogs, TokenInAHeaderIsNeverLogged) {
  expect_token_hidden(Via::header);
}

TEST(SecurityLogs, TokenInTheQueryIsNeverLogged) {
  expect_token_hidden(Via::query);
}

TEST(SecurityLogs, TokenInTheFirstMessageIsNeverLogged) {
  expect_token_hidden(Via::message);
}

TEST(SecurityLogs, AuthorizationHeaderAndUrlQueryAreNeverLoggedOnFailures) {
  // Secrets set by hand (an Authorization header, a token in the URL) on attempts that fail in
  // the ways that produce the most text: refused port, rejected upgrade, a garbage reply.
  auto server = start_tether_server();
  const int closed_port = free_port();
  const std::string bearer = secret("bearer-");
  const std::string in_url = secret("urltok-");
  for (const std::string& url :
       {"ws://127.0.0.1:" + std::to_string(closed_port) + "/x?access_token=" + in_url,
        url_of("ws", server, "127.0.0.1", "/status?code=401&access_token=" + in_url),
        url_of("ws", server, "127.0.0.1", "/garbage?access_token=" + in_url),
        url_of("ws", server, "127.0.0.1", "/reply101?accept=bad&access_token=" + in_url)}) {
    Transcript transcript;
    auto options = direct(url);
    options.headers = {{"Authorization", "Bearer " + bearer}};
    options.connect_timeout = 5000ms;
    auto runtime = transcript.runtime();
    auto client = std::make_unique<Client>(options, runtime);
    transcript.attach(*client);
    ASSERT_FALSE(client->start());
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    while (!client->is_finished() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(5ms);
    }
    EXPECT_TRUE(client->is_finished()) << url;
    client.reset();
    runtime.reset();
    EXPECT_TRUE(transcript.has_log_lines());
    EXPECT_TRUE(transcript.contains("error: ")) << url << "\n" << transcript.dump();
    EXPECT_FALSE(transcript.contains(bearer)) << url << "\n" << transcript.dump();
    EXPECT_FALSE(transcript.contains(in_url)) << url << "\n" << transcript.dump();
  }
  // An invalid URL holding a token: start() refuses it without quoting the token.
  const std::string leaked = secret("invalid-");
  auto options = direct("ws://127.0.0.1:99999/?access_token=" + leaked);
  Client client(options, silent_runtime());
  const Error error = client.start();
  EXPECT_EQ(error.code, errc::invalid_url);
  EXPECT_EQ(error.message.find(leaked), std::string::npos) << error.message;
}

TEST(SecurityLogs, ProxyCredentialsAreNeverLogged) {
  auto server = start_tether_server();
  const std::string good_password = secret("proxy-pw-");
  TinyproxyOptions proxy_options;
  proxy_options.basic_auth_user = "alice";
  proxy_options.basic_auth_pass = good_password;
  auto proxy = start_tinyproxy(proxy_options);
  const std::string wrong_password = secret("wrong-pw-");
  const std::string proxy_base = "127.0.0.1:" + std::to_string(proxy.port());

  for (const std::string& password : {good_password, wrong_password}) {
    const bool good = password == good_password;
    Transcript transcript;
    auto options = direct(url_of("ws", server, "127.0.0.1", "/echo"));
    options.proxy = "http://alice:" + password + "@" + proxy_base;
    auto runtime = transcript.runtime();
    auto client = std::make_unique<Client>(options, runtime);
    transcript.attach(*client);
    ASSERT_FALSE(client->start());
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    while (std::chrono::steady_clock::now() < deadline &&
           !(good ? client->is_open() : client->is_finished())) {
      std::this_thread::sleep_for(5ms);
    }
    if (good) {
      EXPECT_TRUE(client->is_open()) << transcript.dump() << proxy.log();
    } else {
      EXPECT_EQ(client->state(), State::failed) << transcript.dump();
      EXPECT_TRUE(transcript.contains("proxy")) << transcript.dump();
    }
    client.reset();
    runtime.reset();
    EXPECT_TRUE(transcript.has_log_lines());
    EXPECT_FALSE(transcript.contains(password)) << transcript.dump();
    EXPECT_FALSE(transcript.contains(password.substr(9, 12))) << transcript.dump();
  }
  // A malformed proxy URL with a password: refused by start() without quoting it.
  const std::string leaked = secret("pw-");
  auto options = direct(url_of("ws", server, "127.0.0.1", "/"));
  options.proxy = "http://alice:" + leaked + "@proxy host:80";
  Client client(options, silent_runtime());
  const Error error = client.start();
  EXPECT_EQ(error.code, errc::invalid_argument);
  EXPECT_EQ(error.message.find(leaked), std::string::npos) << error.message;
}

// --- Default limits ------------------------------------------------------------------------------

TEST(SecurityLimits, DefaultsAreBounded) {
  const ClientOptions defaults;
  EXPECT_EQ(defaults.max_message, 16u * 1024 * 1024);
  EXPECT_EQ(defaults.queue.max_messages, 10000u);
  EXPECT_EQ(defaults.queue.max_bytes, 16u * 1024 * 1024);
  EXPECT_EQ(defaults.queue.overflow, OverflowPolicy::reject);
  EXPECT_EQ(defaults.connect_timeout, 10000ms);
  EXPECT_EQ(defaults.close_timeout, 5000ms);
  EXPECT_EQ(defaults.auth.timeout, 10000ms);
  EXPECT_FALSE(defaults.follow_redirects);
  EXPECT_EQ(defaults.max_redirects, 5);
  EXPECT_GT(defaults.heartbeat.ping_interval.count(), 0);
  EXPECT_GT(defaults.heartbeat.pong_timeout.count(), 0);
}

TEST(SecurityLimits, DefaultMessageLimitIsEnforced) {
  auto server = start_tether_server();
  // Just over 16 MiB from the server: refused with 1009 before it is buffered whole.
  ClientHarness h(direct(
      url_of("ws", server, "127.0.0.1", "/send?count=1&size=" + std::to_string((16u << 20) + 1))));
  ASSERT_FALSE(h.start());
  ASSERT_TRUE(h.wait_close(30s)) << first_error_text(h);
  ASSERT_TRUE(h.wait_error(10s));
  EXPECT_EQ(h.errors().front().code, errc::message_too_big) << first_error_text(h);
  EXPECT_EQ(h.closes()[0].code, 1009);
  EXPECT_TRUE(h.messages().empty());

  // Exactly 16 MiB is accepted.
  ClientHarness ok(
      direct(url_of("ws", server, "127.0.0.1", "/send?count=1&size=" + std::to_string(16u << 20))));
  ASSERT_FALSE(ok.start());
  ASSERT_TRUE(ok.wait_messages(1, 30s)) << first_error_text(ok);
  EXPECT_EQ(ok.messages()[0].data.size(), 16u << 20);
}

TEST(SecurityLimits, DefaultHandshakeHeaderLimitIsEnforced) {
  auto server = start_tether_server();
  // A 101 whose head is longer than 16 KiB is refused...
  ClientHarness big(direct(url_of("ws", server, "127.0.0.1", "/bigheaders?bytes=20000")));
  ASSERT_FALSE(big.start());
  ASSERT_TRUE(big.wait_error(20s));
  EXPECT_EQ(big.errors().front().code, errc::handshake_failed) << first_error_text(big);
  EXPECT_FALSE(big.opened());
  // ...one under it opens.
  ClientHarness small(direct(url_of("ws", server, "127.0.0.1", "/bigheaders?bytes=12000")));
  ASSERT_FALSE(small.start());
  ASSERT_TRUE(small.wait_open(20s)) << first_error_text(small);
}

TEST(SecurityLimits, DefaultQueueLimitIsEnforced) {
  auto server = start_tether_server();
  // The upgrade is never answered: everything sent waits in the queue.
  ClientHarness h(direct(url_of("ws", server, "127.0.0.1", "/noanswer")));
  ASSERT_FALSE(h.start());
  for (int i = 0; i < 10000; ++i) {
    ASSERT_TRUE(h.client().send("m")) << "message " << i;
  }
  const SendResult over = h.client().send("one too many");
  EXPECT_FALSE(over);
  EXPECT_EQ(over.error, errc::queue_full);
  EXPECT_EQ(h.client().stats().messages_rejected, 1u);

  // The byte bound: 16 MiB of payload at most.
  ClientHarness bytes(direct(url_of("ws", server, "127.0.0.1", "/noanswer")));
  ASSERT_FALSE(bytes.start());
  ASSERT_TRUE(bytes.client().send(std::string(16u << 20, 'x')));
  const SendResult one_more = bytes.client().send("y");
  EXPECT_FALSE(one_more);
  EXPECT_EQ(one_more.error, errc::queue_full);
}

}  // namespace
}  // namespace tether::testing
