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
#include <future>
#include <optional>
#include <memory>
#include <string>
#include <string_view>
#include <typeinfo>
#include <vector>

#include "tether/codec.hpp"
#include "tether/events.hpp"
#include "tether/export.hpp"
#include "tether/json.hpp"
#include "tether/options.hpp"
#include "tether/runtime.hpp"
#include "tether/state.hpp"

namespace tether {

namespace detail {
class ClientSession;
/// A readable name for a C++ type (for decode_error messages).
TETHER_API std::string demangle(const char* mangled);
template <class T>
std::string type_name() {
  return demangle(typeid(T).name());
}
}  // namespace detail

/// Per-request options of Client::request.
struct RequestOptions {
  /// The result is `timeout` when no response arrives within this, counted from the call (the
  /// time spent waiting in the queue included); 0 = no limit.
  std::chrono::milliseconds timeout{10000};
  /// An idempotent request: when the connection is lost after it was written, it is sent again
  /// (same id) after the reconnect instead of failing with `connection_lost`.
  bool retry_on_reconnect = false;
};

/// The result of a request: exactly one of a response (ok(), with its payload), a remote error
/// (`remote`), or a local failure (`error`: timeout, cancelled, connection_lost, encode_error,
/// queue_full; decode_error for a typed response that did not decode).
struct Response {
  /// The request's id (as sent).
  std::string id;
  errc error{};         ///< errc{} when the server answered.
  std::string message;  ///< Detail of `error`.
  std::optional<RemoteError> remote;  ///< The server answered with an error.
  Json payload;                       ///< The response's payload (JSON-RPC: its result).
  std::string text;                   ///< The whole inbound message that carried the response.
  /// From the socket taking the request to the read that brought the response (each timed once
  /// per socket event); empty for local failures.
  std::optional<std::chrono::microseconds> rtt;
  /// True when the server answered with a result (no local failure, no remote error).
  bool ok() const noexcept { return error == errc{} && !remote; }
};

/// Identifies a pending request; cancel() ends it with `cancelled` (any thread; no effect once it
/// has ended). A request already written may still be answered by the server: the response is
/// then ignored (counted as unmatched).
class TETHER_API RequestHandle {
 public:
  RequestHandle() = default;
  /// The request's id; empty for a default-constructed handle.
  const std::string& id() const noexcept { return id_; }
  /// Ends the request with `cancelled` (see above).
  void cancel() const;
  /// True when the handle names a request.
  explicit operator bool() const noexcept { return !id_.empty(); }

 private:
  friend class Client;
  RequestHandle(std::string id, std::weak_ptr<detail::ClientSession> session)
      : id_(std::move(id)), session_(std::move(session)) {}
  std::string id_;
  std::weak_ptr<detail::ClientSession> session_;
};

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
  /// Inbound messages, text and binary (duplicates and tether's own responses included;
  /// HeartbeatOptions::app_pong answers not).
  std::uint64_t messages_received = 0;
  std::uint64_t duplicates_dropped = 0;  ///< Inbound messages with a sequence number seen before.
  std::uint64_t requests_pending = 0;     ///< Requests waiting for their result.
  std::uint64_t responses_unmatched = 0;  ///< Responses whose id matched no pending request.
  std::uint64_t bytes_sent = 0;      ///< Payload bytes.
  std::uint64_t bytes_received = 0;  ///< Payload bytes.
  std::optional<std::chrono::milliseconds> last_rtt;  ///< The last ping's round trip.
  /// How long the client has been in its current state.
  std::chrono::milliseconds time_in_state{0};
};

/// One WebSocket connection to one URL, kept alive across failures (see the file
/// description). Thread-safe; not copyable.
class TETHER_API Client {
 public:
  /// `runtime` = nullptr uses Runtime::shared().
  explicit Client(ClientOptions options, std::shared_ptr<Runtime> runtime = nullptr);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  /// A connection opened (every reconnect too), before first-message auth.
  void on_open(std::function<void(const OpenInfo&)> callback);
  /// An inbound message. Message::data is valid only during the call.
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
  /// The server confirmed an unsubscribe request.
  void on_unsubscribed(std::function<void(const std::string& channel)> callback);

  /// Checks the options (URL, proxy, TLS files) and starts connecting. Returns the error when
  /// the options cannot work (`invalid_url`, or `invalid_argument` for the auth, queue, header,
  /// proxy or TLS file options); nothing is attempted then.
  Error start();

