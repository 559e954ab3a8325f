// The outbound queue, driven with a fake `now`: delivery order across connection losses, each
// overflow policy by count and by bytes, TTL expiry, drop_all, the events and their depths, and a
// long seeded random sequence checked step by step against a reference model.

#include "core/outbound_queue.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <new>
#include <optional>
#include <ostream>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "tether/error.hpp"
#include "tether/events.hpp"

// Counts heap allocations, for the steady-state test. Every non-aligned form is replaced, so that
// memory is always released by the same allocator that handed it out (sanitizers check this).
namespace {
std::atomic<std::size_t> g_allocations{0};

// Out of line, so that the compiler does not pair a `new` it sees with a `free` it sees.
[[gnu::noinline]] void* counted_alloc(std::size_t size) noexcept {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  return std::malloc(size == 0 ? 1 : size);
}
[[gnu::noinline]] void counted_free(void* p) noexcept {
  std::free(p);
}
}  // namespace

void* operator new(std::size_t size) {
  if (void* p = counted_alloc(size)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t size) {
  if (void* p = counted_alloc(size)) return p;
  throw std::bad_alloc();
}
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
  return counted_alloc(size);
}
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept {
  return counted_alloc(size);
}
void operator delete(void* p) noexcept {
  counted_free(p);
}
void operator delete[](void* p) noexcept {
  counted_free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  counted_free(p);
}
void operator delete[](void* p, std::size_t) noexcept {
  counted_free(p);
}
void operator delete(void* p, const std::nothrow_t&) noexcept {
  counted_free(p);
}
void operator delete[](void* p, const std::nothrow_t&) noexcept {
  counted_free(p);
}

