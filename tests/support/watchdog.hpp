// A guard for tests that could deadlock, and the name of a callback mode for test output.
#pragma once

#include <tether/options.hpp>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <utility>

namespace tether::testing {

/// Aborts the process when the guarded scope has not ended within `limit`: a deadlock shows up
/// as a failure with a name instead of a hung test binary.
class Watchdog {
 public:
  Watchdog(std::string what, std::chrono::milliseconds limit)
      : what_(std::move(what)), thread_([this, limit] {
          std::unique_lock<std::mutex> lock(mutex_);
          if (!done_cv_.wait_for(lock, limit, [this] { return done_; })) {
            std::fprintf(stderr, "watchdog: %s did not finish within %lld ms (deadlock?)\n",
                         what_.c_str(), static_cast<long long>(limit.count()));
            std::fflush(stderr);
            std::abort();
          }
        }) {}
  ~Watchdog() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      done_ = true;
    }
    done_cv_.notify_all();
    thread_.join();
  }
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

 private:
  std::string what_;
  std::mutex mutex_;
  std::condition_variable done_cv_;
  bool done_ = false;
  std::thread thread_;
};

inline const char* mode_name(CallbackMode mode) {
  switch (mode) {
    case CallbackMode::loop_thread:
      return "loop_thread";
    case CallbackMode::poll:
      return "poll";
    case CallbackMode::executor:
      return "executor";
  }
  return "?";
}

}  // namespace tether::testing
