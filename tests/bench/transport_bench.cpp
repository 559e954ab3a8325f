// Round-trip latency and echo throughput of one connection: through tether's public Client API
// (ws:// and wss://, default options, callbacks on the runtime's loop thread) against an echo
// server, or over a plain TCP socket against the trivial echo of `--tcp-echo` (the floor).
// Prints one JSON line on stdout; see tests/bench/README.md and scripts/bench-transport.sh.
//
//   transport_bench ADAPTER URL MODE COUNT SIZE [text|binary] [options]
//     ADAPTER  tether (URL ws://... or wss://...) | tcp (URL tcp://HOST:PORT of a --tcp-echo)
//     MODE     rtt: send one message, wait for its echo, COUNT times (after a warm-up)
//              flood: COUNT messages with at most a window of them in flight
//   options:
//     --cpu N              pin the process (every thread) to CPU N
//     --window N           flood: most messages in flight (default 1000)
//     --window-bytes B     flood: and at most this many payload bytes in flight (default 64 MiB)
//     --warmup N           rtt: round trips before the measured ones (default min(1000, COUNT))
//     --driver callback|main
//                          tether: send from the on_message callback (default) or from the
//                          main thread, woken by the callback through a condition variable
//     --ca FILE            tether: trust this PEM bundle too (wss)
//     --insecure           tether: accept any server certificate (wss)
//     --timeout S          give up after S seconds (default 120)
//
//   transport_bench --tcp-echo [--host ADDR] [--port N] [--cpu N]
//     a TCP echo (a thread per connection, blocking recv/send, TCP_NODELAY); prints
//     `LISTENING <port>` once bound, runs until killed.
//
// Every message carries its index as 16 hex digits at the start and its complement at the end
// (when it is long enough); each echo is checked for size, order and these marks, and the run
// fails unless every message came back.

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "tether/tether.hpp"

