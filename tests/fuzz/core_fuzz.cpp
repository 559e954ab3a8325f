// libFuzzer target for the connection state machine (built and run by scripts/fuzz.sh core).
//
// The input is a configuration (auth, token refresh, timeouts, heartbeat, backoff, retries,
// a custom policy) followed by a sequence of events, one or a few bytes each: the transport
// connects or fails (with a cause), the connection closes (close code, error), the auth succeeds,
// is rejected or never answers, frames and pongs arrive, timers fire, time advances, and the user
// starts, closes, sends or asks to reconnect now. A simulated transport answers the core's
// effects. After every step these must hold, or the target aborts:
//   - never two transports: OpenTransport only while none is live, and transport_live() agrees
//     with the simulation;
//   - never an application message before auth: the state is `open` only on a transport that
//     opened and (with auth) whose auth succeeded;
//   - deadlines never in the past, and firing a due deadline clears it (no stale timer loops);
//   - terminal states (closed, failed) absorb everything: no more effects, no state change;
//   - state changes chain (each `from` is the previous `to`) and follow the documented table;
//   - counters agree with the effects: attempts = OpenTransport effects, opens = connects that
//     reached the core while it was connecting, reconnects = opens - 1.
//   - close/abort/ping effects only while a transport is live.

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "core/connection_core.hpp"
#include "fuzz_input.hpp"
#include "tether/state.hpp"

namespace {

using tether::Cause;
using tether::errc;
using tether::State;
using tether::fuzz::check;
using tether::fuzz::fail;
using namespace tether::core;

class FuzzRandom : public Random {
 public:
  explicit FuzzRandom(tether::fuzz::Input& in) : in_(in) {}
  double uniform() override { return in_.byte() / 256.0; }

 private:
  tether::fuzz::Input& in_;
};

std::string name(State s) {
  return std::string(tether::to_string(s));
}

bool allowed_transition(State from, State to) {
  using S = State;
  static const std::set<std::pair<S, S>> kAllowed = {
      {S::idle, S::connecting},
      {S::idle, S::closed},
      {S::connecting, S::open},
      {S::connecting, S::authenticating},
      {S::connecting, S::waiting},
      {S::connecting, S::closed},
      {S::connecting, S::failed},
      {S::connecting, S::closing},
      {S::authenticating, S::open},
      {S::authenticating, S::waiting},
      {S::authenticating, S::closed},
      {S::authenticating, S::failed},
      {S::authenticating, S::closing},
      {S::open, S::waiting},
      {S::open, S::closed},
      {S::open, S::failed},
      {S::open, S::closing},
      {S::waiting, S::connecting},
      {S::waiting, S::closed},
      {S::closing, S::closed},
  };
  return kAllowed.count({from, to}) != 0;
}

bool terminal(State s) {
  return s == State::closed || s == State::failed;
}

const errc kErrors[] = {errc::connect_refused,   errc::connect_timeout,    errc::dns_failed,
                        errc::tls_verify_failed, errc::handshake_rejected, errc::handshake_failed,
                        errc::protocol_error,    errc::auth_rejected,      errc::invalid_url,
                        errc::connection_lost,   errc::message_too_big};

const std::uint16_t kCloseCodes[] = {0,    1000, 1001, 1002, 1003, 1005, 1006, 1007, 1008, 1011,
                                     1012, 1013, 1014, 3000, 3500, 4000, 4001, 4003, 4500};

struct Sim {
  bool live = false;    // a transport attempt is under way (between OpenTransport and its end)
  bool opened = false;  // it reached the 101
  bool authed = false;  // its auth succeeded
  bool ending = false;  // the core asked to close or abort it
  std::uint64_t open_effects = 0;
  std::uint64_t opens_seen = 0;
  std::uint64_t app_sent = 0;
  State state = State::idle;
};

class Driver {
 public:
  Driver(CoreOptions options, Random& random, TimePoint start)
      : auth_(options.auth), core_(std::move(options), random), now_(start) {}

