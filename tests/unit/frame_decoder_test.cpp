#include "protocol/frame_decoder.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <new>
#include <ostream>
#include <random>
#include <string>
#include <vector>

#include "protocol/frame_writer.hpp"
#include "protocol/random.hpp"

// Records the largest single allocation while tracking is on, to check that the decoder does not
// trust a frame header with its memory (HostileLengthDoesNotPreallocateTheWholeFrame).
// This file replaces the global operator new and delete (to measure the decoder's allocations).
// Once inlined, GCC pairs gtest's `new` with the replacement's free() and warns; the pairing is
// correct because both operators are replaced together.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

static bool g_track_allocations = false;
static std::size_t g_largest_allocation = 0;

void* operator new(std::size_t n) {
  if (g_track_allocations && n > g_largest_allocation) g_largest_allocation = n;
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}

namespace tether::protocol {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// --- Helpers -------------------------------------------------------------------------------------

std::string wire(std::initializer_list<int> bytes) {
  std::string s;
  for (int b : bytes) s.push_back(static_cast<char>(b));
  return s;
}

const std::uint8_t* u8(const std::string& s) {
  return reinterpret_cast<const std::uint8_t*>(s.data());
}

struct Event {
  enum Kind { text, binary, ping, pong, close } kind;
  std::string payload;
  std::uint16_t code = 0;

  bool operator==(const Event& o) const {
    return kind == o.kind && payload == o.payload && code == o.code;
  }
};

std::ostream& operator<<(std::ostream& os, const Event& e) {
  static const char* const kNames[] = {"text", "binary", "ping", "pong", "close"};
  os << kNames[e.kind] << "(";
  if (e.kind == Event::close) os << e.code << ", ";
  if (e.payload.size() <= 64) {
    os << '"' << e.payload << '"';
  } else {
    os << e.payload.size() << " bytes";
  }
  return os << ")";
}

Event Text(std::string s) {
  return {Event::text, std::move(s), 0};
}
Event Binary(std::string s) {
  return {Event::binary, std::move(s), 0};
}
Event Ping(std::string s) {
  return {Event::ping, std::move(s), 0};
}
Event Pong(std::string s) {
  return {Event::pong, std::move(s), 0};
}
Event Close(std::uint16_t code, std::string reason) {
  return {Event::close, std::move(reason), code};
}

class RecordingSink final : public FrameSink {
 public:
  void on_message(Opcode op, std::string_view payload) override {
    events.push_back({op == Opcode::text ? Event::text : Event::binary, std::string(payload), 0});
    message_data.push_back(payload.data());
  }
  void on_ping(std::string_view payload) override {
    events.push_back({Event::ping, std::string(payload), 0});
  }
  void on_pong(std::string_view payload) override {
    events.push_back({Event::pong, std::string(payload), 0});
  }
  void on_close(std::uint16_t code, std::string_view reason) override {
    events.push_back({Event::close, std::string(reason), code});
  }

  std::vector<Event> events;
  std::vector<const char*> message_data;
};

enum class Chunking { whole, bytewise };

struct Outcome {
  bool ok = true;  // every feed returned true
  std::vector<Event> events;
  bool failed = false;
  DecodeError error;
  bool close_received = false;
  std::size_t fail_offset = 0;  // end of the chunk whose feed failed
};

Outcome decode(const std::string& bytes, Chunking chunking, DecoderOptions options = {}) {
  FrameDecoder decoder(options);
  RecordingSink sink;
  Outcome out;
  const std::size_t step = chunking == Chunking::whole ? bytes.size() : 1;
  for (std::size_t pos = 0; pos < bytes.size(); pos += step) {
    const std::size_t n = std::min(step, bytes.size() - pos);
    if (!decoder.feed(u8(bytes) + pos, n, sink)) {
      out.ok = false;
      out.fail_offset = pos + n;
      break;
    }
  }
  out.events = sink.events;
  out.failed = decoder.failed();
  out.error = decoder.error();
  out.close_received = decoder.close_received();
  return out;
}

DecoderOptions server_role() {
  DecoderOptions o;
  o.role = Role::server;
  return o;
}

// Always the same mask key: 37 fa 21 3d (the RFC 6455 5.7 examples).
class RfcKeySource final : public RandomSource {
 public:
  void fill(std::uint8_t* out, std::size_t n) override {
    static constexpr std::uint8_t kKey[4] = {0x37, 0xfa, 0x21, 0x3d};
    for (std::size_t i = 0; i < n; ++i) out[i] = kKey[i % 4];
  }
};

class SeededSource final : public RandomSource {
 public:
  explicit SeededSource(std::uint32_t seed) : rng_(seed) {}
  void fill(std::uint8_t* out, std::size_t n) override {
    for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<std::uint8_t>(rng_());
  }

