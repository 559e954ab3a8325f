// desktop-executor: tether's callbacks marshalled to an application's own event loop through
// ClientOptions::executor, the way a desktop application gets them onto its UI thread.
//
// The main thread runs a small event loop (the "UI thread"). Every callback is posted to it and
// checks that it runs there; a background worker thread sends messages (Client::send works from
// any thread); each echo, and every other event, is printed by the UI thread. Once every echo is
// back the UI closes the connection and the loop ends.

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <tether/tether.hpp>
#include <thread>

#include "event_loop.hpp"

namespace {

struct Args {
  std::string url;
  int count = 5;
  int timeout_s = 15;
};

void usage(std::FILE* out) {
  std::fprintf(out,
               "usage: desktop-executor --url ws://HOST:PORT/PATH [--count N] [--timeout S]\n"
               "\n"
               "  --url URL      an echo endpoint (the bundled server's /echo)\n"
               "  --count N      messages the worker thread sends (default 5)\n"
               "  --timeout S    give up after S seconds (default 15)\n");
}

bool parse_int(const char* text, int min, int max, int& out) {
  char* end = nullptr;
  const long value = std::strtol(text, &end, 10);
  if (end == text || *end != '\0' || value < min || value > max) return false;
  out = static_cast<int>(value);
  return true;
}

// 0: parsed; 1: --help printed; 2: usage error (printed).
int parse_args(int argc, char** argv, Args& args) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      usage(stdout);
      return 1;
    }
    bool ok = i + 1 < argc;
    if (ok && arg == "--url") {
      args.url = argv[++i];
    } else if (ok && arg == "--count") {
      ok = parse_int(argv[++i], 1, 100000, args.count);
    } else if (ok && arg == "--timeout") {
      ok = parse_int(argv[++i], 1, 3600, args.timeout_s);
    } else {
      ok = false;
    }
    if (!ok) {
      std::fprintf(stderr, "desktop-executor: bad or unknown option %s\n", argv[i]);
      usage(stderr);
      return 2;
    }
  }
  if (args.url.empty()) {
    std::fprintf(stderr, "desktop-executor: --url is required\n");
    usage(stderr);
    return 2;
  }
  return 0;
}

// Lines from the UI thread and the worker thread, whole lines at a time.
std::mutex print_mutex;
void print_line(const std::string& line) {
  std::lock_guard<std::mutex> lock(print_mutex);
  std::fprintf(stdout, "%s\n", line.c_str());
  std::fflush(stdout);
}

std::string name(tether::errc code) {
  return std::string(tether::to_string(code));
}
std::string name(tether::State state) {
  return std::string(tether::to_string(state));
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  if (const int parsed = parse_args(argc, argv, args)) return parsed == 1 ? 0 : 2;

  // Declared before the client so it outlives it: the executor posts into it.
  EventLoop ui;

  // UI state: touched by UI-thread tasks only, so it needs no lock.
  int callbacks = 0;
  int echoes = 0;
  bool opened = false;

  // Every callback starts here: it must be running on the UI thread.
  auto on_ui = [&](const char* event) {
    if (!ui.is_loop_thread()) {
      std::fprintf(stderr, "desktop-executor: the %s callback ran off the UI thread\n", event);
      std::abort();
    }
    ++callbacks;
  };

  tether::ClientOptions options;
  options.url = args.url;
  options.callback_mode = tether::CallbackMode::executor;
  options.executor = [&ui](std::function<void()> task) { ui.post(std::move(task)); };
  options.reconnect.initial = std::chrono::milliseconds(250);
  options.reconnect.max = std::chrono::milliseconds(2000);
  // The application owns its runtime (tether's loop thread), so it is shut down at the end of
  // main, before static destruction.
  std::shared_ptr<tether::Runtime> runtime = tether::Runtime::create();
  tether::Client client(options, runtime);

  std::thread worker;
  auto start_worker = [&] {
    worker = std::thread([&client, count = args.count] {
      // A background job: Client::send is thread-safe and never waits for the network.
      for (int i = 1; i <= count; ++i) {
        const std::string text = "hello " + std::to_string(i);
        if (!client.send(text)) {
          print_line("[worker] send refused: " + text);
          return;
        }
      }
      print_line("[worker] queued " + std::to_string(count) + " messages");
    });
  };

  client.on_state([&](tether::State from, tether::State to, const tether::Cause&) {
    on_ui("state");
    print_line("[ui] state " + name(from) + " -> " + name(to));
    if (to == tether::State::closed || to == tether::State::failed) ui.quit();
  });
  client.on_open([&](const tether::OpenInfo&) {
    on_ui("open");
    print_line("[ui] open");
    if (!opened) {
      opened = true;
      start_worker();
    }
  });
  client.on_sent([&](tether::MessageId id, std::size_t bytes) {
    on_ui("sent");
    print_line("[ui] sent #" + std::to_string(id) + " (" + std::to_string(bytes) + " bytes)");
  });
  client.on_message([&](const tether::Message& message) {
    on_ui("message");
    print_line("[ui] message \"" + std::string(message.data) + "\"");
    if (++echoes == args.count) {
      print_line("[ui] every echo is back: closing");
      client.close(1000, "done");
    }
  });
  client.on_error([&](const tether::Error& error) {
    on_ui("error");
    print_line("[ui] error " + name(error.code) + ": " + error.message);
  });
  client.on_close([&](const tether::CloseInfo& info) {
    on_ui("close");
    print_line("[ui] closed " + std::to_string(info.code) + " \"" + info.reason + "\"" +
               (info.clean ? " clean" : " not clean") +
               (info.by_client ? ", by us" : ", by server"));
  });

  if (const tether::Error error = client.start()) {
    std::fprintf(stderr, "desktop-executor: %s: %s\n", name(error.code).c_str(),
                 error.message.c_str());
    return 1;
  }

  // The application's event loop; everything above happens inside it.
  const bool ended =
      ui.run_until(std::chrono::steady_clock::now() + std::chrono::seconds(args.timeout_s));
  if (worker.joinable()) worker.join();
  if (!ended) {
    print_line("desktop-executor: timed out after " + std::to_string(args.timeout_s) + " s");
  }
  const tether::State final_state = client.state();
  print_line("desktop-executor: " + std::to_string(callbacks) +
             " callbacks, all on the UI thread; " + std::to_string(echoes) + " of " +
             std::to_string(args.count) + " echoes; final state " + name(final_state));
  return ended && echoes == args.count && final_state == tether::State::closed ? 0 : 1;
}
