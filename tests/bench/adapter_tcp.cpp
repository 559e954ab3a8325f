// The floor: a blocking TCP socket against the trivial echo of `transport_bench --tcp-echo`.
// rtt: blocking send()/recv() ping-pong; flood: a writer thread sends `[u32 length][payload]`
// messages (one send() each) within the window while this thread reads the echo in 256 KiB
// recv()s; connect: connect(), shutdown(), read to EOF, close().

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "adapters.hpp"

namespace bench {

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

namespace {

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

// connect: COUNT full cycles (connect, shutdown, the echo's EOF, close) after a few unmeasured.
Result run_tcp_connect(const Config& config, const std::string& host, const std::string& port) {
  Result result;
  const std::uint64_t warmup = std::min<std::uint64_t>(config.warmup, 20);
  result.rtt_us.reserve(config.count);
  char byte = 0;
  const auto start = Clock::now();
  const double cpu_start = process_cpu_seconds();
  for (std::uint64_t i = 0; i < config.count + warmup; ++i) {
    const auto t0 = Clock::now();
    const int fd = tcp_connect(host, port, config.timeout_s, result.error);
    if (fd < 0) return result;
    ::shutdown(fd, SHUT_WR);
    const ssize_t n = ::recv(fd, &byte, 1, 0);
    ::close(fd);
    if (n != 0) {
      result.error = "the echo did not close";
      return result;
    }
    if (i >= warmup) result.rtt_us.push_back(micros_between(t0, Clock::now()));
  }
  result.seconds = seconds_between(start, Clock::now());
  result.cpu_seconds = process_cpu_seconds() - cpu_start;
  result.messages = config.count;
  return result;
}

}  // namespace

Result run_tcp(const Config& config) {
  Result result;
  std::string host;
  std::string port;
  if (!split_tcp_url(config.url, host, port)) {
    result.error = "the tcp adapter needs tcp://HOST:PORT";
    return result;
  }
  if (config.mode == "connect") return run_tcp_connect(config, host, port);
  if (!config.rtt() && !config.flood()) return unsupported(config);
  const int fd = tcp_connect(host, port, config.timeout_s, result.error);
  if (fd < 0) return result;

  const bool rtt = config.rtt();
  const std::uint64_t warmup = rtt ? config.warmup : 0;
  std::uint64_t total = config.count + warmup;
  StreamReader reader(config.size);
  // With a duration, the run ends with the messages sent by then.
  const auto stop_after =
      std::chrono::microseconds(static_cast<std::int64_t>(config.duration_s * 1e6));
  auto expired = [&](Clock::time_point since) {
    return config.duration_s > 0 && Clock::now() - since > stop_after;
  };
  std::vector<std::uint8_t> buffer(kReadChunk);
  FramedPayload message(config.size);
  Clock::time_point start;
  Clock::time_point end;
  double cpu_start = 0;

  if (rtt) {
    result.rtt_us.reserve(config.count);
    start = Clock::now();
    cpu_start = process_cpu_seconds();
    for (std::uint64_t i = 0; i < total && result.error.empty(); ++i) {
      if (i > warmup && (i & 63) == 0 && expired(start)) {
        total = i;
        break;
      }
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
      if (i + 1 == warmup) {
        start = now;
        cpu_start = process_cpu_seconds();
      }
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
    std::atomic<std::uint64_t> last{total};  // the writer lowers it when the duration is over

    start = Clock::now();
    cpu_start = process_cpu_seconds();
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
        if ((next & 63) == 0 && next > 0 && expired(start)) {
          last.store(next);
          ::shutdown(fd, SHUT_WR);  // the echo's EOF follows its last bytes
          break;
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
    while (count < last.load()) {
      const ssize_t n = ::recv(fd, buffer.data(), buffer.size(), 0);
      if (n <= 0) {
        if (n < 0 && errno == EINTR) continue;
        if (n == 0 && count == last.load()) break;
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
    total = last.load();
  }
  ::close(fd);
  if (!result.error.empty()) return result;
  if (reader.messages() != total) {
    result.error = "incomplete: " + std::to_string(reader.messages()) + " echoes";
    return result;
  }
  result.seconds = seconds_between(start, end);
  result.cpu_seconds = process_cpu_seconds() - cpu_start;
  result.messages = total - warmup;
  result.bytes = result.messages * config.size;
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

}  // namespace bench
