#include "protocol/frame.hpp"

namespace tether::protocol {

std::size_t write_frame_header(std::uint8_t* out, Opcode op, bool fin, std::uint64_t payload_len,
                               const std::uint8_t* mask_key) noexcept {
  std::size_t pos = 0;
  out[pos++] =
      static_cast<std::uint8_t>((fin ? 0x80u : 0x00u) | (static_cast<unsigned>(op) & 0x0Fu));
  const std::uint8_t mask_bit = mask_key != nullptr ? 0x80 : 0x00;
  // RFC 6455 5.2: the shortest length form is used; extended lengths are in network byte order.
  if (payload_len < 126) {
    out[pos++] = static_cast<std::uint8_t>(mask_bit | payload_len);
  } else if (payload_len <= 0xFFFF) {
    out[pos++] = static_cast<std::uint8_t>(mask_bit | 126);
    out[pos++] = static_cast<std::uint8_t>(payload_len >> 8);
    out[pos++] = static_cast<std::uint8_t>(payload_len);
  } else {
    out[pos++] = static_cast<std::uint8_t>(mask_bit | 127);
    for (int shift = 56; shift >= 0; shift -= 8) {
      out[pos++] = static_cast<std::uint8_t>(payload_len >> shift);
    }
  }
  if (mask_key != nullptr) {
    for (int i = 0; i < 4; ++i) out[pos++] = mask_key[i];
  }
  return pos;
}

}  // namespace tether::protocol
