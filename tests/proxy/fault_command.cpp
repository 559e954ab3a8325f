#include "fault_command.hpp"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <vector>

namespace tether::proxy {
namespace {

std::vector<std::string_view> split_words(std::string_view line) {
  std::vector<std::string_view> words;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r')) ++i;
    const std::size_t begin = i;
    while (i < line.size() && line[i] != ' ' && line[i] != '\t' && line[i] != '\r') ++i;
    if (i > begin) words.push_back(line.substr(begin, i - begin));
  }
  return words;
}

bool parse_u64(std::string_view text, std::uint64_t& out) {
  if (text.empty() || text.size() > 19) return false;
  std::uint64_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + static_cast<std::uint64_t>(c - '0');
  }
  out = value;
  return true;
}

/// Non-negative decimal seconds ("2", "0.5") to milliseconds.
bool parse_seconds_ms(std::string_view text, std::uint64_t& out_ms) {
  if (text.empty() || text.size() > 20) return false;
  const std::string copy(text);
  char* end = nullptr;
  errno = 0;
  const double seconds = std::strtod(copy.c_str(), &end);
  if (errno != 0 || end != copy.c_str() + copy.size() || !(seconds >= 0) || seconds > 1e9) {
    return false;
  }
  out_ms = static_cast<std::uint64_t>(std::llround(seconds * 1000.0));
  return true;
}

struct ActionName {
  std::string_view name;
  Action action;
};

constexpr ActionName kActions[] = {
    {"pass", Action::heal},           {"heal", Action::heal},
    {"reset", Action::reset},         {"blackhole", Action::blackhole},
    {"stall", Action::stall},         {"stall_upgrade", Action::stall_upgrade},
    {"latency", Action::latency},     {"throttle", Action::throttle},
    {"cut_after", Action::cut_after}, {"refuse", Action::refuse},
    {"accept", Action::accept},       {"list", Action::list},
    {"stats", Action::stats},         {"help", Action::help},
    {"quit", Action::quit},
};

bool is_fault(Action a) {
  switch (a) {
    case Action::heal:
    case Action::reset:
    case Action::blackhole:
    case Action::stall:
    case Action::stall_upgrade:
    case Action::latency:
    case Action::throttle:
    case Action::cut_after:
      return true;
    default:
      return false;
  }
}

bool parse_trigger(std::string_view text, Trigger& trigger) {
  if (text == "upgrade") {
    trigger.kind = Trigger::Kind::upgrade;
    return true;
  }
  const auto colon = text.find(':');
  if (colon == std::string_view::npos) return false;
  const std::string_view dir = text.substr(0, colon);
  std::string_view count = text.substr(colon + 1);
  if (dir == "c2s") {
    trigger.dir = Dir::c2s;
  } else if (dir == "s2c") {
    trigger.dir = Dir::s2c;
  } else {
    return false;
  }
  trigger.relative = !count.empty() && count.front() == '+';
  if (trigger.relative) count.remove_prefix(1);
  trigger.kind = Trigger::Kind::bytes;
  return parse_u64(count, trigger.bytes);
}

}  // namespace

std::string_view to_string(Mode mode) noexcept {
  switch (mode) {
    case Mode::pass:
      return "pass";
    case Mode::blackhole:
      return "blackhole";
    case Mode::stall:
      return "stall";
  }
  return "unknown";
}