  /// Sends a text message (UTF-8) or a binary one, from any thread, in any state. Until the
  /// client is ready (open, and authenticated with first-message auth) messages wait in the
  /// outbound queue and go out in order once it is, after auth and the subscriptions. Each
  /// accepted message ends in exactly one `sent` or `dropped` (docs/delivery.md). Returns
  /// `queue_full` when the queue refuses it (OverflowPolicy::reject), `closed` once the client
  /// is closing or finished.
  SendResult send(std::string_view text, const SendOptions& options = {});
  /// Sends a binary message; otherwise like send().
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

  // --- typed messages and requests (through ClientOptions::codec; docs/requests.md) -----------

  /// Sends a message {type, payload} encoded by the codec, through the queue like send().
  /// `encode_error` when the codec cannot encode it.
  SendResult send_message(std::string_view type, const Json& payload, const SendOptions& options = {});
  /// The same with a value converted by its to_json (found by ADL).
  template <class T>
  SendResult send(std::string_view type, const T& value, const SendOptions& options = {}) {
    return send_message(type, json_from(value), options);
  }

  /// Sends a request and calls `on_result` once with its result, where callbacks run. Requests
  /// wait in the queue like messages while the client is not ready (their timeout runs). The
  /// payload is encoded before request() returns (it is not kept).
  RequestHandle request(std::string_view type, const Json& payload,
                        std::function<void(const Response&)> on_result,
                        RequestOptions options = {});
  /// The same, as a future.
  std::future<Response> request(std::string_view type, const Json& payload,
                                RequestOptions options = {});
  /// A typed request: `value` through to_json, the response payload through from_json into `R`
  /// (nullptr, with error decode_error, when it does not decode or the request failed).
  template <class T, class R>
  RequestHandle request(std::string_view type, const T& value,
                        std::function<void(const Response&, const R*)> on_result,
                        RequestOptions options = {}) {
    return request(
        type, json_from(value),
        [on_result = std::move(on_result)](const Response& response) {
          if (!response.ok()) {
            on_result(response, nullptr);
            return;
          }
          std::string error;
          std::optional<R> decoded = json_to<R>(response.payload, &error);
          if (decoded) {
            on_result(response, &*decoded);
            return;
          }
          Response failed = response;
          failed.error = errc::decode_error;
          failed.message = "response as " + detail::type_name<R>() + ": " + error;
          on_result(failed, nullptr);
        },
        options);
  }

  /// Handles inbound messages of one type (decoded by the codec): `handler` gets the payload.
  /// Every text message still reaches on_message too.
  void on(std::string type, std::function<void(const Json& payload)> handler);
  /// The same with the payload converted by from_json into `T`; a payload that does not convert
  /// is reported as a `decode_error` naming the type and the field, and the connection stays.
  template <class T>
  void on(std::string type, std::function<void(const T&)> handler) {
    std::string name = type;
    on_payload(std::move(type), [name = std::move(name), handler = std::move(handler)](
                                    const Json& payload, std::string& error) {
      std::optional<T> value = json_to<T>(payload, &error);
      if (!value) {
        error = "message \"" + name + "\" as " + detail::type_name<T>() + ": " + error;
        return false;
      }
      handler(*value);
      return true;
    });
  }
  /// Decoded inbound items no typed handler took, and responses that match no pending request.
  void on_any(std::function<void(const Inbound&)> handler);
  /// A network-change hook: skip the current backoff wait and reset the attempt counter.
  void reconnect_now();

  /// Runs queued callbacks (CallbackMode::poll) on the calling thread, and services the network
  /// when the runtime has no thread of its own. Never blocks. Returns the callbacks run.
  std::size_t poll();

  /// The current state (any thread).
  State state() const noexcept;
  /// A snapshot of the counters (any thread).
  Stats stats() const;
  /// True in state `open`.
  bool is_open() const noexcept;
  /// True once the client has reached `closed` or `failed` and everything it still held has
  /// ended (each queued message with its `dropped` event, each pending request with its result):
  /// nothing more will happen, and stats() are final. (state() changes a moment earlier.) The
  /// change to `closed` or `failed` is the last event, after those `dropped` events and results:
  /// when on_state reports it, is_finished() is already true.
  bool is_finished() const noexcept;
  /// Payload bytes accepted by send() and not yet taken by the socket (the queue's bytes).
  std::size_t buffered_amount() const noexcept;

 private:
  void on_payload(std::string type, std::function<bool(const Json&, std::string&)> handler);

  std::shared_ptr<Runtime> runtime_;
  std::shared_ptr<detail::ClientSession> session_;
};

}  // namespace tether
