#pragma once

// Streaming UTF-8 validation (RFC 3629: no overlongs, no surrogates, nothing above U+10FFFF) with
// an ASCII fast path. Text messages are validated as their fragments arrive.

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace tether::protocol {

class Utf8Validator {
 public:
  /// Validates the next bytes of a stream. Returns false as soon as the stream cannot be valid
  /// UTF-8; the failure is sticky until reset().
  bool feed(const std::uint8_t* data, std::size_t n) noexcept;
  bool feed(std::string_view s) noexcept {
    return feed(reinterpret_cast<const std::uint8_t*>(s.data()), s.size());
  }
  /// True when everything fed so far is valid and ends on a code point boundary.
  bool complete() const noexcept { return state_ == kAccept; }
  bool failed() const noexcept { return state_ == kReject; }
  void reset() noexcept { state_ = kAccept; }

  static constexpr std::uint8_t kAccept = 0;
  static constexpr std::uint8_t kReject = 1;

 private:
  std::uint8_t state_ = kAccept;
};

/// True when `s` is complete, valid UTF-8.
bool is_valid_utf8(std::string_view s) noexcept;

}  // namespace tether::protocol
