#include "protocol/mask.hpp"

#include <cstring>

namespace tether::protocol {

std::size_t mask_copy(std::uint8_t* dst, const std::uint8_t* src, std::size_t n,
                      const std::uint8_t key[4], std::size_t phase) noexcept {
  phase &= 3;
  // The key rotated to start at `phase`, repeated to 8 bytes. Built bytewise and loaded with
  // memcpy, so byte i of the word masks byte i of the data whatever the host's endianness; every
  // step below is a multiple of 4 bytes, so the same word serves the whole buffer.
  std::uint8_t rotated[8];
  for (std::size_t i = 0; i < 8; ++i) rotated[i] = key[(phase + i) & 3];
  std::uint64_t k;
  std::memcpy(&k, rotated, sizeof k);

  std::size_t i = 0;
  // All four loads come before the stores: in place (dst == src) stays correct.
  for (; n - i >= 32; i += 32) {
    std::uint64_t w0, w1, w2, w3;
    std::memcpy(&w0, src + i, 8);
    std::memcpy(&w1, src + i + 8, 8);
    std::memcpy(&w2, src + i + 16, 8);
    std::memcpy(&w3, src + i + 24, 8);
    w0 ^= k;
    w1 ^= k;
    w2 ^= k;
    w3 ^= k;
    std::memcpy(dst + i, &w0, 8);
    std::memcpy(dst + i + 8, &w1, 8);
    std::memcpy(dst + i + 16, &w2, 8);
    std::memcpy(dst + i + 24, &w3, 8);
  }
  for (; n - i >= 8; i += 8) {
    std::uint64_t w;
    std::memcpy(&w, src + i, 8);
    w ^= k;
    std::memcpy(dst + i, &w, 8);
  }
  for (; i < n; ++i) dst[i] = static_cast<std::uint8_t>(src[i] ^ rotated[i & 3]);
  return (phase + n) & 3;
}

void remask(std::uint8_t* data, std::size_t n, const std::uint8_t old_key[4],
            const std::uint8_t new_key[4]) noexcept {
  // (b ^ old) ^ (old ^ new) == b ^ new.
  std::uint8_t delta[4];
  for (int i = 0; i < 4; ++i) delta[i] = static_cast<std::uint8_t>(old_key[i] ^ new_key[i]);
  mask_copy(data, data, n, delta, 0);
}

}  // namespace tether::protocol