namespace {

using Clock = std::chrono::steady_clock;

constexpr std::size_t kMark = 16;  // hex digits of a message index
constexpr std::size_t kReadChunk = 256 * 1024;

[[noreturn]] void usage() {
  std::fprintf(stderr,
               "usage: transport_bench tether|tcp URL rtt|flood COUNT SIZE [text|binary]\n"
               "           [--cpu N] [--window N] [--window-bytes B] [--warmup N]\n"
               "           [--driver callback|main] [--ca FILE] [--insecure] [--timeout S]\n"
               "       transport_bench --tcp-echo [--host ADDR] [--port N] [--cpu N]\n");
  std::exit(2);
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

// --- payloads ------------------------------------------------------------------------------------

void put_hex(char* out, std::uint64_t v) {
  static const char kDigits[] = "0123456789abcdef";
  for (int i = static_cast<int>(kMark) - 1; i >= 0; --i) {
    out[i] = kDigits[v & 15];
    v >>= 4;
  }
}

std::size_t head_len(std::size_t size) {
  return size >= kMark ? kMark : 0;
}
std::size_t tail_len(std::size_t size) {
  return size >= 2 * kMark ? kMark : 0;
}

// One reusable message: printable ASCII (valid as text), stamped with an index before each send.
class Payload {
 public:
  explicit Payload(std::size_t size) : bytes_(size, 'x') {
    for (std::size_t i = 0; i < size; ++i) bytes_[i] = static_cast<char>('a' + i % 26);
  }
  void stamp(std::uint64_t seq) {
    if (head_len(bytes_.size()) > 0) put_hex(&bytes_[0], seq);
    if (tail_len(bytes_.size()) > 0) put_hex(&bytes_[bytes_.size() - kMark], ~seq);
  }
  std::string_view view() const { return bytes_; }
  char* data() { return bytes_.data(); }

 private:
  std::string bytes_;
};

// Whether a whole echoed message is message `seq` of `size` bytes.
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

// Splits the echoed TCP stream ([u32 big-endian length][payload]...) into messages and checks
// them without copying payloads: only the bytes of the two marks are kept.
class StreamReader {
 public:
  explicit StreamReader(std::size_t size) : size_(size) {}

  /// Consumes `n` bytes; `on_message()` runs per complete message. False when the stream is not
  /// the expected sequence (error() says why).
  template <typename F>
  bool feed(const std::uint8_t* p, std::size_t n, F&& on_message) {
    while (n > 0) {
      if (header_got_ < 4) {
        const std::size_t take = std::min<std::size_t>(4 - header_got_, n);
        std::memcpy(header_ + header_got_, p, take);
        header_got_ += take;
        p += take;
        n -= take;
        if (header_got_ < 4) break;
        const std::uint32_t length = (std::uint32_t{header_[0]} << 24) |
                                     (std::uint32_t{header_[1]} << 16) |
                                     (std::uint32_t{header_[2]} << 8) | std::uint32_t{header_[3]};
        if (length != size_) {
          error_ = "message " + std::to_string(seq_) + ": length " + std::to_string(length);
          return false;
        }
        offset_ = 0;
        if (size_ == 0 && !complete(on_message)) return false;
        continue;
      }
      const std::size_t take = std::min(size_ - offset_, n);
      capture(p, take);
      offset_ += take;
      p += take;
      n -= take;
      if (offset_ == size_ && !complete(on_message)) return false;
    }
    return true;
  }

  std::uint64_t messages() const noexcept { return seq_; }
  const std::string& error() const noexcept { return error_; }

 private:
  void capture(const std::uint8_t* p, std::size_t take) {
    const std::size_t begin = offset_;
    const std::size_t end = offset_ + take;
    const std::size_t hl = head_len(size_);
    for (std::size_t i = begin; i < std::min(end, hl); ++i) {
      head_[i] = static_cast<char>(p[i - begin]);
    }
    const std::size_t tl = tail_len(size_);
    const std::size_t tail_begin = size_ - tl;
    for (std::size_t i = std::max(begin, tail_begin); i < end && tl > 0; ++i) {
      tail_[i - tail_begin] = static_cast<char>(p[i - begin]);
    }
  }

  template <typename F>
  bool complete(F&& on_message) {
    char mark[kMark];
    bool ok = true;
    if (head_len(size_) > 0) {
      put_hex(mark, seq_);
      ok = std::memcmp(head_, mark, kMark) == 0;
    }
    if (ok && tail_len(size_) > 0) {
      put_hex(mark, ~seq_);
      ok = std::memcmp(tail_, mark, kMark) == 0;
    }
    if (!ok) {
      error_ = "message " + std::to_string(seq_) + ": wrong content (lost or out of order)";
      return false;
    }
    on_message();
    ++seq_;
    header_got_ = 0;
    return true;
  }

  std::size_t size_;
  std::uint8_t header_[4] = {};
  std::size_t header_got_ = 0;
  std::size_t offset_ = 0;
  char head_[kMark] = {};
  char tail_[kMark] = {};
  std::uint64_t seq_ = 0;
  std::string error_;
};

// --- configuration and results ---------------------------------------------------------------

struct Config {
  std::string adapter;
  std::string url;
  std::string mode;
  std::uint64_t count = 0;
  std::size_t size = 0;
  bool binary = false;
  int cpu = -1;
  std::uint64_t window = 1000;
  std::uint64_t window_bytes = 64u * 1024 * 1024;
  std::uint64_t warmup = 0;
  bool warmup_set = false;
  bool main_driver = false;
  std::string ca_file;
  bool insecure = false;
  double timeout_s = 120;

  bool rtt() const { return mode == "rtt"; }
  /// Messages in flight during a flood: the window, capped by window_bytes (at least one).
  std::uint64_t flood_window() const {
    const std::uint64_t by_bytes = size == 0 ? window : window_bytes / size;
    return std::max<std::uint64_t>(1, std::min(window, by_bytes));
  }
  std::chrono::milliseconds timeout() const {
    return std::chrono::milliseconds(static_cast<std::int64_t>(timeout_s * 1000));
  }
};

struct Result {
  std::string error;
  double seconds = 0;          // the measured part
  std::uint64_t messages = 0;  // measured messages echoed
  std::uint64_t bytes = 0;     // measured payload bytes echoed
  std::vector<double> rtt_us;  // rtt: one per measured round trip
};

double percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  auto rank = static_cast<std::size_t>(std::ceil(p * static_cast<double>(sorted.size())));
  rank = std::clamp<std::size_t>(rank, 1, sorted.size());
  return sorted[rank - 1];
}

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

std::string scheme_of(const Config& config) {
  const auto colon = config.url.find("://");
  return colon == std::string::npos ? "" : config.url.substr(0, colon);
}

int print_result(const Config& config, Result& result) {
  std::string line =
      "{\"adapter\":\"" + config.adapter + "\",\"scheme\":\"" + json_escape(scheme_of(config)) +
      "\",\"mode\":\"" + config.mode + "\",\"kind\":\"" + (config.binary ? "binary" : "text") +
      "\",\"size\":" + std::to_string(config.size) + ",\"count\":" + std::to_string(config.count) +
      ",\"cpu\":" + std::to_string(config.cpu);
  char buf[512];
  if (config.adapter == "tether") {
    line += std::string(",\"driver\":\"") + (config.main_driver ? "main" : "callback") + "\"";
  }
  if (!config.rtt()) line += ",\"window\":" + std::to_string(config.flood_window());
  if (!result.error.empty()) {
    line += ",\"error\":\"" + json_escape(result.error) + "\"}";
    std::printf("%s\n", line.c_str());
    std::fflush(stdout);
    std::fprintf(stderr, "transport_bench: %s\n", result.error.c_str());
    return 1;
  }
  const double msgs_per_s =
      result.seconds > 0 ? static_cast<double>(result.messages) / result.seconds : 0;
  const double mb_per_s =
      result.seconds > 0 ? static_cast<double>(result.bytes) / result.seconds / 1e6 : 0;
  std::snprintf(buf, sizeof buf,
                ",\"messages\":%llu,\"bytes\":%llu,\"seconds\":%.6f,\"msgs_per_s\":%.1f,"
                "\"mb_per_s\":%.3f",
                static_cast<unsigned long long>(result.messages),
                static_cast<unsigned long long>(result.bytes), result.seconds, msgs_per_s,
                mb_per_s);
  line += buf;
  if (config.rtt()) {
    auto& v = result.rtt_us;
    std::sort(v.begin(), v.end());
    double sum = 0;
    for (double x : v) sum += x;
    std::snprintf(buf, sizeof buf,
                  ",\"warmup\":%llu,\"min_us\":%.2f,\"p50_us\":%.2f,\"p90_us\":%.2f,"
                  "\"p99_us\":%.2f,\"max_us\":%.2f,\"mean_us\":%.2f",
                  static_cast<unsigned long long>(config.warmup), v.empty() ? 0.0 : v.front(),
                  percentile(v, 0.50), percentile(v, 0.90), percentile(v, 0.99),
                  v.empty() ? 0.0 : v.back(),
                  v.empty() ? 0.0 : sum / static_cast<double>(v.size()));
    line += buf;
  }
  line += "}";
  std::printf("%s\n", line.c_str());
  std::fflush(stdout);
  return 0;
}

// --- tether ----------------------------------------------------------------------------------

// State shared by the main thread and the client's callbacks (loop thread).
struct TetherState {
  std::mutex mutex;
  std::condition_variable cv;
  bool opened = false;
  bool done = false;
  bool closed = false;
  std::string error;

