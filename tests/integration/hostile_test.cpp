// The hostile-server catalogue: every way a server can break RFC 6455 (or HTTP before it), one
// named row each, played by tether_test_server against the public Client. For every row the
// client must report the row's error name, send the row's close code when a close is possible
// (checked in the server's event log), reconnect once and then give up as its policy says
// (max_retries = 1: a second connection, never a third), and neither hang, busy-loop, nor keep a
// file descriptor. docs/errors.md ("Hostile servers") has the same table for readers.

#include <dirent.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/time.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

#include "integration/client_harness.hpp"
#include "support/servers.hpp"

namespace tether::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// --- The rows -----------------------------------------------------------------------------------

/// How the client sees the row play out.
enum class Kind {
  frames,     ///< The WebSocket opens, then a bad frame: the client fails it with a close code.
  handshake,  ///< The upgrade fails: the WebSocket never opens, so no close frame is possible.
  lost,       ///< The WebSocket opens, then TCP ends without a close frame (1006).
};

struct Row {
  std::string name;
  std::string target;  ///< Path and query on tether_test_server.
  Kind kind;
  errc error;
  std::uint16_t close_code = 0;  ///< Sent by the client (frames rows); 1006 reported for lost.
  std::string detail;            ///< Part of the error message.
  std::function<void(ClientOptions&)> tweak = nullptr;
  int http_status = 0;  ///< For handshake_rejected.
};

std::ostream& operator<<(std::ostream& os, const Row& row) {
  return os << row.name;
}

std::string hex_of(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out += kDigits[c >> 4];
    out += kDigits[c & 0xF];
  }
  return out;
}

std::string repeat_hex(const char* byte, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += byte;
  return out;
}

/// /frames: the bytes after a correct 101; then (by default) the server reads and logs without
/// ever writing, so whatever closes the connection is the client's doing.
std::string frames(const std::string& hex, const std::string& extra = "",
                   const std::string& then = "read") {
  return "/frames?hex=" + hex + "&then=" + then + extra;
}

Row frame_row(std::string name, const std::string& hex, errc error, std::uint16_t close_code,
              std::string detail, std::function<void(ClientOptions&)> tweak = nullptr) {
  return Row{std::move(name), frames(hex),       Kind::frames,    error,
             close_code,      std::move(detail), std::move(tweak)};
}

Row protocol_row(std::string name, const std::string& hex, std::string detail) {
  return frame_row(std::move(name), hex, errc::protocol_error, 1002, std::move(detail));
}

Row handshake_row(std::string name, const std::string& target, errc error, std::string detail,
                  std::function<void(ClientOptions&)> tweak = nullptr, int http_status = 0) {
  return Row{std::move(name),   target,           Kind::handshake, error, 0,
             std::move(detail), std::move(tweak), http_status};
}

void small_max_message(ClientOptions& options) {
  options.max_message = 1000;
}

