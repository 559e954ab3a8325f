#include "protocol/handshake_key.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

namespace tether::protocol {
namespace {

std::string b64(std::string_view s) {
  return base64_encode(reinterpret_cast<const std::uint8_t*>(s.data()), s.size());
}

// A test decoder (the SDK only encodes).
std::vector<std::uint8_t> base64_decode(std::string_view s) {
  static const std::string alphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::vector<std::uint8_t> out;
  std::uint32_t acc = 0;
  int bits = 0;
  for (char c : s) {
    if (c == '=') break;
    const auto v = alphabet.find(c);
    if (v == std::string::npos) ADD_FAILURE() << "not base64: " << c;
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<std::uint8_t>(acc >> bits));
    }
  }
  return out;
}

// Hands out 0x00, 0x01, 0x02, ... across calls.
class CountingSource final : public RandomSource {
 public:
  void fill(std::uint8_t* out, std::size_t n) override {
    for (std::size_t i = 0; i < n; ++i) out[i] = next_++;
  }

 private:
  std::uint8_t next_ = 0;
};

TEST(Base64, Rfc4648Vectors) {
  EXPECT_EQ(b64(""), "");
  EXPECT_EQ(b64("f"), "Zg==");
  EXPECT_EQ(b64("fo"), "Zm8=");
  EXPECT_EQ(b64("foo"), "Zm9v");
  EXPECT_EQ(b64("foob"), "Zm9vYg==");
  EXPECT_EQ(b64("fooba"), "Zm9vYmE=");
  EXPECT_EQ(b64("foobar"), "Zm9vYmFy");
}

TEST(Base64, AllByteValuesAndAlphabetEnds) {
  const std::uint8_t high[3] = {0xFB, 0xFF, 0xBF};
  EXPECT_EQ(base64_encode(high, 3), "+/+/");
  const std::uint8_t zeros[3] = {};
  EXPECT_EQ(base64_encode(zeros, 3), "AAAA");
  std::vector<std::uint8_t> all(256);
  for (std::size_t i = 0; i < all.size(); ++i) all[i] = static_cast<std::uint8_t>(i);
  for (std::size_t n = 0; n <= all.size(); ++n) {
    const std::string enc = base64_encode(all.data(), n);
    EXPECT_EQ(enc.size(), (n + 2) / 3 * 4);
    EXPECT_EQ(base64_decode(enc), std::vector<std::uint8_t>(all.begin(), all.begin() + n));
  }
}

TEST(HandshakeKey, Rfc6455SampleAccept) {
  // RFC 6455 1.3 and 4.2.2.
  EXPECT_EQ(compute_accept_key("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

TEST(HandshakeKey, AcceptKeyOfOtherKeys) {
  // The handshake example on the English Wikipedia page "WebSocket".
  EXPECT_EQ(compute_accept_key("x3JJHMbDL1EzLkh9GBhXDw=="), "HSmrc0sMlYUkAGmm5OPpG2HaGWk=");
  EXPECT_EQ(compute_accept_key("").size(), 28u);  // SHA-1 is 20 bytes: 28 base64 characters
}

TEST(HandshakeKey, MakeKeyFromFixedSource) {
  CountingSource source;
  const std::string key = make_handshake_key(source);
  // base64 of 00 01 02 ... 0f.
  EXPECT_EQ(key, "AAECAwQFBgcICQoLDA0ODw==");
  EXPECT_EQ(key.size(), 24u);
  const auto raw = base64_decode(key);
  ASSERT_EQ(raw.size(), 16u);
  for (std::size_t i = 0; i < raw.size(); ++i) EXPECT_EQ(raw[i], i);
  // The next key uses the next 16 bytes.
  EXPECT_EQ(make_handshake_key(source), "EBESExQVFhcYGRobHB0eHw==");
}

TEST(HandshakeKey, CsprngKeysDiffer) {
  CsprngSource source;
  const std::string a = make_handshake_key(source);
  const std::string b = make_handshake_key(source);
  EXPECT_EQ(a.size(), 24u);
  EXPECT_EQ(base64_decode(a).size(), 16u);
  EXPECT_NE(a, b);
}

}  // namespace
}  // namespace tether::protocol
