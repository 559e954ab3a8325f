#include "tether/json.hpp"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <numeric>

#include "codec/json_io.hpp"

namespace tether {

namespace {

const Json& shared_null() noexcept {
  static const Json null;
  return null;
}

const std::string& shared_empty_string() noexcept {
  static const std::string empty;
  return empty;
}

const Json::Array& shared_empty_array() noexcept {
  static const Json::Array empty;
  return empty;
}

const Json::Object& shared_empty_object() noexcept {
  static const Json::Object empty;
  return empty;
}

constexpr double kTwoPow63 = 9223372036854775808.0;
constexpr double kTwoPow64 = 18446744073709551616.0;

std::optional<std::int64_t> exact_int64(double d) noexcept {
  if (!(d >= -kTwoPow63 && d < kTwoPow63)) return std::nullopt;  // NaN fails too.
  if (std::trunc(d) != d) return std::nullopt;
  return static_cast<std::int64_t>(d);
}

std::optional<std::uint64_t> exact_uint64(double d) noexcept {
  if (!(d >= 0.0 && d < kTwoPow64)) return std::nullopt;
  if (std::trunc(d) != d) return std::nullopt;
  return static_cast<std::uint64_t>(d);
}

// Keeps the first position of each key and the last value given for it.
void remove_duplicate_keys(Json::Object& members) {
  const std::size_t n = members.size();
  if (n < 2) return;
  if (n <= 8) {
    // The common case, no duplicates, without allocating.
    bool duplicate = false;
    for (std::size_t i = 1; i < n && !duplicate; ++i) {
      for (std::size_t j = 0; j < i && !duplicate; ++j) {
        duplicate = members[j].first == members[i].first;
      }
    }
    if (!duplicate) return;
  }
  std::vector<bool> dropped(n, false);
  bool any = false;
  if (n <= 8) {
    for (std::size_t i = 1; i < n; ++i) {
      for (std::size_t j = 0; j < i; ++j) {
        if (!dropped[j] && members[j].first == members[i].first) {
          members[j].second = std::move(members[i].second);
          dropped[i] = true;
          any = true;
          break;
        }
      }
    }
  } else {
    std::vector<std::size_t> order(n);
    std::iota(order.begin(), order.end(), std::size_t{0});
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
      return members[a].first < members[b].first;
    });
    for (std::size_t g = 0; g < n;) {
      std::size_t end = g + 1;
      while (end < n && members[order[end]].first == members[order[g]].first) ++end;
      if (end - g > 1) {
        members[order[g]].second = std::move(members[order[end - 1]].second);
        for (std::size_t k = g + 1; k < end; ++k) dropped[order[k]] = true;
        any = true;
      }
      g = end;
    }
  }
  if (!any) return;
  std::size_t kept = 0;
  for (std::size_t i = 0; i < n; ++i) {
    if (dropped[i]) continue;
    if (kept != i) members[kept] = std::move(members[i]);
    ++kept;
  }
  members.erase(members.begin() + static_cast<std::ptrdiff_t>(kept), members.end());
}

bool objects_equal(const Json::Object& a, const Json::Object& b) noexcept {
  if (a.size() != b.size()) return false;
  // Same order: one pass.
  bool same_order = true;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i].first != b[i].first) {
      same_order = false;
      break;
    }
    if (!a[i].second.equals(b[i].second)) return false;
  }
  if (same_order) return true;
  if (a.size() <= 16) {
    for (const Json::Member& m : a) {
      auto it = std::find_if(b.begin(), b.end(),
                             [&](const Json::Member& other) { return other.first == m.first; });
      if (it == b.end() || !m.second.equals(it->second)) return false;
    }
    return true;
  }
  // Keys are unique: compare both sorted by key.
  std::vector<const Json::Member*> sa;
  std::vector<const Json::Member*> sb;
  sa.reserve(a.size());
  sb.reserve(b.size());
  for (const auto& m : a) sa.push_back(&m);
  for (const auto& m : b) sb.push_back(&m);
  const auto by_key = [](const Json::Member* x, const Json::Member* y) { return x->first < y->first; };
  std::sort(sa.begin(), sa.end(), by_key);
  std::sort(sb.begin(), sb.end(), by_key);
  for (std::size_t i = 0; i < sa.size(); ++i) {
    if (sa[i]->first != sb[i]->first || !sa[i]->second.equals(sb[i]->second)) return false;
  }
  return true;
}

}  // namespace

