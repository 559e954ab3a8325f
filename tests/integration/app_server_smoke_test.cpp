// The /app scenario of tether_test_server (the SDK's JSON envelope: auth, subscriptions, the
// resumable stream, request/response), driven by a small blocking client built on tether's codec
// only, independent of the SDK's session code. Each test starts its own server with --log and
// checks both what the client receives and the event lines the server writes.

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <deque>
#include <iostream>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "protocol/frame.hpp"
#include "protocol/frame_decoder.hpp"
#include "protocol/frame_writer.hpp"
#include "protocol/handshake.hpp"
#include "protocol/handshake_key.hpp"
#include "protocol/http_head.hpp"
#include "protocol/random.hpp"
#include "support/process.hpp"
#include "support/servers.hpp"

namespace tether::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using protocol::Opcode;
using Result = protocol::HandshakeResponse::Result;

// --- a blocking WebSocket client on the codec ----------------------------------------------------

class AppClient final : public protocol::FrameSink {
 public:
  /// Connects to 127.0.0.1:`port` and performs the opening handshake for `target`.
  AppClient(int port, const std::string& target, std::vector<protocol::Header> headers = {})
      : masks_(random_) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) throw std::runtime_error("socket failed");
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      ::close(fd_);
      throw std::runtime_error("connect to port " + std::to_string(port) + " failed");
    }
    protocol::HandshakeRequest request;
    request.host = "127.0.0.1";
    request.port = static_cast<std::uint16_t>(port);
    request.target = target;
    request.headers = std::move(headers);
    const std::string key = protocol::make_handshake_key(random_);
    response_.emplace(key, std::vector<std::string>{});
    const std::string bytes = protocol::build_handshake_request(request, key);
    if (bytes.empty()) throw std::runtime_error("the handshake request was refused");
    write_all(bytes);
    const auto deadline = Clock::now() + 5s;
    while (result_ == Result::need_more) {
      const auto chunk = read_some(deadline);
      if (!chunk) throw std::runtime_error("timed out waiting for the upgrade response");
      if (chunk->empty()) {
        result_ = response_->on_eof();
        break;
      }
      std::size_t consumed = 0;
      result_ = response_->feed(reinterpret_cast<const std::uint8_t*>(chunk->data()), chunk->size(),
                                &consumed);
      if (result_ == Result::accepted) feed(chunk->substr(consumed));
    }
  }
  ~AppClient() override { ::close(fd_); }
  AppClient(const AppClient&) = delete;
  AppClient& operator=(const AppClient&) = delete;

  Result result() const { return result_; }
  const protocol::HandshakeResponse& response() const { return *response_; }

  void send_text(std::string_view text) { send(Opcode::text, text); }
  void send_binary(std::string_view bytes) { send(Opcode::binary, bytes); }

  /// The next data message, or nullopt when none arrives within `timeout` (or the connection
  /// ended first).
  std::optional<std::pair<Opcode, std::string>> next(std::chrono::milliseconds timeout = 5s) {
    const auto deadline = Clock::now() + timeout;
    while (messages_.empty()) {
      if (eof_ || close_received_ || !read_more(deadline)) return std::nullopt;
    }
    auto message = std::move(messages_.front());
    messages_.pop_front();
    return message;
  }

  /// The next message's text; "" (and a test failure) when it is missing or binary.
  std::string next_text(std::chrono::milliseconds timeout = 5s) {
    const auto message = next(timeout);
    EXPECT_TRUE(message.has_value()) << "no message within " << timeout.count() << " ms";
    if (!message) return std::string();
    EXPECT_EQ(message->first, Opcode::text);
    return message->second;
  }

  /// True when no data message arrives within `wait`.
  bool quiet_for(std::chrono::milliseconds wait) {
    const auto deadline = Clock::now() + wait;
    while (messages_.empty() && !eof_ && !close_received_) {
      if (!read_more(deadline)) break;
    }
    return messages_.empty();
  }

  /// Reads until the server closes TCP (true) or `timeout` passes (false); messages received on
  /// the way stay queued for next().
  bool wait_eof(std::chrono::milliseconds timeout = 5s) {
    const auto deadline = Clock::now() + timeout;
    while (!eof_) {
      if (!read_more(deadline)) return false;
    }
    return true;
  }

  /// Reads until a close frame arrives (true) or `timeout` passes (false).
  bool wait_close(std::chrono::milliseconds timeout = 5s) {
    const auto deadline = Clock::now() + timeout;
    while (!close_received_) {
      if (eof_ || !read_more(deadline)) return false;
    }
    return true;
  }

  void close(std::uint16_t code) {
    std::string out;
    protocol::encode_close_frame(out, code, "", &masks_);
    write_all(out);
    close_sent_ = true;
  }

  bool close_received() const { return close_received_; }
  std::uint16_t close_code() const { return close_code_; }
  const std::string& close_reason() const { return close_reason_; }

  // FrameSink
  void on_message(Opcode op, std::string_view payload) override {
    messages_.emplace_back(op, std::string(payload));
  }
  void on_ping(std::string_view payload) override { pings_.emplace_back(payload); }
  void on_pong(std::string_view) override {}
  void on_close(std::uint16_t code, std::string_view reason) override {
    close_received_ = true;
    close_code_ = code;
    close_reason_ = std::string(reason);
  }

 private:
  void send(Opcode op, std::string_view payload) {
    std::string out;
    protocol::encode_frame(out, op, true, payload, &masks_);
    write_all(out);
  }

  void write_all(std::string_view data) {
    while (!data.empty()) {
      pollfd p{fd_, POLLOUT, 0};
      if (::poll(&p, 1, 5000) != 1) throw std::runtime_error("write timed out");
      const ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) throw std::runtime_error("write failed");
      data.remove_prefix(static_cast<std::size_t>(n));
    }
  }

  /// Some bytes; "" at EOF or on an error; nullopt when nothing arrived before `deadline`.
  std::optional<std::string> read_some(Clock::time_point deadline) {
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(std::max<long long>(0, left.count()))) != 1) {
      return std::nullopt;
    }
    char buf[65536];
    const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n <= 0) return std::string();
    return std::string(buf, static_cast<std::size_t>(n));
  }

  /// False on timeout; sets eof_ when the connection ended.
  bool read_more(Clock::time_point deadline) {
    const auto chunk = read_some(deadline);
    if (!chunk) return false;
    if (chunk->empty()) {
      eof_ = true;
      return true;
    }
    feed(*chunk);
    return true;
  }

  void feed(const std::string& bytes) {
    if (bytes.empty()) return;
    const std::size_t pings_before = pings_.size();
    if (!decoder_.feed(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size(), *this)) {
      throw std::runtime_error("bad frames: " + decoder_.error().message);
    }
    for (std::size_t i = pings_before; i < pings_.size(); ++i) send(Opcode::pong, pings_[i]);
    if (close_received_ && !close_sent_) {
      std::string out;
      protocol::encode_close_frame(out, close_code_, "", &masks_);
      write_all(out);
      close_sent_ = true;
    }
  }

  int fd_ = -1;
  protocol::CsprngSource random_;
  protocol::MaskKeyPool masks_;
  std::optional<protocol::HandshakeResponse> response_;
  Result result_ = Result::need_more;
  protocol::FrameDecoder decoder_{protocol::DecoderOptions{protocol::Role::client, 0}};
  std::deque<std::pair<Opcode, std::string>> messages_;
  std::vector<std::string> pings_;
  bool eof_ = false;
  bool close_received_ = false;
  bool close_sent_ = false;
  std::uint16_t close_code_ = 0;
  std::string close_reason_;
};

