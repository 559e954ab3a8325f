// The event loop's wake-ups (sdk/transport/loop.cpp), in both threading modes: a task posted from
// the loop thread runs without another event to wake the loop, wherever it was posted from (a
// timer, another task, a socket's data, connect and close callbacks, a close made by a timer),
// and a task that keeps posting tasks does not keep timers from firing.
//
// The loop's own thread skips the wake-up (lws_cancel_service) for posts that a drain of the
// inbox covers before the loop blocks again; a post that is not covered and does not wake sits
// until some unrelated event, which these tests would see as a task that never runs. Bounds are
// seconds where a working loop takes well under a millisecond: nothing asserts a tight duration.

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "support/loop_tasks.hpp"
#include "support/watchdog.hpp"
#include "transport/loop.hpp"

namespace tether::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using transport::Loop;
using transport::LoopOptions;
using transport::RawSocket;
using transport::RawSocketHandler;
using transport::Timer;

/// Generous: a task that was not woken for waits for an unrelated event, i.e. forever here.
constexpr auto kPrompt = 3s;

LoopOptions options_for(bool own_thread) {
  LoopOptions options;
  options.own_thread = own_thread;
  return options;
}

std::string mode_label(const ::testing::TestParamInfo<bool>& info) {
  return info.param ? "OwnThread" : "NoThread";
}

