#pragma once

// The connection manager as a sans-IO state machine. Inputs carry an explicit `now`; the core
// answers with effects (open or close a transport, ping, report a state change or a scheduled
// reconnect) and with next_deadline(). It never touches a socket, a thread or the clock, and its
// randomness is injected, so tests drive it deterministically. Every transition is in
// connection_core.cpp; docs/state-machine.md lists them as a table whose rows the unit tests
// follow one by one.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "tether/options.hpp"
#include "tether/state.hpp"

namespace tether::core {

using TimePoint = std::chrono::steady_clock::time_point;
using Millis = std::chrono::milliseconds;

/// A uniform draw in [0, 1). Injected: tests pass a fixed sequence.
class Random {
 public:
  virtual ~Random() = default;
  virtual double uniform() = 0;
};

struct CoreOptions {
  ReconnectOptions reconnect;
  HeartbeatOptions heartbeat;
  /// First-message auth: a connection is `authenticating` after the transport opens, until
  /// on_auth_succeeded().
  bool auth = false;
  Millis auth_timeout{10000};  ///< 0 = no limit.
  /// The token can be refreshed (a token provider): the first auth rejection of a series
  /// reconnects at once with OpenTransport::refresh_token, instead of failing.
  bool auth_refresh = false;
};

namespace effect {
/// Start a new transport attempt (the previous one, if any, has ended).
struct OpenTransport {
  bool refresh_token = false;  ///< The last token was rejected: ask for a fresh one.
};
/// Start the closing handshake (or end an attempt that has not opened).
struct CloseTransport {
  std::uint16_t code;
  std::string reason;
};
/// End the transport now; its end will be reported with `error`.
struct AbortTransport {
  errc error;
  std::string message;
};
/// Send a ping (protocol ping, or the application ping when configured).
struct SendPing {};
struct StateChange {
  State from;
  State to;
  Cause cause;
};
struct ReconnectScheduled {
  int attempt;
  Millis delay;
};
}  // namespace effect

using Effect = std::variant<effect::OpenTransport, effect::CloseTransport,
                            effect::AbortTransport, effect::SendPing, effect::StateChange,
                            effect::ReconnectScheduled>;

struct CoreStats {
  std::uint64_t attempts = 0;    ///< Transport attempts started.
  std::uint64_t opens = 0;       ///< Attempts that opened.
  std::uint64_t reconnects = 0;  ///< Opens after the first.
  std::optional<Millis> last_rtt;  ///< The last ping's round trip.
  TimePoint state_since{};         ///< When the current state began.
};

class ConnectionCore {
 public:
  ConnectionCore(CoreOptions options, Random& random);

  // Inputs -------------------------------------------------------------------------------------
  void start(TimePoint now);
  /// The WebSocket opened (101 accepted).
  void on_transport_open(TimePoint now);
  /// An attempt ended before opening.
  void on_transport_failed(TimePoint now, Cause cause);
  /// An opened connection ended (close frame either way, or lost).
  void on_transport_closed(TimePoint now, Cause cause);
  /// Any inbound frame (liveness).
  void on_frame(TimePoint now);
  /// A pong (or the application pong) arrived.
  void on_pong(TimePoint now);
  void on_auth_succeeded(TimePoint now);
  /// The auth request was answered with an error (or 4001/4003 arrived).
  void on_auth_rejected(TimePoint now, std::string message);
  /// The application closes: never reconnects afterwards.
  void close(TimePoint now, std::uint16_t code, std::string reason);
  /// A network change: skip the current wait and reset the attempt counter.
  void reconnect_now(TimePoint now);
  /// Call when now >= *next_deadline().
  void on_deadline(TimePoint now);

  // Outputs ------------------------------------------------------------------------------------
  std::optional<TimePoint> next_deadline() const;
  std::vector<Effect> take_effects();

  State state() const noexcept { return state_; }
  /// The retry number within the current outage (the last one while connected; it resets once
  /// a connection has stayed ready for min_uptime and then ends).
  int attempt() const noexcept { return attempt_; }
  const CoreStats& stats() const noexcept { return stats_; }
  /// The error the core is ending the live connection for (auth_timeout, heartbeat_timeout, ...),
  /// if it is ending it for a reason of its own.
  std::optional<errc> ending_error() const noexcept {
    return pending_cause_ ? pending_cause_->error : std::nullopt;
  }
  /// True while a transport attempt or connection is live (between OpenTransport and its end).
  bool transport_live() const noexcept { return transport_live_; }

 private:
  void enter(State next, TimePoint now, Cause cause = {});
  void open_transport(TimePoint now);
  bool refresh_after_rejection(TimePoint now, const Cause& cause);
  void became_ready(TimePoint now);
  void transport_ended(TimePoint now, Cause cause, bool opened);
  void schedule_retry(TimePoint now, const Cause& cause);
  ReconnectDecision decide(const Cause& cause) const;
  void arm_ping(TimePoint now);

  CoreOptions options_;
  Random& random_;
  State state_ = State::idle;
  std::vector<Effect> effects_;
  CoreStats stats_;

  int attempt_ = 0;
  bool transport_live_ = false;
  std::optional<TimePoint> ready_since_;    // open (and authenticated) since
  std::optional<TimePoint> retry_at_;       // waiting: when to connect again
  std::optional<TimePoint> ping_at_;        // open: when to ping if nothing arrives
  std::optional<TimePoint> pong_deadline_;  // a ping is outstanding
  std::optional<TimePoint> ping_sent_at_;
  std::optional<TimePoint> auth_deadline_;  // authenticating
  std::optional<Cause> pending_cause_;      // why we aborted or closed the transport ourselves
  bool refresh_used_ = false;               // a refresh was tried since the last ready connection
  bool refresh_next_ = false;               // the next attempt asks for a fresh token
};

}  // namespace tether::core
