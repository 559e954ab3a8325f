#include "support/fault_proxy.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace tether::testing {
namespace {

using Clock = std::chrono::steady_clock;

std::uint64_t to_u64(const std::string& text) {
  return static_cast<std::uint64_t>(std::strtoull(text.c_str(), nullptr, 10));
}

/// The value after `key` + "=" in `line`, up to the next space ("" when absent).
std::string field(const std::string& line, const std::string& key) {
  const std::string needle = " " + key + "=";
  const auto at = line.find(needle);
  if (at == std::string::npos) return "";
  const auto begin = at + needle.size();
  const auto end = line.find(' ', begin);
  return line.substr(begin, end == std::string::npos ? std::string::npos : end - begin);
}

}  // namespace

std::optional<ProxyConnection> parse_proxy_connection(const std::string& line) {
  if (line.rfind("CONN ", 0) != 0) return std::nullopt;
  ProxyConnection c;
  c.id = to_u64(field(line, "id"));
  c.state = field(line, "state");
  c.c2s_in = to_u64(field(line, "c2s_in"));
  c.c2s_out = to_u64(field(line, "c2s_out"));
  c.c2s_discarded = to_u64(field(line, "c2s_discarded"));
  c.s2c_in = to_u64(field(line, "s2c_in"));
  c.s2c_out = to_u64(field(line, "s2c_out"));
  c.s2c_discarded = to_u64(field(line, "s2c_discarded"));
  c.c2s_mode = field(line, "c2s");
  c.s2c_mode = field(line, "s2c");
  c.upgraded = field(line, "upgraded") == "1";
  const std::uint64_t fault_us = to_u64(field(line, "fault_at_us"));
  if (fault_us != 0) {
    c.fault_at = Clock::time_point(std::chrono::duration_cast<Clock::duration>(
        std::chrono::microseconds(static_cast<std::int64_t>(fault_us))));
  }
  c.end = field(line, "end");
  const std::uint64_t end_us = to_u64(field(line, "end_at_us"));
  if (end_us != 0) {
    c.ended_at = Clock::time_point(std::chrono::duration_cast<Clock::duration>(
        std::chrono::microseconds(static_cast<std::int64_t>(end_us))));
  }
  if (c.id == 0 || c.state.empty()) return std::nullopt;
  return c;
}

FaultProxy::FaultProxy(int target_port, const std::string& target_host) {
  ProcessSpec spec;
  spec.name = "fault_proxy";
  const std::string target =
      (target_host.find(':') != std::string::npos ? "[" + target_host + "]" : target_host) + ":" +
      std::to_string(target_port);
  spec.argv = {TETHER_FAULT_PROXY_PATH, "--listen-port", "0", "--target", target};
  spec.port_flag = "--listen-port";
  process_ = ServerProcess(std::move(spec));
  process_.start();
  read_control_port();
}

void FaultProxy::read_control_port() {
  // The last CONTROL line is the current run's (it comes before LISTENING, which start() waited
  // for).
  const std::string text = process_.log();
  const auto at = text.rfind("CONTROL ");
  control_port_ = at == std::string::npos ? 0 : std::atoi(text.c_str() + at + 8);
  if (control_port_ <= 0) {
    process_.stop();
    throw std::runtime_error("fault_proxy printed no CONTROL port:\n" + text);
  }
}

void FaultProxy::restart() {
  disconnect_control();
  process_.restart();
  read_control_port();
}

FaultProxy::~FaultProxy() {
  disconnect_control();
  process_.stop();
}

std::string FaultProxy::ws_url(const std::string& path) const {
  return "ws://127.0.0.1:" + std::to_string(port()) + path;
}

void FaultProxy::connect_control() {
  if (control_fd_ >= 0) return;
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(control_port_));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    const std::string error = std::strerror(errno);
    close(fd);
    throw std::runtime_error("fault_proxy control port: " + error);
  }
  control_fd_ = fd;
  pending_.clear();
}

void FaultProxy::disconnect_control() noexcept {
  if (control_fd_ >= 0) close(control_fd_);
  control_fd_ = -1;
  pending_.clear();
}

std::string FaultProxy::command(const std::string& line) {
  connect_control();
  const std::string request = line + "\n";
  std::size_t sent = 0;
  while (sent < request.size()) {
    const ssize_t n = send(control_fd_, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) {
      disconnect_control();
      throw std::runtime_error("fault_proxy control: send failed for '" + line + "'");
    }
    sent += static_cast<std::size_t>(n);
  }
  const auto deadline = Clock::now() + std::chrono::seconds(5);
  std::string reply;
  for (;;) {
    std::size_t newline;
    while ((newline = pending_.find('\n')) != std::string::npos) {
      const std::string reply_line = pending_.substr(0, newline);
      pending_.erase(0, newline + 1);
      reply += reply_line + "\n";
      if (reply_line.rfind("OK", 0) == 0) return reply;
      if (reply_line.rfind("ERR", 0) == 0) {
        throw std::runtime_error("fault_proxy: '" + line + "': " + reply_line);
      }
    }
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) {
      disconnect_control();
      throw std::runtime_error("fault_proxy: no answer to '" + line + "' within 5 s");
    }
    pollfd pfd{control_fd_, POLLIN, 0};
    if (poll(&pfd, 1, static_cast<int>(left.count())) <= 0) continue;
    char buffer[8192];
    const ssize_t n = recv(control_fd_, buffer, sizeof buffer, 0);
    if (n <= 0) {
      disconnect_control();
      throw std::runtime_error("fault_proxy: control connection closed during '" + line + "'");
    }
    pending_.append(buffer, static_cast<std::size_t>(n));
  }
}

void FaultProxy::refuse(double seconds, const std::string& how) {
  std::ostringstream line;
  line << "refuse " << seconds << " how=" << how;
  command(line.str());
}

std::vector<ProxyConnection> FaultProxy::connections() {
  std::vector<ProxyConnection> out;
  std::istringstream lines(command("list"));
  std::string line;
  while (std::getline(lines, line)) {
    if (auto c = parse_proxy_connection(line)) out.push_back(*c);
  }
  return out;
}

std::optional<ProxyConnection> FaultProxy::connection(std::uint64_t id) {
  for (const auto& c : connections()) {
    if (c.id == id) return c;
  }
  return std::nullopt;
}

ProxyStats FaultProxy::stats() {
  const std::string line = " " + command("stats");
  ProxyStats s;
  s.accepted = to_u64(field(line, "accepted"));
  s.refused = to_u64(field(line, "refused"));
  s.active = to_u64(field(line, "active"));
  s.c2s = to_u64(field(line, "c2s"));
  s.s2c = to_u64(field(line, "s2c"));
  s.refusing = field(line, "refusing").rfind('1', 0) == 0;
  return s;
}

bool FaultProxy::wait_for(const std::function<bool(const std::vector<ProxyConnection>&)>& condition,
                          std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    if (condition(connections())) return true;
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

}  // namespace tether::testing
