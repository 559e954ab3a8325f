#include "core/backoff.hpp"

#include <algorithm>
#include <cmath>

namespace tether::core {

std::chrono::milliseconds backoff_delay(const ReconnectOptions& options, int attempt, double u) {
  const double initial = static_cast<double>(std::max<long long>(0, options.initial.count()));
  const double cap = static_cast<double>(std::max<long long>(0, options.max.count()));
  const double multiplier = std::max(1.0, options.multiplier);
  const double jitter = std::clamp(options.jitter, 0.0, 1.0);
  u = std::clamp(u, 0.0, std::nextafter(1.0, 0.0));
  // Grow step by step and stop at the cap: no overflow however large `attempt` gets.
  double base = initial;
  for (int i = 1; i < attempt && base < cap; ++i) base *= multiplier;
  base = std::min(base, cap);
  const double delay = base * (1.0 - jitter * u);
  return std::chrono::milliseconds(static_cast<long long>(std::floor(delay)));
}

std::chrono::milliseconds retry_delay(const ReconnectOptions& options, int attempt, double u,
                                      const Cause& cause) {
  auto delay = backoff_delay(options, attempt, u);
  if (cause.retry_after) delay = std::max(delay, std::min(*cause.retry_after, kMaxRetryAfter));
  return delay;
}

}  // namespace tether::core
