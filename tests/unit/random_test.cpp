#include "protocol/random.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <vector>

namespace tether::protocol {
namespace {

// Counts draws and hands out 0x00, 0x01, 0x02, ... (wrapping) across them.
class CountingSource final : public RandomSource {
 public:
  void fill(std::uint8_t* out, std::size_t n) override {
    ++draws;
    sizes.push_back(n);
    for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<std::uint8_t>(counter++);
  }
  std::size_t draws = 0;
  std::vector<std::size_t> sizes;
  std::uint64_t counter = 0;
};

TEST(MaskKeyPool, ThousandKeysTakeFourDraws) {
  CountingSource source;
  MaskKeyPool pool(source);  // default batch: 256 keys
  EXPECT_EQ(source.draws, 0u) << "nothing is drawn before the first key";
  for (int i = 0; i < 1000; ++i) pool.next();
  EXPECT_EQ(source.draws, (1000u + 255u) / 256u);
  for (std::size_t size : source.sizes) EXPECT_EQ(size, 256u * 4u);
}

TEST(MaskKeyPool, KeysFollowTheByteOrder) {
  CountingSource source;
  MaskKeyPool pool(source, 3);
  std::uint64_t expect = 0;
  for (int i = 0; i < 20; ++i) {
    const std::array<std::uint8_t, 4> key = pool.next();
    for (std::uint8_t b : key) EXPECT_EQ(b, static_cast<std::uint8_t>(expect++));
  }
  EXPECT_EQ(source.draws, 7u);  // ceil(20 / 3)
  for (std::size_t size : source.sizes) EXPECT_EQ(size, 12u);
}

TEST(MaskKeyPool, BatchOfOne) {
  CountingSource source;
  MaskKeyPool pool(source, 1);
  pool.next();
  pool.next();
  EXPECT_EQ(source.draws, 2u);
}

TEST(CsprngSource, FillsAndVaries) {
  CsprngSource source;
  std::vector<std::uint8_t> a(4096, 0);
  std::vector<std::uint8_t> b(4096, 0);
  source.fill(a.data(), a.size());
  source.fill(b.data(), b.size());
  EXPECT_NE(a, b);
  // 4096 random bytes with no zero at all, or all equal halves, would be a broken generator.
  std::size_t zeros = 0;
  for (std::uint8_t x : a) zeros += x == 0;
  EXPECT_LT(zeros, 64u);
  source.fill(nullptr, 0);  // no-op
}

TEST(CsprngSource, FeedsThePool) {
  CsprngSource source;
  MaskKeyPool pool(source, 4);
  std::vector<std::array<std::uint8_t, 4>> keys;
  for (int i = 0; i < 64; ++i) keys.push_back(pool.next());
  std::size_t distinct = 0;
  for (std::size_t i = 0; i < keys.size(); ++i) {
    bool seen = false;
    for (std::size_t j = 0; j < i; ++j) seen = seen || keys[i] == keys[j];
    distinct += !seen;
  }
  EXPECT_GT(distinct, 60u);
}

}  // namespace
}  // namespace tether::protocol
