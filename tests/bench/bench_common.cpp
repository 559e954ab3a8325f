#include "bench_common.hpp"

#include <sched.h>
#include <sys/resource.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>

namespace bench {

std::uint64_t Config::flood_window() const {
  const std::uint64_t by_bytes = size == 0 ? window : window_bytes / size;
  return std::max<std::uint64_t>(1, std::min(window, by_bytes));
}

namespace {

// Eight hex digits of `v` (most significant first), one per byte of the result in memory order:
// the nibbles are spread into bytes with shifts and masks, then mapped to '0'-'9' / 'a'-'f'
// without a branch. Stamping and checking every message must cost next to nothing: the flood's
// client CPU per message includes it, for every adapter alike.
std::uint64_t hex8(std::uint32_t v) {
  std::uint64_t x = v;
  x = ((x & 0xFFFF0000ULL) << 16) | (x & 0x0000FFFFULL);
  x = ((x & 0x0000FF000000FF00ULL) << 8) | (x & 0x000000FF000000FFULL);
  x = ((x & 0x00F000F000F000F0ULL) << 4) | (x & 0x000F000F000F000FULL);
  // Each byte now holds one nibble, the least significant in the lowest byte.
  const std::uint64_t letters = ((x + 0x0606060606060606ULL) >> 4) & 0x0101010101010101ULL;
  x += 0x3030303030303030ULL + letters * ('a' - '0' - 10);
  // Most significant digit first in memory, whatever the byte order.
  char bytes[8];
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>(x >> (8 * (7 - i)));
  std::uint64_t out;
  std::memcpy(&out, bytes, sizeof out);
  return out;
}

}  // namespace

void put_hex(char* out, std::uint64_t v) {
  static_assert(kMark == 16, "a mark is 16 hex digits");
  const std::uint64_t high = hex8(static_cast<std::uint32_t>(v >> 32));
  const std::uint64_t low = hex8(static_cast<std::uint32_t>(v));
  std::memcpy(out, &high, 8);
  std::memcpy(out + 8, &low, 8);
}

Payload::Payload(std::size_t size) : bytes_(size, 'x') {
  for (std::size_t i = 0; i < size; ++i) bytes_[i] = static_cast<char>('a' + i % 26);
}

void Payload::stamp(std::uint64_t seq) {
  if (head_len(bytes_.size()) > 0) put_hex(&bytes_[0], seq);
  if (tail_len(bytes_.size()) > 0) put_hex(&bytes_[bytes_.size() - kMark], ~seq);
}

bool check_message(std::string_view data, std::uint64_t seq, std::size_t size) {
  if (data.size() != size) return false;
  char mark[kMark];
  if (head_len(size) > 0) {
    put_hex(mark, seq);
    if (std::memcmp(data.data(), mark, kMark) != 0) return false;
  }
  if (tail_len(size) > 0) {
    put_hex(mark, ~seq);
    if (std::memcmp(data.data() + size - kMark, mark, kMark) != 0) return false;
  }
  return true;
}

// --- EchoRun -------------------------------------------------------------------------------------

EchoRun::EchoRun(const Config& config)
    : config_(config),
      rtt_(config.rtt()),
      warmup_(config.rtt() ? config.warmup : 0),
      total_(config.count + warmup_),
      window_(config.rtt() ? 1 : config.flood_window()),
      payload_(config.size) {
  rtt_us_.reserve(config.rtt() ? config.count : 0);
}

void EchoRun::begin() {
  start_ = Clock::now();
  stop_at_ =
      config_.duration_s > 0
          ? start_ + std::chrono::microseconds(static_cast<std::int64_t>(config_.duration_s * 1e6))
          : Clock::time_point::max();
  cpu_start_ = process_cpu_seconds();
}

std::string_view EchoRun::next_message() {
  // payload_.stamp(next_), with marks that step instead of being formatted.
  const std::size_t size = payload_.size();
  if (head_len(size) > 0) std::memcpy(payload_.data(), send_head_.data(), kMark);
  if (tail_len(size) > 0) std::memcpy(payload_.data() + size - kMark, send_tail_.data(), kMark);
  send_head_.increment();
  send_tail_.decrement();
  ++next_;
  if (rtt_) sent_at_ = Clock::now();
  // With a duration, the run ends with the messages sent by then (checked every 64 sends).
  if ((next_ & 63) == 0 && next_ > warmup_ && Clock::now() > stop_at_) total_ = next_;
  return payload_.view();
}

bool EchoRun::on_echo(std::string_view data, bool binary) {
  if (!error_.empty()) return false;
  const std::uint64_t seq = received_;
  if (seq >= next_) {
    error_ = "an echo nothing was sent for";
    return false;
  }
  if (binary != config_.binary) {
    error_ = "echo " + std::to_string(seq) + " has the wrong kind";
    return false;
  }
  // check_message(data, seq, config_.size), with the expected marks kept stepping.
  const std::size_t size = config_.size;
  const bool ok = data.size() == size && (head_len(size) == 0 || echo_head_.matches(data.data())) &&
                  (tail_len(size) == 0 || echo_tail_.matches(data.data() + size - kMark));
  echo_head_.increment();
  echo_tail_.decrement();
  if (!ok) {
    error_ = "echo " + std::to_string(seq) + " is wrong (size " + std::to_string(data.size()) +
             " or content)";
    return false;
  }
  ++received_;
  bytes_ += data.size();
  // The clock is read only when needed: a flood reads it once, at the end.
  if (rtt_) {
    const auto now = Clock::now();
    if (seq >= warmup_) rtt_us_.push_back(micros_between(sent_at_, now));
    if (received_ == warmup_) {
      start_ = now;
      cpu_start_ = process_cpu_seconds();
    }
    end_ = now;
  }
  if (received_ == total_) {
    if (!rtt_) end_ = Clock::now();
    cpu_end_ = process_cpu_seconds();
  }
  return true;
}

void EchoRun::finish(Result& result) {
  if (!error_.empty()) {
    result.error = error_;
    return;
  }
  if (received_ != total_ || bytes_ != total_ * config_.size) {
    result.error =
        "incomplete: " + std::to_string(received_) + " of " + std::to_string(total_) + " echoes";
    return;
  }
  result.seconds = seconds_between(start_, end_);
  result.messages = total_ - warmup_;
  result.bytes = result.messages * config_.size;
  result.rtt_us = std::move(rtt_us_);
  result.cpu_seconds = cpu_end_ - cpu_start_;
}

// --- process measurements ----------------------------------------------------------------------

double process_cpu_seconds() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& tv) {
    return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
  };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

