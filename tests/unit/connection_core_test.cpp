// The connection manager, driven with a fake `now` and scripted randomness. The ConnectionCoreTable
// suite has one test per row of the transition table in docs/state-machine.md ([T1]..[T17] in
// sdk/core/connection_core.cpp); the other suites cover the reconnect policy, heartbeats, close
// from every state, and invariants over long random input sequences.

#include "core/connection_core.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "tether/error.hpp"
#include "tether/options.hpp"
#include "tether/state.hpp"
#include "unit/core_support.hpp"

namespace tether::core {
namespace {

using namespace tether::core::testing;  // NOLINT(google-build-using-namespace)
using std::chrono::milliseconds;

TimePoint at(long long ms) {
  return FakeClock::at(ms);
}

const std::optional<long long> kNoDeadline;

// Expected effects -----------------------------------------------------------------------------

Effect change(State from, State to, Cause cause = {}) {
  return effect::StateChange{from, to, std::move(cause)};
}
Effect opening(bool refresh_token = false) {
  return effect::OpenTransport{refresh_token};
}
Effect closing(std::uint16_t code, std::string reason) {
  return effect::CloseTransport{code, std::move(reason)};
}
Effect aborting(errc error, std::string message) {
  return effect::AbortTransport{error, std::move(message)};
}
Effect ping() {
  return effect::SendPing{};
}
Effect scheduled(int attempt, long long delay_ms) {
  return effect::ReconnectScheduled{attempt, milliseconds(delay_ms)};
}

// Compares every field of every effect, in order.
::testing::AssertionResult effects_are(const std::vector<Effect>& got,
                                       const std::vector<Effect>& want) {
  if (describe(got) == describe(want)) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << "\n  got:  " << describe(got) << "\n  want: " << describe(want);
}

Cause by_client(std::uint16_t code, std::string reason) {
  Cause c;
  c.by_client = true;
  c.close_code = code;
  c.close_reason = std::move(reason);
  return c;
}

std::string heartbeat_message(long long pong_timeout_ms) {
  return "no frame within " + std::to_string(pong_timeout_ms) + " ms after a ping";
}

// A core with its scripted randomness. Every draw is 0.5 unless a script says otherwise, so the
// default delays are 375, 750, 1500, 3000, 6000, 12000, 22500, 22500, ... ms.
struct Rig {
  explicit Rig(CoreOptions options = {}, std::vector<double> script = {}, double fallback = 0.5)
      : random(std::move(script), fallback), core(std::move(options), random) {}
  Rig(const Rig&) = delete;
  Rig& operator=(const Rig&) = delete;

  std::vector<Effect> effects() { return core.take_effects(); }

  /// start() and the transport opening, both at `ms`; effects discarded.
  void open_at(long long ms) {
    core.start(at(ms));
    core.on_transport_open(at(ms));
    core.take_effects();
  }

