#pragma once

// tether-cli's command line (see docs/cli.md and the contract it follows).

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include <tether/options.hpp>

namespace cli {

struct CliOptions {
  tether::ClientOptions client;
  bool events = false;
  bool stay = false;
  bool hex = false;
  long long count = -1;  // -1 = no limit
  std::vector<std::string> subscriptions;  // --subscribe, in the order given
  bool request = false;                     // --request: each stdin line is a request
  std::chrono::milliseconds request_timeout{10000};  // 0 = no limit
  bool retry_requests = false;
};

enum class ParseResult { run, exit_ok, usage_error };

/// Parses argv; on usage_error `message` says why; on exit_ok (--help, --version) `message` is
/// what to print on stdout.
ParseResult parse_command_line(int argc, char** argv, CliOptions& out, std::string& message);

const char* usage_text();

}  // namespace cli
