#pragma once

// What the soak driver samples about its own process: resident memory, open file descriptors
// and threads, read from /proc/self.

#include <cstdint>

namespace tether::soak {

struct ProcessStats {
  std::uint64_t rss_kib = 0;  ///< VmRSS of /proc/self/status.
  int fds = 0;                ///< Entries of /proc/self/fd (the directory's own fd excluded).
  int threads = 0;            ///< Entries of /proc/self/task.
};

/// Reads the three figures now; a figure that cannot be read is 0.
ProcessStats read_process_stats();

}  // namespace tether::soak
