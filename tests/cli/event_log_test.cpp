// tether-cli's event log on its own: events written from several threads at once (the loop's and
// stdin's, in the CLI) reach stderr whole and in the order of their t_ms, as the CLI contract
// requires ("monotonic").

#include "event_log.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

TEST(CliEventLog, EventsFromManyThreadsAreWrittenInTheOrderOfTheirTimes) {
  char path[] = "/tmp/tether-event-log-XXXXXX";
  const int file = ::mkstemp(path);
  ASSERT_GE(file, 0);
  std::fflush(stderr);
  const int saved = ::dup(2);
  ASSERT_GE(saved, 0);
  ASSERT_EQ(::dup2(file, 2), 2);

  constexpr int kThreads = 4;
  constexpr int kEvents = 5000;
  {
    cli::EventLog log(true);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&log, t] {
        for (int i = 0; i < kEvents; ++i) {
          log.event("tick", ",\"thread\":" + std::to_string(t) + ",\"i\":" + std::to_string(i));
        }
      });
    }
    for (auto& thread : threads) thread.join();
  }
  std::fflush(stderr);
  ASSERT_EQ(::dup2(saved, 2), 2);
  ::close(saved);
  ::close(file);

  std::ifstream in(path);
  std::string line;
  long last = -1;
  int lines = 0;
  while (std::getline(in, line)) {
    ++lines;
    const auto at = line.find("\"t_ms\":");
    ASSERT_NE(at, std::string::npos) << line;
    const long t = std::strtol(line.c_str() + at + 7, nullptr, 10);
    ASSERT_GE(t, last) << "line " << lines << ": " << line;
    last = t;
  }
  std::remove(path);
  EXPECT_EQ(lines, kThreads * kEvents);
}

}  // namespace
