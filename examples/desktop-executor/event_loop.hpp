#pragma once

// A minimal single-threaded event loop standing in for a UI toolkit's (Qt's event loop, GLib's
// main loop, a Win32 message pump): a task queue and a condition variable. Tasks may be posted
// from any thread; they run one at a time, in the order posted, on the thread that calls run().

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

class EventLoop {
 public:
  /// Queues `task` (any thread). Tasks posted after quit() are discarded.
  void post(std::function<void()> task);
  /// Runs tasks on the calling thread (which becomes the loop thread) until quit() (true) or
  /// `deadline` (false).
  bool run_until(std::chrono::steady_clock::time_point deadline);
  /// Makes run_until() return once the task running now (if any) is done (any thread).
  void quit();
  /// The caller is the thread running the loop.
  bool is_loop_thread() const noexcept { return std::this_thread::get_id() == thread_.load(); }

 private:
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> tasks_;
  bool quit_ = false;
  std::atomic<std::thread::id> thread_{};
};
