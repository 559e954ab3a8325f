#include "protocol/frame_writer.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <random>
#include <string>
#include <vector>

#include "protocol/frame_decoder.hpp"
#include "protocol/mask.hpp"
#include "protocol/random.hpp"

namespace tether::protocol {
namespace {

using ::testing::ElementsAre;

std::string wire(std::initializer_list<int> bytes) {
  std::string s;
  for (int b : bytes) s.push_back(static_cast<char>(b));
  return s;
}

const std::uint8_t* u8(const std::string& s) {
  return reinterpret_cast<const std::uint8_t*>(s.data());
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

// Decoded events as short strings: "text:Hello", "ping:", "close:1000:bye".
class StringSink final : public FrameSink {
 public:
  void on_message(Opcode op, std::string_view payload) override {
    events.push_back((op == Opcode::text ? "text:" : "binary:") + std::string(payload));
  }
  void on_ping(std::string_view payload) override {
    events.push_back("ping:" + std::string(payload));
  }
  void on_pong(std::string_view payload) override {
    events.push_back("pong:" + std::string(payload));
  }
  void on_close(std::uint16_t code, std::string_view reason) override {
    events.push_back("close:" + std::to_string(code) + ":" + std::string(reason));
  }
  std::vector<std::string> events;
};

// Decodes `bytes` as the peer of a writer in `writer_role` would; fails the test on any error.
std::vector<std::string> decode_as_peer(const std::string& bytes, Role writer_role) {
  DecoderOptions options;
  options.role = writer_role == Role::client ? Role::server : Role::client;
  options.max_message = 0;
  FrameDecoder decoder(options);
  StringSink sink;
  EXPECT_TRUE(decoder.feed(u8(bytes), bytes.size(), sink)) << decoder.error().message;
  return sink.events;
}

// Runs fill() with capacity `cap` until the writer is empty; returns everything written.
std::string drain(FrameWriter& writer, std::size_t cap, std::vector<std::uint64_t>* completed) {
  std::string out;
  std::vector<std::uint8_t> buffer(cap);
  while (!writer.empty()) {
    const std::size_t n = writer.fill(buffer.data(), cap, completed);
    EXPECT_GT(n, 0u);
    if (n == 0) break;
    out.append(reinterpret_cast<const char*>(buffer.data()), n);
  }
  return out;
}

// The same with the capacities `caps` in turn, calling `after_fill` after each fill.
std::string drain_in_fills(FrameWriter& writer, const std::vector<std::size_t>& caps,
                           std::vector<std::uint64_t>* completed,
                           const std::function<void()>& after_fill = {}) {
  std::string out;
  std::vector<std::uint8_t> buffer(*std::max_element(caps.begin(), caps.end()));
  for (std::size_t i = 0; !writer.empty(); ++i) {
    const std::size_t n = writer.fill(buffer.data(), caps[i % caps.size()], completed);
    EXPECT_GT(n, 0u);
    if (n == 0) break;
    out.append(reinterpret_cast<const char*>(buffer.data()), n);
    if (after_fill) after_fill();
  }
  return out;
}

WriterOptions server_options(std::size_t fragment_size = 0) {
  WriterOptions o;
  o.role = Role::server;
  o.fragment_size = fragment_size;
  return o;
}

// --- One-shot encoders ---------------------------------------------------------------------------

TEST(EncodeFrame, UnmaskedHello) {
  std::string out;
  encode_frame(out, Opcode::text, true, "Hello", nullptr);
  EXPECT_EQ(out, wire({0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f}));
}

TEST(EncodeFrame, MaskedHelloMatchesRfcExample) {
  RfcKeySource random;
  MaskKeyPool masks(random);
  std::string out = "prefix";
  encode_frame(out, Opcode::text, true, "Hello", &masks);
  EXPECT_EQ(out,
            "prefix" + wire({0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58}));
}

TEST(EncodeFrame, LengthForms) {
  struct Case {
    std::size_t size;
    std::string header;
  };
  for (const Case& c :
       {Case{0, wire({0x82, 0x00})}, Case{125, wire({0x82, 0x7D})},
        Case{126, wire({0x82, 0x7E, 0x00, 0x7E})}, Case{65535, wire({0x82, 0x7E, 0xFF, 0xFF})},
        Case{65536, wire({0x82, 0x7F, 0, 0, 0, 0, 0, 0x01, 0x00, 0x00})}}) {
    std::string out;
    const std::string payload(c.size, 'z');
    encode_frame(out, Opcode::binary, true, payload, nullptr);
    EXPECT_EQ(out, c.header + payload) << c.size;
  }
  std::string fragment;
  encode_frame(fragment, Opcode::continuation, false, "ab", nullptr);
  EXPECT_EQ(fragment, wire({0x00, 0x02, 'a', 'b'}));
}

TEST(EncodeCloseFrame, CodeAndReason) {
  std::string out;
  encode_close_frame(out, 1000, "bye", nullptr);
  EXPECT_EQ(out, wire({0x88, 0x05, 0x03, 0xE8, 'b', 'y', 'e'}));
}

TEST(EncodeCloseFrame, NoStatusIsAnEmptyPayload) {
  std::string out;
  encode_close_frame(out, 1005, "ignored", nullptr);
  EXPECT_EQ(out, wire({0x88, 0x00}));
  RfcKeySource random;
  MaskKeyPool masks(random);
  std::string masked;
  encode_close_frame(masked, 1005, "", &masks);
  EXPECT_EQ(masked, wire({0x88, 0x80, 0x37, 0xfa, 0x21, 0x3d}));
}

TEST(EncodeCloseFrame, MaskedCode) {
  RfcKeySource random;
  MaskKeyPool masks(random);
  std::string out;
  encode_close_frame(out, 1000, "", &masks);
  EXPECT_EQ(out, wire({0x88, 0x82, 0x37, 0xfa, 0x21, 0x3d, 0x03 ^ 0x37, 0xE8 ^ 0xfa}));
}

TEST(EncodeCloseFrame, LongReasonIsTruncatedOnACodePointBoundary) {
  std::string out;
  encode_close_frame(out, 1001, std::string(200, 'a'), nullptr);
  EXPECT_EQ(out, wire({0x88, 0x7D, 0x03, 0xE9}) + std::string(123, 'a'));

  // 122 ASCII bytes + U+20AC (3 bytes) would be 127 bytes of payload: the euro sign goes whole.
  out.clear();
  encode_close_frame(out, 1001, std::string(122, 'a') + "\xE2\x82\xAC", nullptr);
  EXPECT_EQ(out, wire({0x88, 0x7C, 0x03, 0xE9}) + std::string(122, 'a'));
  EXPECT_THAT(decode_as_peer(out, Role::server),
              ElementsAre("close:1001:" + std::string(122, 'a')));

  // A reason that fits exactly is kept whole.
  out.clear();
  const std::string fits = std::string(119, 'a') + "\xF0\x9F\x98\x80";
  encode_close_frame(out, 4000, fits, nullptr);
  EXPECT_EQ(out.size(), 2u + 125u);
  EXPECT_THAT(decode_as_peer(out, Role::server), ElementsAre("close:4000:" + fits));
}

// --- FrameWriter: byte-exact output --------------------------------------------------------------

TEST(FrameWriter, MaskedHelloIsByteExact) {
  RfcKeySource random;
  MaskKeyPool masks(random);
  FrameWriter writer(WriterOptions{}, &masks);
  writer.push_message(Opcode::text, "Hello", 7);
  EXPECT_EQ(writer.pending_bytes(), 5u);
  EXPECT_EQ(writer.pending_messages(), 1u);
  std::uint8_t out[64];
  std::vector<std::uint64_t> completed;
  const std::size_t n = writer.fill(out, sizeof out, &completed);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(out), n),
            wire({0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58}));
  EXPECT_THAT(completed, ElementsAre(7u));
  EXPECT_TRUE(writer.empty());
  EXPECT_EQ(writer.pending_bytes(), 0u);
  EXPECT_EQ(writer.fill(out, sizeof out, &completed), 0u);
}

TEST(FrameWriter, ServerRoleDoesNotMask) {
  FrameWriter writer(server_options(), nullptr);
  writer.push_message(Opcode::text, "Hello", 1);
  writer.push_message(Opcode::binary, "", 2);
  writer.push_control(Opcode::ping, "p");
  std::vector<std::uint64_t> completed;
  // The ping was queued last but goes before the first data frame.
  EXPECT_EQ(drain(writer, 64, &completed),
            wire({0x89, 0x01, 'p', 0x81, 0x05, 'H', 'e', 'l', 'l', 'o', 0x82, 0x00}));
  EXPECT_THAT(completed, ElementsAre(1u, 2u));
}

TEST(FrameWriter, FragmentsAreByteExact) {
  FrameWriter writer(server_options(4), nullptr);
  writer.push_message(Opcode::text, "Hello, world", 1);
  writer.push_message(Opcode::binary, "abcd", 2);
  writer.push_message(Opcode::binary, "", 3);
  writer.push_message(Opcode::text, "xyzzy", 4);
  std::vector<std::uint64_t> completed;
  EXPECT_EQ(drain(writer, 1000, &completed),
            wire({0x01, 0x04, 'H',  'e',  'l', 'l', 0x00, 0x04, 'o',  ',',  ' ', 'w',
                  0x80, 0x04, 'o',  'r',  'l', 'd', 0x82, 0x04, 'a',  'b',  'c', 'd',
                  0x82, 0x00, 0x01, 0x04, 'x', 'y', 'z',  'z',  0x80, 0x01, 'y'}));
  EXPECT_THAT(completed, ElementsAre(1u, 2u, 3u, 4u));
}

TEST(FrameWriter, MatchesTheOneShotEncoderAcrossSmallFills) {
  // The same key sequence on both sides: the writer's output, cut into fills of awkward sizes,
  // must equal encode_frame's, which proves the mask phase is carried across fills.
  SeededSource random_a(5);
  SeededSource random_b(5);
  MaskKeyPool writer_masks(random_a);
  MaskKeyPool reference_masks(random_b);
  std::mt19937 rng(9);
  std::string payload(100003, '\0');
  for (char& c : payload) c = static_cast<char>(rng());
  std::string expected;
  encode_frame(expected, Opcode::binary, true, payload, &reference_masks);
  encode_frame(expected, Opcode::text, true, "tail", &reference_masks);

  FrameWriter writer(WriterOptions{}, &writer_masks);
  writer.push_message(Opcode::binary, payload, 1);
  writer.push_message(Opcode::text, "tail", 2);
  std::vector<std::uint64_t> completed;
  const std::string out = drain_in_fills(writer, {14, 15, 17, 1021, 333, 14, 998}, &completed);
  EXPECT_EQ(out, expected);
  EXPECT_THAT(completed, ElementsAre(1u, 2u));
  EXPECT_THAT(decode_as_peer(out, Role::client), ElementsAre("binary:" + payload, "text:tail"));
}

TEST(FrameWriter, StartsAFrameOnlyWhenItsHeaderFits) {
  FrameWriter writer(server_options(), nullptr);
  writer.push_message(Opcode::binary, std::string(10, 'a'), 1);   // 12 bytes on the wire
  writer.push_message(Opcode::binary, std::string(300, 'b'), 2);  // 4-byte header
  std::uint8_t out[15];
  std::vector<std::uint64_t> completed;
  EXPECT_EQ(writer.fill(out, 15, &completed), 12u);  // 3 bytes left: no room for a 4-byte header
  EXPECT_THAT(completed, ElementsAre(1u));
  EXPECT_EQ(writer.fill(out, 15, &completed), 15u);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(out), 4), wire({0x82, 0x7E, 0x01, 0x2C}));
}

