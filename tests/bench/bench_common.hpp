#pragma once

// What every transport_bench adapter shares: the run configuration, the result, the stamped
// payloads and their checks, the echo bookkeeping of the rtt and flood modes, process
// measurements (CPU time, RSS) and the JSON line printed at the end.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace bench {

using Clock = std::chrono::steady_clock;

constexpr std::size_t kMark = 16;  // hex digits of a message index
constexpr std::size_t kReadChunk = 256 * 1024;

struct Config {
  std::string adapter;
  std::string url;
  std::string mode;
  std::uint64_t count = 0;
  std::size_t size = 0;
  bool binary = false;
  int cpu = -1;
  std::uint64_t window = 1000;
  std::uint64_t window_bytes = 16u * 1024 * 1024;
  std::uint64_t warmup = 0;
  bool warmup_set = false;
  std::string ca_file;
  bool insecure = false;
  double timeout_s = 120;
  double duration_s = 0;    // rtt, flood: stop sending after this long (0: send COUNT)
  double idle_s = 10;       // idle: how long to stay connected and idle
  std::string server;       // reconnect, queue-flush: tether_test_server to start/restart
  int server_cpu = -1;      // ...pinned to this CPU
  std::string server_args;  // ...with these extra arguments (space separated)

  bool rtt() const { return mode == "rtt"; }
  bool flood() const { return mode == "flood"; }
  /// Messages in flight during a flood: the window, capped by window_bytes (at least one).
  std::uint64_t flood_window() const;
  std::chrono::milliseconds timeout() const {
    return std::chrono::milliseconds(static_cast<std::int64_t>(timeout_s * 1000));
  }
};

/// One extra number of a result, printed as `"name":value`.
struct Extra {
  std::string name;
  double value = 0;
  int decimals = 3;
};

struct Result {
  std::string error;
  double seconds = 0;          // the measured part
  std::uint64_t messages = 0;  // measured messages echoed (or cycles, requests, ...)
  std::uint64_t bytes = 0;     // measured payload bytes echoed
  std::vector<double> rtt_us;  // per measured round trip (or cycle, request, ...)
  double cpu_seconds = -1;     // process CPU time (user + system) over the measured part
  std::vector<Extra> extras;
};

// --- payloads ------------------------------------------------------------------------------------

void put_hex(char* out, std::uint64_t v);
inline std::size_t head_len(std::size_t size) {
  return size >= kMark ? kMark : 0;
}
inline std::size_t tail_len(std::size_t size) {
  return size >= 2 * kMark ? kMark : 0;
}

/// The 16 hex digits of a number that moves by one at a time: stepping costs a digit or two
/// instead of formatting all sixteen, so stamping and checking each message of a flood stays
/// negligible next to the client under test.
class HexMark {
 public:
  explicit HexMark(std::uint64_t v = 0) { put_hex(digits_, v); }
  void increment() {
    for (int i = static_cast<int>(kMark) - 1; i >= 0; --i) {
      char& c = digits_[i];
      if (c == 'f') {
        c = '0';
        continue;
      }
      c = c == '9' ? 'a' : static_cast<char>(c + 1);
      return;
    }
  }
  void decrement() {
    for (int i = static_cast<int>(kMark) - 1; i >= 0; --i) {
      char& c = digits_[i];
      if (c == '0') {
        c = 'f';
        continue;
      }
      c = c == 'a' ? '9' : static_cast<char>(c - 1);
      return;
    }
  }
  const char* data() const { return digits_; }
  bool matches(const char* p) const { return std::memcmp(p, digits_, kMark) == 0; }

 private:
  char digits_[kMark];
};

/// One reusable message: printable ASCII (valid as text), stamped with an index before each send.
class Payload {
 public:
  explicit Payload(std::size_t size);
  void stamp(std::uint64_t seq);
  std::string_view view() const { return bytes_; }
  char* data() { return bytes_.data(); }
  std::size_t size() const { return bytes_.size(); }

 private:
  std::string bytes_;
};

/// Whether a whole echoed message is message `seq` of `size` bytes.
bool check_message(std::string_view data, std::uint64_t seq, std::size_t size);

// --- the rtt and flood modes of message-based adapters ---------------------------------------

/// The bookkeeping of an echo run for adapters that send from their own callbacks: what to send
/// next, the check of each echo, the round-trip times and the measured interval. Not thread-safe:
/// use it from one thread at a time (the adapter's callback thread).
class EchoRun {
 public:
  explicit EchoRun(const Config& config);

  /// Whether another message may go out now (the window has room and messages are left).
  bool want_send() const { return next_ < total_ && next_ - received_ < window_; }
  /// Stamps the next message and counts it as sent; send the returned bytes.
  std::string_view next_message();
  /// An echo arrived. False when it is not the expected one (error() says why).
  bool on_echo(std::string_view data, bool binary);
  /// Call when the connection is open, just before the first send.
  void begin();
  bool done() const { return received_ == total_; }
  const std::string& error() const { return error_; }
  std::uint64_t received() const { return received_; }
  std::uint64_t total() const { return total_; }
  /// Fills the measured part of `result` (after done()).
  void finish(Result& result);

 private:
  const Config& config_;
  const bool rtt_;  // config_.rtt(), which compares strings: not once per message
  std::uint64_t warmup_;
  std::uint64_t total_;
  Clock::time_point stop_at_;
  std::uint64_t window_;
  std::uint64_t next_ = 0;
  std::uint64_t received_ = 0;
  // The marks of message next_ and of the echo expected next (index, and its complement).
  HexMark send_head_{0}, send_tail_{~std::uint64_t{0}};
  HexMark echo_head_{0}, echo_tail_{~std::uint64_t{0}};
  std::uint64_t bytes_ = 0;
  Payload payload_;
  Clock::time_point sent_at_;
  Clock::time_point start_;
  Clock::time_point end_;
  double cpu_start_ = 0;
  double cpu_end_ = 0;
  std::vector<double> rtt_us_;
  std::string error_;
};

// --- process measurements ----------------------------------------------------------------------

/// User + system CPU time of the whole process (every thread), in seconds.
double process_cpu_seconds();
/// Minor page faults of the process so far (getrusage): memory touched for the first time.
long process_minor_faults();
/// Current resident set size (VmRSS), KiB.
long rss_kib();
/// The anonymous part of the resident set (RssAnon: heap, stacks, anonymous mappings; no
/// library code), KiB.
long rss_anon_kib();
/// The soft RLIMIT_NOFILE (`ulimit -n`), or -1 when unlimited or unknown.
long open_files_limit();
/// Peak resident set size (ru_maxrss), KiB.
long peak_rss_kib();
/// The value at fraction `p` (0..1) of an ascending vector (nearest rank); 0 when empty.
double percentile(const std::vector<double>& sorted, double p);

bool pin_to_cpu(int cpu);
double seconds_between(Clock::time_point a, Clock::time_point b);
double micros_between(Clock::time_point a, Clock::time_point b);
/// Splits `scheme://host:port/path?query` (IPv6 in brackets). False when malformed.
bool split_url(const std::string& url, std::string& scheme, std::string& host, std::string& port,
               std::string& path);

/// A decimal count, with an optional k/K (×1024) or m/M (×1024²) suffix. False when malformed.
bool parse_u64(const char* text, std::uint64_t& out);
/// The `many` mode's figures: RSS with no connection, one, all `count`, and per extra connection.
void add_many_extras(Result& result, std::uint64_t count, long rss_none, long rss_one,
                     long rss_all);

/// Prints the result as one JSON line on stdout; returns the exit status (0, or 1 on error).
int print_result(const Config& config, Result& result);

}  // namespace bench