  void step(tether::fuzz::Input& in) {
    const std::uint8_t op = in.byte();
    const State before = core_.state();
    switch (op % 16) {
      case 0:
        core_.start(now_);
        break;
      case 1:  // the transport connects (101)
        if (sim_.live && !sim_.opened) {
          const bool counts = core_.state() == State::connecting;
          sim_.opened = true;
          core_.on_transport_open(now_);
          if (counts) ++sim_.opens_seen;
        } else {
          core_.on_transport_open(now_);  // stray: must be ignored
        }
        break;
      case 2: {  // the attempt fails before opening
        Cause cause;
        cause.error = kErrors[in.byte() % (sizeof kErrors / sizeof kErrors[0])];
        if (cause.error == errc::handshake_rejected) {
          static const int kStatus[] = {301, 401, 403, 404, 408, 429, 500, 503, 101, 200};
          cause.http_status = kStatus[in.byte() % 10];
          if (in.flag()) cause.retry_after = Millis(in.u16());
        }
        cause.message = "fuzz";
        if (sim_.live && sim_.opened) break;     // an opened connection ends with case 3
        core_.on_transport_failed(now_, cause);  // without a live transport: ignored
        if (sim_.live) end_transport();
        break;
      }
      case 3: {  // an opened connection ends
        Cause cause;
        cause.close_code = kCloseCodes[in.byte() % (sizeof kCloseCodes / sizeof kCloseCodes[0])];
        if (in.flag()) cause.error = kErrors[in.byte() % (sizeof kErrors / sizeof kErrors[0])];
        // The transport reports an end without a close frame as connection_lost.
        if (cause.close_code == 0 && !cause.error) cause.error = errc::connection_lost;
        cause.by_client = sim_.ending && in.flag();
        if (sim_.live && !sim_.opened) break;    // an attempt that never opened fails (case 2)
        core_.on_transport_closed(now_, cause);  // without a live transport: ignored
        if (sim_.live) end_transport();
        break;
      }
      case 4:
        core_.on_auth_succeeded(now_);
        if (sim_.live && sim_.opened && before == State::authenticating) sim_.authed = true;
        break;
      case 5:
        core_.on_auth_rejected(now_, "rejected");
        break;
      case 6:
        core_.on_frame(now_);
        break;
      case 7:
        core_.on_pong(now_);
        break;
      case 8:  // the user closes
        core_.close(now_, in.flag() ? 1000 : 4000, "bye");
        break;
      case 9:
        core_.reconnect_now(now_);
        break;
      case 10:  // the user sends: the session writes only while the state is open
        if (core_.state() == State::open) {
          check(sim_.live && sim_.opened, "open without an opened transport");
          if (auth_) check(sim_.authed, "application message before auth succeeded");
          ++sim_.app_sent;
        }
        break;
      case 11:  // the next timer fires
        if (const auto d = core_.next_deadline()) advance_to(*d);
        break;
      case 12:
        advance_to(now_ + Millis(in.byte()));
        break;
      case 13:
        advance_to(now_ + Millis(in.u16()) * 16);
        break;
      case 14:  // a transport the core asked to end reports its end
        if (sim_.live && sim_.ending) {
          Cause cause;
          cause.close_code = sim_.opened ? 1000 : 0;
          cause.by_client = true;
          if (sim_.opened) {
            core_.on_transport_closed(now_, cause);
          } else {
            core_.on_transport_failed(now_, cause);
          }
          end_transport();
        }
        break;
      default:
        core_.on_deadline(now_);  // early or on time: only due work happens
        break;
    }
    absorb(before);
  }

  void finish() {
    // Whatever happened, a bounded number of timer firings and transport ends never leaves a
    // deadline in the past.
    for (int i = 0; i < 4; ++i) {
      if (const auto d = core_.next_deadline()) advance_to(*d);
      absorb(core_.state());
    }
  }

 private:
  void end_transport() {
    sim_.live = false;
    sim_.opened = false;
    sim_.authed = false;
    sim_.ending = false;
  }

  void advance_to(TimePoint t) {
    if (t > now_) now_ = t;
    // Fire what is due; every firing must clear or move its deadline.
    for (int i = 0; i < 8; ++i) {
      const auto d = core_.next_deadline();
      if (!d || *d > now_) return;
      const State before = core_.state();
      core_.on_deadline(now_);
      absorb(before);
      const auto after = core_.next_deadline();
      if (after && *after == *d && core_.state() == before) {
        // Nothing changed: a due deadline that firing does not clear would spin the loop.
        fail("a due deadline survives on_deadline()", name(core_.state()));
      }
    }
    const auto d = core_.next_deadline();
    check(!d || *d > now_ || core_.state() == State::waiting, "deadlines keep coming due");
  }

