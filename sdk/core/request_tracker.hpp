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
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "tether/error.hpp"
#include "tether/events.hpp"

namespace tether::core {

using TimePoint = std::chrono::steady_clock::time_point;

struct TrackedRequest {
  std::string id;
  MessageId message = 0;  ///< The queue message carrying it (0 once re-sent outside the queue).
  std::string text;       ///< The encoded request (kept for a retry).
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

  std::optional<TimePoint> next_deadline() const;
  std::size_t pending() const noexcept { return requests_.size(); }
  bool empty() const noexcept { return requests_.empty(); }
  std::uint64_t unmatched() const noexcept { return unmatched_; }

 private:
  struct Entry {
    TrackedRequest request;
    std::uint64_t seq = 0;  // add order
    bool resend = false;    // waiting for take_resend()
  };
  using Map = std::unordered_map<std::string, Entry>;

  EndedRequest remove(Map::iterator it, errc error);

  Map requests_;
  std::unordered_map<MessageId, std::string> by_message_;
  std::map<std::pair<TimePoint, std::uint64_t>, std::string> deadlines_;
  std::uint64_t next_seq_ = 0;
  std::uint64_t unmatched_ = 0;
};

}  // namespace tether::core
