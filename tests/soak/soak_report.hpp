#pragma once

// The soak's outputs: the samples as CSV and the summary as Markdown.

#include <cstdint>
#include <string>
#include <vector>

#include "soak/soak_checks.hpp"

namespace tether::soak {

/// How the run was set up (printed in the summary).
struct RunInfo {
  double seconds = 0;  ///< The churn's length.
  int rate = 0;        ///< Messages per second, each way.
  bool proxy = false;  ///< A fault proxy sat between client and server.
  std::uint64_t seed = 0;
  double wall_s = 0;    ///< The whole run, drain and close included.
  std::string command;  ///< How it was started.
};

/// One line per sample; the first line names the columns.
bool write_samples_csv(const std::string& path, const std::vector<Sample>& samples);
/// The scheduled reconnect delays, one line each (attempt, scheduled, observed).
bool write_reconnects_csv(const std::string& path, const std::vector<ReconnectRecord>& records);
/// The summary: setup, figures, losses by cause, checks.
std::string summary_markdown(const RunInfo& info, const SoakResult& result,
                             const std::vector<Check>& checks);

}  // namespace tether::soak