std::string event_frame(std::uint64_t seq) {
  const std::string n = std::to_string(seq);
  return R"({"type":"event","seq":)" + n + R"(,"payload":{"n":)" + n + "}}";
}

// --- the fixture: one server per test, with its event log ----------------------------------------

class AppServerSmoke : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { signal(SIGPIPE, SIG_IGN); }
  void SetUp() override { start(); }
  void TearDown() override {
    if (HasFailure()) std::cerr << "server event log:\n" << read_file(log_path_);
    server_.stop();
    EXPECT_TRUE(child_processes().empty()) << "a server process outlived its test";
  }

  void start(std::vector<std::string> extra = {}) {
    server_.stop();
    std::vector<std::string> args = {"--log", log_path_};
    args.insert(args.end(), extra.begin(), extra.end());
    server_ = start_tether_server(args);
  }
  int port() const { return server_.port(); }

  std::vector<std::string> log_lines() const {
    std::vector<std::string> lines;
    const std::string text = read_file(log_path_);
    std::size_t pos = 0;
    while (pos < text.size()) {
      const std::size_t eol = text.find('\n', pos);
      if (eol == std::string::npos) break;  // a line still being written
      lines.push_back(text.substr(pos, eol - pos));
      pos = eol + 1;
    }
    return lines;
  }
  /// The position of the exact line in the log, or -1.
  long index_of(const std::string& line) const {
    const auto lines = log_lines();
    const auto it = std::find(lines.begin(), lines.end(), line);
    return it == lines.end() ? -1 : static_cast<long>(it - lines.begin());
  }
  /// Polls until the exact line is in the log.
  bool wait_for_line(const std::string& line, std::chrono::milliseconds timeout = 5s) const {
    const auto deadline = Clock::now() + timeout;
    for (;;) {
      if (index_of(line) >= 0) return true;
      if (Clock::now() >= deadline) return false;
      std::this_thread::sleep_for(10ms);
    }
  }
  std::size_t count_containing(std::string_view needle) const {
    const auto lines = log_lines();
    return static_cast<std::size_t>(std::count_if(lines.begin(), lines.end(), [&](const auto& l) {
      return l.find(needle) != std::string::npos;
    }));
  }

  TempDir dir_{"tether-app"};
  std::string log_path_ = dir_.file("events.log");
  ServerProcess server_;
};

