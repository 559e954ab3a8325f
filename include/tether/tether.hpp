#pragma once

/// \file tether.hpp
/// Everything a tether user needs, in one include.

/// \mainpage tether API reference
///
/// tether is a C++17 client SDK for WebSockets built around a reconnecting connection manager.
/// `#include <tether/tether.hpp>` gives the whole API. Start with tether::Client and
/// tether::ClientOptions; tether::Runtime runs the event loop; every failure carries a
/// tether::errc name.
///
/// The guides are in the source tree's `docs/` folder: getting-started.md, configuration.md,
/// state-machine.md, close-codes.md, threading.md, delivery.md, requests.md, json.md, errors.md
/// and troubleshooting.md.

#include "tether/client.hpp"
#include "tether/error.hpp"
#include "tether/events.hpp"
#include "tether/options.hpp"
#include "tether/runtime.hpp"
#include "tether/version.hpp"
