// tether-cli: a wscat/websocat-style client built only on tether's public API.
// stdin lines out, received messages on stdout, an optional JSON-lines event log on stderr.

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <tether/tether.hpp>
#include <thread>
#include <unordered_set>

#include "cli_options.hpp"
#include "event_log.hpp"
#include "status_line.hpp"

namespace {

std::string hex_bytes(std::string_view data) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  out.reserve(data.size() * 3);
  for (std::size_t i = 0; i < data.size(); ++i) {
    if (i) out += ' ';
    const auto byte = static_cast<unsigned char>(data[i]);
    out += digits[byte >> 4];
    out += digits[byte & 15];
  }
  return out;
}

struct Shared {
  std::mutex mutex;
  std::condition_variable changed;
  bool eof = false;
  int signals = 0;
  bool opened = false;
  bool finished = false;
  int exit_code = 2;
  bool close_requested = false;      // close(): deliver what waits, then close
  bool close_now_requested = false;  // close_now(): drop what waits, close at once
  long long received = 0;
  long long outstanding = 0;  // --request: requests whose result has not arrived yet
  std::atomic<bool> stop{false};
  // Lines refused with queue_full: their `error` is written just before the `dropped` overflow
  // event the library reports for them, so both sit in the log where the refusal happened.
  // Held across send() (so the id is known before on_dropped can look for it) and by on_dropped.
  std::mutex send_mutex;
  std::unordered_set<tether::MessageId> refused;
};

/// Sends one stdin line; a line refused by a full queue is remembered for on_dropped.
void send_line(tether::Client& client, std::string_view line, Shared& shared) {
  std::lock_guard<std::mutex> lock(shared.send_mutex);
  const tether::SendResult result = client.send(line);
  if (result.error == tether::errc::queue_full) shared.refused.insert(result.id);
}

/// A --request line: {"type":T,"payload":P} (payload optional). Returns false with `why` when
/// the line is not such an object.
bool parse_request_line(std::string_view line, std::string& type, tether::Json& payload,
                        std::string& why) {
  std::string error;
  std::optional<tether::Json> parsed = tether::Json::parse(line, &error);
  if (!parsed) {
    why = "not JSON: " + error;
    return false;
  }
  if (!parsed->is_object()) {
    why = std::string("not a JSON object (") + std::string(tether::to_string(parsed->type())) + ")";
    return false;
  }
  const tether::Json* type_value = parsed->find("type");
  if (!type_value || !type_value->is_string() || type_value->as_string().empty()) {
    why = "no \"type\" string";
    return false;
  }
  type = type_value->as_string();
  if (tether::Json* p = parsed->find("payload")) payload = std::move(*p);
  return true;
}

/// The line printed for a request's result: the response as the server sent it (on one line),
/// or the failure the client decided, in the same shape.
std::string response_line(const tether::Response& r) {
  if (r.error == tether::errc{}) {
    if (r.text.find_first_of("\r\n") == std::string::npos) return r.text;
    // Whitespace between JSON tokens may hold line breaks: print the object compact instead.
    if (auto parsed = tether::Json::parse(r.text)) return parsed->dump();
    return r.text;
  }
  tether::Json error = tether::Json::object();
  error["code"] = tether::Json(tether::to_string(r.error));
  error["message"] = tether::Json(r.message);
  tether::Json out = tether::Json::object();
  out["id"] = tether::Json(r.id);
  out["error"] = std::move(error);
  return out.dump();
}

std::string to_milliseconds(std::chrono::microseconds us) {
  char text[32];
  std::snprintf(text, sizeof text, "%.3f", static_cast<double>(us.count()) / 1000.0);
  return text;
}

void read_stdin(const std::function<void(std::string_view)>& on_line, Shared& shared) {
  std::string buffer;
  char chunk[65536];
  while (!shared.stop.load()) {
    pollfd fd{0, POLLIN, 0};
    const int ready = ::poll(&fd, 1, 100);
    if (ready < 0) continue;
    if (ready == 0) continue;
    const ssize_t n = ::read(0, chunk, sizeof chunk);
    if (n < 0) continue;
    if (n == 0) break;
    buffer.append(chunk, static_cast<std::size_t>(n));
    std::size_t start = 0;
    for (;;) {
      const auto newline = buffer.find('\n', start);
      if (newline == std::string::npos) break;
      std::string_view line(buffer.data() + start, newline - start);
      on_line(line);
      start = newline + 1;
    }
    buffer.erase(0, start);
  }
  if (!buffer.empty() && !shared.stop.load()) on_line(buffer);
  std::lock_guard<std::mutex> lock(shared.mutex);
  shared.eof = true;
  shared.changed.notify_all();
}

