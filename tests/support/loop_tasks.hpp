#pragma once

// Tasks run on an event loop's thread from a test thread, in both threading modes.

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include "transport/loop.hpp"

namespace tether::testing {

/// A flag set on the loop thread and awaited by the test: with the loop's own thread, by
/// blocking (the waiting thread must not post, or its post would wake the loop); without one, by
/// calling poll() until it is set.
class Flag {
  using Clock = std::chrono::steady_clock;

 public:
  void set() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      set_ = true;
    }
    cv_.notify_all();
  }
  bool is_set() {
    std::lock_guard<std::mutex> lock(mutex_);
    return set_;
  }
  bool wait(transport::Loop& loop, std::chrono::milliseconds limit) {
    const auto deadline = Clock::now() + limit;
    if (loop.own_thread()) {
      std::unique_lock<std::mutex> lock(mutex_);
      return cv_.wait_until(lock, deadline, [this] { return set_; });
    }
    while (!is_set() && Clock::now() < deadline) {
      if (loop.poll() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return is_set();
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool set_ = false;
};

/// Runs `task` on the loop thread and waits until it has run. A loop that does not run it is
/// wedged (a post lost its wake-up): the sockets and timers it holds cannot be released, so the
/// binary stops here with a message instead of crashing later.
inline void run_on_loop(transport::Loop& loop, std::function<void()> task) {
  auto done = std::make_shared<Flag>();
  loop.post([task = std::move(task), done] {
    task();
    done->set();
  });
  if (!done->wait(loop, std::chrono::seconds(10))) {
    std::fprintf(stderr, "a task posted from the test thread did not run: the loop is wedged\n");
    std::fflush(stderr);
    std::abort();
  }
}

}  // namespace tether::testing
