// game-loop: a 60 Hz frame loop that talks to a WebSocket server through tether without ever
// blocking a frame. Callbacks run inside the frame (CallbackMode::poll); with `--mode no-thread`
// tether has no thread at all and the frame drives its network I/O too (Runtime::poll()).
//
// Each frame sends the player's state; the server echoes it. The time spent inside tether's
// calls is measured per frame, and at the end of the run every update is accounted for: echoed,
// dropped by tether, or lost with a connection that ended while it was in flight.

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <tether/tether.hpp>
#include <thread>

#include "frame_times.hpp"
#include "message_ledger.hpp"

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::duration_cast;
using std::chrono::microseconds;
using std::chrono::milliseconds;

enum class Mode { poll, no_thread };

struct Args {
  std::string url;
  Mode mode = Mode::poll;
  int seconds = 10;
  int hz = 60;
  int ttl_ms = 250;
};

void usage(std::FILE* out) {
  std::fprintf(
      out,
      "usage: game-loop --url ws://HOST:PORT/PATH [--mode poll|no-thread] [--seconds N]\n"
      "                 [--hz N] [--ttl-ms N]\n"
      "\n"
      "  --url URL       an echo endpoint (the bundled server's /echo)\n"
      "  --mode poll     tether's loop thread does the I/O; callbacks run in the frame\n"
      "                  (client.poll()) (default)\n"
      "  --mode no-thread  no tether thread: the frame calls Runtime::poll() too\n"
      "  --seconds N     length of the run: N * hz frames (default 10)\n"
      "  --hz N          frame rate (default 60)\n"
      "  --ttl-ms N      a state update older than this is dropped, not sent (default 250)\n");
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
    if (i + 1 >= argc) {
      std::fprintf(stderr, "game-loop: %s needs a value (or is unknown)\n", argv[i]);
      usage(stderr);
      return 2;
    }
    const char* value = argv[++i];
    bool ok = true;
    if (arg == "--url") {
      args.url = value;
    } else if (arg == "--mode") {
      const std::string_view mode = value;
      ok = mode == "poll" || mode == "no-thread";
      args.mode = mode == "no-thread" ? Mode::no_thread : Mode::poll;
    } else if (arg == "--seconds") {
      ok = parse_int(value, 1, 3600, args.seconds);
    } else if (arg == "--hz") {
      ok = parse_int(value, 1, 1000, args.hz);
    } else if (arg == "--ttl-ms") {
      ok = parse_int(value, 0, 60000, args.ttl_ms);
    } else {
      ok = false;
    }
    if (!ok) {
      std::fprintf(stderr, "game-loop: bad option %s %s\n", argv[i - 1], value);
      usage(stderr);
      return 2;
    }
  }
  if (args.url.empty()) {
    std::fprintf(stderr, "game-loop: --url is required\n");
    usage(stderr);
    return 2;
  }
  return 0;
}

// The game's own state: a ship flying in a circle, advanced once per frame.
struct World {
  double angle = 0;
  double x = 0;
  double y = 0;
  void update(double dt) {
    angle += dt;
    x = 100 * std::cos(angle);
    y = 100 * std::sin(angle);
  }
};

