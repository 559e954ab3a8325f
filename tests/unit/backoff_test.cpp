#include "core/backoff.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <climits>
#include <cmath>
#include <cstddef>
#include <random>
#include <string>

namespace tether::core {
namespace {

using std::chrono::milliseconds;

// The contract's defaults: initial 500 ms, multiplier 2, max 30 s, jitter 0.5.
ReconnectOptions defaults() {
  return ReconnectOptions{};
}

ReconnectOptions with(long long initial, double multiplier, long long max, double jitter) {
  ReconnectOptions o;
  o.initial = milliseconds(initial);
  o.multiplier = multiplier;
  o.max = milliseconds(max);
  o.jitter = jitter;
  return o;
}

long long delay_ms(const ReconnectOptions& o, int attempt, double u) {
  return backoff_delay(o, attempt, u).count();
}

// The largest double below 1: the top of U's range [0, 1).
const double kAlmostOne = std::nextafter(1.0, 0.0);

TEST(BackoffDelay, DefaultsMatchTheContract) {
  const ReconnectOptions o = defaults();
  EXPECT_EQ(o.initial, milliseconds(500));
  EXPECT_EQ(o.multiplier, 2.0);
  EXPECT_EQ(o.max, milliseconds(30000));
  EXPECT_EQ(o.jitter, 0.5);
  EXPECT_EQ(o.max_retries, -1);
  EXPECT_EQ(o.min_uptime, milliseconds(5000));
  EXPECT_TRUE(o.enabled);
}

TEST(BackoffDelay, BaseDoublesPerAttemptWithoutJitterDraw) {
  // U = 0 gives the base itself: 500, 1000, 2000, ... capped at 30000.
  const ReconnectOptions o = defaults();
  const std::array<long long, 10> expected = {500,   1000,  2000,  4000,  8000,
                                              16000, 30000, 30000, 30000, 30000};
  for (std::size_t i = 0; i < expected.size(); ++i) {
    const int attempt = static_cast<int>(i) + 1;
    EXPECT_EQ(delay_ms(o, attempt, 0.0), expected[i]) << "attempt " << attempt;
  }
}

struct ExactCase {
  int attempt;
  double u;
  long long delay;
};

TEST(BackoffDelay, ExactDelaysToTheMillisecond) {
  const ReconnectOptions o = defaults();
  // delay = base * (1 - 0.5 * u), rounded down to the millisecond.
  const ExactCase cases[] = {
      {1, 0.0, 500},    {1, 0.5, 375},       {1, 0.25, 437},         {1, kAlmostOne, 250},
      {2, 0.25, 875},   {2, 0.75, 625},      {3, 0.5, 1500},         {3, 0.125, 1875},
      {4, 0.375, 3250}, {5, 0.5, 6000},      {6, 0.75, 10000},       {6, kAlmostOne, 8000},
      {7, 0.0, 30000},  {7, 0.5, 22500},     {7, kAlmostOne, 15000}, {8, 0.25, 26250},
      {20, 0.5, 22500}, {100, 0.125, 28125},
  };
  for (const ExactCase& c : cases) {
    EXPECT_EQ(delay_ms(o, c.attempt, c.u), c.delay) << "attempt " << c.attempt << ", u " << c.u;
  }
}

TEST(BackoffDelay, WorkedExampleRangesForAttemptsOneToEight) {
  // The table in docs/state-machine.md: base and [lowest, highest] delay for each attempt.
  const ReconnectOptions o = defaults();
  const std::array<long long, 8> base = {500, 1000, 2000, 4000, 8000, 16000, 30000, 30000};
  for (std::size_t i = 0; i < base.size(); ++i) {
    const int attempt = static_cast<int>(i) + 1;
    EXPECT_EQ(delay_ms(o, attempt, 0.0), base[i]) << "highest delay, attempt " << attempt;
    EXPECT_EQ(delay_ms(o, attempt, kAlmostOne), base[i] / 2) << "lowest delay, attempt " << attempt;
  }
}

TEST(BackoffDelay, CapAppliesBeforeJitter) {
  // At the cap, jitter 0.5 and u = 0.5 give 0.75 * max, not max.
  const ReconnectOptions o = defaults();
  EXPECT_EQ(delay_ms(o, 7, 0.5), 22500);
  EXPECT_EQ(delay_ms(o, 30, 0.5), 22500);
  // 16000 * 2 = 32000 is over the cap: base is 30000, so u = 0.25 gives 26250 (not 28000).
  EXPECT_EQ(delay_ms(o, 7, 0.25), 26250);
  // A cap that is not a power-of-two step of the initial value.
  const ReconnectOptions odd = with(500, 2.0, 3000, 0.5);
  EXPECT_EQ(delay_ms(odd, 3, 0.0), 2000);
  EXPECT_EQ(delay_ms(odd, 4, 0.0), 3000);
  EXPECT_EQ(delay_ms(odd, 4, 0.5), 2250);
  // An initial value above the cap is capped too.
  const ReconnectOptions high = with(50000, 2.0, 30000, 0.5);
  EXPECT_EQ(delay_ms(high, 1, 0.0), 30000);
  EXPECT_EQ(delay_ms(high, 1, 0.5), 22500);
}

TEST(BackoffDelay, JitterZeroIsDeterministic) {
  const ReconnectOptions o = with(500, 2.0, 30000, 0.0);
  for (int attempt = 1; attempt <= 12; ++attempt) {
    const long long base = std::min(30000LL, 500LL << (attempt - 1));
    for (double u : {0.0, 0.1, 0.5, 0.9, kAlmostOne}) {
      EXPECT_EQ(delay_ms(o, attempt, u), base) << "attempt " << attempt << ", u " << u;
    }
  }
}

TEST(BackoffDelay, JitterOneIsFullRangeFromZeroToBase) {
  const ReconnectOptions o = with(500, 2.0, 30000, 1.0);
  EXPECT_EQ(delay_ms(o, 1, 0.0), 500);
  EXPECT_EQ(delay_ms(o, 1, 0.5), 250);
  EXPECT_EQ(delay_ms(o, 1, 0.75), 125);
  EXPECT_EQ(delay_ms(o, 1, kAlmostOne), 0);
  EXPECT_EQ(delay_ms(o, 7, 0.0), 30000);
  EXPECT_EQ(delay_ms(o, 7, 0.5), 15000);
  EXPECT_EQ(delay_ms(o, 7, kAlmostOne), 0);
}

TEST(BackoffDelay, OtherJitterFractions) {
  const ReconnectOptions quarter = with(1000, 2.0, 60000, 0.25);
  EXPECT_EQ(delay_ms(quarter, 1, 0.5), 875);
  EXPECT_EQ(delay_ms(quarter, 3, kAlmostOne), 3000);
  const ReconnectOptions three_quarters = with(1000, 2.0, 60000, 0.75);
  EXPECT_EQ(delay_ms(three_quarters, 2, 0.5), 1250);
  EXPECT_EQ(delay_ms(three_quarters, 2, kAlmostOne), 500);
}

TEST(BackoffDelay, MultiplierOneKeepsTheInitialDelay) {
  const ReconnectOptions o = with(700, 1.0, 30000, 0.0);
  for (int attempt : {1, 2, 3, 10, 100, 10000, 1000000}) {
    EXPECT_EQ(delay_ms(o, attempt, 0.0), 700) << "attempt " << attempt;
  }
  const ReconnectOptions jittered = with(700, 1.0, 30000, 0.5);
  EXPECT_EQ(delay_ms(jittered, 50, 0.5), 525);
}

TEST(BackoffDelay, FractionalMultiplier) {
  const ReconnectOptions o = with(500, 1.5, 30000, 0.0);
  EXPECT_EQ(delay_ms(o, 1, 0.0), 500);
  EXPECT_EQ(delay_ms(o, 2, 0.0), 750);
  EXPECT_EQ(delay_ms(o, 3, 0.0), 1125);
  EXPECT_EQ(delay_ms(o, 4, 0.0), 1687);    // 1687.5 rounded down
  EXPECT_EQ(delay_ms(o, 11, 0.0), 28832);  // 500 * 1.5^10 = 28832.519...
  EXPECT_EQ(delay_ms(o, 12, 0.0), 30000);  // 43248.7... capped
}

TEST(BackoffDelay, HugeAttemptNumbersDoNotOverflow) {
  for (double multiplier : {2.0, 1.5, 10.0, 1000.0}) {
    const ReconnectOptions o = with(500, multiplier, 30000, 0.5);
    for (int attempt : {64, 1000, 1 << 20, INT_MAX - 1, INT_MAX}) {
      EXPECT_EQ(delay_ms(o, attempt, 0.0), 30000)
          << "multiplier " << multiplier << ", attempt " << attempt;
      EXPECT_EQ(delay_ms(o, attempt, 0.5), 22500)
          << "multiplier " << multiplier << ", attempt " << attempt;
    }
  }
  // A multiplier barely above 1 needs ~41000 steps to reach the cap from 500 ms.
  const ReconnectOptions slow = with(500, 1.0001, 30000, 0.5);
  EXPECT_EQ(delay_ms(slow, 1000, 0.0), 552);  // 500 * 1.0001^999 = 552.5...
  for (int attempt : {1 << 20, INT_MAX}) {
    EXPECT_EQ(delay_ms(slow, attempt, 0.0), 30000) << "attempt " << attempt;
    EXPECT_EQ(delay_ms(slow, attempt, 0.5), 22500) << "attempt " << attempt;
  }
  // A large cap: 500 * 2^k grows past 2^63 long before attempt 200 and must stop at the cap.
  const ReconnectOptions big = with(500, 2.0, 86400000LL * 365, 0.0);
  EXPECT_EQ(delay_ms(big, 200, 0.0), 86400000LL * 365);
  EXPECT_EQ(delay_ms(big, INT_MAX, 0.0), 86400000LL * 365);
}

TEST(BackoffDelay, HugeCapNeverGoesNegative) {
  // base = min(max, initial * multiplier^(attempt-1)) with max = milliseconds::max() is a huge
  // positive delay; the formula never yields a negative one.
  const ReconnectOptions o = with(1000, 2.0, milliseconds::max().count(), 0.0);
  for (int attempt : {1, 10, 60, 100, 1000}) {
    const long long d = delay_ms(o, attempt, 0.0);
    EXPECT_GT(d, 0) << "CONTRACT (Reconnect policy, backoff formula): with max = "
                       "milliseconds::max() the delay for attempt "
                    << attempt << " must be min(max, 1000 * 2^(attempt-1)) > 0, got " << d
                    << " (double -> long long conversion overflows at the cap)";
  }
}

TEST(BackoffDelay, AttemptBelowOneIsTreatedAsFirst) {
  const ReconnectOptions o = defaults();
  EXPECT_EQ(delay_ms(o, 0, 0.0), 500);
  EXPECT_EQ(delay_ms(o, -3, 0.5), 375);
}

TEST(BackoffDelay, DrawsOutsideTheUnitIntervalStayInRange) {
  const ReconnectOptions o = defaults();
  EXPECT_EQ(delay_ms(o, 1, -0.5), 500);
  EXPECT_EQ(delay_ms(o, 1, 1.0), 250);
  EXPECT_EQ(delay_ms(o, 1, 7.0), 250);
}

TEST(BackoffDelay, OutOfRangeOptionsAreClamped) {
  // multiplier < 1 acts as 1; jitter outside 0..1 is clamped; negative durations act as 0.
  EXPECT_EQ(delay_ms(with(500, 0.5, 30000, 0.0), 5, 0.0), 500);
  EXPECT_EQ(delay_ms(with(500, 2.0, 30000, 2.0), 1, 0.5), 250);
  EXPECT_EQ(delay_ms(with(500, 2.0, 30000, -1.0), 1, 0.5), 500);
  EXPECT_EQ(delay_ms(with(-500, 2.0, 30000, 0.0), 3, 0.0), 0);
  EXPECT_EQ(delay_ms(with(500, 2.0, 0, 0.0), 3, 0.0), 0);
}

struct Spread {
  double mean = 0;
  double min = 1e300;
  double max = -1e300;
  std::array<int, 10> deciles{};
};

// 10k draws of delay / base at an attempt whose base is large enough for millisecond rounding
// not to matter (8000 ms: attempt 5 with the defaults).
Spread spread_for(double jitter, unsigned seed) {
  ReconnectOptions o = defaults();
  o.jitter = jitter;
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  const double base = 8000.0;
  constexpr int kDraws = 10000;
  Spread s;
  double sum = 0;
  for (int i = 0; i < kDraws; ++i) {
    const double ratio = static_cast<double>(delay_ms(o, 5, uniform(rng))) / base;
    sum += ratio;
    s.min = std::min(s.min, ratio);
    s.max = std::max(s.max, ratio);
    if (jitter > 0) {
      const double position = (1.0 - ratio) / jitter;  // back to u, in [0, 1]
      const int bucket = std::clamp(static_cast<int>(position * 10), 0, 9);
      ++s.deciles[static_cast<std::size_t>(bucket)];
    }
  }
  s.mean = sum / kDraws;
  return s;
}

TEST(BackoffDelay, StatisticalSpreadMatchesTheJitter) {
  for (double jitter : {0.25, 0.5, 1.0}) {
    const Spread s = spread_for(jitter, 20240601u);
    const std::string where = "jitter " + std::to_string(jitter);
    // E[delay / base] = 1 - jitter / 2; the standard error over 10k draws is below 0.003.
    EXPECT_NEAR(s.mean, 1.0 - jitter / 2, 0.01) << where;
    // Every draw inside [1 - jitter, 1], and the draws reach close to both ends.
    EXPECT_GE(s.min, 1.0 - jitter - 1e-9) << where;
    EXPECT_LE(s.max, 1.0) << where;
    EXPECT_NEAR(s.min, 1.0 - jitter, 0.01) << where;
    EXPECT_NEAR(s.max, 1.0, 0.01) << where;
    // Uniform: each tenth of the range holds about 1000 of the 10000 draws.
    for (std::size_t d = 0; d < s.deciles.size(); ++d) {
      EXPECT_NEAR(s.deciles[d], 1000, 150) << where << ", decile " << d;
    }
  }
}

TEST(BackoffDelay, StatisticalSpreadWithoutJitterIsAPoint) {
  const Spread s = spread_for(0.0, 7u);
  EXPECT_DOUBLE_EQ(s.mean, 1.0);
  EXPECT_DOUBLE_EQ(s.min, 1.0);
  EXPECT_DOUBLE_EQ(s.max, 1.0);
}

// Retry-After ---------------------------------------------------------------------------------

Cause with_retry_after(long long ms) {
  Cause c;
  c.error = errc::handshake_rejected;
  c.http_status = 503;
  c.retry_after = milliseconds(ms);
  return c;
}

TEST(BackoffRetryDelay, WithoutRetryAfterIsTheBackoff) {
  const ReconnectOptions o = defaults();
  EXPECT_EQ(retry_delay(o, 1, 0.5, Cause{}).count(), 375);
  EXPECT_EQ(retry_delay(o, 7, 0.5, Cause{}).count(), 22500);
}

TEST(BackoffRetryDelay, RetryAfterRaisesTheDelay) {
  const ReconnectOptions o = defaults();
  EXPECT_EQ(retry_delay(o, 1, 0.5, with_retry_after(10000)).count(), 10000);
  EXPECT_EQ(retry_delay(o, 7, 0.0, with_retry_after(120000)).count(), 120000);
}

TEST(BackoffRetryDelay, RetryAfterNeverLowersTheDelay) {
  const ReconnectOptions o = defaults();
  EXPECT_EQ(retry_delay(o, 1, 0.5, with_retry_after(100)).count(), 375);
  EXPECT_EQ(retry_delay(o, 1, 0.5, with_retry_after(0)).count(), 375);
  EXPECT_EQ(retry_delay(o, 7, 0.0, with_retry_after(29999)).count(), 30000);
}

TEST(BackoffRetryDelay, RetryAfterIsCappedAtFiveMinutes) {
  const ReconnectOptions o = defaults();
  EXPECT_EQ(kMaxRetryAfter, milliseconds(300000));
  EXPECT_EQ(retry_delay(o, 1, 0.5, with_retry_after(300000)).count(), 300000);
  EXPECT_EQ(retry_delay(o, 1, 0.5, with_retry_after(300001)).count(), 300000);
  EXPECT_EQ(retry_delay(o, 1, 0.5, with_retry_after(3600000)).count(), 300000);
  // The cap limits the Retry-After, not a backoff configured above five minutes.
  const ReconnectOptions slow = with(600000, 2.0, 600000, 0.0);
  EXPECT_EQ(retry_delay(slow, 1, 0.0, with_retry_after(3600000)).count(), 600000);
}

}  // namespace
}  // namespace tether::core
