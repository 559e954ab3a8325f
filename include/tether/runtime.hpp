#pragma once

/// \file runtime.hpp
/// The event loop clients run on. One Runtime carries any number of clients.

#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "tether/export.hpp"

namespace tether {

/// Log levels, as bits of RuntimeOptions::log_levels: `error`, `warning`, `notice` and
/// `debug` (libwebsockets' ERR, WARN, NOTICE and INFO levels).
enum class LogLevel { error = 1, warning = 2, notice = 4, debug = 8 };

/// How a Runtime runs its loop and where its log lines go.
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

/// The event loop (libwebsockets context) that runs clients: sockets, timers and the
/// connection state machines, on a thread of its own or from Runtime::poll(). Thread-safe.
class TETHER_API Runtime {
 public:
  /// A new runtime. Throws std::runtime_error if the event loop cannot be created.
  static std::shared_ptr<Runtime> create(RuntimeOptions options = {});
  /// The process-wide runtime used by clients that are not given one (created on first use,
  /// with its own thread).
  static std::shared_ptr<Runtime> shared();

  /// Closes every client still open (close handshakes, bounded by their close timeouts) and
  /// stops the loop. On the loop thread itself (the last reference released inside a callback)
  /// a thread of its own does this once the callback has returned.
  ~Runtime();
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  /// Without an own thread: services the network, timers and queued work, never blocking.
  /// Returns the number of tasks run. Call it from one thread (e.g. once per frame).
  std::size_t poll();

  struct Impl;
  /// The implementation, for tether's own sources; not part of the API.
  Impl& impl() noexcept { return *impl_; }

 private:
  explicit Runtime(RuntimeOptions options);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tether
