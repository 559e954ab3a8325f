#pragma once

// The control commands of fault_proxy (one per line; grammar in tests/proxy/README.md) and the
// per-direction fault state they set.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace tether::proxy {

/// A direction of a proxied connection: client to server, or server to client.
enum class Dir { c2s = 0, s2c = 1 };

/// What a direction does with the bytes it reads.
enum class Mode {
  pass,       ///< Forward them (after the latency, within the throttle).
  blackhole,  ///< Read and discard them; never forward anything, not even a FIN.
  stall,      ///< Keep them (read up to a bound, then stop reading) until healed.
};

std::string_view to_string(Mode mode) noexcept;

/// The fault state of one direction.
struct DirectionFault {
  Mode mode = Mode::pass;
  std::chrono::milliseconds latency{0};  ///< Each chunk is forwarded this long after it was read.
  std::uint64_t throttle_bps = 0;        ///< At most this many bytes per second; 0 = no limit.
  std::int64_t cut_after = -1;           ///< Forward this many more bytes, then reset; -1 = off.
};

/// Which connections a command applies to.
enum class Scope {
  all,       ///< Existing connections and every new one (until `heal`).
  existing,  ///< The connections open now.
  fresh,     ///< Every new connection (until `heal`), not the existing ones.
  next,      ///< The next new connection only.
  one,       ///< One connection, by id.
};

/// When a command takes effect on a connection.
struct Trigger {
  enum class Kind {
    now,      ///< At once (at accept for new connections).
    upgrade,  ///< Once the server's HTTP response head (the 101) has been forwarded.
    bytes,    ///< Once `bytes` bytes have been forwarded in direction `dir`.
  };
  Kind kind = Kind::now;
  Dir dir = Dir::c2s;
  std::uint64_t bytes = 0;
  bool relative = false;  ///< `+N`: counted from the bytes forwarded when the command arrives.
};

/// How `refuse` turns new connections away.
enum class RefuseHow {
  close,   ///< Accept, then close at once (FIN).
  rst,     ///< Accept, then reset at once (RST).
  ignore,  ///< Do not accept: connections wait in the listen backlog.
};

enum class Action {
  heal,   ///< Back to pass; `pass` is the same command.
  reset,  ///< RST both sides.
  blackhole,
  stall,
  stall_upgrade,  ///< `stall dir=s2c`, new connections by default.
  latency,
  throttle,
  cut_after,
  refuse,
  accept,  ///< Stop refusing.
  list,
  stats,
  help,
  quit,
};

struct Command {
  Action action = Action::heal;
  bool c2s = true;  ///< Applies to the client-to-server direction.
  bool s2c = true;  ///< Applies to the server-to-client direction.
  Scope scope = Scope::all;
  std::uint64_t conn_id = 0;  ///< With Scope::one.
  Trigger trigger;
  std::uint64_t value = 0;  ///< latency ms, throttle bytes/s, cut_after bytes, refuse ms.
  RefuseHow how = RefuseHow::close;
  bool active_only = false;  ///< `list active`.
};

/// Parses one command line. On failure returns std::nullopt and sets `error`.
std::optional<Command> parse_command(std::string_view line, std::string& error);

/// The help text (one line per command).
std::string_view command_help() noexcept;

/// Applies a mode command (blackhole, stall, stall_upgrade, latency, throttle, cut_after) to a
/// direction's fault state. Other actions leave it unchanged.
void apply_to_direction(const Command& command, Dir dir, DirectionFault& fault);

}  // namespace tether::proxy