void wait_signals(const sigset_t& set, Shared& shared, cli::EventLog& log) {
  const timespec tick{0, 100 * 1000 * 1000};
  while (!shared.stop.load()) {
    if (sigtimedwait(&set, nullptr, &tick) > 0) {
      std::lock_guard<std::mutex> lock(shared.mutex);
      if (++shared.signals >= 2) {
        std::fflush(stdout);
        log.clear_status_now();
        std::_Exit(0);  // a second signal ends at once
      }
      shared.changed.notify_all();
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  cli::CliOptions options;
  std::string message;
  switch (cli::parse_command_line(argc, argv, options, message)) {
    case cli::ParseResult::exit_ok:
      std::fputs(message.c_str(), stdout);
      return 0;
    case cli::ParseResult::usage_error:
      std::fprintf(stderr, "tether-cli: %s (see --help)\n", message.c_str());
      return 1;
    case cli::ParseResult::run:
      break;
  }

  // Signals are taken by a thread of ours (sigtimedwait), never by tether's threads.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  // The live status line: only on a terminal, and never with --events.
  cli::EventLog log(options.events, ::isatty(2) == 1);
  Shared shared;
  // tether's own log lines become `warning` events (stderr holds only JSON with --events).
  tether::RuntimeOptions runtime_options;
  runtime_options.log = [&log](tether::LogLevel, const std::string& line) {
    log.event("warning", ",\"message\":" + cli::json_string(line));
    log.human("warning: " + line);
  };
  auto runtime = tether::Runtime::create(runtime_options);
  // Declared before the client: the client's callbacks may run until the client is destroyed.
  cli::StatusLine status(log);
  tether::Client client(options.client, runtime);

  client.on_open([&](const tether::OpenInfo& info) {
    log.event("open", ",\"subprotocol\":" + (info.subprotocol.empty()
                                                 ? std::string("null")
                                                 : cli::json_string(info.subprotocol)));
    log.human("connected to " + options.client.url +
              (info.subprotocol.empty() ? "" : " (subprotocol " + info.subprotocol + ")"));
    std::lock_guard<std::mutex> lock(shared.mutex);
    shared.opened = true;
  });
  client.on_message([&](const tether::Message& m) {
    if (options.count > 0) {
      // Messages still arriving after the last counted one (before the close completes) are
      // not printed.
      std::lock_guard<std::mutex> lock(shared.mutex);
      if (shared.received >= options.count) return;
    }
    if (m.is_text()) {
      log.out(m.data, "\n");
    } else if (options.hex) {
      log.out(hex_bytes(m.data) + "\n");
    } else {
      log.out("<binary " + std::to_string(m.data.size()) + " bytes>\n");
    }
    log.event("message", std::string(",\"kind\":") + (m.is_text() ? "\"text\"" : "\"binary\"") +
                             ",\"bytes\":" + std::to_string(m.data.size()));
    std::lock_guard<std::mutex> lock(shared.mutex);
    if (options.count > 0 && ++shared.received >= options.count && !shared.close_requested) {
      shared.close_requested = true;
      client.close(1000);
    }
  });
  client.on_sent([&](tether::MessageId, std::size_t bytes) {
    log.event("sent", ",\"bytes\":" + std::to_string(bytes));
    status.poke();
  });
  client.on_authenticated([&] {
    log.event("authenticated");
    log.human("authenticated");
  });
  client.on_queued([&](tether::MessageId, std::size_t depth) {
    log.event("queued", ",\"depth\":" + std::to_string(depth));
    status.on_queued(depth);
  });
  client.on_dropped([&](tether::MessageId id, std::size_t bytes, tether::DropReason reason) {
    std::lock_guard<std::mutex> lock(shared.send_mutex);
    // With --request every line goes through request(), which does not give the message id; with
    // `reject` an overflow is always the refusal of the new message.
    const bool refused_request =
        options.request && options.client.queue.overflow == tether::OverflowPolicy::reject;
    if (reason == tether::DropReason::overflow &&
        (shared.refused.erase(id) != 0 || refused_request)) {
      const auto& queue = options.client.queue;
      const std::string text = "the outbound queue is full (" + std::to_string(queue.max_messages) +
                               " messages or " + std::to_string(queue.max_bytes) + " bytes): a " +
                               (options.request ? "request" : "message") + " of " +
                               std::to_string(bytes) + " bytes was refused";
      log.event("error", ",\"code\":\"queue_full\",\"message\":" + cli::json_string(text));
      log.human("error: queue_full: " + text);
    }
    const std::string why(tether::to_string(reason));
    log.event("dropped",
              ",\"reason\":" + cli::json_string(why) + ",\"bytes\":" + std::to_string(bytes));
    log.human("dropped a message of " + std::to_string(bytes) + " bytes (" + why + ")");
    status.poke();
  });
  client.on_subscribed([&](const std::string& channel) {
    log.event("subscribed", ",\"channel\":" + cli::json_string(channel));
    log.human("subscribed to " + channel);
  });
  client.on_unsubscribed([&](const std::string& channel) {
    log.event("unsubscribed", ",\"channel\":" + cli::json_string(channel));
    log.human("unsubscribed from " + channel);
  });
  client.on_error([&](const tether::Error& e) {
    const std::string name(tether::to_string(e.code));
    log.event("error", ",\"code\":" + cli::json_string(name) +
                           ",\"message\":" + cli::json_string(e.message));
    log.human("error: " + name + ": " + e.message);
  });
  client.on_close([&](const tether::CloseInfo& info) {
    log.event("close", ",\"code\":" + std::to_string(info.code) +
                           ",\"reason\":" + cli::json_string(info.reason) +
                           ",\"reconnect\":" + (info.reconnect ? "true" : "false"));
    log.human("closed: " + std::to_string(info.code) +
              (info.reason.empty() ? "" : " " + info.reason) +
              (info.reconnect ? " (reconnecting)" : ""));
  });
  client.on_state([&](tether::State from, tether::State to, const tether::Cause& cause) {
    // The first move (out of idle) comes before any connection opens: --insecure warns there,
    // so the warning precedes the open, and a usage error (start() refused) stays a plain message.
    if (from == tether::State::idle && options.client.tls.insecure) {
      log.event(
          "warning",
          ",\"message\":" + cli::json_string("--insecure: server certificates are not verified"));
      log.human("warning: --insecure: server certificates are not verified");
    }
    log.event("state", ",\"from\":" + cli::json_string(tether::to_string(from)) +
                           ",\"to\":" + cli::json_string(tether::to_string(to)));
    status.on_state(to);
    std::lock_guard<std::mutex> lock(shared.mutex);
    if (to == tether::State::closed) {
      // The client's own close, or the server's close with a code that means stop.
      shared.exit_code = cause.by_client ? 0 : 3;
      shared.finished = true;
    } else if (to == tether::State::failed) {
      shared.finished = true;
      shared.exit_code = 2;
      if (cause.error == tether::errc::retries_exhausted) {
        log.event("error",
                  ",\"code\":\"retries_exhausted\",\"message\":" + cli::json_string(cause.message));
        log.human("error: retries_exhausted: " + cause.message);
      }
    }
    shared.changed.notify_all();
  });
  client.on_reconnect_scheduled([&](int attempt, std::chrono::milliseconds delay) {
    log.event("reconnect_scheduled", ",\"attempt\":" + std::to_string(attempt) +
                                         ",\"delay_ms\":" + std::to_string(delay.count()));
    status.on_retry(attempt, delay);
    log.human("reconnecting in " + std::to_string(delay.count()) + " ms (attempt " +
              std::to_string(attempt) + ")");
  });

  if (options.request) {
    // Every inbound text is then decoded, so text that is not JSON is a decode_error even while
    // no request is pending; the items themselves reach on_message (unmatched responses too).
    client.on_any([](const tether::Inbound&) {});
  }

  for (const auto& channel : options.subscriptions) client.subscribe(channel);

  if (tether::Error error = client.start()) {
    if (error.code == tether::errc::invalid_url || error.code == tether::errc::invalid_argument) {
      std::fprintf(stderr, "tether-cli: %s (see --help)\n", error.message.c_str());
      return 1;
    }
    log.event("error", ",\"code\":" + cli::json_string(tether::to_string(error.code)) +
                           ",\"message\":" + cli::json_string(error.message));
    log.human("error: " + error.message);
    return 2;
  }

  status.start([&client] { return static_cast<std::size_t>(client.stats().messages_queued); });

  // --request: the result of each request, printed and counted like a received message when the
  // server answered. Runs where callbacks run (the loop thread), like on_message.
  auto on_result = [&](const tether::Response& r) {
    const bool answered = r.error == tether::errc{};
    bool print = true;
    if (options.count > 0) {
      std::lock_guard<std::mutex> lock(shared.mutex);
      if (shared.received >= options.count) print = false;  // after the last counted message
    }
    if (print) {
      log.out(response_line(r) + "\n");
      const std::string rtt = answered && r.rtt ? to_milliseconds(*r.rtt) : std::string("null");
      log.event("response", ",\"id\":" + cli::json_string(r.id) +
                                ",\"ok\":" + (r.ok() ? "true" : "false") + ",\"rtt_ms\":" + rtt);
      if (r.remote) {
        log.human("request " + r.id + ": error response" +
                  (r.remote->code.empty() ? "" : ": " + r.remote->code) +
                  (r.remote->message.empty() ? "" : ": " + r.remote->message));
      } else if (!answered) {
        log.human("request " + r.id + " failed: " + std::string(tether::to_string(r.error)) + ": " +
                  r.message);
      }
    }
    std::lock_guard<std::mutex> lock(shared.mutex);
    --shared.outstanding;
    if (print && answered && options.count > 0 && ++shared.received >= options.count &&
        !shared.close_requested) {
      shared.close_requested = true;
      client.close(1000);
    }
    shared.changed.notify_all();
  };
  tether::RequestOptions request_options;
  request_options.timeout = options.request_timeout;
  request_options.retry_on_reconnect = options.retry_requests;
  long long line_number = 0;
  auto on_line = [&](std::string_view line) {
    ++line_number;
    if (!options.request) {
      send_line(client, line, shared);
      return;
    }
    std::string type;
    tether::Json payload;
    std::string why;
    if (!parse_request_line(line, type, payload, why)) {
      const std::string text = "line " + std::to_string(line_number) + ": " + why;
      log.event("error", ",\"code\":\"invalid_request\",\"message\":" + cli::json_string(text));
      log.human("error: invalid_request: " + text + " (skipped)");
      return;
    }
    {
      std::lock_guard<std::mutex> lock(shared.mutex);
      ++shared.outstanding;
    }
    // The result always comes through on_result, a refusal (queue_full, closed) included.
    client.request(type, std::move(payload), on_result, request_options);
  };

  std::thread stdin_thread([&] { read_stdin(on_line, shared); });
  std::thread signal_thread([&] { wait_signals(signals, shared, log); });

  int exit_code = 2;
  {
    std::unique_lock<std::mutex> lock(shared.mutex);
    for (;;) {
      // The final state's callback decides the exit code: wait for it, not just for the state.
      if (shared.finished) {
        exit_code = shared.exit_code;
        // The requests still pending when the client ended fail right after the final state:
        // print them before leaving.
        shared.changed.wait_for(lock, std::chrono::seconds(2),
                                [&] { return shared.outstanding == 0; });
        break;
      }
      if (shared.signals > 0 && !shared.close_now_requested) {
        // A signal: what still waits is dropped (`dropped` closed), the close is immediate.
        shared.close_now_requested = true;
        shared.close_requested = true;
        client.close_now(1000);
      } else if (shared.eof && !options.stay && !shared.close_requested &&
                 shared.outstanding == 0) {
        // EOF: close() delivers every accepted line first (reconnecting if needed), then closes;
        // with --request, once every request has its result (a response or its timeout).
        shared.close_requested = true;
        client.close(1000);
      }
      shared.changed.wait_for(lock, std::chrono::milliseconds(50));
    }
  }
  shared.stop = true;
  stdin_thread.join();
  signal_thread.join();
  status.stop();
  std::fflush(stdout);
  return exit_code;
}