std::vector<Row> catalogue() {
  std::vector<Row> rows;
  // Invalid UTF-8 in text: 1007.
  rows.push_back(frame_row("text_invalid_utf8", "8102c0af", errc::invalid_utf8, 1007, "UTF-8"));
  // E2 | 82 28 across two fragments: the third byte of the sequence is not a continuation byte.
  rows.push_back(frame_row("text_invalid_utf8_across_fragments",
                           "0101e2"
                           "80028228",
                           errc::invalid_utf8, 1007, "UTF-8"));
  // The same bytes written one at a time: every split across reads.
  rows.push_back(Row{"text_invalid_utf8_across_fragments_and_reads",
                     frames("0101e280028228", "&byte_ms=2"), Kind::frames, errc::invalid_utf8, 1007,
                     "UTF-8"});
  rows.push_back(frame_row("text_ends_inside_a_sequence",
                           "0101e2"
                           "8000",
                           errc::invalid_utf8, 1007, "middle of a UTF-8 sequence"));
  // RSV bits without an extension: 1002.
  rows.push_back(protocol_row("rsv1_set", "c10161", "RSV1"));
  rows.push_back(protocol_row("rsv2_set", "a10161", "RSV2"));
  rows.push_back(protocol_row("rsv3_set", "910161", "RSV3"));
  // Reserved opcodes: data 0x3-0x7, control 0xB-0xF.
  for (const char* op : {"3", "4", "5", "6", "7", "B", "C", "D", "E", "F"}) {
    rows.push_back(protocol_row(std::string("reserved_opcode_0x") + op,
                                std::string("8") + op + "00",
                                std::string("reserved opcode 0x") + op));
  }
  rows.push_back(protocol_row("masked_server_frame",
                              "818101020304"
                              "69",
                              "masked frame"));
  // Control frames over 125 bytes.
  rows.push_back(protocol_row("ping_of_126_bytes", "897e007e" + repeat_hex("61", 126),
                              "control frame of 126 bytes"));
  rows.push_back(protocol_row("pong_of_126_bytes", "8a7e007e" + repeat_hex("61", 126),
                              "control frame of 126 bytes"));
  rows.push_back(protocol_row("close_of_126_bytes", "887e007e03e8" + repeat_hex("61", 124),
                              "control frame of 126 bytes"));
  // Fragmented control frames (FIN clear).
  rows.push_back(protocol_row("fragmented_ping",
                              "090161"
                              "800161",
                              "fragmented ping"));
  rows.push_back(protocol_row("fragmented_close", "080203e8", "fragmented close"));
  // Continuation without a start; a new data frame inside an unfinished message.
  rows.push_back(protocol_row("continuation_without_start", "800161", "continuation"));
  rows.push_back(protocol_row("text_inside_unfinished_message",
                              "010161"
                              "810162",
                              "unfinished"));
  rows.push_back(protocol_row("binary_inside_unfinished_message",
                              "020161"
                              "820162",
                              "unfinished"));
  // 64-bit lengths with the top bit set (2^63 and 2^64-1).
  rows.push_back(protocol_row("length_2_pow_63", "827f8000000000000000", "most significant bit"));
  rows.push_back(
      protocol_row("length_2_pow_64_minus_1", "827fffffffffffffffff", "most significant bit"));
  // Close frames the server must not send.
  rows.push_back(protocol_row("close_with_1_byte_payload", "880103", "1-byte payload"));
  for (int code : {999, 1004, 1005, 1006, 1015, 2999, 5000}) {
    const char bytes[2] = {static_cast<char>(code >> 8), static_cast<char>(code & 0xFF)};
    rows.push_back(protocol_row("close_code_" + std::to_string(code),
                                "8802" + hex_of(std::string_view(bytes, 2)),
                                "close code " + std::to_string(code)));
  }
  rows.push_back(frame_row("close_reason_invalid_utf8", "880403e8c0af", errc::invalid_utf8, 1007,
                           "close reason"));
  // Messages over max_message (1000 here): refused from the header, before any payload. The
  // server sends the header alone, so only a decision from the header can end the row.
  rows.push_back(frame_row("message_over_limit_16_bit_header", "827e1000", errc::message_too_big,
                           1009, "4096 bytes exceeds the limit of 1000", small_max_message));
  rows.push_back(frame_row("message_over_limit_64_bit_header", "827f0000000040000000",
                           errc::message_too_big, 1009, "exceeds the limit of 1000",
                           small_max_message));
  rows.push_back(frame_row("message_over_limit_across_fragments",
                           "027e0258" + repeat_hex("61", 600) + "807e0258", errc::message_too_big,
                           1009, "1200 bytes exceeds the limit of 1000", small_max_message));
  // TCP ends without a close frame: 1006, connection_lost.
  rows.push_back(Row{"tcp_close_without_close_frame", "/drop", Kind::lost, errc::connection_lost,
                     1006, "without a close frame"});
  rows.push_back(Row{"tcp_reset_without_close_frame", "/drop?rst=1", Kind::lost,
                     errc::connection_lost, 1006, ""});
  rows.push_back(Row{"tcp_close_inside_a_frame", "/frames?hex=810568656c&then=close", Kind::lost,
                     errc::connection_lost, 1006, "without a close frame"});
  // The upgrade.
  rows.push_back(handshake_row("wrong_accept", "/reply101?accept=bad", errc::handshake_failed,
                               "Sec-WebSocket-Accept"));
  rows.push_back(handshake_row("missing_accept", "/reply101?accept=omit", errc::handshake_failed,
                               "Sec-WebSocket-Accept"));
  rows.push_back(handshake_row("missing_upgrade", "/reply101?upgrade=omit", errc::handshake_failed,
                               "Upgrade"));
  rows.push_back(
      handshake_row("wrong_upgrade", "/reply101?upgrade=bad", errc::handshake_failed, "Upgrade"));
  rows.push_back(handshake_row("missing_connection", "/reply101?connection=omit",
                               errc::handshake_failed, "Connection"));
  rows.push_back(handshake_row("http_200_instead_of_101", "/status?code=200&reason=OK&body=hello",
                               errc::handshake_rejected, "200", nullptr, 200));
  rows.push_back(handshake_row("subprotocol_when_none_offered", "/echo?protocol_force=evil",
                               errc::handshake_failed, "evil"));
  rows.push_back(handshake_row("subprotocol_not_offered", "/reply101?protocol=evil",
                               errc::handshake_failed, "evil", [](ClientOptions& options) {
                                 options.subprotocols = {"chat.v1", "chat.v2"};
                               }));
  rows.push_back(handshake_row("extension_not_offered", "/reply101?extensions=permessage-deflate",
                               errc::handshake_failed, "permessage-deflate"));
  rows.push_back(handshake_row("oversized_headers", "/bigheaders?bytes=32768",
                               errc::handshake_failed, "16384"));
  rows.push_back(handshake_row("garbage_bytes", "/garbage", errc::handshake_failed, "HTTP"));
  rows.push_back(handshake_row("non_http_reply",
                               "/rawreply?hex=" + hex_of("SSH-2.0-OpenSSH_9.2p1 Debian\r\n"),
                               errc::handshake_failed, "HTTP"));
  rows.push_back(handshake_row("http_1_0_status_line", "/reply101?http=1.0", errc::handshake_failed,
                               "HTTP/1.0"));
  rows.push_back(
      handshake_row("tcp_close_inside_the_reply",
                    "/rawreply?close=1&hex=" +
                        hex_of("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"),
                    errc::handshake_failed, "before"));
  // One byte per second of a correct 101: the 1 s connect timeout ends the attempt.
  rows.push_back(handshake_row("trickled_reply", "/trickle?interval_ms=1000", errc::connect_timeout,
                               "",
                               [](ClientOptions& options) { options.connect_timeout = 1000ms; }));
  return rows;
}

