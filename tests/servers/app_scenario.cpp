#include "app_scenario.hpp"

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <cstdio>
#include <limits>
#include <utility>

#include "protocol/http_head.hpp"

namespace tether::test_server {
namespace {

using rapidjson::Value;
using JsonWriter = rapidjson::Writer<rapidjson::StringBuffer>;

// RapidJSON parses (and Accept() writes) nested values recursively: deeper input is refused
// before parsing, so no message can exhaust the stack.
constexpr int kMaxDepth = 64;

LogField string_field(const char* name, std::string_view value) {
  LogField f;
  f.name = name;
  f.kind = LogField::Kind::string;
  f.text = std::string(value);
  return f;
}

LogField number_field(const char* name, std::uint64_t value) {
  LogField f;
  f.name = name;
  f.kind = LogField::Kind::number;
  f.number = value;
  return f;
}

LogField bool_field(const char* name, bool value) {
  LogField f;
  f.name = name;
  f.kind = LogField::Kind::boolean;
  f.flag = value;
  return f;
}

LogField json_value_field(const char* name, std::string json) {
  LogField f;
  f.name = name;
  f.kind = LogField::Kind::json;
  f.text = std::move(json);
  return f;
}

void app_error(AppOutput& out, const char* error, std::string_view message) {
  out.logs.push_back(
      LogEvent{"app_error", {string_field("error", error), string_field("message", message)}});
}

void send_text(AppOutput& out, std::string payload) {
  AppAction action;
  action.kind = AppAction::Kind::text;
  action.payload = std::move(payload);
  out.actions.push_back(std::move(action));
}

bool contains(const std::vector<std::string>& list, std::string_view value) {
  return std::find(list.begin(), list.end(), value) != list.end();
}

std::string_view string_of(const Value& v) {
  return std::string_view(v.GetString(), v.GetStringLength());
}

const Value* member(const Value& object, const char* name) {
  const auto it = object.FindMember(name);
  return it == object.MemberEnd() ? nullptr : &it->value;
}

// Counts the nesting of arrays and objects outside strings. Only a valid prefix of a document is
// ever parsed, so the count up to any point the parser reaches is exact.
bool nested_too_deep(std::string_view text) {
  int depth = 0;
  bool in_string = false;
  bool escaped = false;
  for (const char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxDepth) return true;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return false;
}

void write_string(JsonWriter& w, std::string_view s) {
  w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
}

template <typename Body>
std::string write_json(Body&& body) {
  // A buffer kept between frames (the server is single-threaded; one per kind of frame, as each
  // caller's body is its own instantiation): no allocation and regrowth per frame beyond the
  // returned string.
  static rapidjson::StringBuffer buffer;
  buffer.Clear();
  JsonWriter writer(buffer);
  body(writer);
  return std::string(buffer.GetString(), buffer.GetSize());
}

std::string to_json(const Value& value) {
  return write_json([&](JsonWriter& w) { value.Accept(w); });
}

/// {"id":ID,"payload":<payload(w)>}
template <typename Payload>
std::string result_frame(const Value& id, Payload&& payload) {
  return write_json([&](JsonWriter& w) {
    w.StartObject();
    w.Key("id");
    id.Accept(w);
    w.Key("payload");
    payload(w);
    w.EndObject();
  });
}

/// {"id":ID,"error":{"code":C,"message":M}}
std::string error_frame(const Value& id, std::string_view code, std::string_view message) {
  return write_json([&](JsonWriter& w) {
    w.StartObject();
    w.Key("id");
    id.Accept(w);
    w.Key("error");
    w.StartObject();
    w.Key("code");
    write_string(w, code);
    w.Key("message");
    write_string(w, message);
    w.EndObject();
    w.EndObject();
  });
}

std::string channel_frame(const Value& id, std::string_view channel) {
  return result_frame(id, [&](JsonWriter& w) {
    w.StartObject();
    w.Key("channel");
    write_string(w, channel);
    w.EndObject();
  });
}

}  // namespace

AppScenario::AppScenario(AppConfig config)
    : config_(std::move(config)),
      auth_required_(!config_.tokens.empty()),
      authenticated_(!auth_required_) {}

AppUpgrade AppScenario::on_upgrade(const std::string* authorization, AppOutput& out) {
  AppUpgrade verdict;
  if (!auth_required_ || config_.auth_via == AppConfig::AuthVia::message) return verdict;
  const bool header = config_.auth_via == AppConfig::AuthVia::header;
  std::optional<std::string> token;
  if (header) {
    constexpr std::string_view kScheme = "Bearer ";
    if (authorization != nullptr && authorization->size() > kScheme.size() &&
        protocol::iequals(std::string_view(*authorization).substr(0, kScheme.size()), kScheme)) {
      std::string_view t = std::string_view(*authorization).substr(kScheme.size());
      while (!t.empty() && t.front() == ' ') t.remove_prefix(1);
      token = std::string(t);
    }
  } else {
    token = config_.access_token;
  }
  const bool ok = token.has_value() && contains(config_.tokens, *token);
  LogEvent event{"auth", {string_field("via", header ? "header" : "query")}};
  if (token) event.fields.push_back(string_field("token", *token));
  event.fields.push_back(bool_field("ok", ok));
  out.logs.push_back(std::move(event));
  if (ok) {
    authenticated_ = true;
  } else if (header) {
    verdict.status = 401;
    verdict.message = "a valid bearer token is required";
    verdict.headers.emplace_back("WWW-Authenticate: Bearer");
  } else {
    verdict.status = 403;
    verdict.message = "access_token is missing or not accepted";
  }
  return verdict;
}

AppOutput AppScenario::on_open(AppClock::time_point now) {
  AppOutput out;
  if (config_.stream_on_open && authenticated_) start_stream(0, now, out);
  return out;
}

AppOutput AppScenario::on_text(std::string_view text, AppClock::time_point now) {
  AppOutput out;
  handle_text(text, now, out);
  return out;
}

AppOutput AppScenario::on_binary(std::string_view bytes) {
  AppOutput out;
  if (!authenticated_) app_error(out, "before_auth", "a binary message before authentication");
  if (config_.echo) {
    AppAction action;
    action.kind = AppAction::Kind::binary;
    action.payload = std::string(bytes);
    out.actions.push_back(std::move(action));
  }
  return out;
}

AppOutput AppScenario::on_timer(AppClock::time_point now) {
  AppOutput out;
  while (!pending_.empty() && pending_.front().due <= now) {
    send_text(out, std::move(pending_.front().frame));
    pending_.pop_front();
  }
  return out;
}

void AppScenario::echo_text(std::string_view text, AppOutput& out) const {
  if (config_.echo) send_text(out, std::string(text));
}

void AppScenario::handle_text(std::string_view text, AppClock::time_point now, AppOutput& out) {
  // The document's values and the parser's stack start in memory on this stack frame: a message
  // of a few KiB is parsed without a heap allocation (a larger one takes more from the heap).
  using Pool = rapidjson::MemoryPoolAllocator<>;
  alignas(8) char value_memory[16 * 1024];
  alignas(8) char stack_memory[4 * 1024];
  Pool values(value_memory, sizeof value_memory);
  Pool stack(stack_memory, sizeof stack_memory);
  rapidjson::GenericDocument<rapidjson::UTF8<>, Pool, Pool> doc(&values, 1024, &stack);
  std::string parse_error;
  if (nested_too_deep(text)) {
    parse_error = "nested deeper than " + std::to_string(kMaxDepth) + " levels";
  } else if (doc.Parse(text.data(), text.size()).HasParseError()) {
    parse_error = rapidjson::GetParseError_En(doc.GetParseError());
    if (!parse_error.empty() && parse_error.back() == '.') parse_error.pop_back();
    parse_error += " at byte " + std::to_string(doc.GetErrorOffset());
  }
  const bool object = parse_error.empty() && doc.IsObject();
  const Value* type = object ? member(doc, "type") : nullptr;
  const std::string_view type_name =
      type != nullptr && type->IsString() ? string_of(*type) : std::string_view();

  if (!authenticated_ && type_name != "auth") {
    app_error(out, "before_auth",
              type_name.empty()
                  ? std::string("a text message before authentication")
                  : "a '" + std::string(type_name) + "' message before authentication");
  }
  if (!parse_error.empty()) {
    app_error(out, "bad_json", parse_error);
    return echo_text(text, out);
  }
  if (!object) {
    app_error(out, "bad_envelope", "not a JSON object");
    return echo_text(text, out);
  }
  if (type != nullptr && !type->IsString()) {
    app_error(out, "bad_envelope", "type is not a string");
    return echo_text(text, out);
  }
  const Value* id = member(doc, "id");
  if (id != nullptr && !id->IsString() && !id->IsNumber()) {
    app_error(out, "bad_envelope", "id is not a string or a number");
    return echo_text(text, out);
  }
  const Value* payload = member(doc, "payload");

  const bool is_auth = type_name == "auth";
  const bool is_subscribe = type_name == "subscribe";
  const bool is_unsubscribe = type_name == "unsubscribe";
  const bool is_resume = type_name == "resume";
  if (!is_auth && !is_subscribe && !is_unsubscribe && !is_resume) {
    if (id == nullptr) return echo_text(text, out);
    // A generic request.
    if (config_.log_requests) {
      LogEvent event{"request", {}};
      if (type != nullptr) event.fields.push_back(string_field("type", type_name));
      event.fields.push_back(json_value_field("id", to_json(*id)));
      out.logs.push_back(std::move(event));
    }
    if (type_name == "never") return;
    std::string frame = type_name == "fail" ? error_frame(*id, "failed", "requested failure")
                                            : result_frame(*id, [&](JsonWriter& w) {
                                                if (payload != nullptr) {
                                                  payload->Accept(w);
                                                } else {
                                                  w.Null();
                                                }
                                              });
    if (config_.request_delay.count() > 0) {
      pending_.push_back(Pending{now + config_.request_delay, std::move(frame)});
      out.timers.push_back(config_.request_delay);
    } else {
      send_text(out, std::move(frame));
    }
    return;
  }

  // auth, subscribe, unsubscribe, resume: the payload is an object (or absent).
  const std::string what = "the '" + std::string(type_name) + "' message";
  if (payload != nullptr && !payload->IsObject() && !payload->IsNull()) {
    app_error(out, "bad_envelope", what + " has a payload that is not an object");
    return echo_text(text, out);
  }
  if (id == nullptr && !is_resume) {
    app_error(out, "bad_envelope", what + " has no id");
    return echo_text(text, out);
  }
  const Value* args = payload != nullptr && payload->IsObject() ? payload : nullptr;
  auto field = [args](const char* name) { return args != nullptr ? member(*args, name) : nullptr; };
  std::optional<std::uint64_t> resume_from;
  if (!is_unsubscribe) {
    if (const Value* r = field("resume_from")) {
      if (!r->IsUint64()) {
        app_error(out, "bad_envelope", what + ": resume_from is not an unsigned integer");
        return echo_text(text, out);
      }
      resume_from = r->GetUint64();
    }
  }

  if (is_auth) {
    const Value* token = field("token");
    if (token != nullptr && !token->IsString()) {
      app_error(out, "bad_envelope", what + ": token is not a string");
      return echo_text(text, out);
    }
    const bool ok =
        config_.tokens.empty() || (token != nullptr && contains(config_.tokens, string_of(*token)));
    LogEvent event{"auth", {}};
    if (token != nullptr) event.fields.push_back(string_field("token", string_of(*token)));
    event.fields.push_back(bool_field("ok", ok));
    if (resume_from) event.fields.push_back(number_field("resume_from", *resume_from));
    out.logs.push_back(std::move(event));
    if (config_.auth_noanswer) return;
    if (ok) {
      authenticated_ = true;
      send_text(out, result_frame(*id, [](JsonWriter& w) {
                  w.StartObject();
                  w.Key("ok");
                  w.Bool(true);
                  w.EndObject();
                }));
      start_stream(resume_from.value_or(0), now, out);
    } else if (config_.reject_close_code == 0) {
      send_text(out, error_frame(*id, "auth_rejected", "bad token"));
    } else {
      AppAction close;
      close.kind = AppAction::Kind::close;
      close.code = config_.reject_close_code;
      close.payload = "unauthorized";
      out.actions.push_back(std::move(close));
    }
    return;
  }

  if (is_resume) {
    out.logs.push_back(LogEvent{"resume", {number_field("resume_from", resume_from.value_or(0))}});
    start_stream(resume_from.value_or(0), now, out);
    return;
  }

  const Value* channel = field("channel");
  if (channel == nullptr || !channel->IsString()) {
    app_error(out, "bad_envelope", what + " needs payload.channel, a string");
    return echo_text(text, out);
  }
  const std::string_view name = string_of(*channel);
  if (is_unsubscribe) {
    out.logs.push_back(LogEvent{"unsubscribe", {string_field("channel", name)}});
    send_text(out, channel_frame(*id, name));
    return;
  }
  const bool ok = !contains(config_.deny, name);
  LogEvent event{"subscribe", {string_field("channel", name), bool_field("ok", ok)}};
  if (resume_from) event.fields.push_back(number_field("resume_from", *resume_from));
  out.logs.push_back(std::move(event));
  if (!ok) {
    send_text(out,
              error_frame(*id, "forbidden", "channel " + std::string(name) + " is not allowed"));
    return;
  }
  send_text(out, channel_frame(*id, name));
  start_stream(resume_from.value_or(0), now, out);
}

void AppScenario::start_stream(std::uint64_t resume_from, AppClock::time_point now,
                               AppOutput& out) {
  if (!config_.stream || stream_started_) return;
  stream_started_ = true;
  resume_from_ = resume_from;
  last_seq_ = *config_.stream;
  // max(1, resume_from + 1 - overlap), without overflow.
  const std::uint64_t base = resume_from >= config_.overlap ? resume_from - config_.overlap : 0;
  if (base == std::numeric_limits<std::uint64_t>::max()) {
    next_seq_ = base;
    stream_done_ = true;
  } else {
    next_seq_ = base + 1;
    stream_done_ = next_seq_ > last_seq_;
  }
  next_due_ = now;
  out.logs.push_back(LogEvent{"stream",
                              {number_field("from", next_seq_), number_field("to", last_seq_),
                               number_field("resume_from", resume_from)}});
}

bool AppScenario::pull_stream(AppClock::time_point now, AppOutput& out) {
  if (!stream_started_ || stream_done_) return false;
  if (config_.interval.count() > 0 && now < next_due_) return false;
  char frame[96];
  const auto seq = static_cast<unsigned long long>(next_seq_);
  const int len = std::snprintf(frame, sizeof(frame),
                                R"({"type":"event","seq":%llu,"payload":{"n":%llu}})", seq, seq);
  send_text(out, std::string(frame, static_cast<std::size_t>(len)));
  if (config_.drop_at != 0 && next_seq_ == config_.drop_at && resume_from_ < config_.drop_at) {
    AppAction drop;
    drop.kind = AppAction::Kind::drop;
    out.actions.push_back(std::move(drop));
    stream_done_ = true;
    return true;
  }
  if (next_seq_ == last_seq_) {
    stream_done_ = true;
  } else {
    ++next_seq_;
  }
  if (config_.interval.count() > 0 && !stream_done_) {
    next_due_ = now + config_.interval;
    out.timers.push_back(config_.interval);
  }
  return true;
}

}  // namespace tether::test_server
