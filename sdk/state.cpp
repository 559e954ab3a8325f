#include "tether/state.hpp"

namespace tether {

std::string_view to_string(State state) noexcept {
  switch (state) {
    case State::idle: return "idle";
    case State::connecting: return "connecting";
    case State::authenticating: return "authenticating";
    case State::open: return "open";
    case State::waiting: return "waiting";
    case State::closing: return "closing";
    case State::closed: return "closed";
    case State::failed: return "failed";
  }
  return "unknown";
}

}  // namespace tether
