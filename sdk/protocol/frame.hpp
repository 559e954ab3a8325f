#pragma once

// RFC 6455 frame vocabulary: opcodes, roles, close codes and the frame header layout.

#include <cstddef>
#include <cstdint>

namespace tether::protocol {

enum class Opcode : std::uint8_t {
  continuation = 0x0,
  text = 0x1,
  binary = 0x2,
  close = 0x8,
  ping = 0x9,
  pong = 0xA,
};

/// Which end of the connection the codec plays: a client masks what it sends and rejects masked
/// frames; a server (the project's test and benchmark servers) does the opposite.
enum class Role { client, server };

inline constexpr std::size_t kMaxControlPayload = 125;
inline constexpr std::size_t kMaxFrameHeader = 14;  // 2 + 8 (length) + 4 (mask)

constexpr bool is_control(Opcode op) noexcept { return (static_cast<unsigned>(op) & 0x8u) != 0; }
constexpr bool is_known_opcode(unsigned op) noexcept {
  return op <= 0x2 || (op >= 0x8 && op <= 0xA);
}

namespace close_code {
inline constexpr std::uint16_t normal = 1000;
inline constexpr std::uint16_t going_away = 1001;
inline constexpr std::uint16_t protocol_error = 1002;
inline constexpr std::uint16_t unsupported_data = 1003;
inline constexpr std::uint16_t no_status = 1005;  // never on the wire: "close frame had no code"
inline constexpr std::uint16_t abnormal = 1006;   // never on the wire: "no close frame at all"
inline constexpr std::uint16_t invalid_payload = 1007;
inline constexpr std::uint16_t policy_violation = 1008;
inline constexpr std::uint16_t message_too_big = 1009;
inline constexpr std::uint16_t mandatory_extension = 1010;
inline constexpr std::uint16_t internal_error = 1011;
inline constexpr std::uint16_t service_restart = 1012;
inline constexpr std::uint16_t try_again_later = 1013;
inline constexpr std::uint16_t bad_gateway = 1014;
inline constexpr std::uint16_t tls_handshake = 1015;  // never on the wire
}  // namespace close_code

/// True for a code a peer may put in a close frame (RFC 6455 7.4 + IANA registry):
/// 1000-1003, 1007-1014, 3000-4999.
constexpr bool is_valid_wire_close_code(unsigned code) noexcept {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
         (code >= 3000 && code <= 4999);
}

/// Bytes needed for a frame header with `payload_len` bytes of payload.
constexpr std::size_t frame_header_size(std::uint64_t payload_len, bool masked) noexcept {
  return 2 + (payload_len < 126 ? 0 : payload_len <= 0xFFFF ? 2 : 8) + (masked ? 4 : 0);
}

/// Writes a frame header into `out` (at least frame_header_size() bytes) and returns its size.
/// `mask_key` is null for an unmasked frame.
std::size_t write_frame_header(std::uint8_t* out, Opcode op, bool fin, std::uint64_t payload_len,
                               const std::uint8_t* mask_key) noexcept;

}  // namespace tether::protocol