// --- construction ------------------------------------------------------------------------------

Json::Json(const char* value) {
  if (value != nullptr) value_ = std::string(value);
}

Json::Json(Object members) {
  remove_duplicate_keys(members);
  value_ = std::move(members);
}

Json Json::array(std::initializer_list<Json> values) { return Json(Array(values)); }

Json Json::object(std::initializer_list<Member> members) { return Json(Object(members)); }

// --- text --------------------------------------------------------------------------------------

std::optional<Json> Json::parse(std::string_view text, std::string* error) {
  Json out;
  std::string reason;
  if (codec::parse_json(text, out, reason) != codec::JsonParseFailure::none) {
    if (error != nullptr) *error = std::move(reason);
    return std::nullopt;
  }
  return std::optional<Json>(std::move(out));
}

std::string Json::dump() const {
  std::string out;
  codec::append_json(out, *this);
  return out;
}

// --- type --------------------------------------------------------------------------------------

Json::Type Json::type() const noexcept {
  switch (value_.index()) {
    case kBool: return Type::boolean;
    case kInt:
    case kUint: return Type::integer;
    case kDouble: return Type::number;
    case kString: return Type::string;
    case kArray: return Type::array;
    case kObject: return Type::object;
    default: return Type::null;
  }
}

std::string_view to_string(Json::Type type) noexcept {
  switch (type) {
    case Json::Type::null: return "null";
    case Json::Type::boolean: return "boolean";
    case Json::Type::integer: return "integer";
    case Json::Type::number: return "number";
    case Json::Type::string: return "string";
    case Json::Type::array: return "array";
    case Json::Type::object: return "object";
  }
  return "unknown";
}

// --- scalars -----------------------------------------------------------------------------------

std::optional<bool> Json::get_bool() const noexcept {
  if (const bool* b = std::get_if<kBool>(&value_)) return *b;
  return std::nullopt;
}

std::optional<std::int64_t> Json::get_int() const noexcept {
  switch (value_.index()) {
    case kInt: return std::get<kInt>(value_);
    case kUint: {
      const std::uint64_t u = std::get<kUint>(value_);
      if (u <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
        return static_cast<std::int64_t>(u);
      }
      return std::nullopt;
    }
    case kDouble: return exact_int64(std::get<kDouble>(value_));
    default: return std::nullopt;
  }
}

std::optional<std::uint64_t> Json::get_uint() const noexcept {
  switch (value_.index()) {
    case kInt: {
      const std::int64_t i = std::get<kInt>(value_);
      if (i >= 0) return static_cast<std::uint64_t>(i);
      return std::nullopt;
    }
    case kUint: return std::get<kUint>(value_);
    case kDouble: return exact_uint64(std::get<kDouble>(value_));
    default: return std::nullopt;
  }
}

std::optional<double> Json::get_double() const noexcept {
  switch (value_.index()) {
    case kInt: return static_cast<double>(std::get<kInt>(value_));
    case kUint: return static_cast<double>(std::get<kUint>(value_));
    case kDouble: return std::get<kDouble>(value_);
    default: return std::nullopt;
  }
}

std::optional<std::string> Json::get_string() const {
  if (const std::string* s = std::get_if<kString>(&value_)) return *s;
  return std::nullopt;
}

bool Json::as_bool(bool fallback) const noexcept { return get_bool().value_or(fallback); }

std::int64_t Json::as_int(std::int64_t fallback) const noexcept {
  return get_int().value_or(fallback);
}