  std::atomic<std::uint64_t> sent{0};
  std::atomic<std::uint64_t> received{0};
  std::atomic<std::uint64_t> bytes{0};
  std::atomic<bool> main_waiting{false};
  Clock::time_point start;
  Clock::time_point end;
  Clock::time_point sent_at;  // rtt: when the message in flight was sent
  std::vector<double> rtt_us;

  void finish(std::string why = {}) {
    std::lock_guard<std::mutex> lock(mutex);
    if (!why.empty() && error.empty() && !done) error = std::move(why);
    done = true;
    cv.notify_all();
  }
  void wake() {
    std::lock_guard<std::mutex> lock(mutex);
    cv.notify_all();
  }
};

Result run_tether(const Config& config) {
  Result result;
  const bool rtt = config.rtt();
  const std::uint64_t warmup = rtt ? config.warmup : 0;
  const std::uint64_t total = config.count + warmup;
  const std::uint64_t window = rtt ? 1 : config.flood_window();
  // The main driver refills the window once it has drained to this.
  const std::uint64_t low_water = window / 2;

  auto runtime = tether::Runtime::create();
  tether::ClientOptions options;
  options.url = config.url;
  options.tls.ca_file = config.ca_file;
  options.tls.insecure = config.insecure;

  TetherState state;
  state.rtt_us.reserve(rtt ? config.count : 0);
  Payload payload(config.size);  // used by whichever thread sends
  std::unique_ptr<tether::Client> client_owner = std::make_unique<tether::Client>(options, runtime);
  tether::Client& client = *client_owner;

  auto send_one = [&](std::uint64_t seq) {
    payload.stamp(seq);
    const auto sent =
        config.binary ? client.send_binary(payload.view()) : client.send(payload.view());
    if (!sent) state.finish("send refused: " + std::string(tether::to_string(sent.error)));
  };

  client.on_open([&](const tether::OpenInfo&) {
    {
      std::lock_guard<std::mutex> lock(state.mutex);
      state.opened = true;
      state.cv.notify_all();
    }
    if (config.main_driver) return;
    state.start = Clock::now();
    const std::uint64_t first = std::min(window, total);
    for (std::uint64_t i = 0; i < first; ++i) {
      if (rtt) state.sent_at = Clock::now();
      send_one(i);
    }
    state.sent.store(first, std::memory_order_relaxed);
  });

  client.on_message([&](const tether::Message& message) {
    const std::uint64_t seq = state.received.load(std::memory_order_relaxed);
    const bool kind_ok = message.is_text() != config.binary;
    if (!kind_ok || !check_message(message.data, seq, config.size)) {
      state.finish("echo " + std::to_string(seq) + " is wrong (" +
                   (kind_ok ? "size " + std::to_string(message.data.size()) + " or content"
                            : std::string("kind")) +
                   ")");
      return;
    }
    const auto now = Clock::now();
    state.bytes.fetch_add(message.data.size(), std::memory_order_relaxed);
    state.received.store(seq + 1, std::memory_order_seq_cst);
    if (config.main_driver) {
      if (seq + 1 == total) {
        state.end = now;
        state.finish();
      } else if (state.main_waiting.load(std::memory_order_seq_cst) &&
                 state.sent.load(std::memory_order_relaxed) - (seq + 1) <= low_water) {
        state.wake();
      }
      return;
    }
    if (rtt && seq >= warmup) {
      state.rtt_us.push_back(
          std::chrono::duration<double, std::micro>(now - state.sent_at).count());
    }
    if (seq + 1 == total) {
      state.end = now;
      state.finish();
      return;
    }
    if (rtt && seq + 1 == warmup) state.start = now;
    const std::uint64_t next = state.sent.load(std::memory_order_relaxed);
    if (next < total) {
      if (rtt) state.sent_at = Clock::now();
      send_one(next);
      state.sent.store(next + 1, std::memory_order_relaxed);
    }
  });

  client.on_error([&](const tether::Error& error) {
    state.finish(std::string(tether::to_string(error.code)) + ": " + error.message);
  });
  client.on_close([&](const tether::CloseInfo& info) {
    {
      std::lock_guard<std::mutex> lock(state.mutex);
      state.closed = true;
      state.cv.notify_all();
    }
    state.finish("closed with " + std::to_string(info.code) + " " + info.reason);
  });

  if (auto error = client.start()) {
    result.error = std::string(tether::to_string(error.code)) + ": " + error.message;
    return result;
  }
  const auto deadline = Clock::now() + config.timeout();
  {
    std::unique_lock<std::mutex> lock(state.mutex);
    if (!state.cv.wait_until(lock, deadline, [&] { return state.opened || state.done; })) {
      result.error = "not open before the timeout";
      return result;
    }
  }

  if (config.main_driver && state.opened) {
    state.start = Clock::now();
    std::uint64_t next = 0;
    while (next < total) {
      if (rtt) {
        state.sent_at = Clock::now();
        send_one(next);
        state.sent.store(++next, std::memory_order_relaxed);
        std::unique_lock<std::mutex> lock(state.mutex);
        state.main_waiting.store(true, std::memory_order_seq_cst);
        const bool ok = state.cv.wait_until(lock, deadline, [&] {
          return state.done || state.received.load(std::memory_order_seq_cst) >= next;
        });
        state.main_waiting.store(false, std::memory_order_relaxed);
        if (!ok || !state.error.empty()) break;
        const auto now = Clock::now();
        if (next > warmup) {
          state.rtt_us.push_back(
              std::chrono::duration<double, std::micro>(now - state.sent_at).count());
        } else if (next == warmup) {
          state.start = now;
        }
        continue;
      }
      // Flood: fill the window, then sleep until it has drained to the low-water mark.
      while (next < total && next - state.received.load(std::memory_order_relaxed) < window) {
        send_one(next);
        state.sent.store(++next, std::memory_order_relaxed);
      }
      if (next == total) break;
      std::unique_lock<std::mutex> lock(state.mutex);
      state.main_waiting.store(true, std::memory_order_seq_cst);
      const bool ok = state.cv.wait_until(lock, deadline, [&] {
        return state.done || next - state.received.load(std::memory_order_seq_cst) <= low_water;
      });
      state.main_waiting.store(false, std::memory_order_relaxed);
      if (!ok || !state.error.empty()) break;
    }
  }

  {
    std::unique_lock<std::mutex> lock(state.mutex);
    if (!state.cv.wait_until(lock, deadline, [&] { return state.done; })) {
      state.error = "timed out after " + std::to_string(state.received.load()) + " of " +
                    std::to_string(total) + " echoes";
      state.done = true;
    }
  }

  // Close cleanly, bounded, before the runtime goes away.
  client.close();
  {
    std::unique_lock<std::mutex> lock(state.mutex);
    state.cv.wait_for(lock, std::chrono::seconds(3), [&] { return state.closed; });
  }
  client_owner.reset();
  runtime.reset();

  std::lock_guard<std::mutex> lock(state.mutex);
  if (!state.error.empty()) {
    result.error = state.error;
    return result;
  }
  const std::uint64_t received = state.received.load();
  const std::uint64_t bytes = state.bytes.load();
  if (received != total || bytes != total * config.size) {
    result.error =
        "incomplete: " + std::to_string(received) + " echoes, " + std::to_string(bytes) + " bytes";
    return result;
  }
  result.seconds = seconds_between(state.start, state.end);
  result.messages = config.count;
  result.bytes = config.count * config.size;
  result.rtt_us = std::move(state.rtt_us);
  return result;
}

// --- raw TCP ---------------------------------------------------------------------------------

bool split_tcp_url(const std::string& url, std::string& host, std::string& port) {
  const std::string prefix = "tcp://";
  if (url.compare(0, prefix.size(), prefix) != 0) return false;
  std::string rest = url.substr(prefix.size());
  const auto slash = rest.find('/');
  if (slash != std::string::npos) rest.resize(slash);
  const auto colon = rest.rfind(':');
  if (colon == std::string::npos) return false;
  host = rest.substr(0, colon);
  port = rest.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  return !host.empty() && !port.empty();
}

void set_nodelay(int fd) {
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

int tcp_connect(const std::string& host, const std::string& port, double timeout_s,
                std::string& error) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  if (const int rc = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &found); rc != 0) {
    error = std::string("getaddrinfo: ") + ::gai_strerror(rc);
    return -1;
  }
  const int fd = ::socket(found->ai_family, found->ai_socktype, found->ai_protocol);
  if (fd < 0 || ::connect(fd, found->ai_addr, found->ai_addrlen) != 0) {
    error = std::string("connect: ") + std::strerror(errno);
    if (fd >= 0) ::close(fd);
    ::freeaddrinfo(found);
    return -1;
  }
  ::freeaddrinfo(found);
  set_nodelay(fd);
  // A stalled peer ends the run instead of hanging it.
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout_s);
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  return fd;
}

