#include "core/outbound_queue.hpp"

#include <algorithm>
#include <cstring>
#include <utility>

namespace tether::core {

namespace {

// Orders the deadline heap so that its front is the earliest expiry (ties: the oldest message).
struct EarliestFirst {
  template <typename Deadline>
  bool operator()(const Deadline& a, const Deadline& b) const {
    return a.at > b.at || (a.at == b.at && a.seq > b.seq);
  }
};

bool expired(const Outgoing& message, TimePoint now) {
  return message.expires_at && now >= *message.expires_at;
}

}  // namespace

OutboundQueue::OutboundQueue(QueueLimits limits)
    : limits_(limits),
      blocks_(std::make_shared<protocol::BlockCache>()),
      in_flight_(Line::allocator_type(blocks_)),
      waiting_(Line::allocator_type(blocks_)) {
  spare_.reserve(kSpareBlocks);
}

OutboundQueue::~OutboundQueue() {
  // A block other than the current one is owned by the entries that still hold it.
  for (Line* line : {&in_flight_, &waiting_}) {
    for (Entry& entry : *line) release(entry);
  }
  delete block_;
  for (Block* block : spare_) delete block;
}

PushResult OutboundQueue::push(MessageId id, bool binary, std::string_view payload,
                               const std::optional<TimePoint>& expires_at, TimePoint now,
                               bool ready) {
  Outgoing message;
  message.id = id;
  message.binary = binary;
  message.expires_at = expires_at;
  if (payload.size() > kHeldMax) {
    message.payload.assign(payload.data(), payload.size());
    return admit(std::move(message), nullptr, now, ready);
  }
  return admit(std::move(message), &payload, now, ready);
}

PushResult OutboundQueue::push_now(MessageId id, bool binary, std::string_view payload,
                                   const std::optional<TimePoint>& expires_at, TimePoint now,
                                   std::size_t flight_budget) {
  if (payload.size() > kHeldMax) return push(id, binary, payload, expires_at, now, true);
  Outgoing message;
  message.id = id;
  message.binary = binary;
  message.expires_at = expires_at;
  return admit(std::move(message), &payload, now, true, &flight_budget);
}

PushResult OutboundQueue::push(Outgoing message, TimePoint now, bool ready) {
  message.held = {};
  return admit(std::move(message), nullptr, now, ready);
}

PushResult OutboundQueue::admit(Outgoing&& message, const std::string_view* view, TimePoint now,
                                bool ready, const std::size_t* flight_budget) {
  const std::size_t size = view != nullptr ? view->size() : message.payload.size();

  if (expired(message, now)) {
    ++accepted_;
    ++dropped_;
    emit(Event::dropped, message.id, size, DropReason::ttl);
    recycle(std::move(message.payload));
    return {PushOutcome::dropped, errc{}};
  }

  if (!fits(queued(), bytes_, size)) {
    switch (limits_.overflow) {
      case OverflowPolicy::reject:
        ++rejected_;
        emit(Event::dropped, message.id, size, DropReason::overflow);
        recycle(std::move(message.payload));
        return {PushOutcome::rejected, errc::queue_full};
      case OverflowPolicy::drop_oldest:
        // Evict only when that makes room: in flight messages stay, whatever happens.
        if (fits(in_flight_.size(), in_flight_bytes_, size)) {
          while (!fits(queued(), bytes_, size)) drop_waiting_front(DropReason::overflow);
          prune_deadlines();
          break;
        }
        [[fallthrough]];
      case OverflowPolicy::drop_newest:
        ++accepted_;
        ++dropped_;
        emit(Event::dropped, message.id, size, DropReason::overflow);
        recycle(std::move(message.payload));
        return {PushOutcome::dropped, errc{}};
    }
  }

  if (view != nullptr) make_room(size);  // before anything changes: it may allocate a block
  ++accepted_;
  bytes_ += size;
  // What take_ready() would hand over next goes in flight at once (see push_now()).
  const bool now_in_flight = flight_budget != nullptr && ready && waiting_.empty() &&
                             (in_flight_.empty() || size <= *flight_budget);
  Entry& entry =
      (now_in_flight ? in_flight_ : waiting_).emplace_back(std::move(message), next_seq_++);
  if (view != nullptr) hold(entry, *view);
  if (now_in_flight) {
    in_flight_bytes_ += size;
    return {PushOutcome::in_flight, errc{}};
  }
  add_deadline(entry);
  if (!ready) emit(Event::queued, entry.message.id, size);
  return {PushOutcome::waiting, errc{}};
}

std::size_t OutboundQueue::take_ready(std::size_t budget_bytes, TimePoint now,
                                      std::vector<const Outgoing*>& out) {
  const bool idle = in_flight_.empty();
  std::size_t taken = 0;
  std::size_t used = 0;
  while (!waiting_.empty()) {
    Entry& front = waiting_.front();
    if (expired(front.message, now)) {
      drop_waiting_front(DropReason::ttl);
      continue;
    }
    const std::size_t size = front.message.bytes().size();
    const bool first_while_idle = idle && taken == 0;
    if (!first_while_idle && (used > budget_bytes || size > budget_bytes - used)) break;
    used += size;
    in_flight_bytes_ += size;
    in_flight_.push_back(std::move(front));
    waiting_.pop_front();
    out.push_back(&in_flight_.back().message);
    ++taken;
  }
  prune_deadlines();
  return taken;
}

std::vector<const Outgoing*> OutboundQueue::take_ready(std::size_t budget_bytes, TimePoint now) {
  std::vector<const Outgoing*> out;
  take_ready(budget_bytes, now, out);
  return out;
}

bool OutboundQueue::on_sent(MessageId id) {
  std::size_t size = 0;
  if (!take_sent(id, size)) return false;
  emit(Event::sent, id, size);
  return true;
}

bool OutboundQueue::on_sent_unreported(MessageId id) {
  std::size_t size = 0;
  if (!take_sent(id, size)) return false;
  unreported_bytes_ += size;
  return true;
}

bool OutboundQueue::take_sent(MessageId id, std::size_t& size) {
  if (in_flight_.empty() || in_flight_.front().message.id != id) return false;
  size = in_flight_.front().message.bytes().size();
  release(in_flight_.front());
  in_flight_.pop_front();
  in_flight_bytes_ -= size;
  bytes_ -= size;
  ++sent_;
  return true;
}

void OutboundQueue::on_transport_lost() {
  requeue_in_flight();
}

bool OutboundQueue::on_transport_lost(const std::vector<MessageId>& unsent_ids) {
  const bool consistent =
      unsent_ids.size() == in_flight_.size() &&
      std::equal(unsent_ids.begin(), unsent_ids.end(), in_flight_.begin(),
                 [](MessageId id, const Entry& entry) { return id == entry.message.id; });
  requeue_in_flight();
  return consistent;
}

void OutboundQueue::expire(TimePoint now) {
  prune_deadlines();
  while (!deadlines_.empty() && deadlines_.front().at <= now) {
    const std::uint64_t seq = deadlines_.front().seq;
    std::pop_heap(deadlines_.begin(), deadlines_.end(), EarliestFirst{});
    deadlines_.pop_back();
    const auto it = find_waiting(seq);
    if (it == waiting_.end()) continue;  // a stale entry: the message left the waiting line
    const MessageId id = it->message.id;
    const std::size_t size = it->message.bytes().size();
    const auto entry = waiting_.begin() + (it - waiting_.cbegin());
    release(*entry);
    waiting_.erase(entry);
    bytes_ -= size;
    ++dropped_;
    emit(Event::dropped, id, size, DropReason::ttl);
  }
  prune_deadlines();
  compact_if_sparse();
}

void OutboundQueue::drop_all(DropReason reason) {
  while (!in_flight_.empty()) {
    const MessageId id = in_flight_.front().message.id;
    const std::size_t size = in_flight_.front().message.bytes().size();
    release(in_flight_.front());
    in_flight_.pop_front();
    in_flight_bytes_ -= size;
    bytes_ -= size;
    ++dropped_;
    emit(Event::dropped, id, size, reason);
  }
  while (!waiting_.empty()) drop_waiting_front(reason);
  deadlines_.clear();
}

void OutboundQueue::drop_waiting(DropReason reason) {
  while (!waiting_.empty()) drop_waiting_front(reason);
  deadlines_.clear();
}

std::optional<TimePoint> OutboundQueue::next_expiry() const {
  // Every mutation ends with a pruned heap: its front, if any, is a waiting message.
  if (deadlines_.empty()) return std::nullopt;
  return deadlines_.front().at;
}

std::vector<OutboundQueue::Event> OutboundQueue::take_events() {
  std::vector<Event> out;
  out.swap(events_);
  return out;
}

void OutboundQueue::take_events(std::vector<Event>& out) {
  out.insert(out.end(), events_.begin(), events_.end());
  events_.clear();
}

bool OutboundQueue::fits(std::size_t count, std::size_t bytes, std::size_t size) const noexcept {
  return count < limits_.max_messages && size <= limits_.max_bytes &&
         bytes <= limits_.max_bytes - size;
}

std::string OutboundQueue::take_buffer(std::size_t size) noexcept {
  std::string out;
  if (size < kLargeSpareMin) return out;
  for (std::string& spare : large_spare_) {
    if (spare.capacity() >= size) {
      out.swap(spare);
      break;
    }
  }
  return out;
}

void OutboundQueue::recycle(std::string&& payload) noexcept {
  const std::size_t capacity = payload.capacity();
  if (capacity >= kLargeSpareMin) {
    // Kept in an empty slot when both fit the bound together; else the smaller kept one makes way
    // for a larger payload (the next large message is most likely the size of the last).
    std::string* small_slot = large_spare_[0].capacity() <= large_spare_[1].capacity()
                                  ? &large_spare_[0]
                                  : &large_spare_[1];
    std::string* other = small_slot == &large_spare_[0] ? &large_spare_[1] : &large_spare_[0];
    if (capacity + other->capacity() > kLargeSpareBytes) return;
    if (small_slot->capacity() > capacity) return;
    small_slot->swap(payload);  // the buffer it held (if any) is released with `payload`
  }
}

void OutboundQueue::release(Entry& entry) noexcept {
  recycle(std::move(entry.message.payload));
  Block* block = entry.block;
  if (block == nullptr) return;
  held_bytes_ -= entry.message.held.size();
  entry.block = nullptr;
  entry.message.held = {};
  if (--block->live > 0) return;
  if (block == block_) {
    block->used = 0;  // empty: the next payloads go to its start
    return;
  }
  retire(block);
}

void OutboundQueue::retire(Block* block) noexcept {
  --blocks_held_;
  // Kept for reuse (a backlog drains block by block), within bounds (the capacity is reserved).
  if (spare_.size() < kSpareBlocks) {
    spare_.push_back(block);
  } else {
    delete block;
  }
}

void OutboundQueue::make_room(std::size_t size) {
  if (block_ == nullptr || Block::kBytes - block_->used < size) {
    // The current block is full: it lives on with its messages, and the next one starts.
    Block* next = nullptr;
    if (!spare_.empty()) {
      next = spare_.back();
      spare_.pop_back();
    } else {
      next = new Block;
    }
    ++blocks_held_;
    next->used = 0;
    next->live = 0;
    Block* previous = block_;
    block_ = next;
    if (previous != nullptr && previous->live == 0) retire(previous);
  }
}

void OutboundQueue::hold(Entry& entry, std::string_view payload) noexcept {
  char* at = block_->bytes + block_->used;
  if (!payload.empty()) std::memcpy(at, payload.data(), payload.size());
  block_->used += payload.size();
  ++block_->live;
  held_bytes_ += payload.size();
  entry.block = block_;
  entry.message.held = std::string_view(at, payload.size());
}

void OutboundQueue::compact_if_sparse() {
  // Messages leave in push order, except by expiry: a block keeps its memory while any one of its
  // messages is queued. Once held blocks are mostly empty space, the waiting messages' payloads
  // move into fresh blocks (in flight ones stay where the transport reads them).
  if (blocks_held_ * Block::kBytes <= 2 * held_bytes_ + kSpareBlocks * Block::kBytes) return;
  Block* previous = block_;
  block_ = nullptr;
  if (previous != nullptr && previous->live == 0) retire(previous);
  for (Entry& entry : waiting_) {
    Block* old = entry.block;
    if (old == nullptr) continue;
    const std::string_view payload = entry.message.held;
    make_room(payload.size());
    hold(entry, payload);
    held_bytes_ -= payload.size();
    if (--old->live == 0) retire(old);
  }
}

void OutboundQueue::emit(Event::Kind kind, MessageId id, std::size_t bytes, DropReason reason) {
  events_.push_back(Event{kind, id, bytes, reason, queued()});
}

void OutboundQueue::drop_waiting_front(DropReason reason) {
  const MessageId id = waiting_.front().message.id;
  const std::size_t size = waiting_.front().message.bytes().size();
  release(waiting_.front());
  waiting_.pop_front();
  bytes_ -= size;
  ++dropped_;
  emit(Event::dropped, id, size, reason);
}

void OutboundQueue::requeue_in_flight() {
  if (on_requeue_) {
    for (Entry& entry : in_flight_) on_requeue_(entry.message);
  }
  while (!in_flight_.empty()) {
    waiting_.push_front(std::move(in_flight_.back()));
    in_flight_.pop_back();
    add_deadline(waiting_.front());
  }
  in_flight_bytes_ = 0;
}

void OutboundQueue::add_deadline(const Entry& entry) {
  if (!entry.message.expires_at) return;
  deadlines_.push_back(Deadline{*entry.message.expires_at, entry.seq});
  std::push_heap(deadlines_.begin(), deadlines_.end(), EarliestFirst{});
}

OutboundQueue::Line::const_iterator OutboundQueue::find_waiting(std::uint64_t seq) const {
  const auto it =
      std::lower_bound(waiting_.begin(), waiting_.end(), seq,
                       [](const Entry& entry, std::uint64_t wanted) { return entry.seq < wanted; });
  if (it == waiting_.end() || it->seq != seq) return waiting_.end();
  return it;
}

void OutboundQueue::prune_deadlines() {
  // Entries of messages that left the waiting line pile up below the front; rebuild the heap from
  // the waiting line once they outnumber the live ones, so its size stays O(waiting).
  if (deadlines_.size() > 2 * waiting_.size() + 64) {
    deadlines_.clear();
    for (const Entry& entry : waiting_) {
      if (entry.message.expires_at)
        deadlines_.push_back(Deadline{*entry.message.expires_at, entry.seq});
    }
    std::make_heap(deadlines_.begin(), deadlines_.end(), EarliestFirst{});
  }
  while (!deadlines_.empty() && find_waiting(deadlines_.front().seq) == waiting_.end()) {
    std::pop_heap(deadlines_.begin(), deadlines_.end(), EarliestFirst{});
    deadlines_.pop_back();
  }
}

}  // namespace tether::core
