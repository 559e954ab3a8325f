#include "protocol/frame.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "protocol/mask.hpp"

namespace tether::protocol {
namespace {

std::vector<std::uint8_t> header(Opcode op, bool fin, std::uint64_t len,
                                 const std::uint8_t* key = nullptr) {
  std::uint8_t buf[kMaxFrameHeader + 4];
  std::fill(std::begin(buf), std::end(buf), 0xEE);
  const std::size_t n = write_frame_header(buf, op, fin, len, key);
  EXPECT_EQ(n, frame_header_size(len, key != nullptr));
  EXPECT_LE(n, kMaxFrameHeader);
  for (std::size_t i = n; i < sizeof buf; ++i) EXPECT_EQ(buf[i], 0xEE) << "wrote past the header";
  return {buf, buf + n};
}

using Bytes = std::vector<std::uint8_t>;

TEST(FrameHeader, Sizes) {
  const std::uint8_t key[4] = {1, 2, 3, 4};
  struct Case {
    std::uint64_t len;
    std::size_t size;
  };
  for (const Case& c : {Case{0, 2}, Case{1, 2}, Case{125, 2}, Case{126, 4}, Case{127, 4},
                        Case{65535, 4}, Case{65536, 10}, Case{std::uint64_t{1} << 32, 10},
                        Case{(std::uint64_t{1} << 63) - 1, 10}}) {
    EXPECT_EQ(frame_header_size(c.len, false), c.size) << c.len;
    EXPECT_EQ(frame_header_size(c.len, true), c.size + 4) << c.len;
    EXPECT_EQ(header(Opcode::binary, true, c.len).size(), c.size) << c.len;
    EXPECT_EQ(header(Opcode::binary, true, c.len, key).size(), c.size + 4) << c.len;
  }
}

// RFC 6455 5.7 examples.
TEST(FrameHeader, Rfc6455UnmaskedHello) {
  EXPECT_EQ(header(Opcode::text, true, 5), (Bytes{0x81, 0x05}));
}

TEST(FrameHeader, Rfc6455MaskedHelloWholeFrame) {
  const std::uint8_t key[4] = {0x37, 0xFA, 0x21, 0x3D};
  Bytes frame = header(Opcode::text, true, 5, key);
  const std::uint8_t hello[5] = {'H', 'e', 'l', 'l', 'o'};
  frame.resize(frame.size() + 5);
  mask_copy(frame.data() + 6, hello, 5, key, 0);
  EXPECT_EQ(frame, (Bytes{0x81, 0x85, 0x37, 0xFA, 0x21, 0x3D, 0x7F, 0x9F, 0x4D, 0x51, 0x58}));
}

TEST(FrameHeader, Rfc6455Fragments) {
  // "Hel" then "lo": the first frame is text without FIN, the second a final continuation.
  EXPECT_EQ(header(Opcode::text, false, 3), (Bytes{0x01, 0x03}));
  EXPECT_EQ(header(Opcode::continuation, true, 2), (Bytes{0x80, 0x02}));
}

TEST(FrameHeader, Rfc6455PingAndPong) {
  EXPECT_EQ(header(Opcode::ping, true, 5), (Bytes{0x89, 0x05}));
  const std::uint8_t key[4] = {0x37, 0xFA, 0x21, 0x3D};
  EXPECT_EQ(header(Opcode::pong, true, 5, key), (Bytes{0x8A, 0x85, 0x37, 0xFA, 0x21, 0x3D}));
  EXPECT_EQ(header(Opcode::close, true, 0), (Bytes{0x88, 0x00}));
}

TEST(FrameHeader, Rfc6455Binary256) {
  EXPECT_EQ(header(Opcode::binary, true, 256), (Bytes{0x82, 0x7E, 0x01, 0x00}));
}

TEST(FrameHeader, Rfc6455Binary64KiB) {
  EXPECT_EQ(header(Opcode::binary, true, 65536),
            (Bytes{0x82, 0x7F, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00}));
}

TEST(FrameHeader, LengthFormEdges) {
  EXPECT_EQ(header(Opcode::binary, true, 125), (Bytes{0x82, 0x7D}));
  EXPECT_EQ(header(Opcode::binary, true, 126), (Bytes{0x82, 0x7E, 0x00, 0x7E}));
  EXPECT_EQ(header(Opcode::binary, true, 65535), (Bytes{0x82, 0x7E, 0xFF, 0xFF}));
  EXPECT_EQ(header(Opcode::binary, true, std::uint64_t{1} << 32),
            (Bytes{0x82, 0x7F, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00}));
  EXPECT_EQ(header(Opcode::binary, true, 0x0102030405060708ull),
            (Bytes{0x82, 0x7F, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08}));
}

TEST(FrameHeader, MaskedExtendedLengths) {
  const std::uint8_t key[4] = {0xA1, 0xB2, 0xC3, 0xD4};
  EXPECT_EQ(header(Opcode::text, true, 300, key),
            (Bytes{0x81, 0xFE, 0x01, 0x2C, 0xA1, 0xB2, 0xC3, 0xD4}));
  EXPECT_EQ(
      header(Opcode::binary, false, 70000, key),
      (Bytes{0x02, 0xFF, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x11, 0x70, 0xA1, 0xB2, 0xC3, 0xD4}));
}

TEST(FrameHeader, FinAndOpcodeBits) {
  for (Opcode op : {Opcode::continuation, Opcode::text, Opcode::binary, Opcode::close, Opcode::ping,
                    Opcode::pong}) {
    for (bool fin : {false, true}) {
      const Bytes h = header(op, fin, 0);
      EXPECT_EQ(h[0], (fin ? 0x80 : 0x00) | static_cast<unsigned>(op));  // RSV bits clear
      EXPECT_EQ(h[1], 0x00);
    }
  }
}

}  // namespace
}  // namespace tether::protocol
