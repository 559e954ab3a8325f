#pragma once

// Sec-WebSocket-Key / Sec-WebSocket-Accept (RFC 6455 4.1, 4.2.2).

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "protocol/random.hpp"

namespace tether::protocol {

std::string base64_encode(const std::uint8_t* data, std::size_t n);

/// A fresh Sec-WebSocket-Key: base64 of 16 random bytes.
std::string make_handshake_key(RandomSource& random);

/// base64(SHA-1(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")).
std::string compute_accept_key(std::string_view key);

}  // namespace tether::protocol