namespace tether::core {

using Event = OutboundQueue::Event;

bool operator==(const Event& a, const Event& b) {
  return a.kind == b.kind && a.id == b.id && a.bytes == b.bytes && a.depth_after == b.depth_after &&
         (a.kind != Event::dropped || a.reason == b.reason);
}

void PrintTo(DropReason reason, std::ostream* out) {
  *out << to_string(reason);
}

void PrintTo(const Event& e, std::ostream* out) {
  switch (e.kind) {
    case Event::queued:
      *out << "queued(";
      break;
    case Event::sent:
      *out << "sent(";
      break;
    case Event::dropped:
      *out << "dropped:" << to_string(e.reason) << "(";
      break;
  }
  *out << "id " << e.id << ", " << e.bytes << " B, depth " << e.depth_after << ")";
}

void PrintTo(PushOutcome outcome, std::ostream* out) {
  switch (outcome) {
    case PushOutcome::waiting:
      *out << "waiting";
      return;
    case PushOutcome::dropped:
      *out << "dropped";
      return;
    case PushOutcome::rejected:
      *out << "rejected";
      return;
    case PushOutcome::in_flight:
      *out << "in_flight";
      return;
  }
}

namespace {

using std::chrono::milliseconds;

TimePoint at(long long ms) {
  return TimePoint{} + milliseconds(ms);
}

std::string payload_for(MessageId id, std::size_t size) {
  return std::string(size, static_cast<char>('a' + id % 26));
}

Outgoing msg(MessageId id, std::size_t size = 1, std::optional<long long> expires_ms = {}) {
  Outgoing m;
  m.id = id;
  m.binary = id % 3 == 0;
  m.payload = payload_for(id, size);
  if (expires_ms) m.expires_at = at(*expires_ms);
  return m;
}

Event queued(MessageId id, std::size_t bytes, std::size_t depth) {
  return Event{Event::queued, id, bytes, DropReason{}, depth};
}
Event sent(MessageId id, std::size_t bytes, std::size_t depth) {
  return Event{Event::sent, id, bytes, DropReason{}, depth};
}
Event dropped(MessageId id, std::size_t bytes, DropReason reason, std::size_t depth) {
  return Event{Event::dropped, id, bytes, reason, depth};
}

std::vector<MessageId> ids(const std::vector<const Outgoing*>& taken) {
  std::vector<MessageId> out;
  for (const Outgoing* m : taken) out.push_back(m->id);
  return out;
}

constexpr std::size_t kUnlimited = std::size_t{1} << 40;

void expect_invariants(const OutboundQueue& q) {
  EXPECT_EQ(q.accepted(), q.sent() + q.dropped() + q.queued());
  EXPECT_EQ(q.queued(), q.waiting() + q.in_flight());
  EXPECT_LE(q.queued(), q.limits().max_messages);
  EXPECT_LE(q.bytes(), q.limits().max_bytes);
}

QueueLimits limits(std::size_t max_messages, std::size_t max_bytes, OverflowPolicy policy) {
  QueueLimits l;
  l.max_messages = max_messages;
  l.max_bytes = max_bytes;
  l.overflow = policy;
  return l;
}

// Basics ---------------------------------------------------------------------------------------

TEST(OutboundQueue, DefaultsMatchTheContract) {
  const QueueLimits l;
  EXPECT_EQ(l.max_messages, 10000u);
  EXPECT_EQ(l.max_bytes, 16u * 1024 * 1024);
  EXPECT_EQ(l.overflow, OverflowPolicy::reject);
  EXPECT_EQ(to_string(DropReason::overflow), "overflow");
  EXPECT_EQ(to_string(DropReason::ttl), "ttl");
  EXPECT_EQ(to_string(DropReason::closed), "closed");
}

TEST(OutboundQueue, ReadyPushGoesOutWithoutQueuedEvent) {
  OutboundQueue q;
  const PushResult r = q.push(msg(1, 5), at(0), true);
  EXPECT_TRUE(r);
  EXPECT_TRUE(r.accepted());
  EXPECT_EQ(r.outcome, PushOutcome::waiting);
  EXPECT_EQ(r.error, errc{});
  EXPECT_TRUE(q.take_events().empty());
  EXPECT_EQ(q.waiting(), 1u);
  EXPECT_EQ(q.bytes(), 5u);
  expect_invariants(q);

  const auto taken = q.take_ready(kUnlimited, at(0));
  ASSERT_EQ(ids(taken), std::vector<MessageId>{1});
  EXPECT_EQ(taken[0]->bytes(), "bbbbb");
  EXPECT_FALSE(taken[0]->binary);
  EXPECT_EQ(q.waiting(), 0u);
  EXPECT_EQ(q.in_flight(), 1u);
  EXPECT_EQ(q.queued(), 1u);
  EXPECT_EQ(q.bytes(), 5u);  // in flight still counts
  EXPECT_TRUE(q.take_events().empty());
  expect_invariants(q);

  EXPECT_TRUE(q.on_sent(1));
  EXPECT_EQ(q.take_events(), (std::vector<Event>{sent(1, 5, 0)}));
  EXPECT_EQ(q.accepted(), 1u);
  EXPECT_EQ(q.sent(), 1u);
  EXPECT_EQ(q.dropped(), 0u);
  EXPECT_EQ(q.queued(), 0u);
  EXPECT_EQ(q.bytes(), 0u);
  expect_invariants(q);
}

TEST(OutboundQueue, NotReadyPushReportsQueuedWithTheDepthAfterIt) {
  OutboundQueue q;
  q.push(msg(1, 3), at(0), false);
  q.push(msg(2, 4), at(0), false);
  q.push(msg(3, 0), at(0), false);
  EXPECT_EQ(q.take_events(),
            (std::vector<Event>{queued(1, 3, 1), queued(2, 4, 2), queued(3, 0, 3)}));
  expect_invariants(q);

  EXPECT_EQ(ids(q.take_ready(kUnlimited, at(1))), (std::vector<MessageId>{1, 2, 3}));
  EXPECT_TRUE(q.on_sent(1));
  EXPECT_TRUE(q.on_sent(2));
  EXPECT_TRUE(q.on_sent(3));
  EXPECT_EQ(q.take_events(), (std::vector<Event>{sent(1, 3, 2), sent(2, 4, 1), sent(3, 0, 0)}));
  expect_invariants(q);
}

TEST(OutboundQueue, DepthCountsInFlightMessages) {
  OutboundQueue q;
  q.push(msg(1, 10), at(0), true);
  q.push(msg(2, 10), at(0), true);
  q.push(msg(3, 10), at(0), true);
  EXPECT_EQ(ids(q.take_ready(20, at(0))), (std::vector<MessageId>{1, 2}));
  q.on_transport_lost();
  EXPECT_TRUE(q.take_events().empty());  // requeueing changes no depth: no event
  q.push(msg(4, 1), at(0), false);
  EXPECT_EQ(q.take_events(), (std::vector<Event>{queued(4, 1, 4)}));

  EXPECT_EQ(ids(q.take_ready(0, at(0))), std::vector<MessageId>{1});
  q.push(msg(5, 1), at(0), false);
  EXPECT_EQ(q.take_events(), (std::vector<Event>{queued(5, 1, 5)}));
  expect_invariants(q);
}

TEST(OutboundQueue, EventsAreTakenOnceAndCanBeAppended) {
  OutboundQueue q;
  q.push(msg(1), at(0), false);
  std::vector<Event> out{sent(99, 9, 9)};
  q.take_events(out);
  EXPECT_EQ(out, (std::vector<Event>{sent(99, 9, 9), queued(1, 1, 1)}));
  q.take_events(out);
  EXPECT_EQ(out.size(), 2u);
  EXPECT_TRUE(q.take_events().empty());
}

// Delivery order across losses -------------------------------------------------------------------

TEST(OutboundQueueDelivery, FifoAcrossLossesAndSentMessagesNeverComeBack) {
  OutboundQueue q;
  for (MessageId id = 1; id <= 6; ++id) q.push(msg(id, 10), at(0), false);
  q.take_events();

  EXPECT_EQ(ids(q.take_ready(30, at(1))), (std::vector<MessageId>{1, 2, 3}));
  EXPECT_TRUE(q.on_sent(1));
  q.on_transport_lost();  // 2 and 3 were not fully taken by the socket
  EXPECT_EQ(q.in_flight(), 0u);
  EXPECT_EQ(q.waiting(), 5u);
  EXPECT_EQ(q.bytes(), 50u);
  expect_invariants(q);

  q.push(msg(7, 10), at(2), false);  // a new message goes after the requeued ones
  EXPECT_EQ(ids(q.take_ready(kUnlimited, at(3))), (std::vector<MessageId>{2, 3, 4, 5, 6, 7}));
  for (MessageId id = 2; id <= 7; ++id) EXPECT_TRUE(q.on_sent(id));

  std::vector<MessageId> sent_ids;
  for (const Event& e : q.take_events()) {
    if (e.kind == Event::sent) sent_ids.push_back(e.id);
  }
  EXPECT_EQ(sent_ids, (std::vector<MessageId>{1, 2, 3, 4, 5, 6, 7}));

  q.on_transport_lost();
  EXPECT_TRUE(q.take_ready(kUnlimited, at(4)).empty());
  EXPECT_EQ(q.sent(), 7u);
  EXPECT_EQ(q.queued(), 0u);
  expect_invariants(q);
}

TEST(OutboundQueueDelivery, RepeatedLossesRequeueInOriginalOrderExactlyOnce) {
  OutboundQueue q;
  for (MessageId id = 1; id <= 4; ++id) q.push(msg(id, 10), at(0), true);

  EXPECT_EQ(ids(q.take_ready(20, at(0))), (std::vector<MessageId>{1, 2}));
  q.on_transport_lost();
  EXPECT_EQ(ids(q.take_ready(0, at(0))), std::vector<MessageId>{1});
  q.on_transport_lost();
  EXPECT_EQ(ids(q.take_ready(30, at(0))), (std::vector<MessageId>{1, 2, 3}));
  EXPECT_TRUE(q.on_sent(1));
  q.on_transport_lost();
  EXPECT_EQ(q.waiting(), 3u);
  EXPECT_EQ(ids(q.take_ready(kUnlimited, at(0))), (std::vector<MessageId>{2, 3, 4}));
  EXPECT_TRUE(q.on_sent(2));
  EXPECT_TRUE(q.on_sent(3));
  EXPECT_TRUE(q.on_sent(4));
  EXPECT_EQ(q.take_events(),
            (std::vector<Event>{sent(1, 10, 3), sent(2, 10, 2), sent(3, 10, 1), sent(4, 10, 0)}));
  expect_invariants(q);
}

TEST(OutboundQueueDelivery, OnSentMustNameTheOldestInFlightMessage) {
  OutboundQueue q;
  EXPECT_FALSE(q.on_sent(1));  // nothing in flight
  q.push(msg(1), at(0), true);
  EXPECT_FALSE(q.on_sent(1));  // waiting, not in flight
  q.push(msg(2), at(0), true);
  q.take_ready(kUnlimited, at(0));
  EXPECT_FALSE(q.on_sent(2));
  EXPECT_FALSE(q.on_sent(99));
  EXPECT_TRUE(q.take_events().empty());
  EXPECT_EQ(q.in_flight(), 2u);
  EXPECT_TRUE(q.on_sent(1));
  EXPECT_FALSE(q.on_sent(1));  // never twice
  EXPECT_TRUE(q.on_sent(2));
  EXPECT_EQ(q.sent(), 2u);
  expect_invariants(q);
}

TEST(OutboundQueueDelivery, TransportLossWithIdsChecksThemAndRequeuesEitherWay) {
  const auto run = [](const std::vector<MessageId>& unsent) {
    OutboundQueue q;
    for (MessageId id = 1; id <= 4; ++id) q.push(msg(id), at(0), true);
    q.take_ready(2, at(0));  // 1, 2 in flight
    const bool consistent = q.on_transport_lost(unsent);
    EXPECT_EQ(q.in_flight(), 0u);
    EXPECT_EQ(ids(q.take_ready(kUnlimited, at(0))), (std::vector<MessageId>{1, 2, 3, 4}));
    expect_invariants(q);
    return consistent;
  };
  EXPECT_TRUE(run({1, 2}));
  EXPECT_FALSE(run({2}));        // 1 was never reported sent: requeued anyway
  EXPECT_FALSE(run({1, 2, 3}));  // 3 was not in flight
  EXPECT_FALSE(run({2, 1}));     // not in the order they were taken
  EXPECT_FALSE(run({}));

  OutboundQueue idle;
  EXPECT_TRUE(idle.on_transport_lost({}));
}

TEST(OutboundQueueDelivery, TheRequeueHookSeesEachInFlightMessageOnceOldestFirst) {
  // A caller that stores payloads masked re-masks them there: only messages that went to a
  // transport are shown, and a change it makes is what goes out next.
  OutboundQueue q;
  std::vector<MessageId> shown;
  q.set_on_requeue([&](Outgoing& m) {
    shown.push_back(m.id);
    m.payload.assign(m.payload.size(), 'r');
  });
  for (MessageId id = 1; id <= 4; ++id) q.push(msg(id, 10), at(0), true);
  q.take_ready(30, at(0));  // 1, 2, 3 in flight
  EXPECT_TRUE(q.on_sent(1));
  q.on_transport_lost();
  EXPECT_EQ(shown, (std::vector<MessageId>{2, 3}));
  const auto taken = q.take_ready(kUnlimited, at(0));
  ASSERT_EQ(ids(taken), (std::vector<MessageId>{2, 3, 4}));
  EXPECT_EQ(taken[0]->payload, std::string(10, 'r'));
  EXPECT_EQ(taken[1]->payload, std::string(10, 'r'));
  EXPECT_NE(taken[2]->payload, std::string(10, 'r'));
  q.on_transport_lost(std::vector<MessageId>{2, 3, 4});
  EXPECT_EQ(shown, (std::vector<MessageId>{2, 3, 2, 3, 4}));
  q.drop_all();
  EXPECT_EQ(shown.size(), 5u);  // dropping shows nothing
  expect_invariants(q);
}

// take_ready -------------------------------------------------------------------------------------

TEST(OutboundQueueTake, BudgetLimitsTheBytesHandedOut) {
  OutboundQueue q;
  for (MessageId id = 1; id <= 4; ++id) q.push(msg(id, 10), at(0), true);
  EXPECT_EQ(ids(q.take_ready(25, at(0))), (std::vector<MessageId>{1, 2}));
  EXPECT_TRUE(q.take_ready(9, at(0)).empty());  // busy: no message fits
  EXPECT_TRUE(q.take_ready(0, at(0)).empty());
  EXPECT_EQ(ids(q.take_ready(10, at(0))), std::vector<MessageId>{3});
  expect_invariants(q);
}

TEST(OutboundQueueTake, AnIdleTransportGetsOneMessageEvenOverTheBudget) {
  OutboundQueue q;
  q.push(msg(1, 100), at(0), true);
  q.push(msg(2, 1), at(0), true);
  q.push(msg(3, 1), at(0), true);
  // 1 alone spends the budget of this call: 2 waits for the next one.
  EXPECT_EQ(ids(q.take_ready(10, at(0))), std::vector<MessageId>{1});
  EXPECT_EQ(ids(q.take_ready(1, at(0))), std::vector<MessageId>{2});  // the budget is per call
  EXPECT_TRUE(q.take_ready(0, at(0)).empty());                        // busy: nothing over budget
  EXPECT_TRUE(q.on_sent(1));
  EXPECT_TRUE(q.take_ready(0, at(0)).empty());  // 2 is still in flight
  EXPECT_TRUE(q.on_sent(2));
  EXPECT_EQ(ids(q.take_ready(0, at(0))), std::vector<MessageId>{3});  // 0 = one message when idle
  expect_invariants(q);
}

TEST(OutboundQueueTake, NoMessageIsTakenAheadOfAnOlderOne) {
  OutboundQueue q;
  q.push(msg(1, 1), at(0), true);
  q.take_ready(0, at(0));  // 1 in flight
  q.push(msg(2, 50), at(0), true);
  q.push(msg(3, 1), at(0), true);
  EXPECT_TRUE(q.take_ready(10, at(0)).empty());  // 2 does not fit, so 3 waits behind it
  EXPECT_EQ(ids(q.take_ready(51, at(0))), (std::vector<MessageId>{2, 3}));
}

TEST(OutboundQueueTake, EmptyMessagesFitAnyBudget) {
  OutboundQueue q;
  q.push(msg(1, 0), at(0), true);
  q.take_ready(0, at(0));
  q.push(msg(2, 0), at(0), true);
  q.push(msg(3, 0), at(0), true);
  EXPECT_EQ(ids(q.take_ready(0, at(0))), (std::vector<MessageId>{2, 3}));
  EXPECT_EQ(q.bytes(), 0u);
}

TEST(OutboundQueueTake, PayloadsAreMovedNotCopied) {
  OutboundQueue q;
  Outgoing m = msg(1, 1000);
  const char* data = m.payload.data();
  q.push(std::move(m), at(0), false);
  auto taken = q.take_ready(kUnlimited, at(0));
  ASSERT_EQ(taken.size(), 1u);
  EXPECT_EQ(taken[0]->payload.data(), data);
  q.on_transport_lost();
  taken = q.take_ready(kUnlimited, at(0));
  ASSERT_EQ(taken.size(), 1u);
  EXPECT_EQ(taken[0]->payload.data(), data);
}

TEST(OutboundQueueTake, PointersStayValidWhileTheirMessageIsInFlight) {
  OutboundQueue q(limits(6, kUnlimited, OverflowPolicy::drop_oldest));
  for (MessageId id = 1; id <= 3; ++id) q.push(msg(id, 20), at(0), true);
  const auto taken = q.take_ready(kUnlimited, at(0));
  ASSERT_EQ(taken.size(), 3u);
  for (MessageId id = 4; id <= 30; ++id) q.push(msg(id, 20, 5 + id % 4), at(0), false);  // evicts
  q.expire(at(7));
  q.push(msg(31, 20), at(8), false);
  ASSERT_TRUE(q.on_sent(1));
  EXPECT_EQ(taken[1]->id, 2u);
  EXPECT_EQ(taken[1]->payload, payload_for(2, 20));
  EXPECT_EQ(taken[2]->id, 3u);
  EXPECT_EQ(taken[2]->payload, payload_for(3, 20));
  EXPECT_EQ(q.in_flight(), 2u);
  expect_invariants(q);
}

// Overflow ---------------------------------------------------------------------------------------

TEST(OutboundQueueOverflow, RejectByCountRefusesAndReportsTheNewMessage) {
  OutboundQueue q(limits(3, kUnlimited, OverflowPolicy::reject));
  for (MessageId id = 1; id <= 3; ++id) EXPECT_TRUE(q.push(msg(id, 2), at(0), false));
  q.take_events();

  const PushResult r = q.push(msg(4, 7), at(0), false);
  EXPECT_FALSE(r);
  EXPECT_FALSE(r.accepted());
  EXPECT_EQ(r.outcome, PushOutcome::rejected);
  EXPECT_EQ(r.error, errc::queue_full);
  EXPECT_EQ(q.take_events(), (std::vector<Event>{dropped(4, 7, DropReason::overflow, 3)}));
  EXPECT_EQ(q.accepted(), 3u);
  EXPECT_EQ(q.rejected(), 1u);
  EXPECT_EQ(q.dropped(), 0u);
  EXPECT_EQ(q.queued(), 3u);
  EXPECT_EQ(q.bytes(), 6u);
  expect_invariants(q);
  EXPECT_EQ(ids(q.take_ready(kUnlimited, at(0))), (std::vector<MessageId>{1, 2, 3}));

  // In flight messages still count: the queue stays full until the socket takes them.
  EXPECT_EQ(q.push(msg(5), at(0), true).outcome, PushOutcome::rejected);
  q.on_sent(1);
  EXPECT_EQ(q.push(msg(6), at(0), true).outcome, PushOutcome::waiting);
  EXPECT_EQ(q.rejected(), 2u);
  expect_invariants(q);
}

TEST(OutboundQueueOverflow, RejectByBytes) {
  OutboundQueue q(limits(100, 10, OverflowPolicy::reject));
  q.push(msg(1, 4), at(0), false);
  q.push(msg(2, 4), at(0), false);
  q.take_events();
  EXPECT_EQ(q.push(msg(3, 3), at(0), false).outcome, PushOutcome::rejected);
  EXPECT_EQ(q.take_events(), (std::vector<Event>{dropped(3, 3, DropReason::overflow, 2)}));
  EXPECT_EQ(q.push(msg(4, 2), at(0), false).outcome, PushOutcome::waiting);  // exactly 10
  EXPECT_EQ(q.take_events(), (std::vector<Event>{queued(4, 2, 3)}));
  EXPECT_EQ(q.bytes(), 10u);
  EXPECT_EQ(q.push(msg(5, 0), at(0), false).outcome, PushOutcome::waiting);  // 0 bytes fit
  EXPECT_EQ(q.push(msg(6, 1), at(0), false).outcome, PushOutcome::rejected);
  EXPECT_EQ(ids(q.take_ready(kUnlimited, at(0))), (std::vector<MessageId>{1, 2, 4, 5}));
  expect_invariants(q);
}

TEST(OutboundQueueOverflow, DropNewestByCountAcceptsAndDropsTheNewMessage) {
  OutboundQueue q(limits(2, kUnlimited, OverflowPolicy::drop_newest));
  q.push(msg(1, 5), at(0), false);
  q.push(msg(2, 5), at(0), false);
  q.take_events();
  const PushResult r = q.push(msg(3, 6), at(0), false);
  EXPECT_TRUE(r.accepted());
  EXPECT_EQ(r.outcome, PushOutcome::dropped);
  EXPECT_EQ(r.error, errc{});
  EXPECT_EQ(q.take_events(), (std::vector<Event>{dropped(3, 6, DropReason::overflow, 2)}));
  EXPECT_EQ(q.accepted(), 3u);
  EXPECT_EQ(q.dropped(), 1u);
  EXPECT_EQ(q.rejected(), 0u);
  EXPECT_EQ(q.bytes(), 10u);
  expect_invariants(q);
  EXPECT_EQ(ids(q.take_ready(kUnlimited, at(0))), (std::vector<MessageId>{1, 2}));
}

TEST(OutboundQueueOverflow, DropNewestByBytes) {
  OutboundQueue q(limits(100, 10, OverflowPolicy::drop_newest));
  q.push(msg(1, 6), at(0), false);
  q.take_events();
  EXPECT_EQ(q.push(msg(2, 5), at(0), false).outcome, PushOutcome::dropped);
  EXPECT_EQ(q.push(msg(3, 4), at(0), false).outcome, PushOutcome::waiting);
  EXPECT_EQ(q.take_events(),
            (std::vector<Event>{dropped(2, 5, DropReason::overflow, 1), queued(3, 4, 2)}));
  EXPECT_EQ(q.accepted(), 3u);
  EXPECT_EQ(q.dropped(), 1u);
  EXPECT_EQ(ids(q.take_ready(kUnlimited, at(0))), (std::vector<MessageId>{1, 3}));
  expect_invariants(q);
}

TEST(OutboundQueueOverflow, DropOldestByCountEvictsTheOldestWaitingMessage) {
  OutboundQueue q(limits(3, kUnlimited, OverflowPolicy::drop_oldest));
  for (MessageId id = 1; id <= 3; ++id) q.push(msg(id, id), at(0), false);
  q.take_events();
  const PushResult r = q.push(msg(4, 4), at(0), false);
  EXPECT_EQ(r.outcome, PushOutcome::waiting);
  EXPECT_TRUE(r.accepted());
  EXPECT_EQ(q.take_events(),
            (std::vector<Event>{dropped(1, 1, DropReason::overflow, 2), queued(4, 4, 3)}));
  EXPECT_EQ(q.accepted(), 4u);
  EXPECT_EQ(q.dropped(), 1u);
  EXPECT_EQ(q.bytes(), 2u + 3u + 4u);
  expect_invariants(q);
  EXPECT_EQ(ids(q.take_ready(kUnlimited, at(0))), (std::vector<MessageId>{2, 3, 4}));
}

TEST(OutboundQueueOverflow, DropOldestByBytesEvictsAsManyAsNeeded) {
  OutboundQueue q(limits(100, 10, OverflowPolicy::drop_oldest));
  for (MessageId id = 1; id <= 3; ++id) q.push(msg(id, 3), at(0), false);
  q.take_events();
  EXPECT_EQ(q.push(msg(4, 7), at(0), false).outcome, PushOutcome::waiting);
  EXPECT_EQ(q.take_events(),
            (std::vector<Event>{dropped(1, 3, DropReason::overflow, 2),
                                dropped(2, 3, DropReason::overflow, 1), queued(4, 7, 2)}));
  EXPECT_EQ(q.bytes(), 10u);
  EXPECT_EQ(q.dropped(), 2u);
  expect_invariants(q);
  EXPECT_EQ(ids(q.take_ready(kUnlimited, at(0))), (std::vector<MessageId>{3, 4}));
}

TEST(OutboundQueueOverflow, DropOldestNeverEvictsInFlightMessages) {
  OutboundQueue q(limits(3, kUnlimited, OverflowPolicy::drop_oldest));
  for (MessageId id = 1; id <= 3; ++id) q.push(msg(id), at(0), true);
  EXPECT_EQ(ids(q.take_ready(0, at(0))), std::vector<MessageId>{1});
  q.push(msg(4), at(0), true);
  EXPECT_EQ(q.take_events(), (std::vector<Event>{dropped(2, 1, DropReason::overflow, 2)}));
  EXPECT_TRUE(q.on_sent(1));
  EXPECT_EQ(ids(q.take_ready(kUnlimited, at(0))), (std::vector<MessageId>{3, 4}));
  expect_invariants(q);
}

TEST(OutboundQueueOverflow, DropOldestDropsTheNewMessageWhenInFlightMessagesFillTheQueue) {
  OutboundQueue q(limits(2, 10, OverflowPolicy::drop_oldest));
  q.push(msg(1, 4), at(0), true);
  q.push(msg(2, 4), at(0), true);
  q.take_ready(kUnlimited, at(0));
  EXPECT_EQ(q.push(msg(3, 1), at(0), false).outcome, PushOutcome::dropped);
  EXPECT_EQ(q.take_events(), (std::vector<Event>{dropped(3, 1, DropReason::overflow, 2)}));
  EXPECT_EQ(q.in_flight(), 2u);
  expect_invariants(q);
}

TEST(OutboundQueueOverflow, DropOldestEvictsNothingWhenEvictingCouldNotMakeRoom) {
  OutboundQueue q(limits(100, 10, OverflowPolicy::drop_oldest));
  q.push(msg(1, 8), at(0), true);
  q.take_ready(kUnlimited, at(0));  // 8 bytes in flight
  q.push(msg(2, 1), at(0), false);
  q.take_events();
  // 8 in flight + 3 > 10 even with nothing waiting: 2 stays, 3 is dropped.
  EXPECT_EQ(q.push(msg(3, 3), at(0), false).outcome, PushOutcome::dropped);
  EXPECT_EQ(q.take_events(), (std::vector<Event>{dropped(3, 3, DropReason::overflow, 2)}));
  EXPECT_EQ(q.waiting(), 1u);
  // 8 in flight + 2 fits once 2 is evicted.
  EXPECT_EQ(q.push(msg(4, 2), at(0), false).outcome, PushOutcome::waiting);
  EXPECT_EQ(q.take_events(),
            (std::vector<Event>{dropped(2, 1, DropReason::overflow, 1), queued(4, 2, 2)}));
  EXPECT_EQ(q.bytes(), 10u);
  expect_invariants(q);
}

TEST(OutboundQueueOverflow, AMessageLargerThanMaxBytesAloneNeverFits) {
  struct Case {
    OverflowPolicy policy;
    PushOutcome outcome;
  };
  for (const Case c : {Case{OverflowPolicy::reject, PushOutcome::rejected},
                       Case{OverflowPolicy::drop_newest, PushOutcome::dropped},
                       Case{OverflowPolicy::drop_oldest, PushOutcome::dropped}}) {
    SCOPED_TRACE(static_cast<int>(c.policy));
    OutboundQueue q(limits(100, 10, c.policy));
    q.push(msg(1, 3), at(0), false);
    q.take_events();
    const PushResult r = q.push(msg(2, 11), at(0), false);
    EXPECT_EQ(r.outcome, c.outcome);
    EXPECT_EQ(r.error, c.outcome == PushOutcome::rejected ? errc::queue_full : errc{});
    // Only the big message is reported: drop_oldest evicts nothing it could not use.
    EXPECT_EQ(q.take_events(), (std::vector<Event>{dropped(2, 11, DropReason::overflow, 1)}));
    EXPECT_EQ(q.waiting(), 1u);
    expect_invariants(q);

    OutboundQueue empty(limits(100, 10, c.policy));
    EXPECT_EQ(empty.push(msg(1, 11), at(0), true).outcome, c.outcome);
    EXPECT_EQ(empty.push(msg(2, 10), at(0), true).outcome, PushOutcome::waiting);
    expect_invariants(empty);
  }
}

TEST(OutboundQueueOverflow, ZeroMaxMessagesOverflowsEveryMessage) {
  OutboundQueue q(limits(0, kUnlimited, OverflowPolicy::drop_oldest));
  EXPECT_EQ(q.push(msg(1), at(0), true).outcome, PushOutcome::dropped);
  EXPECT_EQ(q.queued(), 0u);
  EXPECT_EQ(q.dropped(), 1u);
  expect_invariants(q);
}

// TTL --------------------------------------------------------------------------------------------

TEST(OutboundQueueTtl, WaitingMessagesExpireEarliestFirst) {
  OutboundQueue q;
  q.push(msg(1, 1, 100), at(0), false);
  q.push(msg(2, 2), at(0), false);
  q.push(msg(3, 3, 50), at(0), false);
  q.push(msg(4, 4, 100), at(0), false);
  q.push(msg(5, 5, 60), at(0), false);
  q.take_events();
  EXPECT_EQ(q.next_expiry(), at(50));

  q.expire(at(49));
  EXPECT_TRUE(q.take_events().empty());
  q.expire(at(50));  // expiry is inclusive
  EXPECT_EQ(q.take_events(), (std::vector<Event>{dropped(3, 3, DropReason::ttl, 4)}));
  EXPECT_EQ(q.next_expiry(), at(60));

  q.expire(at(500));  // 5 (at 60) first, then 1 and 4 (both at 100) in queue order
  EXPECT_EQ(q.take_events(), (std::vector<Event>{dropped(5, 5, DropReason::ttl, 3),
                                                 dropped(1, 1, DropReason::ttl, 2),
                                                 dropped(4, 4, DropReason::ttl, 1)}));
  EXPECT_EQ(q.next_expiry(), std::nullopt);
  EXPECT_EQ(q.dropped(), 4u);
  EXPECT_EQ(q.bytes(), 2u);
  expect_invariants(q);
  EXPECT_EQ(ids(q.take_ready(kUnlimited, at(500))), std::vector<MessageId>{2});
}

TEST(OutboundQueueTtl, ExpiredMessagesMetWhileTakingAreDropped) {
  OutboundQueue q;
  q.push(msg(1, 10, 10), at(0), false);
  q.push(msg(2, 20, 100), at(0), false);
  q.push(msg(3, 30, 20), at(0), false);
  q.push(msg(4, 40), at(0), false);
  q.take_events();
  // The idle rule applies to the first live message: 2 goes although it exceeds the budget; the
  // expired 3 is met before the budget stops the call at 4.
  EXPECT_EQ(ids(q.take_ready(5, at(50))), std::vector<MessageId>{2});
  EXPECT_EQ(q.take_events(), (std::vector<Event>{dropped(1, 10, DropReason::ttl, 3),
                                                 dropped(3, 30, DropReason::ttl, 2)}));
  EXPECT_EQ(ids(q.take_ready(kUnlimited, at(50))), std::vector<MessageId>{4});
  EXPECT_TRUE(q.take_events().empty());
  EXPECT_EQ(q.next_expiry(), std::nullopt);
  expect_invariants(q);
}

TEST(OutboundQueueTtl, InFlightMessagesDoNotExpireButRequeuedOnesDo) {
  OutboundQueue q;
  q.push(msg(1, 1, 10), at(0), true);
  q.push(msg(2, 1, 30), at(0), true);
  q.push(msg(3, 1, 20), at(0), true);
  EXPECT_EQ(q.next_expiry(), at(10));
  EXPECT_EQ(ids(q.take_ready(1, at(5))), std::vector<MessageId>{1});
  EXPECT_EQ(q.next_expiry(), at(20));
  EXPECT_EQ(ids(q.take_ready(kUnlimited, at(5))), (std::vector<MessageId>{2, 3}));
  EXPECT_EQ(q.next_expiry(), std::nullopt);
  q.expire(at(100));
  EXPECT_TRUE(q.take_events().empty());

  EXPECT_TRUE(q.on_sent(1));
  q.take_events();
  q.on_transport_lost();
  EXPECT_EQ(q.next_expiry(), at(20));
  q.expire(at(25));
  EXPECT_EQ(q.take_events(), (std::vector<Event>{dropped(3, 1, DropReason::ttl, 1)}));
  EXPECT_EQ(q.next_expiry(), at(30));
  q.expire(at(30));
  EXPECT_EQ(q.take_events(), (std::vector<Event>{dropped(2, 1, DropReason::ttl, 0)}));
  EXPECT_EQ(q.next_expiry(), std::nullopt);
  expect_invariants(q);
}

TEST(OutboundQueueTtl, AMessageAlreadyExpiredWhenPushedIsDroppedAtOnce) {
  OutboundQueue q(limits(1, kUnlimited, OverflowPolicy::reject));
  const PushResult r = q.push(msg(1, 4, 10), at(10), false);
  EXPECT_TRUE(r.accepted());
  EXPECT_EQ(r.outcome, PushOutcome::dropped);
  EXPECT_EQ(q.take_events(), (std::vector<Event>{dropped(1, 4, DropReason::ttl, 0)}));
  EXPECT_EQ(q.push(msg(2, 4, 11), at(10), false).outcome, PushOutcome::waiting);
  // Expiry comes before overflow: a dead message is not refused for lack of room.
  EXPECT_EQ(q.push(msg(3, 4, 5), at(10), false).outcome, PushOutcome::dropped);
  EXPECT_EQ(q.accepted(), 3u);
  EXPECT_EQ(q.dropped(), 2u);
  EXPECT_EQ(q.rejected(), 0u);
  expect_invariants(q);
}

TEST(OutboundQueueTtl, EvictionAndSendingKeepNextExpiryRight) {
  OutboundQueue q(limits(2, kUnlimited, OverflowPolicy::drop_oldest));
  q.push(msg(1, 1, 10), at(0), false);
  q.push(msg(2, 1, 40), at(0), false);
  q.push(msg(3, 1, 30), at(0), false);  // evicts 1
  EXPECT_EQ(q.next_expiry(), at(30));
  q.take_ready(0, at(0));  // 2 in flight
  EXPECT_EQ(q.next_expiry(), at(30));
  q.take_ready(kUnlimited, at(0));
  EXPECT_EQ(q.next_expiry(), std::nullopt);
  q.on_sent(2);
  q.on_transport_lost();
  EXPECT_EQ(q.next_expiry(), at(30));
}

// drop_all ---------------------------------------------------------------------------------------

TEST(OutboundQueueDropAll, ReportsEveryRemainingMessageOnceAsClosed) {
  OutboundQueue q;
  for (MessageId id = 1; id <= 5; ++id) q.push(msg(id, id, 100), at(0), false);
  q.take_events();
  EXPECT_EQ(ids(q.take_ready(3, at(0))), (std::vector<MessageId>{1, 2}));
  EXPECT_TRUE(q.on_sent(1));
  q.take_events();

  q.drop_all(DropReason::closed);
  EXPECT_EQ(q.take_events(),
            (std::vector<Event>{
                dropped(2, 2, DropReason::closed, 3), dropped(3, 3, DropReason::closed, 2),
                dropped(4, 4, DropReason::closed, 1), dropped(5, 5, DropReason::closed, 0)}));
  EXPECT_EQ(q.accepted(), 5u);
  EXPECT_EQ(q.sent(), 1u);
  EXPECT_EQ(q.dropped(), 4u);
  EXPECT_EQ(q.queued(), 0u);
  EXPECT_EQ(q.bytes(), 0u);
  EXPECT_EQ(q.next_expiry(), std::nullopt);
  expect_invariants(q);

  EXPECT_FALSE(q.on_sent(2));
  q.on_transport_lost();
  q.expire(at(1000));
  q.drop_all();
  EXPECT_TRUE(q.take_events().empty());
  EXPECT_TRUE(q.take_ready(kUnlimited, at(1000)).empty());

  // The queue keeps working afterwards.
  q.push(msg(6), at(1000), true);
  EXPECT_EQ(ids(q.take_ready(kUnlimited, at(1000))), std::vector<MessageId>{6});
  expect_invariants(q);
}

// A reference model
// --------------------------------------------------------------------------------

// The queue's rules written the plainest way: vectors scanned in full, sums recomputed.
class Model {
 public:
  struct Msg {
    MessageId id;
    std::size_t size;
    std::optional<TimePoint> expires_at;
  };

