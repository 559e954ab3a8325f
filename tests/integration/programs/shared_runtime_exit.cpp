// A program as a user writes it: one client with no runtime of its own (so the process-wide
// Runtime::shared()), one echo, then main returns with the shared runtime still alive; it is
// torn down by the exit handlers. tests/integration/runtime_exit_test.cpp runs it, under
// LeakSanitizer, and expects exit status 0 (a leak makes it exit 1 under ASan, 23 under
// standalone LeakSanitizer).
//
//   shared_runtime_exit URL [CA_FILE]
//   shared_runtime_exit --destroy-in-callback URL
//
// With --destroy-in-callback the client has a runtime of its own and holds the only reference to
// it; the echo's callback sends 16 MiB and destroys the client (so the runtime, on its own loop
// thread), and main returns at once: the 16 MiB and the close handshake still have to go out.
//
// Exit status: 0 after the echo came back, 1 when it did not (the reason on stderr), 2 on usage.

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>

#include "tether/tether.hpp"

namespace {

// The echo's callback destroys the client, which holds the last reference to its runtime; main
// returns as soon as it has.
int destroy_in_callback(const char* url) {
  tether::ClientOptions options;
  options.url = url;
  options.proxy = "direct";
  std::mutex mutex;
  std::condition_variable cv;
  bool destroyed = false;
  std::string failure;
  auto client = std::make_unique<tether::Client>(options, tether::Runtime::create());
  client->on_open([&](const tether::OpenInfo&) { client->send("hello"); });
  client->on_message([&](const tether::Message&) {
    std::lock_guard<std::mutex> lock(mutex);
    // A destroyed client still sends what it queued, then closes: 16 MiB take a while to write.
    client->send(std::string(std::size_t{16} << 20, 'x'));
    client.reset();
    destroyed = true;
    cv.notify_all();
  });
  client->on_error([&](const tether::Error& error) {
    std::lock_guard<std::mutex> lock(mutex);
    failure = std::string(tether::to_string(error.code)) + ": " + error.message;
    cv.notify_all();
  });
  if (auto error = client->start()) {
    std::fprintf(stderr, "start: %s\n", error.message.c_str());
    return 1;
  }
  std::unique_lock<std::mutex> lock(mutex);
  if (!cv.wait_for(lock, std::chrono::seconds(20), [&] { return destroyed || !failure.empty(); }) ||
      !destroyed) {
    std::fprintf(stderr, "no echo: %s\n", failure.empty() ? "timed out" : failure.c_str());
    return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 3 && std::string(argv[1]) == "--destroy-in-callback") {
    return destroy_in_callback(argv[2]);
  }
  if (argc != 2 && argc != 3) {
    std::fprintf(stderr,
                 "usage: shared_runtime_exit URL [CA_FILE]\n"
                 "       shared_runtime_exit --destroy-in-callback URL\n");
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
