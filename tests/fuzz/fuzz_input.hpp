#pragma once

// Shared by the libFuzzer targets in tests/fuzz/: a reader that takes typed values from the
// front of the fuzz input, and check()/fail() that abort with a message (libFuzzer keeps the
// input as a crash artifact).

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace tether::fuzz {

[[noreturn]] inline void fail(const char* what, std::string_view detail = {}) {
  std::fprintf(stderr, "fuzz invariant violated: %s\n", what);
  if (!detail.empty()) {
    const std::size_t n = detail.size() > 2000 ? 2000 : detail.size();
    std::fprintf(stderr, "  %.*s\n", static_cast<int>(n), detail.data());
  }
  std::abort();
}

inline void check(bool condition, const char* what, std::string_view detail = {}) {
  if (!condition) fail(what, detail);
}

/// Consumes the fuzz input from the front; reads past the end give zeros.
class Input {
 public:
  Input(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}

  bool empty() const noexcept { return pos_ >= size_; }
  std::size_t remaining() const noexcept { return pos_ < size_ ? size_ - pos_ : 0; }

  std::uint8_t byte() noexcept { return pos_ < size_ ? data_[pos_++] : 0; }
  std::uint16_t u16() noexcept {
    const std::uint16_t hi = byte();
    return static_cast<std::uint16_t>((hi << 8) | byte());
  }
  std::uint32_t u32() noexcept {
    const std::uint32_t hi = u16();
    return (hi << 16) | u16();
  }
  bool flag() noexcept { return (byte() & 1u) != 0; }

  /// Up to `max` bytes, the length taken from the next byte.
  std::string_view bytes(std::size_t max) noexcept {
    std::size_t n = byte();
    if (n > max) n = max;
    if (n > remaining()) n = remaining();
    const std::string_view out(reinterpret_cast<const char*>(data_ + pos_), n);
    pos_ += n;
    return out;
  }
  /// Everything not consumed yet.
  std::string_view rest() noexcept {
    const std::string_view out(reinterpret_cast<const char*>(data_ + pos_), remaining());
    pos_ = size_;
    return out;
  }

 private:
  const std::uint8_t* data_;
  std::size_t size_;
  std::size_t pos_ = 0;
};

/// True when `s` has no byte below 0x20 but HTAB, and no DEL.
inline bool no_controls(std::string_view s) noexcept {
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if ((u < 0x20 && u != '\t') || u == 0x7f) return false;
  }
  return true;
}

/// A one-line, non-empty message.
inline bool one_line(std::string_view s) noexcept {
  return !s.empty() && s.find('\n') == std::string_view::npos &&
         s.find('\r') == std::string_view::npos;
}

}  // namespace tether::fuzz
