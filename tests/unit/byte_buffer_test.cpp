// ByteBuffer (sdk/protocol/byte_buffer.hpp): the bytes held survive growth, spare room is written
// in place and counted by commit(), and erase_front() keeps the rest in order.

#include "protocol/byte_buffer.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <string>

namespace tether::protocol {
namespace {

std::string held(const ByteBuffer& b) {
  return std::string(b.view());
}

TEST(ByteBuffer, KeepsItsBytesAcrossGrowth) {
  ByteBuffer b;
  EXPECT_EQ(b.size(), 0u);
  EXPECT_EQ(b.capacity(), 0u);
  std::string expected;
  for (int i = 0; i < 1000; ++i) {
    const std::string part = std::to_string(i) + ",";
    b.append(reinterpret_cast<const std::uint8_t*>(part.data()), part.size());
    expected += part;
  }
  EXPECT_EQ(held(b), expected);
  EXPECT_GE(b.capacity(), b.size());
  b.reserve(b.capacity() * 4);  // moves the bytes to a larger buffer
  EXPECT_EQ(held(b), expected);
}

TEST(ByteBuffer, SpareRoomIsWrittenInPlaceThenCommitted) {
  ByteBuffer b;
  b.reserve(16);
  std::memcpy(b.tail(), "abc", 3);
  EXPECT_EQ(b.size(), 0u);  // written, not yet counted
  b.commit(3);
  EXPECT_EQ(held(b), "abc");
  EXPECT_EQ(b.data()[2], 'c');
}

TEST(ByteBuffer, EraseFrontKeepsTheRestInOrder) {
  ByteBuffer b;
  const std::string text = "0123456789";
  b.append(reinterpret_cast<const std::uint8_t*>(text.data()), text.size());
  const std::size_t capacity = b.capacity();
  b.erase_front(4);
  EXPECT_EQ(held(b), "456789");
  EXPECT_EQ(b.capacity(), capacity);  // no reallocation
  b.erase_front(0);
  EXPECT_EQ(held(b), "456789");
  b.erase_front(6);
  EXPECT_EQ(b.size(), 0u);
  b.append(reinterpret_cast<const std::uint8_t*>("xy"), 2);
  b.erase_front(5);  // more than it holds: empty
  EXPECT_EQ(b.size(), 0u);
}

TEST(ByteBuffer, ClearKeepsTheMemoryAndReleaseGivesItBack) {
  ByteBuffer b;
  b.append(reinterpret_cast<const std::uint8_t*>("hello"), 5);
  const std::uint8_t* memory = b.data();
  b.clear();
  EXPECT_EQ(b.size(), 0u);
  EXPECT_EQ(b.data(), memory);
  b.release();
  EXPECT_EQ(b.capacity(), 0u);
  EXPECT_EQ(b.data(), nullptr);
}

}  // namespace
}  // namespace tether::protocol
