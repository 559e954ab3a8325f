// The default reconnect policy (docs/state-machine.md, "Reconnect policy").

#include "tether/state.hpp"

namespace tether {

ReconnectDecision default_reconnect_decision(const Cause& cause) noexcept {
  if (cause.by_client) return ReconnectDecision::stop;
  if (cause.error) {
    switch (*cause.error) {
      case errc::tls_verify_failed:
      case errc::invalid_url:
      case errc::invalid_argument:
      case errc::auth_rejected:
        return ReconnectDecision::fail;
      case errc::handshake_rejected: {
        const int s = cause.http_status;
        if (s == 401 || s == 403) return ReconnectDecision::fail;
        if (s == 408 || s == 429 || s >= 500) return ReconnectDecision::reconnect;
        if (s >= 300 && s < 500) return ReconnectDecision::fail;
        return ReconnectDecision::reconnect;  // 1xx, 2xx: a confused server, try again
      }
      default:
        break;
    }
  }
  const unsigned code = cause.close_code;
  if (code == 0 || code == 1006 || cause.error) {
    // No close frame from the server, or the client failed the connection: a transport problem.
    if (code == 4001 || code == 4003) return ReconnectDecision::fail;
    return ReconnectDecision::reconnect;
  }
  if (code == 4001 || code == 4003) return ReconnectDecision::fail;
  if (code == 1000 || code == 1003 || (code >= 1007 && code <= 1010) ||
      (code >= 3500 && code <= 3999) || (code >= 4500 && code <= 4999)) {
    return ReconnectDecision::stop;
  }
  // 1001, 1002, 1005, 1011-1014, 3000-3499, 4000-4499, and anything unlisted.
  return ReconnectDecision::reconnect;
}

}  // namespace tether
