// outage-demo: sends a numbered message every few hundred milliseconds to an echo server and
// keeps sending while the server goes away and comes back. Prints every state change, every
// scheduled reconnect, which messages waited for the connection, and finally a summary of what
// was sent, echoed and dropped. Public API only.
//
//   outage-demo ws://127.0.0.1:PORT/echo [--count N] [--interval-ms MS] [--echo-wait-ms MS]

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <tether/tether.hpp>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

struct Settings {
  std::string url;
  int count = 40;
  std::chrono::milliseconds interval{200};
  std::chrono::milliseconds echo_wait{10000};
};

void usage() {
  std::cerr << "usage: outage-demo URL [--count N] [--interval-ms MS] [--echo-wait-ms MS]\n";
}

bool parse_int(const char* text, int min, int& out) {
  char* end = nullptr;
  long value = std::strtol(text, &end, 10);
  if (end == text || *end != '\0' || value < min || value > 1000000) return false;
  out = static_cast<int>(value);
  return true;
}

bool parse_args(int argc, char** argv, Settings& settings) {
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    int value = 0;
    if ((arg == "--count" || arg == "--interval-ms" || arg == "--echo-wait-ms") && i + 1 < argc) {
      if (!parse_int(argv[++i], arg == "--count" ? 1 : 0, value)) return false;
      if (arg == "--count") settings.count = value;
      if (arg == "--interval-ms") settings.interval = std::chrono::milliseconds(value);
      if (arg == "--echo-wait-ms") settings.echo_wait = std::chrono::milliseconds(value);
    } else if (settings.url.empty() && arg.rfind("--", 0) != 0) {
      settings.url = arg;
    } else {
      return false;
    }
  }
  return !settings.url.empty();
}

// Everything the callbacks (loop thread) and the sending thread share.
class Demo {
 public:
  explicit Demo(int count) : count_(count), start_(Clock::now()) {}

  // One line of output, prefixed with the time since the start.
  void print(const std::string& line) {
    std::lock_guard<std::mutex> lock(print_mutex_);
    double seconds = std::chrono::duration<double>(Clock::now() - start_).count();
    std::printf("[%6.3fs] %s\n", seconds, line.c_str());
    std::fflush(stdout);
  }

  // send() accepted message `number` as `id`. The queued callback (loop thread) may come before
  // or after this; whichever comes second prints the line.
  void accepted(tether::MessageId id, int number) {
    std::lock_guard<std::mutex> lock(mutex_);
    numbers_[id] = number;
    auto it = queued_ids_.find(id);
    if (it != queued_ids_.end()) {
      waited(number, it->second);
      queued_ids_.erase(it);
    }
  }
  // Message `id` waits for the connection; `depth` messages are in the queue now.
  void queued(tether::MessageId id, std::size_t depth) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = numbers_.find(id);
    if (it != numbers_.end()) {
      waited(it->second, depth);
    } else {
      queued_ids_[id] = depth;
    }
  }
  int number_of(tether::MessageId id) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = numbers_.find(id);
    return it == numbers_.end() ? 0 : it->second;
  }
  void dropped() {
    std::lock_guard<std::mutex> lock(mutex_);
    ++dropped_;
  }
  // An echo "message N": counts it and checks the order.
  void echoed(int number) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (++echo_counts_[number] > 1) ++duplicate_echoes_;
    if (number <= last_echo_) ++out_of_order_;
    last_echo_ = number;
    changed_.notify_all();
  }
  // Waits until every message has been echoed (true) or `timeout` passes.
  bool wait_for_echoes(std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mutex_);
    return changed_.wait_for(lock, timeout,
                             [&] { return static_cast<int>(echo_counts_.size()) == count_; });
  }

  struct Summary {
    int echoed = 0;
    int missing_first = 0;  // the first message without an echo, 0 when none
    int duplicate_echoes = 0;
    int out_of_order = 0;
    int dropped = 0;
    std::set<int> waited;
  };
  Summary summary() {
    std::lock_guard<std::mutex> lock(mutex_);
    Summary s;
    s.echoed = static_cast<int>(echo_counts_.size());
    for (int n = 1; n <= count_ && s.missing_first == 0; ++n) {
      if (echo_counts_.count(n) == 0) s.missing_first = n;
    }
    s.duplicate_echoes = duplicate_echoes_;
    s.out_of_order = out_of_order_;
    s.dropped = dropped_;
    s.waited = waited_;
    return s;
  }

 private:
  void waited(int number, std::size_t depth) {
    waited_.insert(number);
    print("message " + std::to_string(number) + " waits for the connection (" +
          std::to_string(depth) + " in the queue)");
  }

  const int count_;
  const Clock::time_point start_;
  std::mutex print_mutex_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::map<tether::MessageId, int> numbers_;
  std::map<tether::MessageId, std::size_t> queued_ids_;
  std::set<int> waited_;
  std::map<int, int> echo_counts_;
  int last_echo_ = 0;
  int duplicate_echoes_ = 0;
  int out_of_order_ = 0;
  int dropped_ = 0;
};

