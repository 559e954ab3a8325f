#pragma once

// The state of the RFC 6455 closing handshake of one connection: who closed, the codes both ways,
// and what to report (1005 = a close frame without a code, 1006 = no close frame at all).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace tether::protocol {

/// Usage by the connection:
///  - the application closes: `if (start_local(code, reason)) send the close frame;`
///  - a close frame arrives: `if (auto echo = on_remote(code, reason))` send a close frame with
///    *echo (an empty one for 1005), then record it with `start_local(*echo, "")`, which returns
///    true. Until then the phase is closing_remote: the echo is owed but not yet sent. Recording
///    only after the write keeps sent() truthful when the transport dies first.
///  - the transport ends: on_transport_closed(); then reported_code() / reported_reason().
/// Who closed first decides what is reported: the peer's code and reason when its close frame came
/// first (1005 and "" for an empty one, other codes such as 1012 as received); our own when we
/// closed first, even if the transport died before the peer's echo (the application asked for that
/// close, and the peer's echo, if any, stays in remote_code()); 1006 and "" when neither happened.
class CloseHandshake {
 public:
  enum class Phase {
    open,            ///< No close frame either way.
    closing_local,   ///< We sent a close frame and wait for the peer's.
    closing_remote,  ///< The peer sent a close frame; ours is owed (echo).
    closed,          ///< Close frames went both ways: the TCP connection may be closed.
  };

  /// We want to close, or we sent the echo on_remote() asked for. Returns true when a close frame
  /// should be sent now (recorded as sent), false when one was already sent or the transport has
  /// closed (nothing is recorded then).
  bool start_local(std::uint16_t code, std::string reason);

  /// The peer's close frame arrived (`code` 1005 for an empty payload). Returns the code to echo
  /// when our close frame is still owed (1005 means "send an empty close frame"); nullopt when we
  /// already sent ours, when the transport has closed, or for a second close frame from the peer
  /// (ignored: the first one counts).
  std::optional<std::uint16_t> on_remote(std::uint16_t code, std::string_view reason);

  /// The transport ended. Without a close frame from the peer the result is 1006.
  void on_transport_closed() noexcept { transport_closed_ = true; }

  /// The phase from the close frames alone; see transport_closed() for the transport.
  Phase phase() const noexcept;
  bool transport_closed() const noexcept { return transport_closed_; }
  bool sent() const noexcept { return sent_; }
  bool received() const noexcept { return received_; }
  /// True when we sent the first close frame.
  bool initiated_locally() const noexcept { return sent_ && (!received_ || local_first_); }
  /// True when close frames went both ways (a clean close).
  bool clean() const noexcept { return sent_ && received_; }
  std::uint16_t local_code() const noexcept { return local_code_; }
  const std::string& local_reason() const noexcept { return local_reason_; }
  std::uint16_t remote_code() const noexcept { return remote_code_; }
  const std::string& remote_reason() const noexcept { return remote_reason_; }

  /// The code an application sees for the end of this connection: the peer's code when the peer
  /// closed first; our own when we closed first; 1006 when no close frame arrived from the peer
  /// and we did not close first.
  std::uint16_t reported_code() const noexcept;
  const std::string& reported_reason() const noexcept;

 private:
  bool sent_ = false;
  bool received_ = false;
  bool local_first_ = false;
  bool transport_closed_ = false;
  std::uint16_t local_code_ = 0;
  std::string local_reason_;
  std::uint16_t remote_code_ = 0;
  std::string remote_reason_;
};

}  // namespace tether::protocol
