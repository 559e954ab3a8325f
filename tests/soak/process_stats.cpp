#include "soak/process_stats.hpp"

#include <dirent.h>

#include <cstdio>
#include <cstring>

namespace tether::soak {
namespace {

// Entries of a directory other than "." and "..".
int count_entries(const char* path) {
  DIR* dir = opendir(path);
  if (dir == nullptr) return 0;
  int count = 0;
  while (const dirent* entry = readdir(dir)) {
    if (std::strcmp(entry->d_name, ".") != 0 && std::strcmp(entry->d_name, "..") != 0) ++count;
  }
  closedir(dir);
  return count;
}

std::uint64_t read_rss_kib() {
  std::FILE* file = std::fopen("/proc/self/status", "r");
  if (file == nullptr) return 0;
  char line[256];
  unsigned long long kib = 0;
  while (std::fgets(line, sizeof line, file) != nullptr) {
    if (std::sscanf(line, "VmRSS: %llu kB", &kib) == 1) break;
  }
  std::fclose(file);
  return kib;
}

}  // namespace

ProcessStats read_process_stats() {
  ProcessStats stats;
  stats.rss_kib = read_rss_kib();
  // opendir() holds one descriptor of its own while /proc/self/fd is listed.
  const int fds = count_entries("/proc/self/fd");
  stats.fds = fds > 0 ? fds - 1 : 0;
  stats.threads = count_entries("/proc/self/task");
  return stats;
}

}  // namespace tether::soak
