#pragma once

// The /app scenario of tether_test_server: a peer that speaks the SDK's JSON envelope (auth on
// open, subscriptions, a resumable stream, request/response), so integration tests can drive
// the SDK's application layer against real sockets.
//
// The class knows nothing about sockets: the connection feeds it the upgrade request's auth
// material, each inbound data message and each timer it asked for, and applies what comes back
// (log events, frames to send, a close frame, a TCP drop, timers). The stream is pulled by the
// connection while its output is under the high-water mark, so a stream of any length is never
// buffered whole. tests/servers/README.md documents the options and the log lines.

#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tether::test_server {

using AppClock = std::chrono::steady_clock;

/// The scenario's options, parsed from the upgrade request's query by the server.
struct AppConfig {
  enum class AuthVia { message, header, query };

  /// Accepted tokens; auth is required when there is at least one.
  std::vector<std::string> tokens;
  AuthVia auth_via = AuthVia::message;
  /// auth_via=query: the `access_token` parameter, when given.
  std::optional<std::string> access_token;
  /// 0: a rejected auth request gets an error response; otherwise the close code sent instead.
  std::uint16_t reject_close_code = 0;
  /// Auth requests are logged and never answered.
  bool auth_noanswer = false;
  /// Channels whose subscribe is refused.
  std::vector<std::string> deny;
  /// Echo unhandled text messages and every binary message.
  bool echo = false;
  /// Length of the resumable stream; no stream when absent.
  std::optional<std::uint64_t> stream;
  bool stream_on_open = false;
  std::uint64_t overlap = 0;
  /// 0: never drop.
  std::uint64_t drop_at = 0;
  std::chrono::milliseconds interval{0};
  std::chrono::milliseconds request_delay{0};
  /// Log each generic request (false when the server writes no log: a request then costs no
  /// log event).
  bool log_requests = true;
};

/// One field of an event-log line.
struct LogField {
  enum class Kind { string, number, boolean, json };
  const char* name = "";
  Kind kind = Kind::string;
  std::string text;  ///< string: the value; json: a serialized JSON value written as is
  std::uint64_t number = 0;
  bool flag = false;
};

/// One event-log line: {"conn":N,"event":<event>, fields...}.
struct LogEvent {
  const char* event = "";
  std::vector<LogField> fields;
};

/// Something the connection must do, in order.
struct AppAction {
  enum class Kind {
    text,    ///< send `payload` as a text message
    binary,  ///< send `payload` as a binary message
    close,   ///< send a close frame (`code`, reason `payload`), then the usual close handshake
    drop,    ///< once everything queued is written, close TCP without a close frame
  };
  Kind kind = Kind::text;
  std::string payload;
  std::uint16_t code = 0;
};

struct AppOutput {
  /// Written to the event log in this order, before the actions are applied.
  std::vector<LogEvent> logs;
  std::vector<AppAction> actions;
  /// Call on_timer() once each of these delays has passed.
  std::vector<std::chrono::milliseconds> timers;
};

/// The verdict on the upgrade request: status 0 accepts it; otherwise the request is answered
/// with this HTTP status, plain-text `message` and the extra header lines `headers`.
struct AppUpgrade {
  long status = 0;
  std::string message;
  std::vector<std::string> headers;
};

class AppScenario {
 public:
  explicit AppScenario(AppConfig config);

  /// Header or query auth. `authorization` is the Authorization header (nullptr when absent).
  AppUpgrade on_upgrade(const std::string* authorization, AppOutput& out);
  /// After the 101 has been queued.
  AppOutput on_open(AppClock::time_point now);
  AppOutput on_text(std::string_view text, AppClock::time_point now);
  AppOutput on_binary(std::string_view bytes);
  /// One of the requested timers fired (extra calls are harmless).
  AppOutput on_timer(AppClock::time_point now);
  /// The next stream message when one is due now: appends it (and a drop, a timer) to `out` and
  /// returns true. Called repeatedly while the connection's output has room.
  bool pull_stream(AppClock::time_point now, AppOutput& out);

 private:
  struct Pending {
    AppClock::time_point due;
    std::string frame;
  };

  void handle_text(std::string_view text, AppClock::time_point now, AppOutput& out);
  void start_stream(std::uint64_t resume_from, AppClock::time_point now, AppOutput& out);
  void echo_text(std::string_view text, AppOutput& out) const;

  AppConfig config_;
  bool auth_required_ = false;
  bool authenticated_ = false;

  bool stream_started_ = false;
  bool stream_done_ = false;
  std::uint64_t resume_from_ = 0;
  std::uint64_t next_seq_ = 0;
  std::uint64_t last_seq_ = 0;
  AppClock::time_point next_due_{};

  std::deque<Pending> pending_;  // delayed responses, in due order (the delay is constant)
};

}  // namespace tether::test_server
