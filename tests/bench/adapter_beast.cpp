// Boost.Beast's websocket::stream with its default options, asynchronous on one io_context run by
// the calling thread: one async_write and one async_read in flight at a time. connect: the
// synchronous connect, handshake and close (which waits for the server's close frame).

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <string>

#include "adapters.hpp"

namespace bench {
namespace {

namespace beast = boost::beast;
namespace websocket = boost::beast::websocket;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using Stream = websocket::stream<tcp::socket>;

struct Target {
  std::string scheme, host, port, path;
};

void open_stream(Stream& ws, const Target& target) {
  const tcp::endpoint endpoint(net::ip::make_address(target.host),
                               static_cast<unsigned short>(std::stoi(target.port)));
  ws.next_layer().connect(endpoint);
  ws.next_layer().set_option(tcp::no_delay(true));
  ws.handshake(target.host + ":" + target.port, target.path);
}

Result run_echo(const Config& config, const Target& target) {
  Result result;
  net::io_context io;
  Stream ws(io);
  open_stream(ws, target);
  ws.binary(config.binary);
  EchoRun run(config);
  beast::flat_buffer buffer;
  std::string out;
  bool writing = false;
  bool failed = false;

  std::function<void()> write_next = [&] {
    if (writing || failed || !run.want_send()) return;
    writing = true;
    out.assign(run.next_message());
    ws.async_write(net::buffer(out), [&](beast::error_code ec, std::size_t) {
      writing = false;
      if (ec) {
        if (!failed) result.error = "write: " + ec.message();
        failed = true;
        return;
      }
      write_next();
    });
  };
  std::function<void()> read_next = [&] {
    ws.async_read(buffer, [&](beast::error_code ec, std::size_t) {
      if (ec) {
        if (!failed) result.error = "read: " + ec.message();
        failed = true;
        return;
      }
      const auto data = buffer.data();
      const std::string_view message(static_cast<const char*>(data.data()), data.size());
      if (!run.on_echo(message, !ws.got_text())) {
        result.error = run.error();
        failed = true;
        return;
      }
      buffer.consume(buffer.size());
      if (run.done()) {
        ws.async_close(websocket::close_code::normal, [](beast::error_code) {});
        return;
      }
      write_next();
      read_next();
    });
  };
  run.begin();
  write_next();
  read_next();
  io.run_for(config.timeout());
  if (failed) return result;
  run.finish(result);
  return result;
}

Result run_connect(const Config& config, const Target& target) {
  Result result;
  net::io_context io;
  const auto start = Clock::now();
  double cpu_start = process_cpu_seconds();
  for (std::uint64_t i = 0; i < config.count + config.warmup; ++i) {
    if (i == config.warmup) cpu_start = process_cpu_seconds();
    const auto t0 = Clock::now();
    {
      Stream ws(io);
      open_stream(ws, target);
      ws.close(websocket::close_code::normal);
    }
    if (i >= config.warmup) result.rtt_us.push_back(micros_between(t0, Clock::now()));
  }
  result.seconds = seconds_between(start, Clock::now());
  result.cpu_seconds = process_cpu_seconds() - cpu_start;
  result.messages = config.count;
  return result;
}

}  // namespace

Result run_beast(const Config& config) {
  Result result;
  Target target;
  if (!split_url(config.url, target.scheme, target.host, target.port, target.path) ||
      target.scheme != "ws") {
    result.error = "the beast adapter needs a ws:// URL with a numeric host";
    return result;
  }
  try {
    if (config.rtt() || config.flood()) return run_echo(config, target);
    if (config.mode == "connect") return run_connect(config, target);
  } catch (const std::exception& e) {
    result.error = e.what();
    return result;
  }
  return unsupported(config);
}

}  // namespace bench