long process_minor_faults() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  return usage.ru_minflt;
}

namespace {

// A "Name:   123 kB" line of /proc/self/status, in KiB; -1 when absent.
long status_kib(const std::string& field) {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.size() > field.size() && line.compare(0, field.size(), field) == 0 &&
        line[field.size()] == ':') {
      return std::atol(line.c_str() + field.size() + 1);
    }
  }
  return -1;
}

}  // namespace

long rss_kib() {
  return status_kib("VmRSS");
}

long rss_anon_kib() {
  return status_kib("RssAnon");
}

long open_files_limit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return -1;
  return limit.rlim_cur == RLIM_INFINITY ? -1 : static_cast<long>(limit.rlim_cur);
}

long peak_rss_kib() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss;
}

bool pin_to_cpu(int cpu) {
  if (cpu < 0) return true;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (::sched_setaffinity(0, sizeof(set), &set) != 0) {
    std::perror("transport_bench: sched_setaffinity");
    return false;
  }
  return true;
}

double seconds_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

double micros_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::micro>(b - a).count();
}

bool split_url(const std::string& url, std::string& scheme, std::string& host, std::string& port,
               std::string& path) {
  const auto colon = url.find("://");
  if (colon == std::string::npos) return false;
  scheme = url.substr(0, colon);
  std::string rest = url.substr(colon + 3);
  const auto slash = rest.find_first_of("/?");
  path = slash == std::string::npos ? "/" : rest.substr(slash);
  if (!path.empty() && path[0] == '?') path = "/" + path;
  if (slash != std::string::npos) rest.resize(slash);
  std::size_t port_colon = rest.rfind(':');
  if (!rest.empty() && rest[0] == '[') {
    const auto close = rest.find(']');
    if (close == std::string::npos) return false;
    host = rest.substr(1, close - 1);
    port_colon = rest.find(':', close);
  } else {
    host = rest.substr(0, port_colon);
  }
  if (port_colon == std::string::npos) {
    port = scheme == "wss" || scheme == "https" ? "443" : "80";
  } else {
    port = rest.substr(port_colon + 1);
  }
  return !host.empty() && !port.empty();
}

// --- output --------------------------------------------------------------------------------------

double percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  auto rank = static_cast<std::size_t>(std::ceil(p * static_cast<double>(sorted.size())));
  rank = std::clamp<std::size_t>(rank, 1, sorted.size());
  return sorted[rank - 1];
}

