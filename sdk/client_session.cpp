#include "client_session.hpp"

#include <algorithm>
#include <ctime>
#include <future>
#include <utility>

#include "core/backoff.hpp"
#include "protocol/handshake.hpp"
#include "protocol/random.hpp"
#include "transport/proxy.hpp"
#include "transport/url.hpp"

namespace tether::detail {

namespace {

core::TimePoint now() { return std::chrono::steady_clock::now(); }

core::CoreOptions core_options(const ClientOptions& options) {
  core::CoreOptions out;
  out.reconnect = options.reconnect;
  out.heartbeat = options.heartbeat;
  out.auth = options.auth.enabled() && options.auth.first_message;
  out.auth_timeout = options.auth.timeout;
  out.auth_refresh = static_cast<bool>(options.auth.token_provider);
  return out;
}

core::QueueLimits queue_limits(const QueueOptions& options) {
  core::QueueLimits out;
  out.max_messages = options.max_messages;
  out.max_bytes = options.max_bytes;
  out.overflow = options.overflow;
  return out;
}

// Retry-After: delay-seconds or an HTTP-date (RFC 9110 10.2.3).
std::optional<std::chrono::milliseconds> parse_retry_after(const std::string& value) {
  if (value.empty()) return std::nullopt;
  if (std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    if (value.size() > 9) return core::kMaxRetryAfter;
    return std::chrono::seconds(std::stol(value));
  }
  std::tm tm{};
  const char* end = strptime(value.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  if (!end) return std::nullopt;
  const std::time_t at = timegm(&tm);
  const std::time_t current = std::time(nullptr);
  return std::chrono::seconds(at > current ? at - current : 0);
}

Cause cause_from(const transport::ConnectionEnd& end) {
  Cause cause;
  cause.error = end.error;
  cause.message = end.message;
  cause.http_status = end.http_status;
  // Failing the connection (1002/1007/1009 sent first) is not the application's own close.
  cause.by_client = end.closed_by_client && !end.error;
  if (end.opened) {
    cause.close_code = end.code;
    cause.close_reason = end.reason;
  }
  for (const auto& header : end.http_headers) {
    if (protocol::iequals(header.name, "Retry-After")) cause.retry_after = parse_retry_after(header.value);
  }
  return cause;
}

}  // namespace

ClientSession::SeededRandom::SeededRandom() {
  std::uint64_t seed = 0;
  protocol::CsprngSource().fill(reinterpret_cast<std::uint8_t*>(&seed), sizeof seed);
  engine_.seed(seed);
}

double ClientSession::SeededRandom::uniform() {
  return std::generate_canonical<double, 53>(engine_);
}

ClientSession::ClientSession(Runtime::Impl& runtime, ClientOptions options)
    : runtime_(runtime),
      options_(std::move(options)),
      core_(core_options(options_), random_),
      deadline_timer_(runtime.loop),
      token_timer_(runtime.loop),
      queue_(queue_limits(options_.queue)),
      codec_(options_.codec ? options_.codec : envelope_codec()) {
  queue_.set_on_requeue(&ClientSession::remask);
}

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

  const AuthOptions& auth = options_.auth;
  if (auth.enabled() && auth.header.empty() && auth.query_parameter.empty() &&
      !auth.first_message) {
    error.code = errc::invalid_argument;
    error.message = "auth: a token is set but no placement (header, query_parameter, first_message)";
    return error;
  }
  if (!auth.enabled() && (!auth.header.empty() || !auth.query_parameter.empty() ||
                          auth.first_message)) {
    error.code = errc::invalid_argument;
    error.message = "auth: a placement is set but no token or token_provider";
    return error;
  }
  if (options_.queue.max_messages == 0 || options_.queue.max_bytes == 0) {
    error.code = errc::invalid_argument;
    error.message = "queue: max_messages and max_bytes must be at least 1";
    return error;
  }

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
    if (!self->callbacks_live()) return;
    change(self->callbacks_);
    self->message_callback_.reset();  // taken again from callbacks_ by the next message
  });
}

// --- callbacks where the mode says ---------------------------------------------------------------

void ClientSession::dispatch(std::function<void()> callback) {
  // After detach() nothing reaches the application, not even the executor itself.
  if (!callbacks_live()) return;
  if (options_.callback_mode == CallbackMode::loop_thread) {
    callback();
    return;
  }
  if (options_.callback_mode == CallbackMode::executor && !options_.executor) return;
  bool schedule = false;
  {
    std::lock_guard<std::mutex> lock(callbacks_queue_mutex_);
    QueuedCall call;
    call.task = std::move(callback);
    queued_calls_.calls.push_back(std::move(call));
    schedule = options_.callback_mode == CallbackMode::executor && !drain_scheduled_;
    drain_scheduled_ = drain_scheduled_ || schedule;
  }
  // One executor task runs every callback queued until it starts (in order, one at a time).
  if (schedule) options_.executor([self = shared_from_this()] { self->run_queued_calls(); });
}