// --- Observing the loop thread ------------------------------------------------------------------

/// One state change, with the loop thread's resource usage at that moment (getrusage of the
/// thread, taken inside the callback, which runs on the loop thread).
struct Sample {
  State to;
  Clock::time_point at;
  std::chrono::microseconds cpu;
  long wakeups;    ///< Voluntary context switches: each sleep in poll(2) that ended.
  long preempted;  ///< Involuntary context switches.
};

Sample sample(State to) {
  rusage usage{};
  ::getrusage(RUSAGE_THREAD, &usage);
  auto us = [](const timeval& tv) {
    return std::chrono::microseconds(static_cast<std::int64_t>(tv.tv_sec) * 1000000 + tv.tv_usec);
  };
  return Sample{to, Clock::now(), us(usage.ru_utime) + us(usage.ru_stime), usage.ru_nvcsw,
                usage.ru_nivcsw};
}

int open_fds() {
  int n = 0;
  if (DIR* dir = ::opendir("/proc/self/fd")) {
    while (::readdir(dir) != nullptr) ++n;
    ::closedir(dir);
  }
  return n;
}

std::string conn_event(int conn, const std::string& event) {
  return "{\"conn\":" + std::to_string(conn) + ",\"event\":\"" + event + "\"";
}

/// Waits until `recorded` holds under `mutex`; false after `timeout`. The client reports itself
/// finished as it moves to its last state, and the callback for that move runs just after: a test
/// that reads what its own `on_state` recorded waits for it first.
bool wait_recorded(std::mutex& mutex, const std::function<bool()>& recorded,
                   std::chrono::milliseconds timeout = 5s) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    {
      std::lock_guard<std::mutex> lock(mutex);
      if (recorded()) return true;
    }
    if (Clock::now() > deadline) return false;
    std::this_thread::sleep_for(2ms);
  }
}

