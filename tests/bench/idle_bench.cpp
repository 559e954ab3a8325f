// What an idle tether costs in a program that links tether and nothing else: CPU and RSS of one
// idle connection, and RSS per connection for many. transport_bench links every adapter it
// compares (Boost.Asio, websocketpp, lws's ws role, a blocking OpenSSL client), which makes its
// process several MiB bigger before tether does anything; this program is the measurement the
// RSS targets are about. Prints one JSON line on stdout in transport_bench's format (adapter
// "tether"), so scripts/bench.sh and report.py take it as they take transport_bench's idle and
// many lines. See tests/bench/README.md.
//
//   idle_bench URL MODE COUNT [options]
//     URL      ws:// or wss:// echo endpoint (the test server's /echo)
//     MODE     idle: one client with default options (on the process-wide shared runtime) open
//                    and idle for --idle-seconds: CPU %, and RSS before the runtime existed,
//                    with the runtime and no connection, and connected (COUNT must be 1);
//                    connected and before, its anonymous part too (RssAnon), and `ulimit -n`
//              many: COUNT clients on the shared runtime: RSS with none, one and all open, and
//                    per extra connection
//   options:
//     --cpu N             pin the process (every thread) to CPU N
//     --idle-seconds S    idle: how long (default 10)
//     --ca FILE           trust this PEM bundle too (wss)
//     --timeout S         give up after S seconds (default 120)
//     --smaps PREFIX      idle: copy /proc/self/smaps to PREFIX-before.txt, PREFIX-runtime.txt
//                         and PREFIX-connected.txt at the three RSS readings (what is resident,
//                         mapping by mapping)

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "bench_common.hpp"
#include "tether/tether.hpp"

namespace {

using bench::Clock;
using bench::Config;
using bench::Result;

[[noreturn]] void usage() {
  std::fprintf(stderr,
               "usage: idle_bench URL idle|many COUNT [--cpu N] [--idle-seconds S] [--ca FILE]\n"
               "                  [--timeout S] [--smaps PREFIX]\n");
  std::exit(2);
}

// Callbacks (on the loop thread) report through this; the main thread waits on it.
class Events {
 public:
  void add_open() {
    update([this] { ++opens_; });
  }
  void add_close() {
    update([this] { ++closes_; });
  }
  void fail(const tether::Error& error) {
    update([&] {
      if (error_.empty())
        error_ = std::string(tether::to_string(error.code)) + ": " + error.message;
    });
  }
  /// Waits until `opens` clients are open, an error, or the deadline; false unless all opened.
  bool wait_opens(std::uint64_t opens, Clock::time_point deadline) {
    std::unique_lock<std::mutex> lock(mutex_);
    cv_.wait_until(lock, deadline, [&] { return opens_ >= opens || !error_.empty(); });
    return opens_ >= opens && error_.empty();
  }
  std::uint64_t opens() {
    std::lock_guard<std::mutex> lock(mutex_);
    return opens_;
  }
  std::uint64_t closes() {
    std::lock_guard<std::mutex> lock(mutex_);
    return closes_;
  }
  std::string error() {
    std::lock_guard<std::mutex> lock(mutex_);
    return error_;
  }

 private:
  template <typename F>
  void update(F change) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      change();
    }
    cv_.notify_all();
  }

  std::mutex mutex_;
  std::condition_variable cv_;
  std::uint64_t opens_ = 0;
  std::uint64_t closes_ = 0;
  std::string error_;
};

// A client with default options but the URL (and the bench's CA for wss), reporting to `events`.
std::unique_ptr<tether::Client> make_client(const Config& config, Events& events) {
  tether::ClientOptions options;
  options.url = config.url;
  options.tls.ca_file = config.ca_file;
  auto client = std::make_unique<tether::Client>(std::move(options));
  client->on_open([&events](const tether::OpenInfo&) { events.add_open(); });
  client->on_close([&events](const tether::CloseInfo&) { events.add_close(); });
  client->on_error([&events](const tether::Error& error) { events.fail(error); });
  return client;
}

// Where --smaps copies go ("" = nowhere).
std::string g_smaps_prefix;

void save_smaps(const char* stage) {
  if (g_smaps_prefix.empty()) return;
  std::ifstream in("/proc/self/smaps");
  std::ofstream out(g_smaps_prefix + "-" + stage + ".txt");
  out << in.rdbuf();
}

void sleep_s(double seconds) {
  std::this_thread::sleep_for(std::chrono::microseconds(static_cast<std::int64_t>(seconds * 1e6)));
}