  explicit Model(QueueLimits limits) : limits_(limits) {}

  PushOutcome push(const Msg& m, TimePoint now, bool ready) {
    if (m.expires_at && now >= *m.expires_at) {
      ++accepted_;
      ++dropped_;
      emit(Event::dropped, m, DropReason::ttl);
      return PushOutcome::dropped;
    }
    const auto fits = [&](std::size_t count, std::size_t bytes) {
      return count + 1 <= limits_.max_messages && bytes + m.size <= limits_.max_bytes;
    };
    if (!fits(depth(), sum(waiting_) + sum(in_flight_))) {
      if (limits_.overflow == OverflowPolicy::reject) {
        ++rejected_;
        emit(Event::dropped, m, DropReason::overflow);
        return PushOutcome::rejected;
      }
      if (limits_.overflow == OverflowPolicy::drop_oldest &&
          fits(in_flight_.size(), sum(in_flight_))) {
        while (!fits(depth(), sum(waiting_) + sum(in_flight_))) {
          const Msg evicted = waiting_.front();
          waiting_.erase(waiting_.begin());
          ++dropped_;
          emit(Event::dropped, evicted, DropReason::overflow);
        }
      } else {
        ++accepted_;
        ++dropped_;
        emit(Event::dropped, m, DropReason::overflow);
        return PushOutcome::dropped;
      }
    }
    ++accepted_;
    waiting_.push_back(m);
    if (!ready) emit(Event::queued, m);
    return PushOutcome::waiting;
  }

