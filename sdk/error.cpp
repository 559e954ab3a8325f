#include "tether/error.hpp"
#include "tether/events.hpp"

#include <array>
#include <string>

namespace tether {
namespace {

constexpr std::array<std::string_view, 26> kNames = {
    "invalid_url",       "dns_failed",         "connect_refused",    "connect_timeout",
    "tls_verify_failed", "tls_handshake_failed", "proxy_failed",     "handshake_rejected",
    "handshake_failed",  "protocol_error",     "invalid_utf8",       "message_too_big",
    "heartbeat_timeout", "connection_lost",    "auth_rejected",      "auth_timeout",
    "queue_full",        "retries_exhausted",  "decode_error",       "subscribe_rejected",
    "invalid_request",   "timeout",            "cancelled",          "encode_error",
    "closed",            "invalid_argument",
};

class Category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "tether"; }
  std::string message(int value) const override {
    return std::string(to_string(static_cast<errc>(value)));
  }
};

}  // namespace

std::string_view to_string(errc code) noexcept {
  const auto index = static_cast<std::size_t>(code) - 1;
  return index < kNames.size() ? kNames[index] : std::string_view("unknown");
}

bool errc_from_string(std::string_view name, errc& out) noexcept {
  for (std::size_t i = 0; i < kNames.size(); ++i) {
    if (kNames[i] == name) {
      out = static_cast<errc>(i + 1);
      return true;
    }
  }
  return false;
}

const std::error_category& error_category() noexcept {
  static const Category category;
  return category;
}

}  // namespace tether

namespace tether {

std::string_view to_string(DropReason reason) noexcept {
  switch (reason) {
    case DropReason::overflow:
      return "overflow";
    case DropReason::ttl:
      return "ttl";
    case DropReason::closed:
      return "closed";
  }
  return "unknown";
}

}  // namespace tether
