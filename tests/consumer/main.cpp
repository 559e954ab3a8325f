// Builds against an installed tether and checks that the public API links and behaves.
#include <tether/tether.hpp>

#include <cstdio>
#include <cstring>
#include <system_error>

int main() {
  std::error_code ec = tether::errc::tls_verify_failed;
  tether::errc parsed{};
  if (ec.message() != "tls_verify_failed" || std::strcmp(ec.category().name(), "tether") != 0 ||
      !tether::errc_from_string("auth_rejected", parsed) || parsed != tether::errc::auth_rejected) {
    std::fprintf(stderr, "consumer: unexpected error names\n");
    return 1;
  }

  // A client with a URL that cannot work fails before any I/O.
  tether::RuntimeOptions runtime_options;
  runtime_options.log = [](tether::LogLevel, const std::string&) {};
  auto runtime = tether::Runtime::create(runtime_options);
  tether::ClientOptions options;
  options.url = "http://127.0.0.1/";
  tether::Client client(options, runtime);
  const tether::Error error = client.start();
  if (error.code != tether::errc::invalid_url) {
    std::fprintf(stderr, "consumer: expected invalid_url, got %s\n",
                 std::string(tether::to_string(error.code)).c_str());
    return 1;
  }
  std::printf("consumer: tether %s ok (%s: %s)\n", TETHER_VERSION_STRING,
              std::string(tether::to_string(error.code)).c_str(), error.message.c_str());
  return 0;
}
