#include "protocol/frame_decoder.hpp"

#include <algorithm>
#include <cstring>
#include <utility>

#include "protocol/mask.hpp"

namespace tether::protocol {

namespace {

// A header may announce a frame of up to max_message bytes before any of it arrives. Reserving
// all of it up front would let a peer make us allocate 16 MiB with 10 bytes, so the buffer grows
// with what actually arrives (doubling), never past the end of the announced frame, starting at
// this size.
constexpr std::size_t kMinReserve = 64 * 1024;
// Message buffers up to this size are kept between messages so steady traffic does not allocate;
// a larger one (a rare big message) is released so it does not pin memory for the connection's
// lifetime.
constexpr std::size_t kRetainCapacity = 4 * 1024 * 1024;

const char* opcode_name(Opcode op) {
  switch (op) {
    case Opcode::continuation:
      return "continuation";
    case Opcode::text:
      return "text";
    case Opcode::binary:
      return "binary";
    case Opcode::close:
      return "close";
    case Opcode::ping:
      return "ping";
    case Opcode::pong:
      return "pong";
  }
  return "unknown";
}

std::string hex_opcode(unsigned op) {
  static constexpr char kDigits[] = "0123456789ABCDEF";
  std::string s = "0x";
  s += kDigits[op & 0xF];
  return s;
}

}  // namespace

FrameDecoder::FrameDecoder(DecoderOptions options) : options_(options) {
  control_.reserve(kMaxControlPayload);
}

bool FrameDecoder::fail(errc code, std::uint16_t close, std::string message) {
  failed_ = true;
  error_.code = code;
  error_.close_code = close;
  error_.message = std::move(message);
  return false;
}

void FrameDecoder::reset() {
  header_have_ = 0;
  header_need_ = 2;
  in_frame_ = false;
  fin_ = false;
  opcode_ = Opcode::continuation;
  masked_ = false;
  frame_len_ = 0;
  frame_have_ = 0;
  control_.clear();
  in_message_ = false;
  message_op_ = Opcode::text;
  end_message();
  utf8_.reset();
  failed_ = false;
  close_received_ = false;
  error_ = DecodeError{};
}

std::size_t FrameDecoder::on_prefix(std::uint8_t b0, std::uint8_t b1) {
  if ((b0 & 0x70) != 0) {
    const char* which = (b0 & 0x40) ? "RSV1" : (b0 & 0x20) ? "RSV2" : "RSV3";
    fail(errc::protocol_error, close_code::protocol_error,
         std::string(which) + " set without a negotiated extension");
    return 0;
  }
  const unsigned op = b0 & 0x0F;
  if (!is_known_opcode(op)) {
    fail(errc::protocol_error, close_code::protocol_error, "reserved opcode " + hex_opcode(op));
    return 0;
  }
  const bool fin = (b0 & 0x80) != 0;
  const bool masked = (b1 & 0x80) != 0;
  if (options_.role == Role::client && masked) {
    fail(errc::protocol_error, close_code::protocol_error, "masked frame from server");
    return 0;
  }
  if (options_.role == Role::server && !masked) {
    fail(errc::protocol_error, close_code::protocol_error, "unmasked frame from client");
    return 0;
  }
  const auto opcode = static_cast<Opcode>(op);
  if (is_control(opcode)) {
    if (!fin) {
      fail(errc::protocol_error, close_code::protocol_error,
           std::string("fragmented ") + opcode_name(opcode) + " frame (FIN not set)");
      return 0;
    }
  } else if (opcode == Opcode::continuation) {
    if (!in_message_) {
      fail(errc::protocol_error, close_code::protocol_error,
           "continuation frame without a message to continue");
      return 0;
    }
  } else if (in_message_) {
    fail(errc::protocol_error, close_code::protocol_error,
         std::string(opcode_name(opcode)) + " frame while a fragmented message is unfinished");
    return 0;
  }
  const unsigned len7 = b1 & 0x7F;
  return 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + (masked ? 4 : 0);
}

bool FrameDecoder::on_header(const std::uint8_t* h) {
  fin_ = (h[0] & 0x80) != 0;
  opcode_ = static_cast<Opcode>(h[0] & 0x0F);
  masked_ = (h[1] & 0x80) != 0;
  std::uint64_t len = h[1] & 0x7F;
  std::size_t pos = 2;
  if (len == 126) {
    len = (std::uint64_t{h[2]} << 8) | h[3];
    pos = 4;
  } else if (len == 127) {
    len = 0;
    for (std::size_t i = 2; i < 10; ++i) len = (len << 8) | h[i];
    pos = 10;
    if ((len >> 63) != 0) {
      return fail(errc::protocol_error, close_code::protocol_error,
                  "64-bit payload length with the most significant bit set");
    }
  }
  if (masked_) std::memcpy(mask_, h + pos, 4);

  if (is_control(opcode_)) {
    if (len > kMaxControlPayload) {
      return fail(errc::protocol_error, close_code::protocol_error,
                  "control frame of " + std::to_string(len) + " bytes (the limit is 125)");
    }
    control_.clear();
  } else {
    if (opcode_ != Opcode::continuation) {
      in_message_ = true;
      message_op_ = opcode_;
      message_size_ = 0;
      message_.clear();
      utf8_.reset();
    }
    // message_size_ never exceeds max_message here, so the subtraction cannot wrap.
    if (options_.max_message != 0 && len > options_.max_message - message_size_) {
      return fail(errc::message_too_big, close_code::message_too_big,
                  "message of " + std::to_string(message_size_ + len) +
                      " bytes exceeds the limit of " + std::to_string(options_.max_message) +
                      " bytes");
    }
    message_size_ += len;
  }
  in_frame_ = true;
  frame_len_ = len;
  frame_have_ = 0;
  return true;
}

std::uint8_t* FrameDecoder::reserve_payload(std::size_t n) {
  const std::size_t old = message_.size();
  if (old + n > message_.capacity()) {
    // Grow geometrically with what arrives, but never past the end of the announced frame.
    const std::uint64_t frame_end = old + (frame_len_ - frame_have_);
    const std::uint64_t grown = std::max<std::uint64_t>(2 * message_.capacity(), kMinReserve);
    message_.reserve(static_cast<std::size_t>(
        std::max<std::uint64_t>(old + n, std::min<std::uint64_t>(frame_end, grown))));
  }
  return message_.tail();
}

bool FrameDecoder::commit_payload(std::size_t n, bool unmask) {
  std::uint8_t* dst = message_.tail();
  if (unmask) mask_copy(dst, dst, n, mask_, static_cast<std::size_t>(frame_have_ & 3));
  if (message_op_ == Opcode::text && !utf8_.feed(dst, n)) {
    return fail(errc::invalid_utf8, close_code::invalid_payload, "invalid UTF-8 in a text message");
  }
  message_.commit(n);
  return true;
}

bool FrameDecoder::append_data(const std::uint8_t* data, std::size_t n) {
  std::uint8_t* dst = reserve_payload(n);
  if (masked_) {
    mask_copy(dst, data, n, mask_, static_cast<std::size_t>(frame_have_ & 3));
  } else if (n != 0) {
    std::memcpy(dst, data, n);
  }
  return commit_payload(n, false);
}

std::uint8_t* FrameDecoder::payload_window(std::size_t max, std::size_t& size) {
  size = 0;
  if (failed_ || close_received_ || !in_frame_ || is_control(opcode_)) return nullptr;
  const std::uint64_t left = frame_len_ - frame_have_;
  if (left == 0) return nullptr;
  // No more room than feeding would have made: the buffer at most doubles before the bytes that
  // fill it arrive (a header alone never buys a large allocation).
  const std::size_t old = message_.size();
  const std::size_t growth = std::max(message_.capacity() - old, std::max(old, kMinReserve));
  size = static_cast<std::size_t>(std::min<std::uint64_t>(left, std::min(max, growth)));
  if (size == 0) return nullptr;
  return reserve_payload(size);
}

bool FrameDecoder::commit_window(std::size_t n, FrameSink& sink) {
  if (failed_) return false;
  if (!commit_payload(n, masked_)) return false;
  frame_have_ += n;
  if (frame_have_ == frame_len_) return finish_frame(sink, message_.view());
  return true;
}

void FrameDecoder::end_message() {
  in_message_ = false;
  message_size_ = 0;
  if (message_.capacity() > kRetainCapacity) {
    message_.release();
  } else {
    message_.clear();
  }
}

bool FrameDecoder::finish_frame(FrameSink& sink, std::string_view payload) {
  in_frame_ = false;
  switch (opcode_) {
    case Opcode::ping:
      sink.on_ping(payload);
      return true;
    case Opcode::pong:
      sink.on_pong(payload);
      return true;
    case Opcode::close: {
      if (payload.empty()) {
        close_received_ = true;
        sink.on_close(close_code::no_status, {});
        return true;
      }
      if (payload.size() == 1) {
        return fail(errc::protocol_error, close_code::protocol_error,
                    "close frame with a 1-byte payload");
      }
      const unsigned code = (static_cast<unsigned>(static_cast<std::uint8_t>(payload[0])) << 8) |
                            static_cast<std::uint8_t>(payload[1]);
      if (!is_valid_wire_close_code(code)) {
        return fail(errc::protocol_error, close_code::protocol_error,
                    "close code " + std::to_string(code) + " is not allowed on the wire");
      }
      const std::string_view reason = payload.substr(2);
      if (!is_valid_utf8(reason)) {
        return fail(errc::invalid_utf8, close_code::invalid_payload,
                    "invalid UTF-8 in the close reason");
      }
      close_received_ = true;
      sink.on_close(static_cast<std::uint16_t>(code), reason);
      return true;
    }
    case Opcode::continuation:
    case Opcode::text:
    case Opcode::binary:
      break;
  }
  if (!fin_) return true;
  if (message_op_ == Opcode::text && !utf8_.complete()) {
    return fail(errc::invalid_utf8, close_code::invalid_payload,
                "text message ends in the middle of a UTF-8 sequence");
  }
  sink.on_message(message_op_, payload);
  end_message();
  return true;
}

bool FrameDecoder::finish_whole_frame(FrameSink& sink, std::string_view payload) {
  if (opcode_ == Opcode::text && !utf8_.feed(payload)) {
    return fail(errc::invalid_utf8, close_code::invalid_payload, "invalid UTF-8 in a text message");
  }
  return finish_frame(sink, payload);
}

bool FrameDecoder::feed(const std::uint8_t* data, std::size_t n, FrameSink& sink) {
  std::size_t consumed = 0;
  return feed_slice(data, n, n, sink, consumed);
}

bool FrameDecoder::feed_slice(const std::uint8_t* data, std::size_t n, std::size_t slice,
                              FrameSink& sink, std::size_t& consumed) {
  consumed = 0;
  if (failed_) return false;
  std::size_t pos = 0;
  while (pos < n && !close_received_) {
    if (!in_frame_) {
      if (pos >= slice && header_have_ == 0) break;  // a frame boundary past the slice
      if (header_have_ == 0 && !in_message_ && options_.role == Role::client && n - pos >= 2) {
        // The commonest frame of all: a whole unfragmented text or binary message from the
        // server, unmasked, with a 7-bit length, lying whole in this chunk. It is delivered as a
        // view without the general header path (which treats any other frame).
        const std::uint8_t b0 = data[pos];
        const std::size_t len = data[pos + 1];  // 0x80 set (masked) makes it > 125
        if ((b0 == 0x81 || b0 == 0x82) && len <= 125 && len <= n - pos - 2 &&
            (options_.max_message == 0 || len <= options_.max_message)) {
          const std::string_view payload(reinterpret_cast<const char*>(data + pos + 2), len);
          pos += 2 + len;
          opcode_ = message_op_ = b0 == 0x81 ? Opcode::text : Opcode::binary;
          fin_ = true;
          utf8_.reset();
          if (!finish_whole_frame(sink, payload)) return false;
          continue;
        }
      }
      const std::uint8_t* header;
      if (header_have_ == 0 && n - pos >= 2) {
        // Common case: the header starts in this chunk; parse it in place when it is whole.
        header_need_ = on_prefix(data[pos], data[pos + 1]);
        if (header_need_ == 0) return false;
        if (n - pos < header_need_) {
          std::memcpy(header_, data + pos, n - pos);
          header_have_ = n - pos;
          consumed = n;
          return true;
        }
        header = data + pos;
        pos += header_need_;
      } else {
        if (header_have_ < 2) {
          header_[header_have_++] = data[pos++];
          if (header_have_ < 2) continue;
          header_need_ = on_prefix(header_[0], header_[1]);
          if (header_need_ == 0) return false;
        }
        const std::size_t take = std::min(header_need_ - header_have_, n - pos);
        std::memcpy(header_ + header_have_, data + pos, take);
        header_have_ += take;
        pos += take;
        if (header_have_ < header_need_) continue;
        header = header_;
      }
      header_have_ = 0;
      if (!on_header(header)) return false;

      if (frame_len_ == 0) {
        const std::string_view payload = is_control(opcode_) ? std::string_view() : message_.view();
        if (!finish_frame(sink, payload)) return false;
        continue;
      }
      // Zero copy: a control frame or a single-frame message lying whole in this chunk is
      // delivered as a view into it. (A masked frame must be unmasked into our own buffer.)
      if (!masked_ && frame_len_ <= n - pos &&
          (is_control(opcode_) || (fin_ && opcode_ != Opcode::continuation))) {
        const std::string_view payload(reinterpret_cast<const char*>(data + pos),
                                       static_cast<std::size_t>(frame_len_));
        pos += payload.size();
        if (!finish_whole_frame(sink, payload)) return false;
        continue;
      }
    }

    const std::uint64_t left = frame_len_ - frame_have_;
    const std::size_t take = left < n - pos ? static_cast<std::size_t>(left) : n - pos;
    if (is_control(opcode_)) {
      const std::size_t old = control_.size();
      control_.append(reinterpret_cast<const char*>(data + pos), take);
      if (masked_) {
        auto* dst = reinterpret_cast<std::uint8_t*>(&control_[old]);
        mask_copy(dst, dst, take, mask_, static_cast<std::size_t>(frame_have_ & 3));
      }
    } else if (!append_data(data + pos, take)) {
      return false;
    }
    frame_have_ += take;
    pos += take;
    if (frame_have_ == frame_len_) {
      const std::string_view payload =
          is_control(opcode_) ? std::string_view(control_) : message_.view();
      if (!finish_frame(sink, payload)) return false;
    }
  }
  consumed = close_received_ ? n : pos;  // bytes after a close frame are ignored
  return true;
}

}  // namespace tether::protocol
