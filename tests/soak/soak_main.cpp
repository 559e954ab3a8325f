// tether_soak: continuous churn against real servers on loopback, then checks.
//
// A tether::Client sends numbered messages to tether_test_server's /echo scenario (optionally
// through tests/proxy's fault proxy) and reads their echoes, while the server is killed every
// few seconds (SIGTERM and SIGKILL in turn) and restarted on the same port, and the proxy injects
// faults (reset, cut mid-frame, blackhole, latency, throttle, refused connections). Once a second
// it samples RSS, open fds, threads, the client's stats and state. At the end it drains, closes,
// reads the server's log and checks that resources stayed flat, that every message is accounted
// for, and that the reconnect delays followed the policy. Exit status: 0 when every check
// passes, 1 when one fails, 2 on a usage or setup error. See tests/soak/README.md.

#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <tether/tether.hpp>
#include <thread>
#include <vector>

#include "soak/message_ledger.hpp"
#include "soak/process_stats.hpp"
#include "soak/soak_checks.hpp"
#include "soak/soak_report.hpp"
#include "support/fault_proxy.hpp"
#include "support/process.hpp"
#include "support/servers.hpp"

namespace tether::soak {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using testing::ServerProcess;

struct Config {
  double seconds = 45;
  int rate = 100;
  std::string out = ".";
  bool proxy = true;
  std::uint64_t seed = 0;
  std::string command;
};

[[noreturn]] void usage(const char* message) {
  std::cerr << "tether_soak: " << message << "\n"
            << "usage: tether_soak [--seconds S] [--rate N] [--out DIR] [--no-proxy] [--seed N]\n";
  std::exit(2);
}

Config parse(int argc, char** argv) {
  Config config;
  config.seed = static_cast<std::uint64_t>(Clock::now().time_since_epoch().count());
  for (int i = 0; i < argc; ++i) config.command += (i ? " " : "") + std::string(argv[i]);
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage(("missing value after " + arg).c_str());
      return argv[++i];
    };
    try {
      if (arg == "--seconds") {
        config.seconds = std::stod(value());
      } else if (arg == "--rate") {
        config.rate = std::stoi(value());
      } else if (arg == "--out") {
        config.out = value();
      } else if (arg == "--no-proxy") {
        config.proxy = false;
      } else if (arg == "--seed") {
        config.seed = std::stoull(value());
      } else {
        usage(("unknown argument " + arg).c_str());
      }
    } catch (const std::logic_error&) {
      usage(("bad value for " + arg).c_str());
    }
  }
  // At least 20 s: the flatness checks need 9 samples after the 5 s warm-up.
  if (config.seconds < 20 || config.seconds > 86400) usage("--seconds must be 20..86400");
  if (config.rate < 1 || config.rate > 1000) usage("--rate must be 1..1000");
  return config;
}

/// Everything the callbacks and the three threads share.
class Soak {
 public:
  explicit Soak(const Config& config)
      : config_(config),
        events_(config.out + "/events.log"),
        ledger_(static_cast<std::size_t>(config.seconds * config.rate) + 60 * config.rate,
                static_cast<std::size_t>(config.seconds) * 4 + 200),
        rng_(config.seed) {
    samples_.resize(static_cast<std::size_t>(config.seconds) + 600);
    reconnects_.resize(static_cast<std::size_t>(config.seconds) * 20 + 200);
  }

  int run();

 private:
  ClientOptions client_options(const std::string& url);
  void wire(Client& client);
  void send_loop(Client& client);
  void sample_loop(Client& client);
  void take_sample(Client& client);
  void chaos_loop(ServerProcess& server, testing::FaultProxy* proxy);
  void kill_server(ServerProcess& server, bool hard);
  void proxy_fault(testing::FaultProxy& proxy);
  void event(const std::string& what);
  double elapsed() const { return std::chrono::duration<double>(Clock::now() - start_).count(); }
  int uniform(int low, int high) { return std::uniform_int_distribution<int>(low, high)(rng_); }

