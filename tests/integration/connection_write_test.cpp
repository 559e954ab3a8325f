// The connection's writes (sdk/transport/connection.cpp) against the project's own server, with
// the write budget (bytes written per writable event before reads get a turn) set from one byte
// up to the default: whatever the budget, every message handed over before close() goes out, and
// the close frame follows the last of them, even when the budget runs out with the last byte.
//
// A budget of one byte makes each writable event a single write, so the write that takes the
// last queued byte always ends with the budget spent: a close frame left waiting then would only
// go out at the close timeout, if ever. The close timeout here is far longer than the test's
// wait, so a lost close frame fails the test instead of ending the connection some other way.

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "support/loop_tasks.hpp"
#include "support/servers.hpp"
#include "transport/connection.hpp"
#include "transport/loop.hpp"
#include "transport/tls.hpp"
#include "transport/url.hpp"

namespace tether::testing {
namespace {

using namespace std::chrono_literals;
using transport::Connection;
using transport::ConnectionConfig;
using transport::ConnectionEnd;
using transport::Loop;

/// Records what the connection reports (on the loop thread) for the test thread.
class Recorder final : public transport::ConnectionHandler {
 public:
  std::function<void()> opened;  ///< Runs on the loop thread when the WebSocket opens.

  void on_open(const std::string&) override {
    if (opened) opened();
  }
  void on_message(protocol::Opcode, std::string_view payload) override {
    std::lock_guard<std::mutex> lock(mutex_);
    counts_.echoed_bytes += payload.size();
    ++counts_.echoed;
  }
  void on_pong(std::string_view) override {}
  void on_sent(std::uint64_t) override {
    std::lock_guard<std::mutex> lock(mutex_);
    ++counts_.sent;
  }
  void on_end(ConnectionEnd end) override {
    std::lock_guard<std::mutex> lock(mutex_);
    end_ = std::move(end);
    changed_.notify_all();
  }