void ClientSession::dispatch_message(MessageKind kind, std::string_view payload) {
  if (!callbacks_live()) return;
  if (options_.callback_mode == CallbackMode::executor && !options_.executor) return;
  if (!message_callback_) message_callback_ = std::make_shared<MessageCallback>(callbacks_.message);
  bool schedule = false;
  {
    std::lock_guard<std::mutex> lock(callbacks_queue_mutex_);
    CallBatch& batch = queued_calls_;
    if (batch.callbacks.empty() || batch.callbacks.back() != message_callback_) {
      batch.callbacks.push_back(message_callback_);
    }
    QueuedCall call;
    call.message = batch.callbacks.back().get();
    call.kind = kind;
    call.at = batch.bytes.size();
    call.size = payload.size();
    batch.bytes.append(payload.data(), payload.size());
    batch.calls.push_back(std::move(call));
    schedule = options_.callback_mode == CallbackMode::executor && !drain_scheduled_;
    drain_scheduled_ = drain_scheduled_ || schedule;
  }
  if (schedule) options_.executor([self = shared_from_this()] { self->run_queued_calls(); });
}

std::size_t ClientSession::run_queued_calls() {
  CallBatch batch;
  {
    std::lock_guard<std::mutex> lock(callbacks_queue_mutex_);
    batch.swap(queued_calls_);
    queued_calls_.swap(spare_calls_);  // the next batch reuses a drained one's buffers
    drain_scheduled_ = false;
  }
  std::size_t ran = 0;
  for (QueuedCall& call : batch.calls) {
    std::lock_guard<std::recursive_mutex> lock(callback_mutex_);
    if (!callbacks_live()) break;
    if (call.message != nullptr) {
      Message message;
      message.kind = call.kind;
      message.data = std::string_view(batch.bytes).substr(call.at, call.size);
      (*call.message)(message);
    } else {
      call.task();
    }
    ++ran;
  }
  batch.clear();
  {
    // A call made from inside a callback above found the spare taken: keep the larger one.
    std::lock_guard<std::mutex> lock(callbacks_queue_mutex_);
    if (batch.calls.capacity() > spare_calls_.calls.capacity()) spare_calls_.swap(batch);
  }
  return ran;
}

std::size_t ClientSession::poll() {
  // A callback may destroy the client: the session must outlive this call.
  auto keep = shared_from_this();
  std::size_t ran = 0;
  if (!runtime_.loop.own_thread()) ran += runtime_.loop.poll();
  return ran + run_queued_calls();
}

// --- control ------------------------------------------------------------------------------------

void ClientSession::start() {
  if (started_.exchange(true)) return;
  runtime_.loop.post([self = shared_from_this()] { self->do_start(); });
}

void ClientSession::do_start() {
  if (core_.state() != State::idle) return;
  self_ = shared_from_this();
  runtime_.live.insert(this);
  const auto started = now();
  {
    std::lock_guard<std::mutex> lock(stats_mutex_);
    state_since_ = started;
  }
  core_.start(started);
  apply_effects();
}

void ClientSession::ping(std::string_view payload) {
  runtime_.loop.post([self = shared_from_this(), payload = std::string(payload)] {
    if (self->connection_) self->connection_->ping(payload);
  });
}

void ClientSession::reconnect_now() {
  runtime_.loop.post([self = shared_from_this()] {
    self->core_.reconnect_now(now());
    self->apply_effects();
  });
}

void ClientSession::detach() {
  auto& loop = runtime_.loop;
  {
    // Waits for a queued callback running on another thread (poll and executor modes).
    std::lock_guard<std::recursive_mutex> lock(callback_mutex_);
    detached_ = true;
  }
  auto body = [self = shared_from_this()] {
    // A callback may be running (the client destroyed from inside it): its std::function must
    // outlive the call, so the callbacks are released on a later turn of the loop.
    self->runtime_.loop.post([self] {
      self->callbacks_ = Callbacks{};
      self->message_callback_.reset();
    });
    self->closing_ = true;
    // Whatever waits goes out ahead of the close frame when the connection is open.
    if (self->core_.state() == State::open) self->flush_queue(static_cast<std::size_t>(-1));
    self->core_.close(now(), 1000, "");
    self->apply_effects();
  };
  if (loop.on_loop_thread() || !loop.own_thread()) {
    body();
    return;
  }
  // Once this task has run on the loop thread, no loop-thread callback is running or will run.
  std::promise<void> done;
  auto finished = done.get_future();
  loop.post([&body, &done] {
    body();
    done.set_value();
  });
  finished.wait();
}

