#pragma once

/// \file runtime.hpp
/// The event loop clients run on. One Runtime carries any number of clients.

#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "tether/export.hpp"

namespace tether {

enum class LogLevel { error = 1, warning = 2, notice = 4, debug = 8 };

struct RuntimeOptions {
  /// true: tether runs the loop on a thread of its own. false: nothing runs until the
  /// application calls Runtime::poll() (game loops); tether then creates no loop thread.
  bool own_thread = true;
  /// Receives log lines (tether's and libwebsockets'). Default (empty): lines at `log_levels`
  /// go to stderr prefixed with "tether: ". Pass a function that ignores its arguments to
  /// silence them.
  std::function<void(LogLevel, const std::string&)> log;
  /// Levels passed to `log`, as a bit mask of LogLevel (default: errors and warnings).
  int log_levels = static_cast<int>(LogLevel::error) | static_cast<int>(LogLevel::warning);
};

class TETHER_API Runtime {
 public:
  /// A new runtime. Throws std::runtime_error if the event loop cannot be created.
  static std::shared_ptr<Runtime> create(RuntimeOptions options = {});
  /// The process-wide runtime used by clients that are not given one (created on first use,
  /// with its own thread).
  static std::shared_ptr<Runtime> shared();

  /// Closes every client still open (close handshakes, bounded by their close timeouts) and
  /// stops the loop. Must not run on the loop thread.
  ~Runtime();
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  /// Without an own thread: services the network, timers and queued work, never blocking.
  /// Returns the number of tasks run. Call it from one thread (e.g. once per frame).
  std::size_t poll();

  struct Impl;
  Impl& impl() noexcept { return *impl_; }

 private:
  explicit Runtime(RuntimeOptions options);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tether