 private:
  std::mt19937 rng_;
};

// gtest's own macro parameter is called `info`, so these are functions rather than lambdas.
std::string chunking_name(const ::testing::TestParamInfo<Chunking>& param) {
  return param.param == Chunking::whole ? "Whole" : "Bytewise";
}

// --- RFC 6455 5.7 examples -----------------------------------------------------------------------

class FrameDecoderRfcExamples : public ::testing::TestWithParam<Chunking> {};

TEST_P(FrameDecoderRfcExamples, SingleFrameUnmaskedText) {
  const Outcome r = decode(wire({0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f}), GetParam());
  EXPECT_TRUE(r.ok);
  EXPECT_THAT(r.events, ElementsAre(Text("Hello")));
}

TEST_P(FrameDecoderRfcExamples, SingleFrameMaskedTextInServerRole) {
  const Outcome r = decode(wire({0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58}),
                           GetParam(), server_role());
  EXPECT_TRUE(r.ok);
  EXPECT_THAT(r.events, ElementsAre(Text("Hello")));
}

TEST_P(FrameDecoderRfcExamples, FragmentedUnmaskedText) {
  const Outcome r =
      decode(wire({0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f}), GetParam());
  EXPECT_TRUE(r.ok);
  EXPECT_THAT(r.events, ElementsAre(Text("Hello")));
}

TEST_P(FrameDecoderRfcExamples, UnmaskedPing) {
  const Outcome r = decode(wire({0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f}), GetParam());
  EXPECT_TRUE(r.ok);
  EXPECT_THAT(r.events, ElementsAre(Ping("Hello")));
}

TEST_P(FrameDecoderRfcExamples, MaskedPongInServerRole) {
  const Outcome r = decode(wire({0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58}),
                           GetParam(), server_role());
  EXPECT_TRUE(r.ok);
  EXPECT_THAT(r.events, ElementsAre(Pong("Hello")));
}

TEST_P(FrameDecoderRfcExamples, Binary256BytesWith16BitLength) {
  std::string payload(256, '\0');
  for (std::size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<char>(i);
  const Outcome r = decode(wire({0x82, 0x7E, 0x01, 0x00}) + payload, GetParam());
  EXPECT_TRUE(r.ok);
  EXPECT_THAT(r.events, ElementsAre(Binary(payload)));
}

TEST_P(FrameDecoderRfcExamples, Binary64KiBWith64BitLength) {
  std::string payload(65536, '\0');
  for (std::size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<char>(i * 7 + 3);
  const Outcome r =
      decode(wire({0x82, 0x7F, 0, 0, 0, 0, 0, 0x01, 0x00, 0x00}) + payload, GetParam());
  EXPECT_TRUE(r.ok);
  EXPECT_THAT(r.events, ElementsAre(Binary(payload)));
}

INSTANTIATE_TEST_SUITE_P(Chunkings, FrameDecoderRfcExamples,
                         ::testing::Values(Chunking::whole, Chunking::bytewise), chunking_name);

// --- Accepted streams ----------------------------------------------------------------------------

class FrameDecoderAccepts : public ::testing::TestWithParam<Chunking> {};

TEST_P(FrameDecoderAccepts, EmptyMessages) {
  const Outcome r = decode(wire({0x81, 0x00, 0x82, 0x00}), GetParam());
  EXPECT_TRUE(r.ok);
  EXPECT_THAT(r.events, ElementsAre(Text(""), Binary("")));
}

TEST_P(FrameDecoderAccepts, EmptyFragments) {
  // An empty first fragment, an empty middle one, and an empty final continuation.
  const Outcome r = decode(wire({0x01, 0x00, 0x00, 0x02, 'a', 'b', 0x00, 0x00, 0x80, 0x00,  //
                                 0x02, 0x00, 0x80, 0x00}),
                           GetParam());
  EXPECT_TRUE(r.ok);
  EXPECT_THAT(r.events, ElementsAre(Text("ab"), Binary("")));
}

TEST_P(FrameDecoderAccepts, ControlFramesBetweenFragments) {
  const Outcome r = decode(wire({0x02, 0x02, 'a', 'b', 0x89, 0x01, 'p', 0x00, 0x01, 'c', 0x8A, 0x00,
                                 0x80, 0x01, 'd', 0x81, 0x01, 'e'}),
                           GetParam());
  EXPECT_TRUE(r.ok);
  EXPECT_THAT(r.events, ElementsAre(Ping("p"), Pong(""), Binary("abcd"), Text("e")));
}

TEST_P(FrameDecoderAccepts, CloseBetweenFragmentsEndsTheStream) {
  const Outcome r =
      decode(wire({0x01, 0x02, 'a', 'b', 0x88, 0x02, 0x03, 0xE8, 0x80, 0x01, 'c'}), GetParam());
  EXPECT_TRUE(r.ok);
  EXPECT_THAT(r.events, ElementsAre(Close(1000, "")));
}

TEST_P(FrameDecoderAccepts, Utf8SplitAcrossFragments) {
  // U+20AC (E2 82 AC) and U+1F600 (F0 9F 98 80), each cut inside the code point.
  const Outcome r = decode(wire({0x01, 0x02, 'x', 0xE2, 0x00, 0x01, 0x82, 0x00, 0x02, 0xAC, 0xF0,
                                 0x80, 0x03, 0x9F, 0x98, 0x80}),
                           GetParam());
  EXPECT_TRUE(r.ok);
  EXPECT_THAT(r.events, ElementsAre(Text("x\xE2\x82\xAC\xF0\x9F\x98\x80")));
}

TEST_P(FrameDecoderAccepts, NonMinimalLengthEncodings) {
  // Documented choice: 16- and 64-bit length fields holding small values are accepted.
  const Outcome r = decode(wire({0x81, 0x7E, 0x00, 0x02, 'h',  'i', 0x82, 0x7F, 0,    0,    0,
                                 0,    0,    0,    0,    0x01, 'z', 0x89, 0x7E, 0x00, 0x01, 'p'}),
                           GetParam());
  EXPECT_TRUE(r.ok);
  EXPECT_THAT(r.events, ElementsAre(Text("hi"), Binary("z"), Ping("p")));
}

TEST_P(FrameDecoderAccepts, CloseFrames) {
  EXPECT_THAT(decode(wire({0x88, 0x00}), GetParam()).events, ElementsAre(Close(1005, "")));
  EXPECT_THAT(decode(wire({0x88, 0x02, 0x03, 0xE8}), GetParam()).events,
              ElementsAre(Close(1000, "")));
  EXPECT_THAT(decode(wire({0x88, 0x05, 0x03, 0xF4, 'b', 'y', 'e'}), GetParam()).events,
              ElementsAre(Close(1012, "bye")));
  EXPECT_THAT(decode(wire({0x88, 0x04, 0x0B, 0xB8, 0xC3, 0xA9}), GetParam()).events,
              ElementsAre(Close(3000, "\xC3\xA9")));
  EXPECT_THAT(decode(wire({0x88, 0x02, 0x13, 0x87}), GetParam()).events,
              ElementsAre(Close(4999, "")));
  for (unsigned code : {1000u, 1001u, 1002u, 1003u, 1007u, 1008u, 1009u, 1010u, 1011u, 1012u, 1013u,
                        1014u, 3000u, 4000u, 4999u}) {
    const Outcome r = decode(
        wire({0x88, 0x02, static_cast<int>(code >> 8), static_cast<int>(code & 0xFF)}), GetParam());
    EXPECT_TRUE(r.ok) << code;
    EXPECT_TRUE(r.close_received) << code;
    EXPECT_THAT(r.events, ElementsAre(Close(static_cast<std::uint16_t>(code), ""))) << code;
  }
}

TEST_P(FrameDecoderAccepts, BytesAfterCloseAreIgnored) {
  // A message, then garbage that would otherwise be a protocol error.
  const Outcome r = decode(
      wire({0x88, 0x02, 0x03, 0xE8, 0x81, 0x02, 'h', 'i', 0xFF, 0xFF, 0x81, 0x81}), GetParam());
  EXPECT_TRUE(r.ok);
  EXPECT_FALSE(r.failed);
  EXPECT_TRUE(r.close_received);
  EXPECT_THAT(r.events, ElementsAre(Close(1000, "")));
}

TEST_P(FrameDecoderAccepts, MessageExactlyAtTheLimit) {
  DecoderOptions options;
  options.max_message = 5;
  const Outcome r =
      decode(wire({0x01, 0x02, 'a', 'b', 0x80, 0x03, 'c', 'd', 'e'}), GetParam(), options);
  EXPECT_TRUE(r.ok);
  EXPECT_THAT(r.events, ElementsAre(Text("abcde")));
}

TEST_P(FrameDecoderAccepts, NoLimitWhenMaxMessageIsZero) {
  DecoderOptions options;
  options.max_message = 0;
  const std::string payload(70000, 'q');
  const Outcome r =
      decode(wire({0x82, 0x7F, 0, 0, 0, 0, 0, 0x01, 0x11, 0x70}) + payload, GetParam(), options);
  EXPECT_TRUE(r.ok);
  EXPECT_THAT(r.events, ElementsAre(Binary(payload)));
}

TEST_P(FrameDecoderAccepts, MaskedFragmentsAndControlsInServerRole) {
  SeededSource random(7);
  MaskKeyPool masks(random);
  std::string w;
  encode_frame(w, Opcode::text, false, "fragment one, ", &masks);
  encode_frame(w, Opcode::ping, true, "are you there", &masks);
  encode_frame(w, Opcode::continuation, false, "two, ", &masks);
  encode_frame(w, Opcode::continuation, true, std::string(300, 'x'), &masks);
  encode_close_frame(w, 1001, "going", &masks);
  const Outcome r = decode(w, GetParam(), server_role());
  EXPECT_TRUE(r.ok);
  EXPECT_THAT(r.events, ElementsAre(Ping("are you there"),
                                    Text("fragment one, two, " + std::string(300, 'x')),
                                    Close(1001, "going")));
}

INSTANTIATE_TEST_SUITE_P(Chunkings, FrameDecoderAccepts,
                         ::testing::Values(Chunking::whole, Chunking::bytewise), chunking_name);

// --- Rejections: every one checked fed whole and fed one byte at a time --------------------------

struct Rejection {
  const char* name;
  std::string bytes;
  errc code;
  std::uint16_t close_code;
  const char* message;  // a substring of the error message
  Role role = Role::client;
  std::uint64_t max_message = 16u * 1024 * 1024;
  std::size_t events_before = 0;  // events delivered before the violation
};

std::ostream& operator<<(std::ostream& os, const Rejection& r) {
  return os << r.name;
}

std::vector<Rejection> rejections() {
  const errc pe = errc::protocol_error;
  const errc iu = errc::invalid_utf8;
  const errc tb = errc::message_too_big;
  std::vector<Rejection> v = {
      {"Rsv1", wire({0xC1, 0x01, 'x'}), pe, 1002, "RSV1 set without a negotiated extension"},
      {"Rsv2", wire({0xA1, 0x01, 'x'}), pe, 1002, "RSV2 set without a negotiated extension"},
      {"Rsv3", wire({0x91, 0x01, 'x'}), pe, 1002, "RSV3 set without a negotiated extension"},
      {"Rsv1OnControl", wire({0xC9, 0x00}), pe, 1002, "RSV1 set"},
      {"MaskedFrameFromServer", wire({0x81, 0x81, 1, 2, 3, 4, 'x'}), pe, 1002,
       "masked frame from server"},
      {"UnmaskedFrameFromClient", wire({0x81, 0x01, 'x'}), pe, 1002, "unmasked frame from client",
       Role::server},
      {"UnmaskedPingFromClient", wire({0x89, 0x00}), pe, 1002, "unmasked frame from client",
       Role::server},
      {"ControlFrameOf126Bytes", wire({0x89, 0x7E, 0x00, 0x7E}) + std::string(126, 'p'), pe, 1002,
       "control frame of 126 bytes"},
      {"ControlFrameOf200Bytes", wire({0x8A, 0x7E, 0x00, 0xC8}) + std::string(200, 'p'), pe, 1002,
       "control frame of 200 bytes"},
      {"CloseFrameOf64BitLength", wire({0x88, 0x7F, 0, 0, 0, 0, 0, 0, 0x01, 0x00}), pe, 1002,
       "control frame of 256 bytes"},
      {"FragmentedPing", wire({0x09, 0x01, 'p', 0x80, 0x00}), pe, 1002, "fragmented ping frame"},
      {"FragmentedClose", wire({0x08, 0x00}), pe, 1002, "fragmented close frame"},
      {"ContinuationWithoutMessage", wire({0x80, 0x01, 'x'}), pe, 1002,
       "continuation frame without a message to continue"},
      {"ContinuationAfterFinishedMessage", wire({0x81, 0x01, 'a', 0x80, 0x01, 'b'}), pe, 1002,
       "continuation frame without a message to continue", Role::client, 1u << 24, 1},
      {"TextWhileFragmentedUnfinished", wire({0x01, 0x01, 'a', 0x81, 0x01, 'b'}), pe, 1002,
       "text frame while a fragmented message is unfinished"},
      {"BinaryWhileFragmentedUnfinished", wire({0x02, 0x01, 'a', 0x02, 0x01, 'b'}), pe, 1002,
       "binary frame while a fragmented message is unfinished"},
      {"LengthTopBitSet", wire({0x82, 0x7F, 0x80, 0, 0, 0, 0, 0, 0, 0x01}), pe, 1002,
       "64-bit payload length with the most significant bit set"},
      {"TooBig64BitHeader", wire({0x82, 0x7F, 0, 0, 0, 0, 0x02, 0, 0, 0}), tb, 1009,
       "message of 33554432 bytes exceeds the limit of 16777216 bytes"},
      {"TooBig16BitHeader", wire({0x81, 0x7E, 0x03, 0xE9}), tb, 1009,
       "message of 1001 bytes exceeds the limit of 1000 bytes", Role::client, 1000},
      {"TooBigAcrossFragments",
       wire({0x02, 0x7E, 0x01, 0xF4}) + std::string(500, 'a') + wire({0x80, 0x7E, 0x01, 0xF5}), tb,
       1009, "message of 1001 bytes exceeds the limit of 1000 bytes", Role::client, 1000},
      {"TooBigInServerRole", wire({0x82, 0x84, 1, 2, 3, 4}), tb, 1009,
       "message of 4 bytes exceeds the limit of 3 bytes", Role::server, 3},
      {"InvalidUtf8", wire({0x81, 0x02, 0xC0, 0xAF}), iu, 1007, "invalid UTF-8 in a text message"},
      {"Utf8Surrogate", wire({0x81, 0x03, 0xED, 0xA0, 0x80}), iu, 1007, "invalid UTF-8"},
      {"Utf8TruncatedAtEnd", wire({0x81, 0x02, 'a', 0xE2}), iu, 1007,
       "text message ends in the middle of a UTF-8 sequence"},
      {"Utf8InvalidAcrossFragments", wire({0x01, 0x01, 0xE2, 0x80, 0x01, 0x28}), iu, 1007,
       "invalid UTF-8 in a text message"},
      {"Utf8TruncatedAcrossFragments", wire({0x01, 0x01, 0xE2, 0x80, 0x01, 0x82}), iu, 1007,
       "text message ends in the middle of a UTF-8 sequence"},
      {"Utf8TruncatedBeforeEmptyFinal", wire({0x01, 0x01, 0xF0, 0x80, 0x00}), iu, 1007,
       "ends in the middle"},
      {"CloseOneBytePayload", wire({0x88, 0x01, 0x03}), pe, 1002,
       "close frame with a 1-byte payload"},
      {"CloseInvalidReason", wire({0x88, 0x04, 0x03, 0xE8, 0xC0, 0xAF}), iu, 1007,
       "invalid UTF-8 in the close reason"},
      {"CloseTruncatedReason", wire({0x88, 0x03, 0x03, 0xE8, 0xE2}), iu, 1007,
       "invalid UTF-8 in the close reason"},
  };
  for (unsigned op : {3u, 4u, 5u, 6u, 7u, 0xBu, 0xCu, 0xDu, 0xEu, 0xFu}) {
    static const char* const kNames[] = {"", "", "", "Op3", "Op4", "Op5", "Op6", "Op7",
                                         "", "", "", "OpB", "OpC", "OpD", "OpE", "OpF"};
    static const char* const kMessages[] = {"",
                                            "",
                                            "",
                                            "reserved opcode 0x3",
                                            "reserved opcode 0x4",
                                            "reserved opcode 0x5",
                                            "reserved opcode 0x6",
                                            "reserved opcode 0x7",
                                            "",
                                            "",
                                            "",
                                            "reserved opcode 0xB",
                                            "reserved opcode 0xC",
                                            "reserved opcode 0xD",
                                            "reserved opcode 0xE",
                                            "reserved opcode 0xF"};
    v.push_back({kNames[op], wire({static_cast<int>(0x80 | op), 0x00}), pe, 1002, kMessages[op]});
  }
  struct BadCode {
    const char* name;
    unsigned code;
    const char* message;
  };
  for (const BadCode& c : {BadCode{"Close999", 999, "close code 999 is not allowed on the wire"},
                           BadCode{"Close0", 0, "close code 0 is not allowed"},
                           BadCode{"Close1004", 1004, "close code 1004 is not allowed"},
                           BadCode{"Close1005", 1005, "close code 1005 is not allowed on the wire"},
                           BadCode{"Close1006", 1006, "close code 1006 is not allowed on the wire"},
                           BadCode{"Close1015", 1015, "close code 1015 is not allowed on the wire"},
                           BadCode{"Close1016", 1016, "close code 1016 is not allowed"},
                           BadCode{"Close2999", 2999, "close code 2999 is not allowed"},
                           BadCode{"Close5000", 5000, "close code 5000 is not allowed on the wire"},
                           BadCode{"Close65535", 65535, "close code 65535 is not allowed"}}) {
    v.push_back({c.name,
                 wire({0x88, 0x04, static_cast<int>(c.code >> 8), static_cast<int>(c.code & 0xFF),
                       'o', 'k'}),
                 pe, 1002, c.message});
  }
  return v;
}

class FrameDecoderRejects : public ::testing::TestWithParam<Rejection> {};

std::string rejection_name(const ::testing::TestParamInfo<Rejection>& param) {
  return param.param.name;
}

void expect_rejected(const Rejection& c, Chunking chunking) {
  DecoderOptions options;
  options.role = c.role;
  options.max_message = c.max_message;
  const Outcome r = decode(c.bytes, chunking, options);
  EXPECT_FALSE(r.ok);
  EXPECT_TRUE(r.failed);
  EXPECT_EQ(r.error.code, c.code) << to_string(r.error.code);
  EXPECT_EQ(r.error.close_code, c.close_code);
  EXPECT_THAT(r.error.message, HasSubstr(c.message));
  EXPECT_EQ(r.events.size(), c.events_before);
}

TEST_P(FrameDecoderRejects, FedWhole) {
  expect_rejected(GetParam(), Chunking::whole);
}
TEST_P(FrameDecoderRejects, FedByteByByte) {
  expect_rejected(GetParam(), Chunking::bytewise);
}

INSTANTIATE_TEST_SUITE_P(Cases, FrameDecoderRejects, ::testing::ValuesIn(rejections()),
                         rejection_name);

// --- Fail fast -----------------------------------------------------------------------------------

TEST(FrameDecoder, SizeLimitDecidedFromTheHeaderAlone) {
  // Only the 10 header bytes of a 32 MiB frame: the failure must not wait for any payload.
  const std::string header = wire({0x82, 0x7F, 0, 0, 0, 0, 0x02, 0, 0, 0});
  const Outcome whole = decode(header, Chunking::whole);
  EXPECT_FALSE(whole.ok);
  EXPECT_EQ(whole.error.code, errc::message_too_big);
  EXPECT_EQ(whole.error.close_code, 1009);
  const Outcome bytewise = decode(header, Chunking::bytewise);
  EXPECT_FALSE(bytewise.ok);
  EXPECT_EQ(bytewise.fail_offset, header.size());
}

TEST(FrameDecoder, FirstTwoBytesAreCheckedBeforeTheRestOfTheHeader) {
  // A masked frame from a server with a 64-bit length fails on its second byte.
  const Outcome r =
      decode(wire({0x82, 0xFF, 0, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4, 'x'}), Chunking::bytewise);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.fail_offset, 2u);
  EXPECT_EQ(r.error.message, "masked frame from server");
}

TEST(FrameDecoder, InvalidUtf8FailsBeforeTheMessageEnds) {
  // The first fragment already holds an impossible byte; the final fragment never arrives.
  FrameDecoder decoder;
  RecordingSink sink;
  const std::string first = wire({0x01, 0x03, 'o', 'k', 0xFF});
  EXPECT_FALSE(decoder.feed(u8(first), first.size(), sink));
  EXPECT_EQ(decoder.error().code, errc::invalid_utf8);
  EXPECT_EQ(decoder.error().close_code, 1007);

  // Also inside one large frame, byte by byte: the failure comes at the bad byte.
  std::string big = wire({0x81, 0x7E, 0x10, 0x00}) + std::string(100, 'a') + "\xC0";
  big += std::string(0x1000 - 101, 'b');
  const Outcome r = decode(big, Chunking::bytewise);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.fail_offset, 4u + 101u);
}

// --- Zero copy and buffering ---------------------------------------------------------------------

TEST(FrameDecoder, WholeFrameIsDeliveredAsAViewIntoTheInput) {
  const std::string input =
      wire({0x81, 0x05, 'H', 'e', 'l', 'l', 'o', 0x82, 0x7E, 0x01, 0x00}) + std::string(256, 'b');
  FrameDecoder decoder;
  RecordingSink sink;
  ASSERT_TRUE(decoder.feed(u8(input), input.size(), sink));
  ASSERT_EQ(sink.message_data.size(), 2u);
  EXPECT_EQ(sink.message_data[0], input.data() + 2);
  EXPECT_EQ(sink.message_data[1], input.data() + 11);
  EXPECT_THAT(sink.events, ElementsAre(Text("Hello"), Binary(std::string(256, 'b'))));
}

TEST(FrameDecoder, SplitFrameIsCopied) {
  const std::string input = wire({0x81, 0x05, 'H', 'e', 'l', 'l', 'o'});
  FrameDecoder decoder;
  RecordingSink sink;
  ASSERT_TRUE(decoder.feed(u8(input), 4, sink));
  ASSERT_TRUE(decoder.feed(u8(input) + 4, 3, sink));
  ASSERT_EQ(sink.message_data.size(), 1u);
  const char* p = sink.message_data[0];
  EXPECT_TRUE(p < input.data() || p >= input.data() + input.size());
  EXPECT_THAT(sink.events, ElementsAre(Text("Hello")));
}

TEST(FrameDecoder, SliceStopsAtTheFirstFrameBoundaryPastIt) {
  // Three 7-byte frames: a slice of 8 bytes ends after the second frame, not inside it.
  const std::string input = wire({0x81, 0x05, 'a', 'a', 'a', 'a', 'a'}) +
                            wire({0x81, 0x05, 'b', 'b', 'b', 'b', 'b'}) +
                            wire({0x81, 0x05, 'c', 'c', 'c', 'c', 'c'});
  FrameDecoder decoder;
  RecordingSink sink;
  std::size_t consumed = 0;
  ASSERT_TRUE(decoder.feed_slice(u8(input), input.size(), 8, sink, consumed));
  EXPECT_EQ(consumed, 14u);
  EXPECT_THAT(sink.events, ElementsAre(Text("aaaaa"), Text("bbbbb")));
  ASSERT_TRUE(decoder.feed_slice(u8(input) + 14, input.size() - 14, 8, sink, consumed));
  EXPECT_EQ(consumed, 7u);
  EXPECT_THAT(sink.events, ElementsAre(Text("aaaaa"), Text("bbbbb"), Text("ccccc")));
}

TEST(FrameDecoder, SliceNeverCutsAFrameLyingWholeInTheInput) {
  // A 64 KiB frame and a small one; a 16 KiB slice still delivers the large frame as a view.
  const std::string input = wire({0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0}) + std::string(65536, 'x') +
                            wire({0x81, 0x01, 'y'});
  FrameDecoder decoder;
  RecordingSink sink;
  std::size_t consumed = 0;
  ASSERT_TRUE(decoder.feed_slice(u8(input), input.size(), 16 * 1024, sink, consumed));
  EXPECT_EQ(consumed, 10u + 65536u);
  ASSERT_EQ(sink.message_data.size(), 1u);
  EXPECT_EQ(sink.message_data[0], input.data() + 10);
  ASSERT_TRUE(decoder.feed_slice(u8(input) + consumed, input.size() - consumed, 16 * 1024, sink,
                                 consumed));
  EXPECT_EQ(consumed, 3u);
  EXPECT_THAT(sink.events, ElementsAre(Binary(std::string(65536, 'x')), Text("y")));
}

TEST(FrameDecoder, SliceConsumesAPartialFrameToTheEndOfTheInput) {
  // The frame's header and part of its payload: all of it is taken (buffered), whatever the slice.
  const std::string input = wire({0x81, 0x05, 'a', 'a', 'a', 'a', 'a', 0x81, 0x05, 'b', 'b'});
  FrameDecoder decoder;
  RecordingSink sink;
  std::size_t consumed = 0;
  ASSERT_TRUE(decoder.feed_slice(u8(input), input.size(), 1, sink, consumed));
  EXPECT_EQ(consumed, 7u);
  ASSERT_TRUE(decoder.feed_slice(u8(input) + 7, input.size() - 7, 1, sink, consumed));
  EXPECT_EQ(consumed, 4u);
  const std::string rest = wire({'b', 'b', 'b'});
  ASSERT_TRUE(decoder.feed_slice(u8(rest), rest.size(), 1, sink, consumed));
  EXPECT_EQ(consumed, 3u);
  EXPECT_THAT(sink.events, ElementsAre(Text("aaaaa"), Text("bbbbb")));
}

// Writes `bytes` through payload_window()/commit_window() in pieces of at most `max`.
bool write_through_windows(FrameDecoder& decoder, std::string_view bytes, std::size_t max,
                           RecordingSink& sink) {
  while (!bytes.empty()) {
    std::size_t room = 0;
    std::uint8_t* w = decoder.payload_window(max, room);
    if (w == nullptr || room == 0) return false;
    const std::size_t take = std::min(room, bytes.size());
    std::memcpy(w, bytes.data(), take);
    if (!decoder.commit_window(take, sink)) return false;
    bytes.remove_prefix(take);
  }
  return true;
}

TEST(FrameDecoder, RestOfAFrameCanBeWrittenThroughItsWindow) {
  std::string payload(200000, 'w');
  for (std::size_t i = 0; i < payload.size(); i += 97) payload[i] = static_cast<char>('a' + i % 26);
  const std::string head = wire({0x82, 0x7F, 0, 0, 0, 0, 0, 0x03, 0x0D, 0x40});  // 200,000
  FrameDecoder decoder;
  RecordingSink sink;
  // No frame under way: no window.
  std::size_t room = 7;
  EXPECT_EQ(decoder.payload_window(1 << 20, room), nullptr);
  EXPECT_EQ(room, 0u);
  const std::string first = head + payload.substr(0, 1000);
  ASSERT_TRUE(decoder.feed(u8(first), first.size(), sink));
  // The window never reaches past the frame.
  ASSERT_NE(decoder.payload_window(1 << 20, room), nullptr);
  EXPECT_LE(room, payload.size() - 1000);
  ASSERT_TRUE(write_through_windows(decoder, std::string_view(payload).substr(1000), 50000, sink));
  EXPECT_THAT(sink.events, ElementsAre(Binary(payload)));
  EXPECT_EQ(decoder.payload_window(1 << 20, room), nullptr);
  // The next frame decodes as usual.
  const std::string next = wire({0x81, 0x02, 'o', 'k'});
  ASSERT_TRUE(decoder.feed(u8(next), next.size(), sink));
  EXPECT_THAT(sink.events, ElementsAre(Binary(payload), Text("ok")));
}

TEST(FrameDecoder, WindowBytesAreUnmaskedAndValidatedLikeFedOnes) {
  // A masked frame (server role): the bytes written through the window are unmasked.
  SeededSource random(3);
  MaskKeyPool masks(random);
  std::string frame;
  std::string text(5000, 'x');
  for (std::size_t i = 0; i < text.size(); i += 7) text[i] = static_cast<char>('a' + i % 26);
  encode_frame(frame, Opcode::text, true, text, &masks);
  FrameDecoder server(server_role());
  RecordingSink sink;
  ASSERT_TRUE(server.feed(u8(frame), 11, sink));
  ASSERT_TRUE(write_through_windows(server, std::string_view(frame).substr(11), 333, sink));
  EXPECT_THAT(sink.events, ElementsAre(Text(text)));

  // Invalid UTF-8 arriving through the window fails the stream as it would when fed.
  FrameDecoder client;
  RecordingSink client_sink;
  const std::string head = wire({0x81, 0x7E, 0x01, 0x00});  // text, 256 bytes
  ASSERT_TRUE(client.feed(u8(head), head.size(), client_sink));
  std::string bad(256, 'a');
  bad[100] = static_cast<char>(0xFF);
  EXPECT_FALSE(write_through_windows(client, bad, 1000, client_sink));
  EXPECT_TRUE(client.failed());
  EXPECT_EQ(client.error().code, errc::invalid_utf8);
  std::size_t room = 0;
  EXPECT_EQ(client.payload_window(1000, room), nullptr);
  EXPECT_TRUE(client_sink.events.empty());
}

TEST(FrameDecoder, NoWindowForControlFrames) {
  FrameDecoder decoder;
  RecordingSink sink;
  const std::string ping = wire({0x89, 0x05, 'p', 'i'});
  ASSERT_TRUE(decoder.feed(u8(ping), ping.size(), sink));
  std::size_t room = 0;
  EXPECT_EQ(decoder.payload_window(1000, room), nullptr);
}

TEST(FrameDecoder, WindowDoesNotPreallocateAHostileFrame) {
  // A header announcing 16 MiB buys a window no larger than feeding would have reserved.
  FrameDecoder decoder({Role::client, 0});
  RecordingSink sink;
  const std::string head = wire({0x82, 0x7F, 0, 0, 0, 0, 0x01, 0, 0, 0});
  ASSERT_TRUE(decoder.feed(u8(head), head.size(), sink));
  std::size_t room = 0;
  g_largest_allocation = 0;
  g_track_allocations = true;
  ASSERT_NE(decoder.payload_window(16u << 20, room), nullptr);
  g_track_allocations = false;
  EXPECT_LE(room, 64u * 1024);
  EXPECT_LE(g_largest_allocation, 64u * 1024);
}

TEST(FrameDecoder, HostileLengthDoesNotPreallocateTheWholeFrame) {
  // 16 MiB announced (within the limit) but only a trickle arrives: the buffer follows what
  // arrived, not what the header claims.
  FrameDecoder decoder;
  RecordingSink sink;
  const std::string header = wire({0x82, 0x7F, 0, 0, 0, 0, 0x01, 0, 0, 0});
  const std::string trickle(100 * 1024, 'a');
  g_largest_allocation = 0;
  g_track_allocations = true;
  const bool ok = decoder.feed(u8(header), header.size(), sink) &&
                  decoder.feed(u8(trickle), 10, sink) &&
                  decoder.feed(u8(trickle), trickle.size(), sink);
  g_track_allocations = false;
  EXPECT_TRUE(ok);
  EXPECT_TRUE(sink.events.empty());
  EXPECT_LE(g_largest_allocation, 512u * 1024);
}

TEST(FrameDecoder, ManyFramesWithRandomChunking) {
  SeededSource random(1);
  MaskKeyPool masks(random);
  std::mt19937 rng(42);
  for (const Role role : {Role::client, Role::server}) {
    std::string stream;
    std::vector<Event> expected;
    for (int i = 0; i < 200; ++i) {
      const std::size_t size = rng() % 4 == 0 ? rng() % 70000 : rng() % 300;
      std::string payload(size, '\0');
      for (char& c : payload) c = static_cast<char>('a' + rng() % 26);
      MaskKeyPool* m = role == Role::server ? &masks : nullptr;
      if (rng() % 5 == 0) {
        const std::string ping = payload.substr(0, std::min<std::size_t>(size, 125));
        encode_frame(stream, Opcode::ping, true, ping, m);
        expected.push_back(Ping(ping));
      }
      if (rng() % 3 == 0 && size > 2) {
        encode_frame(stream, Opcode::binary, false, payload.substr(0, size / 2), m);
        encode_frame(stream, Opcode::continuation, true, payload.substr(size / 2), m);
        expected.push_back(Binary(payload));
      } else {
        encode_frame(stream, Opcode::text, true, payload, m);
        expected.push_back(Text(payload));
      }
    }
    FrameDecoder decoder({role, 1u << 20});
    RecordingSink sink;
    for (std::size_t pos = 0; pos < stream.size();) {
      const std::size_t max_chunk = rng() % 2 ? 16 : 100000;
      const std::size_t n = std::min<std::size_t>(1 + rng() % max_chunk, stream.size() - pos);
      ASSERT_TRUE(decoder.feed(u8(stream) + pos, n, sink)) << decoder.error().message;
      pos += n;
    }
    EXPECT_EQ(sink.events, expected);
  }
}

// --- Failure and reset ---------------------------------------------------------------------------

TEST(FrameDecoder, AfterFailureEveryFeedReturnsFalseWithoutEvents) {
  FrameDecoder decoder;
  RecordingSink sink;
  const std::string bad = wire({0xC1, 0x00});
  EXPECT_FALSE(decoder.feed(u8(bad), bad.size(), sink));
  const std::string good = wire({0x81, 0x02, 'h', 'i', 0x89, 0x00});
  EXPECT_FALSE(decoder.feed(u8(good), good.size(), sink));
  EXPECT_TRUE(decoder.failed());
  EXPECT_TRUE(sink.events.empty());
  EXPECT_EQ(decoder.error().message, "RSV1 set without a negotiated extension");
}

TEST(FrameDecoder, EventsBeforeTheFailureAreDelivered) {
  const Outcome r = decode(wire({0x81, 0x02, 'h', 'i', 0x89, 0x00, 0xC1, 0x00}), Chunking::whole);
  EXPECT_FALSE(r.ok);
  EXPECT_THAT(r.events, ElementsAre(Text("hi"), Ping("")));
}

TEST(FrameDecoder, ResetGivesAFreshDecoder) {
  FrameDecoder decoder;
  RecordingSink sink;
  // Fail in the middle of a fragmented message and a half-read header.
  const std::string bad = wire({0x01, 0x02, 'a', 'b', 0x82});
  EXPECT_TRUE(decoder.feed(u8(bad), bad.size(), sink));
  const std::string bad2 = wire({0x01});
  EXPECT_FALSE(decoder.feed(u8(bad2), bad2.size(), sink));
  decoder.reset();
  EXPECT_FALSE(decoder.failed());
  EXPECT_FALSE(decoder.close_received());
  const std::string good = wire({0x81, 0x02, 'h', 'i', 0x88, 0x00});
  EXPECT_TRUE(decoder.feed(u8(good), good.size(), sink));
  EXPECT_THAT(sink.events, ElementsAre(Text("hi"), Close(1005, "")));
  EXPECT_TRUE(decoder.close_received());

  decoder.reset();
  EXPECT_FALSE(decoder.close_received());
  const std::string more = wire({0x82, 0x01, 'x'});
  EXPECT_TRUE(decoder.feed(u8(more), more.size(), sink));
  EXPECT_EQ(sink.events.back(), Binary("x"));
}

TEST(FrameDecoder, FeedingNothingIsHarmless) {
  FrameDecoder decoder;
  RecordingSink sink;
  EXPECT_TRUE(decoder.feed(nullptr, 0, sink));
  EXPECT_TRUE(sink.events.empty());
}

}  // namespace
}  // namespace tether::protocol
