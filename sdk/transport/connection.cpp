#include "transport/connection.hpp"

#include <algorithm>
#include <cstring>
#include <utility>

#include "protocol/handshake_key.hpp"
#include "transport/resolver.hpp"

namespace tether::transport {

namespace {

constexpr std::size_t kWriteBuffer = 256 * 1024;            // one send() worth of coalesced frames
constexpr std::size_t kKeptWriteBuffer = 2 * kWriteBuffer;  // a larger out_ shrinks once drained
constexpr std::size_t kFirstWriteBuffer = 16 * 1024;  // until more is pending: idle stays small
constexpr std::size_t kMaxReasonBytes = 123;
// A decrypted read is kept for the next one up to this size (see on_transport_bytes).
constexpr std::size_t kKeptPlaintext = 1024 * 1024;
// Inbound bytes are decoded in slices of this size (see on_plain_bytes).
constexpr std::size_t kDeliverSlice = 16 * 1024;
// The rest of a frame is received straight into the message buffer when at least this much of
// it is missing, at most kDirectRead bytes per recv() and kDirectReads recv()s per read event.
constexpr std::size_t kDirectMin = 16 * 1024;
constexpr std::size_t kDirectRead = 1024 * 1024;
constexpr int kDirectReads = 16;

std::string truncate_reason(std::string_view reason) {
  if (reason.size() <= kMaxReasonBytes) return std::string(reason);
  std::size_t n = kMaxReasonBytes;
  // Never cut a UTF-8 sequence: back up to a lead byte.
  while (n > 0 && (static_cast<unsigned char>(reason[n]) & 0xC0) == 0x80) --n;
  return std::string(reason.substr(0, n));
}

}  // namespace

Connection::Connection(Loop& loop, ConnectionConfig config, ConnectionHandler& handler)
    : loop_(loop),
      config_(std::move(config)),
      handler_(handler),
      connect_timer_(loop),
      close_timer_(loop),
      masks_(random_),
      writer_(protocol::WriterOptions{protocol::Role::client, config_.fragment_size}, &masks_),
      decoder_(protocol::DecoderOptions{protocol::Role::client, config_.max_message}) {
  out_.resize(kFirstWriteBuffer);
}

Connection::~Connection() {
  ended_ = true;
  resolve_token_.reset();
  if (socket_.valid()) socket_.close();
}

std::string Connection::phase_name() const {
  switch (phase_) {
    case Phase::idle:
      return "idle";
    case Phase::resolving:
      return "resolving the host name";
    case Phase::connecting:
      return "connecting";
    case Phase::proxy:
      return "waiting for the proxy";
    case Phase::tls:
      return "in the TLS handshake";
    case Phase::upgrading:
      return "waiting for the upgrade response";
    case Phase::open:
      return "open";
    case Phase::closing:
      return "closing";
    case Phase::ended:
      return "ended";
  }
  return "?";
}

void Connection::start() {
  if (phase_ != Phase::idle) return;
  if (config_.connect_timeout.count() > 0) {
    connect_timer_.start(config_.connect_timeout, [this] {
      fail(errc::connect_timeout, "not open after " +
                                      std::to_string(config_.connect_timeout.count()) + " ms (" +
                                      phase_name() + ")");
    });
  }
  const std::string& host = config_.proxy ? config_.proxy->host : config_.url.host;
  const std::uint16_t port = config_.proxy ? config_.proxy->port : config_.url.port;
  if (is_ip_literal(host)) {
    addresses_ = {host};
    phase_ = Phase::connecting;
    connect_next();
    return;
  }
  phase_ = Phase::resolving;
  resolve_token_ = loop_.resolver().resolve(host, port, [this](ResolveResult result) {
    resolve_token_.reset();
    if (phase_ != Phase::resolving) return;
    if (!result.error.empty()) {
      fail(config_.proxy ? errc::proxy_failed : errc::dns_failed,
           config_.proxy ? "proxy " + result.error : result.error);
      return;
    }
    addresses_ = std::move(result.addresses);
    phase_ = Phase::connecting;
    connect_next();
  });
}

void Connection::connect_next() {
  const std::uint16_t port = config_.proxy ? config_.proxy->port : config_.url.port;
  while (next_address_ < addresses_.size()) {
    address_ = addresses_[next_address_++];
    std::string error;
    if (loop_.connect(socket_, address_, port, this, error)) return;
    last_connect_error_ = error;
  }
  const std::string target = format_host_port(address_, port);
  if (config_.proxy) {
    fail(errc::proxy_failed, "cannot connect to the proxy " + describe_proxy(*config_.proxy) +
                                 (last_connect_error_.empty() ? "" : ": " + last_connect_error_));
  } else {
    fail(errc::connect_refused,
         "connection to " + target + " refused" +
             (last_connect_error_.empty() ? "" : " (" + last_connect_error_ + ")"));
  }
}

void Connection::on_socket_connected() {
  if (phase_ != Phase::connecting) return;
  if (config_.proxy) {
    phase_ = Phase::proxy;
    proxy_reply_.emplace(16 * 1024);
    pre_open_ += build_connect_request(config_.url, *config_.proxy);
    flush();
    return;
  }
  begin_tunnel_or_tls();
}

void Connection::begin_tunnel_or_tls() {
  if (config_.url.secure) {
    phase_ = Phase::tls;
    if (!config_.tls) {
      fail(errc::tls_handshake_failed, "no TLS context for a wss URL");
      return;
    }
    tls_ = std::make_unique<TlsSession>(config_.tls, config_.url.host);
    if (tls_->start() == TlsSession::Status::error) {
      fail(tls_->error_code(), tls_->error_message());
      return;
    }
    flush();
    return;
  }
  begin_upgrade();
}

void Connection::begin_upgrade() {
  phase_ = Phase::upgrading;
  protocol::HandshakeRequest request;
  request.host = config_.url.host;
  request.port = config_.url.port;
  request.secure = config_.url.secure;
  request.target = config_.url.target;
  request.headers = config_.headers;
  request.subprotocols = config_.subprotocols;
  request.origin = config_.origin;
  std::string key = protocol::make_handshake_key(random_);
  upgrade_.emplace(key, config_.subprotocols, 16 * 1024);
  const std::string bytes = protocol::build_handshake_request(request, key);
  if (bytes.empty()) {
    fail(errc::invalid_argument, "invalid handshake request (header or subprotocol)");
    return;
  }
  write_plain(bytes);
  flush();
}

void Connection::write_plain(std::string_view bytes) {
  if (tls_) {
    if (tls_->write_plaintext(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()) ==
        TlsSession::Status::error) {
      fail(tls_->error_code(), tls_->error_message());
    }
    return;
  }
  pre_open_.append(bytes.data(), bytes.size());
}

std::chrono::steady_clock::time_point Connection::io_time() {
  if (io_depth_ == 0) return std::chrono::steady_clock::now();
  if (!io_time_) io_time_ = std::chrono::steady_clock::now();
  return *io_time_;
}

void Connection::on_socket_data(const std::uint8_t* data, std::size_t n) {
  if (ended_ || phase_ == Phase::ended) return;
  const IoEvent event(*this);
  // A read may try one send again, as every flush did before sends waited for the writable
  // event: at most one failed send per read instead of one per message, and writes never rest
  // on that event alone.
  send_blocked_ = false;
  if (phase_ == Phase::proxy) {
    std::size_t consumed = 0;
    auto result = proxy_reply_->feed(data, n, &consumed);
    if (result == protocol::HttpResponseHead::Result::need_more) return;
    if (result == protocol::HttpResponseHead::Result::invalid) {
      fail(errc::proxy_failed, "invalid reply to CONNECT: " + proxy_reply_->error());
      return;
    }
    std::string error;
    if (!connect_reply_ok(*proxy_reply_, error)) {
      http_status_ = proxy_reply_->status();
      fail(errc::proxy_failed, error);
      return;
    }
    begin_tunnel_or_tls();
    if (phase_ == Phase::ended || consumed >= n) return;
    data += consumed;
    n -= consumed;
  }
  on_transport_bytes(data, n);
}

void Connection::on_transport_bytes(const std::uint8_t* data, std::size_t n) {
  if (!tls_) {
    on_plain_bytes(data, n);
    return;
  }
  const bool was_done = tls_->handshake_done();
  auto status = tls_->on_ciphertext(data, n);
  if (status == TlsSession::Status::error) {
    fail(tls_->error_code(), tls_->error_message());
    return;
  }
  if (!was_done && tls_->handshake_done() && phase_ == Phase::tls) begin_upgrade();
  if (phase_ == Phase::ended) return;
  std::string& plain = tls_->plaintext();
  if (!plain.empty()) {
    // Move out first: delivering may write, and writing may grow the session's buffers. The two
    // buffers trade places and keep their memory, so a stream of large reads decrypts into
    // memory that is already there (a fresh buffer per read costs page faults and regrowth).
    plain_chunk_.swap(plain);
    on_plain_bytes(reinterpret_cast<const std::uint8_t*>(plain_chunk_.data()), plain_chunk_.size());
    if (plain_chunk_.capacity() > kKeptPlaintext) {
      std::string().swap(plain_chunk_);
    } else {
      plain_chunk_.clear();
    }
  }
  if (phase_ != Phase::ended && tls_ && tls_->pending_ciphertext() > 0) flush();
}

void Connection::on_plain_bytes(const std::uint8_t* data, std::size_t n) {
  if (phase_ == Phase::upgrading) {
    std::size_t consumed = 0;
    auto result = upgrade_->feed(data, n, &consumed);
    using R = protocol::HandshakeResponse::Result;
    if (result == R::need_more) return;
    if (result != R::accepted) {
      http_status_ = upgrade_->status();
      http_headers_ = upgrade_->head().headers();
      fail(upgrade_->error(), upgrade_->error_message());
      return;
    }
    connect_timer_.cancel();
    phase_ = Phase::open;
    opened_ = true;
    handler_.on_open(upgrade_->subprotocol());
    if (phase_ == Phase::ended || consumed >= n) return;
    data += consumed;
    n -= consumed;
  }
  if (!decoding()) return;
  if (decoder_.failed() || decoder_.close_received()) return;
  frames_in_read_ = false;
  bool ok = true;
  // A large read is decoded in slices. After each slice that delivered a message, the handler
  // may write what the application sent in reply, so the peer handles it while the rest of the
  // read is decoded (a read of a thousand small echoes otherwise leaves the peer idle until the
  // last one is processed, then the client idle while the peer answers the batch).
  // Slices end at frame boundaries: a frame lying whole in the read is still delivered as a view
  // into it, however large.
  while (n > 0) {
    const std::size_t slice = n >= 2 * kDeliverSlice ? kDeliverSlice : n;
    delivered_in_slice_ = false;
    std::size_t consumed = 0;
    ok = decoder_.feed_slice(data, n, slice, *this, consumed);
    data += consumed;
    n -= consumed;
    // A close started meanwhile (by the handler, or by a slice's replies) does not end decoding:
    // the peer's frames up to its close frame are still read, or the stream would lose its place.
    if (!ok || n == 0 || consumed == 0 || decoder_.close_received() || !decoding()) break;
    if (delivered_in_slice_) handler_.on_read_progress();
    if (!decoding()) break;
  }
  // Everything libwebsockets read is decoded (n is 0) before more is received from the socket.
  if (ok && n == 0 && !tls_ && phase_ == Phase::open && !decoder_.close_received()) {
    receive_rest_of_frame();
  }
  // Liveness once per read, not per frame: a read full of small frames costs one clock read.
  if (frames_in_read_ && phase_ != Phase::ended) handler_.on_activity();
  if (!ok) fail_protocol(decoder_.error());
}

void Connection::receive_rest_of_frame() {
  // libwebsockets reads at most pt_serv_buf_size bytes per event into its own buffer, so a large
  // frame would be copied from there piece by piece. When a frame is part-way through, the rest
  // is received where the decoder keeps it. (A TLS connection decrypts into its own buffer.)
  for (int round = 0; round < kDirectReads; ++round) {
    std::size_t room = 0;
    std::uint8_t* window = decoder_.payload_window(kDirectRead, room);
    if (window == nullptr || room < kDirectMin) return;
    const long got = socket_.recv(window, room);
    // Nothing more yet; or the stream ended or broke, which the loop then sees at its next read
    // and reports as for any other read (the socket stays readable at its end).
    if (got <= 0) return;
    if (!decoder_.commit_window(static_cast<std::size_t>(got), *this)) {
      fail_protocol(decoder_.error());
      return;
    }
    if (phase_ != Phase::open || decoder_.close_received()) return;
    if (static_cast<std::size_t>(got) < room) return;
  }
}

// --- inbound frames
// ---------------------------------------------------------------------------------

void Connection::on_message(protocol::Opcode op, std::string_view payload) {
  frames_in_read_ = true;
  delivered_in_slice_ = true;
  if (phase_ == Phase::open || phase_ == Phase::closing) handler_.on_message(op, payload);
}

void Connection::on_ping(std::string_view payload) {
  frames_in_read_ = true;
  if (close_.sent()) return;  // no frames after our close
  writer_.push_pong(payload);
  flush();
}

void Connection::on_pong(std::string_view payload) {
  frames_in_read_ = true;
  handler_.on_pong(payload);
}

void Connection::on_close(std::uint16_t code, std::string_view reason) {
  frames_in_read_ = true;
  auto echo = close_.on_remote(code, reason);
  // No data frame may follow a close frame: messages not yet started stay unsent (reported in
  // ConnectionEnd::unsent, so the client sends them again after a reconnect).
  writer_.clear_data();
  if (echo) {
    // Echo the peer's code, as RFC 6455 5.5.1 suggests; 1005 means an empty close frame.
    writer_.push_close(*echo, "");
    close_.start_local(*echo, "");
  }
  phase_ = Phase::closing;
  close_after_flush_ = true;
  if (!close_timer_.armed()) {
    close_timer_.start(config_.close_timeout, [this] { socket_.close(); });
  }
  flush();
}

// --- outbound -----------------------------------------------------------------------------------

bool Connection::send(protocol::Opcode op, std::string payload, std::uint64_t tag) {
  if (phase_ != Phase::open) return false;
  writer_.push_message(op, std::move(payload), tag);
  // Coalesce: the write happens on the next writable event, after every message handed over in
  // this turn of the loop has joined the buffer (one send() for many frames).
  request_flush();
  return true;
}

bool Connection::send_copy(protocol::Opcode op, std::string_view payload, std::uint64_t tag) {
  if (phase_ != Phase::open) return false;
  writer_.push_message_copy(op, payload, tag);
  request_flush();
  return true;
}

bool Connection::send_view(protocol::Opcode op, std::string_view payload, std::uint64_t tag) {
  if (phase_ != Phase::open) return false;
  writer_.push_message_view(op, payload, tag);
  request_flush();
  return true;
}

bool Connection::send_masked(protocol::Opcode op, std::string_view masked_payload,
                             const std::array<std::uint8_t, 4>& key, std::uint64_t tag) {
  if (phase_ != Phase::open) return false;
  writer_.push_message_masked(op, masked_payload, key, tag);
  request_flush();
  return true;
}

bool Connection::ping(std::string_view payload) {
  if (phase_ != Phase::open) return false;
  writer_.push_control(protocol::Opcode::ping, payload.substr(0, protocol::kMaxControlPayload));
  flush();
  return true;
}

void Connection::close(std::uint16_t code, std::string_view reason) {
  if (ended_ || phase_ == Phase::ended) return;
  if (phase_ != Phase::open && phase_ != Phase::closing) {
    // Not open yet: nothing to hand-shake; end the attempt.
    close_.start_local(code, std::string(reason));
    finish(socket_.valid());
    return;
  }
  if (!close_.start_local(code, truncate_reason(reason))) return;
  // A close frame is a control frame, which the writer sends ahead of queued data: hold it until
  // every message accepted before close() has been framed.
  deferred_close_ = std::make_pair(code, truncate_reason(reason));
  push_deferred_close();
  phase_ = Phase::closing;
  if (close_.received()) close_after_flush_ = true;
  close_timer_.start(config_.close_timeout, [this] { socket_.close(); });
  flush();
}

void Connection::abort(errc code, std::string message) {
  fail(code, std::move(message));
}

void Connection::on_socket_writable() {
  writable_requested_ = false;
  send_blocked_ = false;
  ++write_counts_.writable_events;
  flush();
}

void Connection::flush() {
  if (ended_ || !socket_.valid() || phase_ == Phase::connecting || phase_ == Phase::resolving) {
    return;
  }
  if (send_blocked_) {
    // A send would fail again (a wasted system call per message the application sends while the
    // peer is slow): the writable event flushes.
    request_flush();
    return;
  }
  const IoEvent event(*this);
  std::size_t budget = std::max<std::size_t>(config_.write_budget, 1);
  while (budget > 0) {
    if (out_left_ == 0) {
      push_deferred_close();
      if (!refill()) break;
    }
    int error = 0;
    const long sent =
        socket_.send(out_parts_.data() + out_part_, out_parts_.size() - out_part_, error);
    ++write_counts_.sends;
    if (sent < 0) {
      fail(opened_ ? errc::connection_lost : errc::connect_refused,
           std::string("send failed: ") + std::strerror(error));
      return;
    }
    if (sent == 0) {
      ++write_counts_.full;
      send_blocked_ = true;
      request_flush();
      return;
    }
    std::size_t taken = static_cast<std::size_t>(sent);
    out_left_ -= taken;
    budget -= std::min(budget, taken);
    while (taken > 0) {
      std::string_view& part = out_parts_[out_part_];
      const std::size_t n = std::min(taken, part.size());
      part.remove_prefix(n);
      taken -= n;
      if (part.empty()) ++out_part_;
    }
    if (out_left_ == 0) {
      out_parts_.clear();
      out_part_ = 0;
      if (out_.size() > kKeptWriteBuffer) {
        // It grew to hold a burst of TLS output: give the memory back.
        out_.resize(kWriteBuffer);
        out_.shrink_to_fit();
      }
      if (!out_tags_.empty()) {
        std::vector<std::uint64_t> done;
        done.swap(out_tags_);
        for (std::uint64_t tag : done) handler_.on_sent(tag);
        if (ended_ || phase_ == Phase::ended) return;
        if (out_tags_.empty()) {
          done.clear();
          out_tags_.swap(done);  // its capacity serves the next refill
        }
      }
    }
  }
  // A close waiting for the last queued byte is still to write, even when the budget ran out with
  // that byte: the next writable event sends it.
  const bool idle = out_left_ == 0 && pre_open_.empty() && writer_.empty() && !deferred_close_ &&
                    (!tls_ || tls_->pending_ciphertext() == 0);
  if (!idle) {
    request_flush();
    return;
  }
  if (close_after_flush_ && (close_.clean() || fail_fast_)) close_socket_after_flush();
}

void Connection::write_from_out(std::size_t n) {
  out_parts_.clear();
  out_part_ = 0;
  out_left_ = n;
  if (n != 0) out_parts_.emplace_back(reinterpret_cast<const char*>(out_.data()), n);
}

bool Connection::refill() {
  write_from_out(0);
  // The CONNECT request and, without TLS, the upgrade request go out as they are.
  if (!pre_open_.empty()) {
    const std::size_t n = std::min(pre_open_.size(), out_.size());
    std::memcpy(out_.data(), pre_open_.data(), n);
    pre_open_.erase(0, n);
    write_from_out(n);
    return true;
  }
  const bool framing = phase_ == Phase::open || phase_ == Phase::closing;
  if (!tls_) {
    if (!framing) return false;
    if (out_.size() < kWriteBuffer && writer_.pending_bytes() > out_.size()) {
      out_.resize(kWriteBuffer);
    }
    const std::size_t n = writer_.fill(out_.data(), out_.size(), &out_tags_, &in_place_);
    // Frames from out_, with the payloads written in place between them.
    const char* frames = reinterpret_cast<const char*>(out_.data());
    std::size_t at = 0;
    for (const auto& payload : in_place_) {
      if (payload.at > at) out_parts_.emplace_back(frames + at, payload.at - at);
      out_parts_.push_back(payload.bytes);
      out_left_ += payload.at - at + payload.bytes.size();
      at = payload.at;
    }
    if (n > at) out_parts_.emplace_back(frames + at, n - at);
    out_left_ += n - at;
    in_place_.clear();
    return out_left_ > 0;
  }
  if (tls_->pending_ciphertext() == 0 && framing && !writer_.empty()) {
    if (scratch_.size() < kWriteBuffer) scratch_.resize(kWriteBuffer);
    // Leave room for record overhead so one fill's ciphertext fits in out_ most of the time.
    const std::size_t n = writer_.fill(scratch_.data(), kWriteBuffer - 2048, &out_tags_);
    if (n > 0 && tls_->write_plaintext(scratch_.data(), n) == TlsSession::Status::error) {
      fail(tls_->error_code(), tls_->error_message());
      return false;
    }
  }
  const std::size_t pending = tls_->pending_ciphertext();
  if (pending == 0) return false;
  if (out_.size() < pending) out_.resize(pending);
  write_from_out(tls_->read_ciphertext(out_.data(), out_.size()));
  return out_left_ > 0;
}

void Connection::request_flush() {
  if (!socket_.valid() || writable_requested_) return;
  writable_requested_ = true;
  socket_.request_writable();
}

void Connection::push_deferred_close() {
  if (!deferred_close_ || writer_.pending_messages() > 0 || !writer_.empty()) return;
  writer_.push_close(deferred_close_->first, deferred_close_->second);
  deferred_close_.reset();
}

void Connection::close_socket_after_flush() {
  if (tls_ && !tls_->peer_closed()) {
    // A clean TLS end: our close_notify goes out before the TCP close.
    tls_->close_notify();
    const std::size_t pending = tls_->pending_ciphertext();
    if (pending > 0) {
      std::vector<std::uint8_t> alert(pending);
      const std::size_t n = tls_->read_ciphertext(alert.data(), alert.size());
      int error = 0;
      socket_.send(alert.data(), n, error);  // best effort: the socket is about to close
    }
  }
  socket_.close();
}

// --- the end ------------------------------------------------------------------------------------

void Connection::fail_protocol(const protocol::DecodeError& error) {
  if (!error_) {
    error_ = error.code;
    error_message_ = error.message;
  }
  // Fail the WebSocket connection (RFC 6455 7.1.7): send our close code, then close.
  if (close_.start_local(error.close_code, truncate_reason(error.message))) {
    writer_.push_close(error.close_code, truncate_reason(error.message));
  }
  phase_ = Phase::closing;
  close_after_flush_ = true;
  // The stream is broken: close as soon as our close frame is out, without waiting for the peer's.
  fail_fast_ = true;
  close_timer_.start(std::min(config_.close_timeout, std::chrono::milliseconds(1000)),
                     [this] { socket_.close(); });
  flush();
}

void Connection::fail(errc code, std::string message) {
  if (ended_ || phase_ == Phase::ended) return;
  if (!error_) {
    error_ = code;
    error_message_ = std::move(message);
  }
  if (socket_.valid()) {
    socket_.close();  // on_socket_closed finishes
    if (!socket_.valid() || ended_) return;
    return;
  }
  finish(false);
}

void Connection::on_socket_closed(bool connected, const std::string& reason) {
  writable_requested_ = false;
  send_blocked_ = false;
  if (ended_ || phase_ == Phase::ended) return;
  if (!error_) {
    switch (phase_) {
      case Phase::connecting:
        if (!connected) {
          last_connect_error_ = reason;
          if (next_address_ < addresses_.size()) {
            connect_next();
            return;
          }
          const std::uint16_t port = config_.proxy ? config_.proxy->port : config_.url.port;
          if (config_.proxy) {
            error_ = errc::proxy_failed;
            error_message_ = "cannot connect to the proxy " + describe_proxy(*config_.proxy);
          } else {
            error_ = errc::connect_refused;
            error_message_ = "connection to " + format_host_port(address_, port) + " refused";
          }
          if (!reason.empty()) error_message_ += " (" + reason + ")";
        } else {
          error_ = errc::connect_refused;
          error_message_ = "connection reset during connect";
        }
        break;
      case Phase::proxy:
        error_ = errc::proxy_failed;
        error_message_ = "the proxy closed the connection before answering CONNECT";
        break;
      case Phase::tls:
        if (tls_ && tls_->on_eof() == TlsSession::Status::error && !tls_->error_message().empty()) {
          error_ = tls_->error_code();
          error_message_ = tls_->error_message();
        } else {
          error_ = errc::tls_handshake_failed;
          error_message_ = "the connection closed during the TLS handshake";
        }
        break;
      case Phase::upgrading:
        if (upgrade_) upgrade_->on_eof();
        error_ = errc::handshake_failed;
        error_message_ = upgrade_ && !upgrade_->error_message().empty()
                             ? upgrade_->error_message()
                             : "the connection closed before the handshake response was complete";
        break;
      case Phase::open:
      case Phase::closing:
        if (!close_.received() && !close_.sent()) {
          error_ = errc::connection_lost;
          error_message_ = "the connection closed without a close frame";
          // A TLS stream cut without close_notify may have been truncated by a third party.
          if (tls_ && tls_->on_eof() == TlsSession::Status::error) {
            error_message_ += " or TLS close_notify (truncated)";
          }
        }
        break;
      default:
        break;
    }
  }
  finish(connected);
}

void Connection::finish(bool /*connected_socket*/) {
  if (ended_) return;
  ended_ = true;
  const Phase last = phase_;
  phase_ = Phase::ended;
  connect_timer_.cancel();
  close_timer_.cancel();
  resolve_token_.reset();
  if (socket_.valid()) socket_.close();
  close_.on_transport_closed();

  ConnectionEnd end;
  end.opened = opened_;
  end.error = error_;
  end.message = error_message_;
  end.http_status = http_status_;
  end.http_headers = std::move(http_headers_);
  if (opened_) {
    end.code = close_.reported_code();
    end.reason = close_.reported_reason();
    end.closed_by_client = close_.initiated_locally();
    end.clean = close_.clean();
  } else {
    end.closed_by_client = close_.sent() && !error_;
  }
  (void)last;
  // Bytes in out_parts_ never fully reached the socket: their messages were not sent.
  end.unsent = std::move(out_tags_);
  out_tags_.clear();
  for (std::uint64_t tag : writer_.clear()) end.unsent.push_back(tag);
  write_from_out(0);
  handler_.on_end(std::move(end));
}

}  // namespace tether::transport
