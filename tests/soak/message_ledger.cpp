#include "soak/message_ledger.hpp"

#include <charconv>
#include <fstream>

namespace tether::soak {

std::string_view to_string(Chaos chaos) noexcept {
  switch (chaos) {
    case Chaos::none:
      return "none";
    case Chaos::sigterm:
      return "sigterm";
    case Chaos::sigkill:
      return "sigkill";
    case Chaos::reset:
      return "proxy_reset";
    case Chaos::cut:
      return "proxy_cut";
    case Chaos::blackhole:
      return "proxy_blackhole";
    case Chaos::latency:
      return "proxy_latency";
    case Chaos::throttle:
      return "proxy_throttle";
    case Chaos::refuse:
      return "proxy_refuse";
  }
  return "?";
}

std::string message_text(std::uint64_t n) {
  std::string text = "m " + std::to_string(n) + " ";
  const std::size_t size = 48;
  for (char c = 'a'; text.size() < size; c = c == 'z' ? 'a' : static_cast<char>(c + 1)) {
    text.push_back(c);
  }
  return text;
}

std::uint64_t message_number(std::string_view text) noexcept {
  if (text.size() < 3 || text[0] != 'm' || text[1] != ' ') return 0;
  std::uint64_t n = 0;
  const char* begin = text.data() + 2;
  const auto [end, error] = std::from_chars(begin, text.data() + text.size(), n);
  if (error != std::errc{} || end == begin || end == text.data() + text.size() || *end != ' ') {
    return 0;
  }
  return n;
}

MessageLedger::MessageLedger(std::size_t max_messages, std::size_t max_connections)
    : conn_of_(max_messages + 1, -1),
      echoed_(max_messages + 1, 0),
      at_server_(max_messages + 1, 0),
      connections_(max_connections == 0 ? 1 : max_connections) {}

void MessageLedger::accepted(std::uint64_t n) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (n > accepted_) accepted_ = n;
}

void MessageLedger::opened() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (epoch_ + 1 < static_cast<std::int32_t>(connections_.size())) {
    ++epoch_;
  } else {
    ++epoch_overflow_;  // the last record stands for every later connection
    connections_[static_cast<std::size_t>(epoch_)] = ConnectionRecord{};
  }
}

void MessageLedger::closed(const CloseInfo& info, Chaos during) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (epoch_ < 0) return;
  ConnectionRecord& record = connections_[static_cast<std::size_t>(epoch_)];
  record.ended = true;
  record.clean = info.clean;
  record.code = info.code;
  record.ended_during = during;
}

void MessageLedger::faulted(Chaos fault) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (epoch_ < 0) return;
  ConnectionRecord& record = connections_[static_cast<std::size_t>(epoch_)];
  if (!record.ended) {
    record.faulted = true;
    record.fault = fault;
  }
}

void MessageLedger::sent(std::uint64_t n) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (n == 0 || n >= conn_of_.size()) return;
  conn_of_[n] = epoch_ < 0 ? 0 : epoch_;
}

void MessageLedger::dropped(std::uint64_t n) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (n == 0 || n >= conn_of_.size()) return;
  conn_of_[n] = -2;
}

void MessageLedger::refused(std::uint64_t n) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (n == 0 || n >= conn_of_.size()) return;
  conn_of_[n] = -3;
}

void MessageLedger::echo(std::string_view text) {
  const std::uint64_t n = message_number(text);
  std::lock_guard<std::mutex> lock(mutex_);
  if (n == 0 || n >= echoed_.size() || n > accepted_) {
    ++echo_unknown_;
    return;
  }
  if (echoed_[n] != 0) {
    ++echo_duplicates_;
  } else if (n < last_echo_) {
    ++echo_reorders_;
  }
  echoed_[n] = 1;
  ++echoes_;
  if (n > last_echo_) last_echo_ = n;
}

std::uint64_t MessageLedger::accepted_count() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return accepted_;
}

std::uint64_t MessageLedger::echo_count() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return echoes_;
}

std::uint64_t MessageLedger::last_echo() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return last_echo_;
}

std::uint64_t MessageLedger::connections() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return static_cast<std::uint64_t>(epoch_ + 1) + epoch_overflow_;
}

bool MessageLedger::read_server_log(const std::string& path) {
  std::ifstream in(path);
  if (!in) return false;
  std::lock_guard<std::mutex> lock(mutex_);
  std::uint64_t highest = 0;
  std::string line;
  static constexpr std::string_view kEvent = "\"event\":\"message\"";
  static constexpr std::string_view kText = "\"text\":\"";
  while (std::getline(in, line)) {
    if (line.find(kEvent) == std::string::npos) continue;
    const std::size_t at = line.find(kText);
    if (at == std::string::npos) continue;
    const std::uint64_t n = message_number(std::string_view(line).substr(at + kText.size()));
    if (n == 0 || n >= at_server_.size()) continue;
    if (at_server_[n] != 0) {
      ++server_duplicates_;
    } else if (n < highest) {
      ++server_reorders_;
    }
    at_server_[n] = 1;
    if (n > highest) highest = n;
  }
  return true;
}

Account MessageLedger::account() const {
  std::lock_guard<std::mutex> lock(mutex_);
  Account a;
  a.accepted = accepted_;  // refused numbers are taken off below
  a.server_duplicates = server_duplicates_;
  a.server_reorders = server_reorders_;
  a.echoes = echoes_;
  a.echo_duplicates = echo_duplicates_;
  a.echo_reorders = echo_reorders_;
  a.echo_unknown = echo_unknown_;
  a.connections = static_cast<std::uint64_t>(epoch_ + 1) + epoch_overflow_;
  for (std::int32_t e = 0; e <= epoch_; ++e) {
    if (connections_[static_cast<std::size_t>(e)].clean) ++a.connections_clean;
  }
  for (std::uint64_t n = 1; n < conn_of_.size(); ++n) {
    const std::int32_t conn = conn_of_[n];
    const bool logged = at_server_[n] != 0;
    if (n > accepted_) {
      if (logged) ++a.phantom;
      continue;
    }
    if (conn == -3) {
      ++a.refused;
      if (logged) ++a.phantom;
      continue;
    }
    if (conn == -1) {
      ++a.unresolved;
      if (logged) ++a.phantom;
      continue;
    }
    if (conn == -2) {
      ++a.dropped;
      if (logged) ++a.phantom;
      continue;
    }
    ++a.sent;
    if (logged) {
      ++a.at_server;
      if (echoed_[n] == 0) ++a.echoes_missing;
      continue;
    }
    const ConnectionRecord& record = connections_[static_cast<std::size_t>(conn)];
    // The guarantee: bytes the socket took are lost only when the connection did not end with
    // the closing handshake (the server died, or the network dropped them).
    if (record.faulted || (record.ended && !record.clean)) {
      const Chaos cause = record.faulted ? record.fault : record.ended_during;
      ++a.lost_allowed[static_cast<int>(cause)];
      ++a.lost_allowed_total;
    } else {
      if (a.lost_violations == 0) a.first_violation = n;
      ++a.lost_violations;
    }
  }
  a.accepted -= a.refused;
  return a;
}

}  // namespace tether::soak
