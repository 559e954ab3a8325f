#pragma once

/// \file events.hpp
/// What a Client reports to the application.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tether/error.hpp"
#include "tether/export.hpp"

namespace tether {

/// Identifies a message accepted by Client::send (unique per client, increasing).
using MessageId = std::uint64_t;

/// The kind of a WebSocket message: text (UTF-8, validated) or binary.
enum class MessageKind { text, binary };

/// An inbound message. `data` is valid only during the callback; copy what you keep.
struct Message {
  /// Text or binary.
  MessageKind kind = MessageKind::text;
  /// The payload: the whole message, reassembled from its frames.
  std::string_view data;
  /// True for a text message.
  bool is_text() const noexcept { return kind == MessageKind::text; }
};

/// A connection opened (the upgrade succeeded).
struct OpenInfo {
  std::string subprotocol;  ///< The subprotocol the server selected ("" when none).
};

/// The end of an opened connection.
struct CloseInfo {
  std::uint16_t code = 1006;  ///< As sent by whoever closed first; 1005 = no code, 1006 = no close frame.
  /// The close reason sent with `code` (may be empty).
  std::string reason;
  bool by_client = false;  ///< The client closed first (its own choice, or failing the connection).
  bool clean = false;      ///< Close frames went both ways.
  bool reconnect = false;  ///< A reconnect follows (per the reconnect policy).
};

/// A failure. Converts to true when there is one, so `if (auto e = client.start())` reads well.
struct Error {
  /// The error name; errc{} (no error) when there is none.
  errc code{};
  /// A one-line human-readable detail (not stable: do not parse it).
  std::string message;
  int http_status = 0;  ///< For `handshake_rejected` and `proxy_failed`: the HTTP status.
  std::vector<std::pair<std::string, std::string>> http_headers;  ///< For `handshake_rejected`.

  /// True when there is an error.
  explicit operator bool() const noexcept { return code != errc{}; }
};

/// Why a message accepted by send() was not sent.
enum class DropReason {
  overflow,  ///< The queue was full (per QueueOptions::overflow).
  ttl,       ///< It waited longer than its time to live.
  closed,    ///< The client closed or gave up first.
};

/// "overflow", "ttl", "closed".
TETHER_API std::string_view to_string(DropReason reason) noexcept;

/// How a message ended: exactly one per message accepted by send().
struct Delivery {
  /// The message's id, as returned by Client::send.
  MessageId id = 0;
  std::size_t bytes = 0;               ///< Its payload size.
  std::optional<DropReason> dropped;   ///< Empty: sent (the socket took every byte).
  /// True when the message was sent.
  bool sent() const noexcept { return !dropped; }
};

/// The result of Client::send: the message's id, or why it was refused.
struct SendResult {
  /// The message's id; also set for `queue_full` (the `dropped` event carries it), 0 for
  /// `closed` and `encode_error`.
  MessageId id = 0;
  /// errc{} when accepted; `queue_full` or `closed` (or `encode_error` for a typed message)
  /// when refused.
  errc error{};
  /// True when the message was accepted.
  explicit operator bool() const noexcept { return error == errc{}; }
};

}  // namespace tether