// --- Coalescing ----------------------------------------------------------------------------------

TEST(FrameWriter, ThousandSmallMessagesCoalesceIntoOneFill) {
  SeededSource random(3);
  MaskKeyPool masks(random);
  FrameWriter writer(WriterOptions{}, &masks);
  std::vector<std::string> expected;
  std::size_t wire_size = 0;
  for (int i = 0; i < 1000; ++i) {
    std::string m = "message " + std::to_string(i);
    wire_size += 6 + m.size();
    expected.push_back("text:" + m);
    writer.push_message(Opcode::text, std::move(m), static_cast<std::uint64_t>(i));
  }
  std::vector<std::uint8_t> buffer(256 * 1024);
  std::vector<std::uint64_t> completed;
  const std::size_t n = writer.fill(buffer.data(), buffer.size(), &completed);
  EXPECT_EQ(n, wire_size);
  EXPECT_TRUE(writer.empty());
  ASSERT_EQ(completed.size(), 1000u);
  for (std::size_t i = 0; i < completed.size(); ++i) EXPECT_EQ(completed[i], i);
  EXPECT_EQ(
      decode_as_peer(std::string(reinterpret_cast<const char*>(buffer.data()), n), Role::client),
      expected);
}

// --- Control frames ------------------------------------------------------------------------------

