#pragma once

// The loop-side half of a Client: it owns the connection and runs the application's callbacks.
// Public Client methods hand work over to it with Loop::post; its state flags are atomics so any
// thread can read them.

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "runtime_impl.hpp"
#include "tether/client.hpp"
#include "transport/connection.hpp"

namespace tether::detail {

struct Callbacks {
  std::function<void(const OpenInfo&)> open;
  std::function<void(const Message&)> message;
  std::function<void(const CloseInfo&)> close;
  std::function<void(const Error&)> error;
  std::function<void(MessageId, std::size_t)> sent;
};

class ClientSession final : public transport::ConnectionHandler,
                            public std::enable_shared_from_this<ClientSession> {
 public:
  ClientSession(Runtime::Impl& runtime, ClientOptions options);
  ~ClientSession() override;

  // --- any thread -------------------------------------------------------------------------------
  /// Validates the options and builds the connection settings (also loads the TLS context).
  Error prepare();
  void start();
  SendResult send(MessageKind kind, std::string_view data);
  void ping(std::string_view payload);
  void close(std::uint16_t code, std::string_view reason);
  /// Stops all callbacks, then closes in the background. No callback runs once it returns.
  void detach();
  /// Changes callbacks; before start() directly, afterwards on the loop thread.
  void set_callbacks(const std::function<void(Callbacks&)>& change);

  bool is_open() const noexcept { return open_.load(std::memory_order_acquire); }
  bool is_finished() const noexcept { return finished_.load(std::memory_order_acquire); }
  std::size_t buffered_amount() const noexcept { return buffered_.load(std::memory_order_relaxed); }

  // --- loop thread ------------------------------------------------------------------------------
  /// The runtime is stopping: close with 1001.
  void shutdown();
  /// The runtime stops now: end the connection without waiting.
  void force_end();

 private:
  struct Outgoing {
    MessageId id;
    protocol::Opcode op;
    std::string payload;
  };

  // transport::ConnectionHandler
  void on_open(const std::string& subprotocol) override;
  void on_message(protocol::Opcode op, std::string_view payload) override;
  void on_pong(std::string_view payload) override;
  void on_sent(std::uint64_t tag) override;
  void on_end(transport::ConnectionEnd end) override;

  bool follow_redirect(const transport::ConnectionEnd& end);
  void do_start();
  void do_send(Outgoing message);
  void do_close(std::uint16_t code, std::string reason);
  void report_error(errc code, std::string message, int http_status = 0,
                    std::vector<std::pair<std::string, std::string>> headers = {});

  Runtime::Impl& runtime_;
  ClientOptions options_;
  transport::ConnectionConfig config_;
  Callbacks callbacks_;
  std::unique_ptr<transport::Connection> connection_;
  std::shared_ptr<ClientSession> self_;  // alive while the connection is
  std::deque<Outgoing> waiting_;         // accepted before the connection opened
  std::deque<std::pair<MessageId, std::size_t>> in_flight_;  // handed to the connection
  bool close_requested_ = false;
  std::uint16_t close_code_ = 1000;
  std::string close_reason_;
  bool detached_ = false;
  int redirects_ = 0;

  std::atomic<bool> started_{false};
  std::atomic<bool> open_{false};
  std::atomic<bool> finished_{false};
  std::atomic<bool> closing_{false};
  std::atomic<std::size_t> buffered_{0};
  std::atomic<MessageId> next_id_{1};
};

}  // namespace tether::detail
