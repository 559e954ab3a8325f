#include "protocol/utf8.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace tether::protocol {
namespace {

// --- The reference: a plain code-point-at-a-time decoder, written from RFC 3629 alone ----------

enum class Ref { valid, prefix, invalid };

// Classifies a byte string: `valid` (complete UTF-8), `prefix` (valid so far but cut inside a
// code point) or `invalid` (no continuation can make it valid).
Ref reference_check(const std::uint8_t* s, std::size_t n) {
  std::size_t i = 0;
  while (i < n) {
    const unsigned lead = s[i];
    std::size_t len;
    std::uint32_t cp;
    std::uint32_t min_cp;
    if (lead < 0x80) {
      ++i;
      continue;
    } else if ((lead & 0xE0) == 0xC0) {
      len = 2, cp = lead & 0x1F, min_cp = 0x80;
    } else if ((lead & 0xF0) == 0xE0) {
      len = 3, cp = lead & 0x0F, min_cp = 0x800;
    } else if ((lead & 0xF8) == 0xF0) {
      len = 4, cp = lead & 0x07, min_cp = 0x10000;
    } else {
      return Ref::invalid;  // a continuation byte or F8..FF where a code point should start
    }
    const std::size_t have = std::min(len, n - i);
    for (std::size_t k = 1; k < have; ++k) {
      if ((s[i + k] & 0xC0) != 0x80) return Ref::invalid;
      cp = (cp << 6) | (s[i + k] & 0x3Fu);
    }
    // A truncated sequence: the code points its completions can reach form the range [lo, hi].
    // It is a valid prefix when that range meets the valid scalar values for this length.
    std::uint32_t lo = cp;
    std::uint32_t hi = cp;
    for (std::size_t k = have; k < len; ++k) {
      lo = lo << 6;
      hi = (hi << 6) | 0x3F;
    }
    const auto meets = [&](std::uint32_t a, std::uint32_t b) { return lo <= b && hi >= a; };
    if (!meets(min_cp, 0xD7FF) && !meets(std::max<std::uint32_t>(min_cp, 0xE000), 0x10FFFF)) {
      return Ref::invalid;
    }
    if (have < len) return Ref::prefix;
    i += len;
  }
  return Ref::valid;
}

Ref reference_check(const std::string& s) {
  return reference_check(reinterpret_cast<const std::uint8_t*>(s.data()), s.size());
}

struct Outcome {
  bool fed_ok;
  bool complete;
  bool operator==(const Outcome& o) const { return fed_ok == o.fed_ok && complete == o.complete; }
};

Outcome expected(Ref r) {
  return {r != Ref::invalid, r == Ref::valid};
}

Outcome run_whole(const std::uint8_t* s, std::size_t n) {
  Utf8Validator v;
  const bool ok = v.feed(s, n);
  EXPECT_EQ(ok, !v.failed());
  return {ok, v.complete()};
}

Outcome run_bytewise(const std::uint8_t* s, std::size_t n) {
  Utf8Validator v;
  bool ok = true;
  for (std::size_t i = 0; i < n; ++i) ok = v.feed(s + i, 1) && ok;
  return {ok, v.complete()};
}

Outcome run_split(const std::uint8_t* s, std::size_t n, std::mt19937& rng) {
  Utf8Validator v;
  bool ok = true;
  std::size_t i = 0;
  while (i < n) {
    const std::size_t left = n - i;
    const std::size_t chunk = std::uniform_int_distribution<std::size_t>(0, left)(rng);
    ok = v.feed(s + i, chunk) && ok;
    i += chunk;
  }
  return {ok, v.complete()};
}

std::string bytes(std::initializer_list<unsigned> list) {
  std::string s;
  for (unsigned b : list) s.push_back(static_cast<char>(b));
  return s;
}

// UTF-8 encoding of a scalar value (no checks: callers pass valid or deliberately bad values).
std::string encode(std::uint32_t cp) {
  if (cp < 0x80) return bytes({cp});
  if (cp < 0x800) return bytes({0xC0 | (cp >> 6), 0x80 | (cp & 0x3F)});
  if (cp < 0x10000) {
    return bytes({0xE0 | (cp >> 12), 0x80 | ((cp >> 6) & 0x3F), 0x80 | (cp & 0x3F)});
  }
  return bytes({0xF0 | (cp >> 18), 0x80 | ((cp >> 12) & 0x3F), 0x80 | ((cp >> 6) & 0x3F),
                0x80 | (cp & 0x3F)});
}

bool valid(const std::string& s) {
  return is_valid_utf8(s);
}

// --- The reference against itself: a few anchors so a wrong reference cannot agree silently ----

TEST(Utf8Reference, AnchorCases) {
  EXPECT_EQ(reference_check(bytes({0x41})), Ref::valid);
  EXPECT_EQ(reference_check(bytes({0xC3, 0xA9})), Ref::valid);
  EXPECT_EQ(reference_check(bytes({0xC3})), Ref::prefix);
  EXPECT_EQ(reference_check(bytes({0xC0})), Ref::invalid);
  EXPECT_EQ(reference_check(bytes({0xE0})), Ref::prefix);
  EXPECT_EQ(reference_check(bytes({0xE0, 0x80})), Ref::invalid);
  EXPECT_EQ(reference_check(bytes({0xE0, 0xA0})), Ref::prefix);
  EXPECT_EQ(reference_check(bytes({0xED, 0xA0})), Ref::invalid);
  EXPECT_EQ(reference_check(bytes({0xED, 0x9F, 0xBF})), Ref::valid);
  EXPECT_EQ(reference_check(bytes({0xF0, 0x8F})), Ref::invalid);
  EXPECT_EQ(reference_check(bytes({0xF4, 0x8F, 0xBF, 0xBF})), Ref::valid);
  EXPECT_EQ(reference_check(bytes({0xF4, 0x90})), Ref::invalid);
  EXPECT_EQ(reference_check(bytes({0xF5})), Ref::invalid);
  EXPECT_EQ(reference_check(bytes({0x80})), Ref::invalid);
}

// --- Exhaustive and structured vectors against the reference ------------------------------------

TEST(Utf8Exhaustive, AllOneAndTwoByteSequences) {
  std::size_t mismatches = 0;
  std::uint8_t s[2];
  for (unsigned a = 0; a < 256; ++a) {
    s[0] = static_cast<std::uint8_t>(a);
    const Outcome want1 = expected(reference_check(s, 1));
    if (!(run_whole(s, 1) == want1)) ++mismatches;
    for (unsigned b = 0; b < 256; ++b) {
      s[1] = static_cast<std::uint8_t>(b);
      const Outcome want = expected(reference_check(s, 2));
      if (!(run_whole(s, 2) == want)) ++mismatches;
      if (!(run_bytewise(s, 2) == want)) ++mismatches;
    }
  }
  EXPECT_EQ(mismatches, 0u);
}

// All 2^24 three-byte sequences fed whole; those starting with a lead byte also byte by byte.
TEST(Utf8Exhaustive, AllThreeByteSequences) {
  std::size_t mismatches = 0;
  std::size_t valid_count = 0;
  std::uint8_t s[3];
  for (unsigned a = 0; a < 256; ++a) {
    s[0] = static_cast<std::uint8_t>(a);
    for (unsigned b = 0; b < 256; ++b) {
      s[1] = static_cast<std::uint8_t>(b);
      for (unsigned c = 0; c < 256; ++c) {
        s[2] = static_cast<std::uint8_t>(c);
        const Outcome want = expected(reference_check(s, 3));
        valid_count += want.complete;
        if (!(run_whole(s, 3) == want)) ++mismatches;
        // Byte by byte only from multi-byte leads: elsewhere the first byte is a complete code
        // point or an immediate failure, which the whole-feed and two-byte cases already cover.
        if (a >= 0xC0 && !(run_bytewise(s, 3) == want)) ++mismatches;
      }
    }
  }
  EXPECT_EQ(mismatches, 0u);
  EXPECT_GT(valid_count, 0u);
}

// Every 4-byte sequence with lead F0..F7 and every second byte; the third and fourth bytes from a
// set covering each byte class edge (ASCII, each continuation sub-range, each lead range).
TEST(Utf8Exhaustive, FourByteSequencesStructured) {
  const std::vector<std::uint8_t> edges = {0x00, 0x41, 0x7F, 0x80, 0x81, 0x8F, 0x90, 0x9F,
                                           0xA0, 0xAF, 0xBF, 0xC0, 0xC1, 0xC2, 0xDF, 0xE0,
                                           0xED, 0xEF, 0xF0, 0xF4, 0xF5, 0xFF};
  std::mt19937 rng(4);
  std::size_t mismatches = 0;
  std::size_t valid_count = 0;
  std::uint8_t s[4];
  for (unsigned a = 0xF0; a <= 0xF7; ++a) {
    s[0] = static_cast<std::uint8_t>(a);
    for (unsigned b = 0; b < 256; ++b) {
      s[1] = static_cast<std::uint8_t>(b);
      for (std::uint8_t c : edges) {
        s[2] = c;
        for (std::uint8_t d : edges) {
          s[3] = d;
          const Outcome want = expected(reference_check(s, 4));
          valid_count += want.complete;
          if (!(run_whole(s, 4) == want)) ++mismatches;
          if (!(run_bytewise(s, 4) == want)) ++mismatches;
          if (!(run_split(s, 4, rng) == want)) ++mismatches;
        }
      }
    }
  }
  EXPECT_EQ(mismatches, 0u);
  EXPECT_GT(valid_count, 0u);
}

// Lead F0..F4 with every continuation byte in all three positions: every valid 4-byte form and
// every near miss.
TEST(Utf8Exhaustive, FourByteContinuationsFull) {
  std::size_t mismatches = 0;
  std::size_t valid_count = 0;
  std::uint8_t s[4];
  for (unsigned a = 0xF0; a <= 0xF4; ++a) {
    s[0] = static_cast<std::uint8_t>(a);
    for (unsigned b = 0x80; b <= 0xBF; ++b) {
      s[1] = static_cast<std::uint8_t>(b);
      for (unsigned c = 0x80; c <= 0xBF; ++c) {
        s[2] = static_cast<std::uint8_t>(c);
        for (unsigned d = 0x70; d <= 0xC2; ++d) {
          s[3] = static_cast<std::uint8_t>(d);
          const Outcome want = expected(reference_check(s, 4));
          valid_count += want.complete;
          if (!(run_whole(s, 4) == want)) ++mismatches;
        }
      }
    }
  }
  EXPECT_EQ(mismatches, 0u);
  // U+10000..U+10FFFF are exactly the valid 4-byte sequences.
  EXPECT_EQ(valid_count, 0x100000u);
}

TEST(Utf8Exhaustive, RandomFourByteSequences) {
  std::mt19937 rng(44);
  std::size_t mismatches = 0;
  std::uint8_t s[4];
  for (int i = 0; i < 200000; ++i) {
    const std::uint32_t r = rng();
    for (int k = 0; k < 4; ++k) s[k] = static_cast<std::uint8_t>(r >> (8 * k));
    const Outcome want = expected(reference_check(s, 4));
    if (!(run_whole(s, 4) == want)) ++mismatches;
    if (!(run_split(s, 4, rng) == want)) ++mismatches;
  }
  EXPECT_EQ(mismatches, 0u);
}

// Long mixed strings (ASCII runs of every length around the 8-byte fast path, every sequence
// length, and now and then a bad byte), fed whole, byte by byte and in random pieces.
TEST(Utf8Streaming, RandomStringsRandomSplits) {
  std::mt19937 rng(2024);
  const auto pick = [&](std::uint32_t lo, std::uint32_t hi) {
    return std::uniform_int_distribution<std::uint32_t>(lo, hi)(rng);
  };
  std::size_t mismatches = 0;
  std::size_t valid_count = 0;
  std::size_t invalid_count = 0;
  for (int iter = 0; iter < 3000; ++iter) {
    std::string s;
    const std::uint32_t pieces = pick(0, 40);
    const bool corrupt = pick(0, 2) == 0;
    for (std::uint32_t p = 0; p < pieces; ++p) {
      switch (pick(0, 5)) {
        case 0:
        case 1:
          s.append(pick(0, 40), static_cast<char>(pick(0x20, 0x7E)));
          break;
        case 2:
          s += encode(pick(0x80, 0x7FF));
          break;
        case 3: {
          std::uint32_t cp = pick(0x800, 0xFFFF);
          if (cp >= 0xD800 && cp <= 0xDFFF) cp -= 0x800;
          s += encode(cp);
          break;
        }
        case 4:
          s += encode(pick(0x10000, 0x10FFFF));
          break;
        default:
          if (corrupt) {
            s.push_back(static_cast<char>(pick(0, 255)));
          } else {
            s += "plain";
          }
          break;
      }
    }
    if (corrupt && !s.empty() && pick(0, 1) == 0) s.pop_back();  // maybe cut a code point
    const auto* data = reinterpret_cast<const std::uint8_t*>(s.data());
    const Outcome want = expected(reference_check(s));
    (want.complete ? valid_count : invalid_count)++;
    if (!(run_whole(data, s.size()) == want)) ++mismatches;
    if (!(run_bytewise(data, s.size()) == want)) ++mismatches;
    if (!(run_split(data, s.size(), rng) == want)) ++mismatches;
    if (is_valid_utf8(s) != want.complete) ++mismatches;
  }
  EXPECT_EQ(mismatches, 0u);
  EXPECT_GT(valid_count, 500u);
  EXPECT_GT(invalid_count, 200u);
}

// A bad byte at every offset of a long ASCII run (so before, inside and after the word-wise skip),
// and a multi-byte code point at every offset.
TEST(Utf8Streaming, AsciiFastPathBoundaries) {
  for (std::size_t len = 0; len <= 40; ++len) {
    for (std::size_t at = 0; at < len; ++at) {
      std::string s(len, 'a');
      s[at] = static_cast<char>(0xFF);
      EXPECT_FALSE(valid(s)) << "len " << len << " at " << at;
      s[at] = static_cast<char>(0xC3);
      EXPECT_FALSE(valid(s)) << "lone lead, len " << len << " at " << at;
      s.insert(at + 1, 1, static_cast<char>(0xA9));
      EXPECT_TRUE(valid(s)) << "len " << len << " at " << at;
    }
    EXPECT_TRUE(valid(std::string(len, 'z')));
  }
}

// --- Named cases, one per invalid class -------------------------------------------------------

TEST(Utf8Invalid, Overlong) {
  EXPECT_FALSE(valid(bytes({0xC0, 0x80})));  // U+0000 in 2 bytes
  EXPECT_FALSE(valid(bytes({0xC0, 0xAF})));  // '/' in 2 bytes
  EXPECT_FALSE(valid(bytes({0xC1, 0xBF})));  // U+007F in 2 bytes
  EXPECT_FALSE(valid(bytes({0xE0, 0x80, 0x80})));
  EXPECT_FALSE(valid(bytes({0xE0, 0x80, 0xAF})));
  EXPECT_FALSE(valid(bytes({0xE0, 0x9F, 0xBF})));  // U+07FF in 3 bytes
  EXPECT_FALSE(valid(bytes({0xF0, 0x80, 0x80, 0x80})));
  EXPECT_FALSE(valid(bytes({0xF0, 0x80, 0x80, 0xAF})));
  EXPECT_FALSE(valid(bytes({0xF0, 0x8F, 0xBF, 0xBF})));        // U+FFFF in 4 bytes
  EXPECT_FALSE(valid(bytes({0xF8, 0x88, 0x80, 0x80, 0x80})));  // 5-byte forms
  EXPECT_FALSE(valid(bytes({0xFC, 0x84, 0x80, 0x80, 0x80, 0x80})));
}

TEST(Utf8Invalid, OverlongFailsAtTheSecondByte) {
  Utf8Validator v;
  EXPECT_TRUE(v.feed(bytes({0xE0})));
  EXPECT_FALSE(v.feed(bytes({0x9F})));
  Utf8Validator w;
  EXPECT_TRUE(w.feed(bytes({0xF0})));
  EXPECT_FALSE(w.feed(bytes({0x8F})));
  Utf8Validator x;
  EXPECT_FALSE(x.feed(bytes({0xC1})));
}

TEST(Utf8Invalid, Surrogates) {
  EXPECT_FALSE(valid(bytes({0xED, 0xA0, 0x80})));  // U+D800
  EXPECT_FALSE(valid(bytes({0xED, 0xAD, 0xBF})));  // U+DB7F
  EXPECT_FALSE(valid(bytes({0xED, 0xB0, 0x80})));  // U+DC00
  EXPECT_FALSE(valid(bytes({0xED, 0xBF, 0xBF})));  // U+DFFF
  // A CESU-8 style pair (U+D83D U+DE00) is two surrogates, not U+1F600.
  EXPECT_FALSE(valid(bytes({0xED, 0xA0, 0xBD, 0xED, 0xB8, 0x80})));
  EXPECT_TRUE(valid(bytes({0xED, 0x9F, 0xBF})));  // U+D7FF
  EXPECT_TRUE(valid(bytes({0xEE, 0x80, 0x80})));  // U+E000
}

TEST(Utf8Invalid, AboveMaxCodePoint) {
  EXPECT_FALSE(valid(bytes({0xF4, 0x90, 0x80, 0x80})));  // U+110000
  EXPECT_FALSE(valid(bytes({0xF4, 0xBF, 0xBF, 0xBF})));
  EXPECT_FALSE(valid(bytes({0xF7, 0xBF, 0xBF, 0xBF})));  // U+1FFFFF
}

TEST(Utf8Invalid, LeadsF5ToFF) {
  for (unsigned b = 0xF5; b <= 0xFF; ++b) {
    EXPECT_FALSE(valid(bytes({b}))) << std::hex << b;
    EXPECT_FALSE(valid(bytes({b, 0x80, 0x80, 0x80}))) << std::hex << b;
    Utf8Validator v;
    EXPECT_FALSE(v.feed(bytes({b})));
    EXPECT_TRUE(v.failed());
  }
  EXPECT_FALSE(valid(bytes({0xFE})));
  EXPECT_FALSE(valid(bytes({0xFF, 0xFE})));
}

TEST(Utf8Invalid, LoneContinuation) {
  for (unsigned b = 0x80; b <= 0xBF; ++b) {
    EXPECT_FALSE(valid(bytes({b}))) << std::hex << b;
    EXPECT_FALSE(valid(bytes({'a', b, 'b'}))) << std::hex << b;
  }
  EXPECT_FALSE(valid(bytes({0xC3, 0xA9, 0xA9})));  // one continuation too many
  EXPECT_FALSE(valid(bytes({0xE2, 0x82, 0xAC, 0x80})));
}

TEST(Utf8Invalid, TruncatedAtEnd) {
  for (const std::string& s :
       {bytes({0xC3}), bytes({0xE2}), bytes({0xE2, 0x82}), bytes({0xF0}), bytes({0xF0, 0x9F}),
        bytes({0xF0, 0x9F, 0x98}), bytes({'a', 'b', 0xF4, 0x8F, 0xBF})}) {
    Utf8Validator v;
    EXPECT_TRUE(v.feed(s)) << "a truncated sequence may still continue";
    EXPECT_FALSE(v.failed());
    EXPECT_FALSE(v.complete());
    EXPECT_FALSE(is_valid_utf8(s));
  }
}

TEST(Utf8Invalid, TruncatedInMiddleFollowedByAscii) {
  EXPECT_FALSE(valid(bytes({0xC3, 'a'})));
  EXPECT_FALSE(valid(bytes({0xE2, 0x82, 'a', 'b', 'c'})));
  EXPECT_FALSE(valid(bytes({0xF0, 0x9F, 0x98, ' ', 'o', 'k'})));
  EXPECT_FALSE(valid(bytes({0xF0, 0x9F, 0x98, 0xE2, 0x82, 0xAC})));  // a new lead too early
  std::string s = "hello ";
  s += bytes({0xE2, 0x82});
  s += std::string(64, 'x');
  EXPECT_FALSE(valid(s));
}

TEST(Utf8Invalid, FailureIsStickyUntilReset) {
  Utf8Validator v;
  EXPECT_FALSE(v.feed(bytes({0xFF})));
  EXPECT_TRUE(v.failed());
  EXPECT_FALSE(v.feed("perfectly fine ascii"));
  EXPECT_FALSE(v.feed(nullptr, 0));
  EXPECT_TRUE(v.failed());
  EXPECT_FALSE(v.complete());
  v.reset();
  EXPECT_FALSE(v.failed());
  EXPECT_TRUE(v.complete());
  EXPECT_TRUE(v.feed("fine again"));
  EXPECT_TRUE(v.complete());
}

// --- Markus Kuhn-style boundary cases ---------------------------------------------------------

TEST(Utf8Valid, Boundaries) {
  EXPECT_TRUE(valid(""));
  EXPECT_TRUE(valid(bytes({0x00})));
  EXPECT_TRUE(valid(bytes({0x7F})));                    // U+007F
  EXPECT_TRUE(valid(bytes({0xC2, 0x80})));              // U+0080
  EXPECT_TRUE(valid(bytes({0xDF, 0xBF})));              // U+07FF
  EXPECT_TRUE(valid(bytes({0xE0, 0xA0, 0x80})));        // U+0800
  EXPECT_TRUE(valid(bytes({0xEF, 0xBF, 0xBD})));        // U+FFFD
  EXPECT_TRUE(valid(bytes({0xEF, 0xBF, 0xBF})));        // U+FFFF
  EXPECT_TRUE(valid(bytes({0xF0, 0x90, 0x80, 0x80})));  // U+10000
  EXPECT_TRUE(valid(bytes({0xF4, 0x8F, 0xBF, 0xBF})));  // U+10FFFF
  for (std::uint32_t cp : {0x7Fu, 0x80u, 0x7FFu, 0x800u, 0xFFFFu, 0x10000u, 0x10FFFFu}) {
    EXPECT_TRUE(valid(encode(cp))) << std::hex << cp;
  }
  // Noncharacters are scalar values: valid UTF-8.
  EXPECT_TRUE(valid(bytes({0xEF, 0xB7, 0x90})));        // U+FDD0
  EXPECT_TRUE(valid(bytes({0xF0, 0x9F, 0xBF, 0xBF})));  // U+1FFFF
}

TEST(Utf8Valid, KuhnGreekAndMixedText) {
  // "κόσμε" from Markus Kuhn's UTF-8 test file.
  EXPECT_TRUE(valid(bytes({0xCE, 0xBA, 0xE1, 0xBD, 0xB9, 0xCF, 0x83, 0xCE, 0xBC, 0xCE, 0xB5})));
  EXPECT_TRUE(valid("Hello-\xC2\xB5@\xC3\x9F\xC3\xB6\xC3\xA4\xC3\xBC\xC3\xA0\xC3\xA1-UTF-8!!"));
  EXPECT_TRUE(valid("\xF0\x9F\x98\x80 smile, \xE2\x82\xAC euro, \xE4\xB8\xAD\xE6\x96\x87"));
}

TEST(Utf8Valid, EveryScalarValueEncoded) {
  std::string all;
  for (std::uint32_t cp = 0; cp <= 0x10FFFF; ++cp) {
    if (cp == 0xD800) cp = 0xE000;
    all += encode(cp);
  }
  EXPECT_TRUE(valid(all));
  // The same stream split at a code point boundary and inside a code point.
  Utf8Validator v;
  EXPECT_TRUE(v.feed(all.substr(0, 1000001)));
  EXPECT_TRUE(v.feed(all.substr(1000001)));
  EXPECT_TRUE(v.complete());
}

}  // namespace
}  // namespace tether::protocol
