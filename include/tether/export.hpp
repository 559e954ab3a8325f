#pragma once

/// \file export.hpp
/// Symbol visibility for tether's public API (the library is built with hidden visibility).

#if defined(__GNUC__) || defined(__clang__)
#define TETHER_API __attribute__((visibility("default")))
#else
#define TETHER_API
#endif
