#pragma once

// The event loop: one libwebsockets context serviced by one thread (or by the application's
// poll() calls), raw client sockets, millisecond timers and the cross-thread task inbox. Everything
// libwebsockets-specific stays in loop.cpp; the rest of tether sees this interface.

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

struct lws;
struct lws_context;

namespace tether::transport {

class Resolver;

/// Receives the events of one raw socket. All calls happen on the loop thread.
class RawSocketHandler {
 public:
  virtual ~RawSocketHandler() = default;
  virtual void on_socket_connected() = 0;
  virtual void on_socket_data(const std::uint8_t* data, std::size_t n) = 0;
  /// The socket can take more bytes (after a request_writable()).
  virtual void on_socket_writable() = 0;
  /// The connect failed (`reason` from libwebsockets) or the socket closed. Called once; the
  /// socket is gone afterwards.
  virtual void on_socket_closed(bool connected, const std::string& reason) = 0;
};

/// One non-blocking TCP socket owned by the loop. Methods are loop-thread only.
class RawSocket {
 public:
  RawSocket() = default;
  RawSocket(const RawSocket&) = delete;
  RawSocket& operator=(const RawSocket&) = delete;

  bool valid() const noexcept { return wsi_ != nullptr; }
  /// Sends with send(2) on the descriptor; returns bytes taken, 0 when the socket is full
  /// (then on_socket_writable follows), or -1 with `error` set when the connection broke.
  long send(const std::uint8_t* data, std::size_t n, int& error);
  /// The same for `count` pieces written in order with one sendmsg(2) (at most kMaxParts of
  /// them are offered per call).
  long send(const std::string_view* parts, std::size_t count, int& error);
  static constexpr std::size_t kMaxParts = 128;
  /// Receives with recv(2) on the descriptor, for a reader that wants more than the bytes
  /// on_socket_data gave it: returns bytes received, 0 when none are waiting, or -1 when the
  /// stream ended or broke. The socket then stays readable at its end, so the loop's next read
  /// sees it and on_socket_closed follows as for any other read.
  long recv(std::uint8_t* data, std::size_t n);
  /// Asks for one on_socket_writable() call.
  void request_writable();
  /// Closes the socket now; on_socket_closed follows (synchronously or from the loop).
  void close();

 private:
  friend class Loop;
  friend struct LoopCallbacks;
  lws* wsi_ = nullptr;
  RawSocketHandler* handler_ = nullptr;
  class Loop* loop_ = nullptr;
  bool in_callback_ = false;
  bool close_requested_ = false;
  bool connected_ = false;
};

enum class LogLevel { error = 1, warning = 2, notice = 4, debug = 8 };
using LogFunction = std::function<void(LogLevel, const std::string&)>;

struct LoopOptions {
  /// true: a thread of tether's services the loop; false: the application calls poll().
  bool own_thread = true;
  /// Receives libwebsockets' and tether's log lines; null = silent.
  LogFunction log;
  /// Bit mask of LogLevel values passed to `log` (default: errors and warnings).
  int log_levels = static_cast<int>(LogLevel::error) | static_cast<int>(LogLevel::warning);
};

class Loop {
 public:
  explicit Loop(LoopOptions options);
  /// Runs `shutdown_hook`s, stops the loop and destroys the context. Must not be called on the
  /// loop thread.
  ~Loop();
  Loop(const Loop&) = delete;
  Loop& operator=(const Loop&) = delete;

  /// Runs `task` on the loop thread as soon as possible. Safe from any thread, and from the
  /// loop thread itself (then the task runs on the next turn, never re-entrantly). A post from
  /// the loop thread while a drain of the inbox is certain to come before the loop next blocks
  /// (socket callbacks, tasks, anything in no-thread mode) skips the wake-up; every other post
  /// wakes the loop with lws_cancel_service().
  void post(std::function<void()> task);
  bool on_loop_thread() const noexcept;
  bool own_thread() const noexcept { return options_.own_thread; }

  /// No-thread mode: services the network and runs due timers and tasks without blocking.
  /// Returns the number of tasks run. Must be called from one thread at a time.
  std::size_t poll();

  /// Starts a raw TCP connect to an IP literal. Returns false (and `error`) when it could not
  /// even start; otherwise events follow on `handler`.
  bool connect(RawSocket& socket, const std::string& ip, std::uint16_t port,
               RawSocketHandler* handler, std::string& error);

  Resolver& resolver();
  void log(LogLevel level, const std::string& line) const;

  lws_context* context() const noexcept { return context_; }

 private:
  friend struct LoopCallbacks;
  friend class Timer;

  /// Whether a post made on the loop thread needs a wake-up, decided by the outermost callback
  /// running on it: tasks and socket data, writability and connects run after poll(2) returned,
  /// and the inbox is drained before the loop polls again (`covered`); timers run before poll(2)
  /// inside lws_service, and a close may come from an lws timeout there too (`wake`).
  enum class PostWake : unsigned char { unknown, wake, covered };
  /// Sets the rule for the callback it spans unless an enclosing one already set it: a callback
  /// nested in another (a connect completing inside a timer, a close inside a task) follows the
  /// outermost one. Loop-thread only.
  class DispatchScope {
   public:
    DispatchScope(Loop& loop, PostWake rule) noexcept : loop_(loop), saved_(loop.dispatch_) {
      if (saved_ == PostWake::unknown) loop_.dispatch_ = rule;
    }
    ~DispatchScope() { loop_.dispatch_ = saved_; }
    DispatchScope(const DispatchScope&) = delete;
    DispatchScope& operator=(const DispatchScope&) = delete;

   private:
    Loop& loop_;
    PostWake saved_;
  };

  void run_thread();
  std::size_t drain_inbox();
  bool inbox_empty() const;

  LoopOptions options_;
  lws_context* context_ = nullptr;
  std::thread thread_;
  std::atomic<std::thread::id> loop_thread_id_{};
  mutable std::mutex mutex_;
  std::vector<std::function<void()>> inbox_;
  bool stopping_ = false;
  /// Read and written on the loop thread only (see DispatchScope).
  PostWake dispatch_ = PostWake::unknown;
  std::unique_ptr<Resolver> resolver_;
};

/// A one-shot millisecond timer on the loop (libwebsockets' sorted usec list). Loop-thread only;
/// cancelled on destruction.
class Timer {
 public:
  explicit Timer(Loop& loop);
  ~Timer();
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;

  /// (Re)arms the timer: `fire` runs once after `delay`.
  void start(std::chrono::microseconds delay, std::function<void()> fire);
  void cancel();
  bool armed() const noexcept { return armed_; }

 private:
  struct Sul;
  Loop& loop_;
  std::unique_ptr<Sul> sul_;
  std::function<void()> fire_;
  bool armed_ = false;
};

}  // namespace tether::transport
