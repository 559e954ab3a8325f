// The soak's bookkeeping and checks: a check that cannot fail proves nothing, so each one is
// shown failing on made-up data here.

#include "soak/soak_checks.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <vector>

#include "soak/message_ledger.hpp"
#include "support/process.hpp"

namespace tether::soak {
namespace {

CloseInfo close_info(std::uint16_t code, bool clean) {
  CloseInfo info;
  info.code = code;
  info.clean = clean;
  return info;
}

std::string server_line(std::uint64_t n) {
  return "{\"conn\":1,\"event\":\"message\",\"kind\":\"text\",\"bytes\":48,\"text\":\"" +
         message_text(n) + "\"}\n";
}

TEST(SoakMessages, TextCarriesItsNumber) {
  EXPECT_EQ(message_text(1).size(), 48u);
  EXPECT_EQ(message_text(123456789).size(), 48u);
  EXPECT_EQ(message_number(message_text(42)), 42u);
  EXPECT_EQ(message_number("m 7 abc"), 7u);
  EXPECT_EQ(message_number("m 7"), 0u);  // no separator after the number
  EXPECT_EQ(message_number("x 7 abc"), 0u);
  EXPECT_EQ(message_number("m  abc"), 0u);
  EXPECT_EQ(message_number(""), 0u);
}

TEST(SoakPolicy, DelayRangeFollowsTheBackoffFormula) {
  ReconnectOptions policy;
  policy.initial = std::chrono::milliseconds(50);
  policy.multiplier = 2.0;
  policy.max = std::chrono::milliseconds(1000);
  policy.jitter = 0.5;
  EXPECT_EQ(delay_range(policy, 1).low, 25);
  EXPECT_EQ(delay_range(policy, 1).high, 50);
  EXPECT_EQ(delay_range(policy, 5).low, 400);
  EXPECT_EQ(delay_range(policy, 5).high, 800);
  EXPECT_EQ(delay_range(policy, 6).low, 500);  // capped before the jitter
  EXPECT_EQ(delay_range(policy, 6).high, 1000);
  EXPECT_EQ(delay_range(policy, 40).high, 1000);
}

TEST(SoakLedger, LossesAreAllowedOnlyOnAbruptOrFaultedConnections) {
  testing::TempDir dir("tether-soak-test");
  MessageLedger ledger(100, 10);
  for (std::uint64_t n = 1; n <= 8; ++n) ledger.accepted(n);
  ledger.opened();  // connection 0: ends with the closing handshake
  ledger.sent(1);
  ledger.sent(2);
  ledger.sent(3);
  ledger.closed(close_info(1001, true), Chaos::sigterm);
  ledger.opened();  // connection 1: the server was killed
  ledger.sent(4);
  ledger.sent(5);
  ledger.closed(close_info(1006, false), Chaos::sigkill);
  ledger.opened();  // connection 2: a blackhole swallowed 7, then a clean close
  ledger.sent(6);
  ledger.faulted(Chaos::blackhole);
  ledger.sent(7);
  ledger.closed(close_info(1002, true), Chaos::none);
  ledger.dropped(8);

  const std::string log = dir.file("server.log");
  std::ofstream(log) << "{\"conn\":1,\"event\":\"open\"}\n"
                     << server_line(1) << server_line(2) << server_line(4) << server_line(6);
  ASSERT_TRUE(ledger.read_server_log(log));
  ledger.echo(message_text(1));
  ledger.echo(message_text(4));

  const Account a = ledger.account();
  EXPECT_EQ(a.accepted, 8u);
  EXPECT_EQ(a.sent, 7u);
  EXPECT_EQ(a.dropped, 1u);
  EXPECT_EQ(a.unresolved, 0u);
  EXPECT_EQ(a.at_server, 4u);
  EXPECT_EQ(a.lost_violations, 1u);  // 3: lost although its connection closed cleanly
  EXPECT_EQ(a.first_violation, 3u);
  EXPECT_EQ(a.lost_allowed_total, 2u);
  EXPECT_EQ(a.lost_allowed[static_cast<int>(Chaos::sigkill)], 1u);    // 5
  EXPECT_EQ(a.lost_allowed[static_cast<int>(Chaos::blackhole)], 1u);  // 7
  EXPECT_EQ(a.echoes, 2u);
  EXPECT_EQ(a.echoes_missing, 2u);  // 2 and 6 reached the server, their echoes did not come back
  EXPECT_EQ(a.connections, 3u);
  EXPECT_EQ(a.connections_clean, 2u);
  EXPECT_EQ(a.phantom, 0u);
}

TEST(SoakLedger, DuplicatesReordersAndPhantomsAreCounted) {
  testing::TempDir dir("tether-soak-test");
  MessageLedger ledger(100, 10);
  for (std::uint64_t n = 1; n <= 4; ++n) ledger.accepted(n);
  ledger.opened();
  for (std::uint64_t n = 1; n <= 3; ++n) ledger.sent(n);
  ledger.refused(4);
  const std::string log = dir.file("server.log");
  // 2 twice, 1 after 2, and 4 was never sent.
  std::ofstream(log) << server_line(2) << server_line(2) << server_line(1) << server_line(3)
                     << server_line(4);
  ASSERT_TRUE(ledger.read_server_log(log));
  ledger.echo(message_text(2));
  ledger.echo(message_text(1));  // reorder
  ledger.echo(message_text(2));  // duplicate
  ledger.echo("not a message");
  ledger.echo(message_text(50));  // never accepted
  const Account a = ledger.account();
  EXPECT_EQ(a.server_duplicates, 1u);
  EXPECT_EQ(a.server_reorders, 1u);
  EXPECT_EQ(a.phantom, 1u);
  EXPECT_EQ(a.refused, 1u);
  EXPECT_EQ(a.accepted, 3u);
  EXPECT_EQ(a.echo_reorders, 1u);
  EXPECT_EQ(a.echo_duplicates, 1u);
  EXPECT_EQ(a.echo_unknown, 2u);
  EXPECT_FALSE(ledger.read_server_log(dir.file("missing.log")));
}

// A result every check passes: 30 flat samples, delays inside the policy, everything delivered.
SoakResult passing_result() {
  SoakResult r;
  r.policy.initial = std::chrono::milliseconds(50);
  r.policy.max = std::chrono::milliseconds(1000);
  for (int i = 1; i <= 30; ++i) {
    Sample s;
    s.t = i;
    s.process.rss_kib = 10000 + static_cast<std::uint64_t>(i % 3) * 10;
    s.process.fds = 8 + i % 2;
    s.process.threads = 4;
    s.accepted = s.sent = static_cast<std::uint64_t>(i) * 100;
    r.samples.push_back(s);
  }
  r.account.accepted = r.account.sent = r.account.at_server = 3000;
  r.account.echoes = 3000;
  r.reconnects = {{1, 30, 31}, {2, 99, 100}, {7, 700, 702}};
  r.drained = r.closed_cleanly = r.server_log_read = true;
  r.warmup_s = 3;
  return r;
}

bool passes(const SoakResult& r, const std::string& name) {
  for (const Check& c : run_checks(r)) {
    if (c.name == name) return c.pass;
  }
  ADD_FAILURE() << "no check named " << name;
  return false;
}

TEST(SoakChecks, AllPassOnAHealthyRun) {
  for (const Check& c : run_checks(passing_result())) {
    EXPECT_TRUE(c.pass) << c.name << ": " << c.value;
  }
}

TEST(SoakChecks, EachCheckFailsOnItsFault) {
  SoakResult r = passing_result();
  for (std::size_t i = 20; i < r.samples.size(); ++i) r.samples[i].process.rss_kib += 2048;
  EXPECT_FALSE(passes(r, "rss flat"));

  r = passing_result();
  r.samples.back().process.fds = 10;
  EXPECT_FALSE(passes(r, "fds flat"));

  r = passing_result();
  r.samples[25].process.threads = 5;
  EXPECT_FALSE(passes(r, "threads flat"));

  r = passing_result();
  r.samples[5].queued = 1;  // one snapshot that does not balance
  EXPECT_FALSE(passes(r, "stats balance"));

  r = passing_result();
  r.account.unresolved = 1;
  EXPECT_FALSE(passes(r, "every message ended"));

  r = passing_result();
  r.account.lost_violations = 1;
  EXPECT_FALSE(passes(r, "no loss outside the guarantee"));

  r = passing_result();
  r.account.server_reorders = 1;
  EXPECT_FALSE(passes(r, "server: no duplicate, no reorder"));

  r = passing_result();
  r.account.echo_duplicates = 1;
  EXPECT_FALSE(passes(r, "echoes: no duplicate, no reorder"));

  r = passing_result();
  r.drained = false;
  EXPECT_FALSE(passes(r, "drained at the end"));

  r = passing_result();
  r.gave_up = true;
  EXPECT_FALSE(passes(r, "kept reconnecting"));

  r = passing_result();
  r.reconnects.push_back({1, 51, 51});  // above the base of retry 1
  EXPECT_FALSE(passes(r, "reconnect delays within policy"));
  r = passing_result();
  r.reconnects.push_back({3, 99, 100});  // below base*(1-jitter) of retry 3 (100..200)
  EXPECT_FALSE(passes(r, "reconnect delays within policy"));

  r = passing_result();
  r.reconnects.push_back({7, 700, 600});
  EXPECT_FALSE(passes(r, "reconnect waits not early"));
}

TEST(SoakChecks, TooFewSamplesFailTheFlatnessChecks) {
  SoakResult r = passing_result();
  r.samples.resize(10);  // 7 samples after the 3 s warm-up
  EXPECT_FALSE(passes(r, "rss flat"));
  EXPECT_FALSE(passes(r, "fds flat"));
  EXPECT_FALSE(passes(r, "threads flat"));
}

TEST(SoakChecks, RssWithinTheMarginPasses) {
  SoakResult r = passing_result();
  for (std::size_t i = 20; i < r.samples.size(); ++i) r.samples[i].process.rss_kib += 900;
  EXPECT_TRUE(passes(r, "rss flat"));
  EXPECT_EQ(rss_margin_kib(10000), 1024);
  EXPECT_EQ(rss_margin_kib(100000), 5000);
}

}  // namespace
}  // namespace tether::soak
