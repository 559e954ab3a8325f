// libFuzzer target for the RFC 6455 frame decoder, UTF-8 validation and the closing handshake
// (built and run by scripts/fuzz.sh frame).
//
// Input: one configuration byte (role, message limit), one byte choosing the chunking, then the
// byte stream from the peer. The stream is decoded twice, in one piece and in chunks (each chunk
// decoded whole or in slices by feed_slice(), the rest of a frame possibly written through
// payload_window()), and aborts on any inconsistency:
//   - both decodes give the same events and the same outcome (chunking and slicing never matter);
//   - a failed decode has an error name, the close code that goes with it (1002, 1007, 1009) and
//     a one-line message, and every later feed() fails without events;
//   - no message is larger than the limit, and never more payload than input bytes;
//   - text messages and close reasons are valid UTF-8 (checked by an independent validator),
//     control payloads are at most 125 bytes, close codes are 1005 (no payload) or valid on the
//     wire;
//   - nothing is delivered after a close frame;
// then the decoded close frame drives a CloseHandshake, whose reported code must follow its
// contract.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_input.hpp"
#include "protocol/close_handshake.hpp"
#include "protocol/frame.hpp"
#include "protocol/frame_decoder.hpp"
#include "protocol/utf8.hpp"

namespace {

using tether::fuzz::check;
using tether::fuzz::fail;
using namespace tether::protocol;

// A deliberately simple UTF-8 check (RFC 3629 table 3-7), independent of protocol::Utf8Validator.
bool reference_utf8(std::string_view s) {
  std::size_t i = 0;
  const auto at = [&s](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  while (i < s.size()) {
    const unsigned c = at(i);
    std::size_t n = 0;
    unsigned lo = 0x80, hi = 0xBF;
    if (c <= 0x7F) {
      ++i;
      continue;
    } else if (c >= 0xC2 && c <= 0xDF) {
      n = 1;
    } else if (c == 0xE0) {
      n = 2, lo = 0xA0;
    } else if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) {
      n = 2;
    } else if (c == 0xED) {
      n = 2, hi = 0x9F;
    } else if (c == 0xF0) {
      n = 3, lo = 0x90;
    } else if (c >= 0xF1 && c <= 0xF3) {
      n = 3;
    } else if (c == 0xF4) {
      n = 3, hi = 0x8F;
    } else {
      return false;
    }
    if (i + n >= s.size()) return false;  // truncated sequence
    const unsigned c1 = at(i + 1);
    if (c1 < lo || c1 > hi) return false;
    for (std::size_t k = 2; k <= n; ++k) {
      const unsigned ck = at(i + k);
      if (ck < 0x80 || ck > 0xBF) return false;
    }
    i += n + 1;
  }
  return true;
}

struct Event {
  char kind;  // 'm' message, 'p' ping, 'o' pong, 'c' close
  Opcode op = Opcode::binary;
  std::uint16_t code = 0;
  std::string payload;
  bool operator==(const Event& o) const {
    return kind == o.kind && op == o.op && code == o.code && payload == o.payload;
  }
};

class Recorder : public FrameSink {
 public:
  Recorder(std::uint64_t limit, std::size_t input_size) : limit_(limit), input_size_(input_size) {}

  void on_message(Opcode op, std::string_view payload) override {
    before_event();
    check(op == Opcode::text || op == Opcode::binary, "message with a non-data opcode");
    if (limit_ != 0) check(payload.size() <= limit_, "message over the limit");
    if (op == Opcode::text) {
      check(reference_utf8(payload), "text message is not valid UTF-8");
      check(is_valid_utf8(payload), "is_valid_utf8 disagrees on a delivered text message");
    }
    add({'m', op, 0, std::string(payload)});
  }
  void on_ping(std::string_view payload) override {
    before_event();
    check(payload.size() <= kMaxControlPayload, "ping payload over 125 bytes");
    add({'p', Opcode::ping, 0, std::string(payload)});
  }
  void on_pong(std::string_view payload) override {
    before_event();
    check(payload.size() <= kMaxControlPayload, "pong payload over 125 bytes");
    add({'o', Opcode::pong, 0, std::string(payload)});
  }
  void on_close(std::uint16_t code, std::string_view reason) override {
    before_event();
    check(reason.size() <= kMaxControlPayload - 2, "close reason over 123 bytes");
    if (code == close_code::no_status) {
      check(reason.empty(), "close 1005 with a reason");
    } else {
      check(is_valid_wire_close_code(code), "close code not valid on the wire");
    }
    check(reference_utf8(reason), "close reason is not valid UTF-8");
    closed_ = true;
    add({'c', Opcode::close, code, std::string(reason)});
  }

