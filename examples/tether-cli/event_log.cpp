#include "event_log.hpp"

#include <sys/ioctl.h>
#include <unistd.h>

namespace cli {

namespace {

constexpr char kEraseLine[] = "\r\x1b[K";

void write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n <= 0) return;
    data.remove_prefix(static_cast<std::size_t>(n));
  }
}

/// `text` cut so that it fits on one line of the terminal on stderr (a line that wraps could not
/// be redrawn in place).
std::string fit_to_terminal(const std::string& text) {
  winsize size{};
  if (::ioctl(2, TIOCGWINSZ, &size) != 0 || size.ws_col < 2) return text;
  const std::size_t room = static_cast<std::size_t>(size.ws_col) - 1;
  return text.size() <= room ? text : text.substr(0, room);
}

}  // namespace

std::string json_string(std::string_view text) {
  std::string out = "\"";
  for (unsigned char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
  return out;
}

void EventLog::event(std::string_view name, const std::string& fields) {
  if (!json_) return;
  // Timed under the lock: events from different threads (the loop's, stdin's) then reach stderr
  // in the order of their t_ms.
  std::lock_guard<std::mutex> lock(mutex_);
  const auto t = std::chrono::duration_cast<std::chrono::milliseconds>(
                     std::chrono::steady_clock::now() - start_)
                     .count();
  const std::string line =
      "{\"event\":" + json_string(name) + ",\"t_ms\":" + std::to_string(t) + fields + "}\n";
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
}

void EventLog::human(const std::string& line) {
  if (json_) return;
  std::lock_guard<std::mutex> lock(mutex_);
  erase_locked();
  std::fprintf(stderr, "%s\n", line.c_str());
  std::fflush(stderr);
  redraw_locked();
}

void EventLog::out(std::string_view data, std::string_view tail) {
  std::lock_guard<std::mutex> lock(mutex_);
  const bool step_aside = status_ && !shown_.empty() && ::isatty(1) == 1;
  if (step_aside) erase_locked();
  // An empty view may have a null data(), which fwrite must not get.
  if (!data.empty()) std::fwrite(data.data(), 1, data.size(), stdout);
  if (!tail.empty()) std::fwrite(tail.data(), 1, tail.size(), stdout);
  std::fflush(stdout);
  if (step_aside) redraw_locked();
}

void EventLog::set_status(const std::string& text) {
  if (!status_) return;
  std::lock_guard<std::mutex> lock(mutex_);
  if (cleared_) return;
  wanted_ = text;
  if (shown_ == wanted_) return;
  redraw_locked();
}

void EventLog::clear_status() {
  if (!status_) return;
  std::lock_guard<std::mutex> lock(mutex_);
  erase_locked();
  cleared_ = true;
  wanted_.clear();
}

void EventLog::clear_status_now() {
  if (status_) write_all(2, kEraseLine);
}

void EventLog::erase_locked() {
  if (shown_.empty()) return;
  std::fflush(stderr);
  write_all(2, kEraseLine);
  shown_.clear();
}

void EventLog::redraw_locked() {
  if (!status_ || cleared_ || wanted_.empty()) return;
  std::fflush(stderr);
  const std::string text = fit_to_terminal(wanted_);
  write_all(2, "\r" + text + "\x1b[K");
  shown_ = wanted_;
}

}  // namespace cli