  Config config_;
  std::ofstream events_;  ///< events.log: every fault, with its time
  MessageLedger ledger_;
  std::mt19937_64 rng_;
  Clock::time_point start_ = Clock::now();
  std::atomic<bool> stop_sending_{false};
  std::atomic<bool> stop_sampling_{false};
  std::atomic<bool> finishing_{false};
  std::atomic<bool> gave_up_{false};
  std::atomic<int> chaos_{static_cast<int>(Chaos::none)};
  std::atomic<std::uint64_t> sigterms_{0}, sigkills_{0}, proxy_faults_{0}, proxy_errors_{0};
  std::atomic<std::uint64_t> log_lines_{0};

  /// Held while the server starts or stops (and by each sample): a start holds the server's
  /// output file and a pipe open for a moment, which a sample must not count as a leak.
  std::mutex process_mutex_;
  std::mutex samples_mutex_;
  std::vector<Sample> samples_;  // sized up front; samples_used_ of them are filled
  std::size_t samples_used_ = 0;

  std::mutex reconnects_mutex_;
  std::vector<ReconnectRecord> reconnects_;  // sized up front
  std::size_t reconnects_used_ = 0;
  std::uint64_t reconnects_overflow_ = 0;
  Clock::time_point scheduled_at_{};
  bool waiting_for_connect_ = false;
  ReconnectOptions policy_;
};

ClientOptions Soak::client_options(const std::string& url) {
  ClientOptions options;
  options.url = url;
  options.proxy = "direct";
  options.reconnect.initial = milliseconds(50);
  options.reconnect.max = milliseconds(1000);
  options.reconnect.min_uptime = milliseconds(1000);
  // Dead connections (a blackholed proxy) are found within about 2 s.
  options.heartbeat.ping_interval = milliseconds(1000);
  options.heartbeat.pong_timeout = milliseconds(1000);
  options.connect_timeout = milliseconds(3000);
  options.close_timeout = milliseconds(2000);
  policy_ = options.reconnect;
  return options;
}

void Soak::wire(Client& client) {
  client.on_open([this](const OpenInfo&) { ledger_.opened(); });
  client.on_close(
      [this](const CloseInfo& info) { ledger_.closed(info, static_cast<Chaos>(chaos_.load())); });
  client.on_message([this](const Message& message) { ledger_.echo(message.data); });
  client.on_reconnect_scheduled([this](int attempt, milliseconds delay) {
    std::lock_guard<std::mutex> lock(reconnects_mutex_);
    if (reconnects_used_ == reconnects_.size()) {
      ++reconnects_overflow_;
      waiting_for_connect_ = false;
      return;
    }
    reconnects_[reconnects_used_++] = ReconnectRecord{attempt, delay.count(), -1};
    scheduled_at_ = Clock::now();
    waiting_for_connect_ = true;
  });
  client.on_state([this](State from, State to, const Cause&) {
    if (to == State::connecting && from == State::waiting) {
      std::lock_guard<std::mutex> lock(reconnects_mutex_);
      if (waiting_for_connect_ && reconnects_used_ > 0) {
        reconnects_[reconnects_used_ - 1].observed_ms =
            std::chrono::duration_cast<milliseconds>(Clock::now() - scheduled_at_).count();
      }
      waiting_for_connect_ = false;
    }
    if ((to == State::failed || to == State::closed) && !finishing_.load()) gave_up_ = true;
  });
}