TEST(FrameWriter, ControlFramesGoBetweenFragments) {
  SeededSource random(11);
  MaskKeyPool masks(random);
  WriterOptions options;
  options.fragment_size = 4;
  FrameWriter writer(options, &masks);
  writer.push_message(Opcode::text, "0123456789ab", 1);
  std::uint8_t buffer[14];
  std::string out;
  std::vector<std::uint64_t> completed;
  // One 10-byte frame (6 header + 4 payload) fits in 14; the next 10-byte frame does not.
  std::size_t n = writer.fill(buffer, 14, &completed);
  ASSERT_EQ(n, 10u);
  out.append(reinterpret_cast<const char*>(buffer), n);
  writer.push_control(Opcode::ping, "p1");
  writer.push_control(Opcode::pong, "p2");
  out += drain(writer, 14, &completed);
  EXPECT_THAT(completed, ElementsAre(1u));
  EXPECT_THAT(decode_as_peer(out, Role::client),
              ElementsAre("ping:p1", "pong:p2", "text:0123456789ab"));
  // The ping comes right after the first fragment.
  EXPECT_EQ(static_cast<std::uint8_t>(out[10]), 0x89);
}

TEST(FrameWriter, ControlFrameNeverInterruptsADataFrame) {
  FrameWriter writer(server_options(), nullptr);
  const std::string payload(100, 'd');
  writer.push_message(Opcode::binary, payload, 1);
  std::uint8_t buffer[20];
  std::vector<std::uint64_t> completed;
  std::string out;
  std::size_t n = writer.fill(buffer, 20, &completed);
  out.append(reinterpret_cast<const char*>(buffer), n);
  writer.push_control(Opcode::ping, "now");
  writer.push_message(Opcode::text, "after", 2);
  out += drain(writer, 20, &completed);
  EXPECT_EQ(out,
            wire({0x82, 0x64}) + payload + wire({0x89, 0x03, 'n', 'o', 'w', 0x81, 0x05}) + "after");
  EXPECT_THAT(completed, ElementsAre(1u, 2u));
}

TEST(FrameWriter, LargeControlFrameMaySpanFills) {
  SeededSource random(12);
  MaskKeyPool masks(random);
  FrameWriter writer(WriterOptions{}, &masks);
  const std::string ping(125, 'p');
  writer.push_control(Opcode::ping, ping);
  writer.push_message(Opcode::text, "x", 1);
  EXPECT_EQ(writer.pending_bytes(), 126u);
  std::uint8_t buffer[14];
  std::vector<std::uint64_t> completed;
  std::string out;
  // The ping frame is 131 bytes: the first nine fills carry nothing else.
  for (int i = 0; i < 9; ++i) {
    ASSERT_EQ(writer.fill(buffer, 14, &completed), 14u);
    out.append(reinterpret_cast<const char*>(buffer), 14);
    EXPECT_TRUE(completed.empty());
  }
  EXPECT_EQ(writer.pending_bytes(), 126u);
  // 5 bytes finish the ping, then the 7-byte data frame.
  ASSERT_EQ(writer.fill(buffer, 14, &completed), 12u);
  out.append(reinterpret_cast<const char*>(buffer), 12);
  EXPECT_THAT(completed, ElementsAre(1u));
  EXPECT_EQ(writer.pending_bytes(), 0u);
  EXPECT_THAT(decode_as_peer(out, Role::client), ElementsAre("ping:" + ping, "text:x"));

  writer.push_close(1000, "done");
  EXPECT_EQ(writer.pending_bytes(), 6u);
  EXPECT_THAT(decode_as_peer(drain(writer, 14, nullptr), Role::client),
              ElementsAre("close:1000:done"));
  EXPECT_EQ(writer.pending_bytes(), 0u);
}

TEST(FrameWriter, ControlAndCloseFramesDecode) {
  SeededSource random(13);
  MaskKeyPool masks(random);
  FrameWriter writer(WriterOptions{}, &masks);
  writer.push_message(Opcode::binary, "m1", 1);
  std::string out = drain(writer, 100, nullptr);
  writer.push_control(Opcode::ping, "");
  writer.push_control(Opcode::pong, "pong payload");
  writer.push_close(1001, "bye");
  // Control frames overtake queued data, a close frame included: data queued behind a close
  // would be ignored by the peer, so callers drain (or clear_data()) before closing.
  writer.push_message(Opcode::binary, "m2", 2);
  out += drain(writer, 100, nullptr);
  EXPECT_THAT(decode_as_peer(out, Role::client),
              ElementsAre("binary:m1", "ping:", "pong:pong payload", "close:1001:bye"));
}

// --- Completion tags and accounting --------------------------------------------------------------

TEST(FrameWriter, TagsReportedOnceInOrderWhenTheLastByteIsWritten) {
  std::mt19937 rng(21);
  for (const std::size_t fragment_size : {std::size_t{0}, std::size_t{7}, std::size_t{1000}}) {
    FrameWriter writer(server_options(fragment_size), nullptr);
    std::vector<std::size_t> sizes;
    for (std::uint64_t tag = 0; tag < 200; ++tag) {
      const std::size_t size = rng() % 3 == 0 ? rng() % 5000 : rng() % 50;
      sizes.push_back(size);
      writer.push_message(tag % 2 ? Opcode::binary : Opcode::text, std::string(size, 'x'), tag);
    }
    // Where each message's last byte lies in the stream.
    std::vector<std::size_t> ends;
    std::size_t offset = 0;
    for (const std::size_t size : sizes) {
      const std::size_t frame = fragment_size == 0 ? size : fragment_size;
      std::size_t left = size;
      do {
        const std::size_t len = std::min(left, frame);
        offset += frame_header_size(len, false) + len;
        left -= len;
      } while (left > 0);
      ends.push_back(offset);
    }
    std::vector<std::uint8_t> buffer(3000);
    std::size_t total = 0;
    std::uint64_t next_tag = 0;
    while (!writer.empty()) {
      std::vector<std::uint64_t> completed;
      const std::size_t cap = 14 + rng() % 2986;
      total += writer.fill(buffer.data(), cap, &completed);
      for (const std::uint64_t tag : completed) {
        ASSERT_EQ(tag, next_tag);
        ASSERT_LE(ends[tag], total);
        ++next_tag;
      }
      // Every message whose last byte is out has been reported by now.
      ASSERT_TRUE(next_tag == ends.size() || ends[next_tag] > total);
    }
    EXPECT_EQ(next_tag, 200u);
    EXPECT_EQ(total, ends.back());
  }
}

