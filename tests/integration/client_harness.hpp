#pragma once

// Drives a tether::Client from a test: records every callback thread-safely and waits for
// conditions with a deadline (never unbounded).

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <tether/tether.hpp>

namespace tether::testing {

struct Received {
  MessageKind kind;
  std::string data;
};

struct Dropped {
  MessageId id;
  std::size_t bytes;
  DropReason reason;
};

/// A runtime whose log lines are dropped (tests are silent unless they ask).
inline std::shared_ptr<Runtime> silent_runtime(bool own_thread = true) {
  RuntimeOptions options;
  options.own_thread = own_thread;
  options.log = [](LogLevel, const std::string&) {};
  return Runtime::create(options);
}

class ClientHarness {
 public:
  explicit ClientHarness(ClientOptions options, std::shared_ptr<Runtime> runtime = nullptr)
      : runtime_(runtime ? std::move(runtime) : silent_runtime()),
        client_(std::make_unique<Client>(std::move(options), runtime_)) {
    client_->on_open([this](const OpenInfo& info) {
      std::lock_guard<std::mutex> lock(mutex_);
      opened_ = true;
      subprotocol_ = info.subprotocol;
      changed_.notify_all();
    });
    client_->on_message([this](const Message& m) {
      std::lock_guard<std::mutex> lock(mutex_);
      messages_.push_back({m.kind, std::string(m.data)});
      changed_.notify_all();
    });
    client_->on_error([this](const Error& e) {
      std::lock_guard<std::mutex> lock(mutex_);
      errors_.push_back(e);
      changed_.notify_all();
    });
    client_->on_close([this](const CloseInfo& info) {
      std::lock_guard<std::mutex> lock(mutex_);
      closes_.push_back(info);
      changed_.notify_all();
    });
    client_->on_sent([this](MessageId id, std::size_t) {
      std::lock_guard<std::mutex> lock(mutex_);
      sent_.push_back(id);
      changed_.notify_all();
    });
    client_->on_dropped([this](MessageId id, std::size_t bytes, DropReason reason) {
      std::lock_guard<std::mutex> lock(mutex_);
      dropped_.push_back({id, bytes, reason});
      changed_.notify_all();
    });
    client_->on_queued([this](MessageId, std::size_t depth) {
      std::lock_guard<std::mutex> lock(mutex_);
      queued_depths_.push_back(depth);
      changed_.notify_all();
    });
    client_->on_authenticated([this] {
      std::lock_guard<std::mutex> lock(mutex_);
      ++authenticated_;
      changed_.notify_all();
    });
    client_->on_subscribed([this](const std::string& channel) {
      std::lock_guard<std::mutex> lock(mutex_);
      subscribed_.push_back(channel);
      changed_.notify_all();
    });
    client_->on_state([this](State, State to, const Cause&) {
      std::lock_guard<std::mutex> lock(mutex_);
      states_.push_back(to);
      changed_.notify_all();
    });
  }

  /// The client goes first: once it is destroyed no callback runs, so the records below are
  /// never written while they are destroyed.
  ~ClientHarness() { client_.reset(); }
  ClientHarness(const ClientHarness&) = delete;
  ClientHarness& operator=(const ClientHarness&) = delete;

  Client& client() { return *client_; }

  Error start() { return client_->start(); }

  /// Waits until `condition` holds; false on timeout. `condition` runs under the harness lock:
  /// it must read the members directly, not through the locking accessors.
  bool wait(const std::function<bool()>& condition,
            std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    std::unique_lock<std::mutex> lock(mutex_);
    return changed_.wait_for(lock, timeout, condition);
  }
  bool wait_open(std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    return wait([this] { return opened_; }, timeout);
  }
  bool wait_messages(std::size_t n, std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
    return wait([this, n] { return messages_.size() >= n; }, timeout);
  }
  bool wait_error(std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    return wait([this] { return !errors_.empty(); }, timeout);
  }
  bool wait_close(std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    return wait([this] { return !closes_.empty(); }, timeout);
  }
  bool wait_sent(std::size_t n, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    return wait([this, n] { return sent_.size() >= n; }, timeout);
  }
  /// Waits for the client to finish (closed or failed).
  bool wait_finished(std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!client_->is_finished()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return true;
  }

  std::vector<Received> messages() {
    std::lock_guard<std::mutex> lock(mutex_);
    return messages_;
  }
  std::vector<Error> errors() {
    std::lock_guard<std::mutex> lock(mutex_);
    return errors_;
  }
  std::vector<CloseInfo> closes() {
    std::lock_guard<std::mutex> lock(mutex_);
    return closes_;
  }
  std::size_t sent_count() {
    std::lock_guard<std::mutex> lock(mutex_);
    return sent_.size();
  }
  std::vector<MessageId> sent_ids() {
    std::lock_guard<std::mutex> lock(mutex_);
    return sent_;
  }
  std::vector<Dropped> dropped() {
    std::lock_guard<std::mutex> lock(mutex_);
    return dropped_;
  }
  std::vector<std::size_t> queued_depths() {
    std::lock_guard<std::mutex> lock(mutex_);
    return queued_depths_;
  }
  int authenticated() {
    std::lock_guard<std::mutex> lock(mutex_);
    return authenticated_;
  }
  std::vector<std::string> subscribed() {
    std::lock_guard<std::mutex> lock(mutex_);
    return subscribed_;
  }
  std::vector<State> states() {
    std::lock_guard<std::mutex> lock(mutex_);
    return states_;
  }
  bool wait_subscribed(std::size_t n, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    return wait([this, n] { return subscribed_.size() >= n; }, timeout);
  }
  bool wait_dropped(std::size_t n, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    return wait([this, n] { return dropped_.size() >= n; }, timeout);
  }
  bool wait_state(State state, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    return wait(
        [this, state] {
          for (State s : states_) {
            if (s == state) return true;
          }
          return false;
        },
        timeout);
  }
  std::string subprotocol() {
    std::lock_guard<std::mutex> lock(mutex_);
    return subprotocol_;
  }
  bool opened() {
    std::lock_guard<std::mutex> lock(mutex_);
    return opened_;
  }

 private:
  std::shared_ptr<Runtime> runtime_;
  std::unique_ptr<Client> client_;
  std::mutex mutex_;
  std::condition_variable changed_;
  bool opened_ = false;
  std::string subprotocol_;
  std::vector<Received> messages_;
  std::vector<Error> errors_;
  std::vector<CloseInfo> closes_;
  std::vector<MessageId> sent_;
  std::vector<Dropped> dropped_;
  std::vector<std::size_t> queued_depths_;
  int authenticated_ = 0;
  std::vector<std::string> subscribed_;
  std::vector<State> states_;
};

}  // namespace tether::testing