// --- auth ----------------------------------------------------------------------------------------

TEST_F(AppServerSmoke, MessageAuthAcceptedThenRequests) {
  AppClient ws(port(), "/app?token=good&token=other");
  ASSERT_EQ(ws.result(), Result::accepted) << ws.response().error_message();
  const std::string auth = R"({"type":"auth","id":"a1","payload":{"token":"other"}})";
  ws.send_text(auth);
  EXPECT_EQ(ws.next_text(), R"({"id":"a1","payload":{"ok":true}})");

  ws.send_text(R"({"type":"echo","id":"r1","payload":{"x":[1,2.5,null],"s":"\u00e9t\u00e9"}})");
  EXPECT_EQ(ws.next_text(), R"({"id":"r1","payload":{"x":[1,2.5,null],"s":"été"}})");
  ws.send_text(R"({"type":"echo","id":42})");  // a number id comes back as a number
  EXPECT_EQ(ws.next_text(), R"({"id":42,"payload":null})");
  ws.send_text(R"({"type":"fail","id":"r2","payload":{}})");
  EXPECT_EQ(ws.next_text(),
            R"({"id":"r2","error":{"code":"failed","message":"requested failure"}})");

  const std::string message_line =
      R"({"conn":1,"event":"message","kind":"text","bytes":)" + std::to_string(auth.size()) +
      R"(,"text":)" + R"("{\"type\":\"auth\",\"id\":\"a1\",\"payload\":{\"token\":\"other\"}}"})";
  const std::string auth_line = R"({"conn":1,"event":"auth","token":"other","ok":true})";
  ASSERT_TRUE(wait_for_line(auth_line));
  EXPECT_LT(index_of(message_line), index_of(auth_line));
  EXPECT_GE(index_of(message_line), 0);
  EXPECT_TRUE(wait_for_line(R"({"conn":1,"event":"request","type":"echo","id":"r1"})"));
  EXPECT_TRUE(wait_for_line(R"({"conn":1,"event":"request","type":"echo","id":42})"));
  EXPECT_TRUE(wait_for_line(R"({"conn":1,"event":"request","type":"fail","id":"r2"})"));
  EXPECT_EQ(count_containing(R"("event":"app_error")"), 0u);
  ws.close(1000);
  EXPECT_TRUE(ws.wait_close());
}

