// The process-wide runtime at exit: a program whose only client uses Runtime::shared() (as most
// programs do) returns from main with the runtime alive, so the runtime, its loop thread and its
// TLS contexts are torn down by the exit handlers, next to OpenSSL's own cleanup. The program
// (tests/integration/programs/shared_runtime_exit.cpp) runs under LeakSanitizer (ASan's in the
// address sanitizer build, standalone in a build without sanitizers; see tests/CMakeLists.txt),
// which makes it exit non-zero (1 under ASan, 23 standalone) when anything allocated is unreachable
// at exit; it must exit 0 after its echo.
// Where no leak checker is available (the thread sanitizer build) the test is skipped.
//
// A runtime released on its own loop thread (its last client destroyed in a callback) shuts down
// on a thread of its own; the process waits for it at exit, so its close handshake completes and
// OpenSSL's exit cleanup does not run under it. That test runs in every build (under TSan too).

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <string>
#include <vector>

#include "support/servers.hpp"

namespace tether::testing {
namespace {

using namespace std::chrono_literals;

#ifdef TETHER_SHARED_RUNTIME_EXIT_PATH
const std::string kProgram = TETHER_SHARED_RUNTIME_EXIT_PATH;
#else
const std::string kProgram;
#define TETHER_SHARED_RUNTIME_EXIT_LEAK_CHECK 0
#endif

void expect_clean_exit(const std::string& url, const std::string& ca_file) {
  if (kProgram.empty()) GTEST_SKIP() << "shared_runtime_exit is not built";
#if !TETHER_SHARED_RUNTIME_EXIT_LEAK_CHECK
  GTEST_SKIP() << "no leak checker in this build (thread sanitizer, or no -fsanitize=leak)";
#endif
  // Leak checking on for the child under ASan (standalone LeakSanitizer has it on anyway);
  // either makes it exit non-zero on a leak.
  ::setenv("ASAN_OPTIONS", "detect_leaks=1", 1);
  std::vector<std::string> argv = {kProgram, url};
  if (!ca_file.empty()) argv.push_back(ca_file);
  const CommandResult result = run_command(argv, 60s);
  EXPECT_FALSE(result.timed_out) << result.output;
  EXPECT_EQ(result.exit_code, 0) << result.output;
}

TEST(RuntimeExit, SharedRuntimeWithWsLeavesNothingAtExit) {
  auto server = start_tether_server();
  expect_clean_exit("ws://127.0.0.1:" + std::to_string(server.port()) + "/echo", "");
}

TEST(RuntimeExit, SharedRuntimeWithWssLeavesNothingAtExit) {
  auto server = start_tether_server(
      {"--tls-cert", test_certs().server_cert, "--tls-key", test_certs().server_key});
  expect_clean_exit("wss://127.0.0.1:" + std::to_string(server.port()) + "/echo", test_certs().ca);
}

// main returns right after the callback that queued 16 MiB and destroyed the client: the
// runtime's shutdown is still sending them then, and the exit waits until the close is done.
TEST(RuntimeExit, RuntimeReleasedOnItsLoopThreadFinishesItsCloseBeforeTheExit) {
  if (kProgram.empty()) GTEST_SKIP() << "shared_runtime_exit is not built";
  auto server = start_tether_server({"--log", "/dev/stdout"});
  const std::string url = "ws://127.0.0.1:" + std::to_string(server.port()) + "/echo";
  const CommandResult result = run_command({kProgram, "--destroy-in-callback", url}, 60s);
  EXPECT_FALSE(result.timed_out) << result.output;
  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_TRUE(server.wait_for_log("\"event\":\"close\",\"code\":1000", 5s)) << server.log();
}

}  // namespace
}  // namespace tether::testing
