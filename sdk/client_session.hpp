#pragma once

// The loop-side half of a Client: the shell around the sans-IO connection core. It feeds the core
// the transport's events with the time, carries out the core's effects (open a connection, close,
// ping, report), keeps one timer armed at the core's next deadline, and runs the application's
// callbacks where the client's callback mode says. Public Client methods hand work over to it
// with Loop::post; state and counters are readable from any thread.

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "core/connection_core.hpp"
#include "runtime_impl.hpp"
#include "tether/client.hpp"
#include "transport/connection.hpp"

namespace tether::detail {

struct Callbacks {
  std::function<void(const OpenInfo&)> open;
  std::function<void(const Message&)> message;
  std::function<void(const CloseInfo&)> close;
  std::function<void(const Error&)> error;
  std::function<void(MessageId, std::size_t)> sent;
  std::function<void(State, State, const Cause&)> state;
  std::function<void(int, std::chrono::milliseconds)> reconnect_scheduled;
};

class ClientSession final : public transport::ConnectionHandler,
                            public std::enable_shared_from_this<ClientSession> {
 public:
  ClientSession(Runtime::Impl& runtime, ClientOptions options);
  ~ClientSession() override;

  // --- any thread -------------------------------------------------------------------------------
  /// Validates the options and builds the connection settings (also loads the TLS context).
  Error prepare();
  void start();
  SendResult send(MessageKind kind, std::string_view data);
  void ping(std::string_view payload);
  void close(std::uint16_t code, std::string_view reason);
  void reconnect_now();
  /// Stops all callbacks, then closes in the background. No callback runs once it returns.
  void detach();
  /// Changes callbacks; before start() directly, afterwards on the loop thread.
  void set_callbacks(const std::function<void(Callbacks&)>& change);
  std::size_t poll();

  State state() const noexcept { return state_.load(std::memory_order_acquire); }
  bool is_open() const noexcept { return state() == State::open; }
  bool is_finished() const noexcept {
    const State s = state();
    return s == State::closed || s == State::failed;
  }
  std::size_t buffered_amount() const noexcept { return buffered_.load(std::memory_order_relaxed); }
  Stats stats() const;

  // --- loop thread ------------------------------------------------------------------------------
  /// The runtime is stopping: close with 1001.
  void shutdown();
  /// The runtime stops now: end the connection without waiting.
  void force_end();

 private:
  struct Outgoing {
    MessageId id;
    protocol::Opcode op;
    std::string payload;
  };
  class SeededRandom final : public core::Random {
   public:
    SeededRandom();
    double uniform() override;

   private:
    std::mt19937_64 engine_;
  };

  // transport::ConnectionHandler
  void on_open(const std::string& subprotocol) override;
  void on_message(protocol::Opcode op, std::string_view payload) override;
  void on_pong(std::string_view payload) override;
  void on_activity() override;
  void on_sent(std::uint64_t tag) override;
  void on_end(transport::ConnectionEnd end) override;

  void do_start();
  void do_send(Outgoing message);
  void flush_waiting();
  void apply_effects();
  void arm_deadline();
  bool follow_redirect(const transport::ConnectionEnd& end);
  void release_connection();
  void finish();
  /// Runs `callback` where the callback mode says (loop thread: now).
  void dispatch(std::function<void()> callback);
  bool callbacks_live() const noexcept { return !detached_.load(std::memory_order_acquire); }

  Runtime::Impl& runtime_;
  ClientOptions options_;
  transport::ConnectionConfig config_;
  Callbacks callbacks_;
  SeededRandom random_;
  core::ConnectionCore core_;
  transport::Timer deadline_timer_;
  std::unique_ptr<transport::Connection> connection_;
  std::shared_ptr<ClientSession> self_;  // alive while started and not finished
  std::deque<Outgoing> waiting_;         // accepted while not open
  std::deque<std::pair<MessageId, std::size_t>> in_flight_;  // handed to the connection
  bool applying_ = false;
  std::vector<core::Effect> pending_effects_;  // taken from the core, not yet carried out
  int redirects_ = 0;
  bool shutting_down_ = false;

  std::atomic<bool> started_{false};
  std::atomic<bool> detached_{false};
  std::atomic<bool> closing_{false};
  std::atomic<State> state_{State::idle};
  std::atomic<std::size_t> buffered_{0};
  std::atomic<MessageId> next_id_{1};

  mutable std::mutex stats_mutex_;
  Stats stats_;
  core::TimePoint state_since_{};

  // Callback modes other than loop_thread.
  std::recursive_mutex callback_mutex_;  // held while a queued callback runs
  std::mutex queue_mutex_;
  std::vector<std::function<void()>> queued_;
};

}  // namespace tether::detail
