#include "soak/soak_checks.hpp"

#include <algorithm>
#include <cmath>

namespace tether::soak {
namespace {

std::string str(std::int64_t v) {
  return std::to_string(v);
}
std::string str(std::uint64_t v) {
  return std::to_string(v);
}

}  // namespace

DelayRange delay_range(const ReconnectOptions& policy, int attempt) {
  double base = static_cast<double>(policy.initial.count()) *
                std::pow(policy.multiplier, std::max(0, attempt - 1));
  base = std::min(base, static_cast<double>(policy.max.count()));
  DelayRange range;
  range.high = static_cast<std::int64_t>(std::ceil(base));
  range.low = static_cast<std::int64_t>(std::floor(base * (1.0 - policy.jitter)));
  return range;
}

Flatness flatness(const std::vector<Sample>& samples, double warmup_s,
                  std::int64_t (*value)(const Sample&)) {
  std::vector<std::int64_t> values;
  for (const Sample& s : samples) {
    if (s.t >= warmup_s) values.push_back(value(s));
  }
  Flatness f;
  f.samples = values.size();
  if (values.size() < 3) return f;
  const std::size_t third = values.size() / 3;
  f.first_max = *std::max_element(values.begin(), values.begin() + static_cast<long>(third));
  f.last_max = *std::max_element(values.end() - static_cast<long>(third), values.end());
  return f;
}

std::int64_t rss_margin_kib(std::int64_t first_max_kib) {
  return std::max<std::int64_t>(1024, first_max_kib / 20);
}

std::vector<Check> run_checks(const SoakResult& r) {
  std::vector<Check> checks;
  const Account& a = r.account;

  const Flatness rss = flatness(r.samples, r.warmup_s, [](const Sample& s) {
    return static_cast<std::int64_t>(s.process.rss_kib);
  });
  const Flatness fds = flatness(r.samples, r.warmup_s, [](const Sample& s) {
    return static_cast<std::int64_t>(s.process.fds);
  });
  const Flatness threads = flatness(r.samples, r.warmup_s, [](const Sample& s) {
    return static_cast<std::int64_t>(s.process.threads);
  });
  const bool enough = rss.samples >= 9;
  const std::string after = "after a " + str(static_cast<std::int64_t>(r.warmup_s)) + " s warm-up";
  // Fewer than 9 samples after the warm-up (3 per third) cannot show a trend: the check fails.
  const std::string too_few = enough ? std::string()
                                     : " (too few samples after the warm-up: " +
                                           str(static_cast<std::uint64_t>(rss.samples)) + " < 9)";
  checks.push_back({"rss flat",
                    enough && rss.last_max <= rss.first_max + rss_margin_kib(rss.first_max),
                    "last third's max RSS <= first third's max + max(1 MiB, 5%), " + after,
                    str(rss.first_max) + " KiB -> " + str(rss.last_max) + " KiB" + too_few});
  checks.push_back({"fds flat", enough && fds.last_max <= fds.first_max,
                    "last third's max open fds <= first third's max, " + after,
                    str(fds.first_max) + " -> " + str(fds.last_max) + too_few});
  checks.push_back({"threads flat", enough && threads.last_max <= threads.first_max,
                    "last third's max threads <= first third's max, " + after,
                    str(threads.first_max) + " -> " + str(threads.last_max) + too_few});

  std::uint64_t unbalanced = 0;
  for (const Sample& s : r.samples) {
    if (!s.balanced()) ++unbalanced;
  }
  checks.push_back({"stats balance", unbalanced == 0 && !r.samples.empty(),
                    "accepted == sent + dropped + queued in every sample",
                    str(unbalanced) + " of " + str(static_cast<std::uint64_t>(r.samples.size())) +
                        " samples off"});
  const Sample* last = r.samples.empty() ? nullptr : &r.samples.back();
  const bool stats_match = last != nullptr && last->accepted == a.accepted &&
                           last->sent == a.sent && last->dropped == a.dropped &&
                           a.unresolved == 0 && last->queued == 0;
  checks.push_back({"every message ended", stats_match,
                    "each accepted message ended in exactly one sent or dropped, matching stats()",
                    str(a.accepted) + " accepted = " + str(a.sent) + " sent + " + str(a.dropped) +
                        " dropped + " + str(a.unresolved) + " unresolved"});
  checks.push_back({"no loss outside the guarantee",
                    r.server_log_read && a.lost_violations == 0 && a.phantom == 0,
                    "a sent message missing from the server log only on a connection that ended "
                    "without the closing handshake or whose bytes a proxy fault discarded",
                    str(a.lost_violations) + " violations" +
                        (a.lost_violations ? " (first: #" + str(a.first_violation) + ")" : "") +
                        ", " + str(a.lost_allowed_total) + " allowed, " + str(a.phantom) +
                        " logged but never sent"});
  checks.push_back(
      {"server: no duplicate, no reorder",
       r.server_log_read && a.server_duplicates == 0 && a.server_reorders == 0,
       "message numbers strictly increasing in the server log",
       str(a.server_duplicates) + " duplicates, " + str(a.server_reorders) + " reorders"});
  checks.push_back({"echoes: no duplicate, no reorder",
                    a.echo_duplicates == 0 && a.echo_reorders == 0 && a.echo_unknown == 0,
                    "echo numbers strictly increasing, each a message that was sent",
                    str(a.echo_duplicates) + " duplicates, " + str(a.echo_reorders) +
                        " reorders, " + str(a.echo_unknown) + " unknown"});
  checks.push_back(
      {"drained at the end", r.drained && r.closed_cleanly,
       "after the faults stop: queue empty, last message echoed, close() reaches closed",
       std::string(r.drained ? "drained" : "not drained") + ", " +
           (r.closed_cleanly ? "closed" : "not closed")});
  checks.push_back({"kept reconnecting", !r.gave_up,
                    "the client never reached closed or failed during the churn",
                    r.gave_up ? "gave up" : "ok"});

  std::uint64_t outside = 0, early = 0, observed = 0;
  int first_bad_attempt = 0;
  std::int64_t first_bad_delay = 0;
  for (const ReconnectRecord& rec : r.reconnects) {
    const DelayRange range = delay_range(r.policy, rec.attempt);
    if (rec.scheduled_ms < range.low || rec.scheduled_ms > range.high) {
      if (outside == 0) {
        first_bad_attempt = rec.attempt;
        first_bad_delay = rec.scheduled_ms;
      }
      ++outside;
    }
    if (rec.observed_ms >= 0) {
      ++observed;
      // A timer must not fire early. Both ends are stamped in callbacks, so a loop thread
      // preempted between arming the timer and reporting it shortens the observed wait: allow
      // 50 ms for that on a loaded machine.
      if (rec.observed_ms + 50 < rec.scheduled_ms) ++early;
    }
  }
  checks.push_back(
      {"reconnect delays within policy", outside == 0 && !r.reconnects.empty(),
       "every scheduled delay in [base*(1-jitter), base], base = min(max, "
       "initial*multiplier^(attempt-1))",
       str(static_cast<std::uint64_t>(r.reconnects.size())) + " delays, " + str(outside) +
           " outside" +
           (outside ? " (first: attempt " + str(static_cast<std::int64_t>(first_bad_attempt)) +
                          ", " + str(first_bad_delay) + " ms)"
                    : std::string())});
  checks.push_back({"reconnect waits not early", early == 0,
                    "observed wait (scheduled -> connecting) >= scheduled delay - 50 ms",
                    str(early) + " early of " + str(observed) + " observed"});
  return checks;
}

}  // namespace tether::soak