  std::vector<MessageId> take(std::size_t budget, TimePoint now) {
    const bool idle = in_flight_.empty();
    std::vector<MessageId> taken;
    std::size_t used = 0;
    while (!waiting_.empty()) {
      const Msg front = waiting_.front();
      if (front.expires_at && now >= *front.expires_at) {
        waiting_.erase(waiting_.begin());
        ++dropped_;
        emit(Event::dropped, front, DropReason::ttl);
        continue;
      }
      if (!(idle && taken.empty()) && used + front.size > budget) break;
      used += front.size;
      waiting_.erase(waiting_.begin());
      in_flight_.push_back(front);
      taken.push_back(front.id);
    }
    return taken;
  }

  bool on_sent(MessageId id) {
    if (in_flight_.empty() || in_flight_.front().id != id) return false;
    const Msg m = in_flight_.front();
    in_flight_.erase(in_flight_.begin());
    ++sent_;
    emit(Event::sent, m);
    return true;
  }

  void lost() {
    waiting_.insert(waiting_.begin(), in_flight_.begin(), in_flight_.end());
    in_flight_.clear();
  }

  void expire(TimePoint now) {
    std::vector<Msg> due;
    for (const Msg& m : waiting_) {
      if (m.expires_at && now >= *m.expires_at) due.push_back(m);
    }
    std::stable_sort(due.begin(), due.end(),
                     [](const Msg& a, const Msg& b) { return *a.expires_at < *b.expires_at; });
    for (const Msg& m : due) {
      waiting_.erase(std::find_if(waiting_.begin(), waiting_.end(),
                                  [&](const Msg& w) { return w.id == m.id; }));
      ++dropped_;
      emit(Event::dropped, m, DropReason::ttl);
    }
  }

