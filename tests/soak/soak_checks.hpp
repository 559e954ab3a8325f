#pragma once

// The soak's samples and the checks made on them at the end (pure functions: no I/O).

#include <chrono>
#include <cstdint>
#include <string>
#include <tether/options.hpp>
#include <tether/state.hpp>
#include <vector>

#include "soak/message_ledger.hpp"
#include "soak/process_stats.hpp"

namespace tether::soak {

/// One sample (once per second).
struct Sample {
  double t = 0;  ///< Seconds since the churn started.
  ProcessStats process;
  State state = State::idle;
  std::uint64_t attempts = 0, reconnects = 0;
  std::uint64_t accepted = 0, sent = 0, dropped = 0, queued = 0, rejected = 0, received = 0;
  std::uint64_t echoes = 0;  ///< Distinct echoes so far.
  std::uint64_t sigterms = 0, sigkills = 0, proxy_faults = 0;
  std::uint64_t delays_scheduled = 0;  ///< Reconnect delays scheduled so far.
  std::int64_t last_delay_ms = -1;     ///< The last scheduled delay.
  std::int64_t last_observed_ms = -1;  ///< The last observed wait (scheduled → connecting).
  /// accepted == sent + dropped + queued in this snapshot.
  bool balanced() const { return accepted == sent + dropped + queued; }
};

/// One scheduled reconnect: on_reconnect_scheduled, then the move to `connecting`.
struct ReconnectRecord {
  int attempt = 0;
  std::int64_t scheduled_ms = 0;
  std::int64_t observed_ms = -1;  ///< -1: the wait did not end in `connecting`.
};

/// The range of a scheduled delay for retry `attempt` (ReconnectOptions: base = min(max,
/// initial × multiplier^(attempt−1)), delay in [base × (1 − jitter), base]), in whole ms with the
/// lower end rounded down.
struct DelayRange {
  std::int64_t low = 0, high = 0;
};
DelayRange delay_range(const ReconnectOptions& policy, int attempt);

struct Check {
  std::string name;
  bool pass = false;
  std::string criterion;
  std::string value;
};

/// Everything the checks look at.
struct SoakResult {
  std::vector<Sample> samples;
  std::vector<ReconnectRecord> reconnects;
  ReconnectOptions policy;
  Account account;
  bool drained = false;         ///< The queue emptied and the last echo came back at the end.
  bool closed_cleanly = false;  ///< close() finished (state closed) within its bound.
  bool gave_up = false;         ///< The client reached closed/failed during the churn.
  bool server_log_read = false;
  double warmup_s = 5;
};

/// The first-third / last-third figures of a series after the warm-up.
struct Flatness {
  std::int64_t first_max = 0, last_max = 0;
  std::size_t samples = 0;  ///< Samples after the warm-up.
};
Flatness flatness(const std::vector<Sample>& samples, double warmup_s,
                  std::int64_t (*value)(const Sample&));

/// The RSS criterion: last-third max ≤ first-third max + max(1 MiB, 5 %).
std::int64_t rss_margin_kib(std::int64_t first_max_kib);

/// Every check, in report order.
std::vector<Check> run_checks(const SoakResult& result);

}  // namespace tether::soak