  /// The end, once reported within `limit`.
  std::optional<ConnectionEnd> wait_end(std::chrono::milliseconds limit) {
    std::unique_lock<std::mutex> lock(mutex_);
    changed_.wait_for(lock, limit, [this] { return end_.has_value(); });
    return end_;
  }
  struct Counts {
    std::size_t sent = 0;          ///< Messages the socket took whole.
    std::size_t echoed = 0;        ///< Messages received.
    std::size_t echoed_bytes = 0;  ///< Their payload bytes.
  };
  Counts counts() {
    std::lock_guard<std::mutex> lock(mutex_);
    return counts_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::optional<ConnectionEnd> end_;
  Counts counts_;
};

struct Case {
  const char* name;
  std::size_t write_budget;
  bool tls;
};

class ConnectionWrites : public ::testing::TestWithParam<Case> {};

// Sends `messages` (all handed over in one turn of the loop, then close(1000)) and checks that
// every one was written and echoed, and that the close handshake completed with the server
// seeing the client's 1000.
void send_then_close(const Case& c, const std::vector<std::string>& messages) {
  std::vector<std::string> server_args = {"--log", "/dev/stdout"};
  if (c.tls) {
    server_args.insert(server_args.end(), {"--tls-cert", test_certs().server_cert, "--tls-key",
                                           test_certs().server_key});
  }
  auto server = start_tether_server(server_args);
  ConnectionConfig config;
  std::string error;
  const std::string url =
      std::string(c.tls ? "wss" : "ws") + "://127.0.0.1:" + std::to_string(server.port()) + "/echo";
  ASSERT_TRUE(transport::parse_ws_url(url, config.url, error)) << error;
  if (c.tls) {
    transport::TlsOptions tls;
    tls.ca_file = test_certs().ca;
    errc code{};
    config.tls = transport::TlsContext::create(tls, code, error);
    ASSERT_TRUE(config.tls) << error;
  }
  config.close_timeout = 60s;  // far beyond the wait below: a lost close frame cannot hide
  config.max_message = 64u << 20;
  config.write_budget = c.write_budget;

  transport::LoopOptions loop_options;
  loop_options.own_thread = true;
  Loop loop(loop_options);
  Recorder recorder;
  std::unique_ptr<Connection> connection;
  recorder.opened = [&] {
    std::uint64_t tag = 0;
    for (const std::string& m : messages) connection->send(protocol::Opcode::binary, m, ++tag);
    connection->close(1000, "done");
  };
  run_on_loop(loop, [&] {
    connection = std::make_unique<Connection>(loop, config, recorder);
    connection->start();
  });

  const auto end = recorder.wait_end(10s);
  run_on_loop(loop, [&] { connection.reset(); });
  ASSERT_TRUE(end.has_value()) << "the close handshake did not finish\n" << server.log();
  EXPECT_FALSE(end->error.has_value()) << end->message;
  EXPECT_TRUE(end->clean);
  EXPECT_EQ(end->code, 1000);
  EXPECT_TRUE(end->unsent.empty());
  const Recorder::Counts counts = recorder.counts();
  EXPECT_EQ(counts.sent, messages.size());
  std::size_t bytes = 0;
  for (const std::string& m : messages) bytes += m.size();
  // The server echoes each message before it reads the close frame, and the client reads up to
  // the server's close: every echo arrives.
  EXPECT_EQ(counts.echoed, messages.size());
  EXPECT_EQ(counts.echoed_bytes, bytes);
  EXPECT_TRUE(server.wait_for_log("\"event\":\"close\",\"code\":1000", 5s)) << server.log();
}

TEST_P(ConnectionWrites, OneLargeMessageThenTheCloseFrame) {
  send_then_close(GetParam(), {std::string(std::size_t{6} << 20, 'x')});
}

TEST_P(ConnectionWrites, ManySmallMessagesThenTheCloseFrame) {
  std::vector<std::string> messages;
  for (int i = 0; i < 2000; ++i) messages.push_back(std::string(100 + i % 50, 'a' + i % 26));
  send_then_close(GetParam(), messages);
}

TEST_P(ConnectionWrites, MixedSizesThenTheCloseFrame) {
  std::vector<std::string> messages;
  for (int i = 0; i < 40; ++i) {
    messages.push_back(std::string(i % 3 == 0 ? std::size_t{300} << 10 : 64, 'm'));
  }
  send_then_close(GetParam(), messages);
}

INSTANTIATE_TEST_SUITE_P(
    Budgets, ConnectionWrites,
    ::testing::Values(Case{"OneByte", 1, false}, Case{"SixtyFourKiB", 64 * 1024, false},
                      Case{"Default", ConnectionConfig{}.write_budget, false},
                      Case{"OneByteWss", 1, true},
                      Case{"DefaultWss", ConnectionConfig{}.write_budget, true}),
    [](const ::testing::TestParamInfo<Case>& param) { return std::string(param.param.name); });

// A peer that stops reading fills the socket's buffer. The application keeps sending meanwhile
// (every message of a read's callbacks is written at once: write_now()); once a send found the
// buffer full, none is tried again before the socket reports it writable: a system call per
// message that cannot succeed would only take CPU from the reads.
TEST(ConnectionWritesBlocked, NoSendIsTriedAgainBeforeTheSocketIsWritable) {
  auto server = start_tether_server({"--log", "/dev/stdout"});
  ConnectionConfig config;
  std::string error;
  ASSERT_TRUE(transport::parse_ws_url("ws://127.0.0.1:" + std::to_string(server.port()) + "/silent",
                                      config.url, error))
      << error;
  config.max_message = 64u << 20;

  transport::LoopOptions loop_options;
  loop_options.own_thread = true;
  Loop loop(loop_options);
  Recorder recorder;
  std::unique_ptr<Connection> connection;
  auto opened = std::make_shared<Flag>();
  recorder.opened = [&] { opened->set(); };
  run_on_loop(loop, [&] {
    connection = std::make_unique<Connection>(loop, config, recorder);
    connection->start();
  });
  ASSERT_TRUE(opened->wait(loop, 10s)) << server.log();

  // More than loopback's socket buffers hold on both ends, in 1 MiB messages, until a send
  // finds the buffer full (bounded: 64 MiB).
  std::uint64_t tag = 0;
  Connection::WriteCounts counts;
  for (int i = 0; i < 64 && counts.full == 0; ++i) {
    run_on_loop(loop, [&] {
      connection->send(protocol::Opcode::binary, std::string(std::size_t{1} << 20, 'f'), ++tag);
      connection->write_now();
      counts = connection->write_counts();
    });
  }
  ASSERT_GT(counts.full, 0u) << "64 MiB went into the socket of a peer that does not read";

  // Now a hundred small messages, each written at once, as a read's callbacks would.
  for (int i = 0; i < 100; ++i) {
    run_on_loop(loop, [&] {
      connection->send(protocol::Opcode::text, "more", ++tag);
      connection->write_now();
    });
  }
  Connection::WriteCounts after;
  run_on_loop(loop, [&] { after = connection->write_counts(); });
  run_on_loop(loop, [&] { connection.reset(); });
  // Only a writable event allows another try, and each try after one can find the buffer full
  // again at most once.
  EXPECT_LE(after.full - counts.full, after.writable_events - counts.writable_events)
      << "sends " << after.sends - counts.sends << ", writable events "
      << after.writable_events - counts.writable_events;
}

}  // namespace
}  // namespace tether::testing
