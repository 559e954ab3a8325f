#pragma once

// RFC 6455 masking, word-wise and fused with the copy into the output buffer.

#include <cstddef>
#include <cstdint>

namespace tether::protocol {

/// Copies `n` bytes from `src` to `dst`, XOR-ing each with `key[(phase + i) % 4]`. `dst` and `src`
/// may be the same pointer (in-place) but must not otherwise overlap. Returns the phase after the
/// last byte, `(phase + n) % 4`, so a frame can be masked across several calls.
std::size_t mask_copy(std::uint8_t* dst, const std::uint8_t* src, std::size_t n,
                      const std::uint8_t key[4], std::size_t phase) noexcept;

}  // namespace tether::protocol
