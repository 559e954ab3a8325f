// Throughput of the sans-IO codec's hot paths: masking, UTF-8 validation, outbound framing
// (client role: masked) and inbound decoding (client role: unmasked server frames, text
// validated). MB/s counts payload bytes (10^6 bytes per MB), not header bytes.
//
// Usage: codec_bench [--quick] [--seconds S] [--reps N] [--filter SUBSTRING]

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/frame.hpp"
#include "protocol/frame_decoder.hpp"
#include "protocol/frame_writer.hpp"
#include "protocol/mask.hpp"
#include "protocol/random.hpp"
#include "protocol/utf8.hpp"

namespace tether::protocol {
namespace {

using Clock = std::chrono::steady_clock;

// Results feed into this so the optimizer cannot drop the measured work.
volatile std::uint64_t g_sink = 0;

void consume(std::uint64_t v) {
  g_sink = g_sink + v;
}

struct Settings {
  double seconds = 0.5;  // per repetition
  double warmup = 0.2;
  int reps = 5;
  std::string filter;
};

struct Result {
  std::string name;
  std::size_t message_bytes;
  double median_mbps;
  double min_mbps;
  double max_mbps;
  double median_msgs;  // messages per second at the median
};

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// One "op" processes `bytes_per_op` payload bytes in `msgs_per_op` messages. Ops run in batches
// sized during warm-up to take about a millisecond, so reading the clock costs nothing measurable.
Result run_case(const Settings& settings, const std::string& name, std::size_t message_bytes,
                std::size_t bytes_per_op, std::size_t msgs_per_op,
                const std::function<void()>& op) {
  std::size_t batch = 1;
  const Clock::time_point warm_start = Clock::now();
  for (;;) {
    const Clock::time_point t0 = Clock::now();
    for (std::size_t i = 0; i < batch; ++i) op();
    const double took = seconds_since(t0);
    if (took < 1e-3) {
      batch *= 2;
    } else if (seconds_since(warm_start) >= settings.warmup) {
      break;
    }
  }

  std::vector<double> mbps;
  for (int rep = 0; rep < settings.reps; ++rep) {
    std::uint64_t ops = 0;
    const Clock::time_point t0 = Clock::now();
    double elapsed = 0;
    do {
      for (std::size_t i = 0; i < batch; ++i) op();
      ops += batch;
      elapsed = seconds_since(t0);
    } while (elapsed < settings.seconds);
    mbps.push_back(static_cast<double>(ops) * static_cast<double>(bytes_per_op) / elapsed / 1e6);
  }
  std::sort(mbps.begin(), mbps.end());
  const double median = mbps[mbps.size() / 2];
  const double msgs_per_byte = static_cast<double>(msgs_per_op) / static_cast<double>(bytes_per_op);
  Result r{name, message_bytes, median, mbps.front(), mbps.back(), median * 1e6 * msgs_per_byte};
  std::printf("%-34s %7zu B  %10.1f MB/s  [%10.1f .. %10.1f]  %12.0f msg/s\n", name.c_str(),
              message_bytes, r.median_mbps, r.min_mbps, r.max_mbps, r.median_msgs);
  std::fflush(stdout);
  return r;
}

// --- Payloads ----------------------------------------------------------------------------------

std::string ascii_text(std::size_t n) {
  static constexpr std::string_view kWords =
      "the quick brown fox jumps over the lazy dog {\"price\":101.25,\"qty\":7} ";
  std::string s;
  s.reserve(n);
  while (s.size() < n) s.push_back(kWords[s.size() % kWords.size()]);
  return s;
}

// Valid UTF-8 with 1-, 2-, 3- and 4-byte sequences (about a third of the bytes ASCII).
std::string mixed_text(std::size_t n) {
  static constexpr std::string_view kPieces[] = {
      "Gr\xC3\xBC\xC3\x9F"
      "e ",                                                 // Grüße
      "\xD0\x9F\xD1\x80\xD0\xB8\xD0\xB2\xD0\xB5\xD1\x82 ",  // Привет
      "\xE4\xBD\xA0\xE5\xA5\xBD\xE4\xB8\x96\xE7\x95\x8C ",  // 你好世界
      "\xE2\x82\xAC"
      "42 ",                                                        // €42
      "\xF0\x9F\x98\x80\xF0\x9F\x9A\x80 ",                          // two emoji
      "caf\xC3\xA9 \xCE\xBA\xE1\xBD\xB9\xCF\x83\xCE\xBC\xCE\xB5 ",  // café κόσμε
  };
  std::string s;
  s.reserve(n);
  for (std::size_t i = 0;; ++i) {
    const std::string_view piece = kPieces[i % (sizeof kPieces / sizeof kPieces[0])];
    if (s.size() + piece.size() > n) break;
    s.append(piece);
  }
  s.append(n - s.size(), '.');
  if (!is_valid_utf8(s)) {
    std::fprintf(stderr, "codec_bench: mixed payload is not valid UTF-8\n");
    std::exit(1);
  }
  return s;
}

// --- Sinks -------------------------------------------------------------------------------------

class CountingSink final : public FrameSink {
 public:
  void on_message(Opcode, std::string_view payload) override {
    ++messages;
    bytes += payload.size();
    if (!payload.empty()) check ^= static_cast<std::uint8_t>(payload.back());
  }
  void on_ping(std::string_view) override {}
  void on_pong(std::string_view) override {}
  void on_close(std::uint16_t, std::string_view) override {}