TEST_F(AppServerSmoke, MessageAuthRejectedWithAnErrorKeepsTheConnection) {
  AppClient ws(port(), "/app?token=good");
  ASSERT_EQ(ws.result(), Result::accepted);
  ws.send_text(R"({"type":"auth","id":"a1","payload":{"token":"bad","resume_from":3}})");
  EXPECT_EQ(ws.next_text(),
            R"({"id":"a1","error":{"code":"auth_rejected","message":"bad token"}})");
  EXPECT_TRUE(
      wait_for_line(R"({"conn":1,"event":"auth","token":"bad","ok":false,"resume_from":3})"));
  // Still open and still unauthenticated: a second attempt with a good token succeeds.
  ws.send_text(R"({"type":"auth","id":"a2","payload":{"token":"good"}})");
  EXPECT_EQ(ws.next_text(), R"({"id":"a2","payload":{"ok":true}})");
  EXPECT_TRUE(wait_for_line(R"({"conn":1,"event":"auth","token":"good","ok":true})"));
}

TEST_F(AppServerSmoke, MessageAuthRejectedWithClose4001) {
  {
    AppClient ws(port(), "/app?token=good&reject=4001");
    ASSERT_EQ(ws.result(), Result::accepted);
    ws.send_text(R"({"type":"auth","id":"a1","payload":{"token":"bad"}})");
    ASSERT_TRUE(ws.wait_close());
    EXPECT_EQ(ws.close_code(), 4001);
    EXPECT_EQ(ws.close_reason(), "unauthorized");
    EXPECT_FALSE(ws.next(100ms).has_value());  // no error response before the close
    EXPECT_TRUE(ws.wait_eof());                // the server ends TCP after the close handshake
  }
  EXPECT_TRUE(wait_for_line(R"({"conn":1,"event":"auth","token":"bad","ok":false})"));
  EXPECT_TRUE(wait_for_line(R"({"conn":1,"event":"close","code":4001,"reason":""})"));
  EXPECT_TRUE(wait_for_line(
      R"({"conn":1,"event":"disconnect","by":"server","close_received":true,"close_sent":true,"rst":false})"));
}

TEST_F(AppServerSmoke, AuthNoAnswerNeverAnswersAuth) {
  AppClient ws(port(), "/app?token=good&auth_noanswer=1");
  ASSERT_EQ(ws.result(), Result::accepted);
  ws.send_text(R"({"type":"auth","id":"a1","payload":{"token":"good"}})");
  ws.send_text(R"({"type":"ping","id":"p1"})");
  // The first answer is the request's: the auth request got none.
  EXPECT_EQ(ws.next_text(), R"({"id":"p1","payload":null})");
  EXPECT_TRUE(ws.quiet_for(200ms));
  EXPECT_TRUE(wait_for_line(R"({"conn":1,"event":"auth","token":"good","ok":true})"));
}

