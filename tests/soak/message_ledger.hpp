#pragma once

// The soak driver's account of every numbered message: which connection the socket took it on,
// whether the server logged it, whether its echo came back; and how every connection ended.
// Storage is allocated (and touched) up front, so the ledger does not grow the process's memory
// while the soak samples it.

#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <tether/events.hpp>
#include <vector>

namespace tether::soak {

/// The fault being injected (or just injected) when something happened.
enum class Chaos : int {
  none,
  sigterm,    ///< The server was stopped with SIGTERM (close 1001, then it reads until our close).
  sigkill,    ///< The server was killed with SIGKILL (no close frame; unread bytes lost).
  reset,      ///< The proxy reset the connections (RST both ways).
  cut,        ///< The proxy cut a connection after a few more bytes (mid-frame), then reset.
  blackhole,  ///< The proxy discarded everything both ways.
  latency,    ///< The proxy delayed every chunk.
  throttle,   ///< The proxy limited the bandwidth.
  refuse,     ///< The proxy reset the connections and refused new ones for a while.
};
constexpr int kChaosKinds = 9;

std::string_view to_string(Chaos chaos) noexcept;

/// The text of message `n` (a fixed 48 bytes: "m <n> " and padding).
std::string message_text(std::uint64_t n);
/// The number of a message made by message_text, or 0 when `text` is not one.
std::uint64_t message_number(std::string_view text) noexcept;

struct ConnectionRecord {
  bool ended = false;
  bool clean = false;         ///< Close frames went both ways.
  std::uint16_t code = 0;     ///< CloseInfo::code.
  bool faulted = false;       ///< A proxy fault that discards bytes hit it while it was open.
  Chaos fault = Chaos::none;  ///< That fault.
  Chaos ended_during = Chaos::none;  ///< The fault under way when it ended.
};

/// The counts of the final account (MessageLedger::account).
struct Account {
  std::uint64_t accepted = 0;           ///< Messages accepted by send().
  std::uint64_t refused = 0;            ///< Messages refused by send() (queue_full).
  std::uint64_t sent = 0;               ///< on_done: sent.
  std::uint64_t dropped = 0;            ///< on_done: dropped.
  std::uint64_t unresolved = 0;         ///< Accepted, neither sent nor dropped (yet).
  std::uint64_t at_server = 0;          ///< Sent and logged by the server.
  std::uint64_t server_duplicates = 0;  ///< Server log: a number seen before.
  std::uint64_t server_reorders = 0;    ///< Server log: a number below the highest seen.
  std::uint64_t phantom = 0;            ///< Logged by the server but never reported sent.
  /// Sent, not logged by the server, on a connection that ended without a clean close or that
  /// a discarding proxy fault hit: the loss the delivery guarantee allows. By the fault.
  std::uint64_t lost_allowed[kChaosKinds] = {};
  std::uint64_t lost_allowed_total = 0;
  /// Sent, not logged by the server, on a connection that ended cleanly and was never faulted.
  std::uint64_t lost_violations = 0;
  std::uint64_t first_violation = 0;  ///< The number of the first such message.
  std::uint64_t echoes = 0;           ///< Echoes received (distinct numbers).
  std::uint64_t echo_duplicates = 0;
  std::uint64_t echo_reorders = 0;
  std::uint64_t echo_unknown = 0;    ///< Echoes of a number never sent, or not a message.
  std::uint64_t echoes_missing = 0;  ///< Logged by the server, echo never received.
  std::uint64_t connections = 0;
  std::uint64_t connections_clean = 0;  ///< Ended with close frames both ways.
};

/// Thread-safe (one mutex; the message rate is low).
class MessageLedger {
 public:
  MessageLedger(std::size_t max_messages, std::size_t max_connections);

  /// The capacity in messages (numbers 1..capacity()).
  std::size_t capacity() const noexcept { return conn_of_.size() - 1; }

  // --- recorded as it happens ---------------------------------------------------------------
  void accepted(std::uint64_t n);
  /// A connection opened: the next connection epoch.
  void opened();
  /// The current connection ended.
  void closed(const CloseInfo& info, Chaos during);
  /// A proxy fault that discards bytes (`fault`) hit the current connection.
  void faulted(Chaos fault);
  void sent(std::uint64_t n);
  void dropped(std::uint64_t n);
  /// send() refused message `n` (queue_full): it was never accepted.
  void refused(std::uint64_t n);
  /// An inbound message (an echo).
  void echo(std::string_view text);

  // --- read at any time ----------------------------------------------------------------------
  std::uint64_t accepted_count() const;
  std::uint64_t echo_count() const;
  std::uint64_t last_echo() const;
  std::uint64_t connections() const;

  // --- after the run -------------------------------------------------------------------------
  /// Reads the server's --log file(s) (appended across restarts): marks every message logged,
  /// counting duplicates and reorders. Returns false when the file cannot be read.
  bool read_server_log(const std::string& path);
  /// The final account.
  Account account() const;

 private:
  mutable std::mutex mutex_;
  std::vector<std::int32_t>
      conn_of_;  ///< -1 unresolved, -2 dropped, -3 refused, else the connection epoch.
  std::vector<std::uint8_t> echoed_;
  std::vector<std::uint8_t> at_server_;
  std::vector<ConnectionRecord> connections_;
  std::int32_t epoch_ = -1;
  std::uint64_t accepted_ = 0;
  std::uint64_t last_echo_ = 0;
  std::uint64_t echoes_ = 0, echo_duplicates_ = 0, echo_reorders_ = 0, echo_unknown_ = 0;
  std::uint64_t server_duplicates_ = 0, server_reorders_ = 0;
  std::uint64_t epoch_overflow_ = 0;
};

}  // namespace tether::soak
