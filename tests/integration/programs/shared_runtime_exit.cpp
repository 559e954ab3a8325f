// A program as a user writes it: one client with no runtime of its own (so the process-wide
// Runtime::shared()), one echo, then main returns with the shared runtime still alive; it is
// torn down by the exit handlers. tests/integration/runtime_exit_test.cpp runs it, under
// LeakSanitizer, and expects exit status 0 (a leak makes it exit 1 under ASan, 23 under
// standalone LeakSanitizer).
//
//   shared_runtime_exit URL [CA_FILE]
//
// Exit status: 0 after the echo came back, 1 when it did not (the reason on stderr), 2 on usage.

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <string>

#include "tether/tether.hpp"

int main(int argc, char** argv) {
  if (argc != 2 && argc != 3) {
    std::fprintf(stderr, "usage: shared_runtime_exit URL [CA_FILE]\n");
    return 2;
  }
  tether::ClientOptions options;
  options.url = argv[1];
  options.proxy = "direct";
  if (argc == 3) options.tls.ca_file = argv[2];

  std::mutex mutex;
  std::condition_variable cv;
  bool echoed = false;
  std::string failure;
  tether::Client client(options);
  client.on_open([&](const tether::OpenInfo&) { client.send("hello"); });
  client.on_message([&](const tether::Message& message) {
    std::lock_guard<std::mutex> lock(mutex);
    echoed = message.data == "hello";
    cv.notify_all();
  });
  client.on_error([&](const tether::Error& error) {
    std::lock_guard<std::mutex> lock(mutex);
    failure = std::string(tether::to_string(error.code)) + ": " + error.message;
    cv.notify_all();
  });
  if (auto error = client.start()) {
    std::fprintf(stderr, "start: %s\n", error.message.c_str());
    return 1;
  }
  std::unique_lock<std::mutex> lock(mutex);
  if (!cv.wait_for(lock, std::chrono::seconds(20), [&] { return echoed || !failure.empty(); }) ||
      !echoed) {
    std::fprintf(stderr, "no echo: %s\n", failure.empty() ? "timed out" : failure.c_str());
    return 1;
  }
  // The client closes as main returns; the shared runtime outlives main.
  return 0;
}