// The reconnect policy of every row: one retry after a fixed 300 ms, then give up.
constexpr auto kBackoff = 300ms;
// Windows at least this long (the backoff wait; the trickle's connecting) are checked for a busy
// loop. Shorter ones are the work of a connection attempt.
constexpr auto kQuietWindow = 200ms;

// --- The test -----------------------------------------------------------------------------------

/// Plays one row (over wss with `tls`) and checks everything the catalogue promises.
void play(const Row& row, bool tls) {
  std::vector<std::string> args = {"--log", "/dev/stdout"};
  if (tls) {
    const CertSet& certs = test_certs();
    args.insert(args.end(), {"--tls-cert", certs.server_cert, "--tls-key", certs.server_key});
  }
  auto server = start_tether_server(args);
  const int fds_before = open_fds();

  ClientOptions options;
  options.url = std::string(tls ? "wss" : "ws") + "://127.0.0.1:" + std::to_string(server.port()) +
                row.target;
  if (tls) options.tls.ca_file = test_certs().ca;
  options.proxy = "direct";
  options.connect_timeout = 5000ms;
  options.close_timeout = 2000ms;
  options.reconnect.initial = kBackoff;
  options.reconnect.max = kBackoff;
  options.reconnect.multiplier = 1.0;
  options.reconnect.jitter = 0.0;
  options.reconnect.max_retries = 1;
  if (row.tweak) row.tweak(options);

  std::mutex mutex;
  std::vector<Sample> samples;
  std::vector<Cause> causes;
  auto harness = std::make_unique<ClientHarness>(options);
  ClientHarness& h = *harness;
  h.client().on_state([&](State, State to, const Cause& cause) {
    Sample s = sample(to);
    std::lock_guard<std::mutex> lock(mutex);
    samples.push_back(s);
    causes.push_back(cause);
  });
  ASSERT_FALSE(h.start());
  ASSERT_TRUE(h.wait_finished(30s)) << "the client neither reconnected nor gave up; state "
                                    << to_string(h.client().state()) << "\n"
                                    << server.log();

  // The error, once per attempt; then the give-up, as the cause of the move to `failed`.
  const auto errors = h.errors();
  ASSERT_EQ(errors.size(), 2u) << server.log();
  for (std::size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(errors[i].code, row.error)
        << "attempt " << i + 1 << ": " << to_string(errors[i].code) << ": " << errors[i].message;
    EXPECT_NE(errors[i].message.find(row.detail), std::string::npos) << errors[i].message;
    if (row.http_status != 0) {
      EXPECT_EQ(errors[i].http_status, row.http_status);
    }
  }
  EXPECT_EQ(h.client().state(), State::failed);
  ASSERT_TRUE(wait_recorded(mutex, [&] {
    return !samples.empty() && samples.back().to == State::failed;
  })) << "the move to failed was not reported";
  {
    std::lock_guard<std::mutex> lock(mutex);
    ASSERT_FALSE(samples.empty());
    EXPECT_EQ(samples.back().to, State::failed);
    EXPECT_EQ(causes.back().error, errc::retries_exhausted) << causes.back().message;
  }

  // Reconnects per policy: a second connection, and no third once the policy gives up.
  EXPECT_TRUE(server.wait_for_log(conn_event(2, "open"), 5s)) << server.log();
  EXPECT_EQ(server.count_in_log(conn_event(3, "open")), 0u) << server.log();
  EXPECT_EQ(h.client().stats().attempts, 2u);

  // How each opened connection ended, and what the client sent.
  const auto closes = h.closes();
  switch (row.kind) {
    case Kind::frames:
      ASSERT_EQ(closes.size(), 2u);
      for (int conn = 1; conn <= 2; ++conn) {
        const CloseInfo& info = closes[static_cast<std::size_t>(conn - 1)];
        EXPECT_EQ(info.code, row.close_code);
        EXPECT_TRUE(info.by_client);
        EXPECT_FALSE(info.clean);
        EXPECT_EQ(info.reconnect, conn == 1);
        EXPECT_TRUE(server.wait_for_log(
            conn_event(conn, "close") + ",\"code\":" + std::to_string(row.close_code), 5s))
            << "connection " << conn << " did not get close " << row.close_code << "\n"
            << server.log();
      }
      // Nothing but the close frame: no pong, no data after the violation.
      EXPECT_EQ(server.count_in_log("\"event\":\"pong\""), 0u) << server.log();
      EXPECT_EQ(server.count_in_log("\"event\":\"message\""), 0u) << server.log();
      break;
    case Kind::lost:
      ASSERT_EQ(closes.size(), 2u);
      for (std::size_t i = 0; i < 2; ++i) {
        EXPECT_EQ(closes[i].code, 1006);
        EXPECT_FALSE(closes[i].by_client);
        EXPECT_FALSE(closes[i].clean);
        EXPECT_EQ(closes[i].reconnect, i == 0);
      }
      break;
    case Kind::handshake:
      EXPECT_FALSE(h.opened());
      EXPECT_TRUE(closes.empty());
      break;
  }

  // No busy loop: over every quiet window (the backoff wait, a trickled connect) the loop thread
  // must sleep. A thread waiting in poll(2) costs no CPU and wakes once per event; a spinning one
  // burns a core (poll with a zero timeout) or wakes at a high rate (a short timeout). The bounds
  // are generous so a loaded machine cannot fail a correct client, and still far from either
  // failure: CPU at most 25% of the window plus 20 ms, at most 20 wake-ups plus 50 per second.
  std::vector<Sample> taken;
  {
    std::lock_guard<std::mutex> lock(mutex);
    taken = samples;
  }
  int quiet_windows = 0;
  for (std::size_t i = 1; i < taken.size(); ++i) {
    const auto wall = taken[i].at - taken[i - 1].at;
    if (wall < kQuietWindow) continue;
    ++quiet_windows;
    const auto wall_ms = std::chrono::duration_cast<std::chrono::milliseconds>(wall).count();
    const auto cpu_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(taken[i].cpu - taken[i - 1].cpu)
            .count();
    const long wakeups = taken[i].wakeups - taken[i - 1].wakeups;
    const std::string window =
        std::string(to_string(taken[i - 1].to)) + " for " + std::to_string(wall_ms) + " ms (" +
        std::to_string(taken[i].preempted - taken[i - 1].preempted) + " preemptions)";
    EXPECT_LE(cpu_ms, 20 + wall_ms / 4) << "loop thread CPU while " << window;
    EXPECT_LE(wakeups, 20 + wall_ms / 20) << "loop wake-ups while " << window;
  }
  EXPECT_GE(quiet_windows, 1) << "no backoff wait was observed";

  // Nothing is left behind: destroying the client and its runtime returns every descriptor.
  harness.reset();
  EXPECT_EQ(open_fds(), fds_before);
}

