#include "tether/error.hpp"

#include <gtest/gtest.h>

#include <cctype>
#include <set>
#include <string>
#include <system_error>

namespace tether {
namespace {

constexpr int kFirst = static_cast<int>(errc::invalid_url);
constexpr int kLast = static_cast<int>(errc::invalid_argument);

bool is_snake_case(std::string_view s) {
  if (s.empty() || s.front() == '_' || s.back() == '_') return false;
  if (!std::islower(static_cast<unsigned char>(s.front()))) return false;
  char prev = 0;
  for (char c : s) {
    const bool ok = std::islower(static_cast<unsigned char>(c)) ||
                    std::isdigit(static_cast<unsigned char>(c)) || c == '_';
    if (!ok || (c == '_' && prev == '_')) return false;
    prev = c;
  }
  return true;
}

TEST(Errc, EveryCodeHasAUniqueSnakeCaseName) {
  std::set<std::string_view> names;
  for (int v = kFirst; v <= kLast; ++v) {
    const std::string_view name = to_string(static_cast<errc>(v));
    EXPECT_NE(name, "unknown") << v;
    EXPECT_TRUE(is_snake_case(name)) << name;
    EXPECT_TRUE(names.insert(name).second) << "duplicate name " << name;
  }
  EXPECT_EQ(names.size(), static_cast<std::size_t>(kLast - kFirst + 1));
}

TEST(Errc, DocumentedNames) {
  // Names are API: a few pinned so a reordering of the table shows up here.
  EXPECT_EQ(to_string(errc::invalid_url), "invalid_url");
  EXPECT_EQ(to_string(errc::tls_verify_failed), "tls_verify_failed");
  EXPECT_EQ(to_string(errc::handshake_rejected), "handshake_rejected");
  EXPECT_EQ(to_string(errc::protocol_error), "protocol_error");
  EXPECT_EQ(to_string(errc::invalid_utf8), "invalid_utf8");
  EXPECT_EQ(to_string(errc::message_too_big), "message_too_big");
  EXPECT_EQ(to_string(errc::connection_lost), "connection_lost");
  EXPECT_EQ(to_string(errc::queue_full), "queue_full");
  EXPECT_EQ(to_string(errc::timeout), "timeout");
  EXPECT_EQ(to_string(errc::closed), "closed");
  EXPECT_EQ(to_string(errc::invalid_argument), "invalid_argument");
}

TEST(Errc, RoundTripThroughNames) {
  for (int v = kFirst; v <= kLast; ++v) {
    const errc code = static_cast<errc>(v);
    errc back = errc::invalid_argument;
    ASSERT_TRUE(errc_from_string(to_string(code), back)) << to_string(code);
    EXPECT_EQ(back, code);
  }
}

TEST(Errc, UnknownNamesAndValues) {
  errc out = errc::timeout;
  EXPECT_FALSE(errc_from_string("", out));
  EXPECT_FALSE(errc_from_string("unknown", out));
  EXPECT_FALSE(errc_from_string("Timeout", out));
  EXPECT_FALSE(errc_from_string("timeout ", out));
  EXPECT_FALSE(errc_from_string("dns", out));
  EXPECT_EQ(out, errc::timeout) << "a failed lookup leaves the output alone";
  EXPECT_EQ(to_string(static_cast<errc>(0)), "unknown");
  EXPECT_EQ(to_string(static_cast<errc>(kLast + 1)), "unknown");
  EXPECT_EQ(to_string(static_cast<errc>(-1)), "unknown");
}

TEST(Errc, StdErrorCode) {
  const std::error_code ec = errc::dns_failed;  // implicit via is_error_code_enum
  EXPECT_TRUE(static_cast<bool>(ec));
  EXPECT_EQ(ec.value(), static_cast<int>(errc::dns_failed));
  EXPECT_EQ(&ec.category(), &error_category());
  EXPECT_STREQ(ec.category().name(), "tether");
  EXPECT_EQ(ec.message(), "dns_failed");
  EXPECT_EQ(ec, errc::dns_failed);
  EXPECT_NE(ec, errc::connect_refused);
  EXPECT_EQ(make_error_code(errc::timeout), std::error_code(errc::timeout));
  // Not equal to a generic-category code with the same value.
  EXPECT_NE(ec, std::error_code(ec.value(), std::generic_category()));
  for (int v = kFirst; v <= kLast; ++v) {
    const std::error_code code = make_error_code(static_cast<errc>(v));
    EXPECT_EQ(code.message(), to_string(static_cast<errc>(v)));
  }
}

}  // namespace
}  // namespace tether
