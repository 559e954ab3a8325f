// Builds against an installed tether and checks a few public symbols link and behave.
#include <tether/tether.hpp>

#include <cstdio>
#include <cstring>
#include <system_error>

int main() {
  std::error_code ec = tether::errc::tls_verify_failed;
  tether::errc parsed{};
  if (ec.message() != "tls_verify_failed" || std::strcmp(ec.category().name(), "tether") != 0 ||
      !tether::errc_from_string("auth_rejected", parsed) || parsed != tether::errc::auth_rejected) {
    std::fprintf(stderr, "consumer: unexpected result\n");
    return 1;
  }
  std::printf("consumer: tether %s ok (%s)\n", TETHER_VERSION_STRING, ec.message().c_str());
  return 0;
}
