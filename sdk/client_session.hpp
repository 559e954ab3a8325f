#pragma once

// The loop-side half of a Client: the shell around the sans-IO connection core. It feeds the core
// the transport's events with the time, carries out the core's effects (open a connection, close,
// ping, report), keeps one timer armed at the core's next deadline, and runs the application's
// callbacks where the client's callback mode says. Public Client methods hand work over to it
// with Loop::post; state and counters are readable from any thread.
//
// The session's parts, one file each: client_session.cpp (lifecycle, the core's effects, the
// connection's events), session_queue.cpp (send, the outbound queue, close), session_auth.cpp
// (tokens, first-message auth, subscriptions, resume).

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/connection_core.hpp"
#include "core/outbound_queue.hpp"
#include "core/request_tracker.hpp"
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
  std::function<void()> authenticated;
  std::function<void(MessageId, std::size_t)> queued;
  std::function<void(MessageId, std::size_t, DropReason)> dropped;
  std::function<void(const std::string&)> subscribed;
  std::function<void(const std::string&)> unsubscribed;
  /// Typed handlers by message type: false (with the reason) when the payload did not convert.
  std::unordered_map<std::string, std::function<bool(const Json&, std::string&)>> handlers;
  std::function<void(const Inbound&)> any;
};

/// A process-wide request id ("1", "2", ...): never reused within the process.
std::string next_request_id();

