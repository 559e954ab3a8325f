// Request/response throughput with correlation next to plain message round trips, over one
// connection through the public Client API, against tether_test_server (started by the caller).
// Prints one JSON line on stdout. See tests/bench/README.md and scripts/bench-requests.sh.
//
//   request_bench URL MODE COUNT [--window N] [--size BYTES] [--timeout S]
//     URL    ws://HOST:PORT (the server's base URL)
//     MODE   messages: text messages to /echo, each echo awaited (at most WINDOW in flight)
//            requests: requests to /app (the default envelope), each response matched to its
//                      request by id (at most WINDOW pending)
//     --window N   most in flight (default 1000)
//     --size B     payload string length (default 16)

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <tether/tether.hpp>

namespace {

using Clock = std::chrono::steady_clock;

struct Window {
  std::mutex mutex;
  std::condition_variable changed;
  long in_flight = 0;
  long done = 0;
  long bad = 0;

  void finished(bool ok) {
    std::lock_guard<std::mutex> lock(mutex);
    --in_flight;
    ++done;
    if (!ok) ++bad;
    changed.notify_all();
  }
};

int usage() {
  std::fprintf(
      stderr,
      "usage: request_bench URL messages|requests COUNT [--window N] [--size B] [--timeout S]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) return usage();
  const std::string base = argv[1];
  const std::string mode = argv[2];
  const long count = std::atol(argv[3]);
  long window_size = 1000;
  std::size_t size = 16;
  int timeout_s = 120;
  for (int i = 4; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--window") {
      window_size = std::atol(argv[i + 1]);
    } else if (flag == "--size") {
      size = static_cast<std::size_t>(std::atol(argv[i + 1]));
    } else if (flag == "--timeout") {
      timeout_s = std::atoi(argv[i + 1]);
    } else {
      return usage();
    }
  }
  if (mode != "messages" && mode != "requests") return usage();

  tether::RuntimeOptions runtime_options;
  runtime_options.log = [](tether::LogLevel, const std::string&) {};
  auto runtime = tether::Runtime::create(runtime_options);
  tether::ClientOptions options;
  options.url = base + (mode == "messages" ? "/echo" : "/app");
  options.proxy = "direct";
  options.queue.max_messages = static_cast<std::size_t>(window_size) + 16;
  tether::Client client(options, runtime);
  Window window;
  std::atomic<bool> open{false};
  client.on_open([&](const tether::OpenInfo&) {
    open = true;
    std::lock_guard<std::mutex> lock(window.mutex);
    window.changed.notify_all();
  });
  const std::string payload(size, 'x');
  client.on_message([&](const tether::Message& m) {
    if (mode == "messages") window.finished(m.data.size() == size);
  });
  if (auto error = client.start()) {
    std::fprintf(stderr, "request_bench: %s\n", error.message.c_str());
    return 1;
  }
  const auto give_up = Clock::now() + std::chrono::seconds(timeout_s);
  {
    std::unique_lock<std::mutex> lock(window.mutex);
    if (!window.changed.wait_until(lock, give_up, [&] { return open.load(); })) {
      std::fprintf(stderr, "request_bench: no connection\n");
      return 1;
    }
  }
  const tether::Json body(payload);
  const auto start = Clock::now();
  for (long sent = 0; sent < count; ++sent) {
    {
      std::unique_lock<std::mutex> lock(window.mutex);
      if (!window.changed.wait_until(lock, give_up,
                                     [&] { return window.in_flight < window_size; })) {
        std::fprintf(stderr, "request_bench: timed out after %ld\n", window.done);
        return 1;
      }
      ++window.in_flight;
    }
    if (mode == "messages") {
      client.send(payload);
    } else {
      client.request("echo", body, [&](const tether::Response& r) {
        window.finished(r.ok() && r.payload.as_string().size() == size);
      });
    }
  }
  {
    std::unique_lock<std::mutex> lock(window.mutex);
    if (!window.changed.wait_until(lock, give_up, [&] { return window.done == count; })) {
      std::fprintf(stderr, "request_bench: timed out after %ld\n", window.done);
      return 1;
    }
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  std::printf(
      "{\"mode\":\"%s\",\"count\":%ld,\"window\":%ld,\"size\":%zu,\"seconds\":%.4f,"
      "\"per_second\":%.0f,\"bad\":%ld}\n",
      mode.c_str(), count, window_size, size, seconds, count / seconds, window.bad);
  client.close_now();
  return window.bad == 0 ? 0 : 1;
}
