#pragma once

// Outbound framing: turns messages and control frames into wire bytes, coalescing many frames
// into one output buffer, masking (client role) fused with the copy, fragmenting large messages
// when asked, and letting control frames go out between fragments.

#include <array>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/block_cache.hpp"
#include "protocol/byte_buffer.hpp"
#include "protocol/frame.hpp"
#include "protocol/random.hpp"

namespace tether::protocol {

/// Appends one complete frame to `out` (masked with a key from `masks` when it is non-null).
void encode_frame(std::string& out, Opcode op, bool fin, std::string_view payload,
                  MaskKeyPool* masks);
/// The same, written at `dst` (room for frame_header_size() + the payload); returns its size.
std::size_t encode_frame_at(std::uint8_t* dst, Opcode op, bool fin, std::string_view payload,
                            MaskKeyPool* masks);

/// Appends a close frame: code + reason, or an empty payload for code 1005 (no status).
void encode_close_frame(std::string& out, std::uint16_t code, std::string_view reason,
                        MaskKeyPool* masks);

struct WriterOptions {
  Role role = Role::client;
  /// Split data messages into frames of at most this many payload bytes; 0 = one frame each.
  std::size_t fragment_size = 0;
};

class FrameWriter {
 public:
  /// `masks` is required for the client role and ignored for the server role.
  FrameWriter(WriterOptions options, MaskKeyPool* masks);

  /// Queues a data message (text or binary). `tag` is reported by fill() once the message's last
  /// byte has been written to an output buffer.
  void push_message(Opcode op, std::string payload, std::uint64_t tag = 0);
  /// The same, copying `payload`: a small message that goes out as one frame is framed (and
  /// masked) right away into the writer's own buffer, after the frames copied before it, and
  /// fill() then writes such frames with one copy for many (no allocation per message once the
  /// buffer has grown); any other goes into a string of its own.
  void push_message_copy(Opcode op, std::string_view payload, std::uint64_t tag = 0);
  /// The same without a copy: the bytes `payload` points to must stay valid and unchanged until
  /// the message is completed by fill() or dropped by clear().
  void push_message_view(Opcode op, std::string_view payload, std::uint64_t tag = 0);
  /// The same for a payload already masked with `key` (client role): it goes out as one frame
  /// with that key, and its bytes are written as they are (see fill's `in_place`), so the pass that
  /// masked it was the only one. The bytes must stay valid and unchanged until the message is
  /// completed by fill() or dropped by clear(). Where one frame cannot carry it (the server role,
  /// or a fragment size below its length) it is unmasked into a copy and framed as usual.
  void push_message_masked(Opcode op, std::string_view masked_payload,
                           const std::array<std::uint8_t, 4>& key, std::uint64_t tag = 0);
  /// Queues a ping, pong or close frame (payload ≤ 125 bytes; a longer one is cut to 125). It goes
  /// out before the next data frame: between fragments of a message, never inside a frame.
  void push_control(Opcode op, std::string_view payload);
  /// Queues a pong answering the latest ping. A pong still waiting in the queue (not started) is
  /// replaced instead: RFC 6455 5.5.3 lets an endpoint answer only the most recent ping, and a
  /// peer that floods pings without reading cannot grow the queue.
  void push_pong(std::string_view payload);
  /// Queues a close frame (see encode_close_frame).
  void push_close(std::uint16_t code, std::string_view reason);

  /// Writes as many queued bytes as fit into `out` (capacity `cap` ≥ kMaxFrameHeader) and returns
  /// the count. A frame may continue into the next call. Tags of messages completed by this call
  /// are appended to `completed` when it is non-null.
  ///
  /// With `in_place` non-null, the payloads of messages pushed with push_message_masked are not
  /// copied: each is appended to `*in_place` with the position in `out` it follows (right after
  /// its frame header), and the caller writes out[0, at), payload, out[at, next at), ... in that
  /// order. Such messages count as completed. The payloads listed by one call stay within
  /// kMaxInPlaceBytes together, except for a first payload larger than that.
  struct InPlace {
    std::size_t at = 0;      ///< The payload follows out[0, at).
    std::string_view bytes;  ///< The payload, as it goes on the wire.
  };
  std::size_t fill(std::uint8_t* out, std::size_t cap, std::vector<std::uint64_t>* completed,
                   std::vector<InPlace>* in_place = nullptr);
  /// At most this many payloads, and this many bytes of them, are listed per fill().
  static constexpr std::size_t kMaxInPlace = 32;
  static constexpr std::size_t kMaxInPlaceBytes = 1024 * 1024;

