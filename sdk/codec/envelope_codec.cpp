// The default envelope: {"type":T,"id":ID,"payload":P} out, messages and responses in.

#include "codec/envelope_codec.hpp"

#include <utility>

#include "codec/json_io.hpp"
#include "tether/codec.hpp"

namespace tether {

Codec::~Codec() = default;

namespace {

std::string field(std::string_view name) { return "field \"" + std::string(name) + "\""; }

// The member `name`, or nullptr when it is absent or null.
Json* member(Json& object, std::string_view name) {
  Json* value = object.find(name);
  return value != nullptr && !value->is_null() ? value : nullptr;
}

// The fast path's view of an envelope: the four members decode() reads, parsed straight into
// place as the object is read; any other member is parsed (it must be valid) and dropped. A
// repeated envelope member stops it (the full path keeps the last value of a repeated key).
class EnvelopeMembers final : public codec::MemberSink {
 public:
  EnvelopeMembers(const EnvelopeFields& fields, Json& payload) : fields_(fields) {
    slots_[0] = &type_;
    slots_[1] = &id_;
    slots_[2] = &payload;
    slots_[3] = &error_;
  }

  Json* member(std::string_view key) override {
    const std::string* names[] = {&fields_.type, &fields_.id, &fields_.payload, &fields_.error};
    for (std::size_t i = 0; i < 4; ++i) {
      if (key != *names[i]) continue;
      if (seen_[i]) return nullptr;
      seen_[i] = true;
      return slots_[i];
    }
    return &ignored_;
  }

  // Present and not null.
  Json* type() { return seen_[0] && !type_.is_null() ? &type_ : nullptr; }
  Json* id() { return seen_[1] && !id_.is_null() ? &id_ : nullptr; }
  bool has_error() const { return seen_[3] && !error_.is_null(); }

 private:
  const EnvelopeFields& fields_;
  Json* slots_[4] = {};
  bool seen_[4] = {};
  Json type_;
  Json id_;
  Json error_;
  Json ignored_;
};

class EnvelopeCodec final : public Codec {
 public:
  EnvelopeCodec(EnvelopeFields fields, bool fast_path)
      : fast_path_(fast_path),
        fields_(std::move(fields)),
        type_key_(key("{", fields_.type)),
        id_key_(key(",", fields_.id)),
        payload_key_(key(",", fields_.payload)) {}

  std::string name() const override { return "envelope"; }

  bool encode_message(std::string_view type, const Json& payload, std::string& out,
                      std::string& error) const override {
    return encode(type, nullptr, payload, out, error);
  }

  bool encode_request(std::string_view type, std::string_view id, const Json& payload,
                      std::string& out, std::string& error) const override {
    return encode(type, &id, payload, out, error);
  }

  bool decode(std::string_view text, std::vector<Inbound>& out,
              std::string& error) const override {
    out.clear();
    if (fast_path_) {
      out.emplace_back();
      if (decode_fast(text, out.back())) return true;
      out.clear();
    }
    Json doc;
    if (!codec::parse_message(text, doc, error)) return false;
    if (!doc.is_object()) {
      error = "not an object (got " + std::string(codec::type_with_article(doc.type())) + ")";
      return false;
    }
    Inbound item;
    if (!decode_object(doc, item, error)) return false;
    out.push_back(std::move(item));
    return true;
  }

 private:
  bool encode(std::string_view type, const std::string_view* id, const Json& payload,
              std::string& out, std::string& error) const {
    out.clear();
    if (!codec::check_text("the type", type, error)) return false;
    if (id != nullptr && !codec::check_text("the request id", *id, error)) return false;
    // Written straight into `out` (the same text RapidJSON's writer gives); the payload is
    // checked as it is written, and only a failure walks it again for the reason.
    out.reserve(type_key_.size() + id_key_.size() + payload_key_.size() + type.size() +
                (id != nullptr ? id->size() : 0) + 32);
    out += type_key_;
    codec::append_string(out, type);
    if (id != nullptr) {
      out += id_key_;
      codec::append_string(out, *id);
    }
    out += payload_key_;
    if (!codec::append_encodable(out, payload, Json::max_depth - 1)) {
      out.clear();
      if (!codec::check_encodable(payload, fields_.payload, Json::max_depth - 1, error)) {
        return false;
      }
      error = "field \"" + fields_.payload + "\" cannot be encoded";
      return false;
    }
    out.push_back('}');
    return true;
  }

