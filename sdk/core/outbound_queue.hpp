#pragma once

// The outbound queue as a sans-IO component: every message accepted by push() ends in exactly one
// `sent` or `dropped` event. Inputs carry an explicit `now`; the queue never reads a clock, never
// touches a socket and never starts a thread. The caller hands messages to its transport through
// take_ready(), reports what the socket fully took with on_sent(), and reports the end of a
// connection with on_transport_lost().
//
// A message is either *waiting* (not yet handed to a transport) or *in flight* (handed to the
// transport, not yet fully taken by the socket). Both count against QueueLimits: the contract's
// `--queue-max` bounds every message not yet taken by the socket.
//
// Order: in flight messages are always older than waiting ones, and both lines are in push order.
// When a connection ends, the in flight messages go back to the front of the waiting line in their
// original order, so they go out again first, once each; a message reported sent never comes back.
//
// Invariants, after every call:
//   accepted() == sent() + dropped() + queued()
//   queued()   == waiting() + in_flight()
//   bytes()    == the payload bytes of the queued messages
//   queued() <= limits().max_messages and bytes() <= limits().max_bytes

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/block_cache.hpp"
#include "tether/error.hpp"
#include "tether/events.hpp"
#include "tether/options.hpp"

namespace tether::core {

using TimePoint = std::chrono::steady_clock::time_point;

// The public enums (events.hpp, options.hpp): "overflow", "ttl", "closed" are the names of the
// contract's `dropped` event.
using tether::DropReason;
using tether::OverflowPolicy;
using tether::to_string;

struct QueueLimits {
  std::size_t max_messages = 10000;           ///< Waiting + in flight messages.
  std::size_t max_bytes = 16u * 1024 * 1024;  ///< Payload bytes of waiting + in flight messages.
  OverflowPolicy overflow = OverflowPolicy::reject;
};

struct Outgoing {
  MessageId id = 0;  ///< The caller's id: unique, increasing.
  bool binary = false;
  /// The payload, for a message pushed with it. Empty for one pushed by view, whose bytes the queue
  /// keeps in blocks of its own (see held and bytes()).
  std::string payload;
  /// The queue's copy of a payload pushed by view; empty otherwise.
  std::string_view held;
  /// The message is dropped (ttl) once `now >= *expires_at` while it waits. In flight messages
  /// do not expire: the socket is already writing them.
  std::optional<TimePoint> expires_at;
  /// Set when `payload` is stored masked with this key (RFC 6455 5.3, client frames), ready to be
  /// written as one frame as it is. The queue only carries it (see set_on_requeue).
  std::optional<std::array<std::uint8_t, 4>> mask_key;

  /// The payload's bytes, wherever they are kept.
  std::string_view bytes() const noexcept { return held.data() != nullptr ? held : payload; }
};

enum class PushOutcome {
  waiting,    ///< Accepted; it waits for take_ready().
  dropped,    ///< Accepted and dropped at once (drop_newest overflow, or already expired).
  rejected,   ///< Refused (reject overflow): not accepted, error queue_full.
  in_flight,  ///< Accepted and handed to the transport at once (push_now()).
};

struct PushResult {
  PushOutcome outcome = PushOutcome::waiting;
  errc error{};  ///< queue_full when rejected.

  /// Counted in accepted(): the message ends (or has ended) in exactly one sent or dropped event.
  bool accepted() const noexcept { return outcome != PushOutcome::rejected; }
  explicit operator bool() const noexcept { return accepted(); }
};

class OutboundQueue {
 public:
  /// What happened to a message, in order. `depth_after` is queued() (waiting + in flight) right
  /// after the event.
  struct Event {
    enum Kind { queued, sent, dropped };
    Kind kind = queued;
    MessageId id = 0;
    std::size_t bytes = 0;             ///< The message's payload size.
    DropReason reason = DropReason{};  ///< For `dropped` only.
    std::size_t depth_after = 0;
  };

  explicit OutboundQueue(QueueLimits limits = {});
  ~OutboundQueue();
  OutboundQueue(const OutboundQueue&) = delete;
  OutboundQueue& operator=(const OutboundQueue&) = delete;

  /// Payloads pushed by view up to this size are kept in the queue's blocks.
  static constexpr std::size_t kHeldMax = 1024;

  // Inputs -------------------------------------------------------------------------------------

