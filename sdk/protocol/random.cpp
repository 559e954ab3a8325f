#include "protocol/random.hpp"

#include <openssl/err.h>
#include <openssl/rand.h>

#include <algorithm>
#include <climits>
#include <cstdio>
#include <cstdlib>

namespace tether::protocol {

void CsprngSource::fill(std::uint8_t* out, std::size_t n) {
  // RAND_bytes takes an int count.
  constexpr std::size_t kMaxChunk = INT_MAX;
  while (n > 0) {
    const std::size_t chunk = std::min(n, kMaxChunk);
    if (RAND_bytes(out, static_cast<int>(chunk)) != 1) {
      const unsigned long err = ERR_get_error();
      char text[256] = "no OpenSSL error queued";
      if (err != 0) ERR_error_string_n(err, text, sizeof text);
      std::fprintf(stderr,
                   "tether: RAND_bytes failed (%s); refusing to continue without a CSPRNG\n", text);
      std::abort();
    }
    out += chunk;
    n -= chunk;
  }
}

MaskKeyPool::MaskKeyPool(RandomSource& source, std::size_t batch)
    : source_(source), bytes_(std::max<std::size_t>(batch, 1) * 4), pos_(bytes_.size()) {}

std::array<std::uint8_t, 4> MaskKeyPool::next() {
  // Drawn lazily: a pool that never hands out a key never touches the source.
  if (pos_ == bytes_.size()) {
    source_.fill(bytes_.data(), bytes_.size());
    pos_ = 0;
  }
  std::array<std::uint8_t, 4> key;
  std::copy_n(bytes_.data() + pos_, 4, key.begin());
  pos_ += 4;
  return key;
}

std::array<std::uint8_t, 4> thread_mask_key() {
  static CsprngSource source;  // stateless: RAND_bytes is thread-safe
  thread_local MaskKeyPool pool(source, 64);
  return pool.next();
}

}  // namespace tether::protocol
