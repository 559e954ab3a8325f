#include "proxy_server.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <utility>

namespace tether::proxy {
namespace {

using Clock = std::chrono::steady_clock;

constexpr std::size_t kReadChunk = 64 * 1024;
/// Per-direction bytes read but not yet forwarded before the proxy stops reading (backpressure).
constexpr std::size_t kQueueCap = 256 * 1024;
constexpr std::size_t kMaxEnded = 1000;
constexpr std::size_t kMaxControlLine = 4096;
/// Bytes of the server's first response searched for the end of the HTTP head.
constexpr std::uint64_t kMaxHead = 64 * 1024;

enum Tag : std::uint64_t {
  kListener = 1,
  kControlListener = 2,
  kStdin = 3,
  kControlClient = 4,
  kSide = 5,
};

std::uint64_t tag(Tag kind, std::uint64_t payload) {
  return (std::uint64_t{kind} << 56) | payload;
}
Tag tag_kind(std::uint64_t value) {
  return static_cast<Tag>(value >> 56);
}
std::uint64_t tag_payload(std::uint64_t value) {
  return value & ((std::uint64_t{1} << 56) - 1);
}

std::string errno_text(const char* what) {
  return std::string(what) + ": " + std::strerror(errno);
}

void set_nonblocking(int fd) {
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

void set_nodelay(int fd) {
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

/// A numeric loopback address (127.0.0.0/8 or ::1) with a port.
bool loopback_address(const std::string& host, int port, sockaddr_storage& out, socklen_t& len,
                      std::string& error) {
  addrinfo hints{};
  hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* result = nullptr;
  const std::string service = std::to_string(port);
  if (getaddrinfo(host.c_str(), service.c_str(), &hints, &result) != 0 || result == nullptr) {
    error = "not a numeric address: " + host;
    return false;
  }
  std::memcpy(&out, result->ai_addr, result->ai_addrlen);
  len = result->ai_addrlen;
  freeaddrinfo(result);
  bool loopback = false;
  if (out.ss_family == AF_INET) {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(&out);
    loopback = (ntohl(v4->sin_addr.s_addr) >> 24) == 127;
  } else if (out.ss_family == AF_INET6) {
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&out);
    loopback = IN6_IS_ADDR_LOOPBACK(&v6->sin6_addr);
  }
  if (!loopback) {
    error = "not a loopback address: " + host;
    return false;
  }
  return true;
}

/// A listening socket on a loopback address; its port goes to `port`. -1 on failure.
int listen_on(const std::string& host, int& port, std::string& error) {
  sockaddr_storage addr{};
  socklen_t len = 0;
  if (!loopback_address(host, port, addr, len, error)) return -1;
  const int fd = socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    error = errno_text("socket");
    return -1;
  }
  const int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), len) != 0 || listen(fd, 128) != 0) {
    error = errno_text("bind/listen");
    close(fd);
    return -1;
  }
  sockaddr_storage bound{};
  socklen_t bound_len = sizeof bound;
  getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &bound_len);
  port = ntohs(bound.ss_family == AF_INET ? reinterpret_cast<sockaddr_in*>(&bound)->sin_port
                                          : reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port);
  return fd;
}

void close_with_rst(int fd) {
  const linger lin{1, 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &lin, sizeof lin);
  close(fd);
}

std::int64_t micros(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
}

}  // namespace

ProxyServer::ProxyServer(ProxyOptions options) : options_(std::move(options)) {}

ProxyServer::~ProxyServer() {
  for (auto& entry : connections_) {
    for (int side = 0; side < 2; ++side) {
      if (entry.second->fd[side] >= 0) close(entry.second->fd[side]);
    }
  }
  for (auto& entry : controls_) close(entry.first);
  if (listener_ >= 0) close(listener_);
  if (control_listener_ >= 0) close(control_listener_);
  if (epoll_ >= 0) close(epoll_);
}

int ProxyServer::run() {
  if (!setup()) return 1;
  loop();
  return 0;
}

