#pragma once

// Parsing untrusted JSON within bounds: nesting depth is limited (a pre-scan), and RapidJSON's
// iterative parser keeps deep documents off the stack.

#include <cstddef>
#include <string_view>

#include <rapidjson/document.h>

namespace tether::codec {

/// Objects and arrays nested deeper than this are refused.
constexpr std::size_t kMaxJsonDepth = 64;

/// The deepest nesting of objects and arrays in `text`, ignoring brackets inside strings; stops
/// counting once past `limit`.
std::size_t json_depth(std::string_view text, std::size_t limit = kMaxJsonDepth) noexcept;

/// Parses `text` into `doc`; false when it is not valid JSON or nests deeper than kMaxJsonDepth.
bool parse_bounded(rapidjson::Document& doc, std::string_view text);

}  // namespace tether::codec
