#pragma once

// The live one-line status tether-cli draws on a terminal (stderr a tty, no --events): the
// state, the attempt, the time to the next retry and the outbound queue's depth, redrawn in
// place.

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <tether/state.hpp>
#include <thread>

#include "event_log.hpp"

namespace cli {

/// What the status line shows.
struct StatusSnapshot {
  tether::State state = tether::State::idle;
  int attempt = 0;  ///< The retry number of the current outage (reconnect_scheduled); 0: none.
  /// When the scheduled retry starts (state waiting).
  std::optional<std::chrono::steady_clock::time_point> retry_at;
  std::size_t queue_depth = 0;  ///< Messages accepted and not yet taken by the socket.
};

/// The status text, e.g. "waiting | attempt 2 | retry in 1.5 s | queue 3".
std::string format_status(const StatusSnapshot& snapshot,
                          std::chrono::steady_clock::time_point now);

/// Keeps the status line of `log` up to date from its own thread: at once on a state change, at
/// most every 100 ms for the countdown and the queue depth, and not at all while nothing changes.
/// Does nothing when `log` has no status line (stderr not a terminal, or --events).
class StatusLine {
 public:
  static constexpr std::chrono::milliseconds kPeriod{100};

  explicit StatusLine(EventLog& log);
  ~StatusLine();
  StatusLine(const StatusLine&) = delete;
  StatusLine& operator=(const StatusLine&) = delete;

  /// Starts drawing. `queue_depth` is asked from the status thread only (never from a callback),
  /// and never after stop().
  void start(std::function<std::size_t()> queue_depth);
  /// Stops drawing and erases the line. Idempotent.
  void stop();

  /// A state change: drawn at once, from the calling thread (so that no state goes unseen).
  void on_state(tether::State to);
  /// A retry is scheduled in `delay`: drawn at once.
  void on_retry(int attempt, std::chrono::milliseconds delay);
  /// A message waits in the queue; `depth` messages wait now.
  void on_queued(std::size_t depth);
  /// Something that may change the queue depth happened: redrawn within kPeriod.
  void poke();

 private:
  void run();
  void draw();
  /// Draws the snapshot as it is, with the queue depth last seen (mutex_ held).
  void draw_now_locked();

  EventLog& log_;
  std::function<std::size_t()> queue_depth_;
  const bool enabled_;
  std::mutex mutex_;
  std::condition_variable changed_;
  StatusSnapshot snapshot_;
  bool urgent_ = false;  // a state change waits to be drawn
  bool dirty_ = false;   // something else may have changed
  bool started_ = false;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace cli
