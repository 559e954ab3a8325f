#pragma once

/// \file json.hpp
/// tether::Json: an owning JSON value with value semantics, and the typed conversions used by
/// the client's typed callbacks (to_json / from_json, found by argument-dependent lookup).
///
/// A Json is null, a boolean, an integer (signed or unsigned 64-bit), a number (double), a
/// string (UTF-8, may contain NUL), an array or an object. Objects keep their members in
/// insertion order and have unique keys; lookups are linear (objects in messages are small).
///
/// Nothing here throws on bad input or misuse: parsing returns std::nullopt with a reason,
/// accessors of the wrong type return a fallback, and the const lookups return a shared null.
///
/// Copies, comparisons and destruction recurse into nested values. Parsed values are at most
/// Json::max_depth levels deep; values built by hand are as deep as their builder makes them.

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "tether/export.hpp"

namespace tether {

/// An owning JSON value: null, boolean, integer, number, string, array or object (see the
/// file description and docs/json.md).
class TETHER_API Json {
 public:
  /// The kind of a value. An integer and a number are both numbers (is_number()).
  enum class Type { null, boolean, integer, number, string, array, object };

  /// The elements of an array.
  using Array = std::vector<Json>;
  /// One member of an object: its key and its value.
  using Member = std::pair<std::string, Json>;
  /// The members of an object, in insertion order.
  using Object = std::vector<Member>;

  /// Objects and arrays nested deeper than this are refused by parse() (and by the codecs).
  static constexpr std::size_t max_depth = 64;

  // --- construction --------------------------------------------------------------------------

  /// null.
  Json() noexcept = default;
  /// null.
  Json(std::nullptr_t) noexcept {}
  /// A boolean.
  Json(bool value) noexcept : value_(value) {}
  /// Any integer type but bool: signed types are stored as int64, unsigned ones as uint64.
  template <class T, std::enable_if_t<std::is_integral_v<T> && !std::is_same_v<T, bool>, int> = 0>
  Json(T value) noexcept {
    if constexpr (std::is_signed_v<T>) {
      value_ = static_cast<std::int64_t>(value);
    } else {
      set_unsigned(static_cast<std::uint64_t>(value));
    }
  }
  /// A number (double). NaN and infinities are kept, and written as null by dump().
  Json(double value) noexcept : value_(value) {}
  /// A string; a null pointer gives null.
  Json(const char* value);
  /// A string.
  Json(std::string value) noexcept : value_(std::move(value)) {}
  /// A string (copied).
  Json(std::string_view value) : value_(std::string(value)) {}
  /// An array of `values`.
  explicit Json(Array values) noexcept : value_(std::move(values)) {}
  /// Members with the same key: the last one wins, at the position of the first.
  explicit Json(Object members);
  /// Pointers other than const char* would silently become booleans.
  template <class T, std::enable_if_t<!std::is_same_v<std::remove_cv_t<T>, char>, int> = 0>
  Json(T*) = delete;

  /// An array: `Json::array({1, "two", 3.0})`; `Json::array()` is empty.
  static Json array(std::initializer_list<Json> values = {});
  /// An object: `Json::object({{"id", 7}, {"name", "ada"}})`; `Json::object()` is empty.
  static Json object(std::initializer_list<Member> members = {});

  // --- text ----------------------------------------------------------------------------------

  /// Parses one JSON text (RFC 8259): exactly one value, optionally surrounded by whitespace.
  /// Refused, with a one-line reason in `error` ("<what> at offset N"): syntax errors, text after
  /// the value, invalid UTF-8 (raw or from a lone `\u` surrogate escape), numbers beyond double's
  /// range ("number too big"), nesting deeper than max_depth. Integers that fit int64 or uint64
  /// stay integers; other numbers become doubles. Duplicate keys: the last one wins. Deep input
  /// never recurses: the parser is iterative.
  static std::optional<Json> parse(std::string_view text, std::string* error = nullptr);

  /// Compact JSON text. Doubles are written so that they parse back to the same value; NaN and
  /// infinities, which JSON cannot hold, are written as null; invalid UTF-8 in strings is
  /// written as U+FFFD. A value of depth <= max_depth parses back equal to itself.
  std::string dump() const;

  // --- type ----------------------------------------------------------------------------------

