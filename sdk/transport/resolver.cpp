#include "transport/resolver.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>

#include <atomic>

#include "transport/loop.hpp"

namespace tether::transport {

struct Resolver::Job {
  std::string host;
  std::uint16_t port = 0;
  std::function<void(ResolveResult)> done;
  std::atomic<bool> cancelled{false};
};

namespace {

ResolveResult resolve_now(const std::string& host, std::uint16_t port) {
  ResolveResult result;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_ADDRCONFIG;
  addrinfo* list = nullptr;
  const std::string service = std::to_string(port);
  const int rc = getaddrinfo(host.c_str(), service.c_str(), &hints, &list);
  if (rc != 0) {
    result.error = std::string("cannot resolve ") + host + ": " + gai_strerror(rc);
    return result;
  }
  for (addrinfo* a = list; a; a = a->ai_next) {
    char text[INET6_ADDRSTRLEN] = {};
    const void* addr = nullptr;
    if (a->ai_family == AF_INET) {
      addr = &reinterpret_cast<sockaddr_in*>(a->ai_addr)->sin_addr;
    } else if (a->ai_family == AF_INET6) {
      addr = &reinterpret_cast<sockaddr_in6*>(a->ai_addr)->sin6_addr;
    } else {
      continue;
    }
    if (inet_ntop(a->ai_family, addr, text, sizeof text)) {
      std::string ip(text);
      bool seen = false;
      for (const auto& existing : result.addresses) seen = seen || existing == ip;
      if (!seen) result.addresses.push_back(std::move(ip));
    }
  }
  freeaddrinfo(list);
  if (result.addresses.empty()) result.error = "cannot resolve " + host + ": no addresses";
  return result;
}

}  // namespace

bool is_ip_literal(const std::string& host) {
  unsigned char buf[sizeof(in6_addr)];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

Resolver::~Resolver() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
    for (auto& job : jobs_) job->cancelled = true;
  }
  cv_.notify_all();
  // A getaddrinfo in progress cannot be interrupted; it is bounded by the resolver's own
  // timeouts (resolv.conf), and its result is discarded.
  if (thread_.joinable()) thread_.join();
}

std::shared_ptr<void> Resolver::resolve(const std::string& host, std::uint16_t port,
                                        std::function<void(ResolveResult)> done) {
  auto job = std::make_shared<Job>();
  job->host = host;
  job->port = port;
  job->done = std::move(done);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    jobs_.push_back(job);
    if (!thread_.joinable()) thread_ = std::thread([this] { run(); });
  }
  cv_.notify_one();
  // The token cancels delivery when the caller drops it.
  return std::shared_ptr<void>(nullptr, [job](void*) { job->cancelled = true; });
}

void Resolver::run() {
  for (;;) {
    std::shared_ptr<Job> job;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      cv_.wait(lock, [this] { return stop_ || !jobs_.empty(); });
      if (stop_) return;
      job = jobs_.front();
      jobs_.pop_front();
    }
    if (job->cancelled) continue;
    ResolveResult result = resolve_now(job->host, job->port);
    if (job->cancelled) continue;
    loop_.post([job, result = std::move(result)]() mutable {
      if (!job->cancelled) job->done(std::move(result));
    });
  }
}

}  // namespace tether::transport
