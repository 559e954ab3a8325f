// Typed messages and requests of a ClientSession: encoding through the codec, requests carried by
// the outbound queue and tracked until their result, and the decoding of inbound text into
// responses (ours: auth, subscriptions, requests) and typed messages.

#include <cxxabi.h>

#include <cstdlib>
#include <memory>
#include <utility>

#include "client_session.hpp"
#include "codec/inspect.hpp"

namespace tether {

std::string detail::demangle(const char* mangled) {
  int status = 0;
  std::unique_ptr<char, void (*)(void*)> name(abi::__cxa_demangle(mangled, nullptr, nullptr, &status),
                                              std::free);
  return status == 0 && name ? std::string(name.get()) : std::string(mangled);
}

}  // namespace tether

namespace tether::detail {

namespace {

core::TimePoint now() { return std::chrono::steady_clock::now(); }

// Buffers kept by a thread between requests or responses: no larger than this.
constexpr std::size_t kKeptBuffer = 64 * 1024;

// Gives back what a kept object holds beyond its reusable buffers once a loan ends.
void tidy(std::string& text) {
  if (text.capacity() > kKeptBuffer) text = std::string();
}
void tidy(Response& response) {
  response.remote.reset();
  response.payload = Json();
  tidy(response.text);
}

// An object the thread keeps between calls (its buffers reused), lent for the duration of one:
// a nested call (from inside a callback) finds it lent and uses one of its own.
template <typename T>
class Loan {
 public:
  struct Kept {
    T value;
    bool lent = false;
  };

  explicit Loan(Kept& kept) : kept_(kept.lent ? nullptr : &kept) {
    if (kept_ != nullptr) kept_->lent = true;
  }
  ~Loan() {
    if (kept_ == nullptr) return;
    tidy(kept_->value);
    kept_->lent = false;
  }
  Loan(const Loan&) = delete;
  Loan& operator=(const Loan&) = delete;

  T& get() { return kept_ != nullptr ? kept_->value : own_; }

