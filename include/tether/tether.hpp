#pragma once

/// \file tether.hpp
/// Everything a tether user needs, in one include.

#include "tether/client.hpp"
#include "tether/error.hpp"
#include "tether/events.hpp"
#include "tether/options.hpp"
#include "tether/runtime.hpp"
#include "tether/version.hpp"