  /// The kind of this value.
  Type type() const noexcept;
  /// True for null.
  bool is_null() const noexcept { return value_.index() == kNull; }
  /// True for a boolean.
  bool is_bool() const noexcept { return value_.index() == kBool; }
  /// An integer or a double.
  bool is_number() const noexcept { return is_integer() || value_.index() == kDouble; }
  /// An integer (int64 or uint64); a double such as 2.0 is not.
  bool is_integer() const noexcept {
    return value_.index() == kInt || value_.index() == kUint;
  }
  /// True for a string.
  bool is_string() const noexcept { return value_.index() == kString; }
  /// True for an array.
  bool is_array() const noexcept { return value_.index() == kArray; }
  /// True for an object.
  bool is_object() const noexcept { return value_.index() == kObject; }

  // --- scalars -------------------------------------------------------------------------------
  // as_*: the value, or `fallback` when it is not of that type or does not fit.
  // get_*: the value, or std::nullopt when it is not of that type or does not fit.
  // Integer getters accept integers in range and doubles holding an integer exactly (2.0);
  // double getters accept every number (large integers are rounded).

  /// The boolean, or `fallback`.
  bool as_bool(bool fallback = false) const noexcept;
  /// The integer as int64, or `fallback` when it is not one or does not fit.
  std::int64_t as_int(std::int64_t fallback = 0) const noexcept;
  /// The integer as uint64, or `fallback` when it is not one or does not fit.
  std::uint64_t as_uint(std::uint64_t fallback = 0) const noexcept;
  /// The number as a double, or `fallback` when it is not a number.
  double as_double(double fallback = 0.0) const noexcept;
  /// The string, or an empty string when the value is not a string.
  const std::string& as_string() const noexcept;

  /// The boolean, or std::nullopt.
  std::optional<bool> get_bool() const noexcept;
  /// The integer as int64, or std::nullopt when it is not one or does not fit.
  std::optional<std::int64_t> get_int() const noexcept;
  /// The integer as uint64, or std::nullopt when it is not one or does not fit.
  std::optional<std::uint64_t> get_uint() const noexcept;
  /// The number as a double, or std::nullopt when it is not a number.
  std::optional<double> get_double() const noexcept;
  /// A copy of the string, or std::nullopt when the value is not a string.
  std::optional<std::string> get_string() const;

  // --- objects -------------------------------------------------------------------------------

  /// The member `key`, or nullptr (also when this is not an object).
  const Json* find(std::string_view key) const noexcept;
  /// The member `key` (mutable), or nullptr (also when this is not an object).
  Json* find(std::string_view key) noexcept;
  /// True when this is an object with a member `key`.
  bool contains(std::string_view key) const noexcept { return find(key) != nullptr; }
  /// The member `key`, inserted as null when absent. A value that is not an object (null
  /// included) becomes an empty object first. The reference lasts until the next insertion.
  Json& operator[](std::string_view key);
  /// The member `key`, or a shared null when absent or when this is not an object.
  const Json& operator[](std::string_view key) const noexcept;
  /// Sets (replaces or appends) the member `key`; a non-object becomes an object first.
  /// Returns *this, for chaining.
  Json& set(std::string_view key, Json value);
  /// Removes the member `key`; false when there was none.
  bool erase(std::string_view key);
  /// The members in insertion order (empty when this is not an object).
  const Object& items() const noexcept;

  // --- arrays --------------------------------------------------------------------------------

  /// Elements of an array, members of an object, 0 for anything else.
  std::size_t size() const noexcept;
  /// True when size() is 0.
  bool empty() const noexcept { return size() == 0; }
  /// The element at `index`, or a shared null when out of range or not an array.
  const Json& operator[](std::size_t index) const noexcept;
  /// The element at `index`; a non-array becomes an empty array first, and the array grows
  /// with nulls to hold `index`.
  Json& operator[](std::size_t index);
  /// Appends an element; a non-array becomes an empty array first.
  void push_back(Json value);
  /// The elements (empty when this is not an array).
  const Array& elements() const noexcept;

  // --- comparison ----------------------------------------------------------------------------
  // Values are equal when they have the same JSON meaning: numbers compare by exact value
  // (Json(1) == Json(1u) == Json(1.0), NaN equals nothing), objects compare as sets of members
  // (order does not matter), arrays element by element.

  /// True when both values have the same JSON meaning (see above).
  bool equals(const Json& other) const noexcept;

  /// Exchanges the two values.
  void swap(Json& other) noexcept { value_.swap(other.value_); }