  void drop_all(DropReason reason) {
    std::vector<Msg> all = in_flight_;
    all.insert(all.end(), waiting_.begin(), waiting_.end());
    in_flight_.clear();
    waiting_.clear();
    std::size_t depth = all.size();
    for (const Msg& m : all) {
      ++dropped_;
      events_.push_back(Event{Event::dropped, m.id, m.size, reason, --depth});
    }
  }

  std::optional<TimePoint> next_expiry() const {
    std::optional<TimePoint> earliest;
    for (const Msg& m : waiting_) {
      if (m.expires_at && (!earliest || *m.expires_at < *earliest)) earliest = m.expires_at;
    }
    return earliest;
  }

  std::vector<Event> take_events() { return std::exchange(events_, {}); }

  std::size_t depth() const { return waiting_.size() + in_flight_.size(); }
  const std::vector<Msg>& in_flight() const { return in_flight_; }
  const std::vector<Msg>& waiting() const { return waiting_; }
  std::uint64_t accepted() const { return accepted_; }
  std::uint64_t sent() const { return sent_; }
  std::uint64_t dropped() const { return dropped_; }
  std::uint64_t rejected() const { return rejected_; }
  std::size_t bytes() const { return sum(waiting_) + sum(in_flight_); }

 private:
  static std::size_t sum(const std::vector<Msg>& line) {
    std::size_t total = 0;
    for (const Msg& m : line) total += m.size;
    return total;
  }
  void emit(Event::Kind kind, const Msg& m, DropReason reason = DropReason{}) {
    events_.push_back(Event{kind, m.id, m.size, reason, depth()});
  }