  // The common inbound kinds (a message, a response) without building the document: true when
  // `item` is what decode_object() gives for the text. False for anything else (invalid or
  // unusual JSON, an error response, any decode error): the full path then decides.
  bool decode_fast(std::string_view text, Inbound& item) const {
    EnvelopeMembers members(fields_, item.payload);
    if (!codec::parse_members_fast(text, members)) return false;
    Json* id = members.id();
    if (id != nullptr && !codec::id_text(*id, item.id)) return false;
    if (Json* type = members.type()) {
      if (!type->is_string() || type->as_string().empty()) return false;
      item.kind = Inbound::Kind::message;
      item.type = type->as_string();
      return true;
    }
    if (id == nullptr || members.has_error()) return false;
    item.kind = Inbound::Kind::response;
    return true;
  }

  // `{"type":`, `,"id":` and `,"payload":` with the configured names.
  static std::string key(std::string_view prefix, std::string_view name) {
    std::string out(prefix);
    codec::append_string(out, name);
    out.push_back(':');
    return out;
  }

  bool decode_object(Json& doc, Inbound& item, std::string& error) const {
    Json* type = member(doc, fields_.type);
    Json* id = member(doc, fields_.id);
    if (id != nullptr && !codec::id_text(*id, item.id)) {
      error = field(fields_.id) + " is not a string or an integer";
      return false;
    }
    if (type != nullptr) {
      if (!type->is_string()) {
        error = field(fields_.type) + " is not a string";
        return false;
      }
      if (type->as_string().empty()) {
        error = field(fields_.type) + " is empty";
        return false;
      }
      item.kind = Inbound::Kind::message;
      item.type = type->as_string();
      if (Json* payload = doc.find(fields_.payload)) item.payload = std::move(*payload);
      return true;
    }
    if (id == nullptr) {
      error = "no " + field(fields_.type) + " or " + field(fields_.id);
      return false;
    }
    Json* remote = member(doc, fields_.error);
    if (remote == nullptr) {
      item.kind = Inbound::Kind::response;
      if (Json* payload = doc.find(fields_.payload)) item.payload = std::move(*payload);
      return true;
    }
    item.kind = Inbound::Kind::error_response;
    if (remote->is_string()) {
      item.error.message = remote->as_string();
      return true;
    }
    if (!remote->is_object()) {
      error = field(fields_.error) + " is not an object or a string";
      return false;
    }
    if (Json* code = member(*remote, "code")) {
      if (code->is_string() || code->is_integer()) {
        codec::id_text(*code, item.error.code);
      } else if (code->is_number()) {
        item.error.code = code->dump();
      } else {
        error = field(fields_.error + ".code") + " is not a string or a number";
        return false;
      }
    }
    if (Json* message = member(*remote, "message")) {
      if (!message->is_string()) {
        error = field(fields_.error + ".message") + " is not a string";
        return false;
      }
      item.error.message = message->as_string();
    }
    if (Json* data = remote->find("data")) item.error.data = std::move(*data);
    return true;
  }

  bool fast_path_;
  EnvelopeFields fields_;
  std::string type_key_;
  std::string id_key_;
  std::string payload_key_;
};

std::shared_ptr<const Codec> make_envelope_codec(EnvelopeFields fields, bool fast_path) {
  const std::string* names[] = {&fields.type, &fields.id, &fields.payload, &fields.error};
  for (std::size_t i = 0; i < 4; ++i) {
    if (names[i]->empty() || !codec::valid_utf8(*names[i])) return nullptr;
    for (std::size_t j = 0; j < i; ++j) {
      if (*names[i] == *names[j]) return nullptr;
    }
  }
  return std::make_shared<EnvelopeCodec>(std::move(fields), fast_path);
}

}  // namespace

std::shared_ptr<const Codec> envelope_codec(EnvelopeFields fields) {
  return make_envelope_codec(std::move(fields), true);
}

std::shared_ptr<const Codec> codec::envelope_codec_without_fast_path(EnvelopeFields fields) {
  return make_envelope_codec(std::move(fields), false);
}

}  // namespace tether