  const std::vector<Event>& events() const { return events_; }
  bool closed() const { return closed_; }

 private:
  void before_event() { check(!closed_, "event delivered after a close frame"); }
  void add(Event e) {
    payload_bytes_ += e.payload.size();
    check(payload_bytes_ <= input_size_, "more payload delivered than bytes received");
    events_.push_back(std::move(e));
  }

  std::uint64_t limit_;
  std::size_t input_size_;
  std::uint64_t payload_bytes_ = 0;
  bool closed_ = false;
  std::vector<Event> events_;
};

void check_error(const FrameDecoder& decoder) {
  const DecodeError& e = decoder.error();
  switch (e.code) {
    case tether::errc::protocol_error:
      check(e.close_code == close_code::protocol_error, "protocol_error without 1002");
      break;
    case tether::errc::invalid_utf8:
      check(e.close_code == close_code::invalid_payload, "invalid_utf8 without 1007");
      break;
    case tether::errc::message_too_big:
      check(e.close_code == close_code::message_too_big, "message_too_big without 1009");
      break;
    default:
      fail("unexpected decode error name");
  }
  check(tether::fuzz::one_line(e.message), "decode error message is not one line", e.message);
}

struct Outcome {
  bool ok = true;
  tether::errc code = tether::errc::protocol_error;
  std::uint16_t close = 0;
};

// Decodes one chunk as the connection does: feed() when `slice` is 0, else feed_slice() in a loop
// until the chunk is consumed; with `window` > 0, whenever a frame is part-way through, up to
// `window` of the next bytes go through payload_window() and commit_window() instead (as the
// connection receives the rest of a large frame from the socket).
bool feed_chunk(FrameDecoder& decoder, const std::uint8_t* p, std::size_t n, std::size_t slice,
                std::size_t window, Recorder& sink) {
  if (slice == 0) return decoder.feed(p, n, sink);
  const std::size_t steps = 2 * n;  // each step consumes at least one byte
  for (std::size_t step = 0; step <= steps; ++step) {
    std::size_t room = 0;
    std::uint8_t* w = window > 0 ? decoder.payload_window(window, room) : nullptr;
    if (w != nullptr) {
      check(room > 0 && room <= window, "payload_window() room out of bounds");
      const std::size_t take = std::min(room, n);
      std::copy(p, p + take, w);
      if (!decoder.commit_window(take, sink)) return false;
      p += take;
      n -= take;
      if (n == 0) return true;
      continue;
    }
    std::size_t consumed = 0;
    const bool ok = decoder.feed_slice(p, n, slice, sink, consumed);
    if (!ok) return false;
    check(consumed <= n, "feed_slice() consumed more than it was given");
    check(consumed > 0 || n == 0, "feed_slice() consumed nothing");
    p += consumed;
    n -= consumed;
    if (n == 0) return true;
  }
  fail("feed_slice() never finished a chunk");
  return false;
}

Outcome decode(const DecoderOptions& options, std::string_view stream,
               const std::vector<std::size_t>& chunks, std::size_t slice, std::size_t window,
               Recorder& sink) {
  FrameDecoder decoder(options);
  const auto* p = reinterpret_cast<const std::uint8_t*>(stream.data());
  std::size_t at = 0;
  std::size_t chunk_index = 0;
  Outcome out;
  while (at < stream.size()) {
    std::size_t n = stream.size() - at;
    if (!chunks.empty()) {
      n = std::min(n, chunks[chunk_index % chunks.size()]);
      ++chunk_index;
    }
    const bool ok = feed_chunk(decoder, p + at, n, slice, window, sink);
    check(ok == !decoder.failed(), "feed() result disagrees with failed()");
    at += n;
    if (!ok) {
      check_error(decoder);
      out.ok = false;
      out.code = decoder.error().code;
      out.close = decoder.error().close_code;
      // Sticky: later bytes are not read and deliver nothing.
      const std::size_t before = sink.events().size();
      check(!decoder.feed(p, stream.size(), sink), "feed() after a failure succeeded");
      check(sink.events().size() == before, "events after a failure");
      break;
    }
  }
  check(decoder.close_received() == sink.closed(), "close_received() disagrees with events");
  // A zero-length feed changes nothing.
  const std::size_t before = sink.events().size();
  const bool again = decoder.feed(p, 0, sink);
  check(again == out.ok, "empty feed changed the outcome");
  check(sink.events().size() == before, "empty feed delivered events");
  return out;
}

void check_close_handshake(const Recorder& sink, bool local_first, std::uint16_t local_code) {
  CloseHandshake close;
  check(close.phase() == CloseHandshake::Phase::open, "new close handshake not open");
  if (local_first) check(close.start_local(local_code, "bye"), "first start_local refused");
  const Event* remote = nullptr;
  for (const Event& e : sink.events()) {
    if (e.kind == 'c') remote = &e;
  }
  if (remote != nullptr) {
    const auto echo = close.on_remote(remote->code, remote->payload);
    if (local_first) {
      check(!echo, "echo owed although we closed first");
      check(close.phase() == CloseHandshake::Phase::closed, "not closed after both frames");
    } else {
      check(echo && *echo == remote->code, "echo code differs from the peer's");
      check(close.phase() == CloseHandshake::Phase::closing_remote,
            "echo owed but not closing_remote");
      check(close.start_local(*echo, ""), "echo refused");
      check(close.phase() == CloseHandshake::Phase::closed, "not closed after the echo");
    }
    check(!close.on_remote(1000, ""), "a second close frame asked for an echo");
    check(close.clean(), "both frames but not clean");
  }
  close.on_transport_closed();
  check(!close.start_local(1000, ""), "start_local after the transport closed");
  if (local_first) {
    check(close.initiated_locally(), "closed first but not initiated locally");
    check(close.reported_code() == local_code, "reported code is not ours");
  } else if (remote != nullptr) {
    check(close.reported_code() == remote->code, "reported code is not the peer's");
    check(close.reported_reason() == remote->payload, "reported reason is not the peer's");
  } else {
    check(close.reported_code() == close_code::abnormal, "no close frame but not 1006");
    check(close.reported_reason().empty(), "1006 with a reason");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  tether::fuzz::Input in(data, size);
  const std::uint8_t config = in.byte();
  DecoderOptions options;
  options.role = (config & 0x80) ? Role::server : Role::client;
  static constexpr std::uint64_t kLimits[] = {0, 1, 16, 125, 126, 1000, 65536, 16u << 20};
  options.max_message = kLimits[config & 7];
  const bool local_first = (config & 0x40) != 0;
  const std::uint16_t local_code = (config & 0x20) ? 1001 : 1000;
  const std::uint8_t chunking = in.byte();
  const std::string_view stream = in.rest();

  std::vector<std::size_t> chunks;
  if (chunking == 0) {
    chunks = {1};
  } else {
    for (int i = 0; i < 4; ++i) chunks.push_back(1 + ((chunking >> (2 * i)) & 3) * (1 + i * 3));
  }

  Recorder whole(options.max_message, stream.size());
  const Outcome a = decode(options, stream, {}, 0, 0, whole);
  // The chunked decode also slices each chunk (0: not at all), as the connection slices a read,
  // and may write the rest of a frame through payload_window() (0: never).
  static constexpr std::size_t kSlices[] = {0, 1, 7, 64};
  static constexpr std::size_t kWindows[] = {0, 0, 3, 1000};
  const std::size_t mode = (config >> 3) & 3;
  Recorder pieces(options.max_message, stream.size());
  const Outcome b = decode(options, stream, chunks, kSlices[mode], kWindows[mode], pieces);

  check(a.ok == b.ok, "chunking changed success");
  if (!a.ok) check(a.code == b.code && a.close == b.close, "chunking changed the error");
  // A failing stream may stop at a different event when the violation is seen earlier (for
  // example a UTF-8 error found in a first fragment); the events of a successful one must agree.
  if (a.ok) {
    check(whole.events() == pieces.events(), "chunking changed the events");
  } else {
    const std::size_t n = std::min(whole.events().size(), pieces.events().size());
    for (std::size_t i = 0; i < n; ++i) {
      check(whole.events()[i] == pieces.events()[i], "chunking changed an event");
    }
  }
  check_close_handshake(whole, local_first, local_code);
  return 0;
}