void Soak::send_loop(Client& client) {
  const auto period = std::chrono::duration_cast<Clock::duration>(
      std::chrono::duration<double>(1.0 / config_.rate));
  const Clock::time_point first = Clock::now();
  for (std::uint64_t n = 1; n <= ledger_.capacity() && !stop_sending_.load(); ++n) {
    std::this_thread::sleep_until(first + period * static_cast<long>(n - 1));
    if (stop_sending_.load()) break;
    SendOptions options;
    options.on_done = [this, n](const Delivery& delivery) {
      if (delivery.sent()) {
        ledger_.sent(n);
      } else {
        ledger_.dropped(n);
      }
    };
    // Record the acceptance first: the echo can come back before send() returns.
    ledger_.accepted(n);
    const SendResult result = client.send(message_text(n), options);
    if (!result) {
      // Refused (queue_full): the number is never sent; later numbers still are.
      ledger_.refused(n);
    }
  }
}

void Soak::take_sample(Client& client) {
  Sample s;
  {
    std::lock_guard<std::mutex> lock(process_mutex_);
    s.process = read_process_stats();
  }
  s.t = elapsed();
  s.state = client.state();
  const Stats stats = client.stats();
  s.attempts = stats.attempts;
  s.reconnects = stats.reconnects;
  s.accepted = stats.messages_accepted;
  s.sent = stats.messages_sent;
  s.dropped = stats.messages_dropped;
  s.queued = stats.messages_queued;
  s.rejected = stats.messages_rejected;
  s.received = stats.messages_received;
  s.echoes = ledger_.echo_count();
  s.sigterms = sigterms_.load();
  s.sigkills = sigkills_.load();
  s.proxy_faults = proxy_faults_.load();
  {
    std::lock_guard<std::mutex> lock(reconnects_mutex_);
    s.delays_scheduled = reconnects_used_ + reconnects_overflow_;
    for (std::size_t i = reconnects_used_; i > 0; --i) {
      if (s.last_delay_ms < 0) s.last_delay_ms = reconnects_[i - 1].scheduled_ms;
      if (reconnects_[i - 1].observed_ms >= 0) {
        s.last_observed_ms = reconnects_[i - 1].observed_ms;
        break;
      }
    }
  }
  std::lock_guard<std::mutex> lock(samples_mutex_);
  if (samples_used_ < samples_.size()) samples_[samples_used_++] = s;
}

void Soak::sample_loop(Client& client) {
  for (int i = 1; !stop_sampling_.load(); ++i) {
    const Clock::time_point next = start_ + std::chrono::seconds(i);
    while (Clock::now() < next && !stop_sampling_.load()) {
      std::this_thread::sleep_for(std::min<Clock::duration>(next - Clock::now(), milliseconds(50)));
    }
    if (stop_sampling_.load()) break;
    take_sample(client);
  }
}

void Soak::event(const std::string& what) {
  char stamp[32];
  std::snprintf(stamp, sizeof stamp, "%7.2f", elapsed());
  std::cout << stamp << "  " << what << std::endl;
  events_ << stamp << "  " << what << '\n';
}

void Soak::kill_server(ServerProcess& server, bool hard) {
  const Chaos kind = hard ? Chaos::sigkill : Chaos::sigterm;
  chaos_ = static_cast<int>(kind);
  const int down_ms = uniform(100, 1500);
  {
    std::lock_guard<std::mutex> lock(process_mutex_);
    if (hard) {
      server.kill_hard();
      ++sigkills_;
    } else {
      server.stop();
      ++sigterms_;
    }
  }
  event(std::string(hard ? "SIGKILL" : "SIGTERM") + " server, down " + std::to_string(down_ms) +
        " ms");
  std::this_thread::sleep_for(milliseconds(down_ms));
  std::lock_guard<std::mutex> lock(process_mutex_);
  server.start();
  chaos_ = static_cast<int>(Chaos::none);
}

