#include "message_ledger.hpp"

#include <cstdio>
#include <string>

namespace {
constexpr std::string_view kPrefix = "{\"type\":\"state\",\"frame\":";
}  // namespace

std::string MessageLedger::encode(std::uint64_t frame, double x, double y) {
  char buffer[128];
  std::snprintf(buffer, sizeof buffer, "{\"type\":\"state\",\"frame\":%llu,\"x\":%.3f,\"y\":%.3f}",
                static_cast<unsigned long long>(frame), x, y);
  return buffer;
}

bool MessageLedger::decode_frame(std::string_view text, std::uint64_t& frame) {
  if (text.substr(0, kPrefix.size()) != kPrefix) return false;
  std::uint64_t value = 0;
  std::size_t i = kPrefix.size();
  const std::size_t digits_start = i;
  for (; i < text.size() && text[i] >= '0' && text[i] <= '9'; ++i) {
    value = value * 10 + static_cast<std::uint64_t>(text[i] - '0');
  }
  if (i == digits_start || i - digits_start > 18 || i >= text.size() || text[i] != ',') {
    return false;
  }
  frame = value;
  return true;
}

void MessageLedger::accepted(std::uint64_t frame) {
  ++counts_.sent;
  pending_.emplace(frame, Status::queued);
}

void MessageLedger::delivered(std::uint64_t frame, const tether::Delivery& delivery) {
  auto it = pending_.find(frame);
  if (it == pending_.end()) return;
  if (delivery.sent()) {
    it->second = Status::in_flight;
    return;
  }
  switch (*delivery.dropped) {
    case tether::DropReason::ttl:
      ++counts_.dropped_ttl;
      break;
    case tether::DropReason::overflow:
      ++counts_.dropped_overflow;
      break;
    case tether::DropReason::closed:
      ++counts_.dropped_closed;
      break;
  }
  pending_.erase(it);
}

void MessageLedger::received(std::string_view text) {
  std::uint64_t frame = 0;
  if (!decode_frame(text, frame)) {
    ++counts_.other_messages;
    return;
  }
  auto it = pending_.find(frame);
  if (it == pending_.end()) {
    ++counts_.unexpected_echoes;  // a duplicate, or an update this run never sent
    return;
  }
  ++counts_.echoed;
  pending_.erase(it);
}

void MessageLedger::connection_closed() {
  for (auto it = pending_.begin(); it != pending_.end();) {
    if (it->second == Status::in_flight) {
      ++counts_.lost_in_flight;
      it = pending_.erase(it);
    } else {
      ++it;
    }
  }
}

MessageLedger::Counts MessageLedger::counts() const {
  Counts counts = counts_;
  for (const auto& entry : pending_) {
    if (entry.second == Status::queued) {
      ++counts.queued;
    } else {
      ++counts.in_flight;
    }
  }
  return counts;
}
