// A tour of tether's RFC 6455 codec without any network: the opening handshake, outbound framing
// with masking and coalescing, incremental decoding of fragmented server frames, and the errors
// (with close codes) a misbehaving server provokes.
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/frame_decoder.hpp"
#include "protocol/frame_writer.hpp"
#include "protocol/handshake.hpp"
#include "protocol/handshake_key.hpp"

using namespace tether::protocol;

namespace {

class Printer final : public FrameSink {
 public:
  void on_message(Opcode op, std::string_view payload) override {
    std::printf("  message (%s, %zu bytes): %.*s\n", op == Opcode::text ? "text" : "binary",
                payload.size(), static_cast<int>(payload.size()), payload.data());
  }
  void on_ping(std::string_view payload) override {
    std::printf("  ping: %.*s\n", static_cast<int>(payload.size()), payload.data());
  }
  void on_pong(std::string_view) override { std::printf("  pong\n"); }
  void on_close(std::uint16_t code, std::string_view reason) override {
    std::printf("  close: %u \"%.*s\"\n", code, static_cast<int>(reason.size()), reason.data());
  }
};

const std::uint8_t* bytes(std::string_view s) { return reinterpret_cast<const std::uint8_t*>(s.data()); }

void show_rejection(const char* what, const std::string& wire) {
  Printer printer;
  FrameDecoder decoder;
  decoder.feed(bytes(wire), wire.size(), printer);
  std::printf("  %-34s -> %s, close %u: %s\n", what,
              std::string(tether::to_string(decoder.error().code)).c_str(),
              decoder.error().close_code, decoder.error().message.c_str());
}

}  // namespace

int main() {
  CsprngSource random;
  MaskKeyPool masks(random);

  std::printf("1. Opening handshake\n");
  HandshakeRequest request;
  request.host = "chat.example.test";
  request.port = 9001;
  request.target = "/rooms?name=lobby";
  request.subprotocols = {"chat.v2", "chat.v1"};
  const std::string key = make_handshake_key(random);
  std::printf("%s", build_handshake_request(request, key).c_str());

  const std::string response = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                               "Connection: Upgrade\r\nSec-WebSocket-Accept: " +
                               compute_accept_key(key) +
                               "\r\nSec-WebSocket-Protocol: chat.v1\r\n\r\n\x81\x02hi";
  HandshakeResponse check(key, request.subprotocols);
  std::size_t consumed = 0;
  // Fed in two pieces, as a socket might deliver it.
  check.feed(bytes(response), 40, &consumed);
  auto result = check.feed(bytes(response) + 40, response.size() - 40, &consumed);
  std::printf("  -> %s, subprotocol \"%s\", %zu frame bytes already behind the head\n\n",
              result == HandshakeResponse::Result::accepted ? "accepted" : "not accepted",
              check.subprotocol().c_str(), response.size() - 40 - consumed);

  std::printf("2. Outbound: 1000 small messages coalesce into one buffer, masked\n");
  FrameWriter writer(WriterOptions{}, &masks);
  for (int i = 0; i < 1000; ++i) writer.push_message(Opcode::text, "message " + std::to_string(i), i);
  writer.push_control(Opcode::ping, "are you there?");
  std::vector<std::uint8_t> buffer(256 * 1024);
  std::vector<std::uint64_t> completed;
  const std::size_t n = writer.fill(buffer.data(), buffer.size(), &completed);
  std::printf("  one fill: %zu bytes, %zu messages completed, first bytes:", n, completed.size());
  for (std::size_t i = 0; i < 8; ++i) std::printf(" %02x", buffer[i]);
  std::printf("\n\n");

  std::printf("3. Inbound: a fragmented text message with a ping between fragments, fed byte by byte\n");
  std::string wire;
  encode_frame(wire, Opcode::text, false, "Hello, ", nullptr);
  encode_frame(wire, Opcode::ping, true, "keepalive", nullptr);
  encode_frame(wire, Opcode::continuation, true, "w\xC3\xB6rld", nullptr);
  encode_close_frame(wire, 1012, "service restart", nullptr);
  Printer printer;
  FrameDecoder decoder;
  for (char c : wire) decoder.feed(reinterpret_cast<const std::uint8_t*>(&c), 1, printer);
  std::printf("\n");

  std::printf("4. What a hostile server gets\n");
  show_rejection("RSV1 set", std::string("\xC1\x01x", 3));
  show_rejection("masked frame from the server", std::string("\x81\x81\x01\x02\x03\x04x", 7));
  show_rejection("invalid UTF-8 in text", std::string("\x81\x02\xC0\xAF", 4));
  show_rejection("close code 1005 on the wire", std::string("\x88\x02\x03\xED", 4));
  show_rejection("2^63 length", std::string("\x82\x7F\x80\x00\x00\x00\x00\x00\x00\x00", 10));
  show_rejection("32 MiB message (limit 16 MiB)", std::string("\x82\x7F\x00\x00\x00\x00\x02\x00\x00\x00", 10));
  return 0;
}