namespace {

std::string json_escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
      out += buf;
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

int print_result(const Config& config, Result& result) {
  const auto colon = config.url.find("://");
  const std::string scheme = colon == std::string::npos ? "" : config.url.substr(0, colon);
  std::string line =
      "{\"adapter\":\"" + json_escape(config.adapter) + "\",\"scheme\":\"" + json_escape(scheme) +
      "\",\"mode\":\"" + json_escape(config.mode) + "\",\"kind\":\"" +
      (config.binary ? "binary" : "text") + "\",\"size\":" + std::to_string(config.size) +
      ",\"count\":" + std::to_string(config.count) + ",\"cpu\":" + std::to_string(config.cpu);
  if (config.flood()) line += ",\"window\":" + std::to_string(config.flood_window());
  if (!result.error.empty()) {
    line += ",\"error\":\"" + json_escape(result.error) + "\"}";
    std::printf("%s\n", line.c_str());
    std::fflush(stdout);
    std::fprintf(stderr, "transport_bench: %s\n", result.error.c_str());
    return 1;
  }
  char buf[512];
  const double msgs_per_s =
      result.seconds > 0 ? static_cast<double>(result.messages) / result.seconds : 0;
  const double mb_per_s =
      result.seconds > 0 ? static_cast<double>(result.bytes) / result.seconds / 1e6 : 0;
  std::snprintf(buf, sizeof buf,
                ",\"messages\":%llu,\"bytes\":%llu,\"seconds\":%.6f,\"msgs_per_s\":%.1f,"
                "\"mb_per_s\":%.3f,\"peak_rss_kib\":%ld",
                static_cast<unsigned long long>(result.messages),
                static_cast<unsigned long long>(result.bytes), result.seconds, msgs_per_s, mb_per_s,
                peak_rss_kib());
  line += buf;
  if (result.cpu_seconds >= 0) {
    std::snprintf(buf, sizeof buf, ",\"cpu_s\":%.6f,\"cpu_us_per_msg\":%.4f", result.cpu_seconds,
                  result.messages > 0
                      ? result.cpu_seconds * 1e6 / static_cast<double>(result.messages)
                      : 0.0);
    line += buf;
  }
  if (!result.rtt_us.empty()) {
    auto& v = result.rtt_us;
    std::sort(v.begin(), v.end());
    double sum = 0;
    for (double x : v) sum += x;
    std::snprintf(buf, sizeof buf,
                  ",\"warmup\":%llu,\"min_us\":%.2f,\"p50_us\":%.2f,\"p90_us\":%.2f,"
                  "\"p99_us\":%.2f,\"max_us\":%.2f,\"mean_us\":%.2f",
                  static_cast<unsigned long long>(config.rtt() ? config.warmup : 0), v.front(),
                  percentile(v, 0.50), percentile(v, 0.90), percentile(v, 0.99), v.back(),
                  sum / static_cast<double>(v.size()));
    line += buf;
    // The distribution for plots: [percentile, µs] pairs, denser towards the tail.
    static const double kQuantiles[] = {0,   0.1, 0.2,  0.3,  0.4,  0.5,   0.6,   0.7,
                                        0.8, 0.9, 0.95, 0.97, 0.99, 0.995, 0.999, 0.9995};
    line += ",\"quantiles_us\":[";
    for (double q : kQuantiles) {
      std::snprintf(buf, sizeof buf, "%s[%g,%.2f]", q == 0 ? "" : ",", q * 100, percentile(v, q));
      line += buf;
    }
    line += "]";
  }
  for (const Extra& extra : result.extras) {
    std::snprintf(buf, sizeof buf, ",\"%s\":%.*f", extra.name.c_str(), extra.decimals, extra.value);
    line += buf;
  }
  line += "}";
  std::printf("%s\n", line.c_str());
  std::fflush(stdout);
  return 0;
}

bool parse_u64(const char* text, std::uint64_t& out) {
  if (text == nullptr || *text == '\0') return false;
  char* end = nullptr;
  errno = 0;
  const unsigned long long v = std::strtoull(text, &end, 10);
  std::uint64_t scale = 1;
  if (*end == 'k' || *end == 'K') scale = 1024;
  if (*end == 'm' || *end == 'M') scale = 1024 * 1024;
  if (scale != 1) ++end;
  if (errno != 0 || *end != '\0' || text[0] == '-') return false;
  out = static_cast<std::uint64_t>(v) * scale;
  return true;
}

void add_many_extras(Result& result, std::uint64_t count, long rss_none, long rss_one,
                     long rss_all) {
  result.extras.push_back({"rss_none_kib", static_cast<double>(rss_none), 0});
  result.extras.push_back({"rss_one_kib", static_cast<double>(rss_one), 0});
  result.extras.push_back({"rss_all_kib", static_cast<double>(rss_all), 0});
  result.extras.push_back(
      {"rss_per_extra_kib",
       count > 1 ? static_cast<double>(rss_all - rss_one) / static_cast<double>(count - 1) : 0.0,
       2});
}

}  // namespace bench
