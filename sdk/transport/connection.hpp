#pragma once

// One WebSocket connection attempt and, if it opens, its life: DNS off the loop thread, the TCP
// connect, an optional HTTP CONNECT tunnel, optional TLS, the upgrade, then frames both ways and
// the closing handshake. It ends exactly once, with an on_end() that says how.
//
// Loop-thread only. Writes go out through tether's own send() on the socket: the frame writer
// fills a bounded buffer with as many queued frames as fit, and a full socket simply waits for the
// next writable event (reads continue meanwhile, so a back-pressuring peer cannot deadlock it).

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "protocol/close_handshake.hpp"
#include "protocol/frame_decoder.hpp"
#include "protocol/frame_writer.hpp"
#include "protocol/handshake.hpp"
#include "protocol/http_head.hpp"
#include "protocol/random.hpp"
#include "tether/error.hpp"
#include "transport/loop.hpp"
#include "transport/proxy.hpp"
#include "transport/tls.hpp"
#include "transport/url.hpp"

namespace tether::transport {

struct ConnectionConfig {
  Url url;
  std::vector<protocol::Header> headers;
  std::vector<std::string> subprotocols;
  std::string origin;
  std::shared_ptr<TlsContext> tls;                   ///< Required for wss.
  std::optional<ProxyConfig> proxy;                  ///< HTTP CONNECT proxy; nullopt = direct.
  std::chrono::milliseconds connect_timeout{10000};  ///< DNS to open; 0 = no limit.
  std::chrono::milliseconds close_timeout{5000};     ///< Wait for the peer's close frame.
  std::uint64_t max_message = 16u * 1024 * 1024;
  std::size_t fragment_size = 0;  ///< Outbound fragmentation; 0 = one frame per message.
  /// Bytes written per writable event before reads get a turn (at least one write is made).
  std::size_t write_budget = 4 * 1024 * 1024;
};

/// How a connection ended.
struct ConnectionEnd {
  bool opened = false;  ///< The WebSocket opened before the end.
  /// The error, when the end was not a close both sides asked for (or the client's own close).
  std::optional<errc> error;
  std::string message;
  int http_status = 0;  ///< The upgrade's status when error == handshake_rejected.
  std::vector<protocol::Header> http_headers;
  /// For an opened connection: the code and reason to report (1006 with no close frame).
  std::uint16_t code = 1006;
  std::string reason;
  bool closed_by_client = false;  ///< The client sent the first close frame (or gave up first).
  bool clean = false;             ///< Close frames went both ways.
  /// Tags of messages the socket never fully took, oldest first.
  std::vector<std::uint64_t> unsent;
};

class ConnectionHandler {
 public:
  virtual ~ConnectionHandler() = default;
  virtual void on_open(const std::string& subprotocol) = 0;
  /// A complete message; the view is valid during the call only.
  virtual void on_message(protocol::Opcode op, std::string_view payload) = 0;
  virtual void on_pong(std::string_view payload) = 0;
  /// One or more inbound frames arrived (liveness); called at most once per read.
  virtual void on_activity() {}
  /// Part of a large read has been delivered and more of it follows: a chance to write what the
  /// delivered messages produced, so the peer works on it while the rest is decoded.
  virtual void on_read_progress() {}
  /// The socket took every byte of the message pushed with `tag`.
  virtual void on_sent(std::uint64_t tag) = 0;
  /// Called exactly once. The handler must not destroy the Connection inside this call (post it).
  virtual void on_end(ConnectionEnd end) = 0;
};

class Connection final : private RawSocketHandler, private protocol::FrameSink {
 public:
  enum class Phase { idle, resolving, connecting, proxy, tls, upgrading, open, closing, ended };

  Connection(Loop& loop, ConnectionConfig config, ConnectionHandler& handler);
  /// Closes the socket without any further callback.
  ~Connection() override;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  void start();
  /// Queues a data message; false when the connection is not open (nothing queued).
  bool send(protocol::Opcode op, std::string payload, std::uint64_t tag);
  /// The same, copying `payload` (small messages into the frame writer's own buffer).
  bool send_copy(protocol::Opcode op, std::string_view payload, std::uint64_t tag);
  /// The same without a copy: the bytes stay valid and unchanged until on_sent(tag) or on_end().
  bool send_view(protocol::Opcode op, std::string_view payload, std::uint64_t tag);
  /// The same for a payload already masked with `key` (FrameWriter::push_message_masked): on a
  /// plain connection its bytes go to the socket from where they are.
  bool send_masked(protocol::Opcode op, std::string_view masked_payload,
                   const std::array<std::uint8_t, 4>& key, std::uint64_t tag);
  bool ping(std::string_view payload);
  /// Writes what is pending now instead of at the next writable event (may end the connection).
  void write_now() { flush(); }
  /// Starts the closing handshake (or ends an attempt that has not opened yet).
  void close(std::uint16_t code, std::string_view reason);
  /// Ends the connection now with `code` as the error (heartbeat timeout, ...).
  void abort(errc code, std::string message);

