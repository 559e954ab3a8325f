#pragma once

/// \file client.hpp
/// tether::Client: one WebSocket connection to one URL.
///
/// Thread safety: every method may be called from any thread, including from inside the
/// client's own callbacks. Callbacks run on the runtime's loop thread, one at a time; set them
/// before start().
///
/// Lifetime: destroying the client (from any thread, even inside one of its callbacks) closes
/// the connection with 1000 in the background; no callback runs after the destructor returns.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string_view>

#include "tether/events.hpp"
#include "tether/export.hpp"
#include "tether/options.hpp"
#include "tether/runtime.hpp"

namespace tether {

namespace detail {
class ClientSession;
}  // namespace detail

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
  /// first.
  void close(std::uint16_t code = 1000, std::string_view reason = {});

  bool is_open() const noexcept;
  /// True once the connection has ended (closed or failed) and will not be retried.
  bool is_finished() const noexcept;
  /// Bytes accepted by send() and not yet written to the socket.
  std::size_t buffered_amount() const noexcept;

 private:
  std::shared_ptr<Runtime> runtime_;
  std::shared_ptr<detail::ClientSession> session_;
};

}  // namespace tether