void Soak::proxy_fault(testing::FaultProxy& proxy) {
  static constexpr Chaos kFaults[] = {Chaos::reset,   Chaos::cut,      Chaos::blackhole,
                                      Chaos::latency, Chaos::throttle, Chaos::refuse};
  const Chaos fault = kFaults[uniform(0, 5)];
  chaos_ = static_cast<int>(fault);
  std::string command;
  int hold_ms = uniform(500, 2000);
  switch (fault) {
    case Chaos::reset:
      command = "reset on=existing";
      break;
    case Chaos::cut:
      // A client frame here is 54 bytes: a cut after 1..53 more bytes lands inside one.
      command = "cut_after " + std::to_string(uniform(1, 53)) + " dir=c2s on=existing";
      break;
    case Chaos::blackhole:
      command = "blackhole dir=both on=existing";
      hold_ms = uniform(1500, 3000);  // long enough for the heartbeat to notice, mostly
      break;
    case Chaos::latency:
      command = "latency " + std::to_string(uniform(50, 300));
      break;
    case Chaos::throttle:
      command = "throttle " + std::to_string(uniform(1000, 4000));
      break;
    case Chaos::refuse:
      command = "refuse " + std::to_string(hold_ms / 1000) + "." +
                std::to_string(hold_ms % 1000 / 100) + (uniform(0, 1) ? " how=rst" : " how=close");
      break;
    default:
      break;
  }
  const bool discards = fault == Chaos::reset || fault == Chaos::cut || fault == Chaos::blackhole ||
                        fault == Chaos::refuse;
  try {
    if (discards) ledger_.faulted(fault);
    proxy.command(command);
    if (fault == Chaos::refuse) proxy.command("reset on=existing");
    ++proxy_faults_;
    event("proxy: " + command + " (" + std::to_string(hold_ms) + " ms)");
    std::this_thread::sleep_for(milliseconds(hold_ms));
    proxy.command("heal");
    if (fault == Chaos::refuse) proxy.command("accept");
  } catch (const std::exception& e) {
    ++proxy_errors_;
    event(std::string("proxy command failed: ") + e.what());
  }
  chaos_ = static_cast<int>(Chaos::none);
}

void Soak::chaos_loop(ServerProcess& server, testing::FaultProxy* proxy) {
  const Clock::time_point end = start_ + std::chrono::duration_cast<Clock::duration>(
                                             std::chrono::duration<double>(config_.seconds));
  bool next_hard = false;
  for (int round = 0;; ++round) {
    const Clock::time_point next = Clock::now() + milliseconds(uniform(2000, 4000));
    if (next >= end) break;
    std::this_thread::sleep_until(next);
    if (proxy != nullptr && round % 2 == 1) {
      proxy_fault(*proxy);
    } else {
      kill_server(server, next_hard);
      next_hard = !next_hard;
    }
  }
  std::this_thread::sleep_until(end);
}