  Phase phase() const noexcept { return phase_; }
  bool is_open() const noexcept { return phase_ == Phase::open; }
  /// Payload bytes accepted by send() and not yet written to the socket.
  std::size_t buffered_amount() const noexcept { return writer_.pending_bytes() + out_left_; }
  /// The remote address in use ("127.0.0.1"), once connecting.
  const std::string& address() const noexcept { return address_; }
  /// The time of the socket event being handled (a read, or a write of what is pending), from
  /// one clock read on first use: a read of a thousand responses costs one. Outside an event, the
  /// time now.
  std::chrono::steady_clock::time_point io_time();

  /// What the socket writes met so far.
  struct WriteCounts {
    std::uint64_t sends = 0;            ///< Send calls made.
    std::uint64_t full = 0;             ///< Of those, the ones that found the socket's buffer full.
    std::uint64_t writable_events = 0;  ///< Writable events handled.
  };
  const WriteCounts& write_counts() const noexcept { return write_counts_; }

 private:
  // RawSocketHandler
  void on_socket_connected() override;
  void on_socket_data(const std::uint8_t* data, std::size_t n) override;
  void on_socket_writable() override;
  void on_socket_closed(bool connected, const std::string& reason) override;
  // FrameSink
  void on_message(protocol::Opcode op, std::string_view payload) override;
  void on_ping(std::string_view payload) override;
  void on_pong(std::string_view payload) override;
  void on_close(std::uint16_t code, std::string_view reason) override;

  void connect_next();
  void begin_tunnel_or_tls();
  void begin_upgrade();
  void on_transport_bytes(const std::uint8_t* data, std::size_t n);
  void on_plain_bytes(const std::uint8_t* data, std::size_t n);
  /// The rest of a large frame, received from the socket straight into the decoder's buffer.
  void receive_rest_of_frame();
  /// Frames from the peer are read: open, or closing until its close frame.
  bool decoding() const noexcept { return phase_ == Phase::open || phase_ == Phase::closing; }
  void write_plain(std::string_view bytes);  // pre-open protocol bytes, through TLS when on
  void flush();
  bool refill();
  /// Sets out_parts_ to the first `n` bytes of out_.
  void write_from_out(std::size_t n);
  void fail(errc code, std::string message);
  void fail_protocol(const protocol::DecodeError& error);
  void finish(bool connected_socket);
  void close_socket_after_flush();
  void push_deferred_close();
  /// Asks for a writable event (once: no second request while one is pending).
  void request_flush();
  std::string phase_name() const;

  /// Marks the socket event being handled, for io_time(); nested events share the outer one's.
  class IoEvent {
   public:
    explicit IoEvent(Connection& c) : c_(c) {
      if (c_.io_depth_++ == 0) c_.io_time_.reset();
    }
    ~IoEvent() { --c_.io_depth_; }
    IoEvent(const IoEvent&) = delete;
    IoEvent& operator=(const IoEvent&) = delete;

   private:
    Connection& c_;
  };

  Loop& loop_;
  ConnectionConfig config_;
  ConnectionHandler& handler_;
  Phase phase_ = Phase::idle;
  RawSocket socket_;
  Timer connect_timer_;
  Timer close_timer_;
  std::shared_ptr<void> resolve_token_;
  std::vector<std::string> addresses_;
  std::size_t next_address_ = 0;
  std::string address_;
  std::string last_connect_error_;

  protocol::CsprngSource random_;
  protocol::MaskKeyPool masks_;
  protocol::FrameWriter writer_;
  protocol::FrameDecoder decoder_;
  protocol::CloseHandshake close_;
  std::optional<protocol::HttpResponseHead> proxy_reply_;
  std::optional<protocol::HandshakeResponse> upgrade_;
  std::unique_ptr<TlsSession> tls_;

  std::string pre_open_;           // CONNECT / upgrade bytes not yet in out_
  std::vector<std::uint8_t> out_;  // frames (or TLS records) being written to the socket
  // What is being written, in order: pieces of out_ and, between them, pre-masked payloads
  // written from where they are (FrameWriter::InPlace).
  std::vector<std::string_view> out_parts_;
  std::size_t out_part_ = 0;  // the first piece not fully written
  std::size_t out_left_ = 0;  // bytes of out_parts_ not yet written
  std::vector<protocol::FrameWriter::InPlace> in_place_;
  std::vector<std::uint64_t> out_tags_;  // messages completed by the bytes in out_parts_
  std::vector<std::uint8_t> scratch_;    // plaintext frames before encryption
  std::string plain_chunk_;              // decrypted bytes being decoded
  bool writable_requested_ = false;
  // The socket's buffer was full at the last send: nothing is tried again before it is writable.
  bool send_blocked_ = false;
  WriteCounts write_counts_;
  bool close_after_flush_ = false;
  bool fail_fast_ = false;
  std::optional<std::pair<std::uint16_t, std::string>> deferred_close_;

  std::optional<errc> error_;
  std::string error_message_;
  int http_status_ = 0;
  std::vector<protocol::Header> http_headers_;
  bool opened_ = false;
  bool frames_in_read_ = false;      // a frame completed during the current decoder_.feed()
  bool delivered_in_slice_ = false;  // a message was delivered from the current slice of a read
  bool ended_ = false;
  std::optional<std::chrono::steady_clock::time_point> io_time_;  // of the event being handled
                                                                  // (read only while one is)
  int io_depth_ = 0;                                              // IoEvents alive
};

}  // namespace tether::transport
