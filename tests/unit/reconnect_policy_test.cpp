// The default reconnect policy against the table of the CLI contract ("Reconnect policy"):
// close codes from the server, HTTP statuses on the upgrade, and error names.

#include <gtest/gtest.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "tether/error.hpp"
#include "tether/state.hpp"

namespace tether {
namespace {

const char* name(ReconnectDecision d) {
  switch (d) {
    case ReconnectDecision::reconnect:
      return "reconnect";
    case ReconnectDecision::stop:
      return "stop";
    case ReconnectDecision::fail:
      return "fail";
  }
  return "?";
}

// Close codes ---------------------------------------------------------------------------------

// The contract's class of a close code sent by the server, or nullopt for codes the contract does
// not list.
std::optional<ReconnectDecision> contract_class(unsigned code) {
  if (code == 4001 || code == 4003) return ReconnectDecision::fail;
  if (code == 1001 || code == 1002 || code == 1005 || code == 1006 ||
      (code >= 1011 && code <= 1014) || (code >= 3000 && code <= 3499) ||
      (code >= 4000 && code <= 4499)) {
    return ReconnectDecision::reconnect;
  }
  if (code == 1000 || code == 1003 || (code >= 1007 && code <= 1010) ||
      (code >= 3500 && code <= 3999) || (code >= 4500 && code <= 4999)) {
    return ReconnectDecision::stop;
  }
  return std::nullopt;
}

Cause server_close(unsigned code) {
  Cause c;
  c.close_code = static_cast<std::uint16_t>(code);
  c.close_reason = "reason " + std::to_string(code);
  return c;
}

TEST(ReconnectPolicy, EveryServerCloseCodeFrom1000To4999) {
  int listed = 0;
  for (unsigned code = 1000; code <= 4999; ++code) {
    const std::optional<ReconnectDecision> want = contract_class(code);
    const ReconnectDecision got = default_reconnect_decision(server_close(code));
    if (want) {
      ++listed;
      EXPECT_EQ(got, *want) << "CONTRACT (Reconnect policy, close codes): server close " << code
                            << " must " << name(*want) << ", the default policy says " << name(got);
    } else {
      // 1004, 1015 and 1016-2999 are not in the contract; the library reconnects on them.
      EXPECT_EQ(got, ReconnectDecision::reconnect)
          << "unlisted close code " << code << " gave " << name(got);
    }
  }
  // 1000-1003 and 1005-1014 (14 codes), 3000-4999 (2000 codes).
  EXPECT_EQ(listed, 2014);
}

struct CodeRow {
  unsigned code;
  ReconnectDecision decision;
};

TEST(ReconnectPolicy, ContractCloseCodeRowsOneByOne) {
  const CodeRow rows[] = {
      {1001, ReconnectDecision::reconnect}, {1002, ReconnectDecision::reconnect},
      {1005, ReconnectDecision::reconnect}, {1006, ReconnectDecision::reconnect},
      {1011, ReconnectDecision::reconnect}, {1012, ReconnectDecision::reconnect},
      {1013, ReconnectDecision::reconnect}, {1014, ReconnectDecision::reconnect},
      {3000, ReconnectDecision::reconnect}, {3499, ReconnectDecision::reconnect},
      {4000, ReconnectDecision::reconnect}, {4002, ReconnectDecision::reconnect},
      {4004, ReconnectDecision::reconnect}, {4499, ReconnectDecision::reconnect},
      {1000, ReconnectDecision::stop},      {1003, ReconnectDecision::stop},
      {1007, ReconnectDecision::stop},      {1008, ReconnectDecision::stop},
      {1009, ReconnectDecision::stop},      {1010, ReconnectDecision::stop},
      {3500, ReconnectDecision::stop},      {3999, ReconnectDecision::stop},
      {4500, ReconnectDecision::stop},      {4999, ReconnectDecision::stop},
      {4001, ReconnectDecision::fail},      {4003, ReconnectDecision::fail},
  };
  for (const CodeRow& row : rows) {
    EXPECT_EQ(default_reconnect_decision(server_close(row.code)), row.decision)
        << "close code " << row.code;
  }
}

TEST(ReconnectPolicy, NoCloseFrameReconnects) {
  // A connection that ended without any close frame: no code, or 1006 with connection_lost.
  EXPECT_EQ(default_reconnect_decision(Cause{}), ReconnectDecision::reconnect);
  Cause lost;
  lost.error = errc::connection_lost;
  lost.close_code = 1006;
  EXPECT_EQ(default_reconnect_decision(lost), ReconnectDecision::reconnect);
}

TEST(ReconnectPolicy, AuthCloseCodesFailEvenWithATransportError) {
  for (unsigned code : {4001u, 4003u}) {
    Cause c = server_close(code);
    c.error = errc::connection_lost;
    EXPECT_EQ(default_reconnect_decision(c), ReconnectDecision::fail) << "close code " << code;
    c.error = errc::auth_rejected;
    EXPECT_EQ(default_reconnect_decision(c), ReconnectDecision::fail) << "close code " << code;
  }
}

// HTTP statuses on the upgrade -----------------------------------------------------------------

ReconnectDecision contract_status_class(int status) {
  if (status == 401 || status == 403) return ReconnectDecision::fail;  // auth_rejected
  if (status == 408 || status == 429) return ReconnectDecision::reconnect;
  if (status >= 500 && status <= 599) return ReconnectDecision::reconnect;
  if (status >= 300 && status <= 399) return ReconnectDecision::fail;
  if (status >= 400 && status <= 499) return ReconnectDecision::fail;
  return ReconnectDecision::reconnect;  // any other status (1xx, 2xx)
}

Cause upgrade_status(int status) {
  Cause c;
  c.error = errc::handshake_rejected;
  c.http_status = status;
  c.message = "HTTP " + std::to_string(status);
  return c;
}

TEST(ReconnectPolicy, EveryUpgradeStatusFrom100To599) {
  for (int status = 100; status <= 599; ++status) {
    const ReconnectDecision want = contract_status_class(status);
    const ReconnectDecision got = default_reconnect_decision(upgrade_status(status));
    EXPECT_EQ(got, want) << "CONTRACT (Reconnect policy, HTTP status on the upgrade): status "
                         << status << " must " << name(want) << ", the default policy says "
                         << name(got);
  }
}

TEST(ReconnectPolicy, UpgradeStatusRowsOneByOne) {
  struct Row {
    int status;
    ReconnectDecision decision;
  };
  const Row rows[] = {
      {401, ReconnectDecision::fail},      {403, ReconnectDecision::fail},
      {404, ReconnectDecision::fail},      {400, ReconnectDecision::fail},
      {410, ReconnectDecision::fail},      {426, ReconnectDecision::fail},
      {499, ReconnectDecision::fail},      {408, ReconnectDecision::reconnect},
      {429, ReconnectDecision::reconnect}, {500, ReconnectDecision::reconnect},
      {502, ReconnectDecision::reconnect}, {503, ReconnectDecision::reconnect},
      {599, ReconnectDecision::reconnect}, {300, ReconnectDecision::fail},
      {301, ReconnectDecision::fail},      {302, ReconnectDecision::fail},
      {307, ReconnectDecision::fail},      {308, ReconnectDecision::fail},
      {100, ReconnectDecision::reconnect}, {200, ReconnectDecision::reconnect},
      {204, ReconnectDecision::reconnect},
  };
  for (const Row& row : rows) {
    EXPECT_EQ(default_reconnect_decision(upgrade_status(row.status)), row.decision)
        << "status " << row.status;
  }
}

TEST(ReconnectPolicy, RetryAfterDoesNotChangeTheDecision) {
  for (int status : {408, 429, 503}) {
    Cause c = upgrade_status(status);
    c.retry_after = std::chrono::milliseconds(120000);
    EXPECT_EQ(default_reconnect_decision(c), ReconnectDecision::reconnect) << status;
  }
}

TEST(ReconnectPolicy, Http401And403AsAuthRejectedFail) {
  for (int status : {401, 403}) {
    Cause c = upgrade_status(status);
    c.error = errc::auth_rejected;
    EXPECT_EQ(default_reconnect_decision(c), ReconnectDecision::fail) << status;
  }
}

// Error names ---------------------------------------------------------------------------------

struct ErrorRow {
  errc error;
  ReconnectDecision decision;
};

TEST(ReconnectPolicy, ErrorNames) {
  const ErrorRow rows[] = {
      // Give up at once.
      {errc::tls_verify_failed, ReconnectDecision::fail},
      {errc::auth_rejected, ReconnectDecision::fail},
      {errc::invalid_url, ReconnectDecision::fail},
      {errc::invalid_argument, ReconnectDecision::fail},
      // Transport problems: reconnect.
      {errc::dns_failed, ReconnectDecision::reconnect},
      {errc::connect_refused, ReconnectDecision::reconnect},
      {errc::connect_timeout, ReconnectDecision::reconnect},
      {errc::tls_handshake_failed, ReconnectDecision::reconnect},
      {errc::proxy_failed, ReconnectDecision::reconnect},
      {errc::handshake_failed, ReconnectDecision::reconnect},
      {errc::protocol_error, ReconnectDecision::reconnect},
      {errc::invalid_utf8, ReconnectDecision::reconnect},
      {errc::message_too_big, ReconnectDecision::reconnect},
      {errc::heartbeat_timeout, ReconnectDecision::reconnect},
      {errc::connection_lost, ReconnectDecision::reconnect},
      // "no auth response within --auth-timeout (then reconnect per backoff)".
      {errc::auth_timeout, ReconnectDecision::reconnect},
  };
  for (const ErrorRow& row : rows) {
    Cause c;
    c.error = row.error;
    c.message = "detail";
    EXPECT_EQ(default_reconnect_decision(c), row.decision)
        << "CONTRACT (Reconnect policy, error names): " << to_string(row.error) << " must "
        << name(row.decision);
  }
}

TEST(ReconnectPolicy, ConnectionsTheClientFailedReconnect) {
  // The client failed the connection and sent 1002/1007/1009 itself: those are not server codes.
  const ErrorRow rows[] = {
      {errc::protocol_error, ReconnectDecision::reconnect},
      {errc::invalid_utf8, ReconnectDecision::reconnect},
      {errc::message_too_big, ReconnectDecision::reconnect},
  };
  const std::uint16_t codes[] = {1002, 1007, 1009};
  for (std::size_t i = 0; i < 3; ++i) {
    Cause c;
    c.error = rows[i].error;
    c.close_code = codes[i];
    EXPECT_EQ(default_reconnect_decision(c), rows[i].decision) << to_string(rows[i].error);
  }
}

TEST(ReconnectPolicy, ClientCloseAlwaysStops) {
  std::vector<Cause> causes;
  for (unsigned code : {1000u, 1001u, 1006u, 4001u, 4500u}) {
    Cause c = server_close(code);
    c.by_client = true;
    causes.push_back(c);
  }
  Cause none;
  none.by_client = true;
  causes.push_back(none);
  for (errc e : {errc::connection_lost, errc::tls_verify_failed, errc::auth_rejected,
                 errc::heartbeat_timeout}) {
    Cause c;
    c.by_client = true;
    c.error = e;
    causes.push_back(c);
  }
  Cause status = upgrade_status(503);
  status.by_client = true;
  causes.push_back(status);
  for (const Cause& c : causes) {
    EXPECT_EQ(default_reconnect_decision(c), ReconnectDecision::stop)
        << "by_client, close code " << c.close_code << ", error "
        << (c.error ? to_string(*c.error) : "none");
  }
}

}  // namespace
}  // namespace tether
