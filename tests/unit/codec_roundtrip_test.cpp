// FrameWriter -> FrameDecoder in both directions over seeded random traffic: message sizes around
// every length-encoding boundary, text and binary, owned and copied payloads, fragmentation, pings
// and pongs queued at random moments, random write-buffer capacities and random read chunking down
// to single bytes.

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <random>
#include <string>
#include <vector>

#include "protocol/frame_decoder.hpp"
#include "protocol/frame_writer.hpp"
#include "protocol/random.hpp"
#include "protocol/utf8.hpp"

namespace tether::protocol {
namespace {

constexpr int kCases = 320;
constexpr std::size_t kPoolSize = 512 * 1024;
constexpr std::size_t kMaxMessage = 200 * 1000;

class SeededSource final : public RandomSource {
 public:
  explicit SeededSource(std::uint32_t seed) : rng_(seed) {}
  void fill(std::uint8_t* out, std::size_t n) override {
    for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<std::uint8_t>(rng_());
  }

 private:
  std::mt19937 rng_;
};

void append_code_point(std::string& s, std::uint32_t cp) {
  if (cp < 0x80) {
    s.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    s.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    s.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    s.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    s.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    s.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    s.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    s.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    s.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    s.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

// Payloads are slices of two pools built once: random valid UTF-8 (ASCII runs and 2-, 3- and
// 4-byte code points) and random bytes.
struct Pools {
  std::string text;
  std::string binary;

  Pools() {
    std::mt19937 rng(2024);
    while (text.size() < kPoolSize) {
      const unsigned kind = rng() % 10;
      if (kind < 6) {
        const unsigned run = 1 + rng() % 40;
        for (unsigned i = 0; i < run; ++i) text.push_back(static_cast<char>(0x20 + rng() % 95));
      } else if (kind < 7) {
        append_code_point(text, 0x80 + rng() % (0x800 - 0x80));
      } else if (kind < 9) {
        std::uint32_t cp = 0x800 + rng() % (0x10000 - 0x800);
        if (cp >= 0xD800 && cp <= 0xDFFF) cp -= 0x800;  // no surrogates
        append_code_point(text, cp);
      } else {
        append_code_point(text, 0x10000 + rng() % (0x110000 - 0x10000));
      }
    }
    binary.resize(kPoolSize);
    for (char& c : binary) c = static_cast<char>(rng());
  }

  static const Pools& get() {
    static const Pools pools;
    return pools;
  }

  // A slice of about `size` bytes (exactly `size` for binary; for text, cut to whole code points).
  std::string slice(Opcode op, std::size_t size, std::mt19937& rng) const {
    const std::string& pool = op == Opcode::text ? text : binary;
    std::size_t begin = rng() % (pool.size() - size - 4);
    if (op != Opcode::text) return pool.substr(begin, size);
    auto continuation = [&](std::size_t i) {
      return i < pool.size() && (static_cast<std::uint8_t>(pool[i]) & 0xC0) == 0x80;
    };
    while (continuation(begin)) ++begin;
    std::size_t end = begin + size;
    while (continuation(end)) ++end;
    return pool.substr(begin, end - begin);
  }
};

struct Received {
  Opcode op;
  std::string payload;
};

class CollectingSink final : public FrameSink {
 public:
  void on_message(Opcode op, std::string_view payload) override {
    messages.push_back({op, std::string(payload)});
  }
  void on_ping(std::string_view payload) override {
    controls.push_back({Opcode::ping, std::string(payload)});
  }
  void on_pong(std::string_view payload) override {
    controls.push_back({Opcode::pong, std::string(payload)});
  }
  void on_close(std::uint16_t code, std::string_view reason) override {
    ++closes;
    close_code = code;
    close_reason = std::string(reason);
  }

  std::vector<Received> messages;
  std::vector<Received> controls;
  int closes = 0;
  std::uint16_t close_code = 0;
  std::string close_reason;
};

std::size_t pick(std::mt19937& rng, std::initializer_list<std::size_t> values) {
  return *(values.begin() + rng() % values.size());
}

// Roughly log-uniform in [lo, hi].
std::size_t log_uniform(std::mt19937& rng, std::size_t lo, std::size_t hi) {
  std::uniform_real_distribution<double> d(std::log(static_cast<double>(lo)),
                                           std::log(static_cast<double>(hi) + 1));
  return std::min(hi, std::max(lo, static_cast<std::size_t>(std::exp(d(rng)))));
}

std::size_t message_size(std::mt19937& rng) {
  switch (rng() % 4) {
    case 0:
      return pick(rng, {0, 1, 124, 125, 126, 127, 65535, 65536, 65537, kMaxMessage});
    case 1:
    case 2:
      return rng() % 300;
    default:
      return log_uniform(rng, 1, kMaxMessage);
  }
}

void run_case(int index, Role writer_role) {
  SCOPED_TRACE("case " + std::to_string(index));
  const Pools& pools = Pools::get();
  std::mt19937 rng(static_cast<std::uint32_t>(index) * 7919u + 17u);
  SeededSource random(static_cast<std::uint32_t>(index));
  MaskKeyPool masks(random);

  WriterOptions writer_options;
  writer_options.role = writer_role;
  if (rng() % 2 == 0) {
    writer_options.fragment_size =
        rng() % 3 == 0 ? 1 + rng() % 100000 : pick(rng, {1, 2, 3, 5, 125, 126, 1000, 65536});
  }
  FrameWriter writer(writer_options, &masks);

  const std::size_t max_chunk = pick(rng, {1, 3, 16, 200, 4096, 65536, 1u << 20});
  // Keep byte-at-a-time cases (and tiny fragments, which cost 6+ bytes per payload byte) small.
  std::size_t budget = max_chunk <= 3 ? 30'000 : max_chunk <= 16 ? 200'000 : 700'000;
  if (writer_options.fragment_size != 0 && writer_options.fragment_size < 8) budget /= 8;
  const std::size_t count = rng() % 8 == 0 ? 1 + rng() % 1000 : 1 + rng() % 40;

  std::vector<Received> sent;
  std::vector<Received> sent_controls;
  std::vector<std::uint64_t> completed;
  std::string stream;
  std::vector<std::uint8_t> buffer(300 * 1024);
  auto fill_once = [&] {
    const std::size_t cap = log_uniform(rng, kMaxFrameHeader, buffer.size());
    const std::size_t n = writer.fill(buffer.data(), cap, &completed);
    ASSERT_LE(n, cap);
    stream.append(reinterpret_cast<const char*>(buffer.data()), n);
  };
  auto drain = [&] {
    while (!writer.empty()) {
      const std::size_t before = stream.size();
      fill_once();
      ASSERT_GT(stream.size(), before);
    }
  };

  std::size_t total = 0;
  for (std::size_t i = 0; i < count && total <= budget; ++i) {
    const Opcode op = rng() % 2 ? Opcode::text : Opcode::binary;
    std::string payload = pools.slice(op, std::min(message_size(rng), budget - total + 1), rng);
    total += payload.size();
    sent.push_back({op, payload});
    // Owned and copied payloads mixed: small copies are framed as they are pushed.
    if (rng() % 2 == 0) {
      writer.push_message_copy(op, payload, i);
    } else {
      writer.push_message(op, std::move(payload), i);
    }
    if (rng() % 4 == 0) {
      const Opcode control = rng() % 2 ? Opcode::ping : Opcode::pong;
      std::string body = pools.slice(Opcode::binary, rng() % 126, rng);
      sent_controls.push_back({control, body});
      writer.push_control(control, body);
    }
    if (rng() % 3 == 0) fill_once();
  }
  ASSERT_NO_FATAL_FAILURE(drain());
  const bool send_close = rng() % 2 == 0;
  const std::uint16_t close_code = static_cast<std::uint16_t>(pick(rng, {1000, 1001, 1012, 4321}));
  const std::string close_reason = pools.slice(Opcode::text, rng() % 140, rng);
  if (send_close) {
    writer.push_close(close_code, close_reason);
    ASSERT_NO_FATAL_FAILURE(drain());
  }
  EXPECT_EQ(writer.pending_bytes(), 0u);
  ASSERT_EQ(completed.size(), sent.size());
  for (std::size_t i = 0; i < completed.size(); ++i) ASSERT_EQ(completed[i], i);

  DecoderOptions decoder_options;
  decoder_options.role = writer_role == Role::client ? Role::server : Role::client;
  FrameDecoder decoder(decoder_options);
  CollectingSink sink;
  const auto* bytes = reinterpret_cast<const std::uint8_t*>(stream.data());
  for (std::size_t pos = 0; pos < stream.size();) {
    const std::size_t n = std::min<std::size_t>(1 + rng() % max_chunk, stream.size() - pos);
    ASSERT_TRUE(decoder.feed(bytes + pos, n, sink)) << decoder.error().message;
    pos += n;
  }

  ASSERT_EQ(sink.messages.size(), sent.size());
  for (std::size_t i = 0; i < sent.size(); ++i) {
    ASSERT_EQ(sink.messages[i].op, sent[i].op) << "message " << i;
    ASSERT_EQ(sink.messages[i].payload.size(), sent[i].payload.size()) << "message " << i;
    ASSERT_TRUE(sink.messages[i].payload == sent[i].payload) << "message " << i;
  }
  ASSERT_EQ(sink.controls.size(), sent_controls.size());
  for (std::size_t i = 0; i < sent_controls.size(); ++i) {
    ASSERT_EQ(sink.controls[i].op, sent_controls[i].op) << "control " << i;
    ASSERT_EQ(sink.controls[i].payload, sent_controls[i].payload) << "control " << i;
  }
  if (send_close) {
    ASSERT_EQ(sink.closes, 1);
    EXPECT_EQ(sink.close_code, close_code);
    // The reason was cut to fit 125 bytes on a code point boundary.
    EXPECT_LE(sink.close_reason.size(), 123u);
    EXPECT_EQ(close_reason.compare(0, sink.close_reason.size(), sink.close_reason), 0);
    EXPECT_TRUE(close_reason.size() > 123 || sink.close_reason == close_reason);
    EXPECT_TRUE(decoder.close_received());
  } else {
    EXPECT_EQ(sink.closes, 0);
  }
}

TEST(CodecRoundtrip, ClientWriterToServerDecoder) {
  for (int i = 0; i < kCases; i += 2) ASSERT_NO_FATAL_FAILURE(run_case(i, Role::client));
}

TEST(CodecRoundtrip, ServerWriterToClientDecoder) {
  for (int i = 1; i < kCases; i += 2) ASSERT_NO_FATAL_FAILURE(run_case(i, Role::server));
}

}  // namespace
}  // namespace tether::protocol
