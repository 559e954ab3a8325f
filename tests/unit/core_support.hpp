#pragma once

// Fakes for driving the sans-IO connection core: scripted randomness, a hand-moved clock, and
// helpers that name effects and causes in test failure messages.

#include <gtest/gtest.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <ostream>
#include <sstream>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "core/connection_core.hpp"
#include "tether/error.hpp"
#include "tether/state.hpp"

namespace tether {

/// Lets GoogleTest print states by name ("open", not "4-byte object").
inline void PrintTo(State state, std::ostream* out) {
  *out << to_string(state);
}

}  // namespace tether

namespace tether::core::testing {

using std::chrono::milliseconds;

/// Hands out a scripted sequence of uniforms; after the script runs out it repeats `fallback`.
class FixedRandom final : public Random {
 public:
  explicit FixedRandom(std::vector<double> script = {}, double fallback = 0.0)
      : script_(std::move(script)), fallback_(fallback) {}

  double uniform() override {
    ++draws_;
    if (next_ < script_.size()) return script_[next_++];
    return fallback_;
  }

  /// Appends more values to the script.
  void push(double u) { script_.push_back(u); }
  std::size_t draws() const noexcept { return draws_; }

 private:
  std::vector<double> script_;
  std::size_t next_ = 0;
  double fallback_;
  std::size_t draws_ = 0;
};

/// A steady_clock time line starting at the epoch of TimePoint{}. `at(ms)` is absolute,
/// `advance(ms)` moves `now()` forward.
class FakeClock {
 public:
  static TimePoint at(long long ms) { return TimePoint{} + milliseconds(ms); }
  static long long ms_of(TimePoint t) {
    return std::chrono::duration_cast<milliseconds>(t - TimePoint{}).count();
  }

  TimePoint now() const noexcept { return now_; }
  long long now_ms() const { return ms_of(now_); }
  TimePoint advance(long long ms) {
    now_ += milliseconds(ms);
    return now_;
  }
  TimePoint set(long long ms) {
    now_ = at(ms);
    return now_;
  }

 private:
  TimePoint now_{};
};

/// next_deadline() in milliseconds since TimePoint{}, or nullopt.
inline std::optional<long long> deadline_ms(const ConnectionCore& core) {
  const std::optional<TimePoint> d = core.next_deadline();
  if (!d) return std::nullopt;
  return FakeClock::ms_of(*d);
}

inline std::string describe(const Cause& c) {
  std::ostringstream out;
  out << "{error=" << (c.error ? std::string(to_string(*c.error)) : std::string("none"))
      << " message=\"" << c.message << "\" close_code=" << c.close_code << " close_reason=\""
      << c.close_reason << "\" by_client=" << c.by_client << " http_status=" << c.http_status;
  if (c.retry_after) out << " retry_after=" << c.retry_after->count() << "ms";
  out << "}";
  return out.str();
}

inline std::string describe(const Effect& e) {
  std::ostringstream out;
  if (const auto* open = std::get_if<effect::OpenTransport>(&e)) {
    out << (open->refresh_token ? "OpenTransport{refresh_token}" : "OpenTransport");
  } else if (const auto* close = std::get_if<effect::CloseTransport>(&e)) {
    out << "CloseTransport{" << close->code << ", \"" << close->reason << "\"}";
  } else if (const auto* abort = std::get_if<effect::AbortTransport>(&e)) {
    out << "AbortTransport{" << to_string(abort->error) << ", \"" << abort->message << "\"}";
  } else if (std::holds_alternative<effect::SendPing>(e)) {
    out << "SendPing";
  } else if (const auto* change = std::get_if<effect::StateChange>(&e)) {
    out << "StateChange{" << to_string(change->from) << " -> " << to_string(change->to) << ", "
        << describe(change->cause) << "}";
  } else if (const auto* sched = std::get_if<effect::ReconnectScheduled>(&e)) {
    out << "ReconnectScheduled{attempt=" << sched->attempt << ", delay=" << sched->delay.count()
        << "ms}";
  }
  return out.str();
}

inline std::string describe(const std::vector<Effect>& effects) {
  std::string out = "[";
  for (std::size_t i = 0; i < effects.size(); ++i) {
    if (i) out += ", ";
    out += describe(effects[i]);
  }
  return out + "]";
}

// Cause builders for the inputs the transport reports.

/// An attempt that failed before opening.
inline Cause failure(errc error, std::string message = {}) {
  Cause c;
  c.error = error;
  c.message = std::move(message);
  return c;
}

/// The upgrade answered with a status other than 101.
inline Cause rejected(int http_status, std::optional<milliseconds> retry_after = std::nullopt) {
  Cause c;
  c.error = errc::handshake_rejected;
  c.http_status = http_status;
  c.message = "HTTP " + std::to_string(http_status);
  c.retry_after = retry_after;
  return c;
}

/// The server closed an open connection with `code`.
inline Cause server_close(std::uint16_t code, std::string reason = {}) {
  Cause c;
  c.close_code = code;
  c.close_reason = std::move(reason);
  return c;
}

/// `cause` as the core reports it when it means rejected credentials (close 4001/4003, HTTP
/// 401/403): the error becomes auth_rejected.
inline Cause as_auth_rejected(Cause cause) {
  cause.error = errc::auth_rejected;
  return cause;
}

/// An open connection ended without a close frame.
inline Cause lost() {
  Cause c;
  c.error = errc::connection_lost;
  c.close_code = 1006;
  return c;
}

/// The transport's report of a close the client started (its close frame answered).
inline Cause client_close_done(std::uint16_t code, std::string reason = {}) {
  Cause c;
  c.close_code = code;
  c.close_reason = std::move(reason);
  c.by_client = true;
  return c;
}

}  // namespace tether::core::testing