  /// True when fill() has nothing left to write.
  bool empty() const noexcept { return live_messages_ == 0 && controls_.empty() && !in_frame_; }
  /// Payload bytes queued and not yet written (data and control).
  std::size_t pending_bytes() const noexcept { return pending_bytes_; }
  /// Data messages queued and not yet completed (dropped ones excluded).
  std::size_t pending_messages() const noexcept { return live_messages_; }
  /// Drops the queued data messages but keeps the control frames, so that a close frame pushed
  /// next goes out right away (failing a connection). A data frame already partly written is
  /// finished first, since its header promised its length: if it is the message's final frame the
  /// message still completes normally; otherwise the rest of that message is dropped. The tags of
  /// dropped messages are not reported by fill(); the next clear() returns them, in order.
  void clear_data();
  /// Drops everything queued (a connection ended); returns the tags of the dropped messages,
  /// oldest first, including a message that was partly written and those dropped by
  /// clear_data().
  std::vector<std::uint64_t> clear();

 private:
  // A queued data message, or a run: frames already encoded into arena_ by push_message_copy(),
  // one per message, back to back (their tags are in run_frames_).
  struct Message {
    Opcode op;
    std::string payload;  // empty for a run
    std::uint64_t tag;
    std::size_t size = 0;        // payload bytes (of a run: of its frames)
    std::size_t offset = 0;      // payload bytes already framed (of a run: of its written frames)
    const char* view = nullptr;  // the payload when the caller keeps it (push_message_view)
    bool dropped = false;        // by clear_data(): not to be framed (beyond the current frame)
    bool premasked = false;      // `view` is masked with `key` (push_message_masked)
    std::array<std::uint8_t, 4> key{};
    bool run = false;
    std::size_t frames = 0;   // of a run: its frames not yet written
    std::size_t at = 0;       // of a run: its next byte to write, a position in arena_
    std::size_t run_end = 0;  // of a run: the position after its last frame
  };
  struct RunFrame {
    std::uint64_t tag;
    std::size_t end;      // the position after the frame in arena_
    std::size_t payload;  // its payload bytes
  };
  /// Small payloads (up to this size) are framed into arena_.
  static constexpr std::size_t kArenaMessage = 4096;
  /// arena_'s room: kArenaFirst at its first use, then, once that is not enough, at least
  /// kArenaReserve, more than a client's hand-over window of small messages framed. Its bytes are
  /// never zero-filled, so the system backs only the pages frames were written to: a burst grows
  /// it once, where doubling from a small buffer would write (and, first, fault in) about twice
  /// what it ends up holding.
  static constexpr std::size_t kArenaFirst = 64 * 1024;
  static constexpr std::size_t kArenaReserve = 1024 * 1024;

  const char* payload_of(const Message& message) const noexcept {
    return message.view != nullptr ? message.view : message.payload.data();
  }
  /// Writes what fits of the front message, a run, into `out`; completes its frames written
  /// whole. Returns false when `out` is full (or the run's current frame continues).
  bool fill_run(std::uint8_t* out, std::size_t cap, std::size_t& written,
                std::vector<std::uint64_t>* completed);
  /// Where the front frame of run_frames_ starts in arena_.
  std::size_t run_frame_start(const RunFrame& frame) const noexcept {
    return frame.end - frame.payload - frame_header_size(frame.payload, masks_ != nullptr);
  }
  /// The front message leaves messages_ (a run's frames left run_frames_ already).
  void pop_message();
  /// The front message, dropped by clear_data(), leaves messages_; its tags go to dropped_tags_.
  void pop_dropped();

  WriterOptions options_;
  MaskKeyPool* masks_;
  std::deque<Message, RecyclingAllocator<Message>> messages_;
  // The frames of runs, back to back in queue order. Positions in it are counted from the start
  // of the buffer's use: byte `p` is arena_[p - arena_base_], so trimming the consumed front
  // moves no frame's position.
  ByteBuffer arena_;  // the bytes it holds are frames
  std::size_t arena_base_ = 0;
  std::size_t arena_front_ = 0;  // no byte before it is needed any more
  std::deque<RunFrame, RecyclingAllocator<RunFrame>> run_frames_;  // of every run, in order
  std::deque<std::string> controls_;  // complete, already encoded control frames
  std::size_t control_offset_ = 0;    // bytes of controls_.front() already written
  std::size_t pending_bytes_ = 0;
  std::size_t live_messages_ = 0;  // messages_ not dropped
  // Tags of dropped messages that left messages_ (from its front, so they are older than every
  // message still queued).
  std::vector<std::uint64_t> dropped_tags_;
  // The data frame being written.
  bool in_frame_ = false;
  std::uint64_t frame_left_ = 0;  // payload bytes of the current frame still to write
  std::uint8_t key_[4] = {};
  std::size_t phase_ = 0;
};

}  // namespace tether::protocol