  FixedRandom random;
  ConnectionCore core;
};

CoreOptions with_auth(long long auth_timeout_ms = 10000) {
  CoreOptions o;
  o.auth = true;
  o.auth_timeout = milliseconds(auth_timeout_ms);
  return o;
}

/// First-message auth with a token provider: a rejection may refresh the token once.
CoreOptions with_refreshable_auth() {
  CoreOptions o = with_auth(10000);
  o.auth_refresh = true;
  return o;
}

// The transition table ---------------------------------------------------------------------------

TEST(ConnectionCoreTable, T1_IdleStartOpensTransport) {
  Rig r;
  EXPECT_EQ(r.core.state(), State::idle);
  EXPECT_EQ(deadline_ms(r.core), kNoDeadline);
  r.core.start(at(0));
  EXPECT_TRUE(effects_are(r.effects(), {change(State::idle, State::connecting), opening()}));
  EXPECT_EQ(r.core.state(), State::connecting);
  EXPECT_EQ(deadline_ms(r.core), kNoDeadline);
  EXPECT_TRUE(r.core.transport_live());
  EXPECT_EQ(r.core.attempt(), 0);
  EXPECT_EQ(r.core.stats().attempts, 1u);
  EXPECT_EQ(r.core.stats().state_since, at(0));

  // Only from idle.
  r.core.start(at(10));
  EXPECT_TRUE(effects_are(r.effects(), {}));
  EXPECT_EQ(r.core.stats().attempts, 1u);
}

TEST(ConnectionCoreTable, T2_ConnectingOpenedBecomesOpen) {
  Rig r;
  r.core.start(at(0));
  r.effects();
  r.core.on_transport_open(at(120));
  EXPECT_TRUE(effects_are(r.effects(), {change(State::connecting, State::open)}));
  EXPECT_EQ(r.core.state(), State::open);
  EXPECT_EQ(deadline_ms(r.core), 20120) << "ping_interval (20 s) after the open";
  EXPECT_EQ(r.core.stats().opens, 1u);
  EXPECT_EQ(r.core.stats().reconnects, 0u);
  EXPECT_EQ(r.core.stats().state_since, at(120));
  EXPECT_EQ(r.random.draws(), 0u);

  // Only from connecting.
  r.core.on_transport_open(at(130));
  EXPECT_TRUE(effects_are(r.effects(), {}));
  EXPECT_EQ(r.core.stats().opens, 1u);
}

TEST(ConnectionCoreTable, T3_ConnectingOpenedWithAuthAuthenticates) {
  Rig r(with_auth(10000));
  r.core.start(at(0));
  r.effects();
  r.core.on_transport_open(at(120));
  EXPECT_TRUE(effects_are(r.effects(), {change(State::connecting, State::authenticating)}));
  EXPECT_EQ(r.core.state(), State::authenticating);
  EXPECT_EQ(deadline_ms(r.core), 10120) << "auth_timeout (10 s) comes before the ping (20 s)";
  EXPECT_EQ(r.core.stats().opens, 1u);
  EXPECT_EQ(r.core.stats().state_since, at(120));
}

TEST(ConnectionCoreTable, T4_AuthenticatingAuthOkBecomesOpen) {
  Rig r(with_auth(10000));
  r.core.start(at(0));
  r.core.on_transport_open(at(100));
  r.effects();
  r.core.on_auth_succeeded(at(400));
  EXPECT_TRUE(effects_are(r.effects(), {change(State::authenticating, State::open)}));
  EXPECT_EQ(r.core.state(), State::open);
  EXPECT_EQ(deadline_ms(r.core), 20100) << "the auth deadline is gone; the ping runs from the open";
  EXPECT_EQ(r.core.stats().state_since, at(400));

  // Only from authenticating.
  r.core.on_auth_succeeded(at(500));
  EXPECT_TRUE(effects_are(r.effects(), {}));
}

TEST(ConnectionCoreTable, T5_AuthRejectedClosesWith1000ThenFails) {
  for (const State from : {State::authenticating, State::open}) {
    SCOPED_TRACE(std::string("from ") + std::string(to_string(from)));
    Rig r(with_auth(10000));
    r.core.start(at(0));
    r.core.on_transport_open(at(100));
    if (from == State::open) r.core.on_auth_succeeded(at(200));
    r.effects();
    ASSERT_EQ(r.core.state(), from);

    r.core.on_auth_rejected(at(500), "invalid token");
    EXPECT_TRUE(effects_are(r.effects(), {closing(1000, "auth rejected")}));
    EXPECT_EQ(r.core.state(), from) << "the state holds until the transport ends";
    EXPECT_FALSE(r.core.next_deadline()) << "no auth deadline and no heartbeat while it closes";
    EXPECT_TRUE(r.core.transport_live());

    r.core.on_transport_closed(at(600), client_close_done(1000, "auth rejected"));
    Cause want;
    want.error = errc::auth_rejected;
    want.message = "invalid token";
    want.close_code = 1000;
    want.close_reason = "auth rejected";
    EXPECT_TRUE(effects_are(r.effects(), {change(from, State::failed, want)}));
    EXPECT_EQ(r.core.state(), State::failed);
    EXPECT_EQ(deadline_ms(r.core), kNoDeadline);
    EXPECT_FALSE(r.core.transport_live());
    EXPECT_EQ(r.random.draws(), 0u);
  }

  // Not while connecting.
  Rig r(with_auth(10000));
  r.core.start(at(0));
  r.effects();
  r.core.on_auth_rejected(at(10), "invalid token");
  EXPECT_TRUE(effects_are(r.effects(), {}));
}

TEST(ConnectionCoreTable, T6_AuthTimeoutClosesWith1000ThenReconnects) {
  Rig r(with_auth(10000));
  r.core.start(at(0));
  r.core.on_transport_open(at(100));
  r.effects();

  r.core.on_deadline(at(10099));
  EXPECT_TRUE(effects_are(r.effects(), {})) << "1 ms early";
  r.core.on_deadline(at(10100));
  EXPECT_TRUE(effects_are(r.effects(), {closing(1000, "auth timeout")}));
  EXPECT_EQ(r.core.state(), State::authenticating);
  EXPECT_FALSE(r.core.next_deadline()) << "no heartbeat while it closes for the timeout";

  r.core.on_transport_closed(at(10150), client_close_done(1000, "auth timeout"));
  Cause want;
  want.error = errc::auth_timeout;
  want.message = "no auth response within 10000 ms";
  want.close_code = 1000;
  want.close_reason = "auth timeout";
  EXPECT_TRUE(effects_are(
      r.effects(), {change(State::authenticating, State::waiting, want), scheduled(1, 375)}));
  EXPECT_EQ(r.core.state(), State::waiting);
  EXPECT_EQ(deadline_ms(r.core), 10525);
  EXPECT_EQ(r.core.attempt(), 1);
}


TEST(ConnectionCoreTable, T18_AuthRejectedWithARefreshableTokenRetriesOnceAtOnce) {
  Rig r(with_refreshable_auth());
  r.open_at(0);
  r.core.on_auth_rejected(at(100), "expired");
  EXPECT_TRUE(effects_are(r.effects(), {closing(1000, "auth rejected")}));
  r.core.on_transport_closed(at(150), client_close_done(1000, "auth rejected"));
  Cause want;
  want.error = errc::auth_rejected;
  want.message = "expired";
  want.close_code = 1000;
  want.close_reason = "auth rejected";
  EXPECT_TRUE(effects_are(r.effects(),
                          {change(State::authenticating, State::waiting, want), scheduled(1, 0)}));
  EXPECT_EQ(deadline_ms(r.core), 150) << "no backoff: the retry is due at once";
  EXPECT_EQ(r.random.draws(), 0u);

  r.core.on_deadline(at(150));
  EXPECT_TRUE(effects_are(r.effects(), {change(State::waiting, State::connecting),
                                        opening(/*refresh_token=*/true)}));

  // The fresh token is rejected too: no second refresh, the policy fails.
  r.core.on_transport_open(at(200));
  r.effects();
  r.core.on_auth_rejected(at(250), "still bad");
  EXPECT_TRUE(effects_are(r.effects(), {closing(1000, "auth rejected")}));
  r.core.on_transport_closed(at(260), client_close_done(1000, "auth rejected"));
  auto effects = r.effects();
  ASSERT_EQ(effects.size(), 1u) << describe(effects);
  const auto* failed = std::get_if<effect::StateChange>(&effects[0]);
  ASSERT_NE(failed, nullptr);
  EXPECT_EQ(failed->to, State::failed);
  EXPECT_EQ(failed->cause.error, errc::auth_rejected);
  EXPECT_EQ(r.core.stats().attempts, 2u) << "two attempts in all";
}

TEST(ConnectionCoreTable, T18_ARefreshedTokenThatWorksAllowsAnotherRefreshLater) {
  Rig r(with_refreshable_auth());
  r.open_at(0);
  for (int round = 0; round < 3; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    const long long t = 1000 * (round + 1);
    r.core.on_auth_succeeded(at(t - 900));
    r.effects();
    // Later the server rejects the (expired) token with 4001.
    r.core.on_transport_closed(at(t), server_close(4001, "token expired"));
    auto effects = r.effects();
    ASSERT_EQ(effects.size(), 2u) << describe(effects);
    EXPECT_EQ(std::get<effect::StateChange>(effects[0]).to, State::waiting);
    EXPECT_EQ(std::get<effect::ReconnectScheduled>(effects[1]).delay.count(), 0);
    r.core.on_deadline(at(t));
    EXPECT_TRUE(effects_are(r.effects(), {change(State::waiting, State::connecting),
                                          opening(/*refresh_token=*/true)}));
    r.core.on_transport_open(at(t + 10));
    r.effects();
  }
}

TEST(ConnectionCoreTable, T18_HttpRejectionRefreshesToo_AndTheNextAttemptDoesNotAskForRefresh) {
  CoreOptions o;
  o.auth_refresh = true;  // a token in a header: no authenticating state
  Rig r(o);
  r.core.start(at(0));
  r.effects();
  r.core.on_transport_failed(at(50), rejected(401));
  auto effects = r.effects();
  ASSERT_EQ(effects.size(), 2u) << describe(effects);
  EXPECT_EQ(std::get<effect::StateChange>(effects[0]).to, State::waiting);
  r.core.on_deadline(at(50));
  EXPECT_TRUE(effects_are(r.effects(), {change(State::waiting, State::connecting),
                                        opening(/*refresh_token=*/true)}));
  // The refreshed attempt fails for a network reason: the retry after it is a plain one.
  r.core.on_transport_failed(at(60), failure(errc::connect_refused));
  effects = r.effects();
  ASSERT_EQ(effects.size(), 2u) << describe(effects);
  const auto& sched = std::get<effect::ReconnectScheduled>(effects[1]);
  r.core.on_deadline(at(60) + sched.delay);
  EXPECT_TRUE(effects_are(r.effects(), {change(State::waiting, State::connecting), opening()}));
}

TEST(ConnectionCoreTable, T18_WithoutAProviderARejectionFailsAtOnce) {
  Rig r(with_auth(10000));
  r.open_at(0);
  r.core.on_transport_closed(at(100), server_close(4003, "forbidden"));
  auto effects = r.effects();
  ASSERT_EQ(effects.size(), 1u) << describe(effects);
  EXPECT_EQ(std::get<effect::StateChange>(effects[0]).to, State::failed);
}

TEST(ConnectionCoreTable, T7_OpenLostWithReconnectCodeSchedulesRetry) {
  {
    SCOPED_TRACE("from open: server close 1001");
    Rig r;
    r.open_at(100);
    r.core.on_transport_closed(at(2000), server_close(1001, "going away"));
    EXPECT_TRUE(effects_are(r.effects(),
                            {change(State::open, State::waiting, server_close(1001, "going away")),
                             scheduled(1, 375)}));
    EXPECT_EQ(r.core.state(), State::waiting);
    EXPECT_EQ(deadline_ms(r.core), 2375);
    EXPECT_EQ(r.core.attempt(), 1);
    EXPECT_FALSE(r.core.transport_live());
    EXPECT_EQ(r.random.draws(), 1u);
    EXPECT_EQ(r.core.stats().state_since, at(2000));
  }
  {
    SCOPED_TRACE("from connecting: connect refused");
    Rig r;
    r.core.start(at(0));
    r.effects();
    r.core.on_transport_failed(at(50), failure(errc::connect_refused, "refused"));
    EXPECT_TRUE(effects_are(r.effects(), {change(State::connecting, State::waiting,
                                                 failure(errc::connect_refused, "refused")),
                                          scheduled(1, 375)}));
    EXPECT_EQ(deadline_ms(r.core), 425);
  }
  {
    SCOPED_TRACE("from authenticating: connection lost");
    Rig r(with_auth(10000));
    r.open_at(0);
    r.core.on_transport_closed(at(300), lost());
    EXPECT_TRUE(effects_are(
        r.effects(), {change(State::authenticating, State::waiting, lost()), scheduled(1, 375)}));
    EXPECT_EQ(deadline_ms(r.core), 675) << "no auth deadline or ping left";
  }
}

TEST(ConnectionCoreTable, T8_ServerStopCodeEndsClosed) {
  {
    SCOPED_TRACE("from open: 1000");
    Rig r;
    r.open_at(100);
    r.core.on_transport_closed(at(900), server_close(1000, "bye"));
    EXPECT_TRUE(
        effects_are(r.effects(), {change(State::open, State::closed, server_close(1000, "bye"))}));
    EXPECT_EQ(r.core.state(), State::closed);
    EXPECT_EQ(deadline_ms(r.core), kNoDeadline);
    EXPECT_FALSE(r.core.transport_live());
    EXPECT_EQ(r.random.draws(), 0u);
  }
  {
    SCOPED_TRACE("from authenticating: 4500");
    Rig r(with_auth(10000));
    r.open_at(0);
    r.core.on_transport_closed(at(50), server_close(4500, "maintenance"));
    EXPECT_TRUE(effects_are(r.effects(), {change(State::authenticating, State::closed,
                                                 server_close(4500, "maintenance"))}));
    EXPECT_EQ(deadline_ms(r.core), kNoDeadline);
  }
}

TEST(ConnectionCoreTable, T9_PolicyFailEndsFailed) {
  {
    SCOPED_TRACE("from connecting: tls_verify_failed");
    Rig r;
    r.core.start(at(0));
    r.effects();
    const Cause cause = failure(errc::tls_verify_failed, "self-signed certificate");
    r.core.on_transport_failed(at(40), cause);
    EXPECT_TRUE(effects_are(r.effects(), {change(State::connecting, State::failed, cause)}));
    EXPECT_EQ(r.core.state(), State::failed);
    EXPECT_EQ(deadline_ms(r.core), kNoDeadline);
    EXPECT_EQ(r.random.draws(), 0u);
  }
  {
    SCOPED_TRACE("from connecting: HTTP 404");
    Rig r;
    r.core.start(at(0));
    r.effects();
    r.core.on_transport_failed(at(40), rejected(404));
    EXPECT_TRUE(
        effects_are(r.effects(), {change(State::connecting, State::failed, rejected(404))}));
  }
  {
    SCOPED_TRACE("from open: server close 4003");
    Rig r;
    r.open_at(0);
    r.core.on_transport_closed(at(40), server_close(4003, "forbidden"));
    EXPECT_TRUE(effects_are(r.effects(),
                            {change(State::open, State::failed, as_auth_rejected(server_close(4003, "forbidden")))}));
  }
}

TEST(ConnectionCoreTable, T10_SilenceForPingIntervalSendsPing) {
  Rig r;
  r.open_at(0);
  EXPECT_EQ(deadline_ms(r.core), 20000);
  r.core.on_deadline(at(19999));
  EXPECT_TRUE(effects_are(r.effects(), {}));
  r.core.on_deadline(at(20000));
  EXPECT_TRUE(effects_are(r.effects(), {ping()}));
  EXPECT_EQ(r.core.state(), State::open);
  EXPECT_EQ(deadline_ms(r.core), 30000) << "pong_timeout (10 s) after the ping";
  // One ping per silence: nothing more until the pong deadline.
  r.core.on_deadline(at(25000));
  EXPECT_TRUE(effects_are(r.effects(), {}));
}

TEST(ConnectionCoreTable, T11_NoFrameWithinPongTimeoutAbortsWithHeartbeatTimeout) {
  Rig r;
  r.open_at(0);
  r.core.on_deadline(at(20000));
  r.effects();
  r.core.on_deadline(at(29999));
  EXPECT_TRUE(effects_are(r.effects(), {}));
  r.core.on_deadline(at(30000));
  EXPECT_TRUE(
      effects_are(r.effects(), {aborting(errc::heartbeat_timeout, heartbeat_message(10000))}));
  EXPECT_EQ(r.core.state(), State::open) << "the state holds until the transport ends";
  EXPECT_EQ(deadline_ms(r.core), kNoDeadline);
  EXPECT_TRUE(r.core.transport_live());

  // The following state change reports heartbeat_timeout, whatever the transport saw.
  r.core.on_transport_closed(at(30001), lost());
  Cause want = lost();
  want.error = errc::heartbeat_timeout;
  want.message = heartbeat_message(10000);
  EXPECT_TRUE(
      effects_are(r.effects(), {change(State::open, State::waiting, want), scheduled(1, 375)}));
  EXPECT_EQ(deadline_ms(r.core), 30376);
}

TEST(ConnectionCoreTable, T12_RetryTimeReconnects) {
  Rig r;
  r.core.start(at(0));
  r.core.on_transport_failed(at(0), failure(errc::connect_refused));
  r.effects();
  ASSERT_EQ(deadline_ms(r.core), 375);
  r.core.on_deadline(at(374));
  EXPECT_TRUE(effects_are(r.effects(), {}));
  r.core.on_deadline(at(375));
  EXPECT_TRUE(effects_are(r.effects(), {change(State::waiting, State::connecting), opening()}));
  EXPECT_EQ(r.core.state(), State::connecting);
  EXPECT_EQ(deadline_ms(r.core), kNoDeadline);
  EXPECT_TRUE(r.core.transport_live());
  EXPECT_EQ(r.core.attempt(), 1) << "retry 1 is under way";
  EXPECT_EQ(r.core.stats().attempts, 2u);

  // The retry opens: a reconnect.
  r.core.on_transport_open(at(400));
  r.effects();
  EXPECT_EQ(r.core.stats().opens, 1u);
  EXPECT_EQ(r.core.stats().reconnects, 0u) << "the first open is not a reconnect";
  r.core.on_transport_closed(at(500), lost());
  r.core.on_deadline(at(500 + 750));
  r.core.on_transport_open(at(1300));
  EXPECT_EQ(r.core.stats().opens, 2u);
  EXPECT_EQ(r.core.stats().reconnects, 1u);
}

TEST(ConnectionCoreTable, T13_ReconnectNowFromWaitingConnectsAtOnce) {
  Rig r;
  r.core.start(at(0));
  r.core.on_transport_failed(at(0), failure(errc::dns_failed));
  r.core.on_deadline(at(375));
  r.core.on_transport_failed(at(400), failure(errc::dns_failed));
  EXPECT_TRUE(effects_are(
      r.effects(),
      {change(State::idle, State::connecting), opening(),
       change(State::connecting, State::waiting, failure(errc::dns_failed)), scheduled(1, 375),
       change(State::waiting, State::connecting), opening(),
       change(State::connecting, State::waiting, failure(errc::dns_failed)), scheduled(2, 750)}));
  ASSERT_EQ(deadline_ms(r.core), 1150);
  ASSERT_EQ(r.core.attempt(), 2);

  r.core.reconnect_now(at(500));
  EXPECT_TRUE(effects_are(r.effects(), {change(State::waiting, State::connecting), opening()}));
  EXPECT_EQ(r.core.state(), State::connecting);
  EXPECT_EQ(r.core.attempt(), 0) << "the attempt counter resets";
  EXPECT_EQ(deadline_ms(r.core), kNoDeadline) << "the scheduled retry is gone";

  r.core.on_transport_failed(at(600), failure(errc::dns_failed));
  EXPECT_TRUE(effects_are(
      r.effects(),
      {change(State::connecting, State::waiting, failure(errc::dns_failed)), scheduled(1, 375)}));
  EXPECT_EQ(deadline_ms(r.core), 975);
}

TEST(ConnectionCoreTable, T14_RetriesUsedUpFailsWithRetriesExhausted) {
  CoreOptions o;
  o.reconnect.max_retries = 2;
  Rig r(o);
  const Cause refused = failure(errc::connect_refused, "connection refused");
  r.core.start(at(0));
  r.core.on_transport_failed(at(0), refused);
  r.core.on_deadline(at(375));
  r.core.on_transport_failed(at(375), refused);
  EXPECT_TRUE(effects_are(r.effects(),
                          {change(State::idle, State::connecting), opening(),
                           change(State::connecting, State::waiting, refused), scheduled(1, 375),
                           change(State::waiting, State::connecting), opening(),
                           change(State::connecting, State::waiting, refused), scheduled(2, 750)}));
  ASSERT_EQ(deadline_ms(r.core), 1125);
  r.core.on_deadline(at(1125));
  EXPECT_TRUE(effects_are(r.effects(), {change(State::waiting, State::connecting), opening()}));

  r.core.on_transport_failed(at(1200), refused);
  Cause want = refused;
  want.error = errc::retries_exhausted;
  want.message = "gave up after 2 retries: connection refused";
  EXPECT_TRUE(effects_are(r.effects(), {change(State::connecting, State::failed, want)}));
  EXPECT_EQ(r.core.state(), State::failed);
  EXPECT_EQ(deadline_ms(r.core), kNoDeadline);
  EXPECT_EQ(r.core.stats().attempts, 3u) << "N retries = N+1 attempts";
  EXPECT_EQ(r.random.draws(), 2u);
}

TEST(ConnectionCoreTable, T15_CloseWhileConnectingAuthenticatingOrOpenStartsClosing) {
  for (const State from : {State::connecting, State::authenticating, State::open}) {
    SCOPED_TRACE(std::string("from ") + std::string(to_string(from)));
    Rig r(with_auth(10000));
    r.core.start(at(0));
    if (from != State::connecting) r.core.on_transport_open(at(100));
    if (from == State::open) r.core.on_auth_succeeded(at(200));
    r.effects();
    ASSERT_EQ(r.core.state(), from);

    r.core.close(at(1000), 1000, "bye");
    EXPECT_TRUE(effects_are(
        r.effects(), {change(from, State::closing, by_client(1000, "bye")), closing(1000, "bye")}));
    EXPECT_EQ(r.core.state(), State::closing);
    EXPECT_EQ(deadline_ms(r.core), kNoDeadline) << "no ping, pong or auth deadline while closing";
    EXPECT_TRUE(r.core.transport_live());
    EXPECT_EQ(r.core.stats().state_since, at(1000));

    // Nothing fires while closing, and a second close is ignored.
    r.core.on_deadline(at(60000));
    r.core.close(at(60001), 4000, "again");
    r.core.on_frame(at(60002));
    EXPECT_TRUE(effects_are(r.effects(), {}));
    EXPECT_EQ(deadline_ms(r.core), kNoDeadline);
  }
}

TEST(ConnectionCoreTable, T16_CloseWhileIdleOrWaitingEndsClosed) {
  {
    SCOPED_TRACE("from idle");
    Rig r;
    r.core.close(at(5), 1000, "never mind");
    EXPECT_TRUE(effects_are(r.effects(),
                            {change(State::idle, State::closed, by_client(1000, "never mind"))}));
    EXPECT_EQ(r.core.state(), State::closed);
    EXPECT_FALSE(r.core.transport_live());
    EXPECT_EQ(deadline_ms(r.core), kNoDeadline);
    r.core.start(at(6));
    EXPECT_TRUE(effects_are(r.effects(), {})) << "closed never starts";
  }
  {
    SCOPED_TRACE("from waiting");
    Rig r;
    r.core.start(at(0));
    r.core.on_transport_failed(at(0), failure(errc::connect_refused));
    r.effects();
    ASSERT_EQ(deadline_ms(r.core), 375);
    r.core.close(at(100), 1000, "bye");
    EXPECT_TRUE(
        effects_are(r.effects(), {change(State::waiting, State::closed, by_client(1000, "bye"))}));
    EXPECT_EQ(r.core.state(), State::closed);
    EXPECT_EQ(deadline_ms(r.core), kNoDeadline) << "the scheduled retry is cancelled";
    r.core.on_deadline(at(375));
    EXPECT_TRUE(effects_are(r.effects(), {}));
  }
}

TEST(ConnectionCoreTable, T17_ClosingTransportEndedEndsClosed) {
  {
    SCOPED_TRACE("close answered");
    Rig r;
    r.open_at(0);
    r.core.close(at(100), 1000, "bye");
    r.effects();
    r.core.on_transport_closed(at(150), client_close_done(1000, "bye"));
    EXPECT_TRUE(
        effects_are(r.effects(), {change(State::closing, State::closed, by_client(1000, "bye"))}));
    EXPECT_EQ(r.core.state(), State::closed);
    EXPECT_FALSE(r.core.transport_live());
    EXPECT_EQ(deadline_ms(r.core), kNoDeadline);
    EXPECT_EQ(r.random.draws(), 0u);
  }
  {
    SCOPED_TRACE("no close code from the transport: the client's code and reason");
    Rig r;
    r.open_at(0);
    r.core.close(at(100), 4000, "done");
    r.effects();
    r.core.on_transport_closed(at(5100), Cause{});
    EXPECT_TRUE(
        effects_are(r.effects(), {change(State::closing, State::closed, by_client(4000, "done"))}));
  }
  {
    SCOPED_TRACE("the server answered with its own code: kept, still by the client");
    Rig r;
    r.open_at(0);
    r.core.close(at(100), 1000, "bye");
    r.effects();
    r.core.on_transport_closed(at(150), server_close(1001, "going away"));
    EXPECT_TRUE(effects_are(
        r.effects(), {change(State::closing, State::closed, by_client(1001, "going away"))}));
  }
  {
    SCOPED_TRACE("closed while connecting: the attempt ends");
    Rig r;
    r.core.start(at(0));
    r.core.close(at(10), 1000, "bye");
    r.effects();
    r.core.on_transport_failed(at(20), failure(errc::connect_refused, "refused"));
    Cause want = failure(errc::connect_refused, "refused");
    want.by_client = true;
    want.close_code = 1000;
    want.close_reason = "bye";
    EXPECT_TRUE(effects_are(r.effects(), {change(State::closing, State::closed, want)}));
  }
}

// min_uptime -----------------------------------------------------------------------------------

// Fails the first attempt at 0 and opens the retry at 400 (retry 1 was scheduled for 375).
void fail_then_open_retry(Rig& r) {
  r.core.start(at(0));
  r.core.on_transport_failed(at(0), failure(errc::connect_refused));
  r.core.on_deadline(at(375));
  r.core.on_transport_open(at(400));
  r.effects();
  ASSERT_EQ(r.core.attempt(), 1);
}

TEST(ConnectionCoreMinUptime, DropBeforeMinUptimeContinuesTheOutage) {
  Rig r;
  fail_then_open_retry(r);
  r.core.on_transport_closed(at(400 + 4999), lost());
  EXPECT_TRUE(
      effects_are(r.effects(), {change(State::open, State::waiting, lost()), scheduled(2, 750)}));
  EXPECT_EQ(deadline_ms(r.core), 5399 + 750);
}

TEST(ConnectionCoreMinUptime, DropAtMinUptimeStartsANewOutage) {
  Rig r;
  fail_then_open_retry(r);
  r.core.on_transport_closed(at(400 + 5000), lost());
  EXPECT_TRUE(
      effects_are(r.effects(), {change(State::open, State::waiting, lost()), scheduled(1, 375)}));
  EXPECT_EQ(deadline_ms(r.core), 5400 + 375);
}

TEST(ConnectionCoreMinUptime, AServerThatDropsAtOnceGetsGrowingDelays) {
  Rig r;
  r.core.start(at(0));
  r.core.on_transport_open(at(0));
  r.effects();
  long long now = 0;
  const long long expected[] = {375, 750, 1500, 3000, 6000, 12000, 22500, 22500};
  for (int i = 0; i < 8; ++i) {
    now += 10;
    r.core.on_transport_closed(at(now), server_close(1012, "restart"));
    const std::vector<Effect> got = r.effects();
    ASSERT_EQ(got.size(), 2u) << describe(got);
    EXPECT_TRUE(effects_are({got[1]}, {scheduled(i + 1, expected[i])}));
    now += expected[i];
    r.core.on_deadline(at(now));
    r.core.on_transport_open(at(now));
    r.effects();
  }
}

TEST(ConnectionCoreMinUptime, OnlyReadyTimeCountsWithAuth) {
  Rig r(with_auth(0));
  fail_then_open_retry(r);  // authenticating from 400
  r.core.on_auth_succeeded(at(3400));
  r.effects();
  // 5000 ms after the open but 4999 after becoming ready: the same outage.
  r.core.on_transport_closed(at(8399), lost());
  EXPECT_TRUE(
      effects_are(r.effects(), {change(State::open, State::waiting, lost()), scheduled(2, 750)}));
  r.core.on_deadline(at(8399 + 750));
  r.core.on_transport_open(at(9200));
  r.core.on_auth_succeeded(at(9300));
  r.effects();
  r.core.on_transport_closed(at(14300), lost());
  EXPECT_TRUE(
      effects_are(r.effects(), {change(State::open, State::waiting, lost()), scheduled(1, 375)}));
}

TEST(ConnectionCoreMinUptime, AuthenticatingForeverIsNotReady) {
  Rig r(with_auth(0));
  fail_then_open_retry(r);
  r.core.on_transport_closed(at(100000), lost());
  EXPECT_TRUE(effects_are(
      r.effects(), {change(State::authenticating, State::waiting, lost()), scheduled(2, 750)}));
}

TEST(ConnectionCoreMinUptime, ZeroResetsOnEveryOpen) {
  CoreOptions o;
  o.reconnect.min_uptime = milliseconds(0);
  Rig r(o);
  fail_then_open_retry(r);
  r.core.on_transport_closed(at(400), lost());
  EXPECT_TRUE(
      effects_are(r.effects(), {change(State::open, State::waiting, lost()), scheduled(1, 375)}));
}

// max_retries ----------------------------------------------------------------------------------

// Runs a core whose every attempt fails until it stops; returns the effects, in order.
std::vector<Effect> fail_every_attempt(Rig& r, int limit = 1000) {
  std::vector<Effect> all;
  long long now = 0;
  r.core.start(at(now));
  for (int i = 0; i < limit && r.core.state() == State::connecting; ++i) {
    r.core.on_transport_failed(at(now), failure(errc::connect_timeout, "timed out"));
    if (const auto d = r.core.next_deadline()) {
      now = FakeClock::ms_of(*d);
      r.core.on_deadline(at(now));
    }
    for (Effect& e : r.effects()) all.push_back(std::move(e));
  }
  return all;
}

TEST(ConnectionCoreMaxRetries, ExhaustedAfterExactlyNRetries) {
  for (int n : {0, 1, 3, 5, 9}) {
    SCOPED_TRACE("max_retries " + std::to_string(n));
    CoreOptions o;
    o.reconnect.max_retries = n;
    Rig r(o);
    const std::vector<Effect> all = fail_every_attempt(r);
    int opens = 0;
    std::vector<int> attempts;
    for (const Effect& e : all) {
      if (std::holds_alternative<effect::OpenTransport>(e)) ++opens;
      if (const auto* s = std::get_if<effect::ReconnectScheduled>(&e))
        attempts.push_back(s->attempt);
    }
    EXPECT_EQ(opens, n + 1);
    ASSERT_EQ(static_cast<int>(attempts.size()), n);
    for (int i = 0; i < n; ++i) EXPECT_EQ(attempts[static_cast<std::size_t>(i)], i + 1);
    ASSERT_FALSE(all.empty());
    const auto* last = std::get_if<effect::StateChange>(&all.back());
    ASSERT_NE(last, nullptr) << describe(all.back());
    EXPECT_EQ(last->to, State::failed);
    ASSERT_TRUE(last->cause.error.has_value());
    EXPECT_EQ(*last->cause.error, errc::retries_exhausted);
    EXPECT_EQ(last->cause.message, "gave up after " + std::to_string(n) + " retries: timed out");
    EXPECT_EQ(r.core.state(), State::failed);
  }
}

TEST(ConnectionCoreMaxRetries, MinusOneRetriesForever) {
  Rig r;
  const std::vector<Effect> all = fail_every_attempt(r, 300);
  int scheduled_count = 0;
  for (const Effect& e : all) {
    if (const auto* s = std::get_if<effect::ReconnectScheduled>(&e)) {
      ++scheduled_count;
      EXPECT_EQ(s->attempt, scheduled_count);
      if (s->attempt >= 7) {
        EXPECT_EQ(s->delay, milliseconds(22500));
      }
    }
  }
  EXPECT_EQ(scheduled_count, 300);
  EXPECT_EQ(r.core.state(), State::connecting);
}

TEST(ConnectionCoreMaxRetries, ShortLivedConnectionsUseTheSameBudget) {
  CoreOptions o;
  o.reconnect.max_retries = 2;
  Rig r(o);
  r.open_at(0);
  long long now = 0;
  for (int i = 1; i <= 2; ++i) {
    now += 1000;
    r.core.on_transport_closed(at(now), lost());
    EXPECT_TRUE(effects_are(r.effects(), {change(State::open, State::waiting, lost()),
                                          scheduled(i, i == 1 ? 375 : 750)}));
    now = *deadline_ms(r.core);
    r.core.on_deadline(at(now));
    r.core.on_transport_open(at(now));
    r.effects();
  }
  r.core.on_transport_closed(at(now + 1000), lost());
  Cause want = lost();
  want.error = errc::retries_exhausted;
  want.message = "gave up after 2 retries";
  EXPECT_TRUE(effects_are(r.effects(), {change(State::open, State::failed, want)}));
}

TEST(ConnectionCoreMaxRetries, AStableConnectionRefillsTheBudget) {
  CoreOptions o;
  o.reconnect.max_retries = 1;
  Rig r(o);
  fail_then_open_retry(r);  // retry 1 used
  r.core.on_transport_closed(at(400 + 5000), lost());
  EXPECT_TRUE(
      effects_are(r.effects(), {change(State::open, State::waiting, lost()), scheduled(1, 375)}));
}

// Reconnect disabled and the override hook -------------------------------------------------------

CoreOptions no_reconnect() {
  CoreOptions o;
  o.reconnect.enabled = false;
  return o;
}

TEST(ConnectionCoreNoReconnect, FirstFailedConnectFails) {
  Rig r(no_reconnect());
  r.core.start(at(0));
  r.effects();
  r.core.on_transport_failed(at(30), failure(errc::connect_refused, "refused"));
  EXPECT_TRUE(effects_are(r.effects(), {change(State::connecting, State::failed,
                                               failure(errc::connect_refused, "refused"))}));
  EXPECT_EQ(r.random.draws(), 0u);
}

TEST(ConnectionCoreNoReconnect, LossFailsButAStopCodeCloses) {
  {
    Rig r(no_reconnect());
    r.open_at(0);
    r.core.on_transport_closed(at(100), lost());
    EXPECT_TRUE(effects_are(r.effects(), {change(State::open, State::failed, lost())}));
  }
  {
    Rig r(no_reconnect());
    r.open_at(0);
    r.core.on_transport_closed(at(100), server_close(1001));
    EXPECT_TRUE(effects_are(r.effects(), {change(State::open, State::failed, server_close(1001))}));
  }
  {
    Rig r(no_reconnect());
    r.open_at(0);
    r.core.on_transport_closed(at(100), server_close(1000, "bye"));
    EXPECT_TRUE(
        effects_are(r.effects(), {change(State::open, State::closed, server_close(1000, "bye"))}));
  }
  {
    Rig r(no_reconnect());
    r.open_at(0);
    r.core.on_transport_closed(at(100), server_close(4001));
    EXPECT_TRUE(effects_are(r.effects(), {change(State::open, State::failed, as_auth_rejected(server_close(4001)))}));
  }
}

TEST(ConnectionCoreOverride, ShouldReconnectReplacesTheDefaultPolicy) {
  std::vector<std::uint16_t> seen;
  CoreOptions o;
  o.reconnect.should_reconnect = [&seen](const Cause& c) {
    seen.push_back(c.close_code);
    if (c.close_code == 4500) return ReconnectDecision::reconnect;  // default: stop
    if (c.close_code == 1001) return ReconnectDecision::stop;       // default: reconnect
    if (c.close_code == 1012) return ReconnectDecision::fail;       // default: reconnect
    return default_reconnect_decision(c);
  };
  {
    Rig r(o);
    r.open_at(0);
    r.core.on_transport_closed(at(10), server_close(4500));
    EXPECT_TRUE(effects_are(
        r.effects(), {change(State::open, State::waiting, server_close(4500)), scheduled(1, 375)}));
  }
  {
    Rig r(o);
    r.open_at(0);
    r.core.on_transport_closed(at(10), server_close(1001));
    EXPECT_TRUE(effects_are(r.effects(), {change(State::open, State::closed, server_close(1001))}));
  }
  {
    Rig r(o);
    r.open_at(0);
    r.core.on_transport_closed(at(10), server_close(1012));
    EXPECT_TRUE(effects_are(r.effects(), {change(State::open, State::failed, server_close(1012))}));
  }
  {
    Rig r(o);
    r.open_at(0);
    r.core.on_transport_closed(at(10), server_close(1013));
    EXPECT_TRUE(effects_are(
        r.effects(), {change(State::open, State::waiting, server_close(1013)), scheduled(1, 375)}));
  }
  EXPECT_EQ(seen, (std::vector<std::uint16_t>{4500, 1001, 1012, 1013}));
}

TEST(ConnectionCoreOverride, SeesTheCauseTheCoreReports) {
  std::vector<Cause> seen;
  CoreOptions o;
  o.reconnect.should_reconnect = [&seen](const Cause& c) {
    seen.push_back(c);
    return ReconnectDecision::reconnect;
  };
  Rig r(o);
  r.open_at(0);
  r.core.on_deadline(at(20000));
  r.core.on_deadline(at(30000));
  r.core.on_transport_closed(at(30000), lost());
  ASSERT_EQ(seen.size(), 1u);
  ASSERT_TRUE(seen[0].error.has_value());
  EXPECT_EQ(*seen[0].error, errc::heartbeat_timeout);
  EXPECT_EQ(seen[0].message, heartbeat_message(10000));
}

TEST(ConnectionCoreOverride, NotAskedWhenTheClientCloses) {
  int calls = 0;
  CoreOptions o;
  o.reconnect.should_reconnect = [&calls](const Cause&) {
    ++calls;
    return ReconnectDecision::reconnect;
  };
  Rig r(o);
  r.open_at(0);
  r.core.close(at(10), 1000, "bye");
  r.core.on_transport_closed(at(20), client_close_done(1000, "bye"));
  EXPECT_EQ(r.core.state(), State::closed);
  EXPECT_EQ(calls, 0);
}

TEST(ConnectionCoreOverride, ReconnectWithReconnectDisabledFails) {
  CoreOptions o = no_reconnect();
  o.reconnect.should_reconnect = [](const Cause&) { return ReconnectDecision::reconnect; };
  Rig r(o);
  r.open_at(0);
  r.core.on_transport_closed(at(10), server_close(1000));
  EXPECT_TRUE(effects_are(r.effects(), {change(State::open, State::failed, server_close(1000))}));
}

// reconnect_now ----------------------------------------------------------------------------------

TEST(ConnectionCoreReconnectNow, OutsideWaitingOpensNothing) {
  Rig r;
  r.core.reconnect_now(at(0));
  EXPECT_TRUE(effects_are(r.effects(), {})) << "idle";
  r.core.start(at(0));
  r.effects();
  r.core.reconnect_now(at(1));
  EXPECT_TRUE(effects_are(r.effects(), {})) << "connecting";
  r.core.on_transport_open(at(2));
  r.effects();
  r.core.reconnect_now(at(3));
  EXPECT_TRUE(effects_are(r.effects(), {})) << "open";
  EXPECT_EQ(r.core.stats().attempts, 1u);
  r.core.close(at(4), 1000, "");
  r.effects();
  r.core.reconnect_now(at(5));
  EXPECT_TRUE(effects_are(r.effects(), {})) << "closing";
}

TEST(ConnectionCoreReconnectNow, WhileConnectingResetsTheCount) {
  Rig r;
  r.core.start(at(0));
  r.core.on_transport_failed(at(0), failure(errc::connect_refused));
  r.core.on_deadline(at(375));
  r.effects();
  ASSERT_EQ(r.core.attempt(), 1);
  r.core.reconnect_now(at(380));
  EXPECT_TRUE(effects_are(r.effects(), {}));
  EXPECT_EQ(r.core.attempt(), 0);
  r.core.on_transport_failed(at(400), failure(errc::connect_refused));
  EXPECT_TRUE(effects_are(
      r.effects(), {change(State::connecting, State::waiting, failure(errc::connect_refused)),
                    scheduled(1, 375)}));
}

// Heartbeat --------------------------------------------------------------------------------------

TEST(ConnectionCoreHeartbeat, AnyFramePushesThePing) {
  Rig r;
  r.open_at(0);
  r.core.on_frame(at(15000));
  EXPECT_EQ(deadline_ms(r.core), 35000);
  r.core.on_deadline(at(20000));
  EXPECT_TRUE(effects_are(r.effects(), {})) << "the old ping time has moved";
  r.core.on_frame(at(34999));
  EXPECT_EQ(deadline_ms(r.core), 54999);
  r.core.on_deadline(at(54999));
  EXPECT_TRUE(effects_are(r.effects(), {ping()}));
}

TEST(ConnectionCoreHeartbeat, AnyFrameAnswersAnOutstandingPing) {
  Rig r;
  r.open_at(0);
  r.core.on_deadline(at(20000));
  r.effects();
  r.core.on_frame(at(25000));  // a data frame, not the pong
  EXPECT_EQ(deadline_ms(r.core), 45000);
  r.core.on_deadline(at(30000));
  EXPECT_TRUE(effects_are(r.effects(), {})) << "no heartbeat_timeout: a frame arrived";
  EXPECT_EQ(r.core.state(), State::open);
}

TEST(ConnectionCoreHeartbeat, PongGivesTheRoundTripTime) {
  Rig r;
  r.open_at(0);
  EXPECT_FALSE(r.core.stats().last_rtt.has_value());
  r.core.on_deadline(at(20000));
  r.core.on_pong(at(20042));
  EXPECT_EQ(r.core.stats().last_rtt, milliseconds(42));
  EXPECT_EQ(deadline_ms(r.core), 40042);
  r.core.on_deadline(at(40042));
  r.core.on_pong(at(40049));
  EXPECT_EQ(r.core.stats().last_rtt, milliseconds(7));
  EXPECT_TRUE(effects_are(r.effects(), {ping(), ping()}));
}

TEST(ConnectionCoreHeartbeat, UnsolicitedPongIsLivenessWithoutRtt) {
  Rig r;
  r.open_at(0);
  r.core.on_pong(at(5000));
  EXPECT_FALSE(r.core.stats().last_rtt.has_value());
  EXPECT_EQ(deadline_ms(r.core), 25000);
}

TEST(ConnectionCoreHeartbeat, TimeoutFollowsPongTimeout) {
  CoreOptions o;
  o.heartbeat.ping_interval = milliseconds(1000);
  o.heartbeat.pong_timeout = milliseconds(2500);
  Rig r(o);
  r.open_at(100);
  EXPECT_EQ(deadline_ms(r.core), 1100);
  r.core.on_deadline(at(1100));
  EXPECT_EQ(deadline_ms(r.core), 3600);
  r.core.on_deadline(at(3600));
  EXPECT_TRUE(effects_are(r.effects(),
                          {ping(), aborting(errc::heartbeat_timeout, heartbeat_message(2500))}));
}

TEST(ConnectionCoreHeartbeat, PingIntervalZeroMeansNoPingDeadlines) {
  CoreOptions o;
  o.heartbeat.ping_interval = milliseconds(0);
  Rig r(o);
  r.open_at(0);
  EXPECT_EQ(deadline_ms(r.core), kNoDeadline);
  r.core.on_frame(at(100));
  r.core.on_pong(at(200));
  EXPECT_EQ(deadline_ms(r.core), kNoDeadline);
  r.core.on_deadline(at(100000000));
  EXPECT_TRUE(effects_are(r.effects(), {}));
  EXPECT_EQ(r.core.state(), State::open);

  // With auth, only the auth deadline.
  CoreOptions a = with_auth(3000);
  a.heartbeat.ping_interval = milliseconds(0);
  Rig ra(a);
  ra.open_at(0);
  EXPECT_EQ(deadline_ms(ra.core), 3000);
  ra.core.on_auth_succeeded(at(10));
  EXPECT_EQ(deadline_ms(ra.core), kNoDeadline);
}

TEST(ConnectionCoreHeartbeat, RunsWhileAuthenticating) {
  CoreOptions o = with_auth(0);
  o.heartbeat.ping_interval = milliseconds(1000);
  o.heartbeat.pong_timeout = milliseconds(500);
  Rig r(o);
  r.open_at(0);
  EXPECT_EQ(deadline_ms(r.core), 1000);
  r.core.on_deadline(at(1000));
  r.core.on_deadline(at(1500));
  EXPECT_TRUE(effects_are(r.effects(),
                          {ping(), aborting(errc::heartbeat_timeout, heartbeat_message(500))}));
}

TEST(ConnectionCoreHeartbeat, RestartsAfterAReconnect) {
  Rig r;
  r.open_at(0);
  r.core.on_deadline(at(20000));
  r.core.on_transport_closed(at(21000), lost());
  EXPECT_EQ(deadline_ms(r.core), 21375) << "only the retry: no ping or pong deadline";
  r.core.on_deadline(at(21375));
  EXPECT_EQ(deadline_ms(r.core), kNoDeadline);
  r.core.on_transport_open(at(21400));
  EXPECT_EQ(deadline_ms(r.core), 41400);
  EXPECT_FALSE(r.core.stats().last_rtt.has_value());
  r.core.on_pong(at(21500));
  EXPECT_FALSE(r.core.stats().last_rtt.has_value()) << "the old ping died with its connection";
}

TEST(ConnectionCoreHeartbeat, TimeoutCauseDoesNotLeakIntoTheNextConnection) {
  Rig r;
  r.open_at(0);
  r.core.on_deadline(at(20000));
  r.core.on_deadline(at(30000));
  r.core.on_transport_closed(at(30000), lost());
  r.core.on_deadline(at(30375));
  r.core.on_transport_open(at(30400));
  r.effects();
  r.core.on_transport_closed(at(31000), server_close(1000, "bye"));
  EXPECT_TRUE(
      effects_are(r.effects(), {change(State::open, State::closed, server_close(1000, "bye"))}));
}

TEST(ConnectionCoreHeartbeat, FramesOutsideAConnectionAreIgnored) {
  Rig r;
  r.core.on_frame(at(0));
  r.core.start(at(0));
  r.core.on_frame(at(10));
  EXPECT_EQ(deadline_ms(r.core), kNoDeadline) << "connecting: no ping";
  r.core.on_transport_failed(at(20), failure(errc::connect_refused));
  r.core.on_frame(at(30));
  EXPECT_EQ(deadline_ms(r.core), 395) << "waiting: only the retry";
}

// Auth timeout -----------------------------------------------------------------------------------

TEST(ConnectionCoreAuth, ZeroAuthTimeoutMeansNoLimit) {
  Rig r(with_auth(0));
  r.open_at(0);
  EXPECT_EQ(deadline_ms(r.core), 20000) << "only the ping";
  r.core.on_frame(at(19000));
  r.core.on_deadline(at(39000));
  r.core.on_frame(at(39001));
  EXPECT_TRUE(effects_are(r.effects(), {ping()}));
  EXPECT_EQ(r.core.state(), State::authenticating);
}

TEST(ConnectionCoreAuth, TimeoutThenRetryAuthenticatesAgain) {
  Rig r(with_auth(3000));
  r.open_at(0);
  r.core.on_deadline(at(3000));
  r.core.on_transport_closed(at(3010), client_close_done(1000, "auth timeout"));
  r.core.on_deadline(at(3385));
  r.core.on_transport_open(at(3400));
  EXPECT_EQ(deadline_ms(r.core), 6400) << "a fresh auth deadline for the new connection";
  r.core.on_auth_succeeded(at(3500));
  Cause timed_out;
  timed_out.error = errc::auth_timeout;
  timed_out.message = "no auth response within 3000 ms";
  timed_out.close_code = 1000;
  timed_out.close_reason = "auth timeout";
  EXPECT_TRUE(effects_are(
      r.effects(),
      {closing(1000, "auth timeout"), change(State::authenticating, State::waiting, timed_out),
       scheduled(1, 375), change(State::waiting, State::connecting), opening(),
       change(State::connecting, State::authenticating),
       change(State::authenticating, State::open)}));
  EXPECT_EQ(deadline_ms(r.core), 23400);
}

TEST(ConnectionCoreAuth, TimeoutCauseDoesNotLeakIntoTheNextConnection) {
  Rig r(with_auth(3000));
  r.open_at(0);
  r.core.on_deadline(at(3000));
  r.core.on_transport_closed(at(3010), client_close_done(1000, "auth timeout"));
  r.core.on_deadline(at(3385));
  r.core.on_transport_open(at(3400));
  r.core.on_auth_succeeded(at(3500));
  r.effects();
  r.core.on_transport_closed(at(4000), server_close(4500, "maintenance"));
  EXPECT_TRUE(effects_are(r.effects(),
                          {change(State::open, State::closed, server_close(4500, "maintenance"))}));
}

TEST(ConnectionCoreAuth, AuthSucceededCancelsTheTimeout) {
  Rig r(with_auth(3000));
  r.open_at(0);
  r.core.on_auth_succeeded(at(2999));
  r.core.on_deadline(at(3000));
  EXPECT_TRUE(effects_are(r.effects(), {change(State::authenticating, State::open)}));
}

TEST(ConnectionCoreAuth, RejectedStaysRejectedWhenAHeartbeatExpiresDuringTheClose) {
  // Contract: auth_rejected gives up at once (exit 2), and the client closes with 1000
  // "auth rejected". A server slow to answer that close must not turn it into a reconnect.
  CoreOptions o = with_auth(10000);
  o.heartbeat.ping_interval = milliseconds(1000);
  o.heartbeat.pong_timeout = milliseconds(500);
  Rig r(o);
  r.open_at(0);
  r.core.on_frame(at(200));  // the auth response
  r.core.on_auth_rejected(at(200), "invalid token");
  r.effects();
  for (long long t = 200; t <= 4000; t += 50) {
    if (const auto d = r.core.next_deadline(); d && *d <= at(t)) r.core.on_deadline(at(t));
  }
  const std::vector<Effect> during_close = r.effects();
  r.core.on_transport_closed(at(4000), client_close_done(1000, "auth rejected"));
  EXPECT_EQ(r.core.state(), State::failed)
      << "CONTRACT (Reconnect policy, give up at once: auth_rejected): after on_auth_rejected the "
         "heartbeat kept running during the closing handshake ("
      << describe(during_close) << ") and its heartbeat_timeout replaced auth_rejected; the "
      << "core ended in " << to_string(r.core.state()) << " instead of failed";
}

// Retry-After ------------------------------------------------------------------------------------

TEST(ConnectionCoreRetryAfter, RaisesTheDelay) {
  Rig r;
  r.core.start(at(0));
  r.effects();
  const Cause busy = rejected(503, milliseconds(10000));
  r.core.on_transport_failed(at(100), busy);
  EXPECT_TRUE(effects_are(r.effects(),
                          {change(State::connecting, State::waiting, busy), scheduled(1, 10000)}));
  EXPECT_EQ(deadline_ms(r.core), 10100);
}

TEST(ConnectionCoreRetryAfter, CappedAtFiveMinutes) {
  Rig r;
  r.core.start(at(0));
  r.effects();
  const Cause busy = rejected(429, milliseconds(3600000));
  r.core.on_transport_failed(at(0), busy);
  EXPECT_TRUE(effects_are(r.effects(),
                          {change(State::connecting, State::waiting, busy), scheduled(1, 300000)}));
  EXPECT_EQ(deadline_ms(r.core), 300000);
}

TEST(ConnectionCoreRetryAfter, NeverLowersTheBackoff) {
  Rig r;
  r.core.start(at(0));
  r.effects();
  const Cause busy = rejected(408, milliseconds(100));
  r.core.on_transport_failed(at(0), busy);
  EXPECT_TRUE(effects_are(r.effects(),
                          {change(State::connecting, State::waiting, busy), scheduled(1, 375)}));
}

TEST(ConnectionCoreRetryAfter, CountsAsARetry) {
  CoreOptions o;
  o.reconnect.max_retries = 1;
  Rig r(o);
  r.core.start(at(0));
  r.core.on_transport_failed(at(0), rejected(503, milliseconds(2000)));
  r.core.on_deadline(at(2000));
  r.core.on_transport_failed(at(2000), rejected(503, milliseconds(2000)));
  EXPECT_EQ(r.core.state(), State::failed);
}

// Close from every state, and terminal states
// ------------------------------------------------------

TEST(ConnectionCoreClose, FromEveryState) {
  struct Row {
    State from;
    std::vector<Effect> want;
    State to;
  };
  const Cause c = by_client(1000, "bye");
  const Row rows[] = {
      {State::idle, {change(State::idle, State::closed, c)}, State::closed},
      {State::connecting,
       {change(State::connecting, State::closing, c), closing(1000, "bye")},
       State::closing},
      {State::authenticating,
       {change(State::authenticating, State::closing, c), closing(1000, "bye")},
       State::closing},
      {State::open, {change(State::open, State::closing, c), closing(1000, "bye")}, State::closing},
      {State::waiting, {change(State::waiting, State::closed, c)}, State::closed},
      {State::closing, {}, State::closing},
      {State::closed, {}, State::closed},
      {State::failed, {}, State::failed},
  };
  for (const Row& row : rows) {
    SCOPED_TRACE(std::string("from ") + std::string(to_string(row.from)));
    Rig r(with_auth(10000));
    switch (row.from) {
      case State::idle:
        break;
      case State::connecting:
        r.core.start(at(0));
        break;
      case State::authenticating:
        r.open_at(0);
        break;
      case State::open:
        r.open_at(0);
        r.core.on_auth_succeeded(at(0));
        break;
      case State::waiting:
        r.core.start(at(0));
        r.core.on_transport_failed(at(0), failure(errc::connect_refused));
        break;
      case State::closing:
        r.open_at(0);
        r.core.close(at(0), 4000, "first");
        break;
      case State::closed:
        r.open_at(0);
        r.core.on_transport_closed(at(0), server_close(1000));
        break;
      case State::failed:
        r.core.start(at(0));
        r.core.on_transport_failed(at(0), failure(errc::tls_verify_failed));
        break;
    }
    r.effects();
    ASSERT_EQ(r.core.state(), row.from);
    r.core.close(at(1000), 1000, "bye");
    EXPECT_TRUE(effects_are(r.effects(), row.want));
    EXPECT_EQ(r.core.state(), row.to);
    if (row.to == State::closed) {
      EXPECT_EQ(deadline_ms(r.core), kNoDeadline);
    }
  }
}

// Applies every input at `t`; returns what came out.
std::vector<Effect> poke_everything(ConnectionCore& core, long long t) {
  core.start(at(t));
  core.on_transport_open(at(t));
  core.on_transport_failed(at(t), failure(errc::connect_refused));
  core.on_transport_closed(at(t), lost());
  core.on_frame(at(t));
  core.on_pong(at(t));
  core.on_auth_succeeded(at(t));
  core.on_auth_rejected(at(t), "no");
  core.close(at(t), 1000, "bye");
  core.reconnect_now(at(t));
  core.on_deadline(at(t));
  return core.take_effects();
}

TEST(ConnectionCoreTerminal, ClosedAndFailedIgnoreEveryInput) {
  struct Way {
    const char* name;
    int max_retries;
    std::function<void(Rig&)> reach;
    State state;
  };
  const Way ways[] = {
      {"T8 server stop", -1,
       [](Rig& r) {
         r.open_at(0);
         r.core.on_transport_closed(at(10), server_close(1000));
       },
       State::closed},
      {"T9 policy fail", -1,
       [](Rig& r) {
         r.core.start(at(0));
         r.core.on_transport_failed(at(10), failure(errc::tls_verify_failed));
       },
       State::failed},
      {"T14 retries exhausted", 0,
       [](Rig& r) {
         r.core.start(at(0));
         r.core.on_transport_failed(at(10), failure(errc::connect_refused));
       },
       State::failed},
      {"T16 close while idle", -1, [](Rig& r) { r.core.close(at(10), 1000, ""); }, State::closed},
      {"T16 close while waiting", -1,
       [](Rig& r) {
         r.core.start(at(0));
         r.core.on_transport_failed(at(5), lost());
         r.core.close(at(10), 1000, "");
       },
       State::closed},
      {"T17 closing ended", -1,
       [](Rig& r) {
         r.open_at(0);
         r.core.close(at(5), 1000, "");
         r.core.on_transport_closed(at(10), client_close_done(1000));
       },
       State::closed},
  };
  for (const Way& way : ways) {
    SCOPED_TRACE(way.name);
    CoreOptions o;
    o.reconnect.max_retries = way.max_retries;
    Rig r(o);
    way.reach(r);
    r.effects();
    ASSERT_EQ(r.core.state(), way.state);
    for (long long t : {10, 11, 1000, 100000, 10000000}) {
      EXPECT_TRUE(effects_are(poke_everything(r.core, t), {})) << "at " << t;
      EXPECT_EQ(r.core.state(), way.state);
      EXPECT_EQ(deadline_ms(r.core), kNoDeadline);
      EXPECT_FALSE(r.core.transport_live());
    }
  }
}

// Invariants over long random input sequences
// ---------------------------------------------------------

class MtRandom final : public Random {
 public:
  explicit MtRandom(std::mt19937& rng) : rng_(rng) {}
  double uniform() override { return std::uniform_real_distribution<double>(0.0, 1.0)(rng_); }

