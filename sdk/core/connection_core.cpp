// Every transition of the connection manager lives in this file; nothing here touches I/O, threads
// or the clock. The rows of docs/state-machine.md are marked [Tn] where they happen.

#include "core/connection_core.hpp"

#include <algorithm>
#include <utility>

#include "core/backoff.hpp"

namespace tether::core {

namespace {

bool is_connected_state(State s) {
  return s == State::authenticating || s == State::open || s == State::closing;
}

}  // namespace

ConnectionCore::ConnectionCore(CoreOptions options, Random& random)
    : options_(std::move(options)), random_(random) {}

std::vector<Effect> ConnectionCore::take_effects() {
  std::vector<Effect> out;
  out.swap(effects_);
  return out;
}

void ConnectionCore::enter(State next, TimePoint now, Cause cause) {
  effects_.push_back(effect::StateChange{state_, next, std::move(cause)});
  state_ = next;
  stats_.state_since = now;
}

void ConnectionCore::open_transport(TimePoint now) {
  if (transport_live_) return;  // never two transports
  transport_live_ = true;
  ++stats_.attempts;
  enter(State::connecting, now);
  effects_.push_back(effect::OpenTransport{refresh_next_});
  refresh_next_ = false;
}

void ConnectionCore::arm_ping(TimePoint now) {
  pong_deadline_.reset();
  ping_sent_at_.reset();
  if (options_.heartbeat.ping_interval.count() > 0) {
    ping_at_ = now + options_.heartbeat.ping_interval;
  } else {
    ping_at_.reset();
  }
}

void ConnectionCore::became_ready(TimePoint now) {
  enter(State::open, now);
  ready_since_ = now;
  refresh_used_ = false;  // the token was accepted: a later rejection may refresh again
}

// [T18] --auth rejected, token refreshable, not yet refreshed--> waiting (delay 0), then
// connecting with a fresh token. A second rejection in a row falls through to the policy (fail).
bool ConnectionCore::refresh_after_rejection(TimePoint now, const Cause& cause) {
  if (cause.error != errc::auth_rejected || !options_.auth_refresh || refresh_used_) return false;
  refresh_used_ = true;
  refresh_next_ = true;
  attempt_ += 1;
  retry_at_ = now;
  enter(State::waiting, now, cause);
  effects_.push_back(effect::ReconnectScheduled{attempt_, Millis(0)});
  return true;
}

// [T1] idle --start--> connecting
void ConnectionCore::start(TimePoint now) {
  if (state_ != State::idle) return;
  stats_.state_since = now;
  open_transport(now);
}

void ConnectionCore::on_transport_open(TimePoint now) {
  if (state_ != State::connecting || !transport_live_) return;
  ++stats_.opens;
  if (stats_.opens > 1) ++stats_.reconnects;
  arm_ping(now);
  if (options_.auth) {
    // [T3] connecting --opened, auth on--> authenticating
    enter(State::authenticating, now);
    if (options_.auth_timeout.count() > 0) auth_deadline_ = now + options_.auth_timeout;
    return;
  }
  // [T2] connecting --opened--> open
  became_ready(now);
}

// [T4] authenticating --auth ok--> open
void ConnectionCore::on_auth_succeeded(TimePoint now) {
  if (state_ != State::authenticating) return;
  auth_deadline_.reset();
  became_ready(now);
}

// [T5] authenticating|open --auth rejected--> (close 1000 "auth rejected"), then failed
void ConnectionCore::on_auth_rejected(TimePoint now, std::string message) {
  (void)now;
  if (state_ != State::authenticating && state_ != State::open) return;
  Cause cause;
  cause.error = errc::auth_rejected;
  cause.message = std::move(message);
  pending_cause_ = cause;
  auth_deadline_.reset();
  // The connection is being closed for this reason: no heartbeat may replace it.
  ping_at_.reset();
  pong_deadline_.reset();
  effects_.push_back(effect::CloseTransport{1000, "auth rejected"});
}

// Any inbound frame proves the connection alive: the ping clock restarts.
void ConnectionCore::on_frame(TimePoint now) {
  if (!transport_live_ || !is_connected_state(state_)) return;
  // Closing, or ending the connection for a reason of its own: no heartbeat any more.
  if (state_ == State::closing || pending_cause_) return;
  arm_ping(now);
}

void ConnectionCore::on_pong(TimePoint now) {
  if (ping_sent_at_) {
    stats_.last_rtt = std::chrono::duration_cast<Millis>(now - *ping_sent_at_);
  }
  on_frame(now);
}

void ConnectionCore::close(TimePoint now, std::uint16_t code, std::string reason) {
  Cause cause;
  cause.by_client = true;
  cause.close_code = code;
  cause.close_reason = reason;
  switch (state_) {
    case State::idle:
    case State::waiting:
      // [T16] idle|waiting --close--> closed
      retry_at_.reset();
      enter(State::closed, now, std::move(cause));
      return;
    case State::connecting:
    case State::authenticating:
    case State::open:
      // [T15] connecting|authenticating|open --close--> closing
      ping_at_.reset();
      pong_deadline_.reset();
      auth_deadline_.reset();
      pending_cause_ = cause;
      enter(State::closing, now, cause);
      effects_.push_back(effect::CloseTransport{code, std::move(reason)});
      return;
    case State::closing:
    case State::closed:
    case State::failed:
      return;
  }
}

void ConnectionCore::reconnect_now(TimePoint now) {
  attempt_ = 0;
  if (state_ != State::waiting) return;
  // [T13] waiting --reconnect_now--> connecting
  retry_at_.reset();
  open_transport(now);
}

void ConnectionCore::on_deadline(TimePoint now) {
  if (retry_at_ && now >= *retry_at_ && state_ == State::waiting) {
    // [T12] waiting --retry time--> connecting
    retry_at_.reset();
    open_transport(now);
  }
  if (auth_deadline_ && now >= *auth_deadline_ && state_ == State::authenticating) {
    // [T6] authenticating --auth timeout--> (close 1000 "auth timeout"), then reconnect
    auth_deadline_.reset();
    Cause cause;
    cause.error = errc::auth_timeout;
    cause.message = "no auth response within " + std::to_string(options_.auth_timeout.count()) +
                    " ms";
    pending_cause_ = cause;
    ping_at_.reset();
    pong_deadline_.reset();
    effects_.push_back(effect::CloseTransport{1000, "auth timeout"});
  }
  // Once the core is ending the connection for a reason of its own, nothing replaces it.
  const bool alive = transport_live_ && !pending_cause_ &&
                     (state_ == State::open || state_ == State::authenticating);
  if (pong_deadline_ && now >= *pong_deadline_ && alive) {
    // [T11] open --no frame within pong_timeout after a ping--> abort (heartbeat_timeout)
    pong_deadline_.reset();
    ping_at_.reset();
    Cause cause;
    cause.error = errc::heartbeat_timeout;
    cause.message = "no frame within " + std::to_string(options_.heartbeat.pong_timeout.count()) +
                    " ms after a ping";
    pending_cause_ = cause;
    effects_.push_back(effect::AbortTransport{errc::heartbeat_timeout, cause.message});
  } else if (ping_at_ && now >= *ping_at_ && alive && !pong_deadline_) {
    // [T10] open --nothing received for ping_interval--> ping
    ping_at_.reset();
    ping_sent_at_ = now;
    pong_deadline_ = now + options_.heartbeat.pong_timeout;
    effects_.push_back(effect::SendPing{});
  }
}

void ConnectionCore::on_transport_failed(TimePoint now, Cause cause) {
  if (!transport_live_) return;
  transport_ended(now, std::move(cause), false);
}

void ConnectionCore::on_transport_closed(TimePoint now, Cause cause) {
  if (!transport_live_) return;
  transport_ended(now, std::move(cause), true);
}

void ConnectionCore::transport_ended(TimePoint now, Cause cause, bool opened) {
  transport_live_ = false;
  ping_at_.reset();
  pong_deadline_.reset();
  ping_sent_at_.reset();
  auth_deadline_.reset();
  std::optional<Cause> pending = std::move(pending_cause_);
  pending_cause_.reset();

  if (state_ == State::closing) {
    // [T17] closing --transport ended--> closed
    cause.by_client = true;
    if (pending && cause.close_code == 0) {
      cause.close_code = pending->close_code;
      cause.close_reason = pending->close_reason;
    }
    enter(State::closed, now, std::move(cause));
    return;
  }
  if (pending && pending->error) {
    // We ended it (heartbeat, auth): that is the cause, whatever the transport saw.
    cause.error = pending->error;
    cause.message = pending->message;
    cause.by_client = false;
  }
  // A connection that stayed ready for min_uptime ends the outage's count.
  if (ready_since_ && now - *ready_since_ >= options_.reconnect.min_uptime) attempt_ = 0;
  ready_since_.reset();
  (void)opened;

  // Rejected credentials are `auth_rejected` whichever way the server said it.
  if (!cause.error && (cause.close_code == 4001 || cause.close_code == 4003)) {
    cause.error = errc::auth_rejected;
  }
  if (cause.error == errc::handshake_rejected &&
      (cause.http_status == 401 || cause.http_status == 403)) {
    cause.error = errc::auth_rejected;
  }
  if (refresh_after_rejection(now, cause)) return;
  switch (decide(cause)) {
    case ReconnectDecision::stop:
      // [T8] connecting|authenticating|open --ended, policy stop--> closed
      enter(State::closed, now, std::move(cause));
      return;
    case ReconnectDecision::fail:
      // [T9] --ended, policy fail--> failed
      enter(State::failed, now, std::move(cause));
      return;
    case ReconnectDecision::reconnect:
      // [T7] --ended, policy reconnect--> waiting (or failed when the retries are used up)
      schedule_retry(now, cause);
      return;
  }
}

ReconnectDecision ConnectionCore::decide(const Cause& cause) const {
  ReconnectDecision decision = options_.reconnect.should_reconnect
                                   ? options_.reconnect.should_reconnect(cause)
                                   : default_reconnect_decision(cause);
  if (decision == ReconnectDecision::reconnect && !options_.reconnect.enabled) {
    decision = ReconnectDecision::fail;
  }
  return decision;
}

void ConnectionCore::schedule_retry(TimePoint now, const Cause& cause) {
  const int next = attempt_ + 1;
  const int max_retries = options_.reconnect.max_retries;
  if (max_retries >= 0 && next > max_retries) {
    // [T14] retries used up --> failed (retries_exhausted)
    Cause exhausted = cause;
    exhausted.error = errc::retries_exhausted;
    exhausted.message = "gave up after " + std::to_string(max_retries) + " retries" +
                        (cause.message.empty() ? "" : ": " + cause.message);
    enter(State::failed, now, std::move(exhausted));
    return;
  }
  attempt_ = next;
  const Millis delay = retry_delay(options_.reconnect, attempt_, random_.uniform(), cause);
  retry_at_ = now + delay;
  enter(State::waiting, now, cause);
  effects_.push_back(effect::ReconnectScheduled{attempt_, delay});
}

std::optional<TimePoint> ConnectionCore::next_deadline() const {
  std::optional<TimePoint> next;
  auto consider = [&next](const std::optional<TimePoint>& t) {
    if (t && (!next || *t < *next)) next = t;
  };
  consider(retry_at_);
  consider(auth_deadline_);
  consider(pong_deadline_);
  if (!pong_deadline_) consider(ping_at_);
  return next;
}

}  // namespace tether::core