  QueueLimits limits_;
  std::vector<Msg> waiting_;
  std::vector<Msg> in_flight_;
  std::vector<Event> events_;
  std::uint64_t accepted_ = 0;
  std::uint64_t sent_ = 0;
  std::uint64_t dropped_ = 0;
  std::uint64_t rejected_ = 0;
};

// Drives the queue and the model with the same random operations and compares them after each.
class RandomRun {
 public:
  RandomRun(std::uint32_t seed, QueueLimits l) : rng_(seed), queue_(l), model_(l) {}

  void run(int steps) {
    for (int step = 0; step < steps && !::testing::Test::HasFailure(); ++step) {
      SCOPED_TRACE("step " + std::to_string(step));
      now_ += milliseconds(pick(0, 5));
      const int op = pick(0, 99);
      if (op < 35) {
        push();
      } else if (op < 55) {
        take();
      } else if (op < 75) {
        sent();
      } else if (op < 80) {
        lost();
      } else if (op < 87) {
        connected_ = true;
      } else if (op < 96) {
        queue_.expire(now_);
        model_.expire(now_);
      } else if (op < 97) {
        queue_.drop_all(DropReason::closed);
        model_.drop_all(DropReason::closed);
        live_.clear();
      } else {
        // The client waits for its next deadline.
        if (const auto expiry = queue_.next_expiry(); expiry && *expiry > now_) now_ = *expiry;
        queue_.expire(now_);
        model_.expire(now_);
      }
      compare();
    }
    queue_.drop_all(DropReason::closed);
    model_.drop_all(DropReason::closed);
    live_.clear();
    compare();

    // Every message offered ended in exactly one sent or dropped event.
    EXPECT_EQ(queue_.queued(), 0u);
    EXPECT_EQ(terminal_.size(), static_cast<std::size_t>(next_id_ - 1));
    for (const auto& [id, count] : terminal_) EXPECT_EQ(count, 1) << "message " << id;
    EXPECT_EQ(queue_.accepted() + queue_.rejected(), next_id_ - 1);
  }

  std::uint64_t pushed() const { return next_id_ - 1; }
  std::uint64_t sent_count() const { return queue_.sent(); }
  std::uint64_t dropped_count() const { return queue_.dropped(); }
  std::uint64_t rejected_count() const { return queue_.rejected(); }

 private:
  int pick(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }

  void push() {
    const MessageId id = next_id_++;
    const auto size = static_cast<std::size_t>(pick(0, 3) == 0 ? pick(0, 60) : pick(0, 12));
    std::optional<TimePoint> expires_at;
    if (pick(0, 9) < 6) expires_at = now_ + milliseconds(pick(0, 150));
    PushResult r;
    if (pick(0, 1) == 0) {
      // By view: the queue copies it into its blocks.
      r = queue_.push(id, id % 3 == 0, payload_for(id, size), expires_at, now_, connected_);
    } else {
      Outgoing m;
      m.id = id;
      m.binary = id % 3 == 0;
      m.payload = payload_for(id, size);
      m.expires_at = expires_at;
      r = queue_.push(std::move(m), now_, connected_);
    }
    const PushOutcome expected = model_.push(Model::Msg{id, size, expires_at}, now_, connected_);
    EXPECT_EQ(r.outcome, expected);
    EXPECT_EQ(r.error, expected == PushOutcome::rejected ? errc::queue_full : errc{});
  }

  void take() {
    if (!connected_) return;
    const std::size_t budget = pick(0, 9) == 0 ? kUnlimited : static_cast<std::size_t>(pick(0, 80));
    taken_.clear();
    const std::size_t n = queue_.take_ready(budget, now_, taken_);
    const std::vector<MessageId> expected = model_.take(budget, now_);
    EXPECT_EQ(n, taken_.size());
    EXPECT_EQ(ids(taken_), expected);
    for (const Outgoing* m : taken_) {
      EXPECT_EQ(sent_ids_.count(m->id), 0u) << "message " << m->id << " was sent already";
      live_.push_back(m);
    }
  }

  void sent() {
    MessageId id = pick(1, static_cast<int>(next_id_));
    if (pick(0, 9) != 0 && !model_.in_flight().empty()) id = model_.in_flight().front().id;
    const bool ok = queue_.on_sent(id);
    EXPECT_EQ(ok, model_.on_sent(id));
    if (ok) {
      EXPECT_TRUE(sent_ids_.insert(id).second) << "message " << id << " sent twice";
      live_.erase(live_.begin());
    }
  }

  void lost() {
    connected_ = false;
    const int form = pick(0, 2);
    if (form == 0) {
      queue_.on_transport_lost();
    } else {
      std::vector<MessageId> unsent;
      for (const Model::Msg& m : model_.in_flight()) unsent.push_back(m.id);
      const bool perturb = form == 2 && !unsent.empty();
      if (perturb) unsent.pop_back();
      EXPECT_EQ(queue_.on_transport_lost(unsent), !perturb);
    }
    model_.lost();
    live_.clear();
  }

  void compare() {
    expect_invariants(queue_);
    EXPECT_EQ(queue_.accepted(), model_.accepted());
    EXPECT_EQ(queue_.sent(), model_.sent());
    EXPECT_EQ(queue_.dropped(), model_.dropped());
    EXPECT_EQ(queue_.rejected(), model_.rejected());
    EXPECT_EQ(queue_.waiting(), model_.waiting().size());
    EXPECT_EQ(queue_.in_flight(), model_.in_flight().size());
    EXPECT_EQ(queue_.bytes(), model_.bytes());
    EXPECT_EQ(queue_.next_expiry(), model_.next_expiry());

    events_.clear();
    queue_.take_events(events_);
    EXPECT_EQ(events_, model_.take_events());
    for (const Event& e : events_) {
      if (e.kind != Event::queued) ++terminal_[e.id];
    }

    // The pointers handed out stay valid (and right) while their message is in flight.
    EXPECT_EQ(live_.size(), model_.in_flight().size());
    for (std::size_t i = 0; i < live_.size() && i < model_.in_flight().size(); ++i) {
      const Model::Msg& m = model_.in_flight()[i];
      EXPECT_EQ(live_[i]->id, m.id);
      EXPECT_EQ(live_[i]->bytes(), payload_for(m.id, m.size));
      EXPECT_EQ(live_[i]->binary, m.id % 3 == 0);
      EXPECT_EQ(live_[i]->expires_at, m.expires_at);
    }
  }