bool ProxyServer::setup() {
  started_ = Clock::now();
  std::string error;
  sockaddr_storage target{};
  socklen_t target_len = 0;
  if (!loopback_address(options_.target_host, options_.target_port, target, target_len, error)) {
    std::fprintf(stderr, "fault_proxy: target: %s\n", error.c_str());
    return false;
  }
  epoll_ = epoll_create1(EPOLL_CLOEXEC);
  if (epoll_ < 0) {
    std::fprintf(stderr, "fault_proxy: %s\n", errno_text("epoll_create1").c_str());
    return false;
  }
  int port = options_.listen_port;
  listener_ = listen_on(options_.listen_host, port, error);
  int control_port = options_.control_port;
  if (listener_ >= 0) control_listener_ = listen_on(options_.control_host, control_port, error);
  if (listener_ < 0 || control_listener_ < 0) {
    std::fprintf(stderr, "fault_proxy: %s\n", error.c_str());
    return false;
  }
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = tag(kListener, 0);
  epoll_ctl(epoll_, EPOLL_CTL_ADD, listener_, &ev);
  listener_registered_ = true;
  ev.data.u64 = tag(kControlListener, 0);
  epoll_ctl(epoll_, EPOLL_CTL_ADD, control_listener_, &ev);
  // stdin takes commands too when it is a pipe or a terminal (a regular file such as /dev/null
  // cannot be polled and is ignored).
  ev.data.u64 = tag(kStdin, 0);
  if (epoll_ctl(epoll_, EPOLL_CTL_ADD, 0, &ev) == 0) {
    stdin_open_ = true;
    set_nonblocking(0);
  }
  std::printf("CONTROL %d\nLISTENING %d\n", control_port, port);
  std::fflush(stdout);
  std::fprintf(stderr, "fault_proxy: 127.0.0.1:%d -> %s:%d, control port %d\n", port,
               options_.target_host.c_str(), options_.target_port, control_port);
  return true;
}

bool ProxyServer::refusing() const {
  return refuse_ && (refuse_forever_ || Clock::now() < refuse_until_);
}

int ProxyServer::next_timeout_ms() {
  const auto now = Clock::now();
  auto deadline = Clock::time_point::max();
  for (const auto& entry : connections_) {
    const Connection& conn = *entry.second;
    for (int f = 0; f < 2; ++f) {
      const Flow& flow = conn.flow[f];
      if (flow.fault.mode != Mode::pass || flow.queue.empty() || flow.blocked) continue;
      if (flow.queue.front().release > now) {
        deadline = std::min(deadline, flow.queue.front().release);
      } else if (flow.fault.throttle_bps > 0) {
        deadline = std::min(deadline, now + std::chrono::milliseconds(5));
      }
    }
  }
  if (refuse_ && !refuse_forever_) deadline = std::min(deadline, refuse_until_);
  if (deadline == Clock::time_point::max()) return -1;
  if (deadline <= now) return 0;
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now).count() + 1;
  return static_cast<int>(std::min<long long>(ms, 1000));
}

void ProxyServer::loop() {
  epoll_event events[64];
  while (!quit_) {
    const int n = epoll_wait(epoll_, events, 64, next_timeout_ms());
    if (n < 0 && errno != EINTR) {
      std::fprintf(stderr, "fault_proxy: %s\n", errno_text("epoll_wait").c_str());
      return;
    }
    for (int i = 0; i < n && !quit_; ++i) {
      const std::uint64_t value = events[i].data.u64;
      switch (tag_kind(value)) {
        case kListener:
          on_listener();
          break;
        case kControlListener:
          on_control_listener();
          break;
        case kStdin:
          on_stdin();
          break;
        case kControlClient:
          on_control_client(static_cast<int>(tag_payload(value)), events[i].events);
          break;
        case kSide:
          on_side(tag_payload(value) >> 1, static_cast<int>(tag_payload(value) & 1),
                  events[i].events);
          break;
      }
    }
    if (refuse_ && !refusing()) {
      refuse_ = false;
      std::fprintf(stderr, "fault_proxy: refusal over\n");
    }
    const bool want_listener = !(refusing() && refuse_how_ == RefuseHow::ignore);
    if (want_listener != listener_registered_) {
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.u64 = tag(kListener, 0);
      epoll_ctl(epoll_, want_listener ? EPOLL_CTL_ADD : EPOLL_CTL_DEL, listener_, &ev);
      listener_registered_ = want_listener;
    }
    for (auto& entry : connections_) service(*entry.second);
    for (auto it = connections_.begin(); it != connections_.end();) {
      if (it->second->fd[0] < 0 && it->second->fd[1] < 0) {
        it = connections_.erase(it);
      } else {
        ++it;
      }
    }
  }
}