TEST_F(AppServerSmoke, HeaderAuth) {
  {
    AppClient ws(port(), "/app?auth_via=header&token=good");
    ASSERT_EQ(ws.result(), Result::rejected);
    EXPECT_EQ(ws.response().status(), 401);
    EXPECT_EQ(ws.response().head().header("WWW-Authenticate"),
              std::optional<std::string_view>("Bearer"));
  }
  {
    AppClient ws(port(), "/app?auth_via=header&token=good", {{"Authorization", "Bearer wrong"}});
    ASSERT_EQ(ws.result(), Result::rejected);
    EXPECT_EQ(ws.response().status(), 401);
  }
  AppClient ws(port(), "/app?auth_via=header&token=good", {{"Authorization", "Bearer good"}});
  ASSERT_EQ(ws.result(), Result::accepted) << ws.response().error_message();
  // Authenticated from the start: requests need no auth message.
  ws.send_text(R"({"type":"echo","id":"r1","payload":"x"})");
  EXPECT_EQ(ws.next_text(), R"({"id":"r1","payload":"x"})");
  EXPECT_TRUE(wait_for_line(R"({"conn":1,"event":"auth","via":"header","ok":false})"));
  EXPECT_TRUE(
      wait_for_line(R"({"conn":2,"event":"auth","via":"header","token":"wrong","ok":false})"));
  EXPECT_TRUE(
      wait_for_line(R"({"conn":3,"event":"auth","via":"header","token":"good","ok":true})"));
  EXPECT_EQ(count_containing(R"("before_auth")"), 0u);
  EXPECT_EQ(count_containing(R"("error":"auth_rejected")"), 2u);
}

TEST_F(AppServerSmoke, QueryAuth) {
  {
    AppClient ws(port(), "/app?auth_via=query&token=good&access_token=bad");
    ASSERT_EQ(ws.result(), Result::rejected);
    EXPECT_EQ(ws.response().status(), 403);
  }
  {
    AppClient ws(port(), "/app?auth_via=query&token=good");
    ASSERT_EQ(ws.result(), Result::rejected);
    EXPECT_EQ(ws.response().status(), 403);
  }
  AppClient ws(port(), "/app?auth_via=query&token=good&access_token=good");
  ASSERT_EQ(ws.result(), Result::accepted);
  ws.send_text(R"({"type":"echo","id":"r1"})");
  EXPECT_EQ(ws.next_text(), R"({"id":"r1","payload":null})");
  EXPECT_TRUE(wait_for_line(R"({"conn":1,"event":"auth","via":"query","token":"bad","ok":false})"));
  EXPECT_TRUE(wait_for_line(R"({"conn":3,"event":"auth","via":"query","token":"good","ok":true})"));
}

TEST_F(AppServerSmoke, BeforeAuthIsLoggedAndTheMessageStillProcessed) {
  AppClient ws(port(), "/app?token=good");
  ASSERT_EQ(ws.result(), Result::accepted);
  ws.send_text(R"({"type":"subscribe","id":"s1","payload":{"channel":"news"}})");
  EXPECT_EQ(ws.next_text(), R"({"id":"s1","payload":{"channel":"news"}})");
  const std::string violation =
      R"({"conn":1,"event":"app_error","error":"before_auth","message":"a 'subscribe' message before authentication"})";
  const std::string subscribe = R"({"conn":1,"event":"subscribe","channel":"news","ok":true})";
  ASSERT_TRUE(wait_for_line(subscribe));
  EXPECT_LT(index_of(violation), index_of(subscribe));
  EXPECT_GE(index_of(violation), 0);
  ws.send_text(R"({"type":"auth","id":"a1","payload":{"token":"good"}})");
  EXPECT_EQ(ws.next_text(), R"({"id":"a1","payload":{"ok":true}})");
  ws.send_text(R"({"type":"echo","id":"r1"})");
  EXPECT_EQ(ws.next_text(), R"({"id":"r1","payload":null})");
  EXPECT_EQ(count_containing(R"("before_auth")"), 1u);
}

// --- subscriptions -------------------------------------------------------------------------------

