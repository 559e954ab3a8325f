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
#include <string_view>

#include "tether/events.hpp"
#include "tether/export.hpp"
#include "tether/options.hpp"
#include "tether/runtime.hpp"
#include "tether/state.hpp"

namespace tether {

namespace detail {
class ClientSession;
}  // namespace detail

/// Counters of one client (Client::stats()).
struct Stats {
  std::uint64_t attempts = 0;    ///< Connection attempts started.
  std::uint64_t reconnects = 0;  ///< Connections opened after the first.
  std::uint64_t messages_sent = 0;
  std::uint64_t messages_received = 0;
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

  /// Checks the options (URL, proxy, TLS files) and starts connecting. Returns the error when
  /// the options cannot work (`invalid_url`, `invalid_argument`, `proxy_failed`); nothing is
  /// attempted then.
  Error start();

  /// Sends a text message (UTF-8) or a binary one. Before the connection opens, messages wait
  /// and go out in order once it does. Returns `closed` once the client is closed.
  SendResult send(std::string_view text);
  SendResult send_binary(std::string_view bytes);
  /// Sends a ping with up to 125 bytes of payload (when open).
  void ping(std::string_view payload = {});
  /// Starts the closing handshake (code 1000 by default); messages accepted before it are sent
  /// first. The client never reconnects afterwards.
  void close(std::uint16_t code = 1000, std::string_view reason = {});
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
  /// Bytes accepted by send() and not yet written to the socket.
  std::size_t buffered_amount() const noexcept;

 private:
  std::shared_ptr<Runtime> runtime_;
  std::shared_ptr<detail::ClientSession> session_;
};

}  // namespace tether