/// A TCP listener on 127.0.0.1 that accepts one connection, writes `greeting` and then waits for
/// the peer to close (or `close_after_greeting`: closes right away). Bounded: gives up after a
/// few seconds.
class OnePeer {
 public:
  explicit OnePeer(std::string greeting, bool close_after_greeting = false) {
    listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (listener_ < 0 || ::bind(listener_, reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
        ::listen(listener_, 1) != 0 ||
        ::getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      ADD_FAILURE() << "could not listen on 127.0.0.1";
      return;
    }
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this, greeting = std::move(greeting), close_after_greeting] {
      timeval limit{5, 0};
      ::setsockopt(listener_, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
      const int peer = ::accept(listener_, nullptr, nullptr);
      if (peer < 0) return;
      ::setsockopt(peer, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
      if (!greeting.empty()) ::send(peer, greeting.data(), greeting.size(), MSG_NOSIGNAL);
      if (!close_after_greeting) {
        char buffer[256];
        while (::recv(peer, buffer, sizeof buffer, 0) > 0) {
        }
      }
      ::close(peer);
    });
  }
  ~OnePeer() {
    if (thread_.joinable()) thread_.join();
    if (listener_ >= 0) ::close(listener_);
  }
  OnePeer(const OnePeer&) = delete;
  OnePeer& operator=(const OnePeer&) = delete;

  std::uint16_t port() const { return port_; }

 private:
  int listener_ = -1;
  std::uint16_t port_ = 0;
  std::thread thread_;
};

/// Calls the given functions from the socket's events (loop thread).
struct Handler : RawSocketHandler {
  std::function<void()> connected;
  std::function<void(std::string)> data;
  std::function<void(bool)> closed;
  void on_socket_connected() override {
    if (connected) connected();
  }
  void on_socket_data(const std::uint8_t* bytes, std::size_t n) override {
    if (data) data(std::string(reinterpret_cast<const char*>(bytes), n));
  }
  void on_socket_writable() override {}
  void on_socket_closed(bool was_connected, const std::string&) override {
    if (closed) closed(was_connected);
  }
};

/// Posts a chain of `length` tasks from the loop thread, each posted by the one before it; `done`
/// is set by the last.
void post_chain(Loop& loop, int length, std::shared_ptr<Flag> done) {
  if (length == 0) {
    done->set();
    return;
  }
  loop.post([&loop, length, done] { post_chain(loop, length - 1, done); });
}

class LoopWake : public ::testing::TestWithParam<bool> {
 protected:
  LoopWake() : loop_(options_for(GetParam())) {}
  Loop loop_;
  Watchdog watchdog_{"loop wake test", std::chrono::milliseconds(60000)};
};

TEST_P(LoopWake, ATaskPostedFromATimerRunsWithoutAnotherEvent) {
  std::unique_ptr<Timer> timer;
  auto fired = std::make_shared<Flag>();
  auto ran = std::make_shared<Flag>();
  run_on_loop(loop_, [&] {
    timer = std::make_unique<Timer>(loop_);
    timer->start(20ms, [this, fired, ran] {
      fired->set();
      loop_.post([ran] { ran->set(); });
    });
  });
  ASSERT_TRUE(fired->wait(loop_, 10s)) << "the timer did not fire";
  EXPECT_TRUE(ran->wait(loop_, kPrompt)) << "the task posted by the timer waited for an event";
  run_on_loop(loop_, [&] { timer.reset(); });
}

TEST_P(LoopWake, TasksPostedFromTasksRun) {
  auto done = std::make_shared<Flag>();
  // The first task comes from this thread; the other 49 are posted on the loop thread.
  loop_.post([this, done] { post_chain(loop_, 49, done); });
  EXPECT_TRUE(done->wait(loop_, kPrompt)) << "a task posted by a task waited for an event";
}

TEST_P(LoopWake, ATaskThatKeepsPostingDoesNotKeepATimerFromFiring) {
  std::unique_ptr<Timer> timer;
  auto fired = std::make_shared<Flag>();
  auto stopped = std::make_shared<Flag>();
  std::atomic<bool> timer_fired{false};
  std::atomic<long> turns{0};
  // Reposts itself until the timer has fired (or a bound is reached, failing the test).
  std::function<void()> spin = [&] {
    if (timer_fired || ++turns > 20'000'000) {
      stopped->set();
      return;
    }
    loop_.post(spin);
  };
  run_on_loop(loop_, [&] {
    timer = std::make_unique<Timer>(loop_);
    timer->start(5ms, [&timer_fired, fired] {
      timer_fired = true;
      fired->set();
    });
    loop_.post(spin);
  });
  ASSERT_TRUE(stopped->wait(loop_, 50s));
  EXPECT_TRUE(timer_fired) << "the timer did not fire in " << turns << " turns of the loop";
  run_on_loop(loop_, [&] { timer.reset(); });
}

TEST_P(LoopWake, TasksPostedFromSocketCallbacksRun) {
  OnePeer peer("hello");
  RawSocket socket;
  Handler handler;
  auto connected_chain = std::make_shared<Flag>();
  auto data_chain = std::make_shared<Flag>();
  auto data_task = std::make_shared<Flag>();
  handler.connected = [&] { post_chain(loop_, 5, connected_chain); };
  handler.data = [&](std::string) {
    loop_.post([data_task] { data_task->set(); });
    post_chain(loop_, 5, data_chain);
  };
  run_on_loop(loop_, [&] {
    std::string error;
    ASSERT_TRUE(loop_.connect(socket, "127.0.0.1", peer.port(), &handler, error)) << error;
  });
  EXPECT_TRUE(connected_chain->wait(loop_, kPrompt)) << "tasks posted on connect waited";
  EXPECT_TRUE(data_task->wait(loop_, kPrompt)) << "a task posted on data waited";
  EXPECT_TRUE(data_chain->wait(loop_, kPrompt)) << "tasks posted by that task waited";
  run_on_loop(loop_, [&] { socket.close(); });
}

TEST_P(LoopWake, ATaskPostedWhenThePeerClosesRuns) {
  OnePeer peer("bye", /*close_after_greeting=*/true);
  RawSocket socket;
  Handler handler;
  auto closed_chain = std::make_shared<Flag>();
  handler.closed = [&](bool) { post_chain(loop_, 5, closed_chain); };
  run_on_loop(loop_, [&] {
    std::string error;
    ASSERT_TRUE(loop_.connect(socket, "127.0.0.1", peer.port(), &handler, error)) << error;
  });
  EXPECT_TRUE(closed_chain->wait(loop_, kPrompt)) << "tasks posted on the close waited";
  run_on_loop(loop_, [&] { socket.close(); });
}

TEST_P(LoopWake, ATaskPostedWhenATimerClosesTheSocketRuns) {
  OnePeer peer("");
  RawSocket socket;
  Handler handler;
  std::unique_ptr<Timer> timer;
  auto connected = std::make_shared<Flag>();
  auto closed_chain = std::make_shared<Flag>();
  handler.connected = [connected] { connected->set(); };
  // The close happens inside the timer's callback (before lws polls): what it posts must wake.
  handler.closed = [&](bool) { post_chain(loop_, 3, closed_chain); };
  run_on_loop(loop_, [&] {
    std::string error;
    ASSERT_TRUE(loop_.connect(socket, "127.0.0.1", peer.port(), &handler, error)) << error;
  });
  ASSERT_TRUE(connected->wait(loop_, 10s));
  run_on_loop(loop_, [&] {
    timer = std::make_unique<Timer>(loop_);
    timer->start(20ms, [&socket] { socket.close(); });
  });
  EXPECT_TRUE(closed_chain->wait(loop_, kPrompt)) << "tasks posted on a timer's close waited";
  run_on_loop(loop_, [&] {
    timer.reset();
    socket.close();
  });
}

TEST_P(LoopWake, ATaskPostedFromAnotherThreadRunsWhileTheLoopIsIdle) {
  std::this_thread::sleep_for(20ms);  // the loop is asleep in poll(2) by now (own thread)
  auto ran = std::make_shared<Flag>();
  std::thread poster([&] { loop_.post([ran] { ran->set(); }); });
  poster.join();
  EXPECT_TRUE(ran->wait(loop_, kPrompt));
}

INSTANTIATE_TEST_SUITE_P(Modes, LoopWake, ::testing::Bool(), mode_label);

TEST(LoopWakePoll, OnePollRunsATaskAndTheTaskItPosts) {
  Loop loop(options_for(false));
  loop.poll();  // a new context's first turn may bring a wake-up of its own
  int ran = 0;
  loop.post([&] {
    ++ran;
    loop.post([&] { ++ran; });
  });
  EXPECT_EQ(loop.poll(), 2u);
  EXPECT_EQ(ran, 2);
}

TEST(LoopWakePoll, PollRunsTheTaskATimerPostsInTheSameCall) {
  Loop loop(options_for(false));
  Timer timer(loop);
  bool fired = false;
  bool ran = false;
  timer.start(1ms, [&] {
    fired = true;
    loop.post([&] { ran = true; });
  });
  const auto deadline = Clock::now() + 10s;
  while (!fired && Clock::now() < deadline) {
    loop.poll();
    if (!fired) std::this_thread::sleep_for(1ms);
  }
  ASSERT_TRUE(fired);
  EXPECT_TRUE(ran) << "poll() returned before running the task its timer posted";
}

}  // namespace
}  // namespace tether::testing