TEST_F(AppServerSmoke, SubscribeAllowedAndDenied) {
  AppClient ws(port(), "/app?deny=secret&deny=a%20b");
  ASSERT_EQ(ws.result(), Result::accepted);
  ws.send_text(R"({"type":"subscribe","id":"s1","payload":{"channel":"news"}})");
  EXPECT_EQ(ws.next_text(), R"({"id":"s1","payload":{"channel":"news"}})");
  ws.send_text(R"({"type":"subscribe","id":"s2","payload":{"channel":"secret"}})");
  EXPECT_EQ(
      ws.next_text(),
      R"({"id":"s2","error":{"code":"forbidden","message":"channel secret is not allowed"}})");
  ws.send_text(R"({"type":"subscribe","id":"s3","payload":{"channel":"a b"}})");
  EXPECT_EQ(ws.next_text(),
            R"({"id":"s3","error":{"code":"forbidden","message":"channel a b is not allowed"}})");
  ws.send_text(R"({"type":"unsubscribe","id":"u1","payload":{"channel":"news"}})");
  EXPECT_EQ(ws.next_text(), R"({"id":"u1","payload":{"channel":"news"}})");
  EXPECT_TRUE(wait_for_line(R"({"conn":1,"event":"subscribe","channel":"news","ok":true})"));
  EXPECT_TRUE(wait_for_line(R"({"conn":1,"event":"subscribe","channel":"secret","ok":false})"));
  EXPECT_TRUE(wait_for_line(R"({"conn":1,"event":"unsubscribe","channel":"news"})"));
  // Without stream=N there is no stream.
  EXPECT_TRUE(ws.quiet_for(100ms));
  EXPECT_EQ(count_containing(R"("event":"stream")"), 0u);
}

// --- requests ------------------------------------------------------------------------------------

TEST_F(AppServerSmoke, RequestDelayAndNever) {
  AppClient ws(port(), "/app?request_delay_ms=150");
  ASSERT_EQ(ws.result(), Result::accepted);
  const auto sent = Clock::now();
  ws.send_text(R"({"type":"never","id":"n1"})");
  ws.send_text(R"({"type":"get","id":"g1","payload":[1]})");
  EXPECT_EQ(ws.next_text(), R"({"id":"g1","payload":[1]})");
  EXPECT_GE(Clock::now() - sent, 140ms);
  EXPECT_TRUE(ws.quiet_for(300ms));  // "never" is never answered
  EXPECT_TRUE(wait_for_line(R"({"conn":1,"event":"request","type":"never","id":"n1"})"));
}

// --- the stream ----------------------------------------------------------------------------------

TEST_F(AppServerSmoke, StreamResumesWithOverlap) {
  AppClient ws(port(), "/app?stream=10&overlap=2");
  ASSERT_EQ(ws.result(), Result::accepted);
  ws.send_text(R"({"type":"subscribe","id":"s1","payload":{"channel":"c","resume_from":5}})");
  EXPECT_EQ(ws.next_text(), R"({"id":"s1","payload":{"channel":"c"}})");
  for (std::uint64_t seq = 4; seq <= 10; ++seq) EXPECT_EQ(ws.next_text(), event_frame(seq));
  // One stream per connection: later triggers do not restart it.
  ws.send_text(R"({"type":"resume","payload":{"resume_from":0}})");
  ws.send_text(R"({"type":"subscribe","id":"s2","payload":{"channel":"d"}})");
  EXPECT_EQ(ws.next_text(), R"({"id":"s2","payload":{"channel":"d"}})");
  EXPECT_TRUE(ws.quiet_for(100ms));
  EXPECT_TRUE(
      wait_for_line(R"({"conn":1,"event":"subscribe","channel":"c","ok":true,"resume_from":5})"));
  EXPECT_TRUE(wait_for_line(R"({"conn":1,"event":"stream","from":4,"to":10,"resume_from":5})"));
  EXPECT_TRUE(wait_for_line(R"({"conn":1,"event":"resume","resume_from":0})"));
  EXPECT_EQ(count_containing(R"("event":"stream")"), 1u);
}

TEST_F(AppServerSmoke, ResumeMessageStartsTheStream) {
  AppClient ws(port(), "/app?stream=3");
  ASSERT_EQ(ws.result(), Result::accepted);
  ws.send_text(R"({"type":"resume","payload":{"resume_from":1}})");
  EXPECT_EQ(ws.next_text(), event_frame(2));
  EXPECT_EQ(ws.next_text(), event_frame(3));
  EXPECT_TRUE(ws.quiet_for(100ms));
  EXPECT_TRUE(wait_for_line(R"({"conn":1,"event":"resume","resume_from":1})"));
  EXPECT_TRUE(wait_for_line(R"({"conn":1,"event":"stream","from":2,"to":3,"resume_from":1})"));
}

