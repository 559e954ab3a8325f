// The reference pages agree with the code: every default in docs/configuration.md is the value
// of a default-constructed options struct, every row of docs/close-codes.md is what
// default_reconnect_decision() decides, and docs/errors.md documents every error name (with the
// policy's decision where it gives one).

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "tether/client.hpp"
#include "tether/error.hpp"
#include "tether/options.hpp"
#include "tether/runtime.hpp"
#include "tether/state.hpp"

namespace tether {
namespace {

// --- reading the pages ---------------------------------------------------------------------------

std::string docs_dir() {
  std::string here = __FILE__;  // .../tests/unit/docs_test.cpp
  const std::size_t tests = here.rfind("/tests/unit/");
  return here.substr(0, tests) + "/docs/";
}

std::vector<std::string> read_lines(const std::string& name) {
  std::ifstream in(docs_dir() + name);
  EXPECT_TRUE(in.good()) << "cannot read docs/" << name;
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// The cells of a Markdown table row ("| a | b |"), trimmed; empty for other lines.
std::vector<std::string> cells(const std::string& line) {
  std::vector<std::string> out;
  if (line.size() < 2 || line.front() != '|' || line.back() != '|') return out;
  std::string cell;
  for (std::size_t i = 1; i < line.size(); ++i) {
    if (line[i] == '|') {
      const auto first = cell.find_first_not_of(' ');
      const auto last = cell.find_last_not_of(' ');
      out.push_back(first == std::string::npos ? "" : cell.substr(first, last - first + 1));
      cell.clear();
    } else {
      cell += line[i];
    }
  }
  return out;
}

// The code spans of a cell, in order ("`a` and `b`" gives {"a", "b"}).
std::vector<std::string> code_spans(const std::string& text) {
  std::vector<std::string> out;
  std::size_t at = 0;
  while ((at = text.find('`', at)) != std::string::npos) {
    const std::size_t end = text.find('`', at + 1);
    if (end == std::string::npos) break;
    out.push_back(text.substr(at + 1, end - at - 1));
    at = end + 1;
  }
  return out;
}

bool is_separator(const std::vector<std::string>& row) {
  return !row.empty() && row[0].rfind("---", 0) == 0;
}

// --- docs/configuration.md -----------------------------------------------------------------------

std::string shown(bool v) {
  return v ? "true" : "false";
}
std::string shown(int v) {
  return std::to_string(v);
}
std::string shown(std::size_t v) {
  return std::to_string(v);
}
std::string shown(std::chrono::milliseconds v) {
  return std::to_string(v.count());
}
std::string shown(const std::string& v) {
  return "\"" + v + "\"";
}
std::string shown(double v) {
  std::ostringstream out;
  out << v;
  std::string s = out.str();
  if (s.find_first_of(".e") == std::string::npos) s += ".0";
  return s;
}
template <class F>
std::string shown(const std::function<F>& f) {
  return f ? "(set)" : "{}";
}
template <class T>
std::string shown(const std::vector<T>& v) {
  return v.empty() ? "{}" : "(not empty)";
}
template <class T>
std::string shown(const std::optional<T>& v) {
  return v ? "(set)" : "{}";
}
template <class T>
std::string shown(const std::shared_ptr<T>& p) {
  return p ? "(set)" : "nullptr";
}
std::string shown(OverflowPolicy p) {
  switch (p) {
    case OverflowPolicy::reject:
      return "OverflowPolicy::reject";
    case OverflowPolicy::drop_oldest:
      return "OverflowPolicy::drop_oldest";
    case OverflowPolicy::drop_newest:
      return "OverflowPolicy::drop_newest";
  }
  return "?";
}
std::string shown(CallbackMode m) {
  switch (m) {
    case CallbackMode::loop_thread:
      return "CallbackMode::loop_thread";
    case CallbackMode::poll:
      return "CallbackMode::poll";
    case CallbackMode::executor:
      return "CallbackMode::executor";
  }
  return "?";
}

using Defaults = std::map<std::string, std::string>;

// Every option of every struct, with the default a default-constructed struct has. Nested
// structs show as their type name (their own section lists them).
std::map<std::string, Defaults> actual_defaults() {
  std::map<std::string, Defaults> out;
  const ClientOptions c;
  out["ClientOptions"] = {
      {"url", shown(c.url)},
      {"headers", shown(c.headers)},
      {"subprotocols", shown(c.subprotocols)},
      {"origin", shown(c.origin)},
      {"tls", "TlsOptions"},
      {"proxy", shown(c.proxy)},
      {"connect_timeout", shown(c.connect_timeout)},
      {"close_timeout", shown(c.close_timeout)},
      {"max_message", shown(c.max_message)},
      {"follow_redirects", shown(c.follow_redirects)},
      {"max_redirects", shown(c.max_redirects)},
      {"fragment_size", shown(c.fragment_size)},
      {"reconnect", "ReconnectOptions"},
      {"heartbeat", "HeartbeatOptions"},
      {"codec", shown(c.codec)},
      {"auth", "AuthOptions"},
      {"queue", "QueueOptions"},
      {"subscriptions", "SubscriptionOptions"},
      {"resume", "ResumeOptions"},
      {"callback_mode", shown(c.callback_mode)},
      {"executor", shown(c.executor)},
  };
  const TlsOptions& t = c.tls;
  out["TlsOptions"] = {
      {"ca_file", shown(t.ca_file)},
      {"client_cert_file", shown(t.client_cert_file)},
      {"client_key_file", shown(t.client_key_file)},
      {"insecure", shown(t.insecure)},
  };
  const ReconnectOptions& r = c.reconnect;
  out["ReconnectOptions"] = {
      {"enabled", shown(r.enabled)},       {"initial", shown(r.initial)},
      {"multiplier", shown(r.multiplier)}, {"max", shown(r.max)},
      {"jitter", shown(r.jitter)},         {"max_retries", shown(r.max_retries)},
      {"min_uptime", shown(r.min_uptime)}, {"should_reconnect", shown(r.should_reconnect)},
  };
  const HeartbeatOptions& h = c.heartbeat;
  out["HeartbeatOptions"] = {
      {"ping_interval", shown(h.ping_interval)},
      {"pong_timeout", shown(h.pong_timeout)},
      {"app_ping", shown(h.app_ping)},
      {"app_pong", shown(h.app_pong)},
  };
  const AuthOptions& a = c.auth;
  out["AuthOptions"] = {
      {"token", shown(a.token)},
      {"token_provider", shown(a.token_provider)},
      {"header", shown(a.header)},
      {"header_prefix", shown(a.header_prefix)},
      {"query_parameter", shown(a.query_parameter)},
      {"first_message", shown(a.first_message)},
      {"build_message", shown(a.build_message)},
      {"timeout", shown(a.timeout)},
  };
  const QueueOptions& q = c.queue;
  out["QueueOptions"] = {
      {"max_messages", shown(q.max_messages)},
      {"max_bytes", shown(q.max_bytes)},
      {"overflow", shown(q.overflow)},
      {"ttl", shown(q.ttl)},
  };
  out["SubscriptionOptions"] = {{"build_message", shown(c.subscriptions.build_message)}};
  const ResumeOptions& s = c.resume;
  out["ResumeOptions"] = {
      {"enabled", shown(s.enabled)},
      {"seq_field", shown(s.seq_field)},
      {"resume_field", shown(s.resume_field)},
      {"drop_duplicates", shown(s.drop_duplicates)},
  };
  const RuntimeOptions ro;
  out["RuntimeOptions"] = {
      {"own_thread", shown(ro.own_thread)},
      {"log", shown(ro.log)},
      {"log_levels", shown(ro.log_levels)},
  };
  const RequestOptions rq;
  out["RequestOptions"] = {
      {"timeout", shown(rq.timeout)},
      {"retry_on_reconnect", shown(rq.retry_on_reconnect)},
  };
  const SendOptions so;
  out["SendOptions"] = {{"ttl", shown(so.ttl)}, {"on_done", shown(so.on_done)}};
  return out;
}

// Section "## `Name`" -> option -> the first code span of its default column.
std::map<std::string, Defaults> documented_defaults() {
  std::map<std::string, Defaults> out;
  std::string section;
  for (const std::string& line : read_lines("configuration.md")) {
    if (line.rfind("## ", 0) == 0) {
      const auto spans = code_spans(line);
      section = spans.empty() ? "" : spans[0];
      continue;
    }
    const auto row = cells(line);
    if (section.empty() || row.size() != 5 || is_separator(row) || row[0] == "option") continue;
    const auto name = code_spans(row[0]);
    const auto value = code_spans(row[2]);
    EXPECT_EQ(name.size(), 1u) << line;
    EXPECT_FALSE(value.empty()) << "no default in: " << line;
    if (name.size() != 1 || value.empty()) continue;
    EXPECT_TRUE(out[section].emplace(name[0], value[0]).second)
        << section << "::" << name[0] << " listed twice";
  }
  return out;
}

TEST(Docs, ConfigurationListsEveryOptionWithItsDefault) {
  const auto actual = actual_defaults();
  const auto documented = documented_defaults();
  for (const auto& [section, options] : actual) {
    auto found = documented.find(section);
    ASSERT_NE(found, documented.end())
        << "docs/configuration.md has no section `" << section << "`";
    for (const auto& [name, value] : options) {
      auto doc = found->second.find(name);
      if (doc == found->second.end()) {
        ADD_FAILURE() << section << "::" << name << " is not documented";
        continue;
      }
      EXPECT_EQ(doc->second, value) << "default of " << section << "::" << name;
    }
    for (const auto& [name, value] : found->second) {
      EXPECT_EQ(options.count(name), 1u) << section << "::" << name << " is not an option";
    }
  }
  for (const auto& [section, options] : documented) {
    EXPECT_EQ(actual.count(section), 1u) << "unknown section `" << section << "`";
  }
}

// --- docs/close-codes.md -------------------------------------------------------------------------

std::optional<ReconnectDecision> decision_named(const std::string& name) {
  if (name == "reconnect") return ReconnectDecision::reconnect;
  if (name == "stop") return ReconnectDecision::stop;
  if (name == "fail") return ReconnectDecision::fail;
  return std::nullopt;
}

const char* name_of(ReconnectDecision d) {
  switch (d) {
    case ReconnectDecision::reconnect:
      return "reconnect";
    case ReconnectDecision::stop:
      return "stop";
    case ReconnectDecision::fail:
      return "fail";
  }
  return "?";
}

// "1016–2999" (an en dash) or "1000": the first and last number.
bool parse_range(const std::string& text, int& first, int& last) {
  const std::string dash = "\xE2\x80\x93";
  const std::size_t at = text.find(dash);
  try {
    if (at == std::string::npos) {
      std::size_t used = 0;
      first = last = std::stoi(text, &used);
      return used == text.size();
    }
    first = std::stoi(text.substr(0, at));
    last = std::stoi(text.substr(at + dash.size()));
    return first <= last;
  } catch (const std::exception&) {
    return false;
  }
}

struct Row {
  int first = 0;
  int last = 0;
  std::set<int> except;
  ReconnectDecision decision{};
  std::string line;
};

// The rows of the table under `heading`: the first cell holds the range (and exceptions), the
// cell `decision_column` the decision.
std::vector<Row> table_rows(const std::string& heading, std::size_t decision_column) {
  std::vector<Row> rows;
  bool inside = false;
  for (const std::string& line : read_lines("close-codes.md")) {
    if (line.rfind("## ", 0) == 0) {
      inside = line == "## " + heading;
      continue;
    }
    const auto row = cells(line);
    if (!inside || row.size() <= decision_column || is_separator(row)) continue;
    const auto numbers = code_spans(row[0]);
    if (numbers.empty()) continue;  // the header row
    Row r;
    r.line = line;
    EXPECT_TRUE(parse_range(numbers[0], r.first, r.last)) << line;
    for (std::size_t i = 1; i < numbers.size(); ++i) r.except.insert(std::stoi(numbers[i]));
    const auto decision = code_spans(row[decision_column]);
    EXPECT_EQ(decision.size(), 1u) << line;
    const auto parsed = decision.empty() ? std::nullopt : decision_named(decision[0]);
    EXPECT_TRUE(parsed.has_value()) << line;
    if (parsed) r.decision = *parsed;
    rows.push_back(r);
  }
  EXPECT_FALSE(rows.empty()) << "no table under \"## " << heading << "\"";
  return rows;
}

TEST(Docs, CloseCodeTableIsThePolicy) {
  const auto rows = table_rows("Close codes from the server", 2);
  std::map<int, int> covered;
  for (const Row& row : rows) {
    for (int code = row.first; code <= row.last; ++code) {
      if (row.except.count(code)) continue;
      ++covered[code];
      Cause cause;
      cause.close_code = static_cast<std::uint16_t>(code);
      if (code == 1006) cause.error = errc::connection_lost;  // how a lost connection arrives
      EXPECT_EQ(name_of(default_reconnect_decision(cause)), std::string(name_of(row.decision)))
          << "close code " << code << " in: " << row.line;
    }
  }
  // Every code a close frame can carry, and 1005/1006, is in exactly one row.
  for (int code = 1000; code <= 4999; ++code) EXPECT_EQ(covered[code], 1) << "close code " << code;
}

TEST(Docs, HttpStatusTableIsThePolicy) {
  const auto rows = table_rows("HTTP status answering the upgrade", 1);
  std::map<int, int> covered;
  for (const Row& row : rows) {
    for (int status = row.first; status <= row.last; ++status) {
      if (row.except.count(status)) continue;
      ++covered[status];
      Cause cause;
      cause.error = errc::handshake_rejected;
      cause.http_status = status;
      EXPECT_EQ(name_of(default_reconnect_decision(cause)), std::string(name_of(row.decision)))
          << "status " << status << " in: " << row.line;
    }
  }
  for (int status = 100; status <= 599; ++status) {
    EXPECT_EQ(covered[status], status == 101 ? 0 : 1) << "status " << status;
  }
}

// --- docs/errors.md ------------------------------------------------------------------------------

TEST(Docs, ErrorsDocumentsEveryNameWithThePolicysDecision) {
  std::vector<errc> codes;
  for (int v = 1; to_string(static_cast<errc>(v)) != "unknown"; ++v) {
    codes.push_back(static_cast<errc>(v));
  }
  ASSERT_GT(codes.size(), 20u);

  std::map<std::string, std::string> next;  // section "### `name`" -> its "**Next**" line
  std::set<std::string> summary;            // names in the summary table
  std::string section;
  std::string chapter;  // the current "## " heading
  for (const std::string& line : read_lines("errors.md")) {
    // The hostile-server catalogue at the end of the page has a structure of its own.
    if (line.rfind("## Hostile servers", 0) == 0) break;
    if (line.rfind("### ", 0) == 0) {
      const auto spans = code_spans(line);
      section = spans.size() == 1 && line == "### `" + spans[0] + "`" ? spans[0] : "";
      if (!section.empty()) {
        EXPECT_TRUE(next.emplace(section, "").second) << "twice: " << line;
      }
      continue;
    }
    if (line.rfind("## ", 0) == 0) {
      section.clear();
      chapter = line;
    }
    if (!section.empty() && line.rfind("- **Next**: ", 0) == 0) next[section] = line;
    const auto row = cells(line);
    if (chapter == "## Summary" && row.size() == 3 && !is_separator(row)) {
      const auto spans = code_spans(row[0]);
      if (spans.size() == 1) summary.insert(spans[0]);
    }
  }
  std::set<std::string> names;
  for (errc code : codes) {
    const std::string name(to_string(code));
    names.insert(name);
    EXPECT_EQ(next.count(name), 1u) << "docs/errors.md has no section for " << name;
    EXPECT_EQ(summary.count(name), 1u) << "docs/errors.md's summary lacks " << name;
    // Where the page states the policy's decision for a connection error, it is the policy's.
    const std::string& line = next[name];
    const auto spans = code_spans(line);
    if (spans.empty() || !decision_named(spans[0])) continue;
    Cause cause;
    cause.error = code;
    EXPECT_EQ(spans[0], name_of(default_reconnect_decision(cause))) << name << ": " << line;
  }
  for (const auto& [name, line] : next)
    EXPECT_EQ(names.count(name), 1u) << "not an error: " << name;
  for (const auto& name : summary) EXPECT_EQ(names.count(name), 1u) << "not an error: " << name;
}

}  // namespace
}  // namespace tether
