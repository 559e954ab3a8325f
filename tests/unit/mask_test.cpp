#include "protocol/mask.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <vector>

namespace tether::protocol {
namespace {

std::vector<std::uint8_t> reference_mask(const std::uint8_t* src, std::size_t n,
                                         const std::uint8_t key[4], std::size_t phase) {
  std::vector<std::uint8_t> out(n);
  for (std::size_t i = 0; i < n; ++i) out[i] = src[i] ^ key[(phase + i) % 4];
  return out;
}

std::vector<std::uint8_t> random_bytes(std::mt19937& rng, std::size_t n) {
  std::vector<std::uint8_t> v(n);
  for (auto& b : v) b = static_cast<std::uint8_t>(rng());
  return v;
}

TEST(Mask, Rfc6455MaskedHello) {
  // RFC 6455 5.7: "Hello" masked with 37 fa 21 3d.
  const std::uint8_t key[4] = {0x37, 0xFA, 0x21, 0x3D};
  const std::uint8_t hello[5] = {'H', 'e', 'l', 'l', 'o'};
  std::uint8_t out[5];
  EXPECT_EQ(mask_copy(out, hello, 5, key, 0), 1u);
  const std::vector<std::uint8_t> want = {0x7F, 0x9F, 0x4D, 0x51, 0x58};
  EXPECT_EQ(std::vector<std::uint8_t>(out, out + 5), want);
  // Masking is its own inverse.
  EXPECT_EQ(mask_copy(out, out, 5, key, 0), 1u);
  EXPECT_EQ(std::vector<std::uint8_t>(out, out + 5), std::vector<std::uint8_t>(hello, hello + 5));
}

TEST(Mask, EmptyReturnsPhase) {
  const std::uint8_t key[4] = {1, 2, 3, 4};
  for (std::size_t phase = 0; phase < 4; ++phase) {
    EXPECT_EQ(mask_copy(nullptr, nullptr, 0, key, phase), phase);
  }
}

TEST(Mask, PhaseIsTakenModuloFour) {
  const std::uint8_t key[4] = {0x10, 0x20, 0x30, 0x40};
  const std::uint8_t zeros[3] = {};
  std::uint8_t out[3];
  EXPECT_EQ(mask_copy(out, zeros, 3, key, 6), 1u);
  EXPECT_EQ(out[0], 0x30);
  EXPECT_EQ(out[1], 0x40);
  EXPECT_EQ(out[2], 0x10);
}

// Random lengths (across the 32-byte, 8-byte and tail steps), every phase, unaligned src and dst.
TEST(Mask, MatchesBytewiseReference) {
  std::mt19937 rng(6455);
  std::vector<std::uint8_t> src_buf(5000 + 16);
  std::vector<std::uint8_t> dst_buf(5000 + 16 + 16);
  std::size_t cases = 0;
  for (int iter = 0; iter < 2500; ++iter) {
    const std::size_t n = iter < 100 ? static_cast<std::size_t>(iter)
                                     : std::uniform_int_distribution<std::size_t>(0, 5000)(rng);
    const std::size_t src_off = rng() % 16;
    const std::size_t dst_off = rng() % 16;
    for (std::size_t i = 0; i < n; ++i) src_buf[src_off + i] = static_cast<std::uint8_t>(rng());
    std::uint8_t key[4];
    for (auto& b : key) b = static_cast<std::uint8_t>(rng());
    for (std::size_t phase = 0; phase < 4; ++phase) {
      const std::uint8_t* src = src_buf.data() + src_off;
      std::uint8_t* dst = dst_buf.data() + dst_off;
      // Guard bytes after the destination must stay untouched.
      std::fill(dst_buf.begin(), dst_buf.end(), 0xA5);
      const auto want = reference_mask(src, n, key, phase);
      ASSERT_EQ(mask_copy(dst, src, n, key, phase), (phase + n) % 4);
      ASSERT_EQ(std::vector<std::uint8_t>(dst, dst + n), want)
          << "n " << n << " phase " << phase << " offsets " << src_off << "/" << dst_off;
      for (std::size_t i = dst_off + n; i < dst_buf.size(); ++i) ASSERT_EQ(dst_buf[i], 0xA5);
      for (std::size_t i = 0; i < dst_off; ++i) ASSERT_EQ(dst_buf[i], 0xA5);
      ++cases;
    }
  }
  EXPECT_EQ(cases, 10000u);
}

TEST(Mask, InPlace) {
  std::mt19937 rng(7);
  for (int iter = 0; iter < 500; ++iter) {
    const std::size_t n = std::uniform_int_distribution<std::size_t>(0, 3000)(rng);
    const std::size_t off = rng() % 8;
    std::vector<std::uint8_t> buf = random_bytes(rng, n + off);
    const std::uint8_t key[4] = {static_cast<std::uint8_t>(rng()), static_cast<std::uint8_t>(rng()),
                                 static_cast<std::uint8_t>(rng()),
                                 static_cast<std::uint8_t>(rng())};
    const std::size_t phase = rng() % 4;
    const auto want = reference_mask(buf.data() + off, n, key, phase);
    EXPECT_EQ(mask_copy(buf.data() + off, buf.data() + off, n, key, phase), (phase + n) % 4);
    ASSERT_EQ(std::vector<std::uint8_t>(buf.begin() + off, buf.end()), want) << "n " << n;
  }
}

// Masking a payload piece by piece with the returned phase equals masking it in one call.
TEST(Mask, ChainedPiecesEqualOneCall) {
  std::mt19937 rng(99);
  for (int iter = 0; iter < 300; ++iter) {
    const std::size_t n = std::uniform_int_distribution<std::size_t>(0, 4000)(rng);
    const std::vector<std::uint8_t> src = random_bytes(rng, n);
    const std::uint8_t key[4] = {0xDE, 0xAD, static_cast<std::uint8_t>(iter), 0xEF};
    const std::size_t start_phase = rng() % 4;
    std::vector<std::uint8_t> whole(n);
    const std::size_t end_phase = mask_copy(whole.data(), src.data(), n, key, start_phase);
    EXPECT_EQ(whole, reference_mask(src.data(), n, key, start_phase));

    std::vector<std::uint8_t> pieces(n);
    std::size_t phase = start_phase;
    std::size_t pos = 0;
    while (pos < n) {
      const std::size_t max_piece = rng() % 2 == 0 ? 7 : 300;
      const std::size_t len =
          std::min(n - pos, std::uniform_int_distribution<std::size_t>(0, max_piece)(rng));
      phase = mask_copy(pieces.data() + pos, src.data() + pos, len, key, phase);
      pos += len;
    }
    EXPECT_EQ(phase, end_phase);
    ASSERT_EQ(pieces, whole) << "n " << n;
  }
}

// A payload masked with one key and re-keyed is what masking it with the new key gives.
TEST(Mask, RemaskEqualsMaskingWithTheNewKey) {
  std::mt19937 rng(11);
  for (int iter = 0; iter < 300; ++iter) {
    const std::size_t n = std::uint_fast32_t(rng()) % 5000;
    const std::vector<std::uint8_t> plain = random_bytes(rng, n);
    std::uint8_t old_key[4];
    std::uint8_t new_key[4];
    for (auto& b : old_key) b = static_cast<std::uint8_t>(rng());
    for (auto& b : new_key) b = static_cast<std::uint8_t>(rng());
    std::vector<std::uint8_t> stored = reference_mask(plain.data(), n, old_key, 0);
    remask(stored.data(), n, old_key, new_key);
    ASSERT_EQ(stored, reference_mask(plain.data(), n, new_key, 0)) << "n " << n;
  }
}

}  // namespace
}  // namespace tether::protocol