 private:
  std::mt19937& rng_;
};

template <typename T>
T pick(std::mt19937& rng, const std::vector<T>& from) {
  return from[std::uniform_int_distribution<std::size_t>(0, from.size() - 1)(rng)];
}

bool chance(std::mt19937& rng, double p) {
  return std::uniform_real_distribution<double>(0.0, 1.0)(rng) < p;
}

CoreOptions random_options(std::mt19937& rng) {
  CoreOptions o;
  o.auth = chance(rng, 0.5);
  o.auth_timeout = milliseconds(pick<long long>(rng, {0, 400, 3000}));
  o.heartbeat.ping_interval = milliseconds(pick<long long>(rng, {0, 700, 5000, 20000}));
  o.heartbeat.pong_timeout = milliseconds(pick<long long>(rng, {1, 300, 2000, 10000}));
  o.reconnect.enabled = chance(rng, 0.85);
  o.reconnect.max_retries = pick<int>(rng, {-1, -1, 0, 2, 5});
  o.reconnect.initial = milliseconds(pick<long long>(rng, {0, 100, 500}));
  o.reconnect.max = milliseconds(pick<long long>(rng, {1000, 30000}));
  o.reconnect.multiplier = pick<double>(rng, {1.0, 2.0, 3.5});
  o.reconnect.jitter = pick<double>(rng, {0.0, 0.5, 1.0});
  o.reconnect.min_uptime = milliseconds(pick<long long>(rng, {0, 1000, 5000}));
  if (chance(rng, 0.2)) {
    o.reconnect.should_reconnect = [](const Cause&) { return ReconnectDecision::reconnect; };
  }
  return o;
}

Cause random_end(std::mt19937& rng) {
  switch (std::uniform_int_distribution<int>(0, 7)(rng)) {
    case 0:
      return failure(errc::connect_refused, "refused");
    case 1:
      return failure(errc::tls_verify_failed, "expired");
    case 2:
      return rejected(pick<int>(rng, {200, 302, 401, 404, 408, 429, 500, 503}),
                      chance(rng, 0.5) ? std::optional<milliseconds>(
                                             milliseconds(pick<long long>(rng, {0, 1500, 900000})))
                                       : std::nullopt);
    case 3:
      return lost();
    case 4:
      return server_close(
          pick<std::uint16_t>(rng, {1000, 1001, 1008, 1011, 3000, 3600, 4000, 4001, 4003, 4500}));
    case 5:
      return client_close_done(1000);
    case 6:
      return Cause{};
    default:
      return failure(errc::heartbeat_timeout, "x");
  }
}

bool is_terminal(State s) {
  return s == State::closed || s == State::failed;
}

// What the random driver knows about the transport the core asked for.
struct FakeTransport {
  bool live = false;           // between OpenTransport and the end we reported
  bool opened = false;         // we reported on_transport_open
  bool end_requested = false;  // the core sent CloseTransport or AbortTransport
};

class InvariantRun {
 public:
  explicit InvariantRun(unsigned seed) : seed_(seed), rng_(seed), random_(rng_) {}

