#include "frame_times.hpp"

#include <algorithm>
#include <cmath>

std::chrono::nanoseconds FrameTimes::worst() const {
  if (samples_.empty()) return std::chrono::nanoseconds{0};
  return *std::max_element(samples_.begin(), samples_.end());
}

std::chrono::nanoseconds FrameTimes::mean() const {
  if (samples_.empty()) return std::chrono::nanoseconds{0};
  std::chrono::nanoseconds total{0};
  for (auto sample : samples_) total += sample;
  return total / static_cast<long long>(samples_.size());
}

std::chrono::nanoseconds FrameTimes::percentile(double p) const {
  if (samples_.empty()) return std::chrono::nanoseconds{0};
  std::vector<std::chrono::nanoseconds> sorted = samples_;
  std::sort(sorted.begin(), sorted.end());
  const double rank = std::ceil(p / 100.0 * static_cast<double>(sorted.size()));
  const auto index = static_cast<std::size_t>(std::max(rank, 1.0)) - 1;
  return sorted[std::min(index, sorted.size() - 1)];
}
