#include "tether/runtime.hpp"

#include <openssl/crypto.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

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

// Shutdowns of runtimes released on their own loop thread run on a thread of their own. The
// process waits for them as it exits: they still use OpenSSL (a loop thread's random generators
// and error queue are freed as it ends), and OpenSSL's exit cleanup must not run under them.
// Constructed when the first such runtime goes, so after OpenSSL was initialised: its destructor
// then runs before OpenSSL's cleanup (exit handlers run in the reverse order of registration).
class DetachedShutdowns {
 public:
  static DetachedShutdowns& instance() {
    static DetachedShutdowns shutdowns;
    return shutdowns;
  }

  void start(std::function<void()> work) {
    std::lock_guard<std::mutex> lock(state_->mutex);
    reap_finished();
    const std::size_t id = next_id_++;
    // The thread holds the state too: one the exit stopped waiting for still finds it.
    running_.push_back(Running{id, std::thread([state = state_, id, work = std::move(work)] {
                                 work();
                                 std::lock_guard<std::mutex> done(state->mutex);
                                 state->finished.push_back(id);
                                 state->changed.notify_all();
                               })});
  }

  // Waits up to kExitWait for the shutdowns still running and joins those that finished (a join
  // also waits for the thread's own end, where OpenSSL frees its per-thread state). One that has
  // not finished by then is left to the exit.
  ~DetachedShutdowns() {
    std::unique_lock<std::mutex> lock(state_->mutex);
    state_->changed.wait_for(lock, kExitWait,
                             [this] { return state_->finished.size() == running_.size(); });
    for (Running& r : running_) {
      if (finished(r.id)) {
        r.thread.join();
      } else {
        r.thread.detach();
      }
    }
  }

 private:
  struct State {
    std::mutex mutex;
    std::condition_variable changed;
    std::vector<std::size_t> finished;  ///< Ids of the shutdowns done but not yet joined.
  };
  struct Running {
    std::size_t id;
    std::thread thread;
  };
  static constexpr std::chrono::seconds kExitWait{5};

  DetachedShutdowns() = default;

  bool finished(std::size_t id) const {
    return std::find(state_->finished.begin(), state_->finished.end(), id) !=
           state_->finished.end();
  }

  // Joins the shutdowns that finished; called with the state's mutex held.
  void reap_finished() {
    for (auto it = running_.begin(); it != running_.end();) {
      if (finished(it->id)) {
        it->thread.join();
        state_->finished.erase(std::find(state_->finished.begin(), state_->finished.end(), it->id));
        it = running_.erase(it);
      } else {
        ++it;
      }
    }
  }

  std::shared_ptr<State> state_ = std::make_shared<State>();
  std::vector<Running> running_;
  std::size_t next_id_ = 0;
};

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
    // std::function needs a copyable task: the impl moves into a shared_ptr, held only there.
    auto impl = std::shared_ptr<Impl>(std::move(impl_));
    DetachedShutdowns::instance().start([impl = std::move(impl)]() mutable {
      shut_down(*impl);
      impl.reset();
    });
    return;
  }
  shut_down(*impl_);
}

std::size_t Runtime::poll() {
  return impl_->loop.poll();
}

}  // namespace tether
