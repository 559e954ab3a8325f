// What every tether-cli test binary shares: the binary's path (or a skip when it is not built),
// URLs of the test servers, and the last state of an event log.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "support/cli_runner.hpp"
#include "support/servers.hpp"

namespace tether::testing {
namespace {

#ifdef TETHER_CLI_PATH
const std::string kCli = TETHER_CLI_PATH;
#else
// Built without tether-cli (TETHER_BUILD_CLI=OFF): every test is skipped.
const std::string kCli;
class NoCli : public ::testing::Environment {
 public:
  void SetUp() override { GTEST_SKIP() << "tether-cli is not built (TETHER_BUILD_CLI=OFF)"; }
};
const auto* const kNoCli = ::testing::AddGlobalTestEnvironment(new NoCli);
#endif

}  // namespace

inline std::string ws_url(const ServerProcess& server, const std::string& path = "/") {
  return "ws://127.0.0.1:" + std::to_string(server.port()) + path;
}

/// The events of a --events run; every rule of the log is checked (each stderr line one flat
/// JSON object with "event" and an integer, non-decreasing "t_ms"; nothing else on stderr).
inline std::vector<CliEvent> events_of(const CliResult& r) {
  EventLogCheck check = parse_event_log(r.err);
  for (const auto& problem : check.problems) ADD_FAILURE() << problem << "\n" << r.describe();
  return check.events;
}

inline std::vector<CliEvent> named(const std::vector<CliEvent>& events, const std::string& name) {
  std::vector<CliEvent> out;
  for (const auto& e : events)
    if (e.name == name) out.push_back(e);
  return out;
}

/// The `to` of the last `state` event, or "" without one.
inline std::string last_state(const std::vector<CliEvent>& events) {
  const auto states = named(events, "state");
  return states.empty() ? std::string() : states.back().str("to");
}

}  // namespace tether::testing
