// libwebsockets' own ws-role client (4.1.6): the baseline tether's raw-socket design is measured
// against. Written as the lws guide recommends: 64 KiB rx_buffer_size and tx_packet_size, one
// message per CLIENT_WRITEABLE, lws_service() on the calling thread. wss:// uses lws's TLS.

#include <libwebsockets.h>

#include <cstring>
#include <string>
#include <vector>

#include "adapters.hpp"

namespace bench {
namespace {

struct Session {
  const Config* config = nullptr;
  EchoRun* run = nullptr;  // null in the connect mode
  std::string rx;
  bool rx_binary = false;
  std::vector<unsigned char> tx;
  bool established = false;
  bool want_close = false;
  bool closed = false;
  std::string error;
};

int callback(lws* wsi, lws_callback_reasons reason, void*, void* in, size_t len) {
  auto* s = static_cast<Session*>(lws_get_opaque_user_data(wsi));
  if (s == nullptr) return 0;
  switch (reason) {
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
      s->error = in != nullptr ? std::string(static_cast<const char*>(in), len)
                               : std::string("connection error");
      break;
    case LWS_CALLBACK_CLIENT_ESTABLISHED:
      s->established = true;
      if (s->run == nullptr) {
        s->want_close = true;
      } else {
        s->run->begin();
      }
      lws_callback_on_writable(wsi);
      break;
    case LWS_CALLBACK_CLIENT_RECEIVE: {
      if (s->run == nullptr) break;
      if (lws_is_first_fragment(wsi)) {
        s->rx.clear();
        s->rx_binary = lws_frame_is_binary(wsi) != 0;
      }
      s->rx.append(static_cast<const char*>(in), len);
      if (!lws_is_final_fragment(wsi)) break;
      if (!s->run->on_echo(s->rx, s->rx_binary)) {
        s->error = s->run->error();
        return -1;
      }
      if (s->run->done()) s->want_close = true;
      if (s->want_close || s->run->want_send()) lws_callback_on_writable(wsi);
      break;
    }
    case LWS_CALLBACK_CLIENT_WRITEABLE: {
      if (s->want_close) {
        lws_close_reason(wsi, LWS_CLOSE_STATUS_NORMAL, nullptr, 0);
        return -1;
      }
      if (s->run == nullptr || !s->run->want_send()) break;
      const std::string_view message = s->run->next_message();
      s->tx.resize(LWS_PRE + message.size());
      std::memcpy(s->tx.data() + LWS_PRE, message.data(), message.size());
      if (lws_write(wsi, s->tx.data() + LWS_PRE, message.size(),
                    s->config->binary ? LWS_WRITE_BINARY : LWS_WRITE_TEXT) < 0) {
        s->error = "lws_write failed";
        return -1;
      }
      if (s->run->want_send()) lws_callback_on_writable(wsi);
      break;
    }
    case LWS_CALLBACK_WSI_DESTROY:  // the last event of every attempt
      s->closed = true;
      lws_set_opaque_user_data(wsi, nullptr);
      break;
    default:
      break;
  }
  return 0;
}

const lws_protocols kProtocols[] = {
    {"bench", callback, 0, 64 * 1024, 0, nullptr, 64 * 1024},
    {nullptr, nullptr, 0, 0, 0, nullptr, 0},
};

class Context {
 public:
  explicit Context(const Config& config) {
    lws_set_log_level(0, nullptr);
    split_url(config.url, scheme_, host_, port_, path_);
    lws_context_creation_info info{};
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = kProtocols;
    if (scheme_ == "wss") {
      info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
      if (!config.ca_file.empty()) info.client_ssl_ca_filepath = config.ca_file.c_str();
    }
    context_ = lws_create_context(&info);
  }
  ~Context() {
    if (context_ != nullptr) lws_context_destroy(context_);
  }
  bool ok() const { return context_ != nullptr && (scheme_ == "ws" || scheme_ == "wss"); }

  /// Connects `session` and services the loop until it has closed (or the deadline).
  bool run(const Config& config, Session& session, Clock::time_point deadline) {
    lws_client_connect_info ci{};
    ci.context = context_;
    ci.address = host_.c_str();
    ci.port = std::atoi(port_.c_str());
    ci.path = path_.c_str();
    ci.host = host_.c_str();
    ci.origin = host_.c_str();
    ci.local_protocol_name = kProtocols[0].name;
    ci.opaque_user_data = &session;
    if (scheme_ == "wss") {
      ci.ssl_connection = LCCSCF_USE_SSL;
      if (config.insecure) {
        ci.ssl_connection |= LCCSCF_ALLOW_SELFSIGNED | LCCSCF_SKIP_SERVER_CERT_HOSTNAME_CHECK |
                             LCCSCF_ALLOW_INSECURE;
      }
    }
    if (lws_client_connect_via_info(&ci) == nullptr) {
      session.error = "lws_client_connect_via_info failed";
      return false;
    }
    while (!session.closed) {
      if (Clock::now() > deadline) {
        session.error = "timed out";
        return false;
      }
      lws_service(context_, 0);
    }
    return session.error.empty();
  }

 private:
  lws_context* context_ = nullptr;
  std::string scheme_, host_, port_, path_;
};

}  // namespace

Result run_lws(const Config& config) {
  Result result;
  Context context(config);
  if (!context.ok()) {
    result.error = "no lws context (or not a ws:// or wss:// URL)";
    return result;
  }
  const auto deadline = Clock::now() + config.timeout();
  if (config.rtt() || config.flood()) {
    EchoRun run(config);
    Session session;
    session.config = &config;
    session.run = &run;
    if (!context.run(config, session, deadline) && !run.done()) {
      result.error = session.error.empty() ? "closed early" : session.error;
      return result;
    }
    run.finish(result);
    return result;
  }
  if (config.mode != "connect") return unsupported(config);
  const auto start = Clock::now();
  double cpu_start = process_cpu_seconds();
  for (std::uint64_t i = 0; i < config.count + config.warmup; ++i) {
    if (i == config.warmup) cpu_start = process_cpu_seconds();
    Session session;
    session.config = &config;
    const auto t0 = Clock::now();
    if (!context.run(config, session, deadline) || !session.established) {
      result.error = session.error.empty() ? "not established" : session.error;
      return result;
    }
    if (i >= config.warmup) result.rtt_us.push_back(micros_between(t0, Clock::now()));
  }
  result.seconds = seconds_between(start, Clock::now());
  result.cpu_seconds = process_cpu_seconds() - cpu_start;
  result.messages = config.count;
  return result;
}

}  // namespace bench