Result run_idle(const Config& config, long rss_before, long anon_before) {
  Result result;
  if (config.count != 1) {
    result.error = "idle takes COUNT 1";
    return result;
  }
  // The runtime every default client uses, started before the client so its cost shows apart.
  const auto runtime = tether::Runtime::shared();
  sleep_s(0.1);
  const long rss_runtime = bench::rss_kib();
  save_smaps("runtime");
  Events events;
  auto client = make_client(config, events);
  if (auto error = client->start()) {
    result.error = std::string(tether::to_string(error.code)) + ": " + error.message;
    return result;
  }
  if (!events.wait_opens(1, Clock::now() + config.timeout())) {
    result.error = events.error().empty() ? "not open" : events.error();
    return result;
  }
  sleep_s(0.2);
  const double cpu0 = bench::process_cpu_seconds();
  const auto t0 = Clock::now();
  sleep_s(config.idle_s);
  const double cpu = bench::process_cpu_seconds() - cpu0;
  result.seconds = bench::seconds_between(t0, Clock::now());
  result.cpu_seconds = cpu;
  const long rss = bench::rss_kib();
  const long rss_anon = bench::rss_anon_kib();
  save_smaps("connected");
  if (events.closes() != 0 || !client->is_open()) {
    result.error = "the connection did not stay open";
    return result;
  }
  result.extras.push_back({"idle_cpu_pct", 100.0 * cpu / result.seconds, 3});
  result.extras.push_back({"rss_kib", static_cast<double>(rss), 0});
  result.extras.push_back({"rss_before_tether_kib", static_cast<double>(rss_before), 0});
  result.extras.push_back({"rss_runtime_kib", static_cast<double>(rss_runtime), 0});
  // What the process owns, library code (file-backed, shared with every process that maps the
  // same libraries) left out; and `ulimit -n`, which sizes libwebsockets' per-fd tables.
  result.extras.push_back({"rss_anon_kib", static_cast<double>(rss_anon), 0});
  result.extras.push_back({"rss_anon_before_tether_kib", static_cast<double>(anon_before), 0});
  result.extras.push_back({"open_files_limit", static_cast<double>(bench::open_files_limit()), 0});
  client->close();
  const auto deadline = Clock::now() + std::chrono::seconds(3);
  while (events.closes() == 0 && !client->is_finished() && Clock::now() < deadline) sleep_s(0.01);
  return result;
}

Result run_many(const Config& config, long rss_before) {
  Result result;
  const auto runtime = tether::Runtime::shared();
  sleep_s(0.1);
  const long rss_none = bench::rss_kib();
  Events events;
  std::vector<std::unique_ptr<tether::Client>> clients;
  clients.reserve(config.count);
  const auto deadline = Clock::now() + config.timeout();
  long rss_one = 0;
  const auto start = Clock::now();
  for (std::uint64_t i = 0; i < config.count; ++i) {
    clients.push_back(make_client(config, events));
    if (auto error = clients.back()->start()) {
      result.error = std::string(tether::to_string(error.code)) + ": " + error.message;
      return result;
    }
    if (i == 0) {
      if (!events.wait_opens(1, deadline)) {
        result.error =
            events.error().empty() ? "the first connection did not open" : events.error();
        return result;
      }
      sleep_s(0.1);
      rss_one = bench::rss_kib();
    }
  }
  if (!events.wait_opens(config.count, deadline)) {
    result.error = events.error().empty() ? std::to_string(events.opens()) + " of " +
                                                std::to_string(config.count) + " open"
                                          : events.error();
    return result;
  }
  result.seconds = bench::seconds_between(start, Clock::now());
  sleep_s(0.2);
  const long rss_all = bench::rss_kib();
  result.messages = config.count;
  bench::add_many_extras(result, config.count, rss_none, rss_one, rss_all);
  result.extras.push_back({"rss_before_tether_kib", static_cast<double>(rss_before), 0});
  for (auto& client : clients) client->close_now();
  clients.clear();
  return result;
}

}  // namespace

int main(int argc, char** argv) {
  // The process before tether does anything: the binary and the libraries it links.
  const long rss_before = bench::rss_kib();
  const long anon_before = bench::rss_anon_kib();
  Config config;
  config.adapter = "tether";
  std::vector<std::string> positional;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> const char* {
      if (i + 1 >= argc) usage();
      return argv[++i];
    };
    if (arg == "--cpu") {
      std::uint64_t n = 0;
      if (!bench::parse_u64(value(), n) || n > 1023) usage();
      config.cpu = static_cast<int>(n);
    } else if (arg == "--idle-seconds") {
      config.idle_s = std::atof(value());
      if (config.idle_s <= 0) usage();
    } else if (arg == "--ca") {
      config.ca_file = value();
    } else if (arg == "--smaps") {
      g_smaps_prefix = value();
    } else if (arg == "--timeout") {
      config.timeout_s = std::atof(value());
      if (config.timeout_s <= 0) usage();
    } else if (arg.size() > 1 && arg[0] == '-') {
      usage();
    } else {
      positional.push_back(arg);
    }
  }
  if (positional.size() != 3) usage();
  config.url = positional[0];
  config.mode = positional[1];
  if ((config.mode != "idle" && config.mode != "many") ||
      !bench::parse_u64(positional[2].c_str(), config.count) || config.count == 0) {
    usage();
  }
  if (!bench::pin_to_cpu(config.cpu)) return 1;
  save_smaps("before");
  Result result = config.mode == "idle" ? run_idle(config, rss_before, anon_before)
                                        : run_many(config, rss_before);
  return bench::print_result(config, result);
}
