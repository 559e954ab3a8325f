#pragma once

// Host name resolution off the loop thread: getaddrinfo blocks, and libwebsockets 4.1.6 would
// run it inside connect on the loop thread. One worker thread, started on first use.

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace tether::transport {

class Loop;

struct ResolveResult {
  std::vector<std::string> addresses;  ///< IP literals, in getaddrinfo's order.
  std::string error;                   ///< Set when resolution failed.
};

class Resolver {
 public:
  explicit Resolver(Loop& loop) : loop_(loop) {}
  ~Resolver();

  /// Resolves `host` on the worker thread; `done` runs on the loop thread. Returns a token whose
  /// reset() (or destruction) cancels the delivery.
  std::shared_ptr<void> resolve(const std::string& host, std::uint16_t port,
                                std::function<void(ResolveResult)> done);

 private:
  struct Job;
  void run();

  Loop& loop_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<Job>> jobs_;
  std::thread thread_;
  bool stop_ = false;
};

/// True when `host` is an IPv4 or IPv6 literal (no resolution needed).
bool is_ip_literal(const std::string& host);

}  // namespace tether::transport
