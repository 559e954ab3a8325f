#include "status_line.hpp"

#include <algorithm>
#include <cstdio>
#include <utility>

namespace cli {

namespace {

using Clock = std::chrono::steady_clock;

/// "1.5 s" below ten seconds (rounded up to a tenth), "12 s" above (rounded up).
std::string seconds_text(Clock::duration remaining) {
  const long long ms =
      std::max<long long>(0, std::chrono::ceil<std::chrono::milliseconds>(remaining).count());
  char text[32];
  if (ms < 10000) {
    const long long tenths = (ms + 99) / 100;
    std::snprintf(text, sizeof text, "%lld.%lld s", tenths / 10, tenths % 10);
  } else {
    std::snprintf(text, sizeof text, "%lld s", (ms + 999) / 1000);
  }
  return text;
}

}  // namespace

std::string format_status(const StatusSnapshot& s, Clock::time_point now) {
  std::string text(tether::to_string(s.state));
  const bool reconnecting =
      s.state == tether::State::connecting || s.state == tether::State::waiting;
  if (reconnecting && s.attempt > 0) text += " | attempt " + std::to_string(s.attempt);
  if (s.state == tether::State::waiting && s.retry_at) {
    text += " | retry in " + seconds_text(*s.retry_at - now);
  }
  text += " | queue " + std::to_string(s.queue_depth);
  return text;
}

StatusLine::StatusLine(EventLog& log) : log_(log), enabled_(log.has_status()) {}

StatusLine::~StatusLine() {
  stop();
}

void StatusLine::start(std::function<std::size_t()> queue_depth) {
  if (!enabled_ || thread_.joinable()) return;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stop_) return;
    queue_depth_ = std::move(queue_depth);
    started_ = true;
    urgent_ = true;
  }
  thread_ = std::thread([this] { run(); });
}

void StatusLine::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  changed_.notify_all();
  if (thread_.joinable()) thread_.join();
  log_.clear_status();
}

void StatusLine::on_state(tether::State to) {
  if (!enabled_) return;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    snapshot_.state = to;
    if (to != tether::State::waiting) snapshot_.retry_at.reset();
    if (to == tether::State::open || to == tether::State::authenticating) snapshot_.attempt = 0;
    draw_now_locked();
    dirty_ = true;  // the status thread refreshes the queue depth
  }
  changed_.notify_all();
}

void StatusLine::on_retry(int attempt, std::chrono::milliseconds delay) {
  if (!enabled_) return;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    snapshot_.attempt = attempt;
    snapshot_.retry_at = Clock::now() + delay;
    draw_now_locked();
    dirty_ = true;
  }
  changed_.notify_all();
}

void StatusLine::on_queued(std::size_t depth) {
  if (!enabled_) return;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    snapshot_.queue_depth = depth;
    dirty_ = true;
  }
  changed_.notify_all();
}

void StatusLine::draw_now_locked() {
  if (!started_ || stop_) return;
  log_.set_status(format_status(snapshot_, Clock::now()));
}

void StatusLine::poke() {
  if (!enabled_) return;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    dirty_ = true;
  }
  changed_.notify_all();
}

void StatusLine::run() {
  std::unique_lock<std::mutex> lock(mutex_);
  Clock::time_point last_draw{};
  while (!stop_) {
    const auto now = Clock::now();
    const bool countdown = snapshot_.state == tether::State::waiting && snapshot_.retry_at;
    if (urgent_ || ((dirty_ || countdown) && now - last_draw >= kPeriod)) {
      urgent_ = false;
      dirty_ = false;
      lock.unlock();
      draw();
      lock.lock();
      last_draw = Clock::now();
      continue;
    }
    if (dirty_ || countdown) {
      changed_.wait_until(lock, last_draw + kPeriod);
    } else {
      changed_.wait(lock);
    }
  }
}

void StatusLine::draw() {
  // The depth is asked without the lock; the snapshot drawn is the one current after it, under
  // the lock, so a state drawn by on_state() is never overwritten by an older one.
  const std::optional<std::size_t> depth =
      queue_depth_ ? std::optional<std::size_t>(queue_depth_()) : std::nullopt;
  std::lock_guard<std::mutex> lock(mutex_);
  if (depth) snapshot_.queue_depth = *depth;
  draw_now_locked();
}

}  // namespace cli