std::uint64_t Json::as_uint(std::uint64_t fallback) const noexcept {
  return get_uint().value_or(fallback);
}

double Json::as_double(double fallback) const noexcept { return get_double().value_or(fallback); }

const std::string& Json::as_string() const noexcept {
  if (const std::string* s = std::get_if<kString>(&value_)) return *s;
  return shared_empty_string();
}

// --- objects -----------------------------------------------------------------------------------

const Json* Json::find(std::string_view key) const noexcept {
  const Object* members = std::get_if<kObject>(&value_);
  if (members == nullptr) return nullptr;
  for (const Member& m : *members) {
    if (m.first == key) return &m.second;
  }
  return nullptr;
}

Json* Json::find(std::string_view key) noexcept {
  return const_cast<Json*>(static_cast<const Json&>(*this).find(key));
}

Json& Json::operator[](std::string_view key) {
  if (!is_object()) value_ = Object();
  if (Json* member = find(key)) return *member;
  Object& members = std::get<kObject>(value_);
  members.emplace_back(std::string(key), Json());
  return members.back().second;
}

const Json& Json::operator[](std::string_view key) const noexcept {
  const Json* member = find(key);
  return member != nullptr ? *member : shared_null();
}

Json& Json::set(std::string_view key, Json value) {
  (*this)[key] = std::move(value);
  return *this;
}

bool Json::erase(std::string_view key) {
  Object* members = std::get_if<kObject>(&value_);
  if (members == nullptr) return false;
  auto it = std::find_if(members->begin(), members->end(),
                         [&](const Member& m) { return m.first == key; });
  if (it == members->end()) return false;
  members->erase(it);
  return true;
}

const Json::Object& Json::items() const noexcept {
  if (const Object* members = std::get_if<kObject>(&value_)) return *members;
  return shared_empty_object();
}

// --- arrays ------------------------------------------------------------------------------------

std::size_t Json::size() const noexcept {
  if (const Array* elements = std::get_if<kArray>(&value_)) return elements->size();
  if (const Object* members = std::get_if<kObject>(&value_)) return members->size();
  return 0;
}

const Json& Json::operator[](std::size_t index) const noexcept {
  const Array* elements = std::get_if<kArray>(&value_);
  if (elements == nullptr || index >= elements->size()) return shared_null();
  return (*elements)[index];
}

Json& Json::operator[](std::size_t index) {
  if (!is_array()) value_ = Array();
  Array& elements = std::get<kArray>(value_);
  if (index >= elements.size()) elements.resize(index + 1);
  return elements[index];
}

void Json::push_back(Json value) {
  if (!is_array()) value_ = Array();
  std::get<kArray>(value_).push_back(std::move(value));
}

const Json::Array& Json::elements() const noexcept {
  if (const Array* values = std::get_if<kArray>(&value_)) return *values;
  return shared_empty_array();
}

// --- comparison --------------------------------------------------------------------------------

bool Json::equals(const Json& other) const noexcept {
  const std::size_t a = value_.index();
  const std::size_t b = other.value_.index();
  if (is_number() && other.is_number()) {
    if (a == kDouble && b == kDouble) return std::get<kDouble>(value_) == std::get<kDouble>(other.value_);
    if (a == kDouble || b == kDouble) {
      const double d = a == kDouble ? std::get<kDouble>(value_) : std::get<kDouble>(other.value_);
      const Json& integer = a == kDouble ? other : *this;
      if (integer.value_.index() == kInt) {
        const auto exact = exact_int64(d);
        return exact && *exact == std::get<kInt>(integer.value_);
      }
      const auto exact = exact_uint64(d);
      return exact && *exact == std::get<kUint>(integer.value_);
    }
    // Two integers: compare by value whatever their storage.
    if (a == b) return a == kInt ? std::get<kInt>(value_) == std::get<kInt>(other.value_)
                                 : std::get<kUint>(value_) == std::get<kUint>(other.value_);
    const std::int64_t i = a == kInt ? std::get<kInt>(value_) : std::get<kInt>(other.value_);
    const std::uint64_t u = a == kUint ? std::get<kUint>(value_) : std::get<kUint>(other.value_);
    return i >= 0 && static_cast<std::uint64_t>(i) == u;
  }
  if (a != b) return false;
  switch (a) {
    case kNull: return true;
    case kBool: return std::get<kBool>(value_) == std::get<kBool>(other.value_);
    case kString: return std::get<kString>(value_) == std::get<kString>(other.value_);
    case kArray: {
      const Array& x = std::get<kArray>(value_);
      const Array& y = std::get<kArray>(other.value_);
      if (x.size() != y.size()) return false;
      for (std::size_t i = 0; i < x.size(); ++i) {
        if (!x[i].equals(y[i])) return false;
      }
      return true;
    }
    case kObject: return objects_equal(std::get<kObject>(value_), std::get<kObject>(other.value_));
    default: return false;
  }
}

