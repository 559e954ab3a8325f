// The application-protocol half of a ClientSession: the token of each attempt (fixed, or from
// the token provider, async), its placement (header, query, first message), the auth response,
// subscriptions re-sent on every open, and resume (sequence tracking, duplicates dropped).

#include <algorithm>
#include <atomic>
#include <utility>

#include "client_session.hpp"

namespace tether::detail {

namespace {

core::TimePoint now() { return std::chrono::steady_clock::now(); }

std::string percent_encode(std::string_view text) {
  static const char* digits = "0123456789ABCDEF";
  std::string out;
  for (const char c : text) {
    const auto b = static_cast<unsigned char>(c);
    if ((b >= 'A' && b <= 'Z') || (b >= 'a' && b <= 'z') || (b >= '0' && b <= '9') || b == '-' ||
        b == '.' || b == '_' || b == '~') {
      out += c;
    } else {
      out += '%';
      out += digits[b >> 4];
      out += digits[b & 15];
    }
  }
  return out;
}

}  // namespace

std::string next_request_id() {
  static std::atomic<std::uint64_t> next{1};
  return std::to_string(next.fetch_add(1, std::memory_order_relaxed));
}

// --- the token of an attempt --------------------------------------------------------------------

void ClientSession::begin_attempt(bool refresh_token) {
  ++attempt_number_;
  const AuthOptions& auth = options_.auth;
  if (!auth.enabled()) {
    open_connection({});
    return;
  }
  if (!auth.token_provider) {
    token_ = auth.token;
    open_connection(token_);
    return;
  }
  waiting_for_token_ = true;
  const std::uint64_t attempt = attempt_number_;
  if (auth.timeout.count() > 0) {
    token_timer_.start(auth.timeout, [this, attempt] {
      if (!waiting_for_token_ || attempt != attempt_number_) return;
      fail_attempt(errc::auth_timeout, "no token from the token provider within " +
                                           std::to_string(options_.auth.timeout.count()) + " ms");
    });
  }
  std::weak_ptr<ClientSession> weak = shared_from_this();
  auto answered = std::make_shared<std::atomic<bool>>(false);
  TokenReply reply = [weak, attempt, answered](std::optional<std::string> token) {
    if (answered->exchange(true)) return;  // the first answer counts
    auto self = weak.lock();
    if (!self) return;
    self->runtime_.loop.post([self, attempt, token = std::move(token)]() mutable {
      self->on_token(attempt, std::move(token));
    });
  };
  dispatch([provider = auth.token_provider, refresh_token, reply = std::move(reply)] {
    provider(refresh_token, reply);
  });
}

void ClientSession::on_token(std::uint64_t attempt, std::optional<std::string> token) {
  if (!waiting_for_token_ || attempt != attempt_number_) return;  // a late answer
  waiting_for_token_ = false;
  token_timer_.cancel();
  if (!token) {
    fail_attempt(errc::auth_rejected, "the token provider gave no token");
    return;
  }
  token_ = std::move(*token);
  open_connection(token_);
}

void ClientSession::open_connection(const std::string& token) {
  attempt_config_ = config_;
  const AuthOptions& auth = options_.auth;
  if (auth.enabled()) {
    if (!auth.header.empty()) {
      const std::string value = auth.header_prefix + token;
      for (const char c : value) {
        if (c == '\r' || c == '\n' || c == '\0') {
          fail_attempt(errc::invalid_argument, "the token cannot be sent in a header");
          return;
        }
      }
      attempt_config_.headers.push_back({auth.header, value});
    }
    if (!auth.query_parameter.empty()) {
      std::string& target = attempt_config_.url.target;
      target += target.find('?') == std::string::npos ? '?' : '&';
      target += percent_encode(auth.query_parameter) + "=" + percent_encode(token);
    }
  }
  connection_ = std::make_unique<transport::Connection>(runtime_.loop, attempt_config_, *this);
  connection_->start();
}

void ClientSession::fail_attempt(errc code, std::string message) {
  waiting_for_token_ = false;
  token_timer_.cancel();
  transport::ConnectionEnd end;
  end.error = code;
  end.message = std::move(message);
  on_end(std::move(end));
}

// --- first-message auth -------------------------------------------------------------------------

void ClientSession::send_auth_request() {
  if (!connection_ || !connection_->is_open()) return;
  auth_id_ = next_request_id();
  AuthRequestInfo info;
  info.id = auth_id_;
  info.token = token_;
  if (options_.resume.enabled) info.resume_from = last_seq_;
  std::string text;
  if (options_.auth.build_message) {
    text = options_.auth.build_message(info);
  } else {
    std::string error;
    if (!codec_->encode_request("auth", info.id, auth_payload(), text, error)) {
      report_error(errc::encode_error, "the auth request: " + error);
      core_.on_auth_rejected(now(), "the auth request could not be encoded");
      apply_effects();
      return;
    }
  }
  connection_->send(protocol::Opcode::text, std::move(text), 0);
}

// --- ready: subscriptions, resume, then the queue -----------------------------------------------

void ClientSession::on_ready() {
  std::vector<std::string> channels = subscriptions();
  const bool resume = options_.resume.enabled && last_seq_;
  if (connection_ && connection_->is_open()) {
    for (const auto& channel : channels) send_subscription(channel, true, resume);
    if (resume && channels.empty() && !options_.auth.first_message) {
      Json payload = Json::object();
      payload[options_.resume.resume_field] = Json(*last_seq_);
      std::string text;
      std::string error;
      if (codec_->encode_message("resume", payload, text, error)) {
        connection_->send(protocol::Opcode::text, std::move(text), 0);
      }
    }
  }
  resend_requests();
  pump();
}

void ClientSession::send_subscription(const std::string& channel, bool subscribe,
                                      bool with_resume) {
  if (!connection_ || !connection_->is_open()) return;
  SubscribeRequestInfo info;
  info.id = next_request_id();
  info.channel = channel;
  info.subscribe = subscribe;
  if (with_resume) info.resume_from = last_seq_;
  std::string text;
  if (options_.subscriptions.build_message) {
    text = options_.subscriptions.build_message(info);
  } else {
    Json payload = Json::object();
    payload["channel"] = Json(channel);
    if (info.resume_from) payload[options_.resume.resume_field] = Json(*info.resume_from);
    std::string error;
    if (!codec_->encode_request(subscribe ? "subscribe" : "unsubscribe", info.id, payload, text,
                                error)) {
      report_error(errc::encode_error, "the subscribe request for \"" + channel + "\": " + error);
      return;
    }
  }
  pending_subscriptions_[info.id] = PendingSubscription{channel, subscribe};
  connection_->send(protocol::Opcode::text, std::move(text), 0);
}

void ClientSession::subscribe(std::string channel) {
  {
    std::lock_guard<std::mutex> lock(subscriptions_mutex_);
    for (const auto& c : subscriptions_) {
      if (c == channel) return;
    }
    subscriptions_.push_back(channel);
  }
  runtime_.loop.post([self = shared_from_this(), channel = std::move(channel)] {
    if (self->core_.state() == State::open) self->send_subscription(channel, true, false);
  });
}

void ClientSession::unsubscribe(std::string channel) {
  {
    std::lock_guard<std::mutex> lock(subscriptions_mutex_);
    auto it = std::find(subscriptions_.begin(), subscriptions_.end(), channel);
    if (it == subscriptions_.end()) return;
    subscriptions_.erase(it);
  }
  runtime_.loop.post([self = shared_from_this(), channel = std::move(channel)] {
    if (self->core_.state() == State::open) self->send_subscription(channel, false, false);
  });
}

std::vector<std::string> ClientSession::subscriptions() const {
  std::lock_guard<std::mutex> lock(subscriptions_mutex_);
  return subscriptions_;
}

}  // namespace tether::detail
