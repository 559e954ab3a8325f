#include "protocol/utf8.hpp"

#include <array>
#include <cstring>

namespace tether::protocol {
namespace {

// The validating DFA of Bjoern Hoehrmann's decoder: nine states, each saying what the rest of the
// current sequence may be. States 0 and 1 are the header's kAccept and kReject, which is what
// Utf8Validator::state_ holds between calls; inside feed() a state is encoded for the shift DFA
// below.
enum State : std::uint8_t {
  kAcceptState = Utf8Validator::kAccept,
  kRejectState = Utf8Validator::kReject,
  kTail1,    // one continuation byte (80..BF) left
  kTail2,    // two continuation bytes left
  kTail3,    // three continuation bytes left (after F1..F3)
  kAfterE0,  // next byte A0..BF (80..9F would be an overlong 3-byte form)
  kAfterED,  // next byte 80..9F (A0..BF would encode a surrogate, U+D800..U+DFFF)
  kAfterF0,  // next byte 90..BF (80..8F would be an overlong 4-byte form)
  kAfterF4,  // next byte 80..8F (90..BF would be above U+10FFFF)
  kStateCount,
};

static_assert(kAcceptState == 0 && kRejectState == 1, "the header's state constants");

constexpr bool in(unsigned b, unsigned lo, unsigned hi) {
  return b >= lo && b <= hi;
}

constexpr std::uint8_t next_state(unsigned state, unsigned b) {
  switch (state) {
    case kAcceptState:
      if (b < 0x80) return kAcceptState;
      if (in(b, 0xC2, 0xDF)) return kTail1;  // C0, C1 only start overlong 2-byte forms
      if (b == 0xE0) return kAfterE0;
      if (b == 0xED) return kAfterED;
      if (in(b, 0xE1, 0xEF)) return kTail2;
      if (b == 0xF0) return kAfterF0;
      if (in(b, 0xF1, 0xF3)) return kTail3;
      if (b == 0xF4) return kAfterF4;
      return kRejectState;  // stray continuation byte, C0, C1, F5..FF
    case kTail1:
      return in(b, 0x80, 0xBF) ? kAcceptState : kRejectState;
    case kTail2:
      return in(b, 0x80, 0xBF) ? kTail1 : kRejectState;
    case kTail3:
      return in(b, 0x80, 0xBF) ? kTail2 : kRejectState;
    case kAfterE0:
      return in(b, 0xA0, 0xBF) ? kTail1 : kRejectState;
    case kAfterED:
      return in(b, 0x80, 0x9F) ? kTail1 : kRejectState;
    case kAfterF0:
      return in(b, 0x90, 0xBF) ? kTail2 : kRejectState;
    case kAfterF4:
      return in(b, 0x80, 0x8F) ? kTail2 : kRejectState;
    default:
      return kRejectState;
  }
}

// A "shift DFA": the row for a byte packs, for every state, the next state in a 6-bit field
// (a state is kept as its field's bit offset, index * 6). Stepping is `row[byte] >> state`: the
// row load does not depend on the state, so the loop-carried chain is one shift per byte instead
// of a dependent table load, which is what bounds a classic table DFA on multi-byte text.
constexpr unsigned kBits = 6;
static_assert(kStateCount * kBits <= 64, "every state's field fits in one row");

constexpr std::array<std::uint64_t, 256> make_rows() {
  std::array<std::uint64_t, 256> rows{};
  for (unsigned b = 0; b < 256; ++b) {
    std::uint64_t row = 0;
    for (unsigned state = 0; state < kStateCount; ++state) {
      row |= std::uint64_t{next_state(state, b) * kBits} << (state * kBits);
    }
    rows[b] = row;
  }
  return rows;
}

constexpr std::array<std::uint64_t, 256> kRows = make_rows();

constexpr std::uint64_t kAcceptShift = kAcceptState * kBits;
constexpr std::uint64_t kRejectShift = kRejectState * kBits;

// Only the low 6 bits of the shifted row matter; masking the shift count (free on x86, where the
// hardware masks it anyway) avoids clearing the upper bits on every step.
inline std::uint64_t step(std::uint64_t state, std::uint8_t byte) noexcept {
  return kRows[byte] >> (state & 63);
}

constexpr std::uint64_t kHighBits = 0x8080808080808080ull;

inline std::uint64_t load64(const std::uint8_t* p) noexcept {
  std::uint64_t word;
  std::memcpy(&word, p, sizeof word);
  return word;
}

}  // namespace

bool Utf8Validator::feed(const std::uint8_t* data, std::size_t n) noexcept {
  if (state_ == kReject) return false;
  std::uint64_t state = std::uint64_t{state_} * kBits;
  const std::uint8_t* p = data;
  const std::uint8_t* const end = data + n;
  // Eight bytes at a time. Between code points, all-ASCII words need no DFA step: they are
  // skipped in a tight loop, two words per test. A word with a non-ASCII byte (or any word inside
  // a sequence) goes through the DFA without branches and is checked once.
  for (;;) {
    if ((state & 63) == kAcceptShift) {
      while (static_cast<std::size_t>(end - p) >= 16 &&
             ((load64(p) | load64(p + 8)) & kHighBits) == 0) {
        p += 16;
      }
      if (static_cast<std::size_t>(end - p) >= 8 && (load64(p) & kHighBits) == 0) p += 8;
    }
    if (static_cast<std::size_t>(end - p) < 8) break;
    for (int i = 0; i < 8; ++i) state = step(state, p[i]);
    p += 8;
    // Reject is absorbing: checking once per word still fails within the same call.
    if ((state & 63) == kRejectShift) break;
  }
  while (p != end && (state & 63) != kRejectShift) state = step(state, *p++);
  state_ = static_cast<std::uint8_t>((state & 63) / kBits);
  return state_ != kReject;
}

bool is_valid_utf8(std::string_view s) noexcept {
  Utf8Validator validator;
  return validator.feed(s) && validator.complete();
}

}  // namespace tether::protocol
