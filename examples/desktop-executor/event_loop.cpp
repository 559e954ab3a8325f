#include "event_loop.hpp"

#include <utility>

void EventLoop::post(std::function<void()> task) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (quit_) return;
    tasks_.push_back(std::move(task));
  }
  wake_.notify_one();
}

bool EventLoop::run_until(std::chrono::steady_clock::time_point deadline) {
  thread_.store(std::this_thread::get_id());
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    if (!wake_.wait_until(lock, deadline, [this] { return quit_ || !tasks_.empty(); })) {
      return false;
    }
    if (quit_) return true;
    std::function<void()> task = std::move(tasks_.front());
    tasks_.pop_front();
    lock.unlock();
    task();
    lock.lock();
  }
}

void EventLoop::quit() {
  std::deque<std::function<void()>> discarded;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    quit_ = true;
    discarded.swap(tasks_);
  }
  wake_.notify_one();
  // `discarded` is destroyed here, outside the lock: a task's captures may post again.
}
