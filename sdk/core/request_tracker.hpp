#pragma once

// Request/response correlation as a sans-IO component: the requests a client is waiting on, by
// id, with their deadlines. Inputs carry an explicit `now`; it never reads a clock. The caller
// sends each request as a message of the outbound queue and tells the tracker what happened to
// that message (written by the socket, dropped) and to the connection (lost, ready again); the
// tracker says which requests end and how.
//
// A request is *waiting* until the socket has taken its message, then *written*. It ends exactly
// once: a response (or remote error) with its id, its deadline, cancel(), the loss of the
// connection after it was written (unless it may be retried), its message being dropped by the
// queue, or fail_all(). A retryable request written before a loss is kept and handed back by
// take_resend() to go out again, with the same id, on the next ready connection.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tether/error.hpp"
#include "tether/events.hpp"

namespace tether {
struct Response;
}  // namespace tether

namespace tether::core {

using TimePoint = std::chrono::steady_clock::time_point;

struct TrackedRequest {
  std::string id;
  MessageId message = 0;  ///< The queue message carrying it (0 once re-sent outside the queue).
  std::string text;       ///< The encoded request (kept for a retry; may be empty otherwise).
  /// Who gets the result; carried along, never called by the tracker.
  std::function<void(const Response&)> on_result;
  std::optional<TimePoint> deadline;
  bool retry_on_reconnect = false;
  bool written = false;
  TimePoint added_at{};
  std::optional<TimePoint> written_at;  ///< The last time the socket took it.
};

/// How a request ended without a response.
struct EndedRequest {
  TrackedRequest request;
  errc error{};  ///< timeout, cancelled, connection_lost, queue_full, closed
};

class RequestTracker {
 public:
  /// Tracks a new request. Its id must not be pending.
  void add(TrackedRequest request);

  /// The socket took the message carrying a request (no effect for other messages).
  void on_written(MessageId message, TimePoint now);
  /// A re-sent request was handed to the connection (outside the queue): it counts as written.
  void on_resent(const std::string& id, TimePoint now);

  /// A response with `id` arrived: the request ends (returned). nullopt when no request with that
  /// id is pending (unknown, or already answered, timed out or cancelled): counted in unmatched().
  std::optional<TrackedRequest> on_response(const std::string& id);

  /// The caller gave up on the request.
  std::optional<EndedRequest> cancel(const std::string& id);

  /// The queue dropped the message carrying a request before the socket took it: the request
  /// ends with `error` (timeout for a ttl drop, queue_full for overflow, closed when the client
  /// closed).
  std::optional<EndedRequest> on_dropped(MessageId message, errc error);

  /// Every request whose deadline is <= now ends with `timeout`, earliest first.
  std::vector<EndedRequest> expire(TimePoint now);

  /// The connection ended. Written requests end with `connection_lost`, except retryable ones,
  /// which wait for take_resend(). Requests not yet written wait on (their message is still in
  /// the queue).
  std::vector<EndedRequest> on_connection_lost();

  /// The retryable requests to send again now, oldest first (the connection is ready).
  std::vector<TrackedRequest> take_resend();

  /// The client finished: every pending request ends with `error`.
  std::vector<EndedRequest> fail_all(errc error);

  /// The earliest deadline of a pending request.
  std::optional<TimePoint> next_deadline() const;
  std::size_t pending() const noexcept { return pending_; }
  bool empty() const noexcept { return pending_ == 0; }
  std::uint64_t unmatched() const noexcept { return unmatched_; }
  /// The deadline entries held, those of ended requests included: O(pending) (the memory the
  /// deadlines take).
  std::size_t deadline_entries() const noexcept { return fifo_.size() + out_of_order_.size(); }

 private:
  // Pending requests live in slots (reused once they end) found through two open-addressing
  // indexes, by id and by queue message: no allocation per request once warm, and lookups that
  // touch one or two cache lines.
  struct Entry {
    TrackedRequest request;
    std::uint64_t seq = 0;      // add order
    std::uint64_t id_hash = 0;  // hash_id(request.id)
    bool used = false;
    bool resend = false;  // waiting for take_resend()
  };
  static constexpr std::uint32_t kNone = 0xFFFFFFFFu;

  /// Linear probing over a power-of-two table of (hash, slot); deletion shifts back, so there
  /// are no tombstones.
  class Index {
   public:
    template <class Match>
    std::uint32_t find(std::uint64_t hash, Match&& match) const {
      if (size_ == 0) return kNone;
      for (std::size_t i = hash & mask_;; i = (i + 1) & mask_) {
        const Bucket& b = buckets_[i];
        if (b.slot == kNone) return kNone;
        if (b.hash == hash && match(b.slot)) return b.slot;
      }
    }
    void insert(std::uint64_t hash, std::uint32_t slot);
    /// Removes the bucket holding `slot` (found by its hash).
    void erase(std::uint64_t hash, std::uint32_t slot);

   private:
    struct Bucket {
      std::uint64_t hash = 0;
      std::uint32_t slot = kNone;
    };
    std::vector<Bucket> buckets_;
    std::size_t mask_ = 0;
    std::size_t size_ = 0;
  };

  // A request's deadline. Requests mostly share one timeout, so deadlines mostly arrive in
  // order: those go to a FIFO (O(1)), the others to a min-heap. Entries of requests that ended
  // stay until they reach the front (or the lists are compacted): ending a request costs
  // nothing here.
  struct Deadline {
    TimePoint at;
    std::uint64_t seq;
    std::uint32_t slot;
    bool before(const Deadline& other) const noexcept {
      return at != other.at ? at < other.at : seq < other.seq;
    }
    // std::push_heap keeps the greatest on top: the earliest deadline is the greatest.
    bool operator<(const Deadline& other) const noexcept { return other.before(*this); }
  };

  static std::uint64_t hash_id(std::string_view id) noexcept;
  static std::uint64_t hash_message(MessageId message) noexcept;
  std::uint32_t find_id(const std::string& id) const;
  std::uint32_t find_message(MessageId message) const;
  EndedRequest remove(std::uint32_t slot, errc error);
  /// Frees the slot of a request whose fields were moved out (or are not needed).
  void release(std::uint32_t slot);
  /// Whether a heap entry still belongs to a pending request.
  bool live(const Deadline& d) const noexcept {
    return slots_[d.slot].used && slots_[d.slot].seq == d.seq;
  }
  /// Drops ended requests' entries from the fronts.
  void prune() const;
  /// The earliest live deadline (after prune()), or nullptr.
  const Deadline* earliest() const;
  /// Removes the entry earliest() returned.
  void pop_earliest();
  /// Drops every ended request's entry once they are half of the entries held.
  void compact();
  /// The used slots in add order.
  std::vector<std::uint32_t> in_order() const;

  std::vector<Entry> slots_;
  std::vector<std::uint32_t> free_;
  std::size_t pending_ = 0;
  Index by_id_;
  Index by_message_;
  mutable std::vector<Deadline> fifo_;  // from fifo_head_, earliest first
  mutable std::size_t fifo_head_ = 0;
  mutable std::vector<Deadline> out_of_order_;  // a heap (std::push_heap order)
  std::uint64_t next_seq_ = 0;
  std::uint64_t unmatched_ = 0;
};

}  // namespace tether::core