void ClientSession::shutdown() {
  shutting_down_ = true;
  core_.close(now(), 1001, "going away");
  apply_effects();
}

void ClientSession::force_end() {
  if (connection_) connection_->abort(errc::connection_lost, "the runtime stopped");
  if (!ended()) {
    core_.close(now(), 1001, "going away");
    apply_effects();
  }
  if (!ended() && connection_) {
    // The close handshake cannot finish any more: end the attempt without it.
    connection_->abort(errc::connection_lost, "the runtime stopped");
  }
}

Stats ClientSession::stats() const {
  std::lock_guard<std::mutex> lock(stats_mutex_);
  Stats out = stats_;
  out.time_in_state = std::chrono::duration_cast<std::chrono::milliseconds>(now() - state_since_);
  out.messages_received = messages_received_.load(std::memory_order_relaxed);
  out.bytes_received = bytes_received_.load(std::memory_order_relaxed);
  std::lock_guard<std::mutex> queue_lock(queue_mutex_);
  out.messages_accepted = queue_.accepted();
  out.messages_sent = queue_.sent();
  out.messages_dropped = queue_.dropped();
  out.messages_queued = queue_.queued();
  out.messages_rejected = queue_.rejected();
  out.requests_pending = requests_.pending();
  out.responses_unmatched = requests_.unmatched();
  return out;
}

// --- the core's effects --------------------------------------------------------------------------

void ClientSession::apply_effects() {
  if (applying_) return;  // an effect caused another input: the outer loop picks its effects up
  applying_ = true;
  for (;;) {
    std::vector<core::Effect> effects;
    effects.swap(pending_effects_);
    for (auto& e : core_.take_effects()) effects.push_back(std::move(e));
    if (effects.empty()) break;
    for (auto& e : effects) {
      if (auto* open = std::get_if<core::effect::OpenTransport>(&e)) {
        release_connection();
        begin_attempt(open->refresh_token);
      } else if (auto* close = std::get_if<core::effect::CloseTransport>(&e)) {
        if (connection_) {
          connection_->close(close->code, close->reason);
        } else if (waiting_for_token_) {
          transport::ConnectionEnd end;
          end.closed_by_client = true;
          waiting_for_token_ = false;
          token_timer_.cancel();
          on_end(std::move(end));
        }
      } else if (auto* abort = std::get_if<core::effect::AbortTransport>(&e)) {
        if (connection_) {
          connection_->abort(abort->error, abort->message);
        } else if (waiting_for_token_) {
          fail_attempt(abort->error, abort->message);
        }
      } else if (std::holds_alternative<core::effect::SendPing>(e)) {
        if (connection_ && connection_->is_open()) {
          if (options_.heartbeat.app_ping.empty()) {
            connection_->ping("");
          } else {
            connection_->send(protocol::Opcode::text, options_.heartbeat.app_ping, 0);
          }
        }
      } else if (auto* change = std::get_if<core::effect::StateChange>(&e)) {
        state_.store(change->to, std::memory_order_release);
        // Every send from here on sees the new state: report the queued events recorded before
        // it, so no `queued` event follows the change to open.
        if (change->to == State::open) report_queue_events();
        {
          std::lock_guard<std::mutex> lock(stats_mutex_);
          state_since_ = core_.stats().state_since;
          stats_.attempts = core_.stats().attempts;
          stats_.reconnects = core_.stats().reconnects;
          stats_.last_rtt = core_.stats().last_rtt;
        }
        const bool terminal = change->to == State::closed || change->to == State::failed;
        // What was still queued or pending ends first: the change to closed or failed is the
        // last event, and is_finished() is already true when it is reported.
        if (terminal) end_everything();
        if (callbacks_.state) {
          auto callback = callbacks_.state;
          dispatch([callback, from = change->from, to = change->to, cause = change->cause] {
            callback(from, to, cause);
          });
        }
        if (change->to == State::authenticating) send_auth_request();
        if (change->to == State::open) on_ready();
        if (terminal) retire();
      } else if (auto* scheduled = std::get_if<core::effect::ReconnectScheduled>(&e)) {
        if (callbacks_.reconnect_scheduled) {
          auto callback = callbacks_.reconnect_scheduled;
          dispatch([callback, attempt = scheduled->attempt, delay = scheduled->delay] {
            callback(attempt, delay);
          });
        }
      }
    }
  }
  applying_ = false;
  arm_deadline();
}

