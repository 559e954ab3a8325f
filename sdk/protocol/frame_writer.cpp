#include "protocol/frame_writer.hpp"

#include <algorithm>
#include <cstring>
#include <utility>

#include "protocol/mask.hpp"

namespace tether::protocol {

std::size_t encode_frame_at(std::uint8_t* dst, Opcode op, bool fin, std::string_view payload,
                            MaskKeyPool* masks) {
  std::array<std::uint8_t, 4> key{};
  if (masks != nullptr) key = masks->next();
  const std::size_t header_size =
      write_frame_header(dst, op, fin, payload.size(), masks != nullptr ? key.data() : nullptr);
  if (!payload.empty()) {
    const auto* src = reinterpret_cast<const std::uint8_t*>(payload.data());
    if (masks != nullptr) {
      mask_copy(dst + header_size, src, payload.size(), key.data(), 0);
    } else {
      std::memcpy(dst + header_size, src, payload.size());
    }
  }
  return header_size + payload.size();
}

void encode_frame(std::string& out, Opcode op, bool fin, std::string_view payload,
                  MaskKeyPool* masks) {
  const std::size_t old = out.size();
  out.resize(old + frame_header_size(payload.size(), masks != nullptr) + payload.size());
  encode_frame_at(reinterpret_cast<std::uint8_t*>(&out[old]), op, fin, payload, masks);
}

void encode_close_frame(std::string& out, std::uint16_t code, std::string_view reason,
                        MaskKeyPool* masks) {
  if (code == close_code::no_status) {
    encode_frame(out, Opcode::close, true, {}, masks);
    return;
  }
  char payload[kMaxControlPayload];
  payload[0] = static_cast<char>(code >> 8);
  payload[1] = static_cast<char>(code & 0xFF);
  std::size_t len = std::min(reason.size(), kMaxControlPayload - 2);
  // Cut before a continuation byte would split a code point; the peer rejects invalid UTF-8.
  if (len < reason.size()) {
    while (len > 0 && (static_cast<std::uint8_t>(reason[len]) & 0xC0) == 0x80) --len;
  }
  std::memcpy(payload + 2, reason.data(), len);
  encode_frame(out, Opcode::close, true, std::string_view(payload, 2 + len), masks);
}

FrameWriter::FrameWriter(WriterOptions options, MaskKeyPool* masks)
    : options_(options), masks_(options.role == Role::client ? masks : nullptr) {}

void FrameWriter::push_message(Opcode op, std::string payload, std::uint64_t tag) {
  pending_bytes_ += payload.size();
  ++live_messages_;
  const std::size_t size = payload.size();
  messages_.push_back(Message{op, std::move(payload), tag, size});
}

void FrameWriter::push_message_copy(Opcode op, std::string_view payload, std::uint64_t tag) {
  if (payload.size() > kArenaMessage ||
      (options_.fragment_size != 0 && payload.size() > options_.fragment_size)) {
    push_message(op, std::string(payload), tag);
    return;
  }
  // (Once no frame is left, pop_message() and clear() start the buffer over.)
  if (const std::size_t consumed = arena_front_ - arena_base_;
      consumed >= 64 * 1024 && consumed >= arena_.size() / 2) {
    // A writer that never empties: drop the consumed front now and then (amortized O(1)).
    arena_.erase_front(consumed);
    arena_base_ = arena_front_;
  }
  // Framed in place; the buffer grows in few steps (kArenaFirst, kArenaReserve, then doubling)
  // and is never cleared byte by byte.
  const std::size_t frame_size =
      frame_header_size(payload.size(), masks_ != nullptr) + payload.size();
  if (arena_.capacity() - arena_.size() < frame_size) {
    const std::size_t step = arena_.capacity() == 0 ? kArenaFirst : kArenaReserve;
    arena_.reserve(std::max({arena_.capacity() * 2, arena_.size() + frame_size, step}));
  }
  encode_frame_at(arena_.tail(), op, true, payload, masks_);
  const std::size_t start = arena_base_ + arena_.size();
  arena_.commit(frame_size);
  const std::size_t end = arena_base_ + arena_.size();
  run_frames_.push_back(RunFrame{tag, end, payload.size()});
  pending_bytes_ += payload.size();
  ++live_messages_;
  // Joins the run at the back when nothing came between them.
  if (!messages_.empty()) {
    Message& last = messages_.back();
    if (last.run && !last.dropped && last.run_end == start) {
      ++last.frames;
      last.size += payload.size();
      last.run_end = end;
      return;
    }
  }
  Message run{op, std::string(), 0, payload.size()};
  run.run = true;
  run.frames = 1;
  run.at = start;
  run.run_end = end;
  messages_.push_back(std::move(run));
}

void FrameWriter::push_message_view(Opcode op, std::string_view payload, std::uint64_t tag) {
  Message message{op, std::string(), tag, payload.size()};
  message.view = payload.data();
  pending_bytes_ += payload.size();
  ++live_messages_;
  messages_.push_back(std::move(message));
}

void FrameWriter::push_message_masked(Opcode op, std::string_view masked_payload,
                                      const std::array<std::uint8_t, 4>& key, std::uint64_t tag) {
  const bool one_frame =
      options_.fragment_size == 0 || masked_payload.size() <= options_.fragment_size;
  if (masks_ == nullptr || !one_frame) {
    std::string plain(masked_payload.size(), '\0');
    mask_copy(reinterpret_cast<std::uint8_t*>(plain.data()),
              reinterpret_cast<const std::uint8_t*>(masked_payload.data()), plain.size(),
              key.data(), 0);
    push_message(op, std::move(plain), tag);
    return;
  }
  Message message{op, std::string(), tag, masked_payload.size()};
  message.view = masked_payload.data();
  message.premasked = true;
  message.key = key;
  pending_bytes_ += masked_payload.size();
  ++live_messages_;
  messages_.push_back(std::move(message));
}

void FrameWriter::pop_message() {
  messages_.pop_front();
  if (run_frames_.empty()) {
    // No frame is left in arena_: it starts over (its memory stays for the next ones).
    arena_.clear();
    arena_base_ = arena_front_ = 0;
  }
}

void FrameWriter::pop_dropped() {
  Message& message = messages_.front();
  if (message.run) {
    for (std::size_t i = 0; i < message.frames; ++i) {
      dropped_tags_.push_back(run_frames_.front().tag);
      run_frames_.pop_front();
    }
  } else {
    dropped_tags_.push_back(message.tag);
  }
  pop_message();
}

bool FrameWriter::fill_run(std::uint8_t* out, std::size_t cap, std::size_t& written,
                           std::vector<std::uint64_t>* completed) {
  Message& run = messages_.front();
  // Up to the end of the current frame when control frames wait to go before the next one.
  const std::size_t until = controls_.empty() ? run.run_end : run_frames_.front().end;
  const std::size_t n = std::min(cap - written, until - run.at);
  std::memcpy(out + written, arena_.data() + (run.at - arena_base_), n);
  written += n;
  run.at += n;
  arena_front_ = run.at;
  while (run.frames > 0 && run_frames_.front().end <= run.at) {
    const RunFrame& frame = run_frames_.front();
    if (completed != nullptr) completed->push_back(frame.tag);
    pending_bytes_ -= frame.payload;
    run.offset += frame.payload;
    --run.frames;
    --live_messages_;
    run_frames_.pop_front();
  }
  if (run.frames == 0) {
    in_frame_ = false;
    pop_message();
    return written < cap;
  }
  // Control frames may go next only where a frame ends.
  in_frame_ = run.at > run_frame_start(run_frames_.front());
  return !in_frame_ && written < cap;
}

void FrameWriter::push_control(Opcode op, std::string_view payload) {
  if (payload.size() > kMaxControlPayload) payload = payload.substr(0, kMaxControlPayload);
  pending_bytes_ += payload.size();
  controls_.emplace_back();
  encode_frame(controls_.back(), op, true, payload, masks_);
}

void FrameWriter::push_pong(std::string_view payload) {
  if (payload.size() > kMaxControlPayload) payload = payload.substr(0, kMaxControlPayload);
  const bool masked = masks_ != nullptr;
  // The front frame may be partly written already; it stays as it is.
  for (std::size_t i = control_offset_ > 0 ? 1 : 0; i < controls_.size(); ++i) {
    std::string& frame = controls_[i];
    if ((static_cast<std::uint8_t>(frame[0]) & 0x0F) != static_cast<unsigned>(Opcode::pong)) {
      continue;
    }
    pending_bytes_ -= frame.size() - frame_header_size(0, masked);
    frame.clear();
    encode_frame(frame, Opcode::pong, true, payload, masks_);
    pending_bytes_ += payload.size();
    return;
  }
  push_control(Opcode::pong, payload);
}

void FrameWriter::push_close(std::uint16_t code, std::string_view reason) {
  controls_.emplace_back();
  encode_close_frame(controls_.back(), code, reason, masks_);
  pending_bytes_ += controls_.back().size() - frame_header_size(0, masks_ != nullptr);
}

std::size_t FrameWriter::fill(std::uint8_t* out, std::size_t cap,
                              std::vector<std::uint64_t>* completed,
                              std::vector<InPlace>* in_place) {
  const bool masked = masks_ != nullptr;
  std::size_t written = 0;
  std::size_t in_place_bytes = 0;
  if (in_place != nullptr) in_place->clear();
  for (;;) {
    if (!in_frame_) {
      // Between data frames: queued control frames go first.
      while (!controls_.empty() && written < cap) {
        const std::string& frame = controls_.front();
        const std::size_t take = std::min(frame.size() - control_offset_, cap - written);
        std::memcpy(out + written, frame.data() + control_offset_, take);
        written += take;
        control_offset_ += take;
        if (control_offset_ < frame.size()) break;
        // Control payloads are at most 125 bytes, so their header is the short form.
        pending_bytes_ -= frame.size() - frame_header_size(0, masked);
        controls_.pop_front();
        control_offset_ = 0;
      }
      if (!controls_.empty()) break;
      while (!messages_.empty() && messages_.front().dropped) pop_dropped();
      if (messages_.empty()) break;
      if (messages_.front().run) {
        if (!fill_run(out, cap, written, completed)) break;
        continue;
      }

      Message& message = messages_.front();
      const std::size_t left = message.size - message.offset;
      const std::size_t len =
          options_.fragment_size != 0 ? std::min(left, options_.fragment_size) : left;
      if (cap - written < frame_header_size(len, masked)) break;
      const bool first = message.offset == 0;
      const bool fin = len == left;
      const bool listed = message.premasked && in_place != nullptr && len != 0;
      if (listed && !in_place->empty() &&
          (in_place->size() == kMaxInPlace || in_place_bytes + len > kMaxInPlaceBytes)) {
        break;
      }
      // A pre-masked payload is one whole frame (push_message_masked) with its own key.
      if (message.premasked) {
        std::memcpy(key_, message.key.data(), 4);
      } else if (masked) {
        const auto key = masks_->next();
        std::memcpy(key_, key.data(), 4);
      }
      written += write_frame_header(out + written, first ? message.op : Opcode::continuation, fin,
                                    len, masked ? key_ : nullptr);
      if (listed) {
        // The payload goes out from where it is, right after its header.
        in_place->push_back(InPlace{written, std::string_view(message.view, len)});
        in_place_bytes += len;
        pending_bytes_ -= len;
        if (completed != nullptr) completed->push_back(message.tag);
        pop_message();
        --live_messages_;
        if (in_place_bytes >= kMaxInPlaceBytes) break;
        continue;
      }
      in_frame_ = true;
      frame_left_ = len;
      phase_ = 0;
    }

    Message& message = messages_.front();
    if (message.run) {
      // The rest of a run's frame.
      if (!fill_run(out, cap, written, completed)) break;
      continue;
    }
    const std::size_t take =
        static_cast<std::size_t>(std::min<std::uint64_t>(frame_left_, cap - written));
    if (take != 0) {
      const auto* src = reinterpret_cast<const std::uint8_t*>(payload_of(message)) + message.offset;
      if (masked && !message.premasked) {
        phase_ = mask_copy(out + written, src, take, key_, phase_);
      } else {
        std::memcpy(out + written, src, take);
      }
      written += take;
      message.offset += take;
      frame_left_ -= take;
      pending_bytes_ -= take;
    }
    if (frame_left_ != 0) break;  // `out` is full; the frame continues in the next call
    in_frame_ = false;
    // Frames of a non-empty message are never empty, so the frame that reaches the end of the
    // payload is the final one (and an empty message is a single empty frame).
    if (message.offset == message.size && !message.dropped) {
      if (completed != nullptr) completed->push_back(message.tag);
      pop_message();
      --live_messages_;
    }
  }
  return written;
}

void FrameWriter::clear_data() {
  auto it = messages_.begin();
  if (in_frame_ && it->run) {
    // The run's current frame is finished; its later frames are dropped, as a run of their own
    // right behind it.
    Message& current = *it;
    const std::size_t rest = current.frames - 1;
    if (rest > 0) {
      const RunFrame& frame = run_frames_.front();
      Message cut{current.op, std::string(), 0, current.size - current.offset - frame.payload};
      cut.run = true;
      cut.dropped = true;
      cut.frames = rest;
      cut.at = frame.end;
      cut.run_end = current.run_end;
      current.frames = 1;
      current.size = current.offset + frame.payload;
      current.run_end = frame.end;
      pending_bytes_ -= cut.size;
      live_messages_ -= rest;
      it = messages_.insert(messages_.begin() + 1, std::move(cut));
    }
    ++it;
  } else if (in_frame_) {
    Message& current = *it++;
    const std::size_t frame_end = current.offset + static_cast<std::size_t>(frame_left_);
    if (frame_end != current.size && !current.dropped) {
      // Its payload stays until the frame is finished; the bytes after the frame are dropped.
      current.dropped = true;
      pending_bytes_ -= current.size - frame_end;
      --live_messages_;
    }
  }
  // Dropped messages keep their place in the queue so clear() reports tags in order.
  for (; it != messages_.end(); ++it) {
    if (it->dropped) continue;
    it->dropped = true;
    pending_bytes_ -= it->size - it->offset;
    live_messages_ -= it->run ? it->frames : 1;
    std::string().swap(it->payload);  // a run's frames stay in arena_ until the run leaves
    it->offset = 0;
  }
}

std::vector<std::uint64_t> FrameWriter::clear() {
  std::vector<std::uint64_t> tags = std::move(dropped_tags_);
  dropped_tags_.clear();
  tags.reserve(tags.size() + messages_.size() + run_frames_.size());
  auto frame = run_frames_.begin();
  for (const Message& message : messages_) {
    if (!message.run) {
      tags.push_back(message.tag);
      continue;
    }
    for (std::size_t i = 0; i < message.frames; ++i) tags.push_back((frame++)->tag);
  }
  messages_.clear();
  run_frames_.clear();
  live_messages_ = 0;
  arena_.release();
  arena_base_ = arena_front_ = 0;
  controls_.clear();
  control_offset_ = 0;
  pending_bytes_ = 0;
  in_frame_ = false;
  frame_left_ = 0;
  phase_ = 0;
  return tags;
}

}  // namespace tether::protocol