class HostileServer : public ::testing::TestWithParam<Row> {};

TEST_P(HostileServer, Row) {
  play(GetParam(), false);
}

INSTANTIATE_TEST_SUITE_P(Catalogue, HostileServer, ::testing::ValuesIn(catalogue()),
                         [](const ::testing::TestParamInfo<Row>& param_info) {
                           return param_info.param.name;
                         });

// A sample of the rows over wss: the bad bytes arrive through TLS records, and the client's
// failure path ends TLS too.
std::vector<Row> tls_sample() {
  std::vector<Row> rows;
  for (Row& row : catalogue()) {
    for (const char* name :
         {"text_invalid_utf8_across_fragments_and_reads", "masked_server_frame", "close_code_1005",
          "message_over_limit_64_bit_header", "tcp_close_without_close_frame",
          "tcp_reset_without_close_frame", "wrong_accept", "garbage_bytes", "oversized_headers"}) {
      if (row.name == name) rows.push_back(std::move(row));
    }
  }
  return rows;
}

class HostileServerTls : public ::testing::TestWithParam<Row> {};

TEST_P(HostileServerTls, Row) {
  play(GetParam(), true);
}

INSTANTIATE_TEST_SUITE_P(Catalogue, HostileServerTls, ::testing::ValuesIn(tls_sample()),
                         [](const ::testing::TestParamInfo<Row>& param_info) {
                           return param_info.param.name;
                         });

