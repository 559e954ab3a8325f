#include "tether/runtime.hpp"

#include <openssl/crypto.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <thread>

#include "client_session.hpp"
#include "runtime_impl.hpp"

namespace tether {

namespace {

transport::LoopOptions loop_options(const RuntimeOptions& options) {
  transport::LoopOptions out;
  out.own_thread = options.own_thread;
  out.log_levels = options.log_levels;
  if (options.log) {
    auto log = options.log;
    out.log = [log](transport::LogLevel level, const std::string& line) {
      log(static_cast<LogLevel>(level), line);
    };
  } else {
    out.log = [](transport::LogLevel, const std::string& line) {
      std::fprintf(stderr, "tether: %s\n", line.c_str());
    };
  }
  return out;
}

}  // namespace

Runtime::Impl::Impl(const RuntimeOptions& options) : loop(loop_options(options)) {}

std::shared_ptr<transport::TlsContext> Runtime::Impl::tls_context(
    const transport::TlsOptions& options, errc& code, std::string& message) {
  const std::string key = options.ca_file + '\n' + options.client_cert_file + '\n' +
                          options.client_key_file + '\n' + (options.insecure ? "1" : "0");
  std::lock_guard<std::mutex> lock(tls_mutex_);
  auto found = tls_contexts_.find(key);
  if (found != tls_contexts_.end()) return found->second;
  auto context = transport::TlsContext::create(options, code, message);
  if (context) tls_contexts_.emplace(key, context);
  return context;
}

Runtime::Runtime(RuntimeOptions options) : impl_(std::make_unique<Impl>(options)) {}

std::shared_ptr<Runtime> Runtime::create(RuntimeOptions options) {
  return std::shared_ptr<Runtime>(new Runtime(std::move(options)));
}

std::shared_ptr<Runtime> Runtime::shared() {
  // Destroyed by the exit handlers, which run in the reverse order of their registration.
  // OpenSSL registers its cleanup the first time it is initialised, which would otherwise be the
  // first wss:// connection, long after this runtime: the cleanup would then run first, and what
  // OpenSSL frees when the loop thread ends (its random generators, its error queue) or when the
  // runtime drops its TLS contexts would be left behind (LeakSanitizer reports it).
  // Initialising OpenSSL's base here registers that cleanup before this static's destructor, so
  // the runtime goes first. ATFORK because a call without options does nothing; it loads no
  // configuration, error strings or algorithms (about 80 KiB).
  static const std::shared_ptr<Runtime> runtime = [] {
    OPENSSL_init_crypto(OPENSSL_INIT_ATFORK, nullptr);
    return create();
  }();
  return runtime;
}

namespace {

// Closes every client still open, then ends what did not finish in time; `impl` is destroyed by
// the caller.
void shut_down(Runtime::Impl& impl) {
  auto& loop = impl.loop;
  // Runs `task` on the loop thread and returns once it has run: the loop's own thread runs it,
  // or, without one, this thread services the loop until it has.
  auto run_on_loop = [&loop](const std::function<void()>& task) {
    std::atomic<bool> done{false};
    loop.post([&] {
      task();
      done = true;
    });
    while (!done) {
      if (loop.own_thread()) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      } else {
        loop.poll();
      }
    }
  };
  // Close what is still open with a proper closing handshake (libwebsockets would drop the
  // sockets without a close frame), bounded in time.
  run_on_loop([&impl] {
    for (detail::ClientSession* session : std::set<detail::ClientSession*>(impl.live)) {
      session->shutdown();
    }
  });
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  bool idle = false;
  while (!idle && std::chrono::steady_clock::now() < deadline) {
    run_on_loop([&impl, &idle] { idle = impl.live.empty(); });
    if (!idle) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  // Whatever did not finish in time ends now.
  run_on_loop([&impl] {
    for (detail::ClientSession* session : std::set<detail::ClientSession*>(impl.live)) {
      session->force_end();
    }
  });
}

}  // namespace

Runtime::~Runtime() {
  if (impl_->loop.own_thread() && impl_->loop.on_loop_thread()) {
    // Released on its own loop thread (inside a callback, e.g. by destroying the client that held
    // the last reference): the loop cannot be stopped and joined from itself, so a thread of its
    // own shuts it down once the callback has returned.
    std::thread([impl = std::move(impl_)]() mutable {
      shut_down(*impl);
      impl.reset();
    }).detach();
    return;
  }
  shut_down(*impl_);
}

std::size_t Runtime::poll() {
  return impl_->loop.poll();
}

}  // namespace tether