TEST_F(AppServerSmoke, DropAtThenResumeContinues) {
  const std::string target = "/app?token=t&stream=6&drop_at=3";
  {
    AppClient ws(port(), target);
    ASSERT_EQ(ws.result(), Result::accepted);
    ws.send_text(R"({"type":"auth","id":"a1","payload":{"token":"t"}})");
    ASSERT_TRUE(ws.wait_eof());
    EXPECT_FALSE(ws.close_received());
    EXPECT_EQ(ws.next_text(), R"({"id":"a1","payload":{"ok":true}})");
    for (std::uint64_t seq = 1; seq <= 3; ++seq) EXPECT_EQ(ws.next_text(), event_frame(seq));
    EXPECT_FALSE(ws.next(0ms).has_value());
    EXPECT_TRUE(wait_for_line(
        R"({"conn":1,"event":"disconnect","by":"server","close_received":false,"close_sent":false,"rst":false})"));
  }
  AppClient ws(port(), target);
  ASSERT_EQ(ws.result(), Result::accepted);
  ws.send_text(R"({"type":"auth","id":"a2","payload":{"token":"t","resume_from":3}})");
  EXPECT_EQ(ws.next_text(), R"({"id":"a2","payload":{"ok":true}})");
  for (std::uint64_t seq = 4; seq <= 6; ++seq) EXPECT_EQ(ws.next_text(), event_frame(seq));
  // Not dropped this time: the connection still answers.
  ws.send_text(R"({"type":"echo","id":"r1"})");
  EXPECT_EQ(ws.next_text(), R"({"id":"r1","payload":null})");
  EXPECT_TRUE(wait_for_line(R"({"conn":2,"event":"auth","token":"t","ok":true,"resume_from":3})"));
  EXPECT_TRUE(wait_for_line(R"({"conn":2,"event":"stream","from":4,"to":6,"resume_from":3})"));
}

TEST_F(AppServerSmoke, DropAtWithOverlapDoesNotDropTheResumedStream) {
  const std::string target = "/app?stream=5&drop_at=3&overlap=1";
  AppClient ws(port(), target);
  ASSERT_EQ(ws.result(), Result::accepted);
  ws.send_text(R"({"type":"resume","payload":{"resume_from":3}})");
  for (std::uint64_t seq = 3; seq <= 5; ++seq) EXPECT_EQ(ws.next_text(), event_frame(seq));
  ws.send_text(R"({"type":"echo","id":"r1"})");
  EXPECT_EQ(ws.next_text(), R"({"id":"r1","payload":null})");
}

TEST_F(AppServerSmoke, LongStreamOnOpenUnderASmallHighWaterMark) {
  start({"--hwm", "16k"});
  constexpr std::uint64_t kCount = 100000;
  AppClient ws(port(), "/app?stream=" + std::to_string(kCount) + "&stream_on_open=1");
  ASSERT_EQ(ws.result(), Result::accepted);
  for (std::uint64_t seq = 1; seq <= kCount; ++seq) {
    const auto message = ws.next();
    ASSERT_TRUE(message.has_value()) << "stopped before seq " << seq;
    ASSERT_EQ(message->second, event_frame(seq));
  }
  EXPECT_TRUE(ws.quiet_for(100ms));
  EXPECT_TRUE(wait_for_line(R"({"conn":1,"event":"stream","from":1,"to":100000,"resume_from":0})"));
}

TEST_F(AppServerSmoke, StreamIntervalSpacesTheMessages) {
  const auto before_open = Clock::now();
  AppClient ws(port(), "/app?stream=3&stream_on_open=1&interval_ms=100");
  ASSERT_EQ(ws.result(), Result::accepted);
  EXPECT_EQ(ws.next_text(), event_frame(1));
  EXPECT_EQ(ws.next_text(), event_frame(2));
  EXPECT_EQ(ws.next_text(), event_frame(3));
  // The third message left the server two intervals after the open.
  EXPECT_GE(Clock::now() - before_open, 200ms);
  EXPECT_TRUE(ws.quiet_for(150ms));
}