TEST(FrameWriter, PendingBytesCountsUnwrittenPayload) {
  FrameWriter writer(server_options(), nullptr);
  writer.push_message(Opcode::binary, std::string(10, 'a'), 1);
  writer.push_message(Opcode::binary, std::string(20, 'b'), 2);
  writer.push_control(Opcode::ping, "12345");
  EXPECT_EQ(writer.pending_bytes(), 35u);
  EXPECT_EQ(writer.pending_messages(), 2u);
  std::uint8_t buffer[20];
  EXPECT_EQ(writer.fill(buffer, 20, nullptr), 19u);  // ping (7) + first message (12)
  EXPECT_EQ(writer.pending_bytes(), 20u);
  EXPECT_EQ(writer.pending_messages(), 1u);
  EXPECT_EQ(writer.fill(buffer, 14, nullptr), 14u);  // header + 12 of 20
  EXPECT_EQ(writer.pending_bytes(), 8u);
  EXPECT_FALSE(writer.empty());
  EXPECT_EQ(writer.fill(buffer, 20, nullptr), 8u);
  EXPECT_EQ(writer.pending_bytes(), 0u);
  EXPECT_TRUE(writer.empty());
}

// --- clear() -------------------------------------------------------------------------------------

TEST(FrameWriter, ClearReturnsDroppedTagsIncludingAPartlyWrittenMessage) {
  SeededSource random(31);
  MaskKeyPool masks(random);
  FrameWriter writer(WriterOptions{}, &masks);
  writer.push_message(Opcode::text, "done", 1);
  writer.push_message(Opcode::binary, std::string(1000, 'p'), 2);
  writer.push_message(Opcode::text, "queued", 3);
  writer.push_control(Opcode::ping, "x");
  std::uint8_t buffer[100];
  std::vector<std::uint64_t> completed;
  writer.fill(buffer, 100, &completed);
  EXPECT_THAT(completed, ElementsAre(1u));
  writer.push_control(Opcode::pong, "y");
  EXPECT_THAT(writer.clear(), ElementsAre(2u, 3u));
  EXPECT_TRUE(writer.empty());
  EXPECT_EQ(writer.pending_bytes(), 0u);
  EXPECT_EQ(writer.pending_messages(), 0u);
  EXPECT_EQ(writer.fill(buffer, 100, &completed), 0u);
  EXPECT_TRUE(writer.clear().empty());

  // A new connection: framing starts from scratch.
  writer.push_message(Opcode::text, "fresh", 4);
  writer.push_control(Opcode::ping, "hi");
  const std::string out = drain(writer, 100, &completed);
  EXPECT_THAT(completed, ElementsAre(1u, 4u));
  EXPECT_THAT(decode_as_peer(out, Role::client), ElementsAre("ping:hi", "text:fresh"));
}

TEST(FrameWriter, ClearInTheMiddleOfAControlFrameAndAFragment) {
  FrameWriter writer(server_options(3), nullptr);
  writer.push_control(Opcode::ping, std::string(100, 'q'));
  std::uint8_t buffer[50];
  EXPECT_EQ(writer.fill(buffer, 50, nullptr), 50u);
  EXPECT_TRUE(writer.clear().empty());

  writer.push_message(Opcode::binary, "abcdefgh", 9);
  EXPECT_EQ(writer.fill(buffer, 13, nullptr), 13u);  // two fragments + half of the third
  EXPECT_THAT(writer.clear(), ElementsAre(9u));

  writer.push_message(Opcode::text, "new", 10);
  std::vector<std::uint64_t> completed;
  EXPECT_EQ(drain(writer, 50, &completed), wire({0x81, 0x03, 'n', 'e', 'w'}));
  EXPECT_THAT(completed, ElementsAre(10u));
}

// --- clear_data() --------------------------------------------------------------------------------

TEST(FrameWriter, ClearDataLetsTheCloseFrameGoNext) {
  FrameWriter writer(server_options(), nullptr);
  writer.push_message(Opcode::text, "one", 1);
  writer.push_message(Opcode::text, "two", 2);
  writer.push_control(Opcode::pong, "keep");
  writer.clear_data();
  EXPECT_EQ(writer.pending_messages(), 0u);
  EXPECT_EQ(writer.pending_bytes(), 4u);
  writer.push_close(1002, "bad frame");
  EXPECT_FALSE(writer.empty());
  std::vector<std::uint64_t> completed;
  EXPECT_THAT(decode_as_peer(drain(writer, 100, &completed), Role::server),
              ElementsAre("pong:keep", "close:1002:bad frame"));
  EXPECT_TRUE(completed.empty());
  EXPECT_TRUE(writer.empty());
  EXPECT_EQ(writer.pending_bytes(), 0u);
  EXPECT_THAT(writer.clear(), ElementsAre(1u, 2u));
}

TEST(FrameWriter, ClearDataFinishesAFinalFrameInProgress) {
  FrameWriter writer(server_options(), nullptr);
  writer.push_message(Opcode::binary, std::string(50, 'a'), 1);
  writer.push_message(Opcode::binary, "b", 2);
  std::uint8_t buffer[20];
  std::vector<std::uint64_t> completed;
  std::string out;
  out.append(reinterpret_cast<const char*>(buffer), writer.fill(buffer, 20, &completed));
  writer.clear_data();
  EXPECT_EQ(writer.pending_bytes(), 32u);  // the rest of the frame in progress
  EXPECT_EQ(writer.pending_messages(), 1u);
  writer.push_close(1000, "");
  out += drain(writer, 20, &completed);
  EXPECT_THAT(completed, ElementsAre(1u));  // its last byte did go out
  EXPECT_THAT(decode_as_peer(out, Role::server),
              ElementsAre("binary:" + std::string(50, 'a'), "close:1000:"));
  EXPECT_THAT(writer.clear(), ElementsAre(2u));
}

TEST(FrameWriter, ClearDataEndsAFragmentedMessageAfterTheCurrentFrame) {
  FrameWriter writer(server_options(10), nullptr);
  writer.push_message(Opcode::text, std::string(35, 'a'), 1);
  writer.push_message(Opcode::text, "later", 2);
  std::uint8_t buffer[16];
  std::vector<std::uint64_t> completed;
  std::string out;
  out.append(reinterpret_cast<const char*>(buffer), writer.fill(buffer, 16, &completed));
  // 12 bytes of frame one, then the header and 2 payload bytes of frame two.
  writer.clear_data();
  EXPECT_EQ(writer.pending_bytes(), 8u);
  EXPECT_EQ(writer.pending_messages(), 0u);
  writer.push_close(1002, "x");
  out += drain(writer, 16, &completed);
  EXPECT_TRUE(completed.empty());
  EXPECT_EQ(out, wire({0x01, 0x0A}) + std::string(10, 'a') + wire({0x00, 0x0A}) +
                     std::string(10, 'a') + wire({0x88, 0x03, 0x03, 0xEA, 'x'}));
  // The peer sees an unfinished message and then the close frame: valid framing.
  EXPECT_THAT(decode_as_peer(out, Role::server), ElementsAre("close:1002:x"));
  EXPECT_THAT(writer.clear(), ElementsAre(1u, 2u));
  EXPECT_TRUE(writer.clear().empty());
}