  /// Offers a new message, in any state. `ready` tells whether the client is ready to send (open,
  /// and authenticated when auth is on). A message that waits because the client is not ready is
  /// reported with a `queued` event; when ready, no `queued` event is emitted: the message only
  /// waits for the caller's next take_ready() (or for transport backpressure, which is not the
  /// contract's "not ready").
  ///
  /// When the message does not fit (count or bytes):
  ///  - reject: it is refused (`rejected`, queue_full) and reported with a `dropped` (overflow)
  ///    event; it is not counted in accepted() or dropped() but in rejected().
  ///  - drop_newest: it is accepted and dropped at once (`dropped` overflow).
  ///  - drop_oldest: the oldest waiting messages are evicted (`dropped` overflow each, oldest
  ///    first) until it fits. In flight messages are never evicted; when the message would not fit
  ///    even with no message waiting (in flight messages fill the bounds, or the message alone is
  ///    larger than max_bytes), nothing is evicted and the new message is dropped (overflow).
  /// A message already expired (`now >= *expires_at`) is accepted and dropped (ttl) at once.
  PushResult push(Outgoing message, TimePoint now, bool ready);
  /// The same for a payload given by view. One of at most kHeldMax bytes is copied into blocks
  /// the queue owns, one after the other: no allocation per message, and a backlog's payloads lie
  /// in a few contiguous blocks, each released (or kept for reuse) once its messages all left.
  /// A larger one is copied into a string of its own (Outgoing::payload).
  PushResult push(MessageId id, bool binary, std::string_view payload,
                  const std::optional<TimePoint>& expires_at, TimePoint now, bool ready);
  /// The same for a client ready to send, with the message put in flight at once when
  /// take_ready() would hand it over next: nothing waits, and its payload fits `flight_budget`
  /// (or nothing is in flight). The outcome is then `in_flight` and the caller writes the
  /// message (whose bytes are the payload it gave) without a take_ready(); otherwise it is that of
  /// push().
  PushResult push_now(MessageId id, bool binary, std::string_view payload,
                      const std::optional<TimePoint>& expires_at, TimePoint now,
                      std::size_t flight_budget);
  /// A string with room for `size` bytes when the queue kept one from a large message that left
  /// it (at least kLargeSpareMin bytes), else an empty string: a steady flow of large messages
  /// copied by the caller (outside the queue's lock) then reuses the same few buffers instead of
  /// allocating and faulting in fresh pages for each. A kept string keeps its old length and
  /// bytes, so resizing it down to the new payload's size writes nothing.
  std::string take_buffer(std::size_t size) noexcept;
  /// Large buffers are kept from this capacity up, at most kLargeSpareBytes together (in at most
  /// two buffers).
  static constexpr std::size_t kLargeSpareMin = 64 * 1024;
  static constexpr std::size_t kLargeSpareBytes = 2 * 1024 * 1024;

  /// Hands the oldest waiting messages to the transport, in order, while their payload bytes
  /// together stay within `budget_bytes`; when nothing is in flight, the first message goes even
  /// if it is larger than the budget (so a budget of 0 means "one message when idle"). Expired
  /// messages met on the way are dropped (ttl) instead. Taken messages are in flight and appended
  /// to `out`; the pointers stay valid until that message is reported by on_sent(), or until
  /// on_transport_lost() or drop_all(). Returns the number of messages taken.
  std::size_t take_ready(std::size_t budget_bytes, TimePoint now,
                         std::vector<const Outgoing*>& out);
  std::vector<const Outgoing*> take_ready(std::size_t budget_bytes, TimePoint now);

  /// The socket took every byte of the oldest in flight message: it is sent. Returns false, and
  /// changes nothing, when `id` is not the oldest in flight message.
  bool on_sent(MessageId id);
  /// The same without a `sent` event (nobody listens for it): the message's bytes are added to
  /// take_unreported_bytes() instead.
  bool on_sent_unreported(MessageId id);
  /// Payload bytes sent by on_sent_unreported() since the last call.
  std::size_t take_unreported_bytes() noexcept {
    const std::size_t bytes = unreported_bytes_;
    unreported_bytes_ = 0;
    return bytes;
  }

  /// Called for each in flight message that on_transport_lost() sends back to the waiting line,
  /// oldest first: where a payload is stored masked (Outgoing::mask_key), the caller masks it
  /// again with a fresh key there, as every frame on a new connection needs one.
  void set_on_requeue(std::function<void(Outgoing&)> hook) { on_requeue_ = std::move(hook); }

  /// The connection ended: every in flight message goes back to the front of the waiting line in
  /// its original order, to be sent again after the reconnect, once. (Messages the socket fully
  /// took have been reported with on_sent() before.) No event: the depth does not change.
  void on_transport_lost();
  /// The same, checking the transport's view: `unsent_ids` should list exactly the in flight
  /// messages, oldest first. Returns false when it does not; every in flight message is requeued
  /// either way (a message is never lost because of a bookkeeping mismatch).
  bool on_transport_lost(const std::vector<MessageId>& unsent_ids);

  /// Drops (ttl) every waiting message with `now >= *expires_at`, earliest expiry first (ties in
  /// queue order).
  void expire(TimePoint now);

  /// The client closed or gave up: every in flight, then every waiting message, oldest first, is
  /// dropped with `reason`.
  void drop_all(DropReason reason = DropReason::closed);
  /// Drops every waiting message (in flight ones stay: the socket may still take them).
  void drop_waiting(DropReason reason = DropReason::closed);

  // Outputs ------------------------------------------------------------------------------------

  /// The earliest expiry among waiting messages: call expire() when now reaches it.
  std::optional<TimePoint> next_expiry() const;

