#include "protocol/close_handshake.hpp"

#include <gtest/gtest.h>

#include <optional>

namespace tether::protocol {
namespace {

using Phase = CloseHandshake::Phase;

TEST(CloseHandshake, StartsOpen) {
  CloseHandshake close;
  EXPECT_EQ(close.phase(), Phase::open);
  EXPECT_FALSE(close.sent());
  EXPECT_FALSE(close.received());
  EXPECT_FALSE(close.initiated_locally());
  EXPECT_FALSE(close.clean());
  EXPECT_FALSE(close.transport_closed());
  EXPECT_EQ(close.reported_code(), 1006);
  EXPECT_EQ(close.reported_reason(), "");
}

TEST(CloseHandshake, LocalFirstCleanClose) {
  CloseHandshake close;
  EXPECT_TRUE(close.start_local(1000, "bye"));
  EXPECT_EQ(close.phase(), Phase::closing_local);
  EXPECT_TRUE(close.sent());
  EXPECT_TRUE(close.initiated_locally());
  EXPECT_FALSE(close.clean());
  // A second close does not send another frame nor change what was sent.
  EXPECT_FALSE(close.start_local(1001, "again"));
  EXPECT_EQ(close.local_code(), 1000);
  EXPECT_EQ(close.local_reason(), "bye");

  EXPECT_EQ(close.on_remote(1000, ""), std::nullopt);
  EXPECT_EQ(close.phase(), Phase::closed);
  EXPECT_TRUE(close.clean());
  EXPECT_TRUE(close.initiated_locally());
  close.on_transport_closed();
  EXPECT_TRUE(close.transport_closed());
  EXPECT_EQ(close.phase(), Phase::closed);
  EXPECT_EQ(close.reported_code(), 1000);
  EXPECT_EQ(close.reported_reason(), "bye");
  EXPECT_EQ(close.remote_code(), 1000);
}

TEST(CloseHandshake, LocalFirstReportsOurCodeEvenIfTheEchoDiffers) {
  CloseHandshake close;
  ASSERT_TRUE(close.start_local(1000, "done"));
  EXPECT_EQ(close.on_remote(4001, "unauthorized"), std::nullopt);
  EXPECT_TRUE(close.clean());
  EXPECT_EQ(close.reported_code(), 1000);
  EXPECT_EQ(close.reported_reason(), "done");
  // The peer's answer stays available.
  EXPECT_EQ(close.remote_code(), 4001);
  EXPECT_EQ(close.remote_reason(), "unauthorized");
}

TEST(CloseHandshake, RemoteFirstCleanClose) {
  CloseHandshake close;
  const auto echo = close.on_remote(1001, "going away");
  ASSERT_EQ(echo, std::optional<std::uint16_t>(1001));
  EXPECT_EQ(close.phase(), Phase::closing_remote);
  EXPECT_TRUE(close.received());
  EXPECT_FALSE(close.sent());
  EXPECT_FALSE(close.clean());

  // The caller sent the echo and records it.
  EXPECT_TRUE(close.start_local(*echo, ""));
  EXPECT_EQ(close.phase(), Phase::closed);
  EXPECT_TRUE(close.clean());
  EXPECT_FALSE(close.initiated_locally());
  EXPECT_FALSE(close.start_local(1000, "late"));
  EXPECT_EQ(close.local_code(), 1001);
  close.on_transport_closed();
  EXPECT_EQ(close.reported_code(), 1001);
  EXPECT_EQ(close.reported_reason(), "going away");
}

TEST(CloseHandshake, RemoteEmptyCloseIs1005) {
  CloseHandshake close;
  EXPECT_EQ(close.on_remote(1005, ""), std::optional<std::uint16_t>(1005));
  EXPECT_TRUE(close.start_local(1005, ""));
  close.on_transport_closed();
  EXPECT_TRUE(close.clean());
  EXPECT_EQ(close.reported_code(), 1005);
  EXPECT_EQ(close.reported_reason(), "");
}

TEST(CloseHandshake, ServiceRestartCodeIsPreserved) {
  CloseHandshake close;
  EXPECT_EQ(close.on_remote(1012, "restarting"), std::optional<std::uint16_t>(1012));
  EXPECT_TRUE(close.start_local(1012, ""));
  close.on_transport_closed();
  EXPECT_EQ(close.reported_code(), 1012);
  EXPECT_EQ(close.reported_reason(), "restarting");
}

TEST(CloseHandshake, ApplicationCloseWhileTheEchoIsOwedCountsAsTheEcho) {
  CloseHandshake close;
  ASSERT_TRUE(close.on_remote(1001, "bye").has_value());
  EXPECT_TRUE(close.start_local(1000, "app"));
  EXPECT_TRUE(close.clean());
  EXPECT_FALSE(close.initiated_locally());
  EXPECT_EQ(close.reported_code(), 1001);
  EXPECT_EQ(close.reported_reason(), "bye");
}

TEST(CloseHandshake, TransportClosedWithoutCloseFramesIs1006) {
  CloseHandshake close;
  close.on_transport_closed();
  EXPECT_EQ(close.phase(), Phase::open);
  EXPECT_FALSE(close.clean());
  EXPECT_EQ(close.reported_code(), 1006);
  EXPECT_EQ(close.reported_reason(), "");
  // Nothing can be sent on a closed transport.
  EXPECT_FALSE(close.start_local(1000, "too late"));
  EXPECT_FALSE(close.sent());
  EXPECT_EQ(close.reported_code(), 1006);
}

TEST(CloseHandshake, TransportDiedBeforeTheEchoReportsOurCode) {
  CloseHandshake close;
  ASSERT_TRUE(close.start_local(1000, "shutting down"));
  close.on_transport_closed();
  EXPECT_EQ(close.phase(), Phase::closing_local);
  EXPECT_FALSE(close.clean());
  EXPECT_TRUE(close.initiated_locally());
  EXPECT_EQ(close.reported_code(), 1000);
  EXPECT_EQ(close.reported_reason(), "shutting down");
}

TEST(CloseHandshake, TransportDiedBeforeOurEchoReportsTheirCode) {
  CloseHandshake close;
  ASSERT_TRUE(close.on_remote(1011, "internal error").has_value());
  close.on_transport_closed();
  EXPECT_EQ(close.phase(), Phase::closing_remote);
  EXPECT_FALSE(close.clean());
  EXPECT_FALSE(close.start_local(1011, ""));
  EXPECT_EQ(close.reported_code(), 1011);
  EXPECT_EQ(close.reported_reason(), "internal error");
}

TEST(CloseHandshake, SecondRemoteCloseIsIgnored) {
  CloseHandshake close;
  ASSERT_TRUE(close.on_remote(1000, "first").has_value());
  EXPECT_EQ(close.on_remote(1002, "second"), std::nullopt);
  EXPECT_EQ(close.remote_code(), 1000);
  EXPECT_EQ(close.remote_reason(), "first");
  EXPECT_EQ(close.phase(), Phase::closing_remote);
}

TEST(CloseHandshake, RemoteCloseAfterTransportClosedOwesNothing) {
  CloseHandshake close;
  close.on_transport_closed();
  EXPECT_EQ(close.on_remote(1000, "late"), std::nullopt);
  EXPECT_TRUE(close.received());
  EXPECT_EQ(close.reported_code(), 1000);
}

}  // namespace
}  // namespace tether::protocol
