#include "codec/inspect.hpp"

#include <rapidjson/document.h>

#include "codec/json_limits.hpp"

namespace tether::codec {

namespace {

std::optional<std::string> scalar_text(const rapidjson::Value& v) {
  if (v.IsString()) return std::string(v.GetString(), v.GetStringLength());
  if (v.IsUint64()) return std::to_string(v.GetUint64());
  if (v.IsInt64()) return std::to_string(v.GetInt64());
  return std::nullopt;
}

}  // namespace

Inspection inspect(std::string_view text, std::string_view seq_field) {
  Inspection out;
  rapidjson::Document doc;
  if (!parse_bounded(doc, text)) return out;
  if (!doc.IsObject()) return out;
  out.object = true;
  auto id = doc.FindMember("id");
  if (id != doc.MemberEnd()) out.id = scalar_text(id->value);
  auto type = doc.FindMember("type");
  if (type != doc.MemberEnd() && type->value.IsString()) {
    out.type = std::string(type->value.GetString(), type->value.GetStringLength());
  }
  auto error = doc.FindMember("error");
  if (error != doc.MemberEnd() && !error->value.IsNull()) {
    out.error = true;
    const rapidjson::Value& e = error->value;
    if (e.IsObject()) {
      auto code = e.FindMember("code");
      if (code != e.MemberEnd()) out.error_code = scalar_text(code->value).value_or("");
      auto message = e.FindMember("message");
      if (message != e.MemberEnd() && message->value.IsString()) {
        out.error_message.assign(message->value.GetString(), message->value.GetStringLength());
      }
    } else if (e.IsString()) {
      out.error_message.assign(e.GetString(), e.GetStringLength());
    }
  }
  if (!seq_field.empty()) {
    auto seq = doc.FindMember(rapidjson::StringRef(seq_field.data(), seq_field.size()));
    if (seq != doc.MemberEnd() && seq->value.IsUint64()) out.seq = seq->value.GetUint64();
  }
  return out;
}

}  // namespace tether::codec