class ClientSession final : public transport::ConnectionHandler,
                            public std::enable_shared_from_this<ClientSession> {
 public:
  ClientSession(Runtime::Impl& runtime, ClientOptions options);
  ~ClientSession() override;

  // --- any thread -------------------------------------------------------------------------------
  /// Validates the options and builds the connection settings (also loads the TLS context).
  Error prepare();
  void start();
  SendResult send(MessageKind kind, std::string_view data, const SendOptions& options);
  void ping(std::string_view payload);
  void close(std::uint16_t code, std::string_view reason);
  void close_now(std::uint16_t code, std::string_view reason);
  void subscribe(std::string channel);
  void unsubscribe(std::string channel);
  std::vector<std::string> subscriptions() const;
  SendResult send_message(std::string_view type, const Json& payload, const SendOptions& options);
  /// Returns the request id (empty when the request failed at once: `on_result` gets that).
  std::string request(std::string_view type, const Json& payload,
                      std::function<void(const Response&)> on_result, const RequestOptions& options);
  void cancel_request(const std::string& id);
  void reconnect_now();
  /// Stops all callbacks, then closes in the background. No callback runs once it returns.
  void detach();
  /// Changes callbacks; before start() directly, afterwards on the loop thread.
  void set_callbacks(const std::function<void(Callbacks&)>& change);
  std::size_t poll();

  State state() const noexcept { return state_.load(std::memory_order_acquire); }
  bool is_open() const noexcept { return state() == State::open; }
  /// Closed or failed, and what was still queued or pending has ended (with its events): stats()
  /// read from here on are final.
  bool is_finished() const noexcept { return finished_.load(std::memory_order_acquire); }
  std::size_t buffered_amount() const noexcept { return buffered_.load(std::memory_order_acquire); }
  Stats stats() const;

  // --- loop thread ------------------------------------------------------------------------------
  /// The runtime is stopping: close with 1001.
  void shutdown();
  /// The runtime stops now: end the connection without waiting.
  void force_end();

 private:
  /// Closed or failed (end_everything() may still be running: see is_finished()).
  bool ended() const noexcept {
    const State s = state();
    return s == State::closed || s == State::failed;
  }

  struct PendingSubscription {
    std::string channel;
    bool subscribe = true;
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
  void on_read_progress() override;
  void on_sent(std::uint64_t tag) override;
  void on_end(transport::ConnectionEnd end) override;
  /// The time of the socket event being handled (one clock read for all it carries); on the
  /// loop thread only (it reads connection_).
  core::TimePoint io_now();

  void do_start();
  void apply_effects();
  void arm_deadline();
  bool follow_redirect(const transport::ConnectionEnd& end);
  void release_connection();
  /// Closed or failed: ends what was still queued or pending (with its events), then
  /// is_finished() turns true.
  void end_everything();
  /// After the last event: the runtime lets go of the session.
  void retire();
  /// Runs `callback` where the callback mode says (loop thread: now).
  void dispatch(std::function<void()> callback);
  /// The message callback, in the poll and executor modes: the payload is copied into the
  /// pending batch's buffer (no allocation per message once the buffers have grown).
  void dispatch_message(MessageKind kind, std::string_view payload);
  /// Poll and executor modes: runs the callbacks queued so far, in order; returns how many ran.
  std::size_t run_queued_calls();
  bool callbacks_live() const noexcept { return !detached_.load(std::memory_order_acquire); }
  void report_error(errc code, std::string message);

  // session_queue.cpp
  /// Wakes the loop to pump the queue (once per batch of sends).
  void kick();
  /// Loop thread: hands ready messages to the connection, reports the queue's events, closes
  /// once a requested close has nothing left to deliver.
  void pump();
  /// Hands ready messages to the connection within `budget` bytes; returns how many.
  std::size_t flush_queue(std::size_t budget);
  void report_queue_events();
  void maybe_close();
  void requeue_unsent(const std::vector<std::uint64_t>& unsent);
  void drop_everything();
  /// A payload of this size is masked as send() copies it into the queue (one frame, framed in
  /// place).
  bool masked_in_queue(std::size_t size) const noexcept;
  /// A masked payload about to be sent again: masked with a fresh key (queue's requeue hook).
  static void remask(core::Outgoing& message);
  /// Hands the messages the socket took (sent_tags_) to the queue: once per batch, not per
  /// message. Every loop-thread reader of the queue calls it first.
  void apply_sent();
  void apply_sent_locked();  // under queue_mutex_

  // session_requests.cpp
  /// A request result, where callbacks run.
  void deliver(std::function<void(const Response&)> callback, Response response);
  void deliver_ended(std::vector<core::EndedRequest> ended);
  /// Takes the callbacks of ended requests (under queue_mutex_).
  std::vector<std::pair<std::function<void(const Response&)>, Response>> take_results(
      std::vector<core::EndedRequest> ended);
  /// A decoded response or message; true when consumed (a response to one of our requests).
  bool consume(Inbound& item, std::string_view text);
  bool needs_decoding() const noexcept;
  bool expects_json() const noexcept;
  void resend_requests();
  Json auth_payload() const;

  // session_auth.cpp
  /// Starts an attempt: asks for the token when there is a token source, then opens.
  void begin_attempt(bool refresh_token);
  void on_token(std::uint64_t attempt, std::optional<std::string> token);
  void open_connection(const std::string& token);
  void fail_attempt(errc code, std::string message);
  /// The connection is authenticating: send the auth request.
  void send_auth_request();
  /// The client became ready: subscriptions (and the resume marker), then the queue.
  void on_ready();
  void send_subscription(const std::string& channel, bool subscribe, bool with_resume);
  /// Inbound text that may answer our requests or carry a sequence number. Returns true when
  /// the message is consumed (not delivered to the application).
  bool inspect_inbound(std::string_view text);
  bool needs_inspection() const noexcept;

  Runtime::Impl& runtime_;
  ClientOptions options_;
  transport::ConnectionConfig config_;
  Callbacks callbacks_;
  SeededRandom random_;
  core::ConnectionCore core_;
  transport::Timer deadline_timer_;
  std::unique_ptr<transport::Connection> connection_;
  std::shared_ptr<ClientSession> self_;  // alive while started and not finished
  bool applying_ = false;
  std::vector<core::Effect> pending_effects_;  // taken from the core, not yet carried out
  int redirects_ = 0;
  bool shutting_down_ = false;

  // Loop thread: the attempt's token, first-message auth, subscriptions, resume.
  transport::ConnectionConfig attempt_config_;  // config_ with the token placed
  std::uint64_t attempt_number_ = 0;            // identifies the token request of an attempt
  bool waiting_for_token_ = false;
  transport::Timer token_timer_;
  std::string token_;
  std::string auth_id_;  // the outstanding auth request
  std::unordered_map<std::string, PendingSubscription> pending_subscriptions_;
  std::optional<std::uint64_t> last_seq_;
  std::optional<std::pair<std::uint16_t, std::string>> close_requested_;

  // The outbound queue, shared with send() on any thread.
  mutable std::mutex queue_mutex_;
  core::OutboundQueue queue_;
  std::unordered_map<MessageId, std::function<void(const Delivery&)>> on_done_;
  core::RequestTracker requests_;
  std::atomic<std::size_t> pending_requests_{0};
  std::shared_ptr<const Codec> codec_;
  std::vector<core::OutboundQueue::Event> queue_events_;  // loop thread scratch
  std::atomic<bool> kick_pending_{false};
  // Loop thread: messages the socket took, not yet handed to the queue (see apply_sent).
  std::vector<std::uint64_t> sent_tags_;
  // Loop thread scratch of flush_queue() and report_queue_events().
  std::vector<const core::Outgoing*> taken_;
  struct EndedEvent {
    core::OutboundQueue::Event event;
    std::function<void(const Delivery&)> on_done;
  };
  std::vector<EndedEvent> ended_scratch_;

  mutable std::mutex subscriptions_mutex_;
  std::vector<std::string> subscriptions_;  // in subscribe order

  std::atomic<bool> started_{false};
  std::atomic<bool> detached_{false};
  std::atomic<bool> closing_{false};
  std::atomic<State> state_{State::idle};
  std::atomic<bool> finished_{false};  // set once end_everything() has run
  std::atomic<std::size_t> buffered_{0};
  MessageId next_id_ = 1;  // under queue_mutex_

  mutable std::mutex stats_mutex_;
  Stats stats_;
  // Written by the loop thread only (a plain store, no lock per message); read by stats().
  std::atomic<std::uint64_t> messages_received_{0};
  std::atomic<std::uint64_t> bytes_received_{0};
  core::TimePoint state_since_{};

  // Callback modes other than loop_thread.
  std::recursive_mutex callback_mutex_;  // held while a queued callback runs
  using MessageCallback = std::function<void(const Message&)>;
  /// A callback waiting for poll() or for the executor: a message (its bytes in the batch's
  /// buffer) or any other callback as a task.
  struct QueuedCall {
    const MessageCallback* message = nullptr;  // kept alive by CallBatch::callbacks
    MessageKind kind = MessageKind::text;
    std::size_t at = 0;
    std::size_t size = 0;
    std::function<void()> task;  // when `message` is null
  };
  struct CallBatch {
    std::vector<QueuedCall> calls;
    std::string bytes;
    std::vector<std::shared_ptr<const MessageCallback>> callbacks;
    void clear() {
      calls.clear();
      bytes.clear();
      callbacks.clear();
    }
    void swap(CallBatch& other) noexcept {
      calls.swap(other.calls);
      bytes.swap(other.bytes);
      callbacks.swap(other.callbacks);
    }
  };
  // Loop thread: callbacks_.message as queued messages refer to it; replaced (not changed) when
  // the callbacks change, so messages queued before keep the callback of their time.
  std::shared_ptr<const MessageCallback> message_callback_;
  std::mutex callbacks_queue_mutex_;
  CallBatch queued_calls_;        // under callbacks_queue_mutex_
  CallBatch spare_calls_;         // under callbacks_queue_mutex_: a drained batch, for reuse
  bool drain_scheduled_ = false;  // under callbacks_queue_mutex_: an executor task is on its way
};

}  // namespace tether::detail