// With reconnection off, the first hostile connection is the last: one attempt, `failed` with the
// row's own error.
TEST(HostileServerPolicy, WithoutReconnectOneConnectionThenFailed) {
  const std::vector<Row> rows = catalogue();
  for (const char* name : {"rsv1_set", "close_reason_invalid_utf8", "wrong_accept",
                           "tcp_close_without_close_frame", "http_200_instead_of_101"}) {
    const Row* row = nullptr;
    for (const Row& r : rows) {
      if (r.name == name) row = &r;
    }
    ASSERT_NE(row, nullptr) << name;
    SCOPED_TRACE(name);
    auto server = start_tether_server({"--log", "/dev/stdout"});
    ClientOptions options;
    options.url = "ws://127.0.0.1:" + std::to_string(server.port()) + row->target;
    options.proxy = "direct";
    options.connect_timeout = 5000ms;
    options.reconnect.enabled = false;
    if (row->tweak) row->tweak(options);
    ClientHarness h(options);
    std::mutex mutex;
    std::optional<Cause> final_cause;
    h.client().on_state([&](State, State to, const Cause& cause) {
      std::lock_guard<std::mutex> lock(mutex);
      if (to == State::failed) final_cause = cause;
    });
    ASSERT_FALSE(h.start());
    ASSERT_TRUE(h.wait_finished(15s)) << server.log();
    EXPECT_EQ(h.client().state(), State::failed);
    ASSERT_TRUE(wait_recorded(mutex, [&] { return final_cause.has_value(); }))
        << "the move to failed was not reported";
    {
      std::lock_guard<std::mutex> lock(mutex);
      ASSERT_TRUE(final_cause.has_value());
      EXPECT_EQ(final_cause->error, row->error) << final_cause->message;
    }
    ASSERT_EQ(h.errors().size(), 1u);
    EXPECT_EQ(h.errors()[0].code, row->error);
    EXPECT_EQ(h.client().stats().attempts, 1u);
    EXPECT_TRUE(server.wait_for_log(conn_event(1, "open"), 5s)) << server.log();
    EXPECT_EQ(server.count_in_log(conn_event(2, "open")), 0u) << server.log();
    for (const CloseInfo& info : h.closes()) EXPECT_FALSE(info.reconnect);
  }
}

// A server that floods pings and reads nothing until the last one: the client answers only the
// latest ping while its pongs cannot leave (RFC 6455 5.5.3), so its queue stays bounded instead of
// holding one pong per ping; then it is still open and closes cleanly.
TEST(HostileServerFlood, PingsWhileNotReadingAreAnsweredByTheLatestPong) {
  constexpr int kPings = 400000;  // 51 MB of pings
  auto server = start_tether_server({"--log", "/dev/stdout"});
  ClientOptions options;
  options.url = "ws://127.0.0.1:" + std::to_string(server.port()) +
                "/pings?size=125&count=" + std::to_string(kPings);
  options.proxy = "direct";
  options.connect_timeout = 5000ms;
  ClientHarness h(options);
  ASSERT_FALSE(h.start());
  ASSERT_TRUE(h.wait_messages(1, 90s))
      << "the pings did not all arrive; state " << to_string(h.client().state()) << ", "
      << h.client().stats().messages_received << " messages, " << h.client().stats().bytes_received
      << " bytes, " << h.errors().size() << " errors"
      << (h.errors().empty() ? "" : ": " + h.errors()[0].message);
  EXPECT_EQ(h.messages()[0].data, "done");
  EXPECT_EQ(h.client().state(), State::open);
  h.client().close(1000, "bye");
  ASSERT_TRUE(h.wait_close(20s));
  EXPECT_EQ(h.closes()[0].code, 1000);
  EXPECT_TRUE(h.closes()[0].clean);
  EXPECT_TRUE(h.errors().empty()) << h.errors()[0].message;
  // Every pong the client wrote was read before its close frame.
  ASSERT_TRUE(server.wait_for_log(conn_event(1, "close") + ",\"code\":1000", 10s));
  const std::size_t pongs = server.count_in_log("\"event\":\"pong\"");
  EXPECT_GE(pongs, 1u);
  // Without coalescing there is one pong per ping. Pongs written before the socket buffers
  // filled up (the client's send buffer, up to a few MB) are separate, hence the margin: about
  // 38,000 here with a 4 MiB wmem_max.
  EXPECT_LT(pongs, static_cast<std::size_t>(kPings / 2)) << pongs << " pongs for " << kPings;
}

