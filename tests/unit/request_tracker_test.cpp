// The request tracker, driven by hand with a fake clock: out-of-order responses, 10,000
// concurrent requests, timeouts, cancellation, drops by the queue, connection loss with and
// without retry, unknown and duplicate responses.

#include "core/request_tracker.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace tether::core {
namespace {

using std::chrono::milliseconds;

TimePoint at(long long ms) { return TimePoint{} + milliseconds(ms); }

TrackedRequest request(const std::string& id, MessageId message, std::optional<long long> deadline_ms,
                       bool retry = false) {
  TrackedRequest r;
  r.id = id;
  r.message = message;
  r.text = "{\"id\":\"" + id + "\"}";
  if (deadline_ms) r.deadline = at(*deadline_ms);
  r.retry_on_reconnect = retry;
  return r;
}

std::vector<std::string> ids_of(const std::vector<EndedRequest>& ended) {
  std::vector<std::string> out;
  for (const auto& e : ended) out.push_back(e.request.id);
  return out;
}

TEST(RequestTracker, OutOfOrderResponsesResolveTheRightRequests) {
  RequestTracker t;
  t.add(request("1", 10, 10000));
  t.add(request("2", 11, 10000));
  t.add(request("3", 12, 10000));
  auto r3 = t.on_response("3");
  ASSERT_TRUE(r3);
  EXPECT_EQ(r3->message, 12u);
  auto r1 = t.on_response("1");
  ASSERT_TRUE(r1);
  EXPECT_EQ(r1->message, 10u);
  EXPECT_EQ(t.pending(), 1u);
  EXPECT_EQ(t.on_response("2")->message, 11u);
  EXPECT_TRUE(t.empty());
  EXPECT_FALSE(t.next_deadline());
}

TEST(RequestTracker, TenThousandConcurrentRequestsAnsweredInRandomOrder) {
  RequestTracker t;
  constexpr int kCount = 10000;
  for (int i = 0; i < kCount; ++i) {
    t.add(request(std::to_string(i + 1), static_cast<MessageId>(i + 1), 10000 + i));
  }
  EXPECT_EQ(t.pending(), static_cast<std::size_t>(kCount));
  std::vector<int> order(kCount);
  for (int i = 0; i < kCount; ++i) order[static_cast<std::size_t>(i)] = i + 1;
  std::mt19937 rng(42);
  std::shuffle(order.begin(), order.end(), rng);
  for (int id : order) {
    auto r = t.on_response(std::to_string(id));
    ASSERT_TRUE(r) << id;
    ASSERT_EQ(r->message, static_cast<MessageId>(id));
  }
  EXPECT_TRUE(t.empty());
  EXPECT_EQ(t.unmatched(), 0u);
  EXPECT_TRUE(t.expire(at(1'000'000)).empty());
}

TEST(RequestTracker, UnknownAndDuplicateResponsesAreCountedNotResolved) {
  RequestTracker t;
  t.add(request("1", 1, 1000));
  EXPECT_FALSE(t.on_response("nope"));
  EXPECT_TRUE(t.on_response("1"));
  EXPECT_FALSE(t.on_response("1")) << "already answered";
  EXPECT_EQ(t.unmatched(), 2u);
}

TEST(RequestTracker, DeadlinesExpireInOrderAndExactlyOnTime) {
  RequestTracker t;
  t.add(request("late", 1, 300));
  t.add(request("early", 2, 100));
  t.add(request("none", 3, std::nullopt));
  t.add(request("same", 4, 100));
  EXPECT_EQ(t.next_deadline(), at(100));
  EXPECT_TRUE(t.expire(at(99)).empty());
  auto ended = t.expire(at(100));
  EXPECT_EQ(ids_of(ended), (std::vector<std::string>{"early", "same"}));
  for (const auto& e : ended) EXPECT_EQ(e.error, errc::timeout);
  EXPECT_EQ(t.next_deadline(), at(300));
  EXPECT_EQ(ids_of(t.expire(at(1000))), std::vector<std::string>{"late"});
  EXPECT_FALSE(t.next_deadline());
  EXPECT_EQ(t.pending(), 1u) << "no deadline: waits forever";
  EXPECT_FALSE(t.on_response("late")) << "a response after the timeout is unmatched";
}

TEST(RequestTracker, CancelEndsOnceAndRemovesTheDeadline) {
  RequestTracker t;
  t.add(request("1", 1, 100));
  auto c = t.cancel("1");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->error, errc::cancelled);
  EXPECT_FALSE(t.cancel("1"));
  EXPECT_FALSE(t.next_deadline());
  EXPECT_TRUE(t.expire(at(200)).empty());
}

