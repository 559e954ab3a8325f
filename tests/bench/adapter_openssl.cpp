// A plain WebSocket client over one socket with OpenSSL on it (SSL_set_fd) for wss://: the
// reference for what TLS itself costs. The frames are written by hand (one masked copy per
// message, word-wise). rtt and connect use blocking calls: write a frame, read until its echo;
// TCP, TLS, upgrade, close handshake. The flood makes the socket non-blocking and lets poll()
// pick the direction (reads drain what is readable, writes take up to 256 KiB of coalesced
// frames), so it never blocks on a peer that waits for it.

#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "adapters.hpp"

namespace bench {
namespace {

constexpr const char* kKey = "dGhlIHNhbXBsZSBub25jZQ==";         // RFC 6455's sample key
constexpr const char* kAccept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";  // ...and its accept value
constexpr std::size_t kOutputMax = 256 * 1024;

std::string ssl_error() {
  const unsigned long code = ERR_get_error();
  if (code == 0) return "TLS error";
  char buf[256];
  ERR_error_string_n(code, buf, sizeof buf);
  return buf;
}

class Connection {
 public:
  ~Connection() { shut(); }

  bool open(const Config& config, std::string& error) {
    std::string scheme, host, port;
    if (!split_url(config.url, scheme, host, port, path_) || (scheme != "ws" && scheme != "wss")) {
      error = "the openssl adapter needs a ws:// or wss:// URL";
      return false;
    }
    fd_ = tcp_connect(host, port, config.timeout_s, error);
    if (fd_ < 0) return false;
    if (scheme == "wss") {
      ctx_ = SSL_CTX_new(TLS_client_method());
      if (!config.insecure) {
        SSL_CTX_set_default_verify_paths(ctx_);
        if (!config.ca_file.empty() &&
            SSL_CTX_load_verify_locations(ctx_, config.ca_file.c_str(), nullptr) != 1) {
          error = "cannot load " + config.ca_file;
          return false;
        }
        SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
      }
      ssl_ = SSL_new(ctx_);
      SSL_set_mode(ssl_, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
      SSL_set_fd(ssl_, fd_);
      if (!config.insecure) X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_), host.c_str());
      if (SSL_connect(ssl_) != 1) {
        error = "TLS handshake: " + ssl_error();
        return false;
      }
    }
    const std::string request = "GET " + path_ + " HTTP/1.1\r\nHost: " + host + ":" + port +
                                "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                                "Sec-WebSocket-Key: " +
                                kKey + "\r\nSec-WebSocket-Version: 13\r\n\r\n";
    if (!write_all(request.data(), request.size())) {
      error = "cannot send the upgrade request";
      return false;
    }
    std::size_t end = std::string::npos;
    while ((end = in_.find("\r\n\r\n")) == std::string::npos) {
      if (in_.size() > 16384 || !read_some()) {
        error = "no upgrade response";
        return false;
      }
    }
    const std::string head = in_.substr(0, end);
    if (head.compare(0, 12, "HTTP/1.1 101") != 0 || head.find(kAccept) == std::string::npos) {
      error = "upgrade refused: " + head.substr(0, head.find('\r'));
      return false;
    }
    in_.erase(0, end + 4);
    return true;
  }

  /// Appends one masked frame (FIN set) to `out`.
  void frame(std::string& out, int opcode, std::string_view payload) {
    unsigned char header[14];
    std::size_t n = 0;
    header[n++] = static_cast<unsigned char>(0x80 | opcode);
    const std::size_t len = payload.size();
    if (len < 126) {
      header[n++] = static_cast<unsigned char>(0x80 | len);
    } else if (len < 65536) {
      header[n++] = 0x80 | 126;
      header[n++] = static_cast<unsigned char>(len >> 8);
      header[n++] = static_cast<unsigned char>(len);
    } else {
      header[n++] = 0x80 | 127;
      for (int shift = 56; shift >= 0; shift -= 8) {
        header[n++] = static_cast<unsigned char>(static_cast<std::uint64_t>(len) >> shift);
      }
    }
    seed_ ^= seed_ << 13;
    seed_ ^= seed_ >> 7;
    seed_ ^= seed_ << 17;
    const auto key = static_cast<std::uint32_t>(seed_);
    std::memcpy(header + n, &key, 4);
    n += 4;
    out.append(reinterpret_cast<const char*>(header), n);
    const std::size_t at = out.size();
    out.resize(at + len);
    char* dst = &out[at];
    std::uint64_t key64 = key;
    key64 |= key64 << 32;
    std::size_t i = 0;
    for (; i + 8 <= len; i += 8) {
      std::uint64_t word;
      std::memcpy(&word, payload.data() + i, 8);
      word ^= key64;
      std::memcpy(dst + i, &word, 8);
    }
    const auto* kb = reinterpret_cast<const unsigned char*>(&key);
    for (; i < len; ++i) dst[i] = static_cast<char>(payload[i] ^ static_cast<char>(kb[i & 3]));
  }