  std::uint64_t messages = 0;
  std::uint64_t bytes = 0;
  std::uint64_t check = 0;
};

// --- Cases -------------------------------------------------------------------------------------

constexpr std::size_t kBufferBytes = 256 * 1024;

void add_if(std::vector<Result>& results, const Settings& settings, const std::string& name,
            std::size_t message_bytes, std::size_t bytes_per_op, std::size_t msgs_per_op,
            const std::function<void()>& op) {
  if (!settings.filter.empty() && name.find(settings.filter) == std::string::npos) return;
  results.push_back(run_case(settings, name, message_bytes, bytes_per_op, msgs_per_op, op));
}

void bench_mask(std::vector<Result>& results, const Settings& settings, std::size_t size) {
  const std::string src = ascii_text(size);
  std::vector<std::uint8_t> dst(size);
  const std::uint8_t key[4] = {0x37, 0xFA, 0x21, 0x3D};
  std::size_t phase = 0;
  add_if(results, settings, "mask_copy", size, size, 1, [&] {
    phase =
        mask_copy(dst.data(), reinterpret_cast<const std::uint8_t*>(src.data()), size, key, phase);
    consume(dst[size - 1]);
  });
}

void bench_utf8(std::vector<Result>& results, const Settings& settings, std::size_t size,
                bool mixed) {
  const std::string text = mixed ? mixed_text(size) : ascii_text(size);
  add_if(results, settings, mixed ? "utf8_validate/mixed" : "utf8_validate/ascii", size, size, 1,
         [&] {
           if (!is_valid_utf8(text)) std::abort();
           consume(1);
         });
}

// FrameWriter (client role): queue enough messages to fill about one 256 KiB buffer, then write
// them out. Each message's payload is built by copy from a template, as an application would hand
// over a fresh std::string: that copy is part of what is measured.
void bench_writer(std::vector<Result>& results, const Settings& settings, std::size_t size) {
  const std::string payload = ascii_text(size);
  const std::size_t per_op = std::max<std::size_t>(1, kBufferBytes / size);
  CsprngSource random;
  MaskKeyPool masks(random);
  FrameWriter writer(WriterOptions{Role::client, 0}, &masks);
  std::vector<std::uint8_t> out(kBufferBytes);
  add_if(results, settings, "encode+mask/FrameWriter::fill", size, per_op * size, per_op, [&] {
    for (std::size_t i = 0; i < per_op; ++i) writer.push_message(Opcode::text, payload, i);
    std::uint64_t wrote = 0;
    while (!writer.empty()) {
      const std::size_t n = writer.fill(out.data(), out.size(), nullptr);
      if (n == 0) std::abort();  // a non-empty writer must make progress
      wrote += n;
      consume(out[n - 1]);
    }
    consume(wrote);
  });
}

// encode_frame (client role) into a reused string: no payload copy by the caller.
void bench_encode_frame(std::vector<Result>& results, const Settings& settings, std::size_t size) {
  const std::string payload = ascii_text(size);
  const std::size_t per_op = std::max<std::size_t>(1, kBufferBytes / size);
  CsprngSource random;
  MaskKeyPool masks(random);
  std::string out;
  out.reserve(per_op * (size + kMaxFrameHeader));
  add_if(results, settings, "encode+mask/encode_frame", size, per_op * size, per_op, [&] {
    out.clear();
    for (std::size_t i = 0; i < per_op; ++i) encode_frame(out, Opcode::text, true, payload, &masks);
    consume(static_cast<std::uint8_t>(out.back()));
  });
}

// FrameDecoder (client role) over a pre-encoded stream of unmasked server text frames, fed either
// whole (a message lying whole in the input is delivered zero-copy) or in 4 KiB reads (a 64 KiB
// message is then accumulated, unmasked and validated piece by piece).
void bench_decoder(std::vector<Result>& results, const Settings& settings, std::size_t size,
                   bool mixed, std::size_t chunk) {
  const std::string payload = mixed ? mixed_text(size) : ascii_text(size);
  const std::size_t per_op = std::max<std::size_t>(1, kBufferBytes / size);
  std::string stream;
  for (std::size_t i = 0; i < per_op; ++i) {
    encode_frame(stream, Opcode::text, true, payload, nullptr);
  }
  const auto* data = reinterpret_cast<const std::uint8_t*>(stream.data());
  FrameDecoder decoder(DecoderOptions{Role::client, 16u * 1024 * 1024});
  CountingSink sink;
  std::string name = "decode+validate/";
  name += mixed ? "mixed" : "ascii";
  name += chunk == 0 ? "/whole" : "/4KiB-reads";
  add_if(results, settings, name, size, per_op * size, per_op, [&] {
    const std::uint64_t before = sink.messages;
    if (chunk == 0) {
      if (!decoder.feed(data, stream.size(), sink)) std::abort();
    } else {
      for (std::size_t pos = 0; pos < stream.size(); pos += chunk) {
        if (!decoder.feed(data + pos, std::min(chunk, stream.size() - pos), sink)) std::abort();
      }
    }
    if (sink.messages - before != per_op) {
      std::fprintf(stderr, "codec_bench: decoded %llu messages, expected %zu\n",
                   static_cast<unsigned long long>(sink.messages - before), per_op);
      std::abort();
    }
    consume(sink.check);
  });
}

int run(int argc, char** argv) {
  Settings settings;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--quick") {
      settings.seconds = 0.05;
      settings.warmup = 0.02;
    } else if (arg == "--seconds" && i + 1 < argc) {
      settings.seconds = std::atof(argv[++i]);
    } else if (arg == "--reps" && i + 1 < argc) {
      settings.reps = std::max(1, std::atoi(argv[++i]));
    } else if (arg == "--filter" && i + 1 < argc) {
      settings.filter = argv[++i];
    } else {
      std::fprintf(stderr, "usage: %s [--quick] [--seconds S] [--reps N] [--filter SUBSTRING]\n",
                   argv[0]);
      return 2;
    }
  }
#ifndef NDEBUG
  std::printf("codec_bench: WARNING: assertions are on; numbers from a Debug build mislead\n");
#endif
  std::printf(
      "codec_bench: %d repetitions of %.2f s per case; MB/s of payload (10^6 bytes), "
      "median [min .. max]\n\n",
      settings.reps, settings.seconds);

  std::vector<Result> results;
  for (std::size_t size : {std::size_t{64}, std::size_t{64 * 1024}}) {
    bench_mask(results, settings, size);
    bench_utf8(results, settings, size, false);
    bench_utf8(results, settings, size, true);
    bench_writer(results, settings, size);
    bench_encode_frame(results, settings, size);
    for (bool mixed : {false, true}) {
      bench_decoder(results, settings, size, mixed, 0);
      bench_decoder(results, settings, size, mixed, 4096);
    }
  }

  std::printf("\n");
  for (const Result& r : results) {
    std::printf(
        "{\"case\":\"%s\",\"message_bytes\":%zu,\"mb_per_s_median\":%.1f,\"mb_per_s_min\":%.1f,"
        "\"mb_per_s_max\":%.1f,\"msgs_per_s_median\":%.0f,\"reps\":%d,\"seconds_per_rep\":%.2f}\n",
        r.name.c_str(), r.message_bytes, r.median_mbps, r.min_mbps, r.max_mbps, r.median_msgs,
        settings.reps, settings.seconds);
  }
  return 0;
}

}  // namespace
}  // namespace tether::protocol

int main(int argc, char** argv) {
  return tether::protocol::run(argc, argv);
}
