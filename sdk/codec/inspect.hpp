#pragma once

// The default JSON envelope of tether's own requests (auth, subscribe, resume) and the inspection
// of inbound text messages: is it a response to one of our requests, does it carry a sequence
// number. RapidJSON is used here and in the other files of sdk/codec/ only.

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

/// {"type":"auth","id":ID,"payload":{"token":T[,RESUME_FIELD:N]}}
std::string auth_request(std::string_view id, std::string_view token,
                         std::optional<std::uint64_t> resume_from,
                         std::string_view resume_field = "resume_from");

/// {"type":"subscribe"|"unsubscribe","id":ID,"payload":{"channel":C[,RESUME_FIELD:N]}}
std::string subscribe_request(bool subscribe, std::string_view id, std::string_view channel,
                              std::optional<std::uint64_t> resume_from,
                              std::string_view resume_field = "resume_from");

/// {"type":"resume","payload":{RESUME_FIELD:N}}
std::string resume_message(std::uint64_t resume_from,
                           std::string_view resume_field = "resume_from");

}  // namespace tether::codec