std::string describe(const tether::Cause& cause) {
  std::ostringstream out;
  if (cause.close_code != 0) {
    out << (cause.by_client ? "client closed " : "server closed ") << cause.close_code;
    if (!cause.close_reason.empty()) out << " \"" << cause.close_reason << '"';
  }
  if (cause.error) {
    if (out.tellp() > 0) out << ", ";
    out << tether::to_string(*cause.error);
    if (!cause.message.empty()) out << ": " << cause.message;
  }
  return out.str();
}

// "12-15, 17" for a set of numbers.
std::string ranges(const std::set<int>& numbers) {
  std::ostringstream out;
  auto it = numbers.begin();
  while (it != numbers.end()) {
    int first = *it;
    int last = first;
    while (++it != numbers.end() && *it == last + 1) last = *it;
    if (out.tellp() > 0) out << ", ";
    out << first;
    if (last != first) out << '-' << last;
  }
  return out.str();
}

}  // namespace

int main(int argc, char** argv) {
  Settings settings;
  if (!parse_args(argc, argv, settings)) {
    usage();
    return 2;
  }

  tether::ClientOptions options;
  options.url = settings.url;
  // Short waits so the demo reconnects soon after the server is back.
  options.reconnect.initial = std::chrono::milliseconds(250);
  options.reconnect.max = std::chrono::milliseconds(1000);
  options.reconnect.jitter = 0.2;

  Demo demo(settings.count);
  // A runtime of the program's own (one loop thread), ended before main returns; the client
  // keeps it alive as long as it needs it.
  std::shared_ptr<tether::Runtime> runtime = tether::Runtime::create();
  tether::Client client(options, runtime);

  client.on_state([&](tether::State from, tether::State to, const tether::Cause& cause) {
    std::string line = std::string("state ") + std::string(tether::to_string(from)) + " -> " +
                       std::string(tether::to_string(to));
    std::string why = describe(cause);
    if (!why.empty()) line += "  (" + why + ")";
    demo.print(line);
  });
  client.on_reconnect_scheduled([&](int attempt, std::chrono::milliseconds delay) {
    demo.print("reconnect #" + std::to_string(attempt) + " scheduled in " +
               std::to_string(delay.count()) + " ms");
  });
  client.on_queued([&](tether::MessageId id, std::size_t depth) { demo.queued(id, depth); });
  client.on_dropped([&](tether::MessageId id, std::size_t, tether::DropReason reason) {
    demo.dropped();
    demo.print("message " + std::to_string(demo.number_of(id)) + " DROPPED (" +
               std::string(tether::to_string(reason)) + ")");
  });
  client.on_message([&](const tether::Message& message) {
    std::string text(message.data);
    const std::string prefix = "message ";
    if (text.rfind(prefix, 0) != 0) {
      demo.print("unexpected: " + text);
      return;
    }
    int number = std::atoi(text.c_str() + prefix.size());
    demo.echoed(number);
    demo.print("echo   " + text);
  });

  if (tether::Error error = client.start()) {
    std::cerr << "outage-demo: " << tether::to_string(error.code) << ": " << error.message << '\n';
    return 1;
  }

  // The first connection, then the application's own pace: one message every `interval`,
  // whatever the connection does.
  for (int i = 0; i < 1000 && !client.is_open() && !client.is_finished(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (!client.is_open()) {
    std::cerr << "outage-demo: could not connect to " << settings.url << '\n';
    return 1;
  }
  auto next = Clock::now();
  for (int number = 1; number <= settings.count; ++number) {
    std::this_thread::sleep_until(next);
    next += settings.interval;
    std::string text = "message " + std::to_string(number);
    demo.print("send   " + text);
    tether::SendResult result = client.send(text);
    if (!result) {
      demo.print("send refused: " + std::string(tether::to_string(result.error)));
      continue;
    }
    demo.accepted(result.id, number);
  }

  bool all_echoed = demo.wait_for_echoes(settings.echo_wait);
  client.close();
  for (int i = 0; i < 500 && !client.is_finished(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }

  tether::Stats stats = client.stats();
  Demo::Summary s = demo.summary();
  std::printf("waited for the connection: %s\n",
              s.waited.empty() ? "none" : ranges(s.waited).c_str());
  std::printf(
      "outage-demo: sent=%d accepted=%llu written=%llu echoed=%d dropped=%d duplicate_echoes=%d "
      "out_of_order=%d reconnects=%llu\n",
      settings.count, static_cast<unsigned long long>(stats.messages_accepted),
      static_cast<unsigned long long>(stats.messages_sent), s.echoed, s.dropped, s.duplicate_echoes,
      s.out_of_order, static_cast<unsigned long long>(stats.reconnects));
  if (!all_echoed && s.missing_first != 0) {
    std::printf("missing echo: message %d (and maybe more)\n", s.missing_first);
  }
  std::fflush(stdout);
  bool ok = all_echoed && s.dropped == 0 && s.duplicate_echoes == 0 && s.out_of_order == 0;
  return ok ? 0 : 1;
}