// --- typed conversions -------------------------------------------------------------------------

std::string json_type_error(std::string_view expected, const Json& value) {
  std::string out = "expected ";
  out += expected;
  out += ", got ";
  out += codec::type_with_article(value.type());
  return out;
}

void json_error_prefix(std::string* error, std::string_view segment) {
  if (error == nullptr) return;
  constexpr std::string_view kHead = "field \"";
  if (error->compare(0, kHead.size(), kHead) == 0) {
    std::string inserted(segment);
    const bool index_follows = error->size() > kHead.size() && (*error)[kHead.size()] == '[';
    if (!index_follows) inserted += '.';
    error->insert(kHead.size(), inserted);
  } else {
    std::string out(kHead);
    out += segment;
    out += "\": ";
    out += *error;
    *error = std::move(out);
  }
}

namespace detail {

void json_range_error(std::string* error, const Json& in, std::int64_t min, std::uint64_t max) {
  if (error == nullptr) return;
  if (!in.is_number()) {
    *error = json_type_error("an integer", in);
    return;
  }
  if (!in.is_integer() && std::trunc(in.as_double()) != in.as_double()) {
    *error = "expected an integer, got " + in.dump();
    return;
  }
  *error = "expected an integer between " + std::to_string(min) + " and " + std::to_string(max) +
           ", got " + in.dump();
}

}  // namespace detail

void to_json(Json& out, const Json& value) { out = value; }

bool from_json(const Json& in, Json& out, std::string*) {
  out = in;
  return true;
}

void to_json(Json& out, bool value) { out = Json(value); }

bool from_json(const Json& in, bool& out, std::string* error) {
  if (const auto b = in.get_bool()) {
    out = *b;
    return true;
  }
  if (error != nullptr) *error = json_type_error("a boolean", in);
  return false;
}

void to_json(Json& out, double value) { out = Json(value); }

bool from_json(const Json& in, double& out, std::string* error) {
  if (const auto d = in.get_double()) {
    out = *d;
    return true;
  }
  if (error != nullptr) *error = json_type_error("a number", in);
  return false;
}

void to_json(Json& out, float value) { out = Json(static_cast<double>(value)); }

bool from_json(const Json& in, float& out, std::string* error) {
  const auto d = in.get_double();
  if (!d) {
    if (error != nullptr) *error = json_type_error("a number", in);
    return false;
  }
  if (std::isfinite(*d) && std::fabs(*d) > static_cast<double>(FLT_MAX)) {
    if (error != nullptr) *error = "expected a number within float's range, got " + in.dump();
    return false;
  }
  out = static_cast<float>(*d);
  return true;
}

void to_json(Json& out, const std::string& value) { out = Json(value); }

void to_json(Json& out, std::string_view value) { out = Json(value); }

void to_json(Json& out, const char* value) { out = Json(value); }

bool from_json(const Json& in, std::string& out, std::string* error) {
  if (in.is_string()) {
    out = in.as_string();
    return true;
  }
  if (error != nullptr) *error = json_type_error("a string", in);
  return false;
}

}  // namespace tether