  void run(int total_steps) {
    while (steps_ < total_steps && !::testing::Test::HasFatalFailure()) run_one_core(total_steps);
  }

  std::set<std::pair<State, State>> transitions;
  std::set<std::size_t> effect_kinds;
  int cores = 0;

 private:
  std::string where() const {
    std::ostringstream out;
    out << "seed " << seed_ << ", core " << cores << ", step " << steps_ << ", now " << now_
        << " ms";
    return out.str();
  }

  void run_one_core(int total_steps) {
    ++cores;
    options_ = random_options(rng_);
    ConnectionCore core(options_, random_);
    transport_ = FakeTransport{};
    int after_terminal = 0;
    while (steps_ < total_steps && after_terminal < 20) {
      ++steps_;
      step(core);
      if (::testing::Test::HasFatalFailure()) return;
      if (is_terminal(core.state())) ++after_terminal;
      // Keep the cores that never end (retry forever, never closed) from taking every step.
      if (!is_terminal(core.state()) && chance(rng_, 0.002)) {
        apply(core, [&] { core.close(at(now_), 1000, "enough"); });
      }
    }
  }

  void step(ConnectionCore& core) {
    // Time moves on; due deadlines are processed on the way, on time or late.
    const int kind = std::uniform_int_distribution<int>(0, 9)(rng_);
    long long target = now_;
    if (kind < 3) {
      target += std::uniform_int_distribution<long long>(0, 50)(rng_);
    } else if (kind < 7) {
      target += std::uniform_int_distribution<long long>(51, 4000)(rng_);
    } else if (const auto d = deadline_ms(core)) {
      target = std::max(target, *d);
    }
    const bool late = chance(rng_, 0.3);
    for (int guard = 0;; ++guard) {
      ASSERT_LT(guard, 10) << where() << ": deadlines keep coming due";
      const auto d = deadline_ms(core);
      if (!d || *d > target) break;
      now_ = late ? target : std::max(now_, *d);
      apply(core, [&] { core.on_deadline(at(now_)); });
      const auto after = deadline_ms(core);
      ASSERT_TRUE(!after || *after > now_)
          << where() << ": next_deadline " << *after << " is not after the deadline just processed";
    }
    now_ = target;

    const auto end = [&](bool opened) {
      const Cause cause = random_end(rng_);
      apply(
          core,
          [&] {
            if (opened) {
              core.on_transport_closed(at(now_), cause);
            } else {
              core.on_transport_failed(at(now_), cause);
            }
          },
          [&] { transport_ = FakeTransport{}; });
    };

    const int input = std::uniform_int_distribution<int>(0, 15)(rng_);
    switch (input) {
      case 0:
        apply(core, [&] { core.start(at(now_)); });
        break;
      case 1:
      case 2:
        apply(
            core, [&] { core.on_transport_open(at(now_)); },
            [&] { transport_.opened = transport_.live; });
        break;
      case 3:
      case 4:
        end(transport_.opened);
        break;
      case 5:
        end(!transport_.opened);
        break;  // the other report, as a confused transport would
      case 6:
      case 7:
        apply(core, [&] { core.on_frame(at(now_)); });
        break;
      case 8:
        apply(core, [&] { core.on_pong(at(now_)); });
        break;
      case 9:
      case 10:
        apply(core, [&] { core.on_auth_succeeded(at(now_)); });
        break;
      case 11:
        apply(core, [&] { core.on_auth_rejected(at(now_), "denied"); });
        break;
      case 12:
        if (chance(rng_, 0.3)) apply(core, [&] { core.close(at(now_), 1000, "bye"); });
        break;
      case 13:
        apply(core, [&] { core.reconnect_now(at(now_)); });
        break;
      default:
        // A transport asked to end ends soon.
        if (transport_.end_requested) end(transport_.opened);
        break;
    }
  }

