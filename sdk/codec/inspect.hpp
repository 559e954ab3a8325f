#pragma once

// A quick look at an inbound text message without a codec: its id, type, error and sequence
// number (resume reads the sequence number with it, whatever the codec). RapidJSON is used here
// and in the other files of sdk/codec/ only.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace tether::codec {

/// What tether needs to know about an inbound text message.
struct Inspection {
  bool object = false;            ///< The text is a JSON object (nothing else is filled otherwise).
  std::optional<std::string> id;  ///< "id" as text: a string as is, an integer in decimal.
  std::optional<std::string> type;
  bool error = false;             ///< An "error" member that is not null.
  std::string error_code;         ///< error.code (a string, or a number in decimal).
  std::string error_message;      ///< error.message, or the error itself when it is a string.
  std::optional<std::uint64_t> seq;  ///< The sequence field, when an unsigned integer.
};

/// Parses `text` (bounded nesting depth, no recursion on the stack). `seq_field` empty: no
/// sequence number is looked for.
Inspection inspect(std::string_view text, std::string_view seq_field = {});

}  // namespace tether::codec
