#pragma once

// Incremental RFC 6455 frame decoder: bytes in (any chunking, down to one byte), events out.
// A message whose frame lies whole in one input chunk is delivered as a view into that chunk
// (zero copy); anything else is accumulated. Every protocol violation fails the decoder with the
// error name and the close code to send.
//
// Non-minimal length encodings (a 16- or 64-bit length field holding a value that would have fit
// a shorter one) are accepted: RFC 6455 5.2 says senders must use the minimal form but does not
// require receivers to reject the others, and doing so would only break interoperability with
// sloppy peers without any safety gain (the length is still bounded by max_message).

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "protocol/byte_buffer.hpp"
#include "protocol/frame.hpp"
#include "protocol/utf8.hpp"
#include "tether/error.hpp"

namespace tether::protocol {

/// Receives decoded events. Views are valid only during the call.
class FrameSink {
 public:
  virtual ~FrameSink() = default;
  /// A complete data message; `op` is text or binary. Text has been validated as UTF-8.
  virtual void on_message(Opcode op, std::string_view payload) = 0;
  virtual void on_ping(std::string_view payload) = 0;
  virtual void on_pong(std::string_view payload) = 0;
  /// A close frame: `code` is 1005 when the frame had no payload. The reason is valid UTF-8.
  virtual void on_close(std::uint16_t code, std::string_view reason) = 0;
};

struct DecodeError {
  errc code = errc::protocol_error;  ///< protocol_error, invalid_utf8 or message_too_big.
  std::uint16_t close_code = close_code::protocol_error;  ///< 1002, 1007 or 1009.
  std::string message;                                    ///< What exactly was wrong.
};

struct DecoderOptions {
  Role role = Role::client;
  /// Largest message (sum of its fragments) accepted; checked from each frame header before any
  /// payload is buffered. 0 = no limit.
  std::uint64_t max_message = 16u * 1024 * 1024;
};

class FrameDecoder {
 public:
  explicit FrameDecoder(DecoderOptions options = {});

  /// Decodes `n` bytes, calling `sink` for each complete event. Returns false once the stream has
  /// broken the protocol (then error() says how, and every later call returns false without
  /// reading). Bytes after a close frame are ignored.
  bool feed(const std::uint8_t* data, std::size_t n, FrameSink& sink);
  /// Like feed(), but stops at the first frame boundary at or after `slice` bytes: `consumed`
  /// says how many bytes were decoded (all `n` unless it stopped early). A frame is never cut,
  /// so a frame lying whole in the data is still delivered as a view into it.
  bool feed_slice(const std::uint8_t* data, std::size_t n, std::size_t slice, FrameSink& sink,
                  std::size_t& consumed);

  /// Where the rest of the current data frame's payload may be written directly (by recv(2), say)
  /// instead of being fed: a frame whose header is decoded and whose payload is incomplete.
  /// Returns room for `size` bytes (at most the rest of the frame, at most `max`, growing the
  /// message buffer no faster than feeding would), or nullptr when no frame is part-way through.
  /// The bytes written there are handed over with commit_window().
  std::uint8_t* payload_window(std::size_t max, std::size_t& size);
  /// The first `n` bytes of the last payload_window() were written: decodes them as feed() would
  /// (unmasking, UTF-8 validation, the message delivered to `sink` when the frame completes it).
  bool commit_window(std::size_t n, FrameSink& sink);

  bool failed() const noexcept { return failed_; }
  const DecodeError& error() const noexcept { return error_; }
  /// True once a close frame has been decoded.
  bool close_received() const noexcept { return close_received_; }
  /// Forget all state (a new connection).
  void reset();

 private:
  bool fail(errc code, std::uint16_t close, std::string message);
  /// Checks the first two header bytes (everything knowable before the length and mask arrive)
  /// and returns the full header size, or 0 after failing.
  std::size_t on_prefix(std::uint8_t b0, std::uint8_t b1);
  /// Takes a complete header (already checked by on_prefix) and starts the frame.
  bool on_header(const std::uint8_t* h);
  /// Appends payload bytes of a data frame (unmasking, validating text as it arrives).
  bool append_data(const std::uint8_t* data, std::size_t n);
  /// Room for `n` more payload bytes at the end of the message buffer.
  std::uint8_t* reserve_payload(std::size_t n);
  /// The `n` bytes written at the end of the message buffer are payload: validates them (after
  /// unmasking them in place when `unmask`) and counts them.
  bool commit_payload(std::size_t n, bool unmask);
  /// The current frame is complete; `payload` is its payload for a control frame, or the whole
  /// message for the final frame of a data message.
  bool finish_frame(FrameSink& sink, std::string_view payload);
  /// Ends a frame lying whole in the input, delivered as a view into it (text checked first).
  bool finish_whole_frame(FrameSink& sink, std::string_view payload);
  void end_message();

  DecoderOptions options_;
  // Frame header accumulation.
  std::uint8_t header_[kMaxFrameHeader] = {};
  std::size_t header_have_ = 0;
  std::size_t header_need_ = 2;
  // Current frame.
  bool in_frame_ = false;
  bool fin_ = false;
  Opcode opcode_ = Opcode::continuation;
  bool masked_ = false;
  std::uint8_t mask_[4] = {};
  std::uint64_t frame_len_ = 0;
  std::uint64_t frame_have_ = 0;
  std::string control_;  // payload of a control frame being assembled
  // Current (possibly fragmented) data message.
  bool in_message_ = false;
  Opcode message_op_ = Opcode::text;
  std::uint64_t message_size_ = 0;
  ByteBuffer message_;  // accumulated payload when not zero-copy
  Utf8Validator utf8_;
  bool failed_ = false;
  bool close_received_ = false;
  DecodeError error_;
};

}  // namespace tether::protocol
