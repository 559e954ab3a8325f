#include "tether/client.hpp"

#include "client_session.hpp"

namespace tether {

Client::Client(ClientOptions options, std::shared_ptr<Runtime> runtime)
    : runtime_(runtime ? std::move(runtime) : Runtime::shared()),
      session_(std::make_shared<detail::ClientSession>(runtime_->impl(), std::move(options))) {}

Client::~Client() { session_->detach(); }

void Client::on_open(std::function<void(const OpenInfo&)> callback) {
  session_->set_callbacks([cb = std::move(callback)](detail::Callbacks& c) { c.open = cb; });
}
void Client::on_message(std::function<void(const Message&)> callback) {
  session_->set_callbacks([cb = std::move(callback)](detail::Callbacks& c) { c.message = cb; });
}
void Client::on_close(std::function<void(const CloseInfo&)> callback) {
  session_->set_callbacks([cb = std::move(callback)](detail::Callbacks& c) { c.close = cb; });
}
void Client::on_error(std::function<void(const Error&)> callback) {
  session_->set_callbacks([cb = std::move(callback)](detail::Callbacks& c) { c.error = cb; });
}
void Client::on_sent(std::function<void(MessageId, std::size_t)> callback) {
  session_->set_callbacks([cb = std::move(callback)](detail::Callbacks& c) { c.sent = cb; });
}

void Client::on_state(std::function<void(State, State, const Cause&)> callback) {
  session_->set_callbacks([cb = std::move(callback)](detail::Callbacks& c) { c.state = cb; });
}
void Client::on_reconnect_scheduled(
    std::function<void(int, std::chrono::milliseconds)> callback) {
  session_->set_callbacks(
      [cb = std::move(callback)](detail::Callbacks& c) { c.reconnect_scheduled = cb; });
}

void Client::on_authenticated(std::function<void()> callback) {
  session_->set_callbacks([cb = std::move(callback)](detail::Callbacks& c) { c.authenticated = cb; });
}
void Client::on_queued(std::function<void(MessageId, std::size_t)> callback) {
  session_->set_callbacks([cb = std::move(callback)](detail::Callbacks& c) { c.queued = cb; });
}
void Client::on_dropped(std::function<void(MessageId, std::size_t, DropReason)> callback) {
  session_->set_callbacks([cb = std::move(callback)](detail::Callbacks& c) { c.dropped = cb; });
}
void Client::on_subscribed(std::function<void(const std::string&)> callback) {
  session_->set_callbacks([cb = std::move(callback)](detail::Callbacks& c) { c.subscribed = cb; });
}
void Client::on_unsubscribed(std::function<void(const std::string&)> callback) {
  session_->set_callbacks(
      [cb = std::move(callback)](detail::Callbacks& c) { c.unsubscribed = cb; });
}

Error Client::start() {
  Error error = session_->prepare();
  if (!error) session_->start();
  return error;
}

SendResult Client::send(std::string_view text, const SendOptions& options) {
  return session_->send(MessageKind::text, text, options);
}
SendResult Client::send_binary(std::string_view bytes, const SendOptions& options) {
  return session_->send(MessageKind::binary, bytes, options);
}
void Client::ping(std::string_view payload) { session_->ping(payload); }
void Client::close(std::uint16_t code, std::string_view reason) { session_->close(code, reason); }
void Client::close_now(std::uint16_t code, std::string_view reason) {
  session_->close_now(code, reason);
}
void Client::subscribe(std::string channel) { session_->subscribe(std::move(channel)); }
void Client::unsubscribe(std::string channel) { session_->unsubscribe(std::move(channel)); }
std::vector<std::string> Client::subscriptions() const { return session_->subscriptions(); }
SendResult Client::send_message(std::string_view type, const Json& payload,
                                const SendOptions& options) {
  return session_->send_message(type, payload, options);
}

RequestHandle Client::request(std::string_view type, const Json& payload,
                              std::function<void(const Response&)> on_result,
                              RequestOptions options) {
  std::string id = session_->request(type, payload, std::move(on_result), options);
  return RequestHandle(std::move(id), session_);
}

std::future<Response> Client::request(std::string_view type, const Json& payload,
                                      RequestOptions options) {
  auto promise = std::make_shared<std::promise<Response>>();
  std::future<Response> result = promise->get_future();
  // The result arrives like any callback; a client destroyed first leaves the future with
  // std::future_errc::broken_promise.
  session_->request(type, payload,
                    [promise](const Response& response) { promise->set_value(response); },
                    options);
  return result;
}

void RequestHandle::cancel() const {
  if (id_.empty()) return;
  if (auto session = session_.lock()) session->cancel_request(id_);
}

void Client::on(std::string type, std::function<void(const Json&)> handler) {
  on_payload(std::move(type), [handler = std::move(handler)](const Json& payload, std::string&) {
    handler(payload);
    return true;
  });
}

void Client::on_payload(std::string type,
                        std::function<bool(const Json&, std::string&)> handler) {
  session_->set_callbacks([type = std::move(type), handler = std::move(handler)](detail::Callbacks& c) {
    if (handler) {
      c.handlers[type] = handler;
    } else {
      c.handlers.erase(type);
    }
  });
}

void Client::on_any(std::function<void(const Inbound&)> handler) {
  session_->set_callbacks([cb = std::move(handler)](detail::Callbacks& c) { c.any = cb; });
}

void Client::reconnect_now() { session_->reconnect_now(); }
std::size_t Client::poll() { return session_->poll(); }
State Client::state() const noexcept { return session_->state(); }
Stats Client::stats() const { return session_->stats(); }
bool Client::is_open() const noexcept { return session_->is_open(); }
bool Client::is_finished() const noexcept { return session_->is_finished(); }
std::size_t Client::buffered_amount() const noexcept { return session_->buffered_amount(); }

}  // namespace tether
