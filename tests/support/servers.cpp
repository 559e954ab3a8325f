#include "support/servers.hpp"

#include <algorithm>
#include <functional>
#include <map>
#include <mutex>
#include <stdexcept>
#include <utility>

namespace tether::testing {
namespace {

constexpr int kPortAttempts = 3;

/// Starts a server that must be told its port: a fresh free_port() per attempt, so a port taken
/// by someone else between free_port() and the server's bind only costs a retry.
ServerProcess start_on_free_port(const std::function<ServerProcess(int port)>& make) {
  for (int attempt = 1;; ++attempt) {
    ServerProcess server = make(free_port());
    try {
      server.start();
      return server;
    } catch (const ServerStartError& e) {
      if (!e.exited() || attempt == kPortAttempts) throw;
    }
  }
}

std::string quoted(const std::string& path) {
  return "\"" + path + "\"";
}

}  // namespace

std::string source_path(std::string_view relative) {
  return std::string(TETHER_SOURCE_DIR) + "/" + std::string(relative);
}

ServerProcess start_tether_server(std::vector<std::string> extra_args) {
  ProcessSpec spec;
  spec.name = "tether_test_server";
  spec.argv = {TETHER_TEST_SERVER_PATH};
  if (std::find(extra_args.begin(), extra_args.end(), "--port") == extra_args.end()) {
    spec.argv.insert(spec.argv.end(), {"--port", "0"});
  }
  spec.argv.insert(spec.argv.end(), extra_args.begin(), extra_args.end());
  ServerProcess server(std::move(spec));
  server.start();
  return server;
}

ServerProcess start_python_echo(const PythonEchoOptions& options) {
  ProcessSpec spec;
  spec.name = "ws_echo";
  spec.argv = {TETHER_PYTHON, source_path("tests/servers/ws_echo.py"),
               "--host",      options.host,
               "--port",      "0"};
  if (!options.tls_cert.empty()) {
    spec.argv.insert(spec.argv.end(),
                     {"--tls-cert", options.tls_cert, "--tls-key", options.tls_key});
    if (!options.tls_client_ca.empty()) {
      spec.argv.insert(spec.argv.end(), {"--tls-client-ca", options.tls_client_ca});
    }
  }
  if (options.frag > 0) {
    spec.argv.insert(spec.argv.end(), {"--frag", std::to_string(options.frag)});
    if (options.ping_between) spec.argv.push_back("--ping-between");
  }
  if (options.close_code != 0) {
    spec.argv.insert(spec.argv.end(), {"--close-code", std::to_string(options.close_code),
                                       "--close-reason", options.close_reason});
  }
  for (const auto& protocol : options.subprotocols) {
    spec.argv.insert(spec.argv.end(), {"--subprotocol", protocol});
  }
  spec.env = {{"PYTHONUNBUFFERED", "1"}, {"PYTHONDONTWRITEBYTECODE", "1"}};
  ServerProcess server(std::move(spec));
  server.start();
  return server;
}

ServerProcess start_python_jsonrpc() {
  ProcessSpec spec;
  spec.name = "jsonrpc_server";
  spec.argv = {TETHER_PYTHON, source_path("tests/servers/jsonrpc_server.py"), "--port", "0"};
  spec.env = {{"PYTHONUNBUFFERED", "1"}, {"PYTHONDONTWRITEBYTECODE", "1"}};
  ServerProcess server(std::move(spec));
  server.start();
  return server;
}

CertSet make_certs(const std::string& dir) {
  static std::mutex mutex;
  static std::map<std::string, CertSet> generated;
  const std::lock_guard<std::mutex> lock(mutex);
  if (const auto it = generated.find(dir); it != generated.end()) return it->second;

  const CommandResult result =
      run_command({"/bin/sh", source_path("tests/servers/make_certs.sh"), dir});
  if (result.exit_code != 0) {
    throw std::runtime_error("make_certs.sh " + dir + " failed (exit code " +
                             std::to_string(result.exit_code) +
                             (result.timed_out ? ", timed out" : "") + "):\n" + result.output);
  }
  const auto at = [&dir](const char* name) { return dir + "/" + name; };
  CertSet certs;
  certs.dir = dir;
  certs.ca = at("ca.pem");
  certs.server_cert = at("server.pem");
  certs.server_key = at("server.key");
  certs.wrong_host_cert = at("wrong_host.pem");
  certs.wrong_host_key = at("wrong_host.key");
  certs.expired_cert = at("expired.pem");
  certs.expired_key = at("expired.key");
  certs.self_signed_cert = at("self_signed.pem");
  certs.self_signed_key = at("self_signed.key");
  certs.client_cert = at("client.pem");
  certs.client_key = at("client.key");
  certs.future_cert = at("future.pem");
  certs.future_key = at("future.key");
  certs.foreign_cert = at("foreign.pem");
  certs.foreign_key = at("foreign.key");
  generated.emplace(dir, certs);
  return certs;
}

const CertSet& test_certs() {
  static const TempDir dir("tether-certs");
  static const CertSet certs = make_certs(dir.path());
  return certs;
}

ServerProcess start_tinyproxy(const TinyproxyOptions& options) {
  return start_on_free_port([&options](int port) {
    TempDir dir("tether-tinyproxy");
    std::string conf;
    conf += "Port " + std::to_string(port) + "\n";
    conf += "Listen 127.0.0.1\n";
    conf += "Timeout 60\n";
    conf += "Allow 127.0.0.1\n";
    conf += "MaxClients 100\n";
    // No ConnectPort line: CONNECT is allowed to every port.
    // No User/Group: tinyproxy keeps the current user (a uid change would also clear the
    // parent-death signal).
    conf += "LogFile " + quoted(dir.file("tinyproxy.log")) + "\n";
    conf += "LogLevel Info\n";
    conf += "PidFile " + quoted(dir.file("tinyproxy.pid")) + "\n";
    if (!options.basic_auth_user.empty()) {
      conf += "BasicAuth " + options.basic_auth_user + " " + options.basic_auth_pass + "\n";
    }
    write_file(dir.file("tinyproxy.conf"), conf);
    ProcessSpec spec;
    spec.name = "tinyproxy";
    spec.argv = {"/usr/bin/tinyproxy", "-d", "-c", dir.file("tinyproxy.conf")};
    spec.readiness = Readiness::tcp_port;
    spec.port = port;
    spec.extra_logs = {dir.file("tinyproxy.log")};
    return ServerProcess(std::move(spec), std::move(dir));
  });
}

ServerProcess start_nginx_tls_proxy(int upstream_port, const CertSet& certs) {
  return start_on_free_port([upstream_port, &certs](int port) {
    TempDir dir("tether-nginx");
    const std::string p = dir.path();
    std::string conf;
    conf += "daemon off;\n";
    conf += "master_process off;\n";
    conf += "pid " + p + "/nginx.pid;\n";
    conf += "error_log " + p + "/error.log info;\n";
    conf += "events { worker_connections 256; }\n";
    conf += "http {\n";
    conf += "  access_log off;\n";
    conf += "  client_body_temp_path " + p + "/client_body;\n";
    conf += "  proxy_temp_path " + p + "/proxy;\n";
    conf += "  fastcgi_temp_path " + p + "/fastcgi;\n";
    conf += "  uwsgi_temp_path " + p + "/uwsgi;\n";
    conf += "  scgi_temp_path " + p + "/scgi;\n";
    conf += "  server {\n";
    conf += "    listen 127.0.0.1:" + std::to_string(port) + " ssl;\n";
    conf += "    ssl_certificate " + certs.server_cert + ";\n";
    conf += "    ssl_certificate_key " + certs.server_key + ";\n";
    conf += "    ssl_protocols TLSv1.2 TLSv1.3;\n";
    conf += "    location / {\n";
    conf += "      proxy_pass http://127.0.0.1:" + std::to_string(upstream_port) + ";\n";
    conf += "      proxy_http_version 1.1;\n";
    conf += "      proxy_set_header Upgrade $http_upgrade;\n";
    conf += "      proxy_set_header Connection \"upgrade\";\n";
    conf += "      proxy_read_timeout 3600s;\n";
    conf += "      proxy_send_timeout 3600s;\n";
    conf += "    }\n";
    conf += "  }\n";
    conf += "}\n";
    write_file(dir.file("nginx.conf"), conf);
    ProcessSpec spec;
    spec.name = "nginx";
    spec.argv = {"/usr/sbin/nginx", "-c", dir.file("nginx.conf"), "-p",
                 p + "/",           "-e", dir.file("error.log")};
    spec.readiness = Readiness::tcp_port;
    spec.port = port;
    spec.extra_logs = {dir.file("error.log")};
    return ServerProcess(std::move(spec), std::move(dir));
  });
}

}  // namespace tether::testing
