// JSON-RPC 2.0 (https://www.jsonrpc.org/specification): requests and notifications out;
// responses, error responses, server notifications, server requests and batches in.

#include <charconv>
#include <cstdint>
#include <utility>

#include "codec/json_io.hpp"
#include "tether/codec.hpp"

namespace tether {

namespace {

// An id sent as a JSON number: decimal digits, no leading zero (so that it reads back as the
// same text), within int64.
bool numeric_id(std::string_view id, std::int64_t& out) {
  if (id.empty() || (id.size() > 1 && id.front() == '0')) return false;
  for (const char c : id) {
    if (c < '0' || c > '9') return false;
  }
  const auto [end, ec] = std::from_chars(id.data(), id.data() + id.size(), out);
  return ec == std::errc() && end == id.data() + id.size();
}

class JsonRpcCodec final : public Codec {
 public:
  std::string name() const override { return "json-rpc"; }

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
    if (doc.is_object()) {
      Inbound item;
      if (!decode_object(doc, item, error)) return false;
      out.push_back(std::move(item));
      return true;
    }
    if (!doc.is_array()) {
      error = "not an object or an array (got " +
              std::string(codec::type_with_article(doc.type())) + ")";
      return false;
    }
    if (doc.empty()) {
      error = "empty batch";
      return false;
    }
    std::vector<Inbound> items;
    items.reserve(doc.size());
    for (std::size_t i = 0; i < doc.size(); ++i) {
      Json& element = doc[i];
      Inbound item;
      std::string reason;
      if (!element.is_object()) {
        reason = "not an object (got " + std::string(codec::type_with_article(element.type())) + ")";
      } else if (decode_object(element, item, reason)) {
        items.push_back(std::move(item));
        continue;
      }
      error = "batch item " + std::to_string(i) + ": " + reason;
      return false;
    }
    out = std::move(items);
    return true;
  }

 private:
  static bool encode(std::string_view method, const std::string_view* id, const Json& params,
                     std::string& out, std::string& error) {
    out.clear();
    if (!codec::check_text("the method", method, error)) return false;
    if (id != nullptr && !codec::check_text("the request id", *id, error)) return false;
    if (!params.is_null() && !params.is_object() && !params.is_array()) {
      error = "JSON-RPC params must be an object or an array, got " +
              std::string(codec::type_with_article(params.type()));
      return false;
    }
    // Written straight into `out` (the same text RapidJSON's writer gives); the params are
    // checked as they are written, and only a failure walks them again for the reason.
    out.reserve(method.size() + (id != nullptr ? id->size() : 0) + 64);
    out += "{\"jsonrpc\":\"2.0\",\"method\":";
    codec::append_string(out, method);
    if (!params.is_null()) {
      out += ",\"params\":";
      if (!codec::append_encodable(out, params, Json::max_depth - 1)) {
        out.clear();
        if (!codec::check_encodable(params, "params", Json::max_depth - 1, error)) return false;
        error = "field \"params\" cannot be encoded";
        return false;
      }
    }
    if (id != nullptr) {
      out += ",\"id\":";
      std::int64_t number = 0;
      if (numeric_id(*id, number)) {
        out.append(*id);  // digits without a leading zero: the number's own text
      } else {
        codec::append_string(out, *id);
      }
    }
    out.push_back('}');
    return true;
  }

  static bool decode_object(Json& doc, Inbound& item, std::string& error) {
    const Json* version = doc.find("jsonrpc");
    if (version == nullptr) {
      error = "field \"jsonrpc\" is missing";
      return false;
    }
    if (version->as_string() != "2.0") {
      error = "field \"jsonrpc\" is not \"2.0\"";
      return false;
    }
    Json* id = doc.find("id");
    if (id != nullptr && !id->is_null() && !codec::id_text(*id, item.id)) {
      error = "field \"id\" is not a string, an integer or null";
      return false;
    }
    if (const Json* method = doc.find("method")) {
      if (!method->is_string()) {
        error = "field \"method\" is not a string";
        return false;
      }
      if (method->as_string().empty()) {
        error = "field \"method\" is empty";
        return false;
      }
      Json* params = doc.find("params");
      if (params != nullptr && !params->is_null() && !params->is_object() && !params->is_array()) {
        error = "field \"params\" is not an object or an array";
        return false;
      }
      item.kind = Inbound::Kind::message;
      item.type = method->as_string();
      if (params != nullptr) item.payload = std::move(*params);
      return true;
    }
    Json* result = doc.find("result");
    Json* remote = doc.find("error");
    if (remote != nullptr && remote->is_null() && result != nullptr) remote = nullptr;
    if (result != nullptr && remote != nullptr) {
      error = "both field \"result\" and field \"error\"";
      return false;
    }
    if (result == nullptr && remote == nullptr) {
      error = "no field \"method\", \"result\" or \"error\"";
      return false;
    }
    if (id == nullptr) {
      error = "field \"id\" is missing";
      return false;
    }
    if (result != nullptr) {
      if (id->is_null()) {
        error = "field \"id\" is null in a result response";
        return false;
      }
      item.kind = Inbound::Kind::response;
      item.payload = std::move(*result);
      return true;
    }
    if (!remote->is_object()) {
      error = "field \"error\" is not an object";
      return false;
    }
    const Json* code = remote->find("code");
    if (code == nullptr) {
      error = "field \"error.code\" is missing";
      return false;
    }
    if (!code->is_integer()) {
      error = "field \"error.code\" is not an integer";
      return false;
    }
    codec::id_text(*code, item.error.code);
    const Json* message = remote->find("message");
    if (message == nullptr) {
      error = "field \"error.message\" is missing";
      return false;
    }
    if (!message->is_string()) {
      error = "field \"error.message\" is not a string";
      return false;
    }
    item.error.message = message->as_string();
    if (Json* data = remote->find("data")) item.error.data = std::move(*data);
    item.kind = Inbound::Kind::error_response;
    return true;
  }
};

}  // namespace

std::shared_ptr<const Codec> json_rpc_codec() { return std::make_shared<const JsonRpcCodec>(); }

}  // namespace tether