TEST(RequestTracker, DroppedMessagesEndTheirRequests) {
  RequestTracker t;
  t.add(request("1", 7, 100));
  t.add(request("2", 8, 100));
  EXPECT_FALSE(t.on_dropped(99, errc::timeout)) << "not a request's message";
  auto d = t.on_dropped(8, errc::queue_full);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->request.id, "2");
  EXPECT_EQ(d->error, errc::queue_full);
  EXPECT_EQ(t.pending(), 1u);
}

TEST(RequestTracker, ConnectionLossFailsWrittenRequestsOnly) {
  RequestTracker t;
  t.add(request("written", 1, 10000));
  t.add(request("queued", 2, 10000));
  t.on_written(1, at(5));
  auto lost = t.on_connection_lost();
  ASSERT_EQ(ids_of(lost), std::vector<std::string>{"written"});
  EXPECT_EQ(lost[0].error, errc::connection_lost);
  EXPECT_EQ(lost[0].request.written_at, at(5));
  EXPECT_EQ(t.pending(), 1u) << "the queued request waits for the next connection";
  t.on_written(2, at(50));
  EXPECT_TRUE(t.on_response("queued"));
}

TEST(RequestTracker, RetryableRequestsComeBackOnceWithTheirIdsInOrder) {
  RequestTracker t;
  t.add(request("a", 1, 10000, /*retry=*/true));
  t.add(request("b", 2, 10000, /*retry=*/false));
  t.add(request("c", 3, 10000, /*retry=*/true));
  t.on_written(1, at(1));
  t.on_written(2, at(1));
  t.on_written(3, at(1));
  EXPECT_EQ(ids_of(t.on_connection_lost()), std::vector<std::string>{"b"});
  auto resend = t.take_resend();
  ASSERT_EQ(resend.size(), 2u);
  EXPECT_EQ(resend[0].id, "a");
  EXPECT_EQ(resend[1].id, "c");
  EXPECT_EQ(resend[0].text, "{\"id\":\"a\"}");
  EXPECT_TRUE(t.take_resend().empty()) << "handed back once";
  t.on_resent("a", at(100));
  t.on_resent("c", at(100));
  // Lost again: still retryable.
  EXPECT_TRUE(t.on_connection_lost().empty());
  EXPECT_EQ(t.take_resend().size(), 2u);
  // The deadline still runs across reconnects.
  EXPECT_EQ(ids_of(t.expire(at(10000))), (std::vector<std::string>{"a", "c"}));
}

TEST(RequestTracker, FailAllEndsEverythingInOrder) {
  RequestTracker t;
  for (int i = 0; i < 5; ++i) t.add(request(std::to_string(i), static_cast<MessageId>(i + 1), 100));
  auto all = t.fail_all(errc::closed);
  EXPECT_EQ(ids_of(all), (std::vector<std::string>{"0", "1", "2", "3", "4"}));
  for (const auto& e : all) EXPECT_EQ(e.error, errc::closed);
  EXPECT_TRUE(t.empty());
  EXPECT_FALSE(t.next_deadline());
}

TEST(RequestTracker, AnsweredRequestsLeaveNoDeadlineBehindAcrossManyRequests) {
  RequestTracker t;
  // 10,000 requests answered as they come, a few left pending: the next deadline is always the
  // earliest pending one, never an answered request's.
  std::vector<std::string> pending;
  for (int i = 0; i < 10000; ++i) {
    const std::string id = std::to_string(i);
    t.add(request(id, static_cast<MessageId>(i + 1), 1000 + i));
    if (i % 1000 == 7) {
      pending.push_back(id);
    } else {
      ASSERT_TRUE(t.on_response(id));
    }
  }
  EXPECT_EQ(t.pending(), pending.size());
  EXPECT_EQ(t.next_deadline(), at(1007));
  EXPECT_EQ(ids_of(t.expire(at(3007))), (std::vector<std::string>{"7", "1007", "2007"}));
  EXPECT_EQ(t.next_deadline(), at(4007));
  EXPECT_EQ(ids_of(t.expire(at(100000))),
            (std::vector<std::string>{"3007", "4007", "5007", "6007", "7007", "8007", "9007"}));
  EXPECT_FALSE(t.next_deadline());
}