  // Takes the effects of the last input and checks every invariant.
  void absorb(State before) {
    const std::vector<Effect> effects = core_.take_effects();
    if (terminal(before)) {
      check(effects.empty(), "effects after a terminal state", name(before));
      check(core_.state() == before, "left a terminal state", name(before));
    }
    for (const Effect& e : effects) {
      if (const auto* open = std::get_if<effect::OpenTransport>(&e)) {
        (void)open;
        check(!sim_.live, "a second transport opened while one is live");
        sim_.live = true;
        sim_.opened = false;
        sim_.authed = false;
        sim_.ending = false;
        ++sim_.open_effects;
      } else if (std::get_if<effect::CloseTransport>(&e) != nullptr ||
                 std::get_if<effect::AbortTransport>(&e) != nullptr) {
        check(sim_.live, "close or abort without a live transport");
        sim_.ending = true;
      } else if (std::get_if<effect::SendPing>(&e) != nullptr) {
        check(sim_.live && sim_.opened && !sim_.ending, "ping without an open transport");
        check(core_.state() == State::open || core_.state() == State::authenticating,
              "ping outside authenticating/open", name(core_.state()));
      } else if (const auto* change = std::get_if<effect::StateChange>(&e)) {
        check(change->from == sim_.state, "state change does not start where the last ended",
              name(change->from) + " vs " + name(sim_.state));
        check(allowed_transition(change->from, change->to), "transition not in the table",
              name(change->from) + " -> " + name(change->to));
        if (change->to == State::open) {
          check(sim_.live && sim_.opened, "open without an opened transport");
          if (auth_) check(sim_.authed, "open before auth succeeded");
        }
        if (change->to == State::failed || change->to == State::waiting) {
          check(!(change->to == State::failed && !change->cause.error &&
                  !change->cause.close_code && !change->cause.by_client),
                "failed without a cause");
        }
        sim_.state = change->to;
      } else if (const auto* scheduled = std::get_if<effect::ReconnectScheduled>(&e)) {
        check(scheduled->delay.count() >= 0, "negative reconnect delay");
        check(scheduled->attempt == core_.attempt(), "scheduled attempt differs from attempt()");
        check(core_.state() == State::waiting, "reconnect scheduled outside waiting");
      }
    }
    check(core_.state() == sim_.state, "state() differs from the last state change");
    check(core_.transport_live() == sim_.live, "transport_live() differs from the transport");
    if (terminal(core_.state())) check(!sim_.live, "terminal state with a live transport");
    if (core_.state() == State::open) {
      check(sim_.live && sim_.opened, "open without an opened transport");
      if (auth_) check(sim_.authed, "open before auth succeeded");
    }
    if (core_.state() == State::waiting || core_.state() == State::idle) {
      check(!sim_.live, "live transport while idle or waiting");
    }
    const CoreStats& stats = core_.stats();
    check(stats.attempts == sim_.open_effects, "attempts differ from OpenTransport effects");
    check(stats.opens == sim_.opens_seen, "opens differ from connects");
    check(stats.opens <= stats.attempts, "more opens than attempts");
    check(stats.reconnects == (stats.opens > 0 ? stats.opens - 1 : 0), "reconnects != opens - 1");
    check(stats.state_since <= now_, "state_since in the future");
    check(core_.attempt() >= 0, "negative attempt");
    if (const auto d = core_.next_deadline()) {
      check(*d >= now_, "a deadline in the past");
      check(!terminal(core_.state()) && core_.state() != State::idle,
            "a deadline in idle or a terminal state", name(core_.state()));
    }
  }

  bool auth_;
  ConnectionCore core_;
  TimePoint now_;
  Sim sim_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  tether::fuzz::Input in(data, size);
  CoreOptions options;
  const std::uint8_t flags = in.byte();
  options.auth = (flags & 1) != 0;
  options.auth_refresh = (flags & 2) != 0;
  options.reconnect.enabled = (flags & 4) == 0;
  options.auth_timeout = Millis(in.byte() * 50);
  options.heartbeat.ping_interval = Millis(in.byte() * 40);
  options.heartbeat.pong_timeout = Millis(1 + in.byte() * 20);
  options.reconnect.initial = Millis(in.byte() * 10);
  options.reconnect.multiplier = 1.0 + in.byte() / 64.0;
  options.reconnect.max = Millis(in.u16());
  options.reconnect.jitter = in.byte() / 255.0;
  options.reconnect.min_uptime = Millis(in.byte() * 100);
  options.reconnect.max_retries = static_cast<int>(in.byte() % 8) - 1;
  if (flags & 8) {
    const std::uint8_t policy = in.byte();
    options.reconnect.should_reconnect = [policy](const Cause& cause) {
      switch ((policy + cause.close_code) % 4) {
        case 0:
          return tether::ReconnectDecision::reconnect;
        case 1:
          return tether::ReconnectDecision::stop;
        case 2:
          return tether::ReconnectDecision::fail;
        default:
          return tether::default_reconnect_decision(cause);
      }
    };
  }

  FuzzRandom random(in);
  Driver driver(std::move(options), random, TimePoint{} + std::chrono::hours(1));
  for (int steps = 0; !in.empty() && steps < 2000; ++steps) driver.step(in);
  driver.finish();
  return 0;
}
