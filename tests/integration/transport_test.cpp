// The transport against real servers on 127.0.0.1: Python websockets (an independent
// implementation), the project's own scriptable server, tinyproxy and nginx.

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "integration/client_harness.hpp"
#include "support/servers.hpp"

namespace tether::testing {
namespace {

using namespace std::chrono_literals;

std::string ws_url(const ServerProcess& server, const std::string& path = "/") {
  return "ws://127.0.0.1:" + std::to_string(server.port()) + path;
}
std::string wss_url(const ServerProcess& server, const std::string& host = "127.0.0.1",
                    const std::string& path = "/") {
  return "wss://" + host + ":" + std::to_string(server.port()) + path;
}

ClientOptions direct(std::string url) {
  ClientOptions options;
  options.url = std::move(url);
  options.proxy = "direct";
  options.connect_timeout = 5000ms;
  return options;
}

std::string random_text(std::size_t n, std::mt19937& rng) {
  std::string s(n, 'a');
  for (auto& c : s) c = static_cast<char>('a' + rng() % 26);
  return s;
}
std::string random_bytes(std::size_t n, std::mt19937& rng) {
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng() & 0xFF);
  return s;
}

errc first_error(ClientHarness& h) {
  auto errors = h.errors();
  return errors.empty() ? errc{} : errors.front().code;
}

// `from_callback`: the first echo's callback sends every other message, largest first, on the
// loop thread, where a large one finding nothing queued is written straight to the socket (whole,
// or partly with the rest kept by the connection and the message by the queue).
void expect_round_trips(const std::string& url, bool from_callback = false) {
  const std::vector<std::size_t> sizes = {0, 1, 125, 126, 65535, 65536, 1 << 20, 16u << 20};
  auto options = direct(url);
  // Everything is sent at once: about 34 MiB wait in the queue (default bound 16 MiB).
  options.queue.max_bytes = 64u << 20;
  ClientHarness h(options);
  std::mt19937 rng(7);
  std::vector<Received> expected;
  for (std::size_t size : sizes) {
    expected.push_back({MessageKind::text, random_text(size, rng)});
    expected.push_back({MessageKind::binary, random_bytes(size, rng)});
  }
  // Largest first after the first echo: the 16 MiB one finds the connection idle.
  if (from_callback) std::reverse(expected.begin() + 1, expected.end());
  auto send_from = [&h, &expected](std::size_t first) {
    std::size_t refused = 0;
    for (std::size_t i = first; i < expected.size(); ++i) {
      const auto& m = expected[i];
      auto result =
          m.kind == MessageKind::text ? h.client().send(m.data) : h.client().send_binary(m.data);
      if (!result) ++refused;
    }
    return refused;
  };
  std::atomic<std::size_t> refused{0};
  std::mutex mutex;
  std::vector<Received> echoes;
  if (from_callback) {
    h.client().on_open([&](const OpenInfo&) {
      const auto& m = expected.front();
      if (!(m.kind == MessageKind::text ? h.client().send(m.data) : h.client().send_binary(m.data)))
        ++refused;
    });
    h.client().on_message([&](const Message& m) {
      std::size_t n = 0;
      {
        std::lock_guard<std::mutex> lock(mutex);
        echoes.push_back({m.kind, std::string(m.data)});
        n = echoes.size();
      }
      if (n == 1) refused += send_from(1);
    });
  }
  ASSERT_FALSE(h.start());
  if (!from_callback) {
    ASSERT_TRUE(h.wait_open());
    refused = send_from(0);
  }
  ASSERT_EQ(refused.load(), 0u);
  std::vector<Received> got;
  if (from_callback) {
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    for (;;) {
      {
        std::lock_guard<std::mutex> lock(mutex);
        if (echoes.size() >= expected.size()) {
          got = echoes;
          break;
        }
      }
      ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "not every echo arrived";
      std::this_thread::sleep_for(10ms);
    }
  } else {
    ASSERT_TRUE(h.wait_messages(expected.size(), 60s)) << h.messages().size() << " received";
    got = h.messages();
  }
  ASSERT_TRUE(h.wait_sent(expected.size()));
  ASSERT_EQ(got.size(), expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(got[i].kind, expected[i].kind) << "message " << i;
    EXPECT_TRUE(got[i].data == expected[i].data) << "message " << i << " of "
                                                 << expected[i].data.size() << " bytes differs";
  }
  h.client().close(1000, "done");
  ASSERT_TRUE(h.wait_close());
  EXPECT_EQ(h.closes().front().code, 1000);
  EXPECT_TRUE(h.closes().front().clean);
  EXPECT_TRUE(h.errors().empty());
}

TEST(TransportPython, RoundTripsAreByteExactAtEverySize) {
  auto server = start_python_echo();
  expect_round_trips(ws_url(server));
}

TEST(TransportOwnServer, RoundTripsAreByteExactAtEverySize) {
  auto server = start_tether_server();
  expect_round_trips(ws_url(server, "/echo"));
}

TEST(TransportPython, RoundTripsSentFromACallbackAreByteExact) {
  auto server = start_python_echo();
  expect_round_trips(ws_url(server), true);
}

TEST(TransportOwnServer, RoundTripsSentFromACallbackAreByteExact) {
  auto server = start_tether_server();
  expect_round_trips(ws_url(server, "/echo"), true);
}

TEST(TransportPython, ServerFragmentedMessagesWithPingsBetweenFragments) {
  PythonEchoOptions options;
  options.frag = 1000;
  options.ping_between = true;
  auto server = start_python_echo(options);
  ClientHarness h(direct(ws_url(server)));
  ASSERT_FALSE(h.start());
  ASSERT_TRUE(h.wait_open());
  std::mt19937 rng(3);
  const std::string text = random_text(10'000, rng);
  const std::string multibyte = "h\xC3\xA9llo w\xC3\xB6rld \xF0\x9F\x98\x80 " + text.substr(0, 3000);
  const std::string binary = random_bytes(50'000, rng);
  h.client().send(text);
  h.client().send(multibyte);
  h.client().send_binary(binary);
  ASSERT_TRUE(h.wait_messages(3));
  auto got = h.messages();
  EXPECT_EQ(got[0].data, text);
  EXPECT_EQ(got[1].data, multibyte);
  EXPECT_EQ(got[2].data, binary);
  EXPECT_TRUE(h.errors().empty());
}

TEST(TransportPython, TenThousandMessagesArriveInOrder) {
  auto server = start_python_echo();
  ClientHarness h(direct(ws_url(server)));
  ASSERT_FALSE(h.start());
  // Sent before the connection opens: they wait, then go out in order.
  for (int i = 0; i < 10'000; ++i) ASSERT_TRUE(h.client().send("message " + std::to_string(i)));
  ASSERT_TRUE(h.wait_messages(10'000, 60s));
  auto got = h.messages();
  for (int i = 0; i < 10'000; ++i) ASSERT_EQ(got[i].data, "message " + std::to_string(i));
  EXPECT_TRUE(h.wait_sent(10'000, 5s));
}

TEST(TransportOwnServer, SendsFromFourThreadsAllArrive) {
  auto server = start_tether_server();
  ClientHarness h(direct(ws_url(server, "/echo")));
  ASSERT_FALSE(h.start());
  ASSERT_TRUE(h.wait_open());
  constexpr int kThreads = 4;
  constexpr int kEach = 2500;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) h.client().send(std::to_string(t) + ":" + std::to_string(i));
    });
  }
  for (auto& thread : threads) thread.join();
  ASSERT_TRUE(h.wait_messages(kThreads * kEach, 60s));
  // Per-thread order is preserved; every message arrives exactly once.
  std::vector<int> next(kThreads, 0);
  for (const auto& m : h.messages()) {
    const auto colon = m.data.find(':');
    const int t = std::stoi(m.data.substr(0, colon));
    const int i = std::stoi(m.data.substr(colon + 1));
    ASSERT_EQ(i, next[t]) << "thread " << t;
    ++next[t];
  }
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(next[t], kEach);
}

// A read holding many small messages is decoded in slices, and what the messages delivered so far
// made the application send is written between slices: the peer works on the replies while the
// rest of the read is delivered, instead of waiting for the whole read. The server pushes 3,000
// messages of 64 B (about 200 KB) at once; each one gets a reply from on_message. Without the
// slices, the first reply leaves only after every message of the first read has been delivered
// (991 or 1,937 of them in trials on loopback).
TEST(TransportOwnServer, RepliesLeaveWhileALargeReadIsStillBeingDelivered) {
  auto server = start_tether_server();
  constexpr int kPushed = 3000;
  constexpr std::size_t kSize = 64;
  Client client(direct(ws_url(server, "/send?count=3000&size=64")), silent_runtime());
  std::mutex mutex;
  std::condition_variable changed;
  int delivered = 0;
  int delivered_when_first_sent = -1;
  int sent = 0;
  client.on_message([&](const Message& m) {
    if (m.data.size() != kSize) return;  // the server's echo of a reply
    {
      std::lock_guard<std::mutex> lock(mutex);
      ++delivered;
    }
    EXPECT_TRUE(client.send("r"));
  });
  client.on_sent([&](MessageId, std::size_t) {
    std::lock_guard<std::mutex> lock(mutex);
    if (delivered_when_first_sent < 0) delivered_when_first_sent = delivered;
    ++sent;
    changed.notify_all();
  });
  ASSERT_FALSE(client.start());
  {
    std::unique_lock<std::mutex> lock(mutex);
    ASSERT_TRUE(changed.wait_for(lock, 30s, [&] { return sent == kPushed; }))
        << delivered << " delivered, " << sent << " replies sent";
  }
  EXPECT_GE(delivered_when_first_sent, 1);
  // One 16 KiB slice holds 248 of these frames.
  EXPECT_LT(delivered_when_first_sent, 500);
  client.close();
}

TEST(TransportOwnServer, FramesArrivingWhileClosingAreReadUpToThePeersClose) {
  // The server pushes megabytes; the client closes at the first message. Everything the server
  // wrote before its close reply still arrives, in large reads, while the client is closing: each
  // read is decoded to its end, so the close handshake completes cleanly.
  auto server = start_tether_server();
  ClientHarness h(direct(ws_url(server, "/send?count=20000&size=1000")));
  std::atomic<bool> asked{false};
  h.client().on_message([&](const Message&) {
    if (!asked.exchange(true)) h.client().close(1000, "enough");
  });
  ASSERT_FALSE(h.start());
  ASSERT_TRUE(h.wait_close(30s));
  const auto closes = h.closes();
  ASSERT_EQ(closes.size(), 1u);
  EXPECT_EQ(closes[0].code, 1000);
  EXPECT_TRUE(closes[0].clean);
  EXPECT_TRUE(h.errors().empty()) << to_string(h.errors().front().code) << ": "
                                  << h.errors().front().message;
}

// --- TLS ----------------------------------------------------------------------------------------

ServerProcess tls_echo(const std::string& cert, const std::string& key) {
  PythonEchoOptions options;
  options.tls_cert = cert;
  options.tls_key = key;
  return start_python_echo(options);
}

TEST(TransportTls, WssWithTheGeneratedCa) {
  const auto& certs = test_certs();
  auto server = tls_echo(certs.server_cert, certs.server_key);
  for (const char* host : {"127.0.0.1", "localhost"}) {
    auto options = direct(wss_url(server, host));
    options.tls.ca_file = certs.ca;
    ClientHarness h(options);
    ASSERT_FALSE(h.start());
    ASSERT_TRUE(h.wait_open()) << host;
    h.client().send("over tls");
    ASSERT_TRUE(h.wait_messages(1));
    EXPECT_EQ(h.messages()[0].data, "over tls");
    h.client().close();
    ASSERT_TRUE(h.wait_close());
    EXPECT_TRUE(h.closes()[0].clean);
  }
}

void expect_verify_failure(const std::string& cert, const std::string& key,
                           const std::string& reason_part, const std::string& ca) {
  auto server = tls_echo(cert, key);
  auto options = direct(wss_url(server));
  options.tls.ca_file = ca;
  ClientHarness h(options);
  ASSERT_FALSE(h.start());
  ASSERT_TRUE(h.wait_error());
  auto error = h.errors().front();
  EXPECT_EQ(error.code, errc::tls_verify_failed) << error.message;
  EXPECT_NE(error.message.find(reason_part), std::string::npos) << error.message;
  EXPECT_FALSE(h.opened());

  // The same server is accepted in insecure mode.
  options.tls.insecure = true;
  ClientHarness insecure(options);
  ASSERT_FALSE(insecure.start());
  ASSERT_TRUE(insecure.wait_open());
  insecure.client().send("anyway");
  ASSERT_TRUE(insecure.wait_messages(1));
}

TEST(TransportTls, SelfSignedIsRejectedWithItsReason) {
  const auto& certs = test_certs();
  expect_verify_failure(certs.self_signed_cert, certs.self_signed_key, "self-signed", certs.ca);
}

TEST(TransportTls, WrongHostIsRejectedWithItsReason) {
  const auto& certs = test_certs();
  expect_verify_failure(certs.wrong_host_cert, certs.wrong_host_key, "mismatch", certs.ca);
}

TEST(TransportTls, ExpiredIsRejectedWithItsReason) {
  const auto& certs = test_certs();
  expect_verify_failure(certs.expired_cert, certs.expired_key, "expired", certs.ca);
}

TEST(TransportTls, UnknownCaIsRejected) {
  const auto& certs = test_certs();
  expect_verify_failure(certs.server_cert, certs.server_key, "local issuer", "");
}

TEST(TransportTls, MissingCaFileFailsUpFront) {
  auto options = direct("wss://127.0.0.1:1/");
  options.tls.ca_file = "/nonexistent/ca.pem";
  ClientHarness h(options);
  auto error = h.start();
  ASSERT_TRUE(error);
  EXPECT_EQ(error.code, errc::invalid_argument);
  EXPECT_NE(error.message.find("/nonexistent/ca.pem"), std::string::npos) << error.message;
}

TEST(TransportTls, WssToAPlainServerIsATlsHandshakeFailure) {
  auto server = start_python_echo();
  ClientHarness h(direct(wss_url(server)));
  ASSERT_FALSE(h.start());
  ASSERT_TRUE(h.wait_error());
  EXPECT_EQ(first_error(h), errc::tls_handshake_failed) << h.errors()[0].message;
}

TEST(TransportTls, WssThroughNginx) {
  const auto& certs = test_certs();
  auto echo = start_python_echo();
  auto nginx = start_nginx_tls_proxy(echo.port(), certs);
  auto options = direct(wss_url(nginx, "localhost"));
  options.tls.ca_file = certs.ca;
  ClientHarness h(options);
  ASSERT_FALSE(h.start());
  ASSERT_TRUE(h.wait_open());
  std::mt19937 rng(11);
  const std::string big = random_bytes(1 << 20, rng);
  h.client().send_binary(big);
  h.client().send("after the big one");
  ASSERT_TRUE(h.wait_messages(2, 30s));
  EXPECT_TRUE(h.messages()[0].data == big);
  EXPECT_EQ(h.messages()[1].data, "after the big one");
}

// --- proxy --------------------------------------------------------------------------------------

TEST(TransportProxy, WsAndWssThroughTinyproxy) {
  const auto& certs = test_certs();
  auto proxy = start_tinyproxy();
  auto plain = start_python_echo();
  auto tls = tls_echo(certs.server_cert, certs.server_key);
  for (const std::string& url : {ws_url(plain), wss_url(tls, "localhost")}) {
    ClientOptions options;
    options.url = url;
    options.proxy = "http://127.0.0.1:" + std::to_string(proxy.port());
    options.tls.ca_file = certs.ca;
    ClientHarness h(options);
    ASSERT_FALSE(h.start());
    ASSERT_TRUE(h.wait_open()) << url << (h.errors().empty() ? "" : h.errors()[0].message);
    h.client().send("through the tunnel");
    ASSERT_TRUE(h.wait_messages(1));
    EXPECT_EQ(h.messages()[0].data, "through the tunnel");
  }
}

TEST(TransportProxy, AuthFailureIsReportedWithTheProxyStatus) {
  TinyproxyOptions proxy_options;
  proxy_options.basic_auth_user = "alice";
  proxy_options.basic_auth_pass = "s3cret";
  auto proxy = start_tinyproxy(proxy_options);
  auto echo = start_python_echo();
  {
    ClientOptions options;
    options.url = ws_url(echo);
    options.proxy = "http://127.0.0.1:" + std::to_string(proxy.port());
    ClientHarness h(options);
    ASSERT_FALSE(h.start());
    ASSERT_TRUE(h.wait_error());
    auto error = h.errors().front();
    EXPECT_EQ(error.code, errc::proxy_failed);
    EXPECT_NE(error.message.find("407"), std::string::npos) << error.message;
    EXPECT_EQ(error.http_status, 407);
  }
  {
    ClientOptions options;
    options.url = ws_url(echo);
    options.proxy = "http://alice:s3cret@127.0.0.1:" + std::to_string(proxy.port());
    ClientHarness h(options);
    ASSERT_FALSE(h.start());
    ASSERT_TRUE(h.wait_open());
  }
}

TEST(TransportProxy, EnvironmentProxyAndNoProxyBypass) {
  auto proxy = start_tinyproxy();
  auto echo = start_python_echo();
  const std::string proxy_url = "http://127.0.0.1:" + std::to_string(proxy.port());
  ::setenv("http_proxy", proxy_url.c_str(), 1);
  ::setenv("no_proxy", "example.com", 1);
  {
    ClientOptions options;
    options.url = ws_url(echo);
    ClientHarness h(options);
    ASSERT_FALSE(h.start());
    ASSERT_TRUE(h.wait_open());
    EXPECT_TRUE(proxy.wait_for_log("CONNECT", 5s)) << proxy.log();
  }
  const std::size_t connects = proxy.count_in_log("CONNECT");
  ::setenv("no_proxy", "localhost,127.0.0.1", 1);
  {
    ClientOptions options;
    options.url = ws_url(echo);
    ClientHarness h(options);
    ASSERT_FALSE(h.start());
    ASSERT_TRUE(h.wait_open());
  }
  EXPECT_EQ(proxy.count_in_log("CONNECT"), connects) << "no_proxy was not honoured";
  ::unsetenv("http_proxy");
  ::unsetenv("no_proxy");
}

// --- every error name from a real situation ----------------------------------------------------

TEST(TransportErrors, RefusedPortIsConnectRefused) {
  const int port = free_port();
  ClientHarness h(direct("ws://127.0.0.1:" + std::to_string(port) + "/"));
  ASSERT_FALSE(h.start());
  ASSERT_TRUE(h.wait_error());
  EXPECT_EQ(first_error(h), errc::connect_refused) << h.errors()[0].message;
}

TEST(TransportErrors, UnresolvableHostIsDnsFailed) {
  ClientHarness h(direct("ws://no-such-host.invalid/"));
  ASSERT_FALSE(h.start());
  ASSERT_TRUE(h.wait_error(30s));
  EXPECT_EQ(first_error(h), errc::dns_failed) << h.errors()[0].message;
}

TEST(TransportErrors, InvalidUrlBeforeAnyIo) {
  for (const char* url : {"http://127.0.0.1/", "ws://", "ws://host:99999/", "wss://[::1/"}) {
    ClientHarness h(direct(url));
    auto error = h.start();
    EXPECT_EQ(error.code, errc::invalid_url) << url;
  }
}

TEST(TransportErrors, ServerThatNeverAnswersIsConnectTimeout) {
  auto server = start_tether_server();
  auto options = direct(ws_url(server, "/noanswer"));
  options.connect_timeout = 300ms;
  ClientHarness h(options);
  const auto start = std::chrono::steady_clock::now();
  ASSERT_FALSE(h.start());
  ASSERT_TRUE(h.wait_error());
  const auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(first_error(h), errc::connect_timeout) << h.errors()[0].message;
  EXPECT_LT(elapsed, 5s);
}

TEST(TransportErrors, RejectedUpgradeIsHandshakeRejectedWithStatusAndHeaders) {
  auto server = start_tether_server();
  auto options =
      direct(ws_url(server, "/status?code=429&reason=Too%20Many&header=Retry-After:%2030"));
  options.reconnect.enabled = false;
  ClientHarness h(options);
  ASSERT_FALSE(h.start());
  ASSERT_TRUE(h.wait_error());
  auto error = h.errors().front();
  EXPECT_EQ(error.code, errc::handshake_rejected) << error.message;
  EXPECT_EQ(error.http_status, 429);
  EXPECT_NE(error.message.find("429"), std::string::npos);
  bool retry_after = false;
  for (auto& [name, value] : error.http_headers) retry_after |= name == "Retry-After" && value == "30";
  EXPECT_TRUE(retry_after);
}

TEST(TransportErrors, ForbiddenUpgradeIsAuthRejected) {
  auto server = start_tether_server();
  ClientHarness h(direct(ws_url(server, "/status?code=403&reason=Forbidden")));
  ASSERT_FALSE(h.start());
  ASSERT_TRUE(h.wait_error());
  auto error = h.errors().front();
  EXPECT_EQ(error.code, errc::auth_rejected) << error.message;
  EXPECT_EQ(error.http_status, 403);
  EXPECT_TRUE(h.wait_finished());
  EXPECT_EQ(h.client().state(), State::failed);
}

TEST(TransportErrors, WrongAcceptIsHandshakeFailed) {
  auto server = start_tether_server();
  ClientHarness h(direct(ws_url(server, "/reply101?accept=bad")));
  ASSERT_FALSE(h.start());
  ASSERT_TRUE(h.wait_error());
  EXPECT_EQ(first_error(h), errc::handshake_failed) << h.errors()[0].message;
}

TEST(TransportErrors, UnofferedSubprotocolIsHandshakeFailed) {
  auto server = start_tether_server();
  ClientHarness h(direct(ws_url(server, "/echo?protocol_force=evil")));
  ASSERT_FALSE(h.start());
  ASSERT_TRUE(h.wait_error());
  EXPECT_EQ(first_error(h), errc::handshake_failed) << h.errors()[0].message;
}

TEST(TransportErrors, OfferedSubprotocolIsSelected) {
  PythonEchoOptions options;
  options.subprotocols = {"chat.v2"};
  auto server = start_python_echo(options);
  auto client_options = direct(ws_url(server));
  client_options.subprotocols = {"chat.v1", "chat.v2"};
  ClientHarness h(client_options);
  ASSERT_FALSE(h.start());
  ASSERT_TRUE(h.wait_open());
  EXPECT_EQ(h.subprotocol(), "chat.v2");
}

void expect_failed_connection(const std::string& path, errc code, std::uint16_t close_code) {
  auto server = start_tether_server({"--log", "/dev/stdout"});
  ClientHarness h(direct(ws_url(server, path)));
  ASSERT_FALSE(h.start());
  ASSERT_TRUE(h.wait_open());
  ASSERT_TRUE(h.wait_close());
  EXPECT_EQ(first_error(h), code) << (h.errors().empty() ? "" : h.errors()[0].message);
  EXPECT_EQ(h.closes()[0].code, close_code);
  EXPECT_TRUE(h.closes()[0].by_client);
  // The server saw the client's close code.
  EXPECT_TRUE(server.wait_for_log("\"code\":" + std::to_string(close_code), 5s)) << server.log();
}

TEST(TransportErrors, MaskedServerFrameIsProtocolError1002) {
  expect_failed_connection("/frames?hex=818101020304" "69&then=echo", errc::protocol_error, 1002);
}

TEST(TransportErrors, InvalidUtf8IsInvalidUtf8With1007) {
  expect_failed_connection("/frames?hex=8102c0af&then=echo", errc::invalid_utf8, 1007);
}

TEST(TransportErrors, OversizeMessageIsMessageTooBigWith1009) {
  auto server = start_tether_server({"--log", "/dev/stdout"});
  auto options = direct(ws_url(server, "/echo"));
  options.max_message = 1000;
  ClientHarness h(options);
  ASSERT_FALSE(h.start());
  ASSERT_TRUE(h.wait_open());
  h.client().send(std::string(5000, 'x'));
  ASSERT_TRUE(h.wait_close());
  EXPECT_EQ(first_error(h), errc::message_too_big);
  EXPECT_EQ(h.closes()[0].code, 1009);
}

TEST(TransportErrors, DroppedConnectionIsConnectionLost1006) {
  auto server = start_tether_server();
  ClientHarness h(direct(ws_url(server, "/drop?after_ms=50")));
  ASSERT_FALSE(h.start());
  ASSERT_TRUE(h.wait_close());
  EXPECT_EQ(first_error(h), errc::connection_lost);
  EXPECT_EQ(h.closes()[0].code, 1006);
  EXPECT_FALSE(h.closes()[0].clean);
}

TEST(TransportErrors, RedirectsAreNotFollowedUnlessEnabled) {
  auto server = start_tether_server();
  const std::string target = ws_url(server, "/echo");
  const std::string path = "/status?code=302&reason=Found&header=Location:%20" + target;
  {
    ClientHarness h(direct(ws_url(server, path)));
    ASSERT_FALSE(h.start());
    ASSERT_TRUE(h.wait_error());
    EXPECT_EQ(first_error(h), errc::handshake_rejected);
    EXPECT_EQ(h.errors()[0].http_status, 302);
  }
  {
    auto options = direct(ws_url(server, path));
    options.follow_redirects = true;
    ClientHarness h(options);
    ASSERT_FALSE(h.start());
    ASSERT_TRUE(h.wait_open());
    h.client().send("redirected");
    ASSERT_TRUE(h.wait_messages(1));
    EXPECT_EQ(h.messages()[0].data, "redirected");
  }
}

// --- close codes both ways ---------------------------------------------------------------------

TEST(TransportClose, ServerCloseCodeAndReasonArriveAsSent) {
  for (int code : {1000, 1001, 1012, 1013, 4000, 4999}) {
    PythonEchoOptions options;
    options.close_code = code;
    options.close_reason = "reason " + std::to_string(code);
    auto server = start_python_echo(options);
    ClientHarness h(direct(ws_url(server)));
    ASSERT_FALSE(h.start());
    ASSERT_TRUE(h.wait_close()) << code;
    auto info = h.closes()[0];
    EXPECT_EQ(info.code, code);
    EXPECT_EQ(info.reason, "reason " + std::to_string(code));
    EXPECT_FALSE(info.by_client);
    EXPECT_TRUE(info.clean);
    EXPECT_TRUE(h.errors().empty());
  }
}

TEST(TransportClose, ClientCloseCodeAndReasonReachTheServer) {
  auto server = start_python_echo();
  ClientHarness h(direct(ws_url(server)));
  ASSERT_FALSE(h.start());
  ASSERT_TRUE(h.wait_open());
  h.client().close(4321, "client says bye");
  ASSERT_TRUE(h.wait_close());
  EXPECT_EQ(h.closes()[0].code, 4321);
  EXPECT_TRUE(h.closes()[0].by_client);
  EXPECT_TRUE(server.wait_for_log("CLOSE 4321 client says bye", 5s)) << server.log();
}

TEST(TransportClose, ServerClose1012IsKept) {
  auto server = start_tether_server();
  ClientHarness h(direct(ws_url(server, "/close?code=1012&reason=restarting")));
  ASSERT_FALSE(h.start());
  ASSERT_TRUE(h.wait_close());
  EXPECT_EQ(h.closes()[0].code, 1012);
  EXPECT_EQ(h.closes()[0].reason, "restarting");
}

TEST(TransportLifetime, DestroyingAClientWithAnOpenConnectionClosesIt) {
  auto server = start_python_echo();
  auto runtime = silent_runtime();
  {
    Client client(direct(ws_url(server)), runtime);
    std::atomic<bool> open{false};
    client.on_open([&](const OpenInfo&) { open = true; });
    ASSERT_FALSE(client.start());
    for (int i = 0; i < 500 && !open; ++i) std::this_thread::sleep_for(10ms);
    ASSERT_TRUE(open);
  }
  EXPECT_TRUE(server.wait_for_log("CLOSE 1000", 5s)) << server.log();
  runtime.reset();
}

TEST(TransportLifetime, DestroyingTheClientFromItsOwnCallback) {
  auto server = start_python_echo();
  auto runtime = silent_runtime();
  auto client = std::make_unique<Client>(direct(ws_url(server)), runtime);
  std::atomic<bool> destroyed{false};
  Client* raw = client.get();
  raw->on_message([&](const Message&) {
    client.reset();  // inside the client's own callback
    destroyed = true;
  });
  ASSERT_FALSE(raw->start());
  raw->send("bye");
  for (int i = 0; i < 500 && !destroyed; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_TRUE(destroyed);
  EXPECT_TRUE(server.wait_for_log("CLOSE 1000", 5s)) << server.log();
}

TEST(TransportLifetime, OneRuntimeCarriesManyConnections) {
  auto server = start_tether_server();
  auto runtime = silent_runtime();
  std::vector<std::unique_ptr<ClientHarness>> clients;
  for (int i = 0; i < 50; ++i) {
    clients.push_back(std::make_unique<ClientHarness>(direct(ws_url(server, "/echo")), runtime));
    ASSERT_FALSE(clients.back()->start());
  }
  for (int i = 0; i < 50; ++i) clients[i]->client().send("client " + std::to_string(i));
  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE(clients[i]->wait_messages(1)) << i;
    EXPECT_EQ(clients[i]->messages()[0].data, "client " + std::to_string(i));
  }
}

TEST(TransportPoll, NoThreadModeRunsOnlyInsidePoll) {
  auto server = start_python_echo();
  auto runtime = silent_runtime(false);
  Client client(direct(ws_url(server)), runtime);
  std::vector<std::string> got;
  client.on_message([&](const Message& m) { got.emplace_back(m.data); });
  ASSERT_FALSE(client.start());
  client.send("polled");
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (got.empty() && std::chrono::steady_clock::now() < deadline) {
    runtime->poll();
    std::this_thread::sleep_for(1ms);
  }
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0], "polled");
}

}  // namespace
}  // namespace tether::testing