std::optional<Command> parse_command(std::string_view line, std::string& error) {
  const std::vector<std::string_view> words = split_words(line);
  if (words.empty()) {
    error = "empty command";
    return std::nullopt;
  }
  Command command;
  bool known = false;
  for (const auto& entry : kActions) {
    if (entry.name == words[0]) {
      command.action = entry.action;
      known = true;
    }
  }
  if (!known) {
    error = "unknown command '" + std::string(words[0]) + "' (try help)";
    return std::nullopt;
  }

  // Defaults per action.
  switch (command.action) {
    case Action::reset:
      command.scope = Scope::existing;
      break;
    case Action::stall_upgrade:
      command.scope = Scope::fresh;
      command.c2s = false;
      break;
    case Action::cut_after:
      command.c2s = false;
      break;
    default:
      break;
  }

  std::vector<std::string_view> positional;
  for (std::size_t i = 1; i < words.size(); ++i) {
    const std::string_view word = words[i];
    const auto eq = word.find('=');
    if (eq == std::string_view::npos) {
      positional.push_back(word);
      continue;
    }
    const std::string_view key = word.substr(0, eq);
    const std::string_view value = word.substr(eq + 1);
    if (key == "dir" && is_fault(command.action) && command.action != Action::stall_upgrade) {
      if (value == "c2s") {
        command.c2s = true;
        command.s2c = false;
      } else if (value == "s2c") {
        command.c2s = false;
        command.s2c = true;
      } else if (value == "both") {
        command.c2s = command.s2c = true;
      } else {
        error = "dir must be c2s, s2c or both";
        return std::nullopt;
      }
    } else if (key == "on" && is_fault(command.action)) {
      if (value == "all") {
        command.scope = Scope::all;
      } else if (value == "existing") {
        command.scope = Scope::existing;
      } else if (value == "new") {
        command.scope = Scope::fresh;
      } else if (value == "next") {
        command.scope = Scope::next;
      } else if (parse_u64(value, command.conn_id) && command.conn_id > 0) {
        command.scope = Scope::one;
      } else {
        error = "on must be all, existing, new, next or a connection id";
        return std::nullopt;
      }
    } else if (key == "after" && is_fault(command.action) && command.action != Action::heal) {
      if (!parse_trigger(value, command.trigger)) {
        error = "after must be upgrade, c2s:N, s2c:N, c2s:+N or s2c:+N";
        return std::nullopt;
      }
    } else if (key == "how" && command.action == Action::refuse) {
      if (value == "close") {
        command.how = RefuseHow::close;
      } else if (value == "rst") {
        command.how = RefuseHow::rst;
      } else if (value == "ignore") {
        command.how = RefuseHow::ignore;
      } else {
        error = "how must be close, rst or ignore";
        return std::nullopt;
      }
    } else {
      error = "unexpected option '" + std::string(word) + "'";
      return std::nullopt;
    }
  }

  std::size_t wanted = 0;
  switch (command.action) {
    case Action::latency:
    case Action::throttle:
    case Action::cut_after:
      wanted = 1;
      if (positional.size() != 1 || !parse_u64(positional[0], command.value)) {
        error = std::string(words[0]) + " needs one non-negative integer";
        return std::nullopt;
      }
      break;
    case Action::refuse:
      wanted = 1;
      if (positional.size() != 1 || !parse_seconds_ms(positional[0], command.value)) {
        error = "refuse needs SECONDS (0 = until accept or heal)";
        return std::nullopt;
      }
      break;
    case Action::list:
      if (positional.size() == 1 && (positional[0] == "active" || positional[0] == "all")) {
        command.active_only = positional[0] == "active";
        wanted = 1;
      }
      break;
    default:
      break;
  }
  if (positional.size() != wanted) {
    error = "unexpected argument '" + std::string(positional[wanted]) + "'";
    return std::nullopt;
  }
  if (command.trigger.kind != Trigger::Kind::now &&
      (command.action == Action::heal || command.action == Action::stall_upgrade)) {
    error = "after= does not apply to " + std::string(words[0]);
    return std::nullopt;
  }
  return command;
}

void apply_to_direction(const Command& command, Dir dir, DirectionFault& fault) {
  if ((dir == Dir::c2s && !command.c2s) || (dir == Dir::s2c && !command.s2c)) return;
  switch (command.action) {
    case Action::blackhole:
      fault.mode = Mode::blackhole;
      break;
    case Action::stall:
    case Action::stall_upgrade:
      fault.mode = Mode::stall;
      break;
    case Action::latency:
      fault.latency = std::chrono::milliseconds(static_cast<std::int64_t>(command.value));
      break;
    case Action::throttle:
      fault.throttle_bps = command.value;
      break;
    case Action::cut_after:
      fault.cut_after = static_cast<std::int64_t>(command.value);
      break;
    default:
      break;
  }
}

std::string_view command_help() noexcept {
  return "heal|pass [on=all|existing|new|next|ID]\n"
         "reset [on=existing|all|new|next|ID] [after=upgrade|c2s:N|s2c:N|c2s:+N|s2c:+N]\n"
         "blackhole|stall [dir=c2s|s2c|both] [on=...] [after=...]\n"
         "stall_upgrade [on=new|next|all|existing|ID]\n"
         "latency MS|throttle BYTES_PER_S [dir=...] [on=...] [after=...]\n"
         "cut_after BYTES [dir=s2c|c2s|both] [on=...] [after=...]\n"
         "refuse SECONDS [how=close|rst|ignore]\n"
         "accept\n"
         "list [active|all]\n"
         "stats\n"
         "quit";
}

}  // namespace tether::proxy