int Soak::run() {
  testing::TempDir dir("tether-soak");
  const std::string server_log = dir.file("server.log");
  ServerProcess server = testing::start_tether_server({"--log", server_log});
  std::unique_ptr<testing::FaultProxy> proxy;
  if (config_.proxy) {
    proxy = std::make_unique<testing::FaultProxy>(server.port());
    // The control connection opens on the first command: open it now, before the first sample,
    // so that it is not counted as a descriptor that appeared during the churn.
    proxy->stats();
  }
  const std::string url =
      proxy ? proxy->ws_url("/echo") : "ws://127.0.0.1:" + std::to_string(server.port()) + "/echo";
  std::cout << "soak: " << config_.seconds << " s, " << config_.rate << " msg/s, " << url
            << (proxy ? " (fault proxy -> 127.0.0.1:" + std::to_string(server.port()) + ")" : "")
            << ", seed " << config_.seed << std::endl;

  RuntimeOptions runtime_options;
  runtime_options.log = [this](LogLevel, const std::string&) { ++log_lines_; };
  std::shared_ptr<Runtime> runtime = Runtime::create(runtime_options);
  auto client = std::make_unique<Client>(client_options(url), runtime);
  wire(*client);
  start_ = Clock::now();
  if (Error error = client->start()) {
    std::cerr << "tether_soak: start: " << error.message << "\n";
    return 2;
  }
  std::thread sender([&] { send_loop(*client); });
  std::thread sampler([&] { sample_loop(*client); });

  // A server that cannot be restarted ends the churn early; the threads still stop in order.
  std::string setup_error;
  try {
    chaos_loop(server, proxy.get());
  } catch (const std::exception& e) {
    setup_error = e.what();
    event("churn stopped: " + setup_error);
  }

  // The end: every fault healed, the server up; stop sending, drain, close.
  finishing_ = true;
  try {
    std::lock_guard<std::mutex> lock(process_mutex_);
    if (!server.running()) server.start();
  } catch (const std::exception& e) {
    if (setup_error.empty()) setup_error = e.what();
    event(std::string("server restart failed: ") + e.what());
  }
  if (proxy) {
    try {
      proxy->heal();
      proxy->accept();
    } catch (const std::exception& e) {
      event(std::string("proxy heal failed: ") + e.what());
    }
  }
  stop_sending_ = true;
  sender.join();
  event("churn over: draining");
  SoakResult result;
  const Clock::time_point drain_deadline = Clock::now() + std::chrono::seconds(30);
  while (Clock::now() < drain_deadline) {
    if (client->stats().messages_queued == 0 && ledger_.last_echo() == ledger_.accepted_count()) {
      result.drained = true;
      break;
    }
    std::this_thread::sleep_for(milliseconds(20));
  }
  client->close();
  const Clock::time_point close_deadline = Clock::now() + std::chrono::seconds(15);
  while (!client->is_finished() && Clock::now() < close_deadline) {
    std::this_thread::sleep_for(milliseconds(20));
  }
  result.closed_cleanly = client->state() == State::closed;
  stop_sampling_ = true;
  sampler.join();
  take_sample(*client);
  const double wall = elapsed();
  client.reset();
  server.stop();
  if (proxy) proxy.reset();

  result.server_log_read = ledger_.read_server_log(server_log);
  result.account = ledger_.account();
  result.policy = policy_;
  result.gave_up = gave_up_.load();
  result.warmup_s = std::max(5.0, config_.seconds / 10);
  {
    std::lock_guard<std::mutex> lock(samples_mutex_);
    result.samples.assign(samples_.begin(), samples_.begin() + static_cast<long>(samples_used_));
  }
  {
    std::lock_guard<std::mutex> lock(reconnects_mutex_);
    result.reconnects.assign(reconnects_.begin(),
                             reconnects_.begin() + static_cast<long>(reconnects_used_));
  }
  const std::vector<Check> checks = run_checks(result);
  RunInfo info;
  info.seconds = config_.seconds;
  info.rate = config_.rate;
  info.proxy = static_cast<bool>(config_.proxy);
  info.seed = config_.seed;
  info.wall_s = wall;
  info.command = config_.command;
  const std::string summary = summary_markdown(info, result, checks);

  bool written = write_samples_csv(config_.out + "/samples.csv", result.samples);
  written = write_reconnects_csv(config_.out + "/reconnects.csv", result.reconnects) && written;
  std::ofstream(config_.out + "/summary.md") << summary;
  std::cout << "\n" << summary;
  if (proxy_errors_.load() != 0) std::cout << "proxy command errors: " << proxy_errors_ << "\n";
  if (!written) {
    std::cerr << "tether_soak: cannot write to " << config_.out << "\n";
    return 2;
  }
  if (!setup_error.empty()) {
    std::cerr << "tether_soak: the churn could not go on: " << setup_error << "\n";
    return 2;
  }
  for (const Check& c : checks) {
    if (!c.pass) return 1;
  }
  return 0;
}

}  // namespace
}  // namespace tether::soak

int main(int argc, char** argv) {
  signal(SIGPIPE, SIG_IGN);
  const tether::soak::Config config = tether::soak::parse(argc, argv);
  try {
    tether::soak::Soak soak(config);
    return soak.run();
  } catch (const std::exception& e) {
    std::cerr << "tether_soak: " << e.what() << "\n";
    return 2;
  }
}