void ClientSession::arm_deadline() {
  if (ended()) {
    deadline_timer_.cancel();
    return;
  }
  auto deadline = core_.next_deadline();
  {
    std::lock_guard<std::mutex> lock(queue_mutex_);
    for (const auto& expiry : {queue_.next_expiry(), requests_.next_deadline()}) {
      if (expiry && (!deadline || *expiry < *deadline)) deadline = expiry;
    }
  }
  if (!deadline) {
    deadline_timer_.cancel();
    return;
  }
  const auto delay = std::chrono::duration_cast<std::chrono::microseconds>(*deadline - now());
  deadline_timer_.start(std::max(delay, std::chrono::microseconds(0)), [this] {
    const auto at = now();
    std::vector<core::EndedRequest> timed_out;
    {
      std::lock_guard<std::mutex> lock(queue_mutex_);
      apply_sent_locked();
      timed_out = requests_.expire(at);
      queue_.expire(at);
      buffered_.store(queue_.bytes(), std::memory_order_release);
    }
    deliver_ended(std::move(timed_out));
    core_.on_deadline(at);
    apply_effects();
    report_queue_events();
    maybe_close();
  });
}

void ClientSession::release_connection() {
  if (!connection_) return;
  // It may be inside its own callback: destroy it on the next turn of the loop.
  std::shared_ptr<transport::Connection> retired(std::move(connection_));
  runtime_.loop.post([retired] {});
}

void ClientSession::end_everything() {
  deadline_timer_.cancel();
  token_timer_.cancel();
  waiting_for_token_ = false;
  drop_everything();
  {
    std::vector<core::EndedRequest> ended;
    {
      std::lock_guard<std::mutex> lock(queue_mutex_);
      ended = requests_.fail_all(errc::connection_lost);
    }
    deliver_ended(std::move(ended));
  }
  finished_.store(true, std::memory_order_release);
}

void ClientSession::retire() {
  runtime_.live.erase(this);
  if (self_) runtime_.loop.post([self = std::move(self_)] {});
}

// --- connection events --------------------------------------------------------------------------

void ClientSession::on_open(const std::string& subprotocol) {
  // Messages queued while connecting are reported before the open that follows them.
  report_queue_events();
  if (callbacks_.open) {
    auto callback = callbacks_.open;
    dispatch([callback, info = OpenInfo{subprotocol}] { callback(info); });
  }
  core_.on_transport_open(now());
  apply_effects();
}

void ClientSession::on_activity() {
  core_.on_frame(io_now());
}

core::TimePoint ClientSession::io_now() {
  return connection_ ? connection_->io_time() : now();
}

void ClientSession::on_read_progress() {
  // What the callbacks of this read sent so far goes out now (the posted pump then finds less
  // to do): the server answers it while the rest of the read is decoded.
  if (kick_pending_.load(std::memory_order_acquire)) pump();
}

void ClientSession::on_message(protocol::Opcode op, std::string_view payload) {
  if (op == protocol::Opcode::text && !options_.heartbeat.app_pong.empty() &&
      payload == options_.heartbeat.app_pong) {
    core_.on_pong(now());
    return;
  }
  messages_received_.store(messages_received_.load(std::memory_order_relaxed) + 1,
                           std::memory_order_relaxed);
  bytes_received_.store(bytes_received_.load(std::memory_order_relaxed) + payload.size(),
                        std::memory_order_relaxed);
  if (op == protocol::Opcode::text && needs_inspection() && inspect_inbound(payload)) return;
  if (!callbacks_.message) return;
  const MessageKind kind = op == protocol::Opcode::text ? MessageKind::text : MessageKind::binary;
  if (options_.callback_mode == CallbackMode::loop_thread) {
    if (!callbacks_live()) return;
    Message message;
    message.kind = kind;
    message.data = payload;
    callbacks_.message(message);
    return;
  }
  dispatch_message(kind, payload);
}

void ClientSession::on_pong(std::string_view /*payload*/) {
  core_.on_pong(now());
  std::lock_guard<std::mutex> lock(stats_mutex_);
  stats_.last_rtt = core_.stats().last_rtt;
}