TEST(RequestTracker, DeadlinesTakeMemoryForThePendingOnlyUnderASteadyFlow) {
  // A window of requests always pending, each answered as a new one goes out, the next deadline
  // read after every response (as the client re-arms its timer): the entries held stay a small
  // multiple of the window however many requests pass.
  RequestTracker t;
  constexpr int kWindow = 100;
  std::size_t most = 0;
  for (int i = 0; i < 100000; ++i) {
    t.add(request(std::to_string(i), static_cast<MessageId>(i + 1), 1000 + i));
    if (i >= kWindow) {
      ASSERT_TRUE(t.on_response(std::to_string(i - kWindow)));
      ASSERT_EQ(t.next_deadline(), at(1000 + i - kWindow + 1));
    }
    most = std::max(most, t.deadline_entries());
  }
  EXPECT_EQ(t.pending(), static_cast<std::size_t>(kWindow));
  EXPECT_LE(most, 2u * (kWindow + 1) + 64);
  EXPECT_EQ(ids_of(t.expire(at(1000 + 99999))).size(), static_cast<std::size_t>(kWindow));
}

TEST(RequestTracker, MixedDeadlinesExpireEarliestFirstAmongThePending) {
  // Deadlines in and out of order, most requests answered or cancelled along the way: what
  // expires is exactly the pending ones, by deadline, ties in add order.
  RequestTracker t;
  std::mt19937 rng(7);
  std::vector<std::pair<long long, int>> expected;  // (deadline, add order)
  for (int i = 0; i < 3000; ++i) {
    const long long deadline = (i % 3 == 0) ? 100000 + i : 100000 + (rng() % 5000);
    t.add(request(std::to_string(i), static_cast<MessageId>(i + 1), deadline));
    if (i % 4 == 0) {
      expected.emplace_back(deadline, i);
    } else if (i % 2 == 0) {
      ASSERT_TRUE(t.cancel(std::to_string(i)));
    } else {
      ASSERT_TRUE(t.on_response(std::to_string(i)));
    }
  }
  std::sort(expected.begin(), expected.end());
  std::vector<std::string> want;
  for (const auto& [deadline, i] : expected) want.push_back(std::to_string(i));
  EXPECT_EQ(t.next_deadline(), at(expected.front().first));
  std::vector<std::string> got;
  for (long long now = 100000; now <= 110000; now += 250) {
    for (auto& id : ids_of(t.expire(at(now)))) got.push_back(id);
  }
  EXPECT_EQ(got, want);
  EXPECT_TRUE(t.empty());
  EXPECT_FALSE(t.next_deadline());
}

TEST(RequestTracker, AnIdUsedAgainKeepsOnlyItsNewDeadline) {
  RequestTracker t;
  t.add(request("x", 1, 100));
  ASSERT_TRUE(t.on_response("x"));
  t.add(request("x", 2, 500));
  EXPECT_EQ(t.next_deadline(), at(500));
  EXPECT_TRUE(t.expire(at(100)).empty());
  EXPECT_EQ(ids_of(t.expire(at(500))), std::vector<std::string>{"x"});
}

TEST(RequestTracker, TheResultCallbackTravelsWithTheRequest) {
  RequestTracker t;
  int called = 0;
  TrackedRequest r = request("1", 1, 100);
  r.on_result = [&called](const Response&) { ++called; };
  t.add(std::move(r));
  auto ended = t.cancel("1");
  ASSERT_TRUE(ended);
  EXPECT_TRUE(static_cast<bool>(ended->request.on_result));
  EXPECT_EQ(called, 0);
}

TEST(RequestTracker, AnEndedRequestKeepsNothingInItsSlot) {
  // What a callback captured is released with the request, however it ends, and a reused slot
  // answers only to its new id and message.
  RequestTracker t;
  auto captured = std::make_shared<int>(0);
  for (int round = 0; round < 3; ++round) {
    TrackedRequest r = request("a" + std::to_string(round), 10 + round, 100, true);
    r.on_result = [captured](const Response&) {};
    t.add(std::move(r));
    ASSERT_EQ(captured.use_count(), 2);
    if (round == 0) {
      auto answered = t.on_response("a0");
      ASSERT_TRUE(answered);
      EXPECT_EQ(answered->text, "{\"id\":\"a0\"}");
      EXPECT_EQ(answered->message, 10u);
    } else if (round == 1) {
      ASSERT_TRUE(t.cancel("a1"));
    } else {
      ASSERT_TRUE(t.on_dropped(12, errc::queue_full));
    }
    EXPECT_EQ(captured.use_count(), 1) << round;
  }
  t.add(request("b", 20, 100));
  EXPECT_FALSE(t.on_response("a0"));
  EXPECT_FALSE(t.on_response("a2"));
  EXPECT_FALSE(t.on_dropped(12, errc::queue_full));
  t.on_written(20, at(5));
  auto b = t.on_response("b");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->written_at, at(5));
  EXPECT_TRUE(b->written);
  EXPECT_EQ(t.unmatched(), 2u);
  EXPECT_TRUE(t.empty());
}

}  // namespace
}  // namespace tether::core
