#pragma once

// The JSON-lines event log on stderr (--events) and the human-readable messages otherwise.

#include <chrono>
#include <cstdio>
#include <mutex>
#include <string>
#include <string_view>

namespace cli {

std::string json_string(std::string_view text);

class EventLog {
 public:
  explicit EventLog(bool json) : json_(json), start_(std::chrono::steady_clock::now()) {}

  bool json() const { return json_; }
  /// Writes {"event":NAME,"t_ms":T<fields>} where `fields` is ",\"k\":v,..." (already JSON).
  void event(std::string_view name, const std::string& fields = "");
  /// A human-readable line (only without --events).
  void human(const std::string& line);

 private:
  bool json_;
  std::chrono::steady_clock::time_point start_;
  std::mutex mutex_;
};

}  // namespace cli