void ClientSession::on_sent(std::uint64_t tag) {
  if (tag == 0) return;  // tether's own messages (auth, subscriptions, the application ping)
  if (pending_requests_.load(std::memory_order_relaxed) > 0) {
    // A request's write time is taken now, before its response can arrive.
    std::lock_guard<std::mutex> lock(queue_mutex_);
    apply_sent_locked();
    queue_.on_sent(tag);
    requests_.on_written(tag, io_now());
    buffered_.store(queue_.bytes(), std::memory_order_release);
  } else {
    // Handed to the queue in one batch by the pump this kick posts (or whatever reads the
    // queue on this thread first).
    sent_tags_.push_back(tag);
  }
  kick();
}

void ClientSession::report_error(errc code, std::string message) {
  if (!callbacks_.error) return;
  Error error;
  error.code = code;
  error.message = std::move(message);
  auto callback = callbacks_.error;
  dispatch([callback, error = std::move(error)] { callback(error); });
}

bool ClientSession::follow_redirect(const transport::ConnectionEnd& end) {
  const int status = end.http_status;
  if (!options_.follow_redirects || end.opened || end.error != errc::handshake_rejected ||
      !(status == 301 || status == 302 || status == 303 || status == 307 || status == 308) ||
      redirects_ >= options_.max_redirects || closing_.load()) {
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
  // The ending connection is inside its own callback: replace it on the next turn. The core
  // still sees one attempt in progress.
  release_connection();
  runtime_.loop.post([self = shared_from_this()] {
    if (self->state() != State::connecting) return;
    self->open_connection(self->token_);
  });
  return true;
}

void ClientSession::on_end(transport::ConnectionEnd end) {
  if (follow_redirect(end)) return;
  // Messages handed to this connection and not taken by its socket go back to the queue, to go
  // out again after the reconnect (or be dropped if the client ends now).
  requeue_unsent(end.unsent);
  // Messages this connection's socket took are reported sent before its end (event order).
  report_queue_events();
  auth_id_.clear();
  pending_subscriptions_.clear();
  if (end.opened) {
    std::vector<core::EndedRequest> lost;
    {
      std::lock_guard<std::mutex> lock(queue_mutex_);
      lost = requests_.on_connection_lost();
    }
    deliver_ended(std::move(lost));
  }
  // The core decides first, so the close event can say whether a reconnect follows; its effects
  // are carried out after the error and close callbacks.
  const Cause cause = cause_from(end);
  const std::optional<errc> core_reason = core_.ending_error();
  if (end.opened) {
    core_.on_transport_closed(now(), cause);
  } else {
    core_.on_transport_failed(now(), cause);
  }
  auto effects = core_.take_effects();
  bool reconnect = false;
  for (const auto& e : effects) {
    if (auto* change = std::get_if<core::effect::StateChange>(&e)) {
      reconnect = reconnect || change->to == State::waiting;
    }
  }
  const bool client_closed_attempt = end.closed_by_client && !end.opened && closing_.load();
  // Rejected credentials are reported as auth_rejected, whichever way the server said it.
  std::optional<errc> reported = end.error;
  std::string reported_message = end.message;
  if (reported == errc::handshake_rejected && (end.http_status == 401 || end.http_status == 403)) {
    reported = errc::auth_rejected;
  }
  if (!reported && end.opened && !end.closed_by_client && (end.code == 4001 || end.code == 4003)) {
    reported = errc::auth_rejected;
    reported_message = "the server closed with " + std::to_string(end.code) +
                       (end.reason.empty() ? "" : " " + end.reason);
  }
  if (!reported && core_reason == errc::auth_timeout) {
    reported = errc::auth_timeout;
    reported_message = "no auth response within " +
                       std::to_string(options_.auth.timeout.count()) + " ms";
  }
  if (reported && !client_closed_attempt && callbacks_.error) {
    Error error;
    error.code = *reported;
    error.message = reported_message;
    error.http_status = end.http_status;
    for (auto& header : end.http_headers) error.http_headers.emplace_back(header.name, header.value);
    auto callback = callbacks_.error;
    dispatch([callback, error = std::move(error)] { callback(error); });
  }
  if (end.opened && callbacks_.close) {
    CloseInfo info;
    info.code = end.code;
    info.reason = end.reason;
    info.by_client = end.closed_by_client;
    info.clean = end.clean;
    info.reconnect = reconnect;
    auto callback = callbacks_.close;
    dispatch([callback, info = std::move(info)] { callback(info); });
  }
  release_connection();
  for (auto& e : effects) pending_effects_.push_back(std::move(e));
  apply_effects();
}

}  // namespace tether::detail
