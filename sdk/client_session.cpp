#include "client_session.hpp"

#include <future>
#include <utility>

#include "protocol/handshake.hpp"
#include "transport/proxy.hpp"
#include "transport/url.hpp"

namespace tether::detail {

ClientSession::ClientSession(Runtime::Impl& runtime, ClientOptions options)
    : runtime_(runtime), options_(std::move(options)) {}

ClientSession::~ClientSession() = default;

Error ClientSession::prepare() {
  Error error;
  std::string message;
  if (!transport::parse_ws_url(options_.url, config_.url, message)) {
    error.code = errc::invalid_url;
    error.message = message;
    return error;
  }
  for (const auto& [name, value] : options_.headers) config_.headers.push_back({name, value});
  config_.subprotocols = options_.subprotocols;
  config_.origin = options_.origin;
  config_.connect_timeout = options_.connect_timeout;
  config_.close_timeout = options_.close_timeout;
  config_.max_message = options_.max_message;
  config_.fragment_size = options_.fragment_size;

  {
    // Header names, values and subprotocols go into the request verbatim: refuse what could
    // break or smuggle into it before anything is attempted.
    protocol::HandshakeRequest request;
    request.host = config_.url.host;
    request.port = config_.url.port;
    request.secure = config_.url.secure;
    request.target = config_.url.target;
    request.headers = config_.headers;
    request.subprotocols = config_.subprotocols;
    request.origin = config_.origin;
    if (protocol::validate_handshake_request(request, &message)) {
      error.code = errc::invalid_argument;
      error.message = message;
      return error;
    }
  }

  if (options_.proxy == "direct") {
    config_.proxy.reset();
  } else if (!options_.proxy.empty()) {
    transport::ProxyConfig proxy;
    if (!transport::parse_proxy_url(options_.proxy, proxy, message)) {
      error.code = errc::invalid_argument;
      error.message = "proxy: " + message;
      return error;
    }
    config_.proxy = proxy;
  } else {
    config_.proxy = transport::proxy_from_environment(
        config_.url, transport::process_environment, &message);
    if (!message.empty()) {
      error.code = errc::invalid_argument;
      error.message = message;
      return error;
    }
  }

  if (config_.url.secure) {
    transport::TlsOptions tls;
    tls.ca_file = options_.tls.ca_file;
    tls.client_cert_file = options_.tls.client_cert_file;
    tls.client_key_file = options_.tls.client_key_file;
    tls.insecure = options_.tls.insecure;
    errc code{};
    config_.tls = runtime_.tls_context(tls, code, message);
    if (!config_.tls) {
      error.code = code == errc{} ? errc::invalid_argument : code;
      error.message = message;
      return error;
    }
  }
  return error;
}

void ClientSession::set_callbacks(const std::function<void(Callbacks&)>& change) {
  if (!started_.load()) {
    change(callbacks_);
    return;
  }
  runtime_.loop.post([self = shared_from_this(), change] {
    if (!self->detached_) change(self->callbacks_);
  });
}

void ClientSession::start() {
  if (started_.exchange(true)) return;
  runtime_.loop.post([self = shared_from_this()] { self->do_start(); });
}

void ClientSession::do_start() {
  if (close_requested_ || detached_) {
    finished_ = true;
    return;
  }
  self_ = shared_from_this();
  runtime_.live.insert(this);
  connection_ = std::make_unique<transport::Connection>(runtime_.loop, config_, *this);
  connection_->start();
}

SendResult ClientSession::send(MessageKind kind, std::string_view data) {
  SendResult result;
  if (closing_.load(std::memory_order_acquire) || finished_.load(std::memory_order_acquire)) {
    result.error = errc::closed;
    return result;
  }
  result.id = next_id_.fetch_add(1, std::memory_order_relaxed);
  buffered_.fetch_add(data.size(), std::memory_order_relaxed);
  Outgoing message{result.id,
                   kind == MessageKind::text ? protocol::Opcode::text : protocol::Opcode::binary,
                   std::string(data)};
  runtime_.loop.post([self = shared_from_this(), message = std::move(message)]() mutable {
    self->do_send(std::move(message));
  });
  return result;
}

void ClientSession::do_send(Outgoing message) {
  if (connection_ && connection_->is_open() && waiting_.empty()) {
    in_flight_.emplace_back(message.id, message.payload.size());
    connection_->send(message.op, std::move(message.payload), message.id);
    return;
  }
  if (finished_) {
    buffered_.fetch_sub(message.payload.size(), std::memory_order_relaxed);
    return;
  }
  waiting_.push_back(std::move(message));
}

void ClientSession::ping(std::string_view payload) {
  runtime_.loop.post([self = shared_from_this(), payload = std::string(payload)] {
    if (self->connection_) self->connection_->ping(payload);
  });
}

void ClientSession::close(std::uint16_t code, std::string_view reason) {
  closing_ = true;
  runtime_.loop.post([self = shared_from_this(), code, reason = std::string(reason)] {
    self->do_close(code, reason);
  });
}

void ClientSession::do_close(std::uint16_t code, std::string reason) {
  if (close_requested_) return;
  close_requested_ = true;
  close_code_ = code;
  close_reason_ = std::move(reason);
  if (!connection_) {
    finished_ = true;
    return;
  }
  // Messages accepted before close() go out first (they are ahead of the close frame); those
  // still waiting for the connection to open are sent once it does, then the close follows.
  if (connection_->is_open() || connection_->phase() == transport::Connection::Phase::closing) {
    connection_->close(close_code_, close_reason_);
  } else if (waiting_.empty()) {
    connection_->close(close_code_, close_reason_);
  }
}

void ClientSession::detach() {
  auto& loop = runtime_.loop;
  auto body = [self = shared_from_this()] {
    self->detached_ = true;
    // A callback may be running (the client destroyed from inside it): its std::function must
    // outlive the call, so the callbacks are released on a later turn of the loop.
    self->runtime_.loop.post([self] { self->callbacks_ = Callbacks{}; });
    if (!self->close_requested_) self->do_close(1000, "");
  };
  if (loop.on_loop_thread() || !loop.own_thread()) {
    body();
    return;
  }
  std::promise<void> done;
  auto finished = done.get_future();
  loop.post([&body, &done] {
    body();
    done.set_value();
  });
  finished.wait();
}

void ClientSession::shutdown() {
  if (!close_requested_) do_close(1001, "going away");
}

void ClientSession::force_end() {
  if (connection_) connection_->abort(errc::connection_lost, "the runtime stopped");
}

// --- connection events -------------------------------------------------------------------------

void ClientSession::on_open(const std::string& subprotocol) {
  open_.store(true, std::memory_order_release);
  if (!detached_ && callbacks_.open) callbacks_.open(OpenInfo{subprotocol});
  // What waited for the connection goes out now, in order.
  while (!waiting_.empty() && connection_ && connection_->is_open()) {
    Outgoing message = std::move(waiting_.front());
    waiting_.pop_front();
    in_flight_.emplace_back(message.id, message.payload.size());
    connection_->send(message.op, std::move(message.payload), message.id);
  }
  if (close_requested_ && connection_ && connection_->is_open()) {
    connection_->close(close_code_, close_reason_);
  }
}

void ClientSession::on_message(protocol::Opcode op, std::string_view payload) {
  if (detached_ || !callbacks_.message) return;
  Message message;
  message.kind = op == protocol::Opcode::text ? MessageKind::text : MessageKind::binary;
  message.data = payload;
  callbacks_.message(message);
}

void ClientSession::on_pong(std::string_view /*payload*/) {}

void ClientSession::on_sent(std::uint64_t tag) {
  // Messages complete in the order they were handed over.
  while (!in_flight_.empty()) {
    auto [id, bytes] = in_flight_.front();
    in_flight_.pop_front();
    buffered_.fetch_sub(bytes, std::memory_order_relaxed);
    if (id == tag) {
      if (!detached_ && callbacks_.sent) callbacks_.sent(id, bytes);
      break;
    }
  }
}

void ClientSession::report_error(errc code, std::string message, int http_status,
                                 std::vector<std::pair<std::string, std::string>> headers) {
  if (detached_ || !callbacks_.error) return;
  Error error;
  error.code = code;
  error.message = std::move(message);
  error.http_status = http_status;
  error.http_headers = std::move(headers);
  callbacks_.error(error);
}

bool ClientSession::follow_redirect(const transport::ConnectionEnd& end) {
  const int status = end.http_status;
  if (!options_.follow_redirects || end.opened || end.error != errc::handshake_rejected ||
      !(status == 301 || status == 302 || status == 303 || status == 307 || status == 308) ||
      redirects_ >= options_.max_redirects || close_requested_) {
    return false;
  }
  std::string location;
  for (const auto& header : end.http_headers) {
    if (protocol::iequals(header.name, "Location")) location = header.value;
  }
  if (location.empty()) return false;
  // A path on the same server, or an absolute URL (http and https map to ws and wss).
  if (location[0] == '/') {
    location = std::string(config_.url.secure ? "wss://" : "ws://") + config_.url.authority() +
               location;
  } else if (location.rfind("http://", 0) == 0) {
    location = "ws://" + location.substr(7);
  } else if (location.rfind("https://", 0) == 0) {
    location = "wss://" + location.substr(8);
  }
  transport::Url next;
  std::string message;
  if (!transport::parse_ws_url(location, next, message)) return false;
  if (next.secure && !config_.tls) return false;  // no TLS context prepared for a ws:// client
  ++redirects_;
  config_.url = next;
  // The ending connection is inside its own callback: replace it on the next turn.
  runtime_.loop.post([self = shared_from_this()] {
    if (self->close_requested_ || self->detached_) {
      self->connection_.reset();
      self->finished_ = true;
      self->runtime_.live.erase(self.get());
      self->self_.reset();
      return;
    }
    self->connection_ =
        std::make_unique<transport::Connection>(self->runtime_.loop, self->config_, *self);
    self->connection_->start();
  });
  return true;
}

void ClientSession::on_end(transport::ConnectionEnd end) {
  if (follow_redirect(end)) return;
  open_.store(false, std::memory_order_release);
  if (end.error && !(end.closed_by_client && !end.opened && close_requested_)) {
    std::vector<std::pair<std::string, std::string>> headers;
    for (auto& header : end.http_headers) headers.emplace_back(header.name, header.value);
    report_error(*end.error, end.message, end.http_status, std::move(headers));
  }
  if (end.opened && !detached_ && callbacks_.close) {
    CloseInfo info;
    info.code = end.code;
    info.reason = end.reason;
    info.by_client = end.closed_by_client;
    info.clean = end.clean;
    callbacks_.close(info);
  }
  for (auto& message : waiting_) buffered_.fetch_sub(message.payload.size(), std::memory_order_relaxed);
  waiting_.clear();
  for (auto& [id, bytes] : in_flight_) buffered_.fetch_sub(bytes, std::memory_order_relaxed);
  in_flight_.clear();
  finished_.store(true, std::memory_order_release);
  runtime_.live.erase(this);
  // The connection is inside its own callback: release it on the next turn of the loop.
  runtime_.loop.post([self = std::move(self_)]() mutable {
    self->connection_.reset();
    self.reset();
  });
}

}  // namespace tether::detail