TEST(FrameWriter, MessagesPushedAfterClearDataAreSentAndReportedInOrder) {
  FrameWriter writer(server_options(), nullptr);
  writer.push_message(Opcode::text, std::string(30, 'a'), 1);
  writer.push_message(Opcode::text, "dropped", 2);
  std::uint8_t buffer[16];
  std::vector<std::uint64_t> completed;
  std::string out;
  out.append(reinterpret_cast<const char*>(buffer), writer.fill(buffer, 16, &completed));
  writer.clear_data();
  writer.push_message(Opcode::text, "new", 3);
  writer.push_message(Opcode::text, std::string(40, 'n'), 4);
  out.append(reinterpret_cast<const char*>(buffer), writer.fill(buffer, 16, &completed));
  out.append(reinterpret_cast<const char*>(buffer), writer.fill(buffer, 16, &completed));
  EXPECT_THAT(completed, ElementsAre(1u, 3u));
  EXPECT_THAT(decode_as_peer(out, Role::server),
              ElementsAre("text:" + std::string(30, 'a'), "text:new"));
  EXPECT_THAT(writer.clear(), ElementsAre(2u, 4u));
}

// --- Copied messages ----------------------------------------------------------------------------

TEST(FrameWriter, CopiedMessagesMatchOwnedOnesAcrossSmallFills) {
  // Small copies are framed into the writer's buffer as they are pushed, a large one gets a
  // string of its own: the wire carries the same messages as with owned payloads, in frames of
  // the same sizes, whatever the fill sizes. (The large one takes its mask key when it is framed,
  // after the small ones pushed behind it took theirs: the key order differs.)
  SeededSource random_a(21);
  SeededSource random_b(21);
  MaskKeyPool copy_masks(random_a);
  MaskKeyPool owned_masks(random_b);
  FrameWriter copying(WriterOptions{}, &copy_masks);
  FrameWriter owning(WriterOptions{}, &owned_masks);
  std::mt19937 rng(4);
  std::vector<std::string> expected;
  for (std::uint64_t i = 1; i <= 300; ++i) {
    std::string payload(i == 150 ? 10000 : rng() % 200, '\0');
    for (char& c : payload) c = static_cast<char>(rng());
    const std::string copy = payload;  // the view's bytes are gone after the call
    copying.push_message_copy(Opcode::binary, copy, i);
    expected.push_back("binary:" + payload);
    owning.push_message(Opcode::binary, std::move(payload), i);
  }
  EXPECT_EQ(copying.pending_bytes(), owning.pending_bytes());
  std::vector<std::uint64_t> copied_tags;
  std::vector<std::uint64_t> owned_tags;
  const std::string copied = drain_in_fills(copying, {14, 997, 61, 300}, &copied_tags);
  const std::string owned = drain(owning, 997, &owned_tags);
  EXPECT_EQ(copied.size(), owned.size());
  EXPECT_EQ(copied_tags, owned_tags);
  EXPECT_EQ(decode_as_peer(copied, Role::client), expected);
  EXPECT_EQ(decode_as_peer(owned, Role::client), expected);
  EXPECT_EQ(copying.pending_bytes(), 0u);
}

TEST(FrameWriter, SmallCopiesAreByteExactWithTheirKeysTakenInOrder) {
  // Only small copies: each takes its key as it is pushed, in the order an owned message takes
  // its own when framed, so the bytes are exactly those of owned payloads.
  SeededSource random_a(23);
  SeededSource random_b(23);
  MaskKeyPool copy_masks(random_a);
  MaskKeyPool owned_masks(random_b);
  FrameWriter copying(WriterOptions{}, &copy_masks);
  FrameWriter owning(WriterOptions{}, &owned_masks);
  std::mt19937 rng(8);
  for (std::uint64_t i = 1; i <= 500; ++i) {
    std::string payload(i % 7 == 0 ? 200 + rng() % 3000 : rng() % 130, '\0');
    for (char& c : payload) c = static_cast<char>(rng());
    copying.push_message_copy(i % 2 ? Opcode::text : Opcode::binary, payload, i);
    owning.push_message(i % 2 ? Opcode::text : Opcode::binary, std::move(payload), i);
  }
  EXPECT_EQ(copying.pending_bytes(), owning.pending_bytes());
  EXPECT_EQ(copying.pending_messages(), 500u);
  std::vector<std::uint64_t> copied_tags;
  std::vector<std::uint64_t> owned_tags;
  // A frame's tag is reported with its last byte, not before.
  const std::string copied = drain_in_fills(copying, {1, 2, 13, 4001, 77, 1000}, &copied_tags, [&] {
    EXPECT_EQ(copying.pending_messages(), 500u - copied_tags.size());
  });
  EXPECT_EQ(copied, drain(owning, 4001, &owned_tags));
  EXPECT_EQ(copied_tags, owned_tags);
  EXPECT_EQ(copying.pending_bytes(), 0u);
}

TEST(FrameWriter, ControlFramesGoBetweenCopiedFramesNeverInsideOne) {
  FrameWriter writer(server_options(), nullptr);
  writer.push_message_copy(Opcode::text, std::string(40, 'a'), 1);
  writer.push_message_copy(Opcode::text, std::string(40, 'b'), 2);
  std::uint8_t buffer[64];
  std::vector<std::uint64_t> completed;
  std::string out;
  out.append(reinterpret_cast<const char*>(buffer), writer.fill(buffer, 10, &completed));
  writer.push_control(Opcode::ping, "p");
  // The rest of the first frame, then the ping, then the second frame.
  out.append(reinterpret_cast<const char*>(buffer), writer.fill(buffer, 64, &completed));
  EXPECT_THAT(completed, ElementsAre(1u));
  out += drain(writer, 64, &completed);
  EXPECT_THAT(completed, ElementsAre(1u, 2u));
  EXPECT_THAT(
      decode_as_peer(out, Role::server),
      ElementsAre("text:" + std::string(40, 'a'), "ping:p", "text:" + std::string(40, 'b')));
}