 private:
  Kept* kept_;
  T own_;
};

// The text of a request being encoded, and the response handed to callbacks on the loop thread.
Loan<std::string>::Kept& kept_request_text() {
  static thread_local Loan<std::string>::Kept kept;
  return kept;
}
Loan<Response>::Kept& kept_response() {
  static thread_local Loan<Response>::Kept kept;
  return kept;
}

// The result of a request answered by `item` (its id, error and payload moved out) and read at
// `received_at`, every field of `response` set.
void fill_response(Response& response, Inbound& item, bool failed, std::string_view text,
                   const core::TrackedRequest& tracked, core::TimePoint received_at) {
  response.id = std::move(item.id);
  response.error = errc{};
  response.message.clear();
  if (failed) {
    response.remote = std::move(item.error);
  } else {
    response.remote.reset();
  }
  response.payload = std::move(item.payload);
  response.text.assign(text.data(), text.size());
  response.rtt.reset();
  if (tracked.written_at) {
    response.rtt =
        std::chrono::duration_cast<std::chrono::microseconds>(received_at - *tracked.written_at);
  }
}

Response response_of(Inbound& item, bool failed, std::string_view text,
                     const core::TrackedRequest& tracked, core::TimePoint received_at) {
  Response response;
  fill_response(response, item, failed, text, tracked, received_at);
  return response;
}

std::string describe_failure(errc error) {
  switch (error) {
    case errc::timeout:
      return "no response within the request timeout";
    case errc::cancelled:
      return "cancelled";
    case errc::connection_lost:
      return "the connection ended before the response";
    case errc::queue_full:
      return "the outbound queue is full";
    default:
      return std::string(to_string(error));
  }
}

}  // namespace

// --- sending ------------------------------------------------------------------------------------

SendResult ClientSession::send_message(std::string_view type, const Json& payload,
                                       const SendOptions& options) {
  Loan<std::string> encoded(kept_request_text());
  std::string error;
  std::string& text = encoded.get();
  if (!codec_->encode_message(type, payload, text, error)) {
    SendResult result;
    result.error = errc::encode_error;
    return result;
  }
  return send(MessageKind::text, text, options);
}

std::string ClientSession::request(std::string_view type, const Json& payload,
                                   std::function<void(const Response&)> on_result,
                                   const RequestOptions& options) {
  const std::string id = next_request_id();
  auto fail_now = [&](errc code, std::string message) {
    Response response;
    response.id = id;
    response.error = code;
    response.message = std::move(message);
    // Results always arrive where callbacks run, never inside request().
    runtime_.loop.post([self = shared_from_this(), on_result = std::move(on_result),
                        response = std::move(response)]() mutable {
      self->deliver(std::move(on_result), std::move(response));
    });
    return std::string();
  };
  if (closing_.load(std::memory_order_acquire) || ended()) {
    return fail_now(errc::closed, "the client is closed");
  }
  // Encoded into the thread's kept buffer; a small request is then copied into the queue's
  // blocks: no allocation per request once warm.
  Loan<std::string> encoded(kept_request_text());
  std::string& text = encoded.get();
  std::string error;
  if (!codec_->encode_request(type, id, payload, text, error)) {
    return fail_now(errc::encode_error, error);
  }
  // On the loop thread, inside a socket event (a request sent from a response's callback), the
  // event's time serves: one clock read for all the requests it sends.
  const auto at = runtime_.loop.on_loop_thread() ? io_now() : now();
  std::optional<core::TimePoint> expires_at;
  if (options.timeout.count() > 0) expires_at = at + options.timeout;
  // A small one goes into the queue by copy, into the queue's blocks (as send() does); a larger
  // one is handed over as it is.
  const bool small = text.size() <= core::OutboundQueue::kHeldMax;
  core::Outgoing large;
  if (!small) {
    large.expires_at = expires_at;
    if (options.retry_on_reconnect) {
      large.payload = text;
    } else {
      large.payload = std::move(text);
    }
  }
  {
    std::lock_guard<std::mutex> lock(queue_mutex_);
    const MessageId message_id = next_id_++;
    const bool ready = state() == State::open;
    core::PushResult pushed;
    if (small) {
      pushed = queue_.push(message_id, false, text, expires_at, at, ready);
    } else {
      large.id = message_id;
      pushed = queue_.push(std::move(large), at, ready);
    }
    buffered_.store(queue_.bytes(), std::memory_order_release);
    if (pushed.accepted()) {
      core::TrackedRequest tracked;
      tracked.id = id;
      tracked.message = message_id;
      if (options.retry_on_reconnect) {
        // The tracker keeps the text to send it again (a large one was copied for the queue).
        if (small) {
          tracked.text = text;
        } else {
          tracked.text = std::move(text);
        }
      }
      tracked.on_result = std::move(on_result);
      tracked.deadline = expires_at;
      tracked.retry_on_reconnect = options.retry_on_reconnect;
      tracked.added_at = at;
      requests_.add(std::move(tracked));
      pending_requests_.store(requests_.pending(), std::memory_order_release);
    }
    if (!pushed.accepted()) {
      kick();  // the queue's dropped event
      return fail_now(errc::queue_full, describe_failure(errc::queue_full));
    }
  }
  kick();
  return id;
}

void ClientSession::cancel_request(const std::string& id) {
  runtime_.loop.post([self = shared_from_this(), id] {
    std::vector<std::pair<std::function<void(const Response&)>, Response>> results;
    {
      std::lock_guard<std::mutex> lock(self->queue_mutex_);
      std::vector<core::EndedRequest> ended;
      if (auto cancelled = self->requests_.cancel(id)) ended.push_back(std::move(*cancelled));
      results = self->take_results(std::move(ended));
    }
    for (auto& [callback, response] : results) self->deliver(std::move(callback), std::move(response));
    self->arm_deadline();
  });
}

// --- results ------------------------------------------------------------------------------------

std::vector<std::pair<std::function<void(const Response&)>, Response>> ClientSession::take_results(
    std::vector<core::EndedRequest> ended) {
  std::vector<std::pair<std::function<void(const Response&)>, Response>> out;
  out.reserve(ended.size());
  for (auto& e : ended) {
    Response response;
    response.id = e.request.id;
    response.error = e.error;
    response.message = describe_failure(e.error);
    out.emplace_back(std::move(e.request.on_result), std::move(response));
  }
  pending_requests_.store(requests_.pending(), std::memory_order_release);
  return out;
}

void ClientSession::deliver_ended(std::vector<core::EndedRequest> ended) {
  if (ended.empty()) return;
  std::vector<std::pair<std::function<void(const Response&)>, Response>> results;
  {
    std::lock_guard<std::mutex> lock(queue_mutex_);
    results = take_results(std::move(ended));
  }
  for (auto& [callback, response] : results) deliver(std::move(callback), std::move(response));
}

void ClientSession::deliver(std::function<void(const Response&)> callback, Response response) {
  if (!callback) return;
  if (options_.callback_mode == CallbackMode::loop_thread) {
    if (callbacks_live()) callback(response);
    return;
  }
  dispatch([callback = std::move(callback), response = std::move(response)] { callback(response); });
}

void ClientSession::resend_requests() {
  std::vector<core::TrackedRequest> resend;
  {
    std::lock_guard<std::mutex> lock(queue_mutex_);
    resend = requests_.take_resend();
  }
  if (resend.empty() || !connection_ || !connection_->is_open()) return;
  const auto at = now();
  for (auto& r : resend) {
    connection_->send(protocol::Opcode::text, r.text, 0);
    std::lock_guard<std::mutex> lock(queue_mutex_);
    requests_.on_resent(r.id, at);
  }
}

// --- inbound ------------------------------------------------------------------------------------

bool ClientSession::needs_decoding() const noexcept {
  return !auth_id_.empty() || !pending_subscriptions_.empty() ||
         pending_requests_.load(std::memory_order_acquire) > 0 || !callbacks_.handlers.empty() ||
         static_cast<bool>(callbacks_.any);
}

bool ClientSession::expects_json() const noexcept {
  return pending_requests_.load(std::memory_order_acquire) > 0 || !callbacks_.handlers.empty() ||
         static_cast<bool>(callbacks_.any);
}

bool ClientSession::needs_inspection() const noexcept {
  return options_.resume.enabled || needs_decoding();
}

bool ClientSession::inspect_inbound(std::string_view text) {
  if (options_.resume.enabled) {
    const codec::Inspection in = codec::inspect(text, options_.resume.seq_field);
    if (in.seq) {
      if (last_seq_ && *in.seq <= *last_seq_) {
        if (options_.resume.drop_duplicates) {
          std::lock_guard<std::mutex> lock(stats_mutex_);
          ++stats_.duplicates_dropped;
          return true;
        }
      } else {
        last_seq_ = in.seq;
      }
    }
  }
  if (!needs_decoding()) return false;
  // The items' vector is kept for the thread's next message (a nested call, from inside a
  // callback, simply starts with a new one).
  static thread_local std::vector<Inbound> spare;
  std::vector<Inbound> items;
  items.swap(spare);
  std::string error;
  if (!codec_->decode(text, items, error)) {
    // Only an application that expects JSON hears about text that is not; the raw message is
    // delivered either way.
    if (expects_json()) report_error(errc::decode_error, error);
    return false;
  }
  bool consumed = !items.empty();
  for (auto& item : items) consumed = consume(item, text) && consumed;
  items.clear();
  if (items.capacity() <= 16) items.swap(spare);
  return consumed;
}

bool ClientSession::consume(Inbound& item, std::string_view text) {
  if (item.kind == Inbound::Kind::message) {
    auto handler = callbacks_.handlers.find(item.type);
    if (handler != callbacks_.handlers.end()) {
      dispatch([handler = handler->second, payload = std::move(item.payload),
                error_cb = callbacks_.error] {
        std::string error;
        if (handler(payload, error) || !error_cb) return;
        Error e;
        e.code = errc::decode_error;
        e.message = std::move(error);
        error_cb(e);
      });
    } else if (callbacks_.any) {
      dispatch([any = callbacks_.any, item = std::move(item)] { any(item); });
    }
    return false;  // messages also reach on_message
  }
  const bool failed = item.kind == Inbound::Kind::error_response;
  if (!auth_id_.empty() && item.id == auth_id_) {
    auth_id_.clear();
    if (failed) {
      std::string message = "the server rejected the token";
      if (!item.error.code.empty()) message += ": " + item.error.code;
      if (!item.error.message.empty()) message += ": " + item.error.message;
      report_error(errc::auth_rejected, message);
      core_.on_auth_rejected(now(), message);
    } else {
      if (callbacks_.authenticated) dispatch(callbacks_.authenticated);
      core_.on_auth_succeeded(now());
    }
    apply_effects();
    return true;
  }
  auto sub = pending_subscriptions_.empty() ? pending_subscriptions_.end()
                                            : pending_subscriptions_.find(item.id);
  if (sub != pending_subscriptions_.end()) {
    const PendingSubscription pending = std::move(sub->second);
    pending_subscriptions_.erase(sub);
    if (failed) {
      if (pending.subscribe) {
        std::lock_guard<std::mutex> lock(subscriptions_mutex_);
        auto found = std::find(subscriptions_.begin(), subscriptions_.end(), pending.channel);
        if (found != subscriptions_.end()) subscriptions_.erase(found);
      }
      std::string message = std::string(pending.subscribe ? "subscribe to" : "unsubscribe from") +
                            " channel \"" + pending.channel + "\" rejected";
      if (!item.error.code.empty()) message += ": " + item.error.code;
      if (!item.error.message.empty()) message += ": " + item.error.message;
      report_error(errc::subscribe_rejected, message);
    } else {
      const auto& callback = pending.subscribe ? callbacks_.subscribed : callbacks_.unsubscribed;
      if (callback) dispatch([callback, channel = pending.channel] { callback(channel); });
    }
    return true;
  }
  std::optional<core::TrackedRequest> tracked = [&] {
    std::lock_guard<std::mutex> lock(queue_mutex_);
    std::optional<core::TrackedRequest> found = requests_.on_response(item.id);
    pending_requests_.store(requests_.pending(), std::memory_order_release);
    return found;
  }();
  if (!tracked) {
    // Unknown or already answered: counted, handed to the catch-all, never fatal.
    if (callbacks_.any) dispatch([any = callbacks_.any, item = std::move(item)] { any(item); });
    return false;
  }
  // The deadline timer is left as it is: firing at the deadline of an answered request only
  // re-arms it for the next one, which is cheaper than re-arming it on every response.
  if (options_.callback_mode != CallbackMode::loop_thread) {
    deliver(std::move(tracked->on_result), response_of(item, failed, text, *tracked, io_now()));
    return true;
  }
  if (!tracked->on_result || !callbacks_live()) return true;
  // Called now, with the thread's kept response (no allocation for its text once warm).
  Loan<Response> response(kept_response());
  fill_response(response.get(), item, failed, text, *tracked, io_now());
  tracked->on_result(response.get());
  return true;
}

Json ClientSession::auth_payload() const {
  Json payload = Json::object();
  payload["token"] = Json(token_);
  if (options_.resume.enabled && last_seq_) payload[options_.resume.resume_field] = Json(*last_seq_);
  return payload;
}

}  // namespace tether::detail
