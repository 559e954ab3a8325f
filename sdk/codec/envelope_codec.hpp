#pragma once

// Internal entry points of the default envelope codec (sdk/codec/envelope_codec.cpp).

#include <memory>

#include "tether/codec.hpp"

namespace tether::codec {

/// envelope_codec() without its decoding fast path: every text is parsed whole before the
/// envelope is read. The reference the fast path is checked against (unit tests, fuzzing).
std::shared_ptr<const Codec> envelope_codec_without_fast_path(EnvelopeFields fields = {});

}  // namespace tether::codec
