#pragma once

// What a Runtime holds: the loop, the TLS contexts shared by its clients, and the registry of
// live clients it must close before it stops.

#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "tether/runtime.hpp"
#include "transport/loop.hpp"
#include "transport/tls.hpp"

namespace tether {

namespace detail {
class ClientSession;
}  // namespace detail

struct Runtime::Impl {
  explicit Impl(const RuntimeOptions& options);

  /// The TLS context for `options`, built once per distinct set of files (loading the system
  /// store costs tens of milliseconds). Thread-safe.
  std::shared_ptr<transport::TlsContext> tls_context(const transport::TlsOptions& options,
                                                     errc& code, std::string& message);

  transport::Loop loop;
  // Loop-thread only: clients whose connection is still alive.
  std::set<detail::ClientSession*> live;

 private:
  std::mutex tls_mutex_;
  std::map<std::string, std::shared_ptr<transport::TlsContext>> tls_contexts_;
};

}  // namespace tether