  std::mt19937 rng_;
  OutboundQueue queue_;
  Model model_;
  TimePoint now_ = at(0);
  bool connected_ = false;
  MessageId next_id_ = 1;
  std::vector<const Outgoing*> taken_;
  std::vector<const Outgoing*> live_;  // the in flight messages, oldest first
  std::vector<Event> events_;
  std::set<MessageId> sent_ids_;
  std::map<MessageId, int> terminal_;
};

struct RandomCase {
  std::uint32_t seed;
  QueueLimits limits;
};

class OutboundQueueRandom : public ::testing::TestWithParam<RandomCase> {};

TEST_P(OutboundQueueRandom, MatchesTheModelAndKeepsTheInvariantAtEveryStep) {
  const RandomCase& c = GetParam();
  RandomRun run(c.seed, c.limits);
  run.run(12000);
  // The sequence exercised every ending.
  EXPECT_GT(run.pushed(), 3000u);
  EXPECT_GT(run.sent_count(), 0u);
  EXPECT_GT(run.dropped_count(), 0u);
}

INSTANTIATE_TEST_SUITE_P(
    Seeds, OutboundQueueRandom,
    ::testing::Values(RandomCase{1, limits(8, 200, OverflowPolicy::reject)},
                      RandomCase{2, limits(8, 200, OverflowPolicy::drop_oldest)},
                      RandomCase{3, limits(8, 200, OverflowPolicy::drop_newest)},
                      RandomCase{4, limits(4, 40, OverflowPolicy::drop_oldest)},
                      RandomCase{5, limits(30, 60, OverflowPolicy::reject)},
                      RandomCase{6, limits(30, 60, OverflowPolicy::drop_oldest)},
                      RandomCase{7, limits(1, 30, OverflowPolicy::drop_newest)},
                      RandomCase{8, limits(10000, kUnlimited, OverflowPolicy::reject)}));

// Allocations ------------------------------------------------------------------------------------

TEST(OutboundQueueAllocations, SteadyStateAllocatesNothingPerMessage) {
  OutboundQueue q;
  std::vector<const Outgoing*> taken;
  std::vector<Event> events;
  taken.reserve(64);
  events.reserve(64);
  MessageId id = 0;
  long long ms = 0;
  // Short payloads live inside std::string: any allocation would be the queue's own.
  const auto cycle = [&] {
    ++ms;
    for (int i = 0; i < 4; ++i) q.push(msg(++id, 5, ms + 100), at(ms), i % 2 == 0);
    taken.clear();
    q.take_ready(3, at(ms), taken);
    q.take_ready(kUnlimited, at(ms), taken);
    if (ms % 16 == 0) {
      q.on_transport_lost();
      taken.clear();
      q.take_ready(kUnlimited, at(ms), taken);
    }
    while (q.in_flight() > 0) q.on_sent(taken[taken.size() - q.in_flight()]->id);
    events.clear();
    q.take_events(events);
  };
  for (int i = 0; i < 1000; ++i) cycle();

  const std::size_t before = g_allocations.load();
  constexpr int kCycles = 10000;
  for (int i = 0; i < kCycles; ++i) cycle();
  const std::size_t allocations = g_allocations.load() - before;
  // std::deque allocates one block per few entries; nothing is allocated per message.
  EXPECT_LT(allocations, static_cast<std::size_t>(kCycles) * 4 / 2);
  EXPECT_EQ(q.sent(), static_cast<std::uint64_t>(kCycles + 1000) * 4);
  expect_invariants(q);
}

TEST(OutboundQueueAllocations, CopiedPayloadsReuseTheBuffersOfMessagesThatLeft) {
  // Payloads too long for std::string's inline buffer, pushed by view: they go into the queue's
  // blocks, and once those exist a steady flow allocates nothing at all.
  OutboundQueue q;
  std::vector<const Outgoing*> taken;
  std::vector<Event> events;
  taken.reserve(128);
  events.reserve(128);
  const std::string payload(64, 'p');
  MessageId id = 0;
  bool intact = true;
  const auto cycle = [&] {
    for (int i = 0; i < 100; ++i) {
      ++id;
      q.push(id, id % 2 == 0, payload, std::nullopt, at(0), true);
    }
    taken.clear();
    q.take_ready(kUnlimited, at(0), taken);
    for (const Outgoing* m : taken) intact = intact && m->bytes() == payload;
    while (q.in_flight() > 0) q.on_sent(taken[taken.size() - q.in_flight()]->id);
    events.clear();
    q.take_events(events);
  };
  for (int i = 0; i < 10; ++i) cycle();

  const std::size_t before = g_allocations.load();
  for (int i = 0; i < 1000; ++i) cycle();
  EXPECT_EQ(g_allocations.load() - before, 0u);
  EXPECT_TRUE(intact);
  EXPECT_EQ(q.sent(), 1010u * 100);
  expect_invariants(q);
}

TEST(OutboundQueueHeld, ExpiriesLeavingHolesDoNotPinTheBlocks) {
  // Payloads pushed by view lie in the queue's blocks in push order. Expiries take messages out
  // of the middle: 1 in 50 outlives its neighbours, so every block keeps one live message. The
  // queue then moves the waiting survivors into fresh blocks; the in flight ones, read by the
  // transport, stay where they are, intact.
  OutboundQueue q(limits(100000, kUnlimited, OverflowPolicy::reject));
  constexpr std::size_t kSize = 500;
  constexpr MessageId kCount = 40000;
  for (MessageId id = 1; id <= kCount; ++id) {
    const std::string payload = payload_for(id, kSize);
    std::optional<TimePoint> expires_at;
    if (id % 50 != 0 && id > 100) expires_at = at(10);
    q.push(id, false, payload, expires_at, at(0), false);
  }
  EXPECT_GE(q.held_capacity(), kCount * kSize);
  // The first 100 go in flight (and never expire there).
  std::vector<const Outgoing*> in_flight;
  q.take_ready(100 * kSize, at(0), in_flight);
  ASSERT_EQ(in_flight.size(), 100u);
  const Outgoing* first = in_flight.front();
  const char* first_bytes = first->bytes().data();

  q.expire(at(10));
  const std::size_t survivors = 100 + (kCount - 100) / 50;
  EXPECT_EQ(q.queued(), survivors);
  EXPECT_EQ(q.bytes(), survivors * kSize);
  // Blocks of 64 KiB: twice the payload bytes, plus the in flight messages' blocks, plus four.
  EXPECT_LE(q.held_capacity(), 2 * q.bytes() + 6 * 64 * 1024) << q.held_capacity();
  EXPECT_EQ(first->bytes().data(), first_bytes);  // in flight: not moved
  for (const Outgoing* m : in_flight) EXPECT_EQ(m->bytes(), payload_for(m->id, kSize));

  for (const Outgoing* m : in_flight) ASSERT_TRUE(q.on_sent(m->id));
  std::vector<const Outgoing*> rest;
  q.take_ready(kUnlimited, at(10), rest);
  ASSERT_EQ(rest.size(), survivors - 100);
  for (const Outgoing* m : rest) {
    EXPECT_EQ(m->id % 50, 0u);
    EXPECT_EQ(m->bytes(), payload_for(m->id, kSize)) << "message " << m->id;
  }
  for (const Outgoing* m : rest) ASSERT_TRUE(q.on_sent(m->id));
  EXPECT_EQ(q.queued(), 0u);
  EXPECT_LE(q.held_capacity(), 64u * 1024);  // the current block only
  expect_invariants(q);
}

TEST(OutboundQueueHeld, RequeuedMessagesKeepTheirBytes) {
  // Sent again after a lost connection, a message pushed by view is the same bytes, in order,
  // and a message dropped by the close policy releases its block like a sent one.
  OutboundQueue q;
  for (MessageId id = 1; id <= 3000; ++id) {
    q.push(id, id % 2 == 0, payload_for(id, 1 + id % 700), std::nullopt, at(0), true);
  }
  std::vector<const Outgoing*> taken;
  q.take_ready(kUnlimited, at(0), taken);
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(q.on_sent(taken[static_cast<std::size_t>(i)]->id));
  q.on_transport_lost();
  taken.clear();
  q.take_ready(kUnlimited, at(0), taken);
  ASSERT_EQ(taken.size(), 2000u);
  for (const Outgoing* m : taken) {
    EXPECT_EQ(m->bytes(), payload_for(m->id, 1 + m->id % 700)) << "message " << m->id;
    EXPECT_EQ(m->binary, m->id % 2 == 0);
  }
  q.drop_all(DropReason::closed);
  EXPECT_EQ(q.queued(), 0u);
  EXPECT_LE(q.held_capacity(), 64u * 1024);
  expect_invariants(q);
}

TEST(OutboundQueueAllocations, LargePayloadsReuseTheBuffersOfLargeMessagesThatLeft) {
  // The caller copies a large payload outside the queue's lock, into take_buffer(): with at most
  // two such messages in flight, a steady flow reuses the same two buffers.
  OutboundQueue q;
  std::vector<const Outgoing*> taken;
  std::vector<Event> events;
  taken.reserve(8);
  events.reserve(8);
  const std::string payload(1024 * 1024, 'L');
  MessageId id = 0;
  std::vector<const char*> buffers;
  buffers.reserve(256);
  const auto cycle = [&] {
    for (int i = 0; i < 2; ++i) {
      Outgoing m;
      m.id = ++id;
      m.binary = true;
      m.payload = q.take_buffer(payload.size());
      m.payload.assign(payload);
      buffers.push_back(m.payload.data());
      q.push(std::move(m), at(0), true);
    }
    taken.clear();
    q.take_ready(kUnlimited, at(0), taken);
    for (const Outgoing* m : taken) EXPECT_EQ(m->payload, payload);
    while (q.in_flight() > 0) q.on_sent(taken[taken.size() - q.in_flight()]->id);
    events.clear();
    q.take_events(events);
  };
  for (int i = 0; i < 10; ++i) cycle();
  const std::size_t before = g_allocations.load();
  for (int i = 0; i < 100; ++i) cycle();
  EXPECT_EQ(g_allocations.load() - before, 0u);
  // Every later message used one of the first two buffers.
  for (std::size_t i = 2; i < buffers.size(); ++i) {
    EXPECT_TRUE(buffers[i] == buffers[0] || buffers[i] == buffers[1]) << "message " << i;
  }
  // Small sizes and sizes beyond what is kept get nothing.
  EXPECT_EQ(q.take_buffer(1000).capacity(), std::string().capacity());
  EXPECT_EQ(q.take_buffer(OutboundQueue::kLargeSpareBytes + 1).capacity(), std::string().capacity());
  expect_invariants(q);
}

TEST(OutboundQueueAllocations, KeptLargeBuffersStayWithinTheirBound) {
  OutboundQueue q;
  std::vector<const Outgoing*> taken;
  const auto send = [&](std::size_t size) {
    Outgoing m;
    m.id = 1;
    m.payload.assign(size, 'x');
    q.push(std::move(m), at(0), true);
    taken.clear();
    q.take_ready(kUnlimited, at(0), taken);
    q.on_sent(1);
  };
  // 1.5 MiB kept; a 1 MiB buffer would break the 2 MiB bound, a 256 KiB one fits beside it.
  send(1536 * 1024);
  send(1024 * 1024);
  send(256 * 1024);
  EXPECT_GE(q.take_buffer(1536 * 1024).capacity(), 1536u * 1024);
  EXPECT_GE(q.take_buffer(200 * 1024).capacity(), 256u * 1024);
  EXPECT_EQ(q.take_buffer(200 * 1024).capacity(), std::string().capacity());
  // A payload larger than the bound is never kept.
  send(OutboundQueue::kLargeSpareBytes + 1);
  EXPECT_EQ(q.take_buffer(OutboundQueue::kLargeSpareMin).capacity(), std::string().capacity());
}

// push_now, on_sent_unreported ---------------------------------------------------------------

TEST(OutboundQueueNow, GoesInFlightOnlyWhereTakeReadyWouldHandItOverNext) {
  OutboundQueue q;
  // Nothing waits, nothing in flight: in flight at once, even above the budget.
  PushResult r = q.push_now(1, false, payload_for(1, 100), std::nullopt, at(0), 10);
  EXPECT_EQ(r.outcome, PushOutcome::in_flight);
  EXPECT_EQ(q.in_flight(), 1u);
  EXPECT_EQ(q.waiting(), 0u);
  // Within the budget, behind one in flight.
  r = q.push_now(2, true, payload_for(2, 10), std::nullopt, at(0), 10);
  EXPECT_EQ(r.outcome, PushOutcome::in_flight);
  // Over the budget with something in flight: it waits.
  r = q.push_now(3, false, payload_for(3, 11), std::nullopt, at(0), 10);
  EXPECT_EQ(r.outcome, PushOutcome::waiting);
  // Something waits: the next waits behind it, whatever the budget, so the order holds.
  r = q.push_now(4, false, payload_for(4, 1), std::nullopt, at(0), kUnlimited);
  EXPECT_EQ(r.outcome, PushOutcome::waiting);
  EXPECT_TRUE(q.take_events().empty());  // ready: no queued events
  EXPECT_EQ(q.bytes(), 122u);
  expect_invariants(q);

  const auto taken = q.take_ready(kUnlimited, at(0));
  EXPECT_EQ(ids(taken), (std::vector<MessageId>{3, 4}));
  for (MessageId id = 1; id <= 4; ++id) EXPECT_TRUE(q.on_sent(id));
  EXPECT_EQ(q.sent(), 4u);
  EXPECT_EQ(q.bytes(), 0u);
  expect_invariants(q);
}

TEST(OutboundQueueNow, KeepsTheLimitsTheBytesAndTheRequeue) {
  OutboundQueue q(limits(2, kUnlimited, OverflowPolicy::reject));
  EXPECT_EQ(q.push_now(1, false, "one", at(5), at(0), kUnlimited).outcome, PushOutcome::in_flight);
  EXPECT_EQ(q.push_now(2, false, "two", std::nullopt, at(0), kUnlimited).outcome,
            PushOutcome::in_flight);
  const PushResult full = q.push_now(3, false, "three", std::nullopt, at(0), kUnlimited);
  EXPECT_EQ(full.outcome, PushOutcome::rejected);
  EXPECT_EQ(full.error, errc::queue_full);
  // In flight messages do not expire.
  q.expire(at(10));
  EXPECT_EQ(q.in_flight(), 2u);
  // A lost connection sends them back to wait, in order, with their bytes; waiting again, the
  // first one expires. (The third was refused: its overflow event came first.)
  q.on_transport_lost();
  const auto taken = q.take_ready(kUnlimited, at(10));
  ASSERT_EQ(ids(taken), std::vector<MessageId>{2});
  EXPECT_EQ(taken[0]->bytes(), "two");
  EXPECT_EQ(q.take_events(), (std::vector<Event>{dropped(3, 5, DropReason::overflow, 2),
                                                 dropped(1, 3, DropReason::ttl, 1)}));
  // A payload above kHeldMax is accepted the same way, in a string of its own.
  OutboundQueue big;
  const std::string large(OutboundQueue::kHeldMax + 1, 'L');
  EXPECT_EQ(big.push_now(1, true, large, std::nullopt, at(0), 0).outcome, PushOutcome::waiting);
  EXPECT_EQ(ids(big.take_ready(kUnlimited, at(0))), std::vector<MessageId>{1});
  expect_invariants(q);
  expect_invariants(big);
}

TEST(OutboundQueueNow, UnreportedSendsCountTheirBytesWithoutEvents) {
  OutboundQueue q;
  for (MessageId id = 1; id <= 3; ++id)
    q.push(id, false, payload_for(id, id), std::nullopt, at(0), true);
  q.take_ready(kUnlimited, at(0));
  EXPECT_FALSE(q.on_sent_unreported(2));  // not the oldest in flight
  EXPECT_TRUE(q.on_sent_unreported(1));
  EXPECT_TRUE(q.on_sent(2));
  EXPECT_TRUE(q.on_sent_unreported(3));
  EXPECT_EQ(q.take_events(), (std::vector<Event>{sent(2, 2, 1)}));
  EXPECT_EQ(q.take_unreported_bytes(), 4u);
  EXPECT_EQ(q.take_unreported_bytes(), 0u);
  EXPECT_EQ(q.sent(), 3u);
  EXPECT_EQ(q.bytes(), 0u);
  expect_invariants(q);
}

}  // namespace
}  // namespace tether::core