// --- accepting ---------------------------------------------------------------------------------

void ProxyServer::on_listener() {
  for (int i = 0; i < 64; ++i) {
    const int fd = accept4(listener_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;
    accept_one(fd);
  }
}

void ProxyServer::accept_one(int fd) {
  if (refusing()) {
    ++refused_;
    if (refuse_how_ == RefuseHow::rst) {
      close_with_rst(fd);
    } else {
      close(fd);
    }
    std::fprintf(stderr, "fault_proxy: refused a connection\n");
    return;
  }
  ++accepted_;
  auto owned = std::make_unique<Connection>();
  Connection& conn = *owned;
  conn.id = next_id_++;
  conn.fd[0] = fd;
  conn.opened = Clock::now();
  conn.flow[0].refill = conn.flow[1].refill = conn.opened;
  connections_.emplace(conn.id, std::move(owned));
  set_nodelay(fd);

  std::string error;
  sockaddr_storage target{};
  socklen_t target_len = 0;
  loopback_address(options_.target_host, options_.target_port, target, target_len, error);
  const int server = socket(target.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (server < 0) {
    end_connection(conn, "socket_failed", true);
    return;
  }
  conn.fd[1] = server;
  set_nodelay(server);
  if (connect(server, reinterpret_cast<sockaddr*>(&target), target_len) == 0) {
    conn.connecting = false;
  } else if (errno != EINPROGRESS) {
    end_connection(conn, "connect_failed", true);
    return;
  }
  std::fprintf(stderr, "fault_proxy: conn %llu open\n", static_cast<unsigned long long>(conn.id));

  // The fault state of new connections.
  bool faulted = template_.reset || !template_.deferred.empty() || !next_.empty();
  for (int f = 0; f < 2; ++f) {
    conn.flow[f].fault = template_.flow[f];
    const DirectionFault& d = conn.flow[f].fault;
    if (d.mode != Mode::pass || d.latency.count() > 0 || d.throttle_bps > 0 || d.cut_after >= 0) {
      faulted = true;
    }
    if (d.mode == Mode::blackhole) conn.was_blackholed = true;
  }
  conn.deferred = template_.deferred;
  if (faulted) {
    conn.fault_at = conn.opened;
    conn.has_fault_at = true;
  }
  if (template_.reset) {
    end_connection(conn, "reset", true);
    return;
  }
  std::vector<Command> next;
  next.swap(next_);
  for (const Command& command : next) {
    if (conn.fd[0] < 0) break;
    apply_to_connection(conn, command);
  }
  update_interest(conn);
}

// --- the data path -----------------------------------------------------------------------------

void ProxyServer::on_side(std::uint64_t id, int side, std::uint32_t events) {
  const auto found = connections_.find(id);
  if (found == connections_.end()) return;
  Connection& conn = *found->second;
  if (conn.fd[side] < 0) return;
  if (side == 1 && conn.connecting) {
    if ((events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) == 0) return;
    int error = 0;
    socklen_t len = sizeof error;
    getsockopt(conn.fd[1], SOL_SOCKET, SO_ERROR, &error, &len);
    if (error != 0) {
      std::fprintf(stderr, "fault_proxy: conn %llu: connect to target: %s\n",
                   static_cast<unsigned long long>(conn.id), std::strerror(error));
      end_connection(conn, "connect_failed", true);
      return;
    }
    conn.connecting = false;
    return;
  }
  if (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
    read_side(conn, side, (events & (EPOLLERR | EPOLLHUP)) != 0);
  }
}

void ProxyServer::scan_head(Connection& conn, const char* data, std::size_t n) {
  const std::uint64_t base = conn.flow[1].in;
  for (std::size_t i = 0; i < n && !conn.head_found && base + i < kMaxHead; ++i) {
    const char expected = (conn.head_state % 2 == 0) ? '\r' : '\n';
    if (data[i] == expected) {
      if (++conn.head_state == 4) {
        conn.head_found = true;
        conn.head_end = base + i + 1;
      }
    } else {
      conn.head_state = data[i] == '\r' ? 1 : 0;
    }
  }
}

bool ProxyServer::read_side(Connection& conn, int side, bool drain) {
  Flow& flow = conn.flow[side];
  const int limit = drain ? 64 : 16;
  for (int i = 0; i < limit; ++i) {
    const int fd = conn.fd[side];
    if (fd < 0 || flow.eof) return true;
    if (!drain && flow.fault.mode != Mode::blackhole && flow.queued >= kQueueCap) return true;
    std::string buffer(kReadChunk, '\0');
    const ssize_t n = recv(fd, &buffer[0], buffer.size(), MSG_DONTWAIT);
    if (n > 0) {
      const auto bytes = static_cast<std::size_t>(n);
      if (side == 1) scan_head(conn, buffer.data(), bytes);
      flow.in += bytes;
      if (flow.fault.mode == Mode::blackhole) {
        flow.discarded += bytes;
        continue;
      }
      buffer.resize(bytes);
      flow.queued += bytes;
      flow.queue.push_back(Chunk{std::move(buffer), 0, Clock::now() + flow.fault.latency});
      continue;
    }
    if (n == 0) {
      flow.eof = true;
      return true;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK) return true;
    if (errno == EINTR) continue;
    const std::string reason = side == 0 ? "client_error" : "server_error";
    std::fprintf(stderr, "fault_proxy: conn %llu: %s: %s\n",
                 static_cast<unsigned long long>(conn.id), reason.c_str(), std::strerror(errno));
    if (conn.flow[0].fault.mode == Mode::blackhole || conn.flow[1].fault.mode == Mode::blackhole) {
      // A half-open link: the other side hears nothing.
      close_side(conn, side, false);
      return true;
    }
    end_connection(conn, reason, true);
    return false;
  }
  return true;
}

std::uint64_t ProxyServer::write_limit(const Connection& conn, int f) const {
  std::uint64_t limit = std::numeric_limits<std::uint64_t>::max();
  const Flow& flow = conn.flow[f];
  if (flow.fault.cut_after >= 0) limit = static_cast<std::uint64_t>(flow.fault.cut_after);
  for (const Deferred& d : conn.deferred) {
    if (d.trigger.kind == Trigger::Kind::bytes && static_cast<int>(d.trigger.dir) == f) {
      limit = std::min(limit, d.trigger.bytes > flow.out ? d.trigger.bytes - flow.out : 0);
    } else if (d.trigger.kind == Trigger::Kind::upgrade && f == 1 && conn.head_found) {
      limit = std::min(limit, conn.head_end > flow.out ? conn.head_end - flow.out : 0);
    }
  }
  return limit;
}

bool ProxyServer::fire_triggers(Connection& conn) {
  for (std::size_t i = 0; i < conn.deferred.size();) {
    const Trigger& t = conn.deferred[i].trigger;
    const bool due =
        (t.kind == Trigger::Kind::bytes && conn.flow[static_cast<int>(t.dir)].out >= t.bytes) ||
        (t.kind == Trigger::Kind::upgrade && conn.head_found && conn.flow[1].out >= conn.head_end);
    if (!due) {
      ++i;
      continue;
    }
    const Command command = conn.deferred[i].command;
    conn.deferred.erase(conn.deferred.begin() + static_cast<std::ptrdiff_t>(i));
    apply_now(conn, command);
    if (conn.fd[0] < 0 && conn.fd[1] < 0) return false;
    i = 0;
  }
  return true;
}

bool ProxyServer::write_flow(Connection& conn, int f) {
  Flow& flow = conn.flow[f];
  const int dst_side = 1 - f;
  flow.blocked = false;
  while (flow.fault.mode == Mode::pass && !flow.queue.empty()) {
    const int dst = conn.fd[dst_side];
    if (dst < 0 || (f == 0 && conn.connecting)) return true;
    const auto now = Clock::now();
    Chunk& chunk = flow.queue.front();
    if (chunk.release > now) return true;
    std::uint64_t n =
        std::min<std::uint64_t>(chunk.data.size() - chunk.offset, write_limit(conn, f));
    if (flow.fault.throttle_bps > 0) {
      const double elapsed = std::chrono::duration<double>(now - flow.refill).count();
      const double cap = std::max(1.0, static_cast<double>(flow.fault.throttle_bps) / 50.0);
      flow.tokens =
          std::min(cap, flow.tokens + elapsed * static_cast<double>(flow.fault.throttle_bps));
      flow.refill = now;
      n = std::min<std::uint64_t>(n, static_cast<std::uint64_t>(std::floor(flow.tokens)));
    }
    if (n == 0) return true;
    const ssize_t w = send(dst, chunk.data.data() + chunk.offset, n, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        flow.blocked = true;
        return true;
      }
      if (errno == EINTR) continue;
      std::fprintf(stderr, "fault_proxy: conn %llu: write to %s: %s\n",
                   static_cast<unsigned long long>(conn.id), f == 0 ? "server" : "client",
                   std::strerror(errno));
      end_connection(conn, f == 0 ? "server_error" : "client_error", true);
      return false;
    }
    const auto written = static_cast<std::uint64_t>(w);
    flow.out += written;
    (f == 0 ? total_c2s_ : total_s2c_) += written;
    chunk.offset += written;
    flow.queued -= written;
    if (flow.fault.throttle_bps > 0) flow.tokens -= static_cast<double>(written);
    if (chunk.offset == chunk.data.size()) flow.queue.pop_front();
    if (flow.fault.cut_after >= 0) {
      flow.fault.cut_after -= static_cast<std::int64_t>(written);
      if (flow.fault.cut_after <= 0) {
        end_connection(conn, "cut", true);
        return false;
      }
    }
    if (!fire_triggers(conn)) return false;
  }
  return true;
}

bool ProxyServer::service(Connection& conn) {
  if (conn.fd[0] < 0 && conn.fd[1] < 0) return false;
  if (!fire_triggers(conn)) return false;
  for (int f = 0; f < 2; ++f) {
    Flow& flow = conn.flow[f];
    if (flow.fault.cut_after == 0) {
      end_connection(conn, "cut", true);
      return false;
    }
    if (flow.fault.mode == Mode::blackhole && flow.queued > 0) {
      flow.discarded += flow.queued;
      flow.queued = 0;
      flow.queue.clear();
    }
    if (!write_flow(conn, f)) return false;
    const int dst = conn.fd[1 - f];
    if (flow.fault.mode == Mode::pass && flow.eof && flow.queue.empty() && !flow.shut && dst >= 0 &&
        !(f == 0 && conn.connecting)) {
      shutdown(dst, SHUT_WR);
      flow.shut = true;
    }
  }
  if (conn.flow[0].shut && conn.flow[1].shut) {
    end_connection(conn, "closed", false);
    return false;
  }
  update_interest(conn);
  return true;
}

void ProxyServer::set_interest(Connection& conn, int side, std::uint32_t events) {
  const int fd = conn.fd[side];
  if (fd < 0) return;
  if (events == 0) {
    if (conn.registered[side]) epoll_ctl(epoll_, EPOLL_CTL_DEL, fd, nullptr);
    conn.registered[side] = false;
    conn.interest[side] = 0;
    return;
  }
  if (conn.registered[side] && conn.interest[side] == events) return;
  epoll_event ev{};
  ev.events = events;
  ev.data.u64 = tag(kSide, (conn.id << 1) | static_cast<std::uint64_t>(side));
  epoll_ctl(epoll_, conn.registered[side] ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, &ev);
  conn.registered[side] = true;
  conn.interest[side] = events;
}

void ProxyServer::update_interest(Connection& conn) {
  for (int side = 0; side < 2; ++side) {
    if (conn.fd[side] < 0) continue;
    const Flow& source = conn.flow[side];
    const Flow& into = conn.flow[1 - side];
    std::uint32_t events = 0;
    const bool server_connecting = side == 1 && conn.connecting;
    if (!source.eof && !server_connecting &&
        (source.fault.mode == Mode::blackhole || source.queued < kQueueCap)) {
      events |= EPOLLIN;
    }
    if (server_connecting || into.blocked) events |= EPOLLOUT;
    set_interest(conn, side, events);
  }
}

void ProxyServer::close_side(Connection& conn, int side, bool rst) {
  const int fd = conn.fd[side];
  if (fd < 0) return;
  set_interest(conn, side, 0);
  if (rst) {
    close_with_rst(fd);
  } else {
    close(fd);
  }
  conn.fd[side] = -1;
}

std::string ProxyServer::describe(const Connection& conn, const std::string& state,
                                  const std::string& end) const {
  const auto now = Clock::now();
  std::string line = "CONN id=" + std::to_string(conn.id) + " state=" + state;
  const char* names[2] = {"c2s", "s2c"};
  for (int f = 0; f < 2; ++f) {
    const Flow& flow = conn.flow[f];
    const std::string n = names[f];
    line += " " + n + "_in=" + std::to_string(flow.in) + " " + n +
            "_out=" + std::to_string(flow.out) + " " + n +
            "_discarded=" + std::to_string(flow.discarded);
  }
  for (int f = 0; f < 2; ++f) {
    line += std::string(" ") + names[f] + "=" + std::string(to_string(conn.flow[f].fault.mode));
  }
  line += std::string(" upgraded=") +
          (conn.head_found && conn.flow[1].out >= conn.head_end ? "1" : "0");
  line += " fault_at_us=" + std::to_string(conn.has_fault_at ? micros(conn.fault_at) : 0);
  line += " age_ms=" +
          std::to_string(
              std::chrono::duration_cast<std::chrono::milliseconds>(now - conn.opened).count());
  if (!end.empty()) line += " end_at_us=" + std::to_string(micros(conn.ended_at)) + " end=" + end;
  return line;
}

void ProxyServer::end_connection(Connection& conn, const std::string& reason, bool rst) {
  if (conn.fd[0] < 0 && conn.fd[1] < 0) return;
  conn.ended_at = Clock::now();
  ended_.push_back(describe(conn, "closed", reason));
  if (ended_.size() > kMaxEnded) ended_.pop_front();
  std::fprintf(stderr, "fault_proxy: conn %llu end %s c2s=%llu s2c=%llu\n",
               static_cast<unsigned long long>(conn.id), reason.c_str(),
               static_cast<unsigned long long>(conn.flow[0].out),
               static_cast<unsigned long long>(conn.flow[1].out));
  close_side(conn, 0, rst);
  close_side(conn, 1, rst);
  for (Flow& flow : conn.flow) {
    flow.queue.clear();
    flow.queued = 0;
    flow.blocked = false;
  }
  conn.deferred.clear();
}

// --- faults --------------------------------------------------------------------------------------

void ProxyServer::apply_now(Connection& conn, const Command& command) {
  if (conn.fd[0] < 0 && conn.fd[1] < 0) return;
  if (command.action == Action::heal) {
    heal_connection(conn);
    return;
  }
  conn.fault_at = Clock::now();
  conn.has_fault_at = true;
  if (command.action == Action::reset) {
    end_connection(conn, "reset", true);
    return;
  }
  for (int f = 0; f < 2; ++f) {
    Flow& flow = conn.flow[f];
    const std::uint64_t bps_before = flow.fault.throttle_bps;
    apply_to_direction(command, static_cast<Dir>(f), flow.fault);
    if (flow.fault.mode == Mode::blackhole) conn.was_blackholed = true;
    if (flow.fault.throttle_bps != bps_before) {
      flow.tokens = 0;
      flow.refill = conn.fault_at;
    }
  }
}

void ProxyServer::apply_to_connection(Connection& conn, const Command& command) {
  if (command.trigger.kind == Trigger::Kind::now) {
    apply_now(conn, command);
    return;
  }
  Deferred deferred{command.trigger, command};
  if (deferred.trigger.kind == Trigger::Kind::bytes && deferred.trigger.relative) {
    deferred.trigger.bytes += conn.flow[static_cast<int>(deferred.trigger.dir)].out;
    deferred.trigger.relative = false;
  }
  conn.deferred.push_back(deferred);
}

void ProxyServer::apply_to_template(const Command& command, Template& tmpl) {
  if (command.trigger.kind != Trigger::Kind::now) {
    Deferred deferred{command.trigger, command};
    deferred.trigger.relative = false;  // new connections count from their first byte
    tmpl.deferred.push_back(deferred);
    return;
  }
  if (command.action == Action::reset) {
    tmpl.reset = true;
    return;
  }
  for (int f = 0; f < 2; ++f) apply_to_direction(command, static_cast<Dir>(f), tmpl.flow[f]);
}

void ProxyServer::heal_connection(Connection& conn) {
  if (conn.fd[0] < 0 && conn.fd[1] < 0) return;
  const bool lost_bytes = conn.flow[0].discarded > 0 || conn.flow[1].discarded > 0;
  if ((conn.was_blackholed && lost_bytes) || conn.fd[0] < 0 || conn.fd[1] < 0) {
    // Bytes were thrown away (or one side is gone): the stream cannot resume.
    end_connection(conn, "reset_on_heal", true);
    return;
  }
  conn.deferred.clear();
  for (Flow& flow : conn.flow) {
    flow.fault = DirectionFault{};
  }
  conn.was_blackholed = false;
}

std::string ProxyServer::apply_fault(const Command& command) {
  std::size_t affected = 0;
  auto each_connection = [&](auto&& fn) {
    for (auto& entry : connections_) {
      Connection& conn = *entry.second;
      if (conn.fd[0] < 0 && conn.fd[1] < 0) continue;
      fn(conn);
      ++affected;
    }
  };
  if (command.action == Action::heal) {
    if (command.scope == Scope::all || command.scope == Scope::fresh) {
      template_ = Template{};
      next_.clear();
    }
    if (command.scope == Scope::all) refuse_ = false;
    if (command.scope == Scope::next) next_.clear();
    if (command.scope == Scope::all || command.scope == Scope::existing) {
      each_connection([&](Connection& conn) { heal_connection(conn); });
    }
  } else {
    switch (command.scope) {
      case Scope::all:
        apply_to_template(command, template_);
        each_connection([&](Connection& conn) { apply_to_connection(conn, command); });
        break;
      case Scope::existing:
        each_connection([&](Connection& conn) { apply_to_connection(conn, command); });
        break;
      case Scope::fresh:
        apply_to_template(command, template_);
        break;
      case Scope::next:
        next_.push_back(command);
        break;
      case Scope::one:
        break;
    }
  }
  if (command.scope == Scope::one) {
    const auto found = connections_.find(command.conn_id);
    if (found == connections_.end() || (found->second->fd[0] < 0 && found->second->fd[1] < 0)) {
      return "ERR no open connection " + std::to_string(command.conn_id);
    }
    if (command.action == Action::heal) {
      heal_connection(*found->second);
    } else {
      apply_to_connection(*found->second, command);
    }
    affected = 1;
  }
  for (auto& entry : connections_) service(*entry.second);
  return "OK " + std::to_string(affected);
}

// --- control -------------------------------------------------------------------------------------

std::string ProxyServer::list(bool active_only) const {
  std::vector<std::pair<std::uint64_t, std::string>> lines;
  if (!active_only) {
    for (const std::string& line : ended_) {
      const auto id = std::strtoull(line.c_str() + 8, nullptr, 10);  // "CONN id=N"
      lines.emplace_back(id, line);
    }
  }
  for (const auto& entry : connections_) {
    const Connection& conn = *entry.second;
    if (conn.fd[0] < 0 && conn.fd[1] < 0) continue;
    lines.emplace_back(conn.id, describe(conn, conn.connecting ? "connecting" : "open", ""));
  }
  std::sort(lines.begin(), lines.end());
  std::string out;
  for (const auto& line : lines) out += line.second + "\n";
  return out + "OK " + std::to_string(lines.size());
}

std::string ProxyServer::stats() const {
  std::size_t active = 0;
  for (const auto& entry : connections_) {
    if (entry.second->fd[0] >= 0 || entry.second->fd[1] >= 0) ++active;
  }
  return "OK accepted=" + std::to_string(accepted_) + " refused=" + std::to_string(refused_) +
         " active=" + std::to_string(active) + " c2s=" + std::to_string(total_c2s_) +
         " s2c=" + std::to_string(total_s2c_) + " refusing=" + (refusing() ? "1" : "0");
}

std::string ProxyServer::execute(const std::string& line) {
  std::string error;
  const std::optional<Command> parsed = parse_command(line, error);
  if (!parsed) return "ERR " + error;
  const Command& command = *parsed;
  std::fprintf(stderr, "fault_proxy: command: %s\n", line.c_str());
  switch (command.action) {
    case Action::refuse:
      refuse_ = true;
      refuse_forever_ = command.value == 0;
      refuse_until_ =
          Clock::now() + std::chrono::milliseconds(static_cast<std::int64_t>(command.value));
      refuse_how_ = command.how;
      return "OK";
    case Action::accept:
      refuse_ = false;
      return "OK";
    case Action::list:
      return list(command.active_only);
    case Action::stats:
      return stats();
    case Action::help:
      return std::string(command_help()) + "\nOK";
    case Action::quit:
      quit_ = true;
      return "OK";
    default:
      return apply_fault(command);
  }
}

void ProxyServer::on_control_listener() {
  for (int i = 0; i < 16; ++i) {
    const int fd = accept4(control_listener_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;
    controls_[fd].fd = fd;
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = tag(kControlClient, static_cast<std::uint64_t>(fd));
    epoll_ctl(epoll_, EPOLL_CTL_ADD, fd, &ev);
  }
}

void ProxyServer::on_control_client(int fd, std::uint32_t events) {
  const auto found = controls_.find(fd);
  if (found == controls_.end()) return;
  ControlClient& client = found->second;
  bool closed = false;
  if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
    char buffer[4096];
    const ssize_t n = recv(fd, buffer, sizeof buffer, MSG_DONTWAIT);
    if (n > 0) {
      client.in.append(buffer, static_cast<std::size_t>(n));
    } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
      closed = true;
    }
  }
  std::size_t newline;
  while (!closed && (newline = client.in.find('\n')) != std::string::npos) {
    const std::string line = client.in.substr(0, newline);
    client.in.erase(0, newline + 1);
    client.out += execute(line) + "\n";
  }
  if (client.in.size() > kMaxControlLine) {
    client.out += "ERR line too long\n";
    client.in.clear();
  }
  while (!closed && !client.out.empty()) {
    const ssize_t w = send(fd, client.out.data(), client.out.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w > 0) {
      client.out.erase(0, static_cast<std::size_t>(w));
    } else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      break;
    } else {
      closed = true;
    }
  }
  if (closed) {
    epoll_ctl(epoll_, EPOLL_CTL_DEL, fd, nullptr);
    close(fd);
    controls_.erase(found);
    return;
  }
  epoll_event ev{};
  ev.events = EPOLLIN | (client.out.empty() ? 0u : static_cast<std::uint32_t>(EPOLLOUT));
  ev.data.u64 = tag(kControlClient, static_cast<std::uint64_t>(fd));
  epoll_ctl(epoll_, EPOLL_CTL_MOD, fd, &ev);
}

void ProxyServer::on_stdin() {
  char buffer[4096];
  const ssize_t n = read(0, buffer, sizeof buffer);
  if (n <= 0) {
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    epoll_ctl(epoll_, EPOLL_CTL_DEL, 0, nullptr);
    stdin_open_ = false;
    return;
  }
  stdin_buffer_.append(buffer, static_cast<std::size_t>(n));
  std::size_t newline;
  while ((newline = stdin_buffer_.find('\n')) != std::string::npos) {
    const std::string line = stdin_buffer_.substr(0, newline);
    stdin_buffer_.erase(0, newline + 1);
    const std::string reply = execute(line) + "\n";
    std::fwrite(reply.data(), 1, reply.size(), stdout);
    std::fflush(stdout);
  }
  if (stdin_buffer_.size() > kMaxControlLine) stdin_buffer_.clear();
}

}  // namespace tether::proxy
