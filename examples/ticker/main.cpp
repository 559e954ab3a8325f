// ticker: follows prices from the bundled server's /ticker path (examples/servers) through
// reconnects, with no gap and no duplicate.
//
//   ticker ws://127.0.0.1:PORT/ticker [--symbols ACME,GLOBEX] [--prices N] [--timeout-ms MS]
//                                     [--quiet]
//
// Shows request/response (a `quote` per symbol, typed both ways), typed handlers (`on<Price>`
// with its own from_json) and resume: every price carries a sequence number, tether remembers
// the highest one and sends it back as `resume_from` when it subscribes again after a reconnect,
// and the server replays what the client missed. After N prices of every symbol it prints one
// check line and exits with 0 when every symbol's ticks were consecutive, each seen once.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <tether/tether.hpp>
#include <thread>
#include <vector>

namespace {

// --- the messages of /ticker (examples/servers/README.md), with their JSON conversions ---------

// A price (server → client): {"type":"price","seq":N,"payload":{symbol, price, tick, time_ms}}.
struct Price {
  std::string symbol;
  double price = 0;
  std::uint64_t tick = 0;
  std::int64_t time_ms = 0;
};
bool from_json(const tether::Json& in, Price& out, std::string* error) {
  return tether::json_field(in, "symbol", out.symbol, error) &&
         tether::json_field(in, "price", out.price, error) &&
         tether::json_field(in, "tick", out.tick, error) &&
         tether::json_field(in, "time_ms", out.time_ms, error);
}

// The `quote` request and its answer.
struct QuoteRequest {
  std::string symbol;
};
void to_json(tether::Json& out, const QuoteRequest& request) {
  out = tether::Json::object({{"symbol", request.symbol}});
}
struct Quote {
  std::string symbol;
  double price = 0;
  std::uint64_t tick = 0;
};
bool from_json(const tether::Json& in, Quote& out, std::string* error) {
  return tether::json_field(in, "symbol", out.symbol, error) &&
         tether::json_field(in, "price", out.price, error) &&
         tether::json_field(in, "tick", out.tick, error);
}

struct Settings {
  std::string url;
  std::vector<std::string> symbols{"ACME"};
  int prices = 50;
  std::chrono::milliseconds timeout{60000};
  bool quiet = false;
};

std::vector<std::string> split(const std::string& text, char separator) {
  std::vector<std::string> out;
  std::istringstream in(text);
  std::string item;
  while (std::getline(in, item, separator)) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

bool parse_args(int argc, char** argv, Settings& settings) {
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    bool has_value = i + 1 < argc;
    if (arg == "--symbols" && has_value) {
      settings.symbols = split(argv[++i], ',');
    } else if (arg == "--prices" && has_value) {
      settings.prices = std::atoi(argv[++i]);
    } else if (arg == "--timeout-ms" && has_value) {
      settings.timeout = std::chrono::milliseconds(std::atol(argv[++i]));
    } else if (arg == "--quiet") {
      settings.quiet = true;
    } else if (settings.url.empty() && arg.rfind("--", 0) != 0) {
      settings.url = arg;
    } else {
      return false;
    }
  }
  return !settings.url.empty() && !settings.symbols.empty() && settings.prices > 0;
}

std::int64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

// Per symbol: the ticks seen, checked for gaps and duplicates.
struct Track {
  int received = 0;
  std::uint64_t first = 0;
  std::uint64_t last = 0;
  std::uint64_t missing = 0;      // ticks skipped
  int duplicates = 0;             // ticks seen before (tether should have dropped them)
  std::int64_t max_delay_ms = 0;  // receipt time minus the tick's time (large = replayed)
};

class Book {
 public:
  Book(const std::vector<std::string>& symbols, int target) : target_(target) {
    for (const auto& symbol : symbols) tracks_[symbol];
  }

  // Records a price; false (not recorded) for a symbol not asked for or already complete.
  bool add(const Price& p, std::string& note) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = tracks_.find(p.symbol);
    if (it == tracks_.end()) return false;
    Track& t = it->second;
    if (t.received >= target_) return false;  // enough of this one; the others are still coming
    if (t.received > 0 && p.tick <= t.last) {
      ++t.duplicates;
      note = "  DUPLICATE";
    } else {
      if (t.received > 0 && p.tick > t.last + 1) {
        t.missing += p.tick - t.last - 1;
        note = "  GAP of " + std::to_string(p.tick - t.last - 1);
      }
      if (t.received == 0) t.first = p.tick;
      t.last = p.tick;
    }
    ++t.received;
    std::int64_t delay = now_ms() - p.time_ms;
    if (delay > t.max_delay_ms) t.max_delay_ms = delay;
    if (done_locked()) changed_.notify_all();
    return true;
  }

  bool wait_done(std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] { return done_locked(); });
  }

  std::map<std::string, Track> snapshot() {
    std::lock_guard<std::mutex> lock(mutex_);
    return tracks_;
  }

 private:
  bool done_locked() const {
    for (const auto& entry : tracks_) {
      if (entry.second.received < target_) return false;
    }
    return true;
  }

  const int target_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::map<std::string, Track> tracks_;
};

}  // namespace