  /// The events since the last take, in order.
  std::vector<Event> take_events();
  /// The same, appended to `out` (reusing its capacity, and the queue's own).
  void take_events(std::vector<Event>& out);

  // Accounting ---------------------------------------------------------------------------------

  std::uint64_t accepted() const noexcept { return accepted_; }
  std::uint64_t sent() const noexcept { return sent_; }
  std::uint64_t dropped() const noexcept { return dropped_; }
  /// Refused by the reject policy (each also reported with a dropped event).
  std::uint64_t rejected() const noexcept { return rejected_; }
  /// Waiting + in flight: the messages not yet taken by the socket.
  std::size_t queued() const noexcept { return waiting_.size() + in_flight_.size(); }
  std::size_t waiting() const noexcept { return waiting_.size(); }
  std::size_t in_flight() const noexcept { return in_flight_.size(); }
  /// Payload bytes of waiting + in flight messages.
  std::size_t bytes() const noexcept { return bytes_; }
  const QueueLimits& limits() const noexcept { return limits_; }
  /// Memory of the blocks holding payloads pushed by view (empty kept ones excluded): at most
  /// about twice their payload bytes plus four blocks, even when expiries leave holes.
  std::size_t held_capacity() const noexcept { return blocks_held_ * Block::kBytes; }

 private:
  // Payload bytes of messages pushed by view, appended in push order. `live` counts the queued
  // messages whose bytes are in the block.
  struct Block {
    static constexpr std::size_t kBytes = 64 * 1024;
    std::size_t used = 0;
    std::size_t live = 0;
    char bytes[kBytes];
  };
  struct Entry {
    Entry(Outgoing&& m, std::uint64_t s) noexcept : message(std::move(m)), seq(s) {}
    Outgoing message;
    std::uint64_t seq = 0;  // push order; the waiting line is sorted by it
    Block* block = nullptr;  // holds message.held
  };
  struct Deadline {
    TimePoint at;
    std::uint64_t seq = 0;
  };

  using Line = std::deque<Entry, protocol::RecyclingAllocator<Entry>>;

  bool fits(std::size_t count, std::size_t bytes, std::size_t size) const noexcept;
  /// Admits a message of `size` payload bytes (`view`: to be copied into a block once admitted).
  /// With a `flight_budget`, see push_now().
  PushResult admit(Outgoing&& message, const std::string_view* view, TimePoint now, bool ready,
                   const std::size_t* flight_budget = nullptr);
  /// Takes the oldest in flight message (`id`) out as sent; false when it is not that one.
  bool take_sent(MessageId id, std::size_t& size);
  /// Keeps the buffer of a large payload that left the queue for a later push (within bounds).
  void recycle(std::string&& payload) noexcept;
  /// An entry left the queue: its payload's buffer is recycled and its block released.
  void release(Entry& entry) noexcept;
  /// Makes the current block one with room for `size` bytes (a new one when it is full).
  void make_room(std::size_t size);
  /// Copies `payload` into the current block for `entry` (make_room made room for it).
  void hold(Entry& entry, std::string_view payload) noexcept;
  /// A block no message holds any more: kept for reuse or freed.
  void retire(Block* block) noexcept;
  /// Moves the waiting messages' payloads into fresh blocks once held blocks are mostly empty
  /// space (left by expired messages).
  void compact_if_sparse();
  void emit(Event::Kind kind, MessageId id, std::size_t bytes, DropReason reason = DropReason{});
  void drop_waiting_front(DropReason reason);
  void requeue_in_flight();
  void add_deadline(const Entry& entry);
  Line::const_iterator find_waiting(std::uint64_t seq) const;
  void prune_deadlines();

  // Empty blocks kept for reuse, beyond the current one.
  static constexpr std::size_t kSpareBlocks = 4;

  QueueLimits limits_;
  std::shared_ptr<protocol::BlockCache> blocks_;  // shared by both lines: entries move between them
  Line in_flight_;
  Line waiting_;
  Block* block_ = nullptr;       // the block pushed payloads go to (owned, even while live is 0)
  std::vector<Block*> spare_;    // empty blocks (owned); the others are owned by their live entries
  std::size_t blocks_held_ = 0;  // the current block and those live entries hold
  std::size_t held_bytes_ = 0;   // payload bytes in them
  std::string large_spare_[2];       // empty (no capacity) when not holding a kept buffer
  std::vector<Deadline> deadlines_;  // min-heap of waiting expiries; stale entries pruned lazily
  std::vector<Event> events_;
  std::function<void(Outgoing&)> on_requeue_;
  std::uint64_t next_seq_ = 0;
  std::size_t bytes_ = 0;  // waiting + in flight
  std::size_t in_flight_bytes_ = 0;
  std::size_t unreported_bytes_ = 0;
  std::uint64_t accepted_ = 0;
  std::uint64_t sent_ = 0;
  std::uint64_t dropped_ = 0;
  std::uint64_t rejected_ = 0;
};

}  // namespace tether::core