// --- Controls: the valid neighbours of the rows are accepted
// --------------------------------------

/// A correct stream that looks like a hostile row: the client must deliver `expected`, stay
/// open, and close cleanly (the server echoes the close). This keeps the rows honest (they fail on
/// the violation, not on the bytes around it).
struct Control {
  const char* name;
  std::string target;
  Received expected;
  std::function<void(ClientOptions&)> tweak = nullptr;
};

std::ostream& operator<<(std::ostream& os, const Control& c) {
  return os << c.name;
}

std::vector<Control> controls() {
  return {
      // E2 | 82 AC ("€") across fragments, one byte per read.
      {"valid_utf8_across_fragments_and_reads",
       frames("0101e28002"
              "82ac",
              "&byte_ms=2", "echo"),
       {MessageKind::text, "\xE2\x82\xAC"}},
      // A ping of exactly 125 bytes between two fragments.
      {"ping_of_125_bytes_between_fragments",
       frames("010161"
              "897d" +
                  repeat_hex("70", 125) + "800162",
              "", "echo"),
       {MessageKind::text, "ab"}},
      // A non-minimal 64-bit length (accepted, see frame_decoder.hpp).
      {"non_minimal_64_bit_length",
       frames("827f0000000000000001"
              "7a",
              "", "echo"),
       {MessageKind::binary, "z"}},
      // Exactly max_message bytes, in two fragments.
      {"message_exactly_at_the_limit",
       frames("027e01f4" + repeat_hex("61", 500) + "807e01f4" + repeat_hex("61", 500), "", "echo"),
       {MessageKind::binary, std::string(1000, 'a')},
       small_max_message},
  };
}

class HostileControl : public ::testing::TestWithParam<Control> {};

TEST_P(HostileControl, IsAccepted) {
  const Control& control = GetParam();
  auto server = start_tether_server({"--log", "/dev/stdout"});
  ClientOptions options;
  options.url = "ws://127.0.0.1:" + std::to_string(server.port()) + control.target;
  options.proxy = "direct";
  options.connect_timeout = 5000ms;
  if (control.tweak) control.tweak(options);
  ClientHarness h(options);
  ASSERT_FALSE(h.start());
  ASSERT_TRUE(h.wait_messages(1, 10s)) << server.log();
  const auto got = h.messages();
  EXPECT_EQ(got[0].kind, control.expected.kind);
  EXPECT_TRUE(got[0].data == control.expected.data) << got[0].data.size() << " bytes";
  EXPECT_TRUE(h.errors().empty()) << h.errors()[0].message;
  EXPECT_EQ(h.client().state(), State::open);
  h.client().close(1000, "done");
  ASSERT_TRUE(h.wait_close());
  EXPECT_EQ(h.closes()[0].code, 1000);
  EXPECT_TRUE(server.wait_for_log(conn_event(1, "close") + ",\"code\":1000", 5s)) << server.log();
}

INSTANTIATE_TEST_SUITE_P(Catalogue, HostileControl, ::testing::ValuesIn(controls()),
                         [](const ::testing::TestParamInfo<Control>& param_info) {
                           return std::string(param_info.param.name);
                         });

}  // namespace
}  // namespace tether::testing