bool send_all(int fd, const char* data, std::size_t n) {
  while (n > 0) {
    const ssize_t sent = ::send(fd, data, n, MSG_NOSIGNAL);
    if (sent < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data += sent;
    n -= static_cast<std::size_t>(sent);
  }
  return true;
}

// A message on the wire: the 4-byte length, then the payload.
class FramedPayload {
 public:
  explicit FramedPayload(std::size_t size) : payload_(size), wire_(4 + size, '\0') {
    const auto n = static_cast<std::uint32_t>(size);
    wire_[0] = static_cast<char>(n >> 24);
    wire_[1] = static_cast<char>(n >> 16);
    wire_[2] = static_cast<char>(n >> 8);
    wire_[3] = static_cast<char>(n);
    if (size > 0) std::memcpy(&wire_[4], payload_.view().data(), size);
  }
  void stamp(std::uint64_t seq) {
    const std::size_t size = wire_.size() - 4;
    if (head_len(size) > 0) put_hex(&wire_[4], seq);
    if (tail_len(size) > 0) put_hex(&wire_[wire_.size() - kMark], ~seq);
  }
  const char* data() const { return wire_.data(); }
  std::size_t size() const { return wire_.size(); }

 private:
  Payload payload_;
  std::string wire_;
};

Result run_tcp(const Config& config) {
  Result result;
  std::string host;
  std::string port;
  if (!split_tcp_url(config.url, host, port)) {
    result.error = "the tcp adapter needs tcp://HOST:PORT";
    return result;
  }
  const int fd = tcp_connect(host, port, config.timeout_s, result.error);
  if (fd < 0) return result;

  const bool rtt = config.rtt();
  const std::uint64_t warmup = rtt ? config.warmup : 0;
  const std::uint64_t total = config.count + warmup;
  StreamReader reader(config.size);
  std::vector<std::uint8_t> buffer(kReadChunk);
  FramedPayload message(config.size);
  Clock::time_point start;
  Clock::time_point end;

  if (rtt) {
    result.rtt_us.reserve(config.count);
    start = Clock::now();
    for (std::uint64_t i = 0; i < total && result.error.empty(); ++i) {
      message.stamp(i);
      const auto sent_at = Clock::now();
      if (!send_all(fd, message.data(), message.size())) {
        result.error = std::string("send: ") + std::strerror(errno);
        break;
      }
      while (reader.messages() <= i) {
        const ssize_t n = ::recv(fd, buffer.data(), buffer.size(), 0);
        if (n <= 0) {
          if (n < 0 && errno == EINTR) continue;
          result.error = n == 0 ? "the echo closed" : std::string("recv: ") + std::strerror(errno);
          break;
        }
        if (!reader.feed(buffer.data(), static_cast<std::size_t>(n), [] {})) {
          result.error = reader.error();
          break;
        }
      }
      if (!result.error.empty()) break;
      const auto now = Clock::now();
      if (i >= warmup) {
        result.rtt_us.push_back(std::chrono::duration<double, std::micro>(now - sent_at).count());
      }
      if (i + 1 == warmup) start = now;
      end = now;
    }
  } else {
    // A writer thread keeps the window full with blocking sends; this thread reads the echoes.
    const std::uint64_t window = config.flood_window();
    const std::uint64_t low_water = window / 2;
    std::atomic<std::uint64_t> received{0};
    std::atomic<bool> writer_waiting{false};
    std::atomic<bool> stop{false};
    std::mutex mutex;
    std::condition_variable cv;
    std::string writer_error;

    start = Clock::now();
    std::thread writer([&] {
      std::uint64_t next = 0;
      while (next < total && !stop.load()) {
        if (next - received.load(std::memory_order_acquire) >= window) {
          std::unique_lock<std::mutex> lock(mutex);
          writer_waiting.store(true, std::memory_order_seq_cst);
          cv.wait(lock, [&] {
            return stop.load() || next - received.load(std::memory_order_seq_cst) <= low_water;
          });
          writer_waiting.store(false, std::memory_order_relaxed);
          continue;
        }
        message.stamp(next);
        if (!send_all(fd, message.data(), message.size())) {
          writer_error = std::string("send: ") + std::strerror(errno);
          break;
        }
        ++next;
      }
    });
    std::uint64_t count = 0;
    while (count < total) {
      const ssize_t n = ::recv(fd, buffer.data(), buffer.size(), 0);
      if (n <= 0) {
        if (n < 0 && errno == EINTR) continue;
        result.error = n == 0 ? "the echo closed" : std::string("recv: ") + std::strerror(errno);
        break;
      }
      if (!reader.feed(buffer.data(), static_cast<std::size_t>(n), [] {})) {
        result.error = reader.error();
        break;
      }
      count = reader.messages();
      received.store(count, std::memory_order_seq_cst);
      if (writer_waiting.load(std::memory_order_seq_cst)) {
        std::lock_guard<std::mutex> lock(mutex);
        cv.notify_one();
      }
    }
    end = Clock::now();
    {
      std::lock_guard<std::mutex> lock(mutex);
      stop.store(true);
      cv.notify_one();
    }
    if (!result.error.empty()) ::shutdown(fd, SHUT_RDWR);  // unblocks a writer stuck in send()
    writer.join();
    if (result.error.empty() && !writer_error.empty()) result.error = writer_error;
  }
  ::close(fd);
  if (!result.error.empty()) return result;
  if (reader.messages() != total) {
    result.error = "incomplete: " + std::to_string(reader.messages()) + " echoes";
    return result;
  }
  result.seconds = seconds_between(start, end);
  result.messages = config.count;
  result.bytes = config.count * config.size;
  return result;
}

// --- the TCP echo ------------------------------------------------------------------------------

int run_tcp_echo(const std::string& host, int port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
  addrinfo* found = nullptr;
  const std::string port_text = std::to_string(port);
  if (const int rc = ::getaddrinfo(host.c_str(), port_text.c_str(), &hints, &found); rc != 0) {
    std::fprintf(stderr, "transport_bench: getaddrinfo: %s\n", ::gai_strerror(rc));
    return 1;
  }
  const int listener = ::socket(found->ai_family, found->ai_socktype, found->ai_protocol);
  int one = 1;
  if (listener < 0 || ::setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
      ::bind(listener, found->ai_addr, found->ai_addrlen) != 0 || ::listen(listener, 64) != 0) {
    std::perror("transport_bench: listen");
    ::freeaddrinfo(found);
    return 1;
  }
  ::freeaddrinfo(found);
  sockaddr_storage bound{};
  socklen_t bound_len = sizeof bound;
  ::getsockname(listener, reinterpret_cast<sockaddr*>(&bound), &bound_len);
  const int bound_port = bound.ss_family == AF_INET6
                             ? ntohs(reinterpret_cast<const sockaddr_in6*>(&bound)->sin6_port)
                             : ntohs(reinterpret_cast<const sockaddr_in*>(&bound)->sin_port);
  std::printf("LISTENING %d\n", bound_port);
  std::fflush(stdout);

  for (;;) {
    const int fd = ::accept(listener, nullptr, nullptr);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      std::perror("transport_bench: accept");
      return 1;
    }
    set_nodelay(fd);
    std::thread([fd] {
      std::vector<char> buffer(kReadChunk);
      for (;;) {
        const ssize_t n = ::recv(fd, buffer.data(), buffer.size(), 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0 || !send_all(fd, buffer.data(), static_cast<std::size_t>(n))) break;
      }
      ::close(fd);
    }).detach();
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  Config config;
  std::vector<std::string> positional;
  bool tcp_echo = false;
  std::string echo_host = "127.0.0.1";
  std::uint64_t echo_port = 0;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    auto value = [&]() -> const char* {
      if (i + 1 >= args.size()) usage();
      return args[++i].c_str();
    };
    std::uint64_t n = 0;
    if (arg == "--tcp-echo") {
      tcp_echo = true;
    } else if (arg == "--host") {
      echo_host = value();
    } else if (arg == "--port") {
      if (!parse_u64(value(), echo_port) || echo_port > 65535) usage();
    } else if (arg == "--cpu") {
      if (!parse_u64(value(), n) || n > 1023) usage();
      config.cpu = static_cast<int>(n);
    } else if (arg == "--window") {
      if (!parse_u64(value(), config.window) || config.window == 0) usage();
    } else if (arg == "--window-bytes") {
      if (!parse_u64(value(), config.window_bytes)) usage();
    } else if (arg == "--warmup") {
      if (!parse_u64(value(), config.warmup)) usage();
      config.warmup_set = true;
    } else if (arg == "--driver") {
      const std::string driver = value();
      if (driver != "callback" && driver != "main") usage();
      config.main_driver = driver == "main";
    } else if (arg == "--ca") {
      config.ca_file = value();
    } else if (arg == "--insecure") {
      config.insecure = true;
    } else if (arg == "--timeout") {
      config.timeout_s = std::atof(value());
      if (config.timeout_s <= 0) usage();
    } else if (arg.size() > 1 && arg[0] == '-') {
      usage();
    } else {
      positional.push_back(arg);
    }
  }
  if (!pin_to_cpu(config.cpu)) return 1;
  if (tcp_echo) {
    if (!positional.empty()) usage();
    return run_tcp_echo(echo_host, static_cast<int>(echo_port));
  }

  if (positional.size() != 5 && positional.size() != 6) usage();
  config.adapter = positional[0];
  config.url = positional[1];
  config.mode = positional[2];
  std::uint64_t size = 0;
  if ((config.adapter != "tether" && config.adapter != "tcp") ||
      (config.mode != "rtt" && config.mode != "flood") ||
      !parse_u64(positional[3].c_str(), config.count) || config.count == 0 ||
      !parse_u64(positional[4].c_str(), size) || size > 0xFFFFFFFFu) {
    usage();
  }
  config.size = static_cast<std::size_t>(size);
  if (positional.size() == 6) {
    if (positional[5] != "text" && positional[5] != "binary") usage();
    config.binary = positional[5] == "binary";
  }
  if (!config.warmup_set) config.warmup = std::min<std::uint64_t>(1000, config.count);
  if (!config.rtt()) config.warmup = 0;

  Result result = config.adapter == "tether" ? run_tether(config) : run_tcp(config);
  return print_result(config, result);
}
