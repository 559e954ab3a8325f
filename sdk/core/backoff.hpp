#pragma once

// The reconnect delay: a pure function of the options, the retry number and one uniform draw.

#include <chrono>

#include "tether/options.hpp"

namespace tether::core {

/// The longest delay a server's Retry-After may impose.
inline constexpr std::chrono::milliseconds kMaxRetryAfter{5 * 60 * 1000};

/// base = min(max, initial * multiplier^(attempt-1)); delay = base * (1 - jitter * u), u in [0, 1).
/// The cap applies before the jitter, so the jitter survives at the cap. `attempt` >= 1.
std::chrono::milliseconds backoff_delay(const ReconnectOptions& options, int attempt, double u);

/// The delay before retry `attempt`, raised to a server's Retry-After (capped at kMaxRetryAfter).
std::chrono::milliseconds retry_delay(const ReconnectOptions& options, int attempt, double u,
                                      const Cause& cause);

}  // namespace tether::core
