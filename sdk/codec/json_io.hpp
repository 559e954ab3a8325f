#pragma once

// tether::Json <-> JSON text, through RapidJSON (a SAX reader building the DOM, and a writer),
// shared by Json::parse/dump and the message codecs. Internal: never included by installed
// headers.

#include <cstddef>
#include <string>
#include <string_view>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "tether/json.hpp"

namespace tether::codec {

/// How parse_json failed.
enum class JsonParseFailure {
  none,
  syntax,    ///< Not JSON: "<what> at offset N".
  too_deep,  ///< Valid so far, but nested deeper than Json::max_depth.
};

/// Parses `text` as Json::parse does. On failure `out` is left null and `error` holds a one-line
/// reason ending in " at offset N".
JsonParseFailure parse_json(std::string_view text, Json& out, std::string& error);
/// parse_json without the fast path: RapidJSON's reader (iterative) building the Json.
JsonParseFailure parse_json_full(std::string_view text, Json& out, std::string& error);

using JsonWriter = rapidjson::Writer<rapidjson::StringBuffer>;

/// Writes a string (or a key); invalid UTF-8 is written as U+FFFD.
void write_string(JsonWriter& writer, std::string_view text);
void write_key(JsonWriter& writer, std::string_view key);
/// Writes `value`: NaN and infinities as null.
void write_json(JsonWriter& writer, const Json& value);

/// Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing above U+10FFFF.
bool valid_utf8(std::string_view text) noexcept;

/// Length of the valid UTF-8 sequence starting at p[i] (i < n), or 0 when it is not valid.
std::size_t utf8_sequence(const unsigned char* p, std::size_t n, std::size_t i) noexcept;

/// How many leading bytes of p[0, n) a JSON string holds as they are: printable ASCII other
/// than '"' and '\\' (eight bytes per step).
std::size_t plain_prefix(const char* p, std::size_t n) noexcept;

/// Appends `text` as a JSON string, byte for byte what write_string writes (invalid UTF-8 as
/// U+FFFD).
void append_string(std::string& out, std::string_view text);
/// Appends `value` as compact JSON, byte for byte what write_json writes.
void append_json(std::string& out, const Json& value);
/// Appends `value` only when check_encodable(value, ..., max_depth) would accept it; false
/// otherwise (`out` then holds a partial text).
bool append_encodable(std::string& out, const Json& value, std::size_t max_depth);

/// A JSON number's text (valid syntax) as Json: an integer when it fits int64 or uint64, else a
/// double. False with `reason` for a number too big for a double.
bool number_from_text(std::string_view text, Json& out, std::string_view& reason);

/// The fast path of parse_json: parses common JSON straight into `out` (no SAX events). False
/// when the text is not JSON or holds what it leaves to the full parser (\u escapes, numbers
/// with an exponent, nesting deeper than 32); `out` is then unspecified. When true, `out` equals what
/// parse_json gives.
bool parse_json_fast(std::string_view text, Json& out);

/// Where parse_members_fast puts the members of an object.
class MemberSink {
 public:
  /// The Json the value of the member named `key` is parsed into (whatever it held is
  /// replaced), or nullptr to stop: parse_members_fast then returns false. Called once per
  /// member, in the order of the text (a repeated key is given again).
  virtual Json* member(std::string_view key) = 0;

 protected:
  ~MemberSink() = default;
};

/// parse_json_fast for a text that is an object, without building the object: each member's
/// value goes where `sink` says. True when parse_json_fast would accept the text as an object
/// and the sink took every member; each value is then the one parse_json_fast gives for that
/// member. False otherwise (what the sink received is then unspecified).
bool parse_members_fast(std::string_view text, MemberSink& sink);

/// Whether `value` can be sent as it is: no deeper than `max_depth` levels of arrays and objects,
/// every string and key valid UTF-8, every double finite. On failure `error` names the problem
/// and where, relative to `name` (`field "payload.items[2]": a string is not valid UTF-8`).
bool check_encodable(const Json& value, std::string_view name, std::size_t max_depth,
                     std::string& error);

/// An id as text: a string as is, an integer in decimal. False for anything else.
bool id_text(const Json& id, std::string& out);

/// parse_json for the codecs: the error is "not JSON: <what> at offset N", or "nesting deeper
/// than 64 at offset N".
bool parse_message(std::string_view text, Json& out, std::string& error);

/// For encoding: `text` (the type, or the request id) must be non-empty valid UTF-8; the error
/// names it as `what` ("the type is empty").
bool check_text(std::string_view what, std::string_view text, std::string& error);

/// "null", "a boolean", "an integer", "a number", "a string", "an array", "an object".
std::string_view type_with_article(Json::Type type) noexcept;

}  // namespace tether::codec
