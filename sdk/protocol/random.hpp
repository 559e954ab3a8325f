#pragma once

// Randomness for the codec (handshake keys, mask keys). Injected, so tests are deterministic.

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace tether::protocol {

/// A source of random bytes.
class RandomSource {
 public:
  virtual ~RandomSource() = default;
  virtual void fill(std::uint8_t* out, std::size_t n) = 0;
};

/// OpenSSL's CSPRNG (RAND_bytes). Aborts if OpenSSL cannot produce random bytes: a predictable
/// mask or handshake key is never an acceptable fallback.
class CsprngSource final : public RandomSource {
 public:
  void fill(std::uint8_t* out, std::size_t n) override;
};

/// Hands out 4-byte mask keys drawn from a RandomSource in batches (one draw per `batch` keys,
/// never one system call per frame).
class MaskKeyPool {
 public:
  explicit MaskKeyPool(RandomSource& source, std::size_t batch = 256);
  std::array<std::uint8_t, 4> next();

 private:
  RandomSource& source_;
  std::vector<std::uint8_t> bytes_;
  std::size_t pos_;
};

/// A mask key from the calling thread's own pool, drawn from OpenSSL's CSPRNG: for payloads
/// masked on whichever thread sends them, with no lock shared between threads.
std::array<std::uint8_t, 4> thread_mask_key();

}  // namespace tether::protocol