  template <typename Input>
  void apply(ConnectionCore& core, Input input) {
    apply(core, input, [] {});
  }

  // `input`, then `observe` (the fake transport learns what it reported), then the checks.
  template <typename Input, typename Observe>
  void apply(ConnectionCore& core, Input input, Observe observe) {
    const State before = core.state();
    const bool live_before = core.transport_live();
    input();
    observe();
    const std::vector<Effect> effects = core.take_effects();
    check(core, before, live_before, effects);
  }

  void check(const ConnectionCore& core, State before, bool live_before,
             const std::vector<Effect>& effects) {
    const std::string at_step = where() + ", effects " + describe(effects);
    if (is_terminal(before)) {
      ASSERT_TRUE(effects.empty()) << at_step << ": " << to_string(before) << " is terminal";
      ASSERT_EQ(core.state(), before) << at_step;
    }
    State current = before;
    for (std::size_t i = 0; i < effects.size(); ++i) {
      const Effect& e = effects[i];
      effect_kinds.insert(e.index());
      if (const auto* sc = std::get_if<effect::StateChange>(&e)) {
        ASSERT_EQ(sc->from, current) << at_step << ": state changes must chain";
        ASSERT_NE(sc->to, sc->from) << at_step;
        transitions.insert({sc->from, sc->to});
        current = sc->to;
      } else if (std::holds_alternative<effect::OpenTransport>(e)) {
        ASSERT_FALSE(transport_.live) << at_step << ": two transports at once";
        ASSERT_FALSE(live_before) << at_step << ": two transports at once";
        ASSERT_EQ(current, State::connecting) << at_step;
        transport_ = FakeTransport{};
        transport_.live = true;
      } else if (std::holds_alternative<effect::CloseTransport>(e) ||
                 std::holds_alternative<effect::AbortTransport>(e)) {
        ASSERT_TRUE(transport_.live) << at_step << ": ends a transport that is not there";
        transport_.end_requested = true;
      } else if (std::holds_alternative<effect::SendPing>(e)) {
        ASSERT_TRUE(transport_.live && transport_.opened)
            << at_step << ": ping without a connection";
      } else if (const auto* s = std::get_if<effect::ReconnectScheduled>(&e)) {
        ASSERT_GT(i, 0u) << at_step;
        const auto* prev = std::get_if<effect::StateChange>(&effects[i - 1]);
        ASSERT_TRUE(prev && prev->to == State::waiting)
            << at_step << ": ReconnectScheduled must follow the change to waiting";
        ASSERT_GE(s->attempt, 1) << at_step;
        if (options_.reconnect.max_retries >= 0) {
          ASSERT_LE(s->attempt, options_.reconnect.max_retries) << at_step;
        }
        ASSERT_GE(s->delay.count(), 0) << at_step;
        ASSERT_LE(s->delay, std::max(options_.reconnect.max, milliseconds(300000))) << at_step;
      }
    }
    ASSERT_EQ(core.state(), current) << at_step << ": state() must match the last change";
    ASSERT_EQ(core.transport_live(), transport_.live)
        << at_step << ": transport_live() and the transport the core asked for disagree";
    const auto d = deadline_ms(core);
    ASSERT_TRUE(!d || *d >= now_) << at_step << ": next_deadline " << *d << " is in the past";
    if (core.state() == State::waiting) {
      ASSERT_TRUE(d.has_value()) << at_step << ": waiting for ever";
    }
    if (is_terminal(core.state())) {
      ASSERT_FALSE(d.has_value()) << at_step << ": deadline in a terminal state";
      ASSERT_FALSE(core.transport_live()) << at_step;
    }
  }

