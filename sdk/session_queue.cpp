// The outbound half of a ClientSession: send() from any thread into the outbound queue, the
// queue handed to the connection as the socket takes bytes, delivery events, and close().

#include <limits>
#include <utility>

#include "client_session.hpp"
#include "protocol/mask.hpp"
#include "protocol/random.hpp"

namespace tether::detail {

namespace {

core::TimePoint now() { return std::chrono::steady_clock::now(); }

// Payload bytes handed to the connection and not yet written: beyond this, messages wait in the
// queue (where they can still expire, be evicted, or survive a reconnect untouched).
// 100,000 queued 64 B messages flushed about 17 % faster with 512 KiB than with 1 MiB (the
// peer's answers are read sooner), and the 64 KiB and 1 MiB floods, ws and wss, did not slow.
constexpr std::size_t kWriteWindow = 512 * 1024;
// Windows written per turn of the loop while the socket takes them whole. More lets the peer's
// answers pile up unread: with 1 MiB windows, 2 flushed 19 % faster than 16; with 256 KiB
// windows, 1 flushed as fast as 2.
constexpr int kPumpWindows = 1;

// What the connection can still take within kWriteWindow.
std::size_t window_left(const transport::Connection& connection) {
  const std::size_t in_connection = connection.buffered_amount();
  return in_connection >= kWriteWindow ? 0 : kWriteWindow - in_connection;
}

// Payloads larger than this are masked by send() and framed from the queue's own copy (smaller
// ones are copied into the frame writer's buffer, many frames to one write).
constexpr std::size_t kFramedInPlace = 4096;

}  // namespace

SendResult ClientSession::send(MessageKind kind, std::string_view data,
                               const SendOptions& options) {
  SendResult result;
  if (closing_.load(std::memory_order_acquire) || ended()) {
    result.error = errc::closed;
    return result;
  }
  const auto ttl = options.ttl.value_or(options_.queue.ttl);
  const bool binary = kind == MessageKind::binary;
  // The clock matters only to a message that can expire.
  const core::TimePoint at = ttl.count() > 0 ? now() : core::TimePoint{};
  std::optional<core::TimePoint> expires_at;
  if (ttl.count() > 0) expires_at = at + ttl;
  // A small payload is copied under the lock into the queue's blocks; a large one is
  // copied before taking it, so the loop thread never waits for a long copy (into a buffer the
  // queue kept from an earlier large message, when it has one).
  core::Outgoing large;
  const bool small = data.size() <= core::OutboundQueue::kHeldMax;
  if (!small) {
    if (data.size() >= core::OutboundQueue::kLargeSpareMin) {
      std::lock_guard<std::mutex> lock(queue_mutex_);
      large.payload = queue_.take_buffer(data.size());
    }
    if (masked_in_queue(data.size())) {
      // Masked as it is copied: the frame then goes from the queue's copy to the socket with no
      // second pass over the payload. (A kept buffer only shrinks here: resize writes nothing.)
      large.mask_key = protocol::thread_mask_key();
      large.payload.resize(data.size());
      protocol::mask_copy(reinterpret_cast<std::uint8_t*>(large.payload.data()),
                          reinterpret_cast<const std::uint8_t*>(data.data()), data.size(),
                          large.mask_key->data(), 0);
    } else {
      large.payload.assign(data.data(), data.size());
    }
  }
  // On the thread running the loop (a callback sending), a small message that nothing waits
  // ahead of goes from the queue straight into the frame writer: no hand-over to a later pump.
  // Not while effects are applied: what becoming ready sends (subscriptions, resume) goes first.
  transport::Connection* direct = nullptr;
  if (small && runtime_.loop.on_loop_thread() && !applying_ && connection_ &&
      connection_->is_open()) {
    direct = connection_.get();
  }
  bool in_flight = false;
  {
    std::lock_guard<std::mutex> lock(queue_mutex_);
    result.id = next_id_++;
    const bool ready = state() == State::open;
    core::PushResult pushed;
    if (direct != nullptr && ready) {
      pushed = queue_.push_now(result.id, binary, data, expires_at, at, window_left(*direct));
      in_flight = pushed.outcome == core::PushOutcome::in_flight;
    } else if (small) {
      pushed = queue_.push(result.id, binary, data, expires_at, at, ready);
    } else {
      large.id = result.id;
      large.binary = binary;
      large.expires_at = expires_at;
      pushed = queue_.push(std::move(large), at, ready);
    }
    if (!pushed.accepted()) result.error = pushed.error;
    if (options.on_done) on_done_.emplace(result.id, options.on_done);
    buffered_.store(queue_.bytes(), std::memory_order_release);
  }
  if (in_flight) {
    direct->send_copy(binary ? protocol::Opcode::binary : protocol::Opcode::text, data, result.id);
  }
  // The pump writes what the writer holds (between the slices of a read, or on the next turn).
  kick();
  return result;
}

bool ClientSession::masked_in_queue(std::size_t size) const noexcept {
  return size > kFramedInPlace && (options_.fragment_size == 0 || size <= options_.fragment_size);
}

void ClientSession::remask(core::Outgoing& message) {
  if (!message.mask_key) return;
  const std::array<std::uint8_t, 4> fresh = protocol::thread_mask_key();
  protocol::remask(reinterpret_cast<std::uint8_t*>(message.payload.data()), message.payload.size(),
                   message.mask_key->data(), fresh.data());
  message.mask_key = fresh;
}

void ClientSession::kick() {
  // A pump already posted and not started yet picks this up (it clears the flag before it reads
  // the queue): no atomic read-modify-write per message then.
  if (kick_pending_.load(std::memory_order_acquire)) return;
  if (kick_pending_.exchange(true, std::memory_order_acq_rel)) return;
  runtime_.loop.post([self = shared_from_this()] { self->pump(); });
}

void ClientSession::apply_sent() {
  if (sent_tags_.empty()) return;
  std::lock_guard<std::mutex> lock(queue_mutex_);
  apply_sent_locked();
}

void ClientSession::apply_sent_locked() {
  if (sent_tags_.empty()) return;
  // `sent` events only when something listens for them; otherwise only their bytes are counted.
  if (callbacks_.sent || !on_done_.empty()) {
    for (const std::uint64_t tag : sent_tags_) queue_.on_sent(tag);
  } else {
    for (const std::uint64_t tag : sent_tags_) queue_.on_sent_unreported(tag);
  }
  sent_tags_.clear();
  buffered_.store(queue_.bytes(), std::memory_order_release);
}

void ClientSession::pump() {
  kick_pending_.store(false, std::memory_order_release);
  if (core_.state() == State::open && connection_ && connection_->is_open()) {
    // While the socket takes each window whole, the next one follows in the same turn (up to
    // kPumpWindows, then reads get a turn): a backlog drains now instead of a window per turn of
    // the loop.
    for (int window = 0; window < kPumpWindows; ++window) {
      // Messages sent from the loop thread may already be in the writer (see send()).
      const bool holding = connection_->buffered_amount() != 0;
      if (flush_queue(window_left(*connection_)) == 0 && !holding) break;
      connection_->write_now();
      if (!connection_ || !connection_->is_open() || connection_->buffered_amount() != 0) break;
    }
  }
  report_queue_events();
  maybe_close();
  arm_deadline();
}

std::size_t ClientSession::flush_queue(std::size_t budget) {
  if (!connection_ || !connection_->is_open()) return 0;
  taken_.clear();
  {
    std::lock_guard<std::mutex> lock(queue_mutex_);
    apply_sent_locked();
    // Nothing more while the connection still holds a full window (take_ready would hand one
    // message over when the queue has none in flight).
    if (budget == 0 && queue_.in_flight() > 0) return 0;
    queue_.take_ready(budget, now(), taken_);
  }
  // In flight messages stay put until the loop thread reports them sent or requeues them, so
  // their payloads can be read without the lock (send() only adds waiting messages).
  // A large one was masked by send() and goes from the queue to the socket as it is; one send()
  // could not mask (a fragment size below its length) is framed from the queue's copy.
  for (const core::Outgoing* m : taken_) {
    const auto op = m->binary ? protocol::Opcode::binary : protocol::Opcode::text;
    const std::string_view payload = m->bytes();
    if (m->mask_key) {
      connection_->send_masked(op, payload, *m->mask_key, m->id);
    } else if (payload.size() > kFramedInPlace) {
      connection_->send_view(op, payload, m->id);
    } else {
      connection_->send_copy(op, payload, m->id);
    }
  }
  const std::size_t taken = taken_.size();
  taken_.clear();
  return taken;
}

void ClientSession::report_queue_events() {
  // The scratch vector is reused across calls; a call made from inside a callback below (the
  // client destroyed there) finds it taken and uses its own.
  std::vector<EndedEvent> ended;
  ended.swap(ended_scratch_);
  ended.clear();
  struct GiveBack {
    std::vector<EndedEvent>& ended;
    std::vector<EndedEvent>& scratch;
    ~GiveBack() {
      ended.clear();
      if (ended.capacity() > scratch.capacity()) ended.swap(scratch);
    }
  } give_back{ended, ended_scratch_};
  std::vector<core::EndedRequest> requests_ended;
  bool quiet = false;
  std::uint64_t sent_bytes = 0;
  {
    std::lock_guard<std::mutex> lock(queue_mutex_);
    apply_sent_locked();
    sent_bytes = queue_.take_unreported_bytes();
    queue_events_.clear();
    queue_.take_events(queue_events_);
    if (!requests_.empty()) {
      // A request whose message is dropped before the socket took it ends with it.
      for (const auto& event : queue_events_) {
        if (event.kind != core::OutboundQueue::Event::dropped) continue;
        const errc error = event.reason == DropReason::ttl        ? errc::timeout
                           : event.reason == DropReason::overflow ? errc::queue_full
                                                                  : errc::connection_lost;
        if (auto e = requests_.on_dropped(event.id, error)) requests_ended.push_back(std::move(*e));
      }
    }
    quiet = queue_events_.empty() ||
            (on_done_.empty() && !callbacks_.queued && !callbacks_.sent && !callbacks_.dropped);
    if (quiet) {
      // Nothing to call back (a flood without per-message callbacks): only the bytes count.
      for (const auto& event : queue_events_) {
        if (event.kind == core::OutboundQueue::Event::sent) sent_bytes += event.bytes;
      }
    } else {
      ended.reserve(queue_events_.size());
      for (const auto& event : queue_events_) {
        EndedEvent e{event, nullptr};
        if (event.kind != core::OutboundQueue::Event::queued && !on_done_.empty()) {
          auto it = on_done_.find(event.id);
          if (it != on_done_.end()) {
            e.on_done = std::move(it->second);
            on_done_.erase(it);
          }
        }
        if (event.kind == core::OutboundQueue::Event::sent) sent_bytes += event.bytes;
        ended.push_back(std::move(e));
      }
    }
    buffered_.store(queue_.bytes(), std::memory_order_release);
  }
  deliver_ended(std::move(requests_ended));
  if (sent_bytes > 0) {
    std::lock_guard<std::mutex> lock(stats_mutex_);
    stats_.bytes_sent += sent_bytes;
  }
  if (quiet || !callbacks_live()) return;
  const bool direct = options_.callback_mode == CallbackMode::loop_thread;
  for (auto& e : ended) {
    const auto& event = e.event;
    std::function<void()> call;
    switch (event.kind) {
      case core::OutboundQueue::Event::queued:
        if (!callbacks_.queued) break;
        if (direct) {
          callbacks_.queued(event.id, event.depth_after);
        } else {
          call = [cb = callbacks_.queued, id = event.id, depth = event.depth_after] {
            cb(id, depth);
          };
        }
        break;
      case core::OutboundQueue::Event::sent:
        if (!callbacks_.sent) break;
        if (direct) {
          callbacks_.sent(event.id, event.bytes);
        } else {
          call = [cb = callbacks_.sent, id = event.id, bytes = event.bytes] { cb(id, bytes); };
        }
        break;
      case core::OutboundQueue::Event::dropped:
        if (!callbacks_.dropped) break;
        if (direct) {
          callbacks_.dropped(event.id, event.bytes, event.reason);
        } else {
          call = [cb = callbacks_.dropped, id = event.id, bytes = event.bytes,
                  reason = event.reason] { cb(id, bytes, reason); };
        }
        break;
    }
    if (call) dispatch(std::move(call));
    if (e.on_done) {
      Delivery delivery;
      delivery.id = event.id;
      delivery.bytes = event.bytes;
      if (event.kind == core::OutboundQueue::Event::dropped) delivery.dropped = event.reason;
      if (direct) {
        if (callbacks_live()) e.on_done(delivery);
      } else {
        dispatch([cb = std::move(e.on_done), delivery] { cb(delivery); });
      }
    }
  }
}

void ClientSession::requeue_unsent(const std::vector<std::uint64_t>& unsent) {
  std::vector<MessageId> ids;
  ids.reserve(unsent.size());
  for (auto tag : unsent) {
    if (tag != 0) ids.push_back(tag);  // tether's own messages are rebuilt on the next open
  }
  std::lock_guard<std::mutex> lock(queue_mutex_);
  apply_sent_locked();
  queue_.on_transport_lost(ids);
}

void ClientSession::drop_everything() {
  {
    std::lock_guard<std::mutex> lock(queue_mutex_);
    apply_sent_locked();
    queue_.drop_all(DropReason::closed);
    buffered_.store(queue_.bytes(), std::memory_order_release);
  }
  report_queue_events();
}

// --- closing ------------------------------------------------------------------------------------

void ClientSession::close(std::uint16_t code, std::string_view reason) {
  closing_ = true;
  runtime_.loop.post([self = shared_from_this(), code, reason = std::string(reason)] {
    if (!self->close_requested_) self->close_requested_.emplace(code, reason);
    self->maybe_close();
    self->apply_effects();
  });
}

void ClientSession::maybe_close() {
  if (!close_requested_) return;
  bool empty = false;
  {
    std::lock_guard<std::mutex> lock(queue_mutex_);
    apply_sent_locked();
    empty = queue_.queued() == 0;
  }
  const State s = core_.state();
  // Idle (never started) or waiting with nothing to deliver: close now. Otherwise the queue
  // drains first; the connection manager keeps (re)connecting to deliver it.
  if (!empty && s != State::idle) return;
  auto [code, reason] = *close_requested_;
  close_requested_.reset();
  core_.close(now(), code, std::move(reason));
  apply_effects();
}

void ClientSession::close_now(std::uint16_t code, std::string_view reason) {
  closing_ = true;
  runtime_.loop.post([self = shared_from_this(), code, reason = std::string(reason)] {
    {
      std::lock_guard<std::mutex> lock(self->queue_mutex_);
      self->apply_sent_locked();
      self->queue_.drop_waiting(DropReason::closed);
      self->buffered_.store(self->queue_.bytes(), std::memory_order_release);
    }
    self->close_requested_.reset();
    self->report_queue_events();
    self->core_.close(now(), code, reason);
    self->apply_effects();
  });
}

}  // namespace tether::detail
