// websocketpp's asio client (asio_client config: no TLS), default settings, run by the calling
// thread. Messages are sent from its handlers; websocketpp queues them itself.

#include <functional>
#include <memory>
#include <string>
#include <websocketpp/client.hpp>
#include <websocketpp/config/asio_no_tls_client.hpp>

#include "adapters.hpp"

namespace bench {
namespace {

using WsClient = websocketpp::client<websocketpp::config::asio_client>;

void quiet(WsClient& client) {
  client.clear_access_channels(websocketpp::log::alevel::all);
  client.clear_error_channels(websocketpp::log::elevel::all);
  client.init_asio();
}

Result run_echo(const Config& config) {
  Result result;
  WsClient client;
  quiet(client);
  EchoRun run(config);
  const auto opcode =
      config.binary ? websocketpp::frame::opcode::binary : websocketpp::frame::opcode::text;
  bool failed = false;
  auto fail = [&](const std::string& why) {
    if (!failed) result.error = why;
    failed = true;
    client.stop();
  };
  auto pump = [&](websocketpp::connection_hdl hdl) {
    while (run.want_send()) {
      const std::string_view message = run.next_message();
      websocketpp::lib::error_code ec;
      client.send(hdl, message.data(), message.size(), opcode, ec);
      if (ec) return fail("send: " + ec.message());
    }
  };
  client.set_open_handler([&](websocketpp::connection_hdl hdl) {
    run.begin();
    pump(hdl);
  });
  client.set_message_handler([&](websocketpp::connection_hdl hdl, WsClient::message_ptr msg) {
    const std::string& payload = msg->get_payload();
    if (!run.on_echo(payload, msg->get_opcode() == websocketpp::frame::opcode::binary)) {
      return fail(run.error());
    }
    if (run.done()) {
      websocketpp::lib::error_code ec;
      client.close(hdl, websocketpp::close::status::normal, "", ec);
      return;
    }
    pump(hdl);
  });
  auto timer = client.set_timer(static_cast<long>(config.timeout().count()),
                                [&](websocketpp::lib::error_code timer_ec) {
                                  if (!timer_ec && !run.done()) fail("timed out");
                                });
  client.set_close_handler([&](websocketpp::connection_hdl) { timer->cancel(); });
  client.set_fail_handler([&](websocketpp::connection_hdl) { fail("connection failed"); });
  websocketpp::lib::error_code ec;
  auto connection = client.get_connection(config.url, ec);
  if (ec) {
    result.error = "get_connection: " + ec.message();
    return result;
  }
  client.connect(connection);
  client.run();
  if (failed) return result;
  run.finish(result);
  return result;
}

Result run_connect(const Config& config) {
  Result result;
  WsClient client;
  quiet(client);
  std::uint64_t cycle = 0;
  Clock::time_point t0;
  const auto start = Clock::now();
  double cpu_start = process_cpu_seconds();
  std::function<void()> next;
  next = [&] {
    if (cycle == config.warmup) cpu_start = process_cpu_seconds();
    websocketpp::lib::error_code ec;
    auto connection = client.get_connection(config.url, ec);
    if (ec) {
      result.error = "get_connection: " + ec.message();
      return;
    }
    t0 = Clock::now();
    client.connect(connection);
  };
  client.set_open_handler([&](websocketpp::connection_hdl hdl) {
    websocketpp::lib::error_code ec;
    client.close(hdl, websocketpp::close::status::normal, "", ec);
  });
  client.set_close_handler([&](websocketpp::connection_hdl) {
    if (cycle >= config.warmup) result.rtt_us.push_back(micros_between(t0, Clock::now()));
    if (++cycle < config.count + config.warmup) next();
  });
  client.set_fail_handler([&](websocketpp::connection_hdl) {
    result.error = "connection failed";
    client.stop();
  });
  next();
  client.run();
  if (!result.error.empty()) return result;
  result.seconds = seconds_between(start, Clock::now());
  result.cpu_seconds = process_cpu_seconds() - cpu_start;
  result.messages = config.count;
  return result;
}

}  // namespace

Result run_websocketpp(const Config& config) {
  if (config.rtt() || config.flood()) return run_echo(config);
  if (config.mode == "connect") return run_connect(config);
  return unsupported(config);
}

}  // namespace bench