// --- anything else -------------------------------------------------------------------------------

TEST_F(AppServerSmoke, BadInputIsLoggedAndIgnored) {
  AppClient ws(port(), "/app");
  ASSERT_EQ(ws.result(), Result::accepted);
  ws.send_text("not json");
  ws.send_text("[1,2]");
  ws.send_text(R"({"type":5,"id":"x"})");
  ws.send_text(R"({"type":"echo","id":true})");
  ws.send_text(R"({"type":"subscribe","id":"s","payload":{"channel":7}})");
  ws.send_text(R"({"type":"subscribe","payload":{"channel":"c"}})");
  ws.send_text(R"({"type":"auth","id":"a","payload":{"resume_from":-1}})");
  ws.send_text(R"({"type":"note","payload":{}})");  // no id: only logged
  ws.send_text(std::string(100000, '['));
  ws.send_text(std::string(100000, '{'));
  ws.send_binary(std::string("\x00\x01\x02", 3));
  // Nothing was answered or echoed, and the server is still fine.
  ws.send_text(R"({"type":"echo","id":"last"})");
  EXPECT_EQ(ws.next_text(), R"({"id":"last","payload":null})");
  const std::string bad_json =
      R"x({"conn":1,"event":"app_error","error":"bad_json","message":"Invalid value at byte 1"})x";
  EXPECT_TRUE(wait_for_line(bad_json));
  EXPECT_TRUE(wait_for_line(
      R"({"conn":1,"event":"app_error","error":"bad_envelope","message":"not a JSON object"})"));
  EXPECT_TRUE(wait_for_line(
      R"({"conn":1,"event":"app_error","error":"bad_envelope","message":"type is not a string"})"));
  EXPECT_EQ(count_containing(R"("error":"bad_envelope")"), 6u);
  EXPECT_EQ(count_containing(R"("error":"bad_json")"), 3u);
  EXPECT_EQ(count_containing(R"("event":"request")"), 1u);
  EXPECT_EQ(count_containing(R"("event":"subscribe")"), 0u);
  EXPECT_EQ(count_containing(R"("event":"auth")"), 0u);
  // The message line of each comes first.
  const std::string message =
      R"({"conn":1,"event":"message","kind":"text","bytes":8,"text":"not json"})";
  EXPECT_LT(index_of(message), index_of(bad_json));
  EXPECT_GE(index_of(message), 0);
}

TEST_F(AppServerSmoke, EchoOption) {
  AppClient ws(port(), "/app?echo=1");
  ASSERT_EQ(ws.result(), Result::accepted);
  ws.send_text("plain text");
  EXPECT_EQ(ws.next_text(), "plain text");
  ws.send_text(R"({"type":"note", "payload":{}})");  // no id: echoed as received
  EXPECT_EQ(ws.next_text(), R"({"type":"note", "payload":{}})");
  ws.send_binary(std::string("\x00\xff", 2));
  const auto binary = ws.next();
  ASSERT_TRUE(binary.has_value());
  EXPECT_EQ(*binary, std::make_pair(Opcode::binary, std::string("\x00\xff", 2)));
  ws.send_text(R"({"type":"get", "id":"g"})");  // a request is answered, not echoed
  EXPECT_EQ(ws.next_text(), R"({"id":"g","payload":null})");
  EXPECT_TRUE(ws.quiet_for(100ms));
}

TEST_F(AppServerSmoke, BadOptionsAreRefused) {
  AppClient ws(port(), "/app?auth_via=cookie");
  ASSERT_EQ(ws.result(), Result::rejected);
  EXPECT_EQ(ws.response().status(), 400);
  AppClient ws2(port(), "/app?reject=bogus");
  ASSERT_EQ(ws2.result(), Result::rejected);
  EXPECT_EQ(ws2.response().status(), 400);
}

}  // namespace
}  // namespace tether::testing
