// The default envelope: {"type":T,"id":ID,"payload":P} out, messages and responses in.

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

class EnvelopeCodec final : public Codec {
 public:
  explicit EnvelopeCodec(EnvelopeFields fields)
      : fields_(std::move(fields)),
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

  EnvelopeFields fields_;
  std::string type_key_;
  std::string id_key_;
  std::string payload_key_;
};

}  // namespace

std::shared_ptr<const Codec> envelope_codec(EnvelopeFields fields) {
  const std::string* names[] = {&fields.type, &fields.id, &fields.payload, &fields.error};
  for (std::size_t i = 0; i < 4; ++i) {
    if (names[i]->empty() || !codec::valid_utf8(*names[i])) return nullptr;
    for (std::size_t j = 0; j < i; ++j) {
      if (*names[i] == *names[j]) return nullptr;
    }
  }
  return std::make_shared<EnvelopeCodec>(std::move(fields));
}

}  // namespace tether