TEST(FrameWriter, ClearDataInsideCopiedFramesFinishesTheCurrentOneAndReportsTheRestInOrder) {
  FrameWriter writer(server_options(), nullptr);
  for (std::uint64_t i = 1; i <= 5; ++i) {
    writer.push_message_copy(Opcode::binary, std::string(20, static_cast<char>('a' + i)), i);
  }
  writer.push_message(Opcode::text, "owned", 6);
  writer.push_message_copy(Opcode::text, "after", 7);
  EXPECT_EQ(writer.pending_messages(), 7u);
  std::uint8_t buffer[64];
  std::vector<std::uint64_t> completed;
  std::string out;
  // 22 bytes per frame: the first whole, 8 bytes into the second.
  out.append(reinterpret_cast<const char*>(buffer), writer.fill(buffer, 30, &completed));
  EXPECT_THAT(completed, ElementsAre(1u));
  writer.clear_data();
  EXPECT_EQ(writer.pending_messages(), 1u);  // the second, whose frame is under way
  EXPECT_EQ(writer.pending_bytes(), 20u);
  writer.push_control(Opcode::ping, "p");
  writer.push_message_copy(Opcode::text, "new", 8);
  out += drain(writer, 64, &completed);
  EXPECT_THAT(completed, ElementsAre(1u, 2u, 8u));
  EXPECT_THAT(decode_as_peer(out, Role::server),
              ElementsAre("binary:" + std::string(20, 'b'), "binary:" + std::string(20, 'c'),
                          "ping:p", "text:new"));
  EXPECT_THAT(writer.clear(), ElementsAre(3u, 4u, 5u, 6u, 7u));
}

TEST(FrameWriter, ViewedMessagesMatchOwnedOnesAndAreReadInPlace) {
  // A viewed payload is read where the caller keeps it, up to the fill that completes it: the
  // wire bytes are the same as with owned payloads, and a change made before that fill shows.
  SeededSource random_a(22);
  SeededSource random_b(22);
  MaskKeyPool view_masks(random_a);
  MaskKeyPool owned_masks(random_b);
  FrameWriter viewing(WriterOptions{}, &view_masks);
  FrameWriter owning(WriterOptions{}, &owned_masks);
  std::vector<std::string> kept = {std::string(70000, 'v'), "", std::string(300, 'w')};
  for (std::uint64_t i = 0; i < kept.size(); ++i) {
    viewing.push_message_view(Opcode::binary, kept[i], i + 1);
  }
  kept[2][0] = 'W';  // not framed yet
  for (std::uint64_t i = 0; i < kept.size(); ++i) {
    owning.push_message(Opcode::binary, kept[i], i + 1);
  }
  EXPECT_EQ(viewing.pending_bytes(), owning.pending_bytes());
  std::vector<std::uint64_t> viewed_tags;
  std::vector<std::uint64_t> owned_tags;
  const std::string viewed = drain(viewing, 4096, &viewed_tags);
  EXPECT_EQ(viewed, drain(owning, 4096, &owned_tags));
  EXPECT_THAT(viewed_tags, ElementsAre(1u, 2u, 3u));
  EXPECT_EQ(viewed_tags, owned_tags);
  EXPECT_EQ(viewing.pending_bytes(), 0u);
}

TEST(FrameWriter, CopiedMessagesFlowThroughAWriterThatNeverEmpties) {
  // A long run where the writer always holds a few messages: its buffer's consumed front is
  // trimmed on the way, and every message still comes out intact and in order.
  FrameWriter writer(server_options(), nullptr);
  std::vector<std::uint64_t> completed;
  std::vector<std::uint8_t> buffer(4096);
  std::string out;
  std::uint64_t next = 0;
  auto message = [](std::uint64_t i) { return "m" + std::to_string(i) + std::string(i % 97, 'x'); };
  auto push = [&] {
    writer.push_message_copy(Opcode::text, message(next), next);
    ++next;
  };
  for (int i = 0; i < 8; ++i) push();
  while (next < 20000) {
    for (int i = 0; i < 5; ++i) push();
    out.append(reinterpret_cast<const char*>(buffer.data()),
               writer.fill(buffer.data(), 270, &completed));
  }
  out += drain(writer, 4096, &completed);
  ASSERT_EQ(completed.size(), next);
  for (std::uint64_t i = 0; i < next; ++i) ASSERT_EQ(completed[i], i);
  const auto events = decode_as_peer(out, Role::server);
  ASSERT_EQ(events.size(), next);
  for (std::uint64_t i = 0; i < next; ++i) ASSERT_EQ(events[i], "text:" + message(i));
}

TEST(FrameWriter, ClearDataAndClearWithCopiedMessages) {
  FrameWriter writer(server_options(), nullptr);
  writer.push_message_copy(Opcode::text, std::string(30, 'a'), 1);
  writer.push_message_copy(Opcode::text, "dropped", 2);
  writer.push_message(Opcode::text, std::string(20, 'o'), 3);
  std::uint8_t buffer[16];
  std::vector<std::uint64_t> completed;
  std::string out;
  out.append(reinterpret_cast<const char*>(buffer), writer.fill(buffer, 16, &completed));
  writer.clear_data();
  writer.push_message_copy(Opcode::text, "new", 4);
  out += drain(writer, 16, &completed);
  EXPECT_THAT(completed, ElementsAre(1u, 4u));
  EXPECT_THAT(decode_as_peer(out, Role::server),
              ElementsAre("text:" + std::string(30, 'a'), "text:new"));
  EXPECT_THAT(writer.clear(), ElementsAre(2u, 3u));
  writer.push_message_copy(Opcode::binary, "again", 5);
  EXPECT_EQ(writer.pending_bytes(), 5u);
  EXPECT_THAT(decode_as_peer(drain(writer, 16, &completed), Role::server),
              ElementsAre("binary:again"));
  EXPECT_THAT(completed, ElementsAre(1u, 4u, 5u));
}

// --- Pongs -------------------------------------------------------------------------------------

TEST(FrameWriter, AWaitingPongIsReplacedByTheLatest) {
  SeededSource random(9);
  MaskKeyPool masks(random);
  FrameWriter writer(WriterOptions{}, &masks);
  for (int i = 0; i < 10000; ++i) writer.push_pong("ping " + std::to_string(i));
  EXPECT_EQ(writer.pending_bytes(), std::string("ping 9999").size());
  EXPECT_THAT(decode_as_peer(drain(writer, 4096, nullptr), Role::client),
              ElementsAre("pong:ping 9999"));
  EXPECT_EQ(writer.pending_bytes(), 0u);
}

TEST(FrameWriter, APongAlreadyStartedIsFinishedAndTheNextOneWaits) {
  FrameWriter writer(server_options(), nullptr);
  writer.push_pong("first");
  std::uint8_t buffer[kMaxFrameHeader] = {};
  std::string out(reinterpret_cast<const char*>(buffer), writer.fill(buffer, 3, nullptr));
  ASSERT_EQ(out.size(), 3u);  // "first" is under way
  writer.push_pong("second");
  writer.push_pong("third");
  out += drain(writer, 100, nullptr);
  EXPECT_THAT(decode_as_peer(out, Role::server), ElementsAre("pong:first", "pong:third"));
}

