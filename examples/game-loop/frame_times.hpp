#pragma once

// The time each frame spent inside tether's calls, and the statistics printed at the end of a run.

#include <chrono>
#include <cstddef>
#include <vector>

class FrameTimes {
 public:
  explicit FrameTimes(std::size_t expected_frames) { samples_.reserve(expected_frames); }

  void add(std::chrono::nanoseconds sample) { samples_.push_back(sample); }

  std::size_t count() const noexcept { return samples_.size(); }
  std::chrono::nanoseconds worst() const;
  std::chrono::nanoseconds mean() const;
  /// The nearest-rank percentile, `p` in (0, 100]; zero without samples.
  std::chrono::nanoseconds percentile(double p) const;

 private:
  std::vector<std::chrono::nanoseconds> samples_;
};
