#include "protocol/close_handshake.hpp"

#include <utility>

namespace tether::protocol {

bool CloseHandshake::start_local(std::uint16_t code, std::string reason) {
  if (sent_ || transport_closed_) return false;
  sent_ = true;
  local_first_ = !received_;
  local_code_ = code;
  local_reason_ = std::move(reason);
  return true;
}

std::optional<std::uint16_t> CloseHandshake::on_remote(std::uint16_t code,
                                                       std::string_view reason) {
  if (received_) return std::nullopt;
  received_ = true;
  remote_code_ = code;
  remote_reason_ = std::string(reason);
  if (sent_ || transport_closed_) return std::nullopt;
  return code;
}

CloseHandshake::Phase CloseHandshake::phase() const noexcept {
  if (sent_ && received_) return Phase::closed;
  if (sent_) return Phase::closing_local;
  if (received_) return Phase::closing_remote;
  return Phase::open;
}

std::uint16_t CloseHandshake::reported_code() const noexcept {
  if (local_first_) return local_code_;
  if (received_) return remote_code_;
  return 1006;
}

const std::string& CloseHandshake::reported_reason() const noexcept {
  static const std::string kNone;
  if (local_first_) return local_reason_;
  if (received_) return remote_reason_;
  return kNone;
}

}  // namespace tether::protocol