TEST(FrameWriter, AReplacedPongKeepsItsPlaceAmongControlFrames) {
  FrameWriter writer(server_options(), nullptr);
  writer.push_control(Opcode::ping, "x");
  writer.push_pong("a");
  writer.push_close(1000, "");
  writer.push_pong("b");
  EXPECT_EQ(writer.pending_bytes(), 1u + 1u + 2u);
  EXPECT_THAT(decode_as_peer(drain(writer, 100, nullptr), Role::server),
              ElementsAre("ping:x", "pong:b", "close:1000:"));
}

// --- Payloads masked by the caller (push_message_masked) -----------------------------------------

// A payload of `n` bytes that differ from one position to the next.
std::string pattern(std::size_t n, unsigned seed) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 31 + seed) & 0xFF);
  return s;
}

std::string masked_copy(const std::string& plain, const std::array<std::uint8_t, 4>& key) {
  std::string out(plain.size(), '\0');
  mask_copy(reinterpret_cast<std::uint8_t*>(out.data()), u8(plain), plain.size(), key.data(), 0);
  return out;
}

// Runs fill() with in-place payloads until the writer is empty; returns the wire bytes as the
// caller writes them (out[0, at), payload, ...) and checks every fill's bounds.
std::string drain_in_place(FrameWriter& writer, std::size_t cap,
                           std::vector<std::uint64_t>* completed,
                           std::vector<const char*>* payload_addresses = nullptr,
                           std::vector<std::size_t>* listed_per_fill = nullptr) {
  std::string wire_bytes;
  std::vector<std::uint8_t> buffer(cap);
  std::vector<FrameWriter::InPlace> in_place;
  while (!writer.empty()) {
    const std::size_t n = writer.fill(buffer.data(), cap, completed, &in_place);
    EXPECT_TRUE(n > 0 || !in_place.empty());
    if (n == 0 && in_place.empty()) break;
    EXPECT_LE(in_place.size(), FrameWriter::kMaxInPlace);
    if (listed_per_fill != nullptr) listed_per_fill->push_back(in_place.size());
    std::size_t listed = 0;
    std::size_t at = 0;
    for (const auto& payload : in_place) {
      EXPECT_GE(payload.at, at);
      wire_bytes.append(reinterpret_cast<const char*>(buffer.data()) + at, payload.at - at);
      wire_bytes.append(payload.bytes);
      if (payload_addresses != nullptr) payload_addresses->push_back(payload.bytes.data());
      listed += payload.bytes.size();
      at = payload.at;
    }
    wire_bytes.append(reinterpret_cast<const char*>(buffer.data()) + at, n - at);
    EXPECT_LE(n, cap);
    if (in_place.size() > 1) {
      EXPECT_LE(listed, FrameWriter::kMaxInPlaceBytes);
    }
  }
  return wire_bytes;
}

TEST(FrameWriterMasked, PayloadsGoOutFromWhereTheyAreBetweenTheirHeaders) {
  SeededSource random(5);
  MaskKeyPool masks(random);
  FrameWriter writer(WriterOptions{}, &masks);
  const std::array<std::uint8_t, 4> key_a{0x01, 0x80, 0xfe, 0x33};
  const std::array<std::uint8_t, 4> key_b{0xaa, 0x00, 0x5c, 0x10};
  const std::string large = pattern(70000, 1);
  const std::string medium = pattern(5000, 2);
  const std::string large_wire = masked_copy(large, key_a);
  const std::string medium_wire = masked_copy(medium, key_b);
  writer.push_message_copy(Opcode::text, "hello", 1);
  writer.push_message_masked(Opcode::binary, large_wire, key_a, 2);
  writer.push_message_copy(Opcode::binary, std::string(300, 'x'), 3);
  writer.push_control(Opcode::ping, "p");
  writer.push_message_masked(Opcode::binary, medium_wire, key_b, 4);
  EXPECT_EQ(writer.pending_bytes(), 5u + 70000 + 300 + 1 + 5000);

  std::vector<std::uint64_t> tags;
  std::vector<const char*> addresses;
  const std::string bytes = drain_in_place(writer, 256 * 1024, &tags, &addresses);
  EXPECT_THAT(decode_as_peer(bytes, Role::client),
              ElementsAre("ping:p", "text:hello", "binary:" + large,
                          "binary:" + std::string(300, 'x'), "binary:" + medium));
  EXPECT_THAT(tags, ElementsAre(1u, 2u, 3u, 4u));
  // Listed where the caller keeps them: no copy was made.
  EXPECT_THAT(addresses, ElementsAre(large_wire.data(), medium_wire.data()));
  EXPECT_EQ(writer.pending_bytes(), 0u);
  // Their frames carry the caller's keys.
  const std::size_t large_header = bytes.find(large_wire.substr(0, 64));
  ASSERT_NE(large_header, std::string::npos);
  EXPECT_EQ(bytes.substr(large_header - 4, 4), std::string(key_a.begin(), key_a.end()));
}

TEST(FrameWriterMasked, WithoutAListTheMaskedBytesAreCopiedAsTheyAre) {
  // The TLS path: the same wire bytes, through `out`, across small fills.
  SeededSource random(6);
  MaskKeyPool masks(random);
  FrameWriter writer(WriterOptions{}, &masks);
  const std::array<std::uint8_t, 4> key{0x10, 0x20, 0x30, 0x41};
  const std::string plain = pattern(9000, 3);
  const std::string masked = masked_copy(plain, key);
  writer.push_message_masked(Opcode::binary, masked, key, 7);
  writer.push_message_copy(Opcode::text, "after", 8);
  std::vector<std::uint64_t> tags;
  const std::string bytes = drain(writer, 1000, &tags);
  EXPECT_THAT(decode_as_peer(bytes, Role::client), ElementsAre("binary:" + plain, "text:after"));
  EXPECT_THAT(tags, ElementsAre(7u, 8u));
}

TEST(FrameWriterMasked, UnmaskedIntoACopyWhereOneFrameCannotCarryIt) {
  const std::array<std::uint8_t, 4> key{0xde, 0xad, 0xbe, 0xef};
  const std::string plain = pattern(5000, 4);
  const std::string masked = masked_copy(plain, key);
  {
    // A fragment size below its length: fragments with keys of the writer's own.
    SeededSource random(7);
    MaskKeyPool masks(random);
    FrameWriter writer(WriterOptions{Role::client, 1000}, &masks);
    writer.push_message_masked(Opcode::binary, masked, key, 1);
    std::vector<std::uint64_t> tags;
    const std::string bytes = drain_in_place(writer, 64 * 1024, &tags);
    EXPECT_THAT(decode_as_peer(bytes, Role::client), ElementsAre("binary:" + plain));
    EXPECT_THAT(tags, ElementsAre(1u));
    EXPECT_GT(bytes.size(), plain.size() + 5 * 6);  // five frames
  }
  {
    // The server role does not mask.
    FrameWriter writer(server_options(), nullptr);
    writer.push_message_masked(Opcode::binary, masked, key, 1);
    std::vector<std::uint64_t> tags;
    const std::string bytes = drain_in_place(writer, 64 * 1024, &tags);
    EXPECT_THAT(decode_as_peer(bytes, Role::server), ElementsAre("binary:" + plain));
  }
}

