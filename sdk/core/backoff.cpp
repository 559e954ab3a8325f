#include "core/backoff.hpp"

#include <algorithm>
#include <cmath>

namespace tether::core {

std::chrono::milliseconds backoff_delay(const ReconnectOptions& options, int attempt, double u) {
  // Delays beyond a year make no sense and would overflow time points: clamp the cap there.
  constexpr double kLongest = 365.0 * 24 * 3600 * 1000;
  const double initial = static_cast<double>(std::max<long long>(0, options.initial.count()));
  const double cap = std::min(kLongest, static_cast<double>(std::max<long long>(0, options.max.count())));
  const double multiplier = std::max(1.0, options.multiplier);
  const double jitter = std::clamp(options.jitter, 0.0, 1.0);
  u = std::clamp(u, 0.0, std::nextafter(1.0, 0.0));
  // pow() saturates to infinity for huge attempts; min() then picks the cap.
  const double grown = initial * std::pow(multiplier, static_cast<double>(std::max(0, attempt - 1)));
  const double base = std::min(std::isnan(grown) ? cap : grown, cap);
  const double delay = std::min(base * (1.0 - jitter * u), cap);
  return std::chrono::milliseconds(static_cast<long long>(std::floor(delay)));
}

std::chrono::milliseconds retry_delay(const ReconnectOptions& options, int attempt, double u,
                                      const Cause& cause) {
  auto delay = backoff_delay(options, attempt, u);
  if (cause.retry_after) delay = std::max(delay, std::min(*cause.retry_after, kMaxRetryAfter));
  return delay;
}

}  // namespace tether::core