long long to_us(std::chrono::nanoseconds d) {
  return duration_cast<microseconds>(d).count();
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  if (const int parsed = parse_args(argc, argv, args)) return parsed == 1 ? 0 : 2;
  const bool no_thread = args.mode == Mode::no_thread;
  const char* mode_name = no_thread ? "no-thread" : "poll";

  // With own_thread = false nothing happens until the frame polls: no thread of tether's exists.
  tether::RuntimeOptions runtime_options;
  runtime_options.own_thread = !no_thread;
  std::shared_ptr<tether::Runtime> runtime = tether::Runtime::create(runtime_options);

  tether::ClientOptions options;
  options.url = args.url;
  options.callback_mode = tether::CallbackMode::poll;  // callbacks run inside client.poll()
  // A game wants to be back quickly after an outage.
  options.reconnect.initial = milliseconds(200);
  options.reconnect.max = milliseconds(2000);
  // While the connection is down updates wait in the queue; an old position is worthless, so
  // they expire after the ttl, and at most two seconds' worth wait at all.
  options.queue.max_messages = static_cast<std::size_t>(args.hz) * 2;
  options.queue.overflow = tether::OverflowPolicy::drop_oldest;
  options.queue.ttl = milliseconds(args.ttl_ms);

  // Touched only by this thread: callbacks run inside client.poll(). Declared before the client,
  // so they outlive it.
  long long frame = 0;
  int opens = 0;
  MessageLedger ledger;

  tether::Client client(options, runtime);

  client.on_open([&](const tether::OpenInfo&) {
    ++opens;
    if (opens == 1) {
      std::fprintf(stderr, "[frame %lld] open\n", frame);
    } else {
      std::fprintf(stderr, "[frame %lld] open again (reconnect %d)\n", frame, opens - 1);
    }
  });
  client.on_close([&](const tether::CloseInfo& info) {
    ledger.connection_closed();
    std::fprintf(stderr, "[frame %lld] closed %u \"%s\"%s\n", frame, unsigned{info.code},
                 info.reason.c_str(), info.reconnect ? ", reconnecting" : "");
  });
  client.on_error([&](const tether::Error& error) {
    std::fprintf(stderr, "[frame %lld] error %s: %s\n", frame,
                 std::string(tether::to_string(error.code)).c_str(), error.message.c_str());
  });
  client.on_reconnect_scheduled([&](int attempt, milliseconds delay) {
    std::fprintf(stderr, "[frame %lld] reconnect attempt %d in %lld ms\n", frame, attempt,
                 static_cast<long long>(delay.count()));
  });
  client.on_message([&](const tether::Message& message) { ledger.received(message.data); });

  if (const tether::Error error = client.start()) {
    std::fprintf(stderr, "game-loop: %s: %s\n", std::string(tether::to_string(error.code)).c_str(),
                 error.message.c_str());
    return 1;
  }
  std::fprintf(stderr, "game-loop: mode %s, %d Hz for %d s, %s\n", mode_name, args.hz, args.seconds,
               args.url.c_str());

  const auto period = duration_cast<Clock::duration>(std::chrono::duration<double>(1.0 / args.hz));
  const long long planned = static_cast<long long>(args.seconds) * args.hz;
  FrameTimes times(static_cast<std::size_t>(planned));
  World world;
  long long late = 0;
  const auto run_start = Clock::now();
  auto next_frame = run_start;

  // One tether step of a frame: network I/O (no-thread mode) and the queued callbacks.
  auto poll_tether = [&] {
    if (no_thread) runtime->poll();
    client.poll();
  };

  for (frame = 0; frame < planned; ++frame) {
    world.update(1.0 / args.hz);

    const auto t0 = Clock::now();
    poll_tether();
    const std::uint64_t id = static_cast<std::uint64_t>(frame);
    tether::SendOptions send_options;
    send_options.on_done = [&ledger, id](const tether::Delivery& d) { ledger.delivered(id, d); };
    if (client.send(MessageLedger::encode(id, world.x, world.y), send_options)) {
      ledger.accepted(id);
    } else {
      ledger.refused();
    }
    times.add(Clock::now() - t0);

    // Render, play sound, ... would go here. Then wait for the next frame's slot; a frame that
    // missed its slot does not make the next ones hurry.
    next_frame += period;
    const auto now = Clock::now();
    if (now > next_frame + period) {
      ++late;
      next_frame = now;
    }
    std::this_thread::sleep_until(next_frame);
  }
  const auto run_time = Clock::now() - run_start;

  // The run is over: keep polling (no more updates) until every update has ended, then close.
  const auto drain_deadline = Clock::now() + std::chrono::seconds(5);
  while (!ledger.all_resolved() && Clock::now() < drain_deadline) {
    poll_tether();
    std::this_thread::sleep_for(period);
  }
  client.close(1000, "game over");
  const auto close_deadline = Clock::now() + std::chrono::seconds(3);
  while (!client.is_finished() && Clock::now() < close_deadline) {
    poll_tether();
    std::this_thread::sleep_for(period);
  }
  poll_tether();

  const MessageLedger::Counts c = ledger.counts();
  const tether::Stats stats = client.stats();
  std::printf("game-loop: mode %s, %d Hz, %.1f s\n", mode_name, args.hz,
              std::chrono::duration<double>(run_time).count());
  std::printf("frames: %lld of %lld (%lld late)\n", static_cast<long long>(times.count()), planned,
              late);
  std::printf("tether time per frame: worst %lld us, p99 %lld us, mean %lld us\n",
              to_us(times.worst()), to_us(times.percentile(99)), to_us(times.mean()));
  std::printf(
      "messages: sent %llu, echoed %llu, dropped %llu (ttl %llu, overflow %llu, closed %llu, "
      "lost in flight %llu), unresolved %llu, refused %llu\n",
      static_cast<unsigned long long>(c.sent), static_cast<unsigned long long>(c.echoed),
      static_cast<unsigned long long>(c.dropped()), static_cast<unsigned long long>(c.dropped_ttl),
      static_cast<unsigned long long>(c.dropped_overflow),
      static_cast<unsigned long long>(c.dropped_closed),
      static_cast<unsigned long long>(c.lost_in_flight),
      static_cast<unsigned long long>(c.unresolved()), static_cast<unsigned long long>(c.refused));
  std::printf("inbound: unexpected echoes %llu, other messages %llu\n",
              static_cast<unsigned long long>(c.unexpected_echoes),
              static_cast<unsigned long long>(c.other_messages));
  std::printf("reconnects: %llu\n", static_cast<unsigned long long>(stats.reconnects));
  std::fflush(stdout);

  const bool ok = opens > 0 && static_cast<long long>(times.count()) == planned &&
                  c.unresolved() == 0 && c.unexpected_echoes == 0 &&
                  c.sent == c.echoed + c.dropped();
  return ok ? 0 : 1;
}
