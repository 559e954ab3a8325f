#pragma once

// Everything tether-cli writes on stderr: the JSON-lines event log (--events), the
// human-readable messages otherwise, and the live status line on a terminal. One mutex orders
// them, so the status line is erased before any other text and redrawn after it.

#include <chrono>
#include <cstdio>
#include <mutex>
#include <string>
#include <string_view>

namespace cli {

std::string json_string(std::string_view text);

class EventLog {
 public:
  /// `status`: a live status line may be drawn (stderr is a terminal and there is no --events).
  explicit EventLog(bool json, bool status = false)
      : json_(json), status_(status && !json), start_(std::chrono::steady_clock::now()) {}

  bool json() const { return json_; }
  bool has_status() const { return status_; }
  /// Writes {"event":NAME,"t_ms":T<fields>} where `fields` is ",\"k\":v,..." (already JSON).
  void event(std::string_view name, const std::string& fields = "");
  /// A human-readable line (only without --events).
  void human(const std::string& line);
  /// Writes `data` then `tail` on stdout and flushes; the status line steps aside first when stdout
  /// is a terminal too (the same screen).
  void out(std::string_view data, std::string_view tail = {});

  /// Draws `text` as the status line (in place: carriage return, the text cut to the terminal's
  /// width, clear to the end of the line). No-op without a status line.
  void set_status(const std::string& text);
  /// Erases the status line, if one is drawn.
  void clear_status();
  /// Erases the status line without taking the lock (for an immediate exit).
  void clear_status_now();

 private:
  void erase_locked();
  void redraw_locked();

  bool json_;
  bool status_;
  std::chrono::steady_clock::time_point start_;
  std::mutex mutex_;
  std::string shown_;     // the status text on screen ("" = none)
  std::string wanted_;    // the latest status text
  bool cleared_ = false;  // clear_status() was called: draw nothing more
};

}  // namespace cli
