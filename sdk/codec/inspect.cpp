#include "codec/envelope.hpp"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "codec/json_limits.hpp"

namespace tether::codec {

namespace {

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

void key(Writer& w, std::string_view k) {
  w.Key(k.data(), static_cast<rapidjson::SizeType>(k.size()));
}

void string(Writer& w, std::string_view s) {
  w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
}

std::optional<std::string> scalar_text(const rapidjson::Value& v) {
  if (v.IsString()) return std::string(v.GetString(), v.GetStringLength());
  if (v.IsUint64()) return std::to_string(v.GetUint64());
  if (v.IsInt64()) return std::to_string(v.GetInt64());
  return std::nullopt;
}

std::string request(std::string_view type, std::string_view id, std::string_view field,
                    std::string_view value, std::optional<std::uint64_t> resume_from,
                    std::string_view resume_field) {
  rapidjson::StringBuffer buffer;
  Writer w(buffer);
  w.StartObject();
  key(w, "type");
  string(w, type);
  if (!id.empty()) {
    key(w, "id");
    string(w, id);
  }
  key(w, "payload");
  w.StartObject();
  if (!field.empty()) {
    key(w, field);
    string(w, value);
  }
  if (resume_from) {
    key(w, resume_field);
    w.Uint64(*resume_from);
  }
  w.EndObject();
  w.EndObject();
  return std::string(buffer.GetString(), buffer.GetSize());
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

std::string auth_request(std::string_view id, std::string_view token,
                         std::optional<std::uint64_t> resume_from, std::string_view resume_field) {
  return request("auth", id, "token", token, resume_from, resume_field);
}

std::string subscribe_request(bool subscribe, std::string_view id, std::string_view channel,
                              std::optional<std::uint64_t> resume_from,
                              std::string_view resume_field) {
  return request(subscribe ? "subscribe" : "unsubscribe", id, "channel", channel, resume_from,
                 resume_field);
}

std::string resume_message(std::uint64_t resume_from, std::string_view resume_field) {
  return request("resume", "", "", "", resume_from, resume_field);
}

}  // namespace tether::codec