  /// Parses what has been read; `on_message(data, binary)` per data message. Returns false on a
  /// protocol problem or when the peer's close frame arrived (closed() tells).
  template <typename F>
  bool parse(F&& on_message) {
    std::size_t at = 0;
    bool ok = true;
    for (;;) {
      const std::size_t avail = in_.size() - at;
      if (avail < 2) break;
      const auto* p = reinterpret_cast<const unsigned char*>(in_.data() + at);
      const int opcode = p[0] & 0x0F;
      const bool fin = (p[0] & 0x80) != 0;
      std::uint64_t len = p[1] & 0x7F;
      std::size_t header = 2;
      if (len == 126) {
        if (avail < 4) break;
        len = (std::uint64_t{p[2]} << 8) | p[3];
        header = 4;
      } else if (len == 127) {
        if (avail < 10) break;
        len = 0;
        for (int k = 0; k < 8; ++k) len = (len << 8) | p[2 + k];
        header = 10;
      }
      if (avail < header + len) break;
      const std::string_view payload(in_.data() + at + header, static_cast<std::size_t>(len));
      at += header + static_cast<std::size_t>(len);
      if (opcode == 0x8) {
        closed_ = true;
        ok = false;
        break;
      }
      if (opcode >= 0x8) continue;  // pings are not answered in a benchmark run
      if (opcode != 0) partial_binary_ = opcode == 2;
      if (fin && partial_.empty()) {
        on_message(payload, partial_binary_);
      } else {
        partial_.append(payload);
        if (fin) {
          on_message(std::string_view(partial_), partial_binary_);
          partial_.clear();
        }
      }
    }
    in_.erase(0, at);
    return ok;
  }