  unsigned seed_;
  std::mt19937 rng_;
  MtRandom random_;
  CoreOptions options_;
  FakeTransport transport_;
  long long now_ = 0;
  int steps_ = 0;
};

TEST(ConnectionCoreInvariants, LongRandomInputSequences) {
  for (unsigned seed : {1u, 42u, 20240601u}) {
    InvariantRun run(seed);
    run.run(10000);
    if (HasFatalFailure()) return;
    // The sequences reach every transition of the table.
    const std::pair<State, State> expected[] = {
        {State::idle, State::connecting},
        {State::connecting, State::open},
        {State::connecting, State::authenticating},
        {State::authenticating, State::open},
        {State::connecting, State::waiting},
        {State::open, State::waiting},
        {State::authenticating, State::waiting},
        {State::open, State::closed},
        {State::connecting, State::failed},
        {State::open, State::failed},
        {State::waiting, State::connecting},
        {State::open, State::closing},
        {State::connecting, State::closing},
        {State::closing, State::closed},
        {State::waiting, State::closed},
        {State::idle, State::closed},
    };
    for (const auto& t : expected) {
      EXPECT_TRUE(run.transitions.count(t)) << "seed " << seed << ": never saw "
                                            << to_string(t.first) << " -> " << to_string(t.second);
    }
    EXPECT_EQ(run.effect_kinds.size(), std::variant_size_v<Effect>)
        << "seed " << seed << ": some effect kinds never happened";
    EXPECT_GT(run.cores, 20) << "seed " << seed;
  }
}

}  // namespace
}  // namespace tether::core
