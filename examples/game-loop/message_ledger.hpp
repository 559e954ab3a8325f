#pragma once

// Follows every state update the game hands to tether until it ends in exactly one way: echoed
// by the server, dropped by tether (ttl, overflow, closed), or lost in flight (the socket took
// it, then the connection ended before its echo came back).

#include <cstdint>
#include <string>
#include <string_view>
#include <tether/tether.hpp>
#include <unordered_map>

class MessageLedger {
 public:
  struct Counts {
    std::uint64_t sent = 0;     ///< Accepted by Client::send.
    std::uint64_t refused = 0;  ///< Refused by Client::send (never entered the ledger).
    std::uint64_t echoed = 0;
    std::uint64_t dropped_ttl = 0;
    std::uint64_t dropped_overflow = 0;
    std::uint64_t dropped_closed = 0;
    std::uint64_t lost_in_flight = 0;
    std::uint64_t queued = 0;             ///< Still waiting in tether's queue.
    std::uint64_t in_flight = 0;          ///< Taken by the socket, echo not back yet.
    std::uint64_t unexpected_echoes = 0;  ///< Echoes of no update waiting for one.
    std::uint64_t other_messages = 0;     ///< Inbound messages that are not echoes of updates.

    std::uint64_t dropped() const noexcept {
      return dropped_ttl + dropped_overflow + dropped_closed + lost_in_flight;
    }
    std::uint64_t unresolved() const noexcept { return queued + in_flight; }
  };

  /// Client::send accepted (or refused) the update of `frame`.
  void accepted(std::uint64_t frame);
  void refused() { ++counts_.refused; }
  /// SendOptions::on_done of the update of `frame`.
  void delivered(std::uint64_t frame, const tether::Delivery& delivery);
  /// An inbound message: the echo of an update, or something else.
  void received(std::string_view text);
  /// The connection ended: updates the socket took and whose echo has not come are lost.
  void connection_closed();

  bool all_resolved() const noexcept { return pending_.empty(); }
  Counts counts() const;

  /// The text of the update of `frame` (a small JSON object), and the frame an echo carries.
  static std::string encode(std::uint64_t frame, double x, double y);
  static bool decode_frame(std::string_view text, std::uint64_t& frame);

 private:
  enum class Status { queued, in_flight };
  std::unordered_map<std::uint64_t, Status> pending_;
  Counts counts_;
};