int main(int argc, char** argv) {
  Settings settings;
  if (!parse_args(argc, argv, settings)) {
    std::cerr << "usage: ticker URL [--symbols A,B] [--prices N] [--timeout-ms MS] [--quiet]\n";
    return 2;
  }

  tether::ClientOptions options;
  options.url = settings.url;
  options.resume.enabled =
      true;  // "seq" remembered, sent back as "resume_from", duplicates dropped
  options.reconnect.initial = std::chrono::milliseconds(250);
  options.reconnect.max = std::chrono::milliseconds(2000);

  Book book(settings.symbols, settings.prices);
  std::mutex print_mutex;
  auto print = [&](const std::string& line, bool to_stderr = false) {
    std::lock_guard<std::mutex> lock(print_mutex);
    (to_stderr ? std::cerr : std::cout) << line << std::endl;
  };

  // A runtime of the program's own (one loop thread), ended before main returns; the client
  // keeps it alive as long as it needs it.
  std::shared_ptr<tether::Runtime> runtime = tether::Runtime::create();
  tether::Client client(options, runtime);
  client.on<Price>("price", [&](const Price& p) {
    std::string note;
    if (!book.add(p, note)) return;
    if (!settings.quiet || !note.empty()) {
      char line[160];
      std::snprintf(line, sizeof line, "%-8s %10.2f  tick %llu%s", p.symbol.c_str(), p.price,
                    static_cast<unsigned long long>(p.tick), note.c_str());
      print(line);
    }
  });
  client.on_state([&](tether::State from, tether::State to, const tether::Cause& cause) {
    std::string line =
        "-- " + std::string(tether::to_string(from)) + " -> " + std::string(tether::to_string(to));
    if (cause.close_code != 0) line += " (closed " + std::to_string(cause.close_code) + ")";
    if (cause.error) line += " (" + std::string(tether::to_string(*cause.error)) + ")";
    print(line, true);
  });
  client.on_reconnect_scheduled([&](int attempt, std::chrono::milliseconds delay) {
    print(
        "-- reconnect #" + std::to_string(attempt) + " in " + std::to_string(delay.count()) + " ms",
        true);
  });
  client.on_subscribed([&](const std::string& symbol) { print("-- subscribed " + symbol, true); });
  client.on_error([&](const tether::Error& error) {
    if (error.code == tether::errc::subscribe_rejected ||
        error.code == tether::errc::decode_error) {
      print("-- " + std::string(tether::to_string(error.code)) + ": " + error.message, true);
    }
  });

  if (tether::Error error = client.start()) {
    std::cerr << "ticker: " << tether::to_string(error.code) << ": " << error.message << '\n';
    return 1;
  }

  // Request/response: the current price of each symbol, typed both ways.
  for (const auto& symbol : settings.symbols) {
    auto answered = std::make_shared<std::promise<void>>();
    client.request<QuoteRequest, Quote>(
        "quote", QuoteRequest{symbol},
        [&, answered](const tether::Response& response, const Quote* quote) {
          char line[160];
          if (quote) {
            std::snprintf(line, sizeof line, "quote %s %.2f at tick %llu (rtt %lld us)",
                          quote->symbol.c_str(), quote->price,
                          static_cast<unsigned long long>(quote->tick),
                          static_cast<long long>(response.rtt ? response.rtt->count() : -1));
          } else {
            std::snprintf(line, sizeof line, "quote %s failed: %s", symbol.c_str(),
                          (response.remote ? response.remote->message : response.message).c_str());
          }
          print(line);
          answered->set_value();
        });
    answered->get_future().wait_for(std::chrono::seconds(15));
  }

  for (const auto& symbol : settings.symbols) client.subscribe(symbol);
  bool complete = book.wait_done(settings.timeout);
  client.close();
  for (int i = 0; i < 500 && !client.is_finished(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }

  tether::Stats stats = client.stats();
  bool ok = complete;
  std::ostringstream check;
  int total = 0;
  for (const auto& [symbol, t] : book.snapshot()) {
    total += t.received;
    ok = ok && t.missing == 0 && t.duplicates == 0;
    check << ' ' << symbol << " ticks " << t.first << ".." << t.last << " (" << t.received
          << ", gaps " << t.missing << ", duplicates " << t.duplicates << ", max delay "
          << t.max_delay_ms << " ms);";
  }
  std::printf("check: %s: %d prices;%s reconnects %llu, duplicates dropped by tether %llu\n",
              ok ? "OK, no gap, no duplicate" : (complete ? "FAILED" : "FAILED (incomplete)"),
              total, check.str().c_str(), static_cast<unsigned long long>(stats.reconnects),
              static_cast<unsigned long long>(stats.duplicates_dropped));
  std::fflush(stdout);
  return ok ? 0 : 1;
}
