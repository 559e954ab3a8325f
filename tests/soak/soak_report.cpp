#include "soak/soak_report.hpp"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>

namespace tether::soak {
namespace {

std::string fixed(double v, int decimals = 1) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.*f", decimals, v);
  return buffer;
}

// The value at quantile q (0..1) of sorted values.
std::int64_t quantile(const std::vector<std::int64_t>& sorted, double q) {
  if (sorted.empty()) return 0;
  const auto index = static_cast<std::size_t>(q * static_cast<double>(sorted.size() - 1) + 0.5);
  return sorted[std::min(index, sorted.size() - 1)];
}

}  // namespace

bool write_samples_csv(const std::string& path, const std::vector<Sample>& samples) {
  std::ofstream out(path);
  if (!out) return false;
  out << "t_s,rss_kib,fds,threads,state,attempts,reconnects,accepted,sent,dropped,queued,"
         "rejected,received,echoes,sigterms,sigkills,proxy_faults,delays_scheduled,"
         "last_delay_ms,last_observed_ms\n";
  for (const Sample& s : samples) {
    out << fixed(s.t, 2) << ',' << s.process.rss_kib << ',' << s.process.fds << ','
        << s.process.threads << ',' << to_string(s.state) << ',' << s.attempts << ','
        << s.reconnects << ',' << s.accepted << ',' << s.sent << ',' << s.dropped << ',' << s.queued
        << ',' << s.rejected << ',' << s.received << ',' << s.echoes << ',' << s.sigterms << ','
        << s.sigkills << ',' << s.proxy_faults << ',' << s.delays_scheduled << ','
        << s.last_delay_ms << ',' << s.last_observed_ms << '\n';
  }
  return static_cast<bool>(out);
}

bool write_reconnects_csv(const std::string& path, const std::vector<ReconnectRecord>& records) {
  std::ofstream out(path);
  if (!out) return false;
  out << "attempt,scheduled_ms,observed_ms\n";
  for (const ReconnectRecord& r : records) {
    out << r.attempt << ',' << r.scheduled_ms << ',' << r.observed_ms << '\n';
  }
  return static_cast<bool>(out);
}

std::string summary_markdown(const RunInfo& info, const SoakResult& result,
                             const std::vector<Check>& checks) {
  const Account& a = result.account;
  const Sample last = result.samples.empty() ? Sample{} : result.samples.back();
  std::ostringstream md;
  bool all_pass = true;
  for (const Check& c : checks) all_pass = all_pass && c.pass;

  md << "| figure | value |\n|---|---|\n";
  md << "| result | **" << (all_pass ? "PASS" : "FAIL") << "** |\n";
  md << "| churn | " << fixed(info.seconds, 0) << " s (whole run " << fixed(info.wall_s, 1)
     << " s), " << info.rate << " msg/s each way, seed " << info.seed << " |\n";
  md << "| path | client → " << (info.proxy ? "fault proxy → " : "")
     << "tether_test_server `/echo` |\n";
  md << "| reconnect policy | initial " << result.policy.initial.count() << " ms, multiplier "
     << fixed(result.policy.multiplier, 1) << ", max " << result.policy.max.count()
     << " ms, jitter " << fixed(result.policy.jitter, 2) << ", min uptime "
     << result.policy.min_uptime.count() << " ms |\n";
  md << "| server kills | " << last.sigterms << " SIGTERM + " << last.sigkills << " SIGKILL |\n";
  md << "| proxy faults | " << last.proxy_faults << " |\n";
  md << "| connections opened | " << a.connections << " (" << a.connections_clean
     << " ended with the closing handshake) |\n";
  md << "| connection attempts | " << last.attempts << " |\n";
  md << "| messages accepted | " << a.accepted << " (" << last.rejected << " refused) |\n";
  md << "| sent / dropped / unresolved | " << a.sent << " / " << a.dropped << " / " << a.unresolved
     << " |\n";
  md << "| logged by the server | " << a.at_server << " |\n";
  md << "| lost, allowed (abrupt end or discarded by a fault) | " << a.lost_allowed_total;
  bool first = true;
  for (int k = 0; k < kChaosKinds; ++k) {
    if (a.lost_allowed[k] == 0) continue;
    md << (first ? " (" : ", ") << to_string(static_cast<Chaos>(k)) << ": " << a.lost_allowed[k];
    first = false;
  }
  md << (first ? "" : ")") << " |\n";
  md << "| lost, not allowed | " << a.lost_violations << " |\n";
  md << "| duplicates / reorders at the server | " << a.server_duplicates << " / "
     << a.server_reorders << " |\n";
  md << "| echoes received | " << a.echoes << " (" << a.echoes_missing
     << " logged by the server but not echoed back: the connection ended first) |\n";
  md << "| echo duplicates / reorders | " << a.echo_duplicates << " / " << a.echo_reorders
     << " |\n";

  std::vector<std::int64_t> scheduled, late;
  for (const ReconnectRecord& r : result.reconnects) {
    scheduled.push_back(r.scheduled_ms);
    if (r.observed_ms >= 0) late.push_back(r.observed_ms - r.scheduled_ms);
  }
  std::sort(scheduled.begin(), scheduled.end());
  std::sort(late.begin(), late.end());
  int max_attempt = 0;
  for (const ReconnectRecord& r : result.reconnects) max_attempt = std::max(max_attempt, r.attempt);
  md << "| reconnect delays scheduled | " << scheduled.size() << ", " << quantile(scheduled, 0)
     << "–" << quantile(scheduled, 1) << " ms (median " << quantile(scheduled, 0.5)
     << " ms), attempts up to " << max_attempt << " |\n";
  md << "| observed wait − scheduled delay | median " << quantile(late, 0.5) << " ms, p99 "
     << quantile(late, 0.99) << " ms, min " << quantile(late, 0) << " ms, max " << quantile(late, 1)
     << " ms |\n";

  auto range = [&](std::int64_t (*value)(const Sample&)) {
    std::int64_t lo = 0, hi = 0;
    bool any = false;
    for (const Sample& s : result.samples) {
      const std::int64_t v = value(s);
      lo = any ? std::min(lo, v) : v;
      hi = any ? std::max(hi, v) : v;
      any = true;
    }
    return std::to_string(lo) + "–" + std::to_string(hi);
  };
  md << "| RSS (KiB, all samples) | "
     << range([](const Sample& s) { return static_cast<std::int64_t>(s.process.rss_kib); })
     << " |\n";
  md << "| open fds (all samples) | "
     << range([](const Sample& s) { return static_cast<std::int64_t>(s.process.fds); }) << " |\n";
  md << "| threads (all samples) | "
     << range([](const Sample& s) { return static_cast<std::int64_t>(s.process.threads); })
     << " |\n";
  md << "| samples | " << result.samples.size() << " (1 per second) |\n";

  md << "\n| check | result | criterion | measured |\n|---|---|---|---|\n";
  for (const Check& c : checks) {
    md << "| " << c.name << " | " << (c.pass ? "pass" : "**FAIL**") << " | " << c.criterion << " | "
       << c.value << " |\n";
  }
  if (!info.command.empty()) md << "\nCommand: `" << info.command << "`\n";
  return md.str();
}

}  // namespace tether::soak