  /// Reads into the input: blocking, one read (and what TLS has buffered); non-blocking, until
  /// nothing is left (at most 4 MiB). False at EOF or on an error.
  bool read_some() {
    char buf[kReadChunk];
    std::size_t got = 0;
    for (;;) {
      int n = 0;
      if (ssl_) {
        n = SSL_read(ssl_, buf, sizeof buf);
        if (n <= 0) {
          const int e = SSL_get_error(ssl_, n);
          return nonblocking_ && (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE);
        }
      } else {
        n = static_cast<int>(::recv(fd_, buf, sizeof buf, 0));
        if (n < 0 && nonblocking_ && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
        if (n <= 0) return false;
      }
      in_.append(buf, static_cast<std::size_t>(n));
      got += static_cast<std::size_t>(n);
      const bool more = nonblocking_ ? got < 16 * kReadChunk : ssl_ && SSL_pending(ssl_) > 0;
      if (!more) return true;
    }
  }
  /// At most `n` bytes; how many (0 when a non-blocking socket is full), or -1.
  long write_some(const char* data, std::size_t n) {
    if (ssl_) {
      const int w = SSL_write(ssl_, data, static_cast<int>(n));
      if (w > 0) return w;
      const int e = SSL_get_error(ssl_, w);
      return nonblocking_ && (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) ? 0 : -1;
    }
    const ssize_t w = ::send(fd_, data, n, MSG_NOSIGNAL);
    if (w < 0 && nonblocking_ && (errno == EAGAIN || errno == EWOULDBLOCK)) return 0;
    return w >= 0 ? w : -1;
  }
  void set_nonblocking(bool on) {
    const int flags = ::fcntl(fd_, F_GETFL);
    ::fcntl(fd_, F_SETFL, on ? flags | O_NONBLOCK : flags & ~O_NONBLOCK);
    nonblocking_ = on;
  }
  bool write_all(const char* data, std::size_t n) {
    while (n > 0) {
      const long w = write_some(data, n);
      if (w < 0) return false;
      data += w;
      n -= static_cast<std::size_t>(w);
    }
    return true;
  }
  bool readable_buffered() const { return ssl_ != nullptr && SSL_pending(ssl_) > 0; }
  int fd() const { return fd_; }
  bool closed() const { return closed_; }

  /// Close handshake: our close frame, then read until the peer's, then close.
  void close_handshake() {
    std::string out;
    frame(out, 0x8, std::string_view("\x03\xe8", 2));
    if (!write_all(out.data(), out.size())) return;
    while (!closed_) {
      parse([](std::string_view, bool) {});
      if (closed_ || !read_some()) break;
    }
    if (ssl_) SSL_shutdown(ssl_);
  }

 private:
  void shut() {
    if (ssl_) SSL_free(ssl_);
    if (ctx_) SSL_CTX_free(ctx_);
    if (fd_ >= 0) ::close(fd_);
    ssl_ = nullptr;
    ctx_ = nullptr;
    fd_ = -1;
  }

  int fd_ = -1;
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  std::string path_;
  std::string in_;
  std::string partial_;
  bool partial_binary_ = false;
  bool closed_ = false;
  bool nonblocking_ = false;
  std::uint64_t seed_ = 0x9E3779B97F4A7C15ull;
};

Result run_echo(const Config& config) {
  Result result;
  Connection connection;
  if (!connection.open(config, result.error)) return result;
  EchoRun run(config);
  const int opcode = config.binary ? 2 : 1;
  auto on_message = [&](std::string_view data, bool binary) { run.on_echo(data, binary); };
  std::string out;
  std::size_t out_at = 0;
  const auto deadline = Clock::now() + config.timeout();
  if (config.flood()) connection.set_nonblocking(true);
  const bool rtt = config.rtt();
  run.begin();
  while (!run.done() && run.error().empty()) {
    if (Clock::now() > deadline) {
      result.error = "timed out";
      return result;
    }
    if (rtt) {
      out.clear();
      connection.frame(out, opcode, run.next_message());
      if (!connection.write_all(out.data(), out.size())) {
        result.error = "write failed";
        return result;
      }
      const std::uint64_t want = run.received() + 1;
      while (run.received() < want && run.error().empty()) {
        if (!connection.read_some() || !connection.parse(on_message)) {
          result.error = "the connection ended";
          return result;
        }
      }
      continue;
    }
    // Flood: keep up to 256 KiB of frames ready; poll() says which way the socket can go.
    if (out_at > 0 && out_at * 2 >= out.size()) {
      out.erase(0, out_at);
      out_at = 0;
    }
    while (out.size() - out_at < kOutputMax && run.want_send()) {
      connection.frame(out, opcode, run.next_message());
    }
    pollfd pfd{connection.fd(), POLLIN, 0};
    if (out_at < out.size()) pfd.events |= POLLOUT;
    if (!connection.readable_buffered() && ::poll(&pfd, 1, 1000) < 0) {
      result.error = "poll failed";
      return result;
    }
    if ((pfd.revents & (POLLIN | POLLHUP | POLLERR)) != 0 || connection.readable_buffered()) {
      if (!connection.read_some() || !connection.parse(on_message)) {
        result.error = "the connection ended";
        return result;
      }
    }
    if ((pfd.revents & POLLOUT) != 0) {
      const long w = connection.write_some(out.data() + out_at, out.size() - out_at);
      if (w < 0) {
        result.error = "write failed";
        return result;
      }
      out_at += static_cast<std::size_t>(w);
    }
  }
  connection.set_nonblocking(false);
  run.finish(result);
  connection.close_handshake();
  return result;
}

Result run_connect(const Config& config) {
  Result result;
  const auto start = Clock::now();
  double cpu_start = process_cpu_seconds();
  for (std::uint64_t i = 0; i < config.count + config.warmup; ++i) {
    if (i == config.warmup) cpu_start = process_cpu_seconds();
    const auto t0 = Clock::now();
    {
      Connection connection;
      if (!connection.open(config, result.error)) return result;
      connection.close_handshake();
      if (!connection.closed()) {
        result.error = "no close frame from the server";
        return result;
      }
    }
    if (i >= config.warmup) result.rtt_us.push_back(micros_between(t0, Clock::now()));
  }
  result.seconds = seconds_between(start, Clock::now());
  result.cpu_seconds = process_cpu_seconds() - cpu_start;
  result.messages = config.count;
  return result;
}

}  // namespace

Result run_openssl(const Config& config) {
  if (config.rtt() || config.flood()) return run_echo(config);
  if (config.mode == "connect") return run_connect(config);
  return unsupported(config);
}

}  // namespace bench