 private:
  enum : std::size_t { kNull, kBool, kInt, kUint, kDouble, kString, kArray, kObject };
  // Integers are stored as int64 unless they need uint64: one representation per value.
  void set_unsigned(std::uint64_t value) noexcept {
    if (value <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
      value_ = static_cast<std::int64_t>(value);
    } else {
      value_ = value;
    }
  }

  std::variant<std::nullptr_t, bool, std::int64_t, std::uint64_t, double, std::string, Array,
               Object>
      value_;
};

/// Json::equals.
inline bool operator==(const Json& a, const Json& b) noexcept { return a.equals(b); }
/// Not Json::equals.
inline bool operator!=(const Json& a, const Json& b) noexcept { return !a.equals(b); }

/// "null", "boolean", "integer", "number", "string", "array" or "object".
TETHER_API std::string_view to_string(Json::Type type) noexcept;

// --- typed conversions -----------------------------------------------------------------------
//
// to_json(Json& out, const T& value) writes `value` into `out`; from_json(const Json& in,
// T& out, std::string* error) reads it, and on failure returns false, leaves `out` unchanged and
// (when `error` is not null) sets a one-line reason naming the field path:
//   field "user.id": expected an integer, got a string
// A user type gets conversions by declaring both functions in its own namespace; json_to and
// json_from then find them by argument-dependent lookup.

/// "expected <what>, got <the type of value>", e.g. "expected an integer, got a string".
TETHER_API std::string json_type_error(std::string_view expected, const Json& value);

/// Prefixes a path segment (an object key, or "[3]" for an array index) to the error in
/// `*error`: "expected ..." becomes `field "key": expected ...`, and `field "id": ...` becomes
/// `field "key.id": ...`. Does nothing when `error` is null.
TETHER_API void json_error_prefix(std::string* error, std::string_view segment);

/// \name Conversions of Json, bool, double, float and strings
/// to_json writes the value into `out`; from_json reads it from `in`, and on a value of the
/// wrong type returns false, leaves `out` unchanged and sets `*error` (when not null).
///@{
TETHER_API void to_json(Json& out, const Json& value);
TETHER_API bool from_json(const Json& in, Json& out, std::string* error);

TETHER_API void to_json(Json& out, bool value);
TETHER_API bool from_json(const Json& in, bool& out, std::string* error);

TETHER_API void to_json(Json& out, double value);
TETHER_API bool from_json(const Json& in, double& out, std::string* error);
TETHER_API void to_json(Json& out, float value);
/// Any number within float's range (rounded to float).
TETHER_API bool from_json(const Json& in, float& out, std::string* error);

TETHER_API void to_json(Json& out, const std::string& value);
TETHER_API void to_json(Json& out, std::string_view value);
TETHER_API void to_json(Json& out, const char* value);
TETHER_API bool from_json(const Json& in, std::string& out, std::string* error);
///@}

namespace detail {
/// Sets the error of an integer out of the range [min, max].
TETHER_API void json_range_error(std::string* error, const Json& in, std::int64_t min,
                                 std::uint64_t max);
}  // namespace detail

template <class T, std::enable_if_t<std::is_integral_v<T> && !std::is_same_v<T, bool>, int> = 0>
/// Integers of any type but bool.
void to_json(Json& out, T value) {
  out = Json(value);
}

/// Integers of any type, range-checked ("expected an integer between 0 and 255, got 300").
template <class T, std::enable_if_t<std::is_integral_v<T> && !std::is_same_v<T, bool>, int> = 0>
bool from_json(const Json& in, T& out, std::string* error) {
  if (!in.is_number()) {
    if (error) *error = json_type_error("an integer", in);
    return false;
  }
  constexpr auto min = static_cast<std::int64_t>(std::numeric_limits<T>::min());
  constexpr auto max = static_cast<std::uint64_t>(std::numeric_limits<T>::max());
  if constexpr (std::is_signed_v<T>) {
    const std::optional<std::int64_t> v = in.get_int();
    if (v && *v >= min && static_cast<std::uint64_t>(*v < 0 ? 0 : *v) <= max) {
      out = static_cast<T>(*v);
      return true;
    }
  } else {
    const std::optional<std::uint64_t> v = in.get_uint();
    if (v && *v <= max) {
      out = static_cast<T>(*v);
      return true;
    }
  }
  detail::json_range_error(error, in, min, max);
  return false;
}

/// An array; each element converted with to_json.
template <class T, class A>
void to_json(Json& out, const std::vector<T, A>& values) {
  Json::Array elements;
  elements.reserve(values.size());
  for (const auto& value : values) {
    Json element;
    to_json(element, value);
    elements.push_back(std::move(element));
  }
  out = Json(std::move(elements));
}

/// An array; an element that fails names its index ("field \"[2]\": ...").
template <class T, class A>
bool from_json(const Json& in, std::vector<T, A>& out, std::string* error) {
  if (!in.is_array()) {
    if (error) *error = json_type_error("an array", in);
    return false;
  }
  std::vector<T, A> values;
  values.reserve(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    T value{};
    if (!from_json(in[i], value, error)) {
      json_error_prefix(error, "[" + std::to_string(i) + "]");
      return false;
    }
    values.push_back(std::move(value));
  }
  out = std::move(values);
  return true;
}

/// null when empty.
template <class T>
void to_json(Json& out, const std::optional<T>& value) {
  if (value) {
    to_json(out, *value);
  } else {
    out = Json();
  }
}

/// null gives std::nullopt; anything else must convert to T.
template <class T>
bool from_json(const Json& in, std::optional<T>& out, std::string* error) {
  if (in.is_null()) {
    out.reset();
    return true;
  }
  T value{};
  if (!from_json(in, value, error)) return false;
  out = std::move(value);
  return true;
}

/// An object; each value converted with to_json.
template <class T, class C, class A>
void to_json(Json& out, const std::map<std::string, T, C, A>& values) {
  Json::Object members;
  members.reserve(values.size());
  for (const auto& [key, value] : values) {
    Json member;
    to_json(member, value);
    members.emplace_back(key, std::move(member));
  }
  out = Json(std::move(members));
}

/// An object; a value that fails names its key.
template <class T, class C, class A>
bool from_json(const Json& in, std::map<std::string, T, C, A>& out, std::string* error) {
  if (!in.is_object()) {
    if (error) *error = json_type_error("an object", in);
    return false;
  }
  std::map<std::string, T, C, A> values;
  for (const auto& [key, member] : in.items()) {
    T value{};
    if (!from_json(member, value, error)) {
      json_error_prefix(error, key);
      return false;
    }
    values.insert_or_assign(key, std::move(value));
  }
  out = std::move(values);
  return true;
}

/// `value` converted with to_json (found by argument-dependent lookup).
template <class T>
Json json_from(const T& value) {
  Json out;
  to_json(out, value);
  return out;
}

/// `json` converted with from_json (found by argument-dependent lookup); T must be default
/// constructible. std::nullopt on failure, with the reason in `*error`.
template <class T>
std::optional<T> json_to(const Json& json, std::string* error = nullptr) {
  T value{};
  if (!from_json(json, value, error)) return std::nullopt;
  return std::optional<T>(std::move(value));
}

namespace detail {
template <class T>
struct is_optional : std::false_type {};
template <class T>
struct is_optional<std::optional<T>> : std::true_type {};
}  // namespace detail

/// Reads the member `key` of `object` into `out`, for from_json of user types. A missing member
/// is an error (`field "key": missing`) unless `out` is a std::optional (then it is reset); an
/// error of the member is prefixed with the key.
template <class T>
bool json_field(const Json& object, std::string_view key, T& out, std::string* error) {
  if (!object.is_object()) {
    if (error) *error = json_type_error("an object", object);
    return false;
  }
  const Json* member = object.find(key);
  if (member == nullptr) {
    if constexpr (detail::is_optional<T>::value) {
      out.reset();
      return true;
    } else {
      if (error) *error = "missing";
      json_error_prefix(error, key);
      return false;
    }
  }
  if (!from_json(*member, out, error)) {
    json_error_prefix(error, key);
    return false;
  }
  return true;
}

/// Like json_field, but a missing or null member leaves `out` as it is (its default) and is not
/// an error.
template <class T>
bool json_optional_field(const Json& object, std::string_view key, T& out, std::string* error) {
  if (!object.is_object()) {
    if (error) *error = json_type_error("an object", object);
    return false;
  }
  const Json* member = object.find(key);
  if (member == nullptr || member->is_null()) return true;
  T value = out;
  if (!from_json(*member, value, error)) {
    json_error_prefix(error, key);
    return false;
  }
  out = std::move(value);
  return true;
}

}  // namespace tether
