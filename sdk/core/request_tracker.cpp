#include "core/request_tracker.hpp"

#include <algorithm>
#include <utility>

namespace tether::core {

// --- the index ----------------------------------------------------------------------------------

void RequestTracker::Index::insert(std::uint64_t hash, std::uint32_t slot) {
  // At most half full.
  if (2 * (size_ + 1) > buckets_.size()) {
    std::vector<Bucket> old = std::move(buckets_);
    buckets_.assign(std::max<std::size_t>(16, old.size() * 2), Bucket{});
    mask_ = buckets_.size() - 1;
    for (const Bucket& b : old) {
      if (b.slot == kNone) continue;
      std::size_t i = b.hash & mask_;
      while (buckets_[i].slot != kNone) i = (i + 1) & mask_;
      buckets_[i] = b;
    }
  }
  std::size_t i = hash & mask_;
  while (buckets_[i].slot != kNone) i = (i + 1) & mask_;
  buckets_[i] = Bucket{hash, slot};
  ++size_;
}

void RequestTracker::Index::erase(std::uint64_t hash, std::uint32_t slot) {
  if (size_ == 0) return;
  std::size_t i = hash & mask_;
  while (buckets_[i].slot != slot) {
    if (buckets_[i].slot == kNone) return;
    i = (i + 1) & mask_;
  }
  // Backward shift: move later members of the probe run into the hole when their home bucket
  // does not lie (cyclically) between the hole and them.
  std::size_t hole = i;
  for (std::size_t j = (i + 1) & mask_; buckets_[j].slot != kNone; j = (j + 1) & mask_) {
    const std::size_t home = buckets_[j].hash & mask_;
    const bool stays = hole <= j ? (hole < home && home <= j) : (hole < home || home <= j);
    if (stays) continue;
    buckets_[hole] = buckets_[j];
    hole = j;
  }
  buckets_[hole] = Bucket{};
  --size_;
}

// --- lookups ------------------------------------------------------------------------------------

namespace {

// splitmix64's finalizer: every bit of the input reaches the low bits (the bucket).
std::uint64_t mix(std::uint64_t x) noexcept {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

}  // namespace

std::uint64_t RequestTracker::hash_id(std::string_view id) noexcept {
  std::uint64_t h = 0xcbf29ce484222325ULL;  // FNV-1a
  for (const char c : id) h = (h ^ static_cast<unsigned char>(c)) * 0x100000001b3ULL;
  return mix(h);
}

std::uint64_t RequestTracker::hash_message(MessageId message) noexcept {
  return mix(message);
}

std::uint32_t RequestTracker::find_id(const std::string& id) const {
  return by_id_.find(hash_id(id),
                     [&](std::uint32_t slot) { return slots_[slot].request.id == id; });
}

std::uint32_t RequestTracker::find_message(MessageId message) const {
  return by_message_.find(hash_message(message), [&](std::uint32_t slot) {
    return slots_[slot].request.message == message;
  });
}

// --- requests -----------------------------------------------------------------------------------

void RequestTracker::add(TrackedRequest request) {
  std::uint32_t slot = 0;
  if (free_.empty()) {
    slot = static_cast<std::uint32_t>(slots_.size());
    slots_.emplace_back();
  } else {
    slot = free_.back();
    free_.pop_back();
  }
  Entry& entry = slots_[slot];
  entry.seq = next_seq_++;
  entry.id_hash = hash_id(request.id);
  entry.used = true;
  entry.resend = false;
  ++pending_;
  by_id_.insert(entry.id_hash, slot);
  if (request.message != 0) by_message_.insert(hash_message(request.message), slot);
  if (request.deadline) {
    compact();
    const Deadline d{*request.deadline, entry.seq, slot};
    if (fifo_head_ == fifo_.size() || !d.before(fifo_.back())) {
      fifo_.push_back(d);
    } else {
      out_of_order_.push_back(d);
      std::push_heap(out_of_order_.begin(), out_of_order_.end());
    }
  }
  entry.request = std::move(request);
}

void RequestTracker::compact() {
  // Counted with the FIFO's passed front (entries prune() stepped over but did not free): with
  // requests always pending, the FIFO is never empty, so nothing else would ever drop that front.
  const std::size_t entries = deadline_entries();
  if (entries < 64 || entries <= 2 * pending_) return;
  auto stale = [this](const Deadline& d) { return !live(d); };
  fifo_.erase(fifo_.begin(), fifo_.begin() + static_cast<std::ptrdiff_t>(fifo_head_));
  fifo_head_ = 0;
  fifo_.erase(std::remove_if(fifo_.begin(), fifo_.end(), stale), fifo_.end());
  out_of_order_.erase(std::remove_if(out_of_order_.begin(), out_of_order_.end(), stale),
                      out_of_order_.end());
  std::make_heap(out_of_order_.begin(), out_of_order_.end());
}

void RequestTracker::prune() const {
  while (fifo_head_ < fifo_.size() && !live(fifo_[fifo_head_])) ++fifo_head_;
  if (fifo_head_ == fifo_.size()) {
    fifo_.clear();
    fifo_head_ = 0;
  }
  while (!out_of_order_.empty() && !live(out_of_order_.front())) {
    std::pop_heap(out_of_order_.begin(), out_of_order_.end());
    out_of_order_.pop_back();
  }
}

const RequestTracker::Deadline* RequestTracker::earliest() const {
  prune();
  const Deadline* a = fifo_head_ < fifo_.size() ? &fifo_[fifo_head_] : nullptr;
  const Deadline* b = out_of_order_.empty() ? nullptr : &out_of_order_.front();
  if (a == nullptr) return b;
  if (b == nullptr) return a;
  return b->before(*a) ? b : a;
}

void RequestTracker::pop_earliest() {
  const Deadline* e = earliest();
  if (e == nullptr) return;
  if (!out_of_order_.empty() && e == &out_of_order_.front()) {
    std::pop_heap(out_of_order_.begin(), out_of_order_.end());
    out_of_order_.pop_back();
  } else {
    ++fifo_head_;
  }
}

EndedRequest RequestTracker::remove(std::uint32_t slot, errc error) {
  EndedRequest ended{std::move(slots_[slot].request), error};
  release(slot);
  return ended;
}

void RequestTracker::release(std::uint32_t slot) {
  Entry& entry = slots_[slot];
  by_id_.erase(entry.id_hash, slot);
  if (entry.request.message != 0) by_message_.erase(hash_message(entry.request.message), slot);
  // What the request still holds after a move (the callback's captures included) goes now; the
  // slot is overwritten whole by the next add().
  entry.request.on_result = nullptr;
  entry.request.text = std::string();
  entry.used = false;
  entry.resend = false;
  free_.push_back(slot);
  --pending_;
}

std::vector<std::uint32_t> RequestTracker::in_order() const {
  std::vector<std::uint32_t> out;
  out.reserve(pending_);
  for (std::uint32_t slot = 0; slot < slots_.size(); ++slot) {
    if (slots_[slot].used) out.push_back(slot);
  }
  std::sort(out.begin(), out.end(),
            [this](std::uint32_t a, std::uint32_t b) { return slots_[a].seq < slots_[b].seq; });
  return out;
}

void RequestTracker::on_written(MessageId message, TimePoint now) {
  const std::uint32_t slot = find_message(message);
  if (slot == kNone) return;
  slots_[slot].request.written = true;
  slots_[slot].request.written_at = now;
}

void RequestTracker::on_resent(const std::string& id, TimePoint now) {
  const std::uint32_t slot = find_id(id);
  if (slot == kNone) return;
  slots_[slot].request.written = true;
  slots_[slot].request.written_at = now;
}

std::optional<TrackedRequest> RequestTracker::on_response(const std::string& id) {
  const std::uint32_t slot = find_id(id);
  std::optional<TrackedRequest> out;
  if (slot == kNone) {
    ++unmatched_;
    return out;
  }
  out.emplace(std::move(slots_[slot].request));
  release(slot);
  return out;
}

std::optional<EndedRequest> RequestTracker::cancel(const std::string& id) {
  const std::uint32_t slot = find_id(id);
  if (slot == kNone) return std::nullopt;
  return remove(slot, errc::cancelled);
}

std::optional<EndedRequest> RequestTracker::on_dropped(MessageId message, errc error) {
  const std::uint32_t slot = find_message(message);
  if (slot == kNone) return std::nullopt;
  return remove(slot, error);
}

std::vector<EndedRequest> RequestTracker::expire(TimePoint now) {
  std::vector<EndedRequest> out;
  for (const Deadline* d = earliest(); d != nullptr && d->at <= now; d = earliest()) {
    const std::uint32_t slot = d->slot;
    pop_earliest();
    out.push_back(remove(slot, errc::timeout));
  }
  return out;
}

std::vector<EndedRequest> RequestTracker::on_connection_lost() {
  std::vector<EndedRequest> out;
  for (const std::uint32_t slot : in_order()) {
    Entry& entry = slots_[slot];
    if (!entry.request.written) continue;
    if (entry.request.retry_on_reconnect) {
      // Its queue message is gone (it was taken by the socket): it goes out again by itself.
      entry.resend = true;
      entry.request.written = false;
      if (entry.request.message != 0) {
        by_message_.erase(hash_message(entry.request.message), slot);
        entry.request.message = 0;
      }
    } else {
      out.push_back(remove(slot, errc::connection_lost));
    }
  }
  return out;
}

std::vector<TrackedRequest> RequestTracker::take_resend() {
  std::vector<TrackedRequest> out;
  for (const std::uint32_t slot : in_order()) {
    Entry& entry = slots_[slot];
    if (!entry.resend) continue;
    out.push_back(entry.request);
    entry.resend = false;
  }
  return out;
}

std::vector<EndedRequest> RequestTracker::fail_all(errc error) {
  std::vector<EndedRequest> out;
  out.reserve(pending_);
  for (const std::uint32_t slot : in_order()) out.push_back(remove(slot, error));
  fifo_.clear();
  fifo_head_ = 0;
  out_of_order_.clear();
  return out;
}

std::optional<TimePoint> RequestTracker::next_deadline() const {
  const Deadline* e = earliest();
  if (e == nullptr) return std::nullopt;
  return e->at;
}

}  // namespace tether::core
