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

/// Changes the key of `n` bytes masked with `old_key` (from phase 0) to `new_key`, in place and in
/// one pass: a stored masked payload that must go out again in a new frame.
void remask(std::uint8_t* data, std::size_t n, const std::uint8_t old_key[4],
            const std::uint8_t new_key[4]) noexcept;

}  // namespace tether::protocol