TEST(FrameWriterMasked, AFillListsWithinItsCapacityAndCount) {
  SeededSource random(8);
  MaskKeyPool masks(random);
  FrameWriter writer(WriterOptions{}, &masks);
  const std::array<std::uint8_t, 4> key{1, 2, 3, 4};
  std::vector<std::string> plain;
  std::vector<std::string> wire_payloads;
  // A first payload larger than the byte bound, then many that fit several to a fill, then many
  // small ones (the count bound).
  plain.push_back(pattern(FrameWriter::kMaxInPlaceBytes + 1000, 9));
  for (int i = 0; i < 20; ++i) plain.push_back(pattern(300 * 1024, 10 + i));
  for (int i = 0; i < 100; ++i) plain.push_back(pattern(200, 40 + i));
  wire_payloads.reserve(plain.size());
  for (std::size_t i = 0; i < plain.size(); ++i) {
    wire_payloads.push_back(masked_copy(plain[i], key));
    writer.push_message_masked(Opcode::binary, wire_payloads.back(), key, i + 1);
  }
  std::vector<std::uint64_t> tags;
  std::vector<std::size_t> listed;
  const std::string bytes = drain_in_place(writer, 64 * 1024, &tags, nullptr, &listed);
  // The large one alone; three of 300 KiB (a fourth would pass 1 MiB); then the count bound.
  EXPECT_THAT(listed, ElementsAre(1u, 3u, 3u, 3u, 3u, 3u, 3u, 32u, 32u, 32u, 6u));
  std::vector<std::string> expected;
  for (const auto& p : plain) expected.push_back("binary:" + p);
  EXPECT_EQ(decode_as_peer(bytes, Role::client), expected);
  ASSERT_EQ(tags.size(), plain.size());
  for (std::size_t i = 0; i < tags.size(); ++i) EXPECT_EQ(tags[i], i + 1);
}

TEST(FrameWriterMasked, ClearReportsListedButUnwrittenPayloadsOnlyThroughTheCaller) {
  // A listed payload counts as completed by fill(): the caller owns its fate from there (its tag
  // is in `completed`); clear() returns the ones not yet listed.
  SeededSource random(9);
  MaskKeyPool masks(random);
  FrameWriter writer(WriterOptions{}, &masks);
  const std::array<std::uint8_t, 4> key{9, 9, 9, 9};
  const std::string a = masked_copy(pattern(600 * 1024, 1), key);  // two pass kMaxInPlaceBytes
  const std::string b = masked_copy(pattern(600 * 1024, 2), key);
  writer.push_message_masked(Opcode::binary, a, key, 1);
  writer.push_message_masked(Opcode::binary, b, key, 2);
  std::vector<std::uint8_t> buffer(50000);
  std::vector<FrameWriter::InPlace> in_place;
  std::vector<std::uint64_t> tags;
  writer.fill(buffer.data(), buffer.size(), &tags, &in_place);
  ASSERT_EQ(in_place.size(), 1u);
  EXPECT_THAT(tags, ElementsAre(1u));
  EXPECT_EQ(writer.pending_bytes(), 600u * 1024);
  EXPECT_THAT(writer.clear(), ElementsAre(2u));
}

TEST(FrameWriterMasked, RandomMixesDecodeToWhatWasPushedWithAndWithoutTheList) {
  // Copied, viewed and pre-masked messages, control frames and fragment sizes at random, drained
  // at random capacities with the in-place list (plain sockets) and without it (TLS): the peer
  // decodes exactly the messages pushed, and every tag is completed once, in order.
  std::mt19937 rng(2024);
  for (int round = 0; round < 120; ++round) {
    const std::size_t fragment = rng() % 3 == 0 ? 1 + rng() % 5000 : 0;
    const std::size_t cap = 16 + rng() % 70000;
    const bool list = rng() % 2 == 0;
    SeededSource random(static_cast<std::uint32_t>(round));
    MaskKeyPool masks(random);
    FrameWriter writer(WriterOptions{Role::client, fragment}, &masks);
    std::vector<std::string> kept;  // viewed and masked payloads stay here
    kept.reserve(64);
    std::vector<std::string> expected;
    std::vector<std::uint64_t> tags_pushed;
    const int count = 1 + static_cast<int>(rng() % 40);
    for (int m = 0; m < count; ++m) {
      const std::size_t size = rng() % 4 == 0 ? rng() % 300000 : rng() % 3000;
      std::string plain = pattern(size, static_cast<unsigned>(rng()));
      const std::uint64_t tag = static_cast<std::uint64_t>(m + 1);
      switch (rng() % 3) {
        case 0:
          writer.push_message_copy(Opcode::binary, plain, tag);
          break;
        case 1:
          kept.push_back(plain);
          writer.push_message_view(Opcode::binary, kept.back(), tag);
          break;
        default: {
          const std::array<std::uint8_t, 4> key{
              static_cast<std::uint8_t>(rng()), static_cast<std::uint8_t>(rng()),
              static_cast<std::uint8_t>(rng()), static_cast<std::uint8_t>(rng())};
          kept.push_back(masked_copy(plain, key));
          writer.push_message_masked(Opcode::binary, kept.back(), key, tag);
        }
      }
      if (rng() % 5 == 0) {
        writer.push_control(Opcode::ping, "p" + std::to_string(m));
        expected.push_back("ping:p" + std::to_string(m));
      }
      expected.push_back("binary:" + plain);
      tags_pushed.push_back(tag);
    }
    std::vector<std::uint64_t> tags;
    const std::string bytes = list ? drain_in_place(writer, cap, &tags) : drain(writer, cap, &tags);
    auto decoded = decode_as_peer(bytes, Role::client);
    // Pings may go ahead of data messages: compare each kind in order.
    const auto only = [](const std::vector<std::string>& events, const char* prefix) {
      std::vector<std::string> out;
      for (const auto& e : events) {
        if (e.rfind(prefix, 0) == 0) out.push_back(e);
      }
      return out;
    };
    ASSERT_EQ(only(decoded, "binary:"), only(expected, "binary:")) << "round " << round;
    ASSERT_EQ(only(decoded, "ping:"), only(expected, "ping:")) << "round " << round;
    ASSERT_EQ(tags, tags_pushed) << "round " << round;
    EXPECT_EQ(writer.pending_bytes(), 0u);
  }
}

}  // namespace
}  // namespace tether::protocol
