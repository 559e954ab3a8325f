#pragma once

/// \file client.hpp
/// tether::Client: one WebSocket connection to one URL.
///
/// The client keeps one WebSocket alive: it connects, reconnects with backoff and jitter when the
/// connection fails or is lost (per the reconnect policy in docs/state-machine.md), detects dead
/// connections with pings, and reports every state change.
///
/// Thread safety: every method may be called from any thread, including from inside the
/// client's own callbacks. Callbacks run one at a time where ClientOptions::callback_mode says:
/// on the runtime's loop thread (default), from Client::poll(), or through the executor. Set them
/// before start().
///
/// Lifetime: destroying the client (from any thread, even inside one of its callbacks) closes
/// the connection with 1000 in the background; no callback runs after the destructor returns.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tether/events.hpp"
#include "tether/export.hpp"
#include "tether/options.hpp"
#include "tether/runtime.hpp"
#include "tether/state.hpp"

namespace tether {

namespace detail {
class ClientSession;
}  // namespace detail

/// Per-message options of Client::send.
struct SendOptions {
  /// How long the message may wait before it is dropped (ttl); unset: QueueOptions::ttl.
  std::optional<std::chrono::milliseconds> ttl;
  /// Called once with how the message ended (sent or dropped), where callbacks run.
  std::function<void(const Delivery&)> on_done;
};

/// Counters of one client (Client::stats()). The message counters are one consistent snapshot:
/// messages_accepted == messages_sent + messages_dropped + messages_queued, always.
struct Stats {
  std::uint64_t attempts = 0;    ///< Connection attempts started.
  std::uint64_t reconnects = 0;  ///< Connections opened after the first.
  std::uint64_t messages_accepted = 0;  ///< Accepted by send() (not refused with queue_full).
  std::uint64_t messages_sent = 0;      ///< Taken by the socket.
  std::uint64_t messages_dropped = 0;   ///< Accepted, then dropped (overflow, ttl, closed).
  std::uint64_t messages_queued = 0;    ///< Accepted and not yet taken by the socket.
  std::uint64_t messages_rejected = 0;  ///< Refused by send() with queue_full.
  std::uint64_t messages_received = 0;
  std::uint64_t duplicates_dropped = 0;  ///< Inbound messages with a sequence number seen before.
  std::uint64_t bytes_sent = 0;      ///< Payload bytes.
  std::uint64_t bytes_received = 0;  ///< Payload bytes.
  std::optional<std::chrono::milliseconds> last_rtt;  ///< The last ping's round trip.
  std::chrono::milliseconds time_in_state{0};
};

class TETHER_API Client {
 public:
  /// `runtime` = nullptr uses Runtime::shared().
  explicit Client(ClientOptions options, std::shared_ptr<Runtime> runtime = nullptr);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  void on_open(std::function<void(const OpenInfo&)> callback);
  void on_message(std::function<void(const Message&)> callback);
  /// The end of an opened connection (also after the client's own close).
  void on_close(std::function<void(const CloseInfo&)> callback);
  /// A failure: an attempt that never opened, a protocol violation, a lost connection.
  void on_error(std::function<void(const Error&)> callback);
  /// The socket took every byte of the message (`bytes` = its payload size).
  void on_sent(std::function<void(MessageId, std::size_t bytes)> callback);
  /// Every state change, with its cause (error, or close code and reason).
  void on_state(std::function<void(State from, State to, const Cause& cause)> callback);
  /// A reconnect was scheduled: retry number `attempt` of this outage, after `delay`.
  void on_reconnect_scheduled(std::function<void(int attempt, std::chrono::milliseconds delay)> callback);
  /// First-message auth succeeded (the state moves on to `open`).
  void on_authenticated(std::function<void()> callback);
  /// A message waits because the client is not ready; `depth` = messages queued after it.
  void on_queued(std::function<void(MessageId, std::size_t depth)> callback);
  /// A message accepted by send() will never be sent (`bytes` = its payload size).
  void on_dropped(std::function<void(MessageId, std::size_t bytes, DropReason)> callback);
  /// The server confirmed a subscribe / unsubscribe request.
  void on_subscribed(std::function<void(const std::string& channel)> callback);
  void on_unsubscribed(std::function<void(const std::string& channel)> callback);

  /// Checks the options (URL, proxy, TLS files) and starts connecting. Returns the error when
  /// the options cannot work (`invalid_url`, `invalid_argument`, `proxy_failed`); nothing is
  /// attempted then.
  Error start();

  /// Sends a text message (UTF-8) or a binary one, from any thread, in any state. Until the
  /// client is ready (open, and authenticated with first-message auth) messages wait in the
  /// outbound queue and go out in order once it is, after auth and the subscriptions. Each
  /// accepted message ends in exactly one `sent` or `dropped` (docs/delivery.md). Returns
  /// `queue_full` when the queue refuses it (OverflowPolicy::reject), `closed` once the client
  /// is closing or finished.
  SendResult send(std::string_view text, const SendOptions& options = {});
  SendResult send_binary(std::string_view bytes, const SendOptions& options = {});
  /// Sends a ping with up to 125 bytes of payload (when open).
  void ping(std::string_view payload = {});
  /// Closes (code 1000 by default) once every message accepted before it has been sent: while
  /// messages wait, the client keeps connecting (within the reconnect policy) to deliver them.
  /// New sends are refused with `closed`. The client never reconnects afterwards.
  void close(std::uint16_t code = 1000, std::string_view reason = {});
  /// Closes now: messages still waiting are dropped (reason `closed`); ones the socket is
  /// already writing end as sent or dropped with the connection.
  void close_now(std::uint16_t code = 1000, std::string_view reason = {});

  /// Subscribes to a channel: the request goes out now when open, and again after every
  /// reconnect (after auth, before queued messages). A rejected subscribe is reported as a
  /// `subscribe_rejected` error naming the channel, and the channel is forgotten.
  void subscribe(std::string channel);
  /// Forgets a channel (and sends an unsubscribe request when open).
  void unsubscribe(std::string channel);
  /// The channels currently subscribed (or to be subscribed on the next open).
  std::vector<std::string> subscriptions() const;
  /// A network-change hook: skip the current backoff wait and reset the attempt counter.
  void reconnect_now();

  /// Runs queued callbacks (CallbackMode::poll) on the calling thread, and services the network
  /// when the runtime has no thread of its own. Never blocks. Returns the callbacks run.
  std::size_t poll();

  /// The current state (any thread).
  State state() const noexcept;
  Stats stats() const;
  bool is_open() const noexcept;
  /// True once the client has reached `closed` or `failed`: nothing more will happen.
  bool is_finished() const noexcept;
  /// Payload bytes accepted by send() and not yet taken by the socket (the queue's bytes).
  std::size_t buffered_amount() const noexcept;

 private:
  std::shared_ptr<Runtime> runtime_;
  std::shared_ptr<detail::ClientSession> session_;
};

}  // namespace tether
