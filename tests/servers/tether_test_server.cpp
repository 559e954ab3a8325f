// tether_test_server: the project's scriptable WebSocket server.
//
// One process serves every scenario of a test: the path and query of each upgrade request choose
// how that connection behaves (echo, server-initiated close, silence, drops, broken handshakes,
// raw bytes, server push, an application peer speaking the SDK's JSON envelope). It is also the
// echo peer of the benchmarks, so the data path is built for throughput: one epoll thread, large
// reads, tether's codec in the server role, echoes encoded straight into a per-connection output
// buffer and written in big chunks, and read backpressure so a slow reader cannot make the server
// buffer without bound. tests/servers/README.md documents the options, scenarios and the event
// log.

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sched.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <queue>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "app_scenario.hpp"
#include "protocol/frame.hpp"
#include "protocol/frame_decoder.hpp"
#include "protocol/frame_writer.hpp"
#include "protocol/handshake_key.hpp"
#include "protocol/http_head.hpp"
#include "protocol/random.hpp"
#include "protocol/utf8.hpp"
#include "tether/error.hpp"

namespace {

using tether::protocol::DecodeError;
using tether::protocol::DecoderOptions;
using tether::protocol::FrameDecoder;
using tether::protocol::FrameSink;
using tether::protocol::Header;
using tether::protocol::Opcode;
using tether::protocol::Role;
using tether::test_server::AppConfig;
using tether::test_server::AppOutput;
using tether::test_server::AppScenario;
using tether::test_server::LogEvent;
using tether::test_server::LogField;
using Clock = std::chrono::steady_clock;

constexpr std::size_t kReadBufferSize = 256 * 1024;
// A readiness event reads at most this many full buffers before the loop serves other
// connections, so one flooding client cannot starve the rest.
constexpr int kReadRounds = 8;
constexpr std::size_t kMaxRequestBytes = 16 * 1024;
// SSL_write is offered at most this much at a time. Retries after WANT_WRITE must offer at least
// as many bytes as the failed call; the output buffer only grows between retries, so a fixed cap
// keeps that true.
constexpr std::size_t kTlsWriteChunk = 512 * 1024;
// Echoes at least this large are sent straight from the decoder's buffer when nothing else is
// queued, saving a copy of the payload into the output buffer.
constexpr std::size_t kDirectSendMin = 16 * 1024;
constexpr auto kCloseWait = std::chrono::seconds(2);
constexpr auto kAcceptRetry = std::chrono::milliseconds(100);
constexpr std::size_t kLogTextBytes = 200;
constexpr std::size_t kLogHexBytes = 100;

// ------------------------------------------------------------------------------------------------
// Small helpers

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// '+' stays a plus sign: query values carry tokens (base64 among them), so only %XX is decoded.
std::string percent_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      const int hi = hex_value(s[i + 1]);
      const int lo = hex_value(s[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(s[i]);
  }
  return out;
}

bool hex_decode(std::string_view hex, std::string* out) {
  out->clear();
  if (hex.size() % 2 != 0) return false;
  out->reserve(hex.size() / 2);
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    const int hi = hex_value(hex[i]);
    const int lo = hex_value(hex[i + 1]);
    if (hi < 0 || lo < 0) return false;
    out->push_back(static_cast<char>(hi * 16 + lo));
  }
  return true;
}

std::string hex_encode(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (const char ch : bytes) {
    const auto c = static_cast<unsigned char>(ch);
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 0xF]);
  }
  return out;
}

// Appends `s` as a JSON string. Valid UTF-8 passes through; a byte that is not part of a valid
// sequence becomes \u00XX, so the line is always valid JSON whatever the peer sent.
void json_string(std::string& out, std::string_view s) {
  static constexpr char kDigits[] = "0123456789abcdef";
  auto escape_byte = [&out](unsigned char c) {
    out += "\\u00";
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 0xF]);
  };
  out.push_back('"');
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      switch (c) {
        case '"':
          out += "\\\"";
          break;
        case '\\':
          out += "\\\\";
          break;
        case '\n':
          out += "\\n";
          break;
        case '\r':
          out += "\\r";
          break;
        case '\t':
          out += "\\t";
          break;
        default:
          if (c < 0x20 || c == 0x7f) {
            escape_byte(c);
          } else {
            out.push_back(static_cast<char>(c));
          }
      }
      ++i;
      continue;
    }
    const std::size_t len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
    if (len > 1 && i + len <= s.size() && tether::protocol::is_valid_utf8(s.substr(i, len))) {
      out.append(s.substr(i, len));
      i += len;
    } else {
      escape_byte(c);
      ++i;
    }
  }
  out.push_back('"');
}

// The longest prefix of valid UTF-8 `text` that is at most `max` bytes and ends on a code point.
std::string_view utf8_prefix(std::string_view text, std::size_t max) {
  if (text.size() <= max) return text;
  std::size_t len = max;
  while (len > 0 && (static_cast<unsigned char>(text[len]) & 0xC0) == 0x80) --len;
  return text.substr(0, len);
}

bool parse_size(const char* s, std::uint64_t* out) {
  char* end = nullptr;
  errno = 0;
  const unsigned long long v = std::strtoull(s, &end, 10);
  if (errno != 0 || end == s) return false;
  std::uint64_t mult = 1;
  if (*end == 'k' || *end == 'K') {
    mult = 1024;
    ++end;
  } else if (*end == 'm' || *end == 'M') {
    mult = 1024 * 1024;
    ++end;
  } else if (*end == 'g' || *end == 'G') {
    mult = 1024ull * 1024 * 1024;
    ++end;
  }
  if (*end != '\0') return false;
  *out = v * mult;
  return true;
}

const char* reason_phrase(long status) {
  switch (status) {
    case 101:
      return "Switching Protocols";
    case 200:
      return "OK";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 307:
      return "Temporary Redirect";
    case 308:
      return "Permanent Redirect";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 426:
      return "Upgrade Required";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    default:
      return "Status";
  }
}

// ------------------------------------------------------------------------------------------------
// Output buffer: contiguous bytes appended at the tail and consumed from the head. Memory is not
// zero-filled on growth (it is always written before it is read), which matters when millions of
// small frames are appended per second.

class Buffer {
 public:
  std::size_t size() const noexcept { return end_ - begin_; }
  bool empty() const noexcept { return end_ == begin_; }
  const std::uint8_t* data() const noexcept { return data_.get() + begin_; }

  /// Room for at least `n` more bytes at the tail; commit() what was written.
  std::uint8_t* reserve(std::size_t n) {
    if (capacity_ - end_ < n) make_room(n);
    return data_.get() + end_;
  }
  void commit(std::size_t n) noexcept { end_ += n; }
  void append(const void* p, std::size_t n) {
    if (n == 0) return;
    std::memcpy(reserve(n), p, n);
    commit(n);
  }
  void append(std::string_view s) { append(s.data(), s.size()); }

  void consume(std::size_t n) noexcept {
    begin_ += n;
    if (begin_ == end_) {
      begin_ = end_ = 0;
      // A burst (a big message) should not pin its memory for the connection's lifetime.
      if (capacity_ > kRetain) {
        data_.reset();
        capacity_ = 0;
      }
    }
  }

 private:
  static constexpr std::size_t kRetain = 8 * 1024 * 1024;
  static constexpr std::size_t kMinCapacity = 64 * 1024;

  void make_room(std::size_t n) {
    const std::size_t used = size();
    if (capacity_ - used >= n && used <= capacity_ / 2) {
      std::memmove(data_.get(), data_.get() + begin_, used);
    } else {
      const std::size_t capacity = std::max({capacity_ * 2, used + n, kMinCapacity});
      std::unique_ptr<std::uint8_t[]> bigger(new std::uint8_t[capacity]);
      if (used != 0) std::memcpy(bigger.get(), data_.get() + begin_, used);
      data_ = std::move(bigger);
      capacity_ = capacity;
    }
    begin_ = 0;
    end_ = used;
  }

  std::unique_ptr<std::uint8_t[]> data_;
  std::size_t capacity_ = 0;
  std::size_t begin_ = 0;
  std::size_t end_ = 0;
};

// ------------------------------------------------------------------------------------------------
// Configuration, event log, upgrade requests

struct Config {
  std::string host = "127.0.0.1";
  unsigned port = 0;
  std::size_t hwm = 4 * 1024 * 1024;
  std::uint64_t max_message = 64 * 1024 * 1024;
  int cpu = -1;
  std::string log_path;
  std::string tls_cert;
  std::string tls_key;
};

class EventLog {
 public:
  EventLog() = default;
  EventLog(const EventLog&) = delete;
  EventLog& operator=(const EventLog&) = delete;
  ~EventLog() {
    if (file_ != nullptr) std::fclose(file_);
  }

  bool open(const std::string& path) {
    file_ = std::fopen(path.c_str(), "a");
    return file_ != nullptr;
  }
  bool enabled() const noexcept { return file_ != nullptr; }

  /// Starts a line: {"conn":N,"event":"name"
  static std::string begin(std::uint64_t conn, const char* event) {
    std::string line = "{\"conn\":";
    line += std::to_string(conn);
    line += ",\"event\":\"";
    line += event;
    line += '"';
    return line;
  }
  /// Ends and writes a line; flushed so a test can read the file while the server runs.
  void write(std::string line) {
    line += "}\n";
    std::fwrite(line.data(), 1, line.size(), file_);
    std::fflush(file_);
  }

 private:
  std::FILE* file_ = nullptr;
};

void json_field(std::string& line, const char* name, std::string_view value) {
  line += ",\"";
  line += name;
  line += "\":";
  json_string(line, value);
}

void json_field(std::string& line, const char* name, std::uint64_t value) {
  line += ",\"";
  line += name;
  line += "\":";
  line += std::to_string(value);
}

void json_bool(std::string& line, const char* name, bool value) {
  line += ",\"";
  line += name;
  line += "\":";
  line += value ? "true" : "false";
}

class Query {
 public:
  void parse(std::string_view query) {
    while (!query.empty()) {
      const std::size_t amp = query.find('&');
      const std::string_view item = query.substr(0, amp);
      query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
      if (item.empty()) continue;
      const std::size_t eq = item.find('=');
      if (eq == std::string_view::npos) {
        items_.emplace_back(percent_decode(item), std::string());
      } else {
        items_.emplace_back(percent_decode(item.substr(0, eq)),
                            percent_decode(item.substr(eq + 1)));
      }
    }
  }

  const std::string* find(std::string_view key) const {
    for (const auto& item : items_) {
      if (item.first == key) return &item.second;
    }
    return nullptr;
  }
  std::string get(std::string_view key, std::string_view fallback = {}) const {
    const std::string* v = find(key);
    return v != nullptr ? *v : std::string(fallback);
  }
  std::vector<std::string> all(std::string_view key) const {
    std::vector<std::string> out;
    for (const auto& item : items_) {
      if (item.first == key) out.push_back(item.second);
    }
    return out;
  }
  long long number(std::string_view key, long long fallback) const {
    const std::string* v = find(key);
    if (v == nullptr || v->empty()) return fallback;
    char* end = nullptr;
    errno = 0;
    const long long n = std::strtoll(v->c_str(), &end, 10);
    return (errno != 0 || *end != '\0') ? fallback : n;
  }
  bool flag(std::string_view key) const {
    const std::string* v = find(key);
    return v != nullptr && (v->empty() || *v == "1" || *v == "true" || *v == "yes");
  }

 private:
  std::vector<std::pair<std::string, std::string>> items_;
};

struct Request {
  std::string method;
  std::string target;
  std::string version;
  std::string path;
  std::string query_string;
  Query query;
  std::vector<Header> headers;

  const Header* header(std::string_view name) const {
    for (const Header& h : headers) {
      if (tether::protocol::iequals(h.name, name)) return &h;
    }
    return nullptr;
  }
  std::size_t count(std::string_view name) const {
    return static_cast<std::size_t>(
        std::count_if(headers.begin(), headers.end(),
                      [&](const Header& h) { return tether::protocol::iequals(h.name, name); }));
  }
  /// Every value of a header that may be repeated, as one comma-separated list.
  std::string joined(std::string_view name) const {
    std::string out;
    for (const Header& h : headers) {
      if (!tether::protocol::iequals(h.name, name)) continue;
      if (!out.empty()) out += ", ";
      out += h.value;
    }
    return out;
  }
};

// `head` ends with the blank line.
bool parse_request(std::string_view head, Request* req, std::string* error) {
  std::size_t eol = head.find("\r\n");
  const std::string_view line = head.substr(0, eol);
  const std::size_t sp1 = line.find(' ');
  const std::size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos) {
    *error = "malformed request line: " + tether::protocol::escape_printable(line);
    return false;
  }
  req->method = std::string(line.substr(0, sp1));
  req->target = std::string(line.substr(sp1 + 1, sp2 - sp1 - 1));
  req->version = std::string(line.substr(sp2 + 1));
  if (req->target.empty() || req->target[0] != '/') {
    *error =
        "request target must start with '/': " + tether::protocol::escape_printable(req->target);
    return false;
  }
  const std::size_t qmark = req->target.find('?');
  req->path = req->target.substr(0, qmark);
  if (qmark != std::string::npos) req->query_string = req->target.substr(qmark + 1);
  req->query.parse(req->query_string);

  std::size_t pos = eol + 2;
  while (pos < head.size()) {
    eol = head.find("\r\n", pos);
    const std::string_view h = head.substr(pos, eol - pos);
    pos = eol + 2;
    if (h.empty()) break;
    const std::size_t colon = h.find(':');
    if (colon == std::string_view::npos || !tether::protocol::is_http_token(h.substr(0, colon))) {
      *error = "malformed header line: " + tether::protocol::escape_printable(h);
      return false;
    }
    req->headers.push_back(
        Header{std::string(h.substr(0, colon)), std::string(trim(h.substr(colon + 1)))});
  }
  return true;
}

bool is_valid_client_key(std::string_view key) {
  // base64 of 16 bytes: 22 significant characters and "==".
  if (key.size() != 24 || key.substr(22) != "==") return false;
  return std::all_of(key.begin(), key.begin() + 22, [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/';
  });
}

std::vector<std::string> split_list(std::string_view list) {
  std::vector<std::string> out;
  while (!list.empty()) {
    const std::size_t comma = list.find(',');
    const std::string_view item = trim(list.substr(0, comma));
    if (!item.empty()) out.emplace_back(item);
    list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
  }
  return out;
}

// /app: the scenario's options. False (with the reason) when a value is not understood.
bool parse_app_config(const Query& q, AppConfig* config, std::string* error) {
  auto count = [&q](const char* key) {
    return static_cast<std::uint64_t>(std::max(0LL, q.number(key, 0)));
  };
  auto millis = [&q](const char* key) {
    return std::chrono::milliseconds(std::max(0LL, q.number(key, 0)));
  };
  config->tokens = q.all("token");
  const std::string via = q.get("auth_via", "message");
  if (via == "message") {
    config->auth_via = AppConfig::AuthVia::message;
  } else if (via == "header") {
    config->auth_via = AppConfig::AuthVia::header;
  } else if (via == "query") {
    config->auth_via = AppConfig::AuthVia::query;
  } else {
    *error = "auth_via must be message, header or query";
    return false;
  }
  if (const std::string* token = q.find("access_token")) config->access_token = *token;
  if (q.get("reject", "error") != "error") {
    const long long code = q.number("reject", -1);
    if (code < 1000 || code > 4999) {
      *error = "reject must be error or a close code from 1000 to 4999";
      return false;
    }
    config->reject_close_code = static_cast<std::uint16_t>(code);
  }
  config->auth_noanswer = q.flag("auth_noanswer");
  config->deny = q.all("deny");
  config->echo = q.flag("echo");
  if (q.find("stream") != nullptr) config->stream = count("stream");
  config->stream_on_open = q.flag("stream_on_open");
  config->overlap = count("overlap");
  config->drop_at = count("drop_at");
  config->interval = millis("interval_ms");
  config->request_delay = millis("request_delay_ms");
  return true;
}

// ------------------------------------------------------------------------------------------------
// Connections

enum class Phase {
  tls_handshake,  // waiting for SSL_accept
  request,        // reading the upgrade request
  discard,        // no WebSocket: input is read and dropped
  frames,         // WebSocket: input goes through the decoder
};

// What to do once the output buffer has been written out completely.
enum class AfterFlush {
  none,
  shutdown,  // FIN (and TLS close_notify), then read until the peer closes (2 s at most)
  close,     // close the socket
  reset,     // close with SO_LINGER {1, 0}: an RST
  drop,      // discard unread input (so the close sends a FIN, not an RST), then close the socket
};

enum class TimerKind {
  start_close,
  go_silent,
  drop,
  trickle,
  drip,
  close_wait,
  drain,
  accept_resume,
  app
};

class Conn;

class Server {
 public:
  explicit Server(Config config) : config_(std::move(config)) {}
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;
  ~Server();

  int run();

  const Config& config() const noexcept { return config_; }
  EventLog& log() noexcept { return log_; }
  std::uint8_t* read_buffer() noexcept { return read_buffer_.get(); }
  int epoll_fd() const noexcept { return epoll_fd_; }

  void schedule(std::uint64_t conn, Clock::duration delay, TimerKind kind) {
    timers_.push(Timer{Clock::now() + delay, conn, kind});
  }
  /// Asks the loop to call Conn::on_readable() soon: data may be buffered inside OpenSSL, where
  /// epoll cannot see it.
  void schedule_read(std::uint64_t conn) { ready_.push_back(conn); }
  /// The connection is dead; it is freed once the current loop iteration is over.
  void retire(std::uint64_t conn) { graveyard_.push_back(conn); }

 private:
  struct Timer {
    Clock::time_point at;
    std::uint64_t conn;
    TimerKind kind;
    bool operator>(const Timer& other) const { return at > other.at; }
  };

  bool setup();
  bool setup_tls();
  void accept_all();
  void set_listening(bool on);
  int next_timeout_ms() const;
  void fire_timers();

  Config config_;
  EventLog log_;
  std::unique_ptr<std::uint8_t[]> read_buffer_{new std::uint8_t[kReadBufferSize]};
  int epoll_fd_ = -1;
  int listen_fd_ = -1;
  int signal_fd_ = -1;
  SSL_CTX* tls_ = nullptr;
  bool running_ = true;
  bool listening_ = true;
  bool stopping_ = false;  // the first SIGTERM/SIGINT: going away gracefully
  Clock::time_point stop_deadline_{};
  std::uint64_t next_id_ = 1;
  std::unordered_map<std::uint64_t, std::unique_ptr<Conn>> conns_;
  std::priority_queue<Timer, std::vector<Timer>, std::greater<Timer>> timers_;
  std::vector<std::uint64_t> ready_;
  std::vector<std::uint64_t> graveyard_;
  // Addresses identifying the non-connection descriptors in epoll_event.data.ptr.
  char listen_tag_ = 0;
  char signal_tag_ = 0;
};

class Conn final : public FrameSink {
 public:
  Conn(Server& server, std::uint64_t id, int fd, SSL* ssl)
      : server_(server),
        id_(id),
        fd_(fd),
        ssl_(ssl),
        phase_(ssl != nullptr ? Phase::tls_handshake : Phase::request),
        decoder_(DecoderOptions{Role::server, server.config().max_message}) {}
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;
  ~Conn() override {
    if (ssl_ != nullptr) SSL_free(ssl_);
    if (fd_ >= 0) ::close(fd_);
  }

  std::uint32_t initial_events() const noexcept { return events_; }
  bool dead() const noexcept { return dead_; }

  void on_event(std::uint32_t events);
  void on_readable();
  void on_timer(TimerKind kind);
  /// The server is stopping: a WebSocket gets a close frame (1001 "going away") and is read until
  /// the client's close frame; anything else is closed at once.
  void go_away();

  // FrameSink
  void on_message(Opcode op, std::string_view payload) override;
  void on_ping(std::string_view payload) override;
  void on_pong(std::string_view payload) override;
  void on_close(std::uint16_t code, std::string_view reason) override;

 private:
  bool log_on() const noexcept { return server_.log().enabled(); }
  bool reading() const noexcept { return !dead_ && read_enabled_ && !paused_; }
  bool may_send_data() const noexcept { return !dead_ && write_allowed_ && !close_sent_; }

  void tls_handshake();
  void read_plain();
  void read_tls();
  void on_bytes(const std::uint8_t* data, std::size_t n);
  void on_request_bytes(const std::uint8_t* data, std::size_t n);
  void feed(const std::uint8_t* data, std::size_t n);
  void on_eof();

  void handle_request();
  void respond(long status, std::string_view reason, const std::vector<std::string>& headers,
               std::string_view body);
  void reject(const char* error, long status, const std::string& message,
              const std::vector<std::string>& headers = {});
  std::string accept_head(const Request& req, std::size_t filler_bytes) const;
  std::string defective_head(const Request& req) const;
  bool start_app(const Request& req);
  void start_scenario(const Request& req, std::string frames);
  void go_silent();
  void release_input();

  void put_frame(Opcode op, bool fin, std::string_view payload);
  void put_close(std::uint16_t code, std::string_view reason);
  void echo(Opcode op, std::string_view payload);
  void apply_app(AppOutput out);
  void write_app_log(const LogEvent& event);
  void discard_input();
  void top_up();
  void flush();
  bool write_plain();
  bool write_tls();
  void after_flush();
  void begin_drain();
  void update_interest();

  void log_error(const char* error, const std::string& message);
  void io_error(const char* what, int err);
  void tls_error(const char* what);
  void kill(const char* by, bool rst = false);

  Server& server_;
  const std::uint64_t id_;
  int fd_;
  SSL* ssl_;
  Phase phase_;
  std::uint32_t events_ = EPOLLIN;
  std::uint32_t tls_handshake_events_ = EPOLLIN;
  bool dead_ = false;

  std::string request_;
  FrameDecoder decoder_;
  Buffer out_;
  AfterFlush after_flush_ = AfterFlush::none;

  bool read_enabled_ = true;   // false once silent
  bool paused_ = false;        // output over the high-water mark
  bool write_allowed_ = true;  // false once silent or read-only
  bool echo_data_ = true;
  bool answer_control_ = true;  // pongs and close replies
  bool close_sent_ = false;
  bool close_received_ = false;
  bool draining_ = false;
  const char* closed_by_ = "client";  // who started the end of the connection
  bool tls_read_wants_write_ = false;
  bool tls_write_wants_read_ = false;

  // Scenario parameters.
  std::size_t frag_ = 0;
  bool ping_each_fragment_ = false;
  std::uint16_t close_code_ = tether::protocol::close_code::normal;
  std::string close_reason_;
  bool rst_ = false;
  bool hold_input_ = false;  // input is stashed until the trickled 101 is complete
  std::string stash_;
  std::string trickle_;
  std::size_t trickle_pos_ = 0;
  Clock::duration trickle_interval_{};
  // /frames with byte_ms: the scripted bytes, written one per interval; `then=close` waits for
  // the last one.
  std::string drip_;
  std::size_t drip_pos_ = 0;
  Clock::duration drip_interval_{};
  bool close_after_drip_ = false;
  // /pings: pings still to push before reading starts.
  std::uint64_t pings_left_ = 0;
  std::string ping_payload_;
  bool pings_pending_ = false;
  std::uint64_t send_left_ = 0;
  std::uint64_t send_index_ = 0;
  Opcode send_op_ = Opcode::text;
  std::string send_template_;
  std::unique_ptr<AppScenario> app_;
};

// ------------------------------------------------------------------------------------------------
// Conn: events and reading

void Conn::on_event(std::uint32_t events) {
  if (dead_) return;
  if (phase_ == Phase::tls_handshake) {
    tls_handshake();
    return;
  }
  const bool hangup = (events & (EPOLLERR | EPOLLHUP | EPOLLRDHUP)) != 0;
  if (!read_enabled_ && hangup) {
    // A silent connection notices only that the peer went away.
    kill("client");
    return;
  }
  // Input first, even on an error or hang-up: the client's last frames (a close frame before an
  // RST) are still queued in the socket and belong in the log.
  if ((events & EPOLLIN) != 0 || hangup) {
    if (reading()) {
      on_readable();
    } else if ((events & (EPOLLERR | EPOLLHUP)) != 0) {
      int err = 0;
      socklen_t len = sizeof(err);
      ::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0) {
        io_error("socket", err);
      } else {
        kill("client");
      }
    }
    if (dead_) return;
  }
  if ((events & EPOLLOUT) != 0 || (tls_write_wants_read_ && (events & EPOLLIN) != 0)) {
    tls_write_wants_read_ = false;
    if (tls_read_wants_write_) {
      tls_read_wants_write_ = false;
      on_readable();
      if (dead_) return;
    }
    flush();
  }
}

void Conn::on_readable() {
  if (!reading()) return;
  if (ssl_ != nullptr) {
    read_tls();
  } else {
    read_plain();
  }
}

void Conn::read_plain() {
  std::uint8_t* buf = server_.read_buffer();
  for (int round = 0; round < kReadRounds && reading(); ++round) {
    const ssize_t n = ::recv(fd_, buf, kReadBufferSize, 0);
    if (n > 0) {
      on_bytes(buf, static_cast<std::size_t>(n));
      if (dead_) return;
      flush();
      if (static_cast<std::size_t>(n) < kReadBufferSize) return;
      continue;
    }
    if (n == 0) {
      on_eof();
      return;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return;
    io_error("recv", errno);
    return;
  }
}

void Conn::read_tls() {
  std::uint8_t* buf = server_.read_buffer();
  for (int round = 0; round < kReadRounds && reading(); ++round) {
    std::size_t len = 0;
    int result = SSL_ERROR_NONE;
    while (len < kReadBufferSize) {
      ERR_clear_error();
      const int n = SSL_read(ssl_, buf + len, static_cast<int>(kReadBufferSize - len));
      if (n > 0) {
        len += static_cast<std::size_t>(n);
        continue;
      }
      result = SSL_get_error(ssl_, n);
      break;
    }
    if (len > 0) {
      on_bytes(buf, len);
      if (dead_) return;
      flush();
      if (dead_) return;
    }
    switch (result) {
      case SSL_ERROR_NONE:
        continue;  // the buffer filled up; there may be more
      case SSL_ERROR_WANT_READ:
        return;
      case SSL_ERROR_WANT_WRITE:
        tls_read_wants_write_ = true;
        update_interest();
        return;
      case SSL_ERROR_ZERO_RETURN:
        on_eof();
        return;
      default:
        tls_error("SSL_read");
        return;
    }
  }
  // Stopped for fairness or backpressure with records possibly buffered inside OpenSSL.
  if (reading() && SSL_has_pending(ssl_) == 1) server_.schedule_read(id_);
}

void Conn::tls_handshake() {
  ERR_clear_error();
  const int r = SSL_accept(ssl_);
  if (r == 1) {
    phase_ = Phase::request;
    update_interest();
    on_readable();
    return;
  }
  const int err = SSL_get_error(ssl_, r);
  if (err == SSL_ERROR_WANT_READ) {
    tls_handshake_events_ = EPOLLIN;
  } else if (err == SSL_ERROR_WANT_WRITE) {
    tls_handshake_events_ = EPOLLOUT;
  } else {
    tls_error("TLS handshake");
    return;
  }
  update_interest();
}

void Conn::on_bytes(const std::uint8_t* data, std::size_t n) {
  switch (phase_) {
    case Phase::request:
      on_request_bytes(data, n);
      break;
    case Phase::frames:
      if (hold_input_) {
        stash_.append(reinterpret_cast<const char*>(data), n);
      } else {
        feed(data, n);
      }
      break;
    case Phase::discard:
    case Phase::tls_handshake:
      break;
  }
}

void Conn::feed(const std::uint8_t* data, std::size_t n) {
  if (decoder_.failed() || n == 0) return;
  if (decoder_.feed(data, n, *this) || dead_) return;
  const DecodeError& e = decoder_.error();
  if (log_on()) {
    std::string line = EventLog::begin(id_, "error");
    json_field(line, "error", tether::to_string(e.code));
    json_field(line, "close_code", e.close_code);
    json_field(line, "message", e.message);
    server_.log().write(std::move(line));
  }
  if (write_allowed_ && !draining_) {
    if (!close_sent_) put_close(e.close_code, e.message);
    close_sent_ = true;
    closed_by_ = "server";
    after_flush_ = AfterFlush::shutdown;
  }
}

void Conn::on_eof() {
  if (phase_ == Phase::request) {
    log_error("eof_in_request", "the client closed the connection after " +
                                    std::to_string(request_.size()) +
                                    " bytes of an incomplete upgrade request");
  }
  kill(draining_ ? closed_by_ : "client");
}

// ------------------------------------------------------------------------------------------------
// Conn: the upgrade request and the scenarios

void Conn::on_request_bytes(const std::uint8_t* data, std::size_t n) {
  const std::size_t old = request_.size();
  request_.append(reinterpret_cast<const char*>(data), n);
  const std::size_t end = request_.find("\r\n\r\n", old >= 3 ? old - 3 : 0);
  if (end == std::string::npos || end + 4 > kMaxRequestBytes) {
    if (request_.size() > kMaxRequestBytes || end != std::string::npos) {
      reject("request_too_large", 431,
             "the upgrade request exceeds " + std::to_string(kMaxRequestBytes) + " bytes");
      std::string().swap(request_);
    }
    return;
  }
  std::string rest = request_.substr(end + 4);
  request_.resize(end + 4);
  handle_request();
  std::string().swap(request_);
  if (!dead_ && phase_ == Phase::frames && !rest.empty()) {
    on_bytes(reinterpret_cast<const std::uint8_t*>(rest.data()), rest.size());
  }
}

void Conn::log_error(const char* error, const std::string& message) {
  if (!log_on()) return;
  std::string line = EventLog::begin(id_, "error");
  json_field(line, "error", error);
  json_field(line, "message", message);
  server_.log().write(std::move(line));
}

void Conn::respond(long status, std::string_view reason, const std::vector<std::string>& headers,
                   std::string_view body) {
  std::string head = "HTTP/1.1 " + std::to_string(status) + " ";
  head.append(reason);
  head += "\r\n";
  bool has_length = false;
  for (const std::string& h : headers) {
    head += h;
    head += "\r\n";
    if (lower(h.substr(0, h.find(':'))) == "content-length") has_length = true;
  }
  if (!has_length) head += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  head += "\r\n";
  out_.append(head);
  out_.append(body);
  phase_ = Phase::discard;
  closed_by_ = "server";
  after_flush_ = AfterFlush::shutdown;
}

void Conn::reject(const char* error, long status, const std::string& message,
                  const std::vector<std::string>& headers) {
  log_error(error, message);
  std::vector<std::string> all = headers;
  all.emplace_back("Content-Type: text/plain");
  all.emplace_back("Connection: close");
  respond(status, reason_phrase(status), all, message + "\n");
  flush();
}

std::string Conn::accept_head(const Request& req, std::size_t filler_bytes) const {
  std::string head =
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Accept: ";
  head += tether::protocol::compute_accept_key(req.header("Sec-WebSocket-Key")->value);
  head += "\r\n";
  std::string protocol;
  if (const std::string* forced = req.query.find("protocol_force")) {
    protocol = *forced;
  } else if (const std::string* wanted = req.query.find("protocol")) {
    for (const std::string& offered : split_list(req.joined("Sec-WebSocket-Protocol"))) {
      if (offered == *wanted) protocol = offered;
    }
  }
  if (!protocol.empty()) head += "Sec-WebSocket-Protocol: " + protocol + "\r\n";
  for (int i = 0; head.size() <= filler_bytes; ++i) {
    char name[32];
    std::snprintf(name, sizeof(name), "X-Filler-%05d: ", i);
    head += name;
    head.append(100, 'x');
    head += "\r\n";
  }
  head += "\r\n";
  return head;
}

// reply101: a 101 with the defects the query asks for. For each header: "omit" leaves it out,
// "bad" puts a wrong value, anything else is sent verbatim.
std::string Conn::defective_head(const Request& req) const {
  const Query& q = req.query;
  std::string head = "HTTP/" + q.get("http", "1.1") + " 101 Switching Protocols\r\n";
  auto add = [&head, &q](const char* key, const char* name, const std::string& good,
                         const char* bad) {
    const std::string* v = q.find(key);
    if (v == nullptr) {
      head += std::string(name) + ": " + good + "\r\n";
    } else if (*v == "omit") {
      return;
    } else if (*v == "bad") {
      head += std::string(name) + ": " + bad + "\r\n";
    } else {
      head += std::string(name) + ": " + *v + "\r\n";
    }
  };
  add("upgrade", "Upgrade", "websocket", "h2c");
  add("connection", "Connection", "Upgrade", "keep-alive");
  const std::string wrong_accept = tether::protocol::compute_accept_key("not the client's key");
  add("accept", "Sec-WebSocket-Accept",
      tether::protocol::compute_accept_key(req.header("Sec-WebSocket-Key")->value),
      wrong_accept.c_str());
  if (const std::string* p = q.find("protocol")) head += "Sec-WebSocket-Protocol: " + *p + "\r\n";
  if (const std::string* e = q.find("extensions")) {
    head += "Sec-WebSocket-Extensions: " + *e + "\r\n";
  }
  for (const std::string& h : q.all("extra_header")) head += h + "\r\n";
  head += "\r\n";
  return head;
}

void Conn::handle_request() {
  Request req;
  std::string error;
  if (!parse_request(request_, &req, &error)) {
    reject("bad_request", 400, error);
    return;
  }
  if (log_on()) {
    std::string line = EventLog::begin(id_, "open");
    json_field(line, "path", req.path);
    json_field(line, "query", req.query_string);
    json_field(line, "target", req.target);
    line += ",\"headers\":{";
    std::vector<std::string> seen;
    for (const Header& h : req.headers) {
      std::string name = lower(h.name);
      if (std::find(seen.begin(), seen.end(), name) != seen.end()) continue;
      if (!seen.empty()) line += ',';
      json_string(line, name);
      line += ':';
      json_string(line, req.joined(name));
      seen.push_back(std::move(name));
    }
    line += '}';
    server_.log().write(std::move(line));
  }

  // The SDK's request must be a valid upgrade whatever the scenario: a test of a broken server
  // must not hide a broken client.
  const Header* upgrade = req.header("Upgrade");
  const Header* connection = req.header("Connection");
  const Header* version = req.header("Sec-WebSocket-Version");
  const Header* key = req.header("Sec-WebSocket-Key");
  if (req.method != "GET") return reject("bad_request", 405, "the method must be GET");
  if (req.version != "HTTP/1.1") return reject("bad_request", 400, "the version must be HTTP/1.1");
  if (req.header("Host") == nullptr) return reject("bad_request", 400, "no Host header");
  if (upgrade == nullptr ||
      !tether::protocol::header_has_token(req.joined("Upgrade"), "websocket")) {
    return reject("bad_request", 400, "no 'Upgrade: websocket' header");
  }
  if (connection == nullptr ||
      !tether::protocol::header_has_token(req.joined("Connection"), "upgrade")) {
    return reject("bad_request", 400, "no 'upgrade' token in the Connection header");
  }
  if (version == nullptr || version->value != "13" || req.count("Sec-WebSocket-Version") != 1) {
    return reject("bad_request", 426, "Sec-WebSocket-Version must be 13",
                  {"Sec-WebSocket-Version: 13"});
  }
  if (key == nullptr || req.count("Sec-WebSocket-Key") != 1 || !is_valid_client_key(key->value)) {
    return reject("bad_request", 400, "missing, repeated or malformed Sec-WebSocket-Key");
  }

  const std::string& path = req.path;
  if (path == "/app" && !start_app(req)) return;
  const Query& q = req.query;
  std::string frames;
  if (path == "/rawreply" || path == "/frames") {
    if (!hex_decode(q.get("hex"), &frames)) {
      return reject("bad_request", 400, "the hex parameter is not an even number of hex digits");
    }
  }

  if (path == "/status") {
    const long status = static_cast<long>(q.number("code", 403));
    const std::string reason = q.get("reason", reason_phrase(status));
    respond(status, reason, q.all("header"), q.get("body"));
  } else if (path == "/noanswer") {
    phase_ = Phase::discard;
  } else if (path == "/rawreply") {
    out_.append(frames);
    phase_ = Phase::discard;
    if (q.flag("close")) {
      closed_by_ = "server";
      after_flush_ = AfterFlush::shutdown;
    }
  } else if (path == "/garbage") {
    std::uint8_t bytes[64];
    tether::protocol::CsprngSource().fill(bytes, sizeof(bytes));
    // Never a prefix of "HTTP/": the client must see a non-HTTP reply at once.
    if (bytes[0] == 'H') bytes[0] = 0x00;
    out_.append(bytes, sizeof(bytes));
    phase_ = Phase::discard;
  } else {
    std::string head;
    if (path == "/reply101") {
      head = defective_head(req);
    } else if (path == "/bigheaders") {
      head = accept_head(req, static_cast<std::size_t>(std::max(0LL, q.number("bytes", 32768))));
    } else {
      head = accept_head(req, 0);
    }
    phase_ = Phase::frames;
    if (path == "/trickle") {
      trickle_ = std::move(head);
      trickle_interval_ = std::chrono::milliseconds(std::max(0LL, q.number("interval_ms", 10)));
      hold_input_ = true;
      server_.schedule(id_, Clock::duration::zero(), TimerKind::trickle);
    } else {
      out_.append(head);
    }
    start_scenario(req, std::move(frames));
  }
  flush();
}

void Conn::start_scenario(const Request& req, std::string frames) {
  const std::string& path = req.path;
  const Query& q = req.query;
  frag_ = static_cast<std::size_t>(std::max(0LL, q.number("frag", 0)));
  ping_each_fragment_ = q.flag("ping");
  auto after = [&q](const char* key) {
    return std::chrono::milliseconds(std::max(0LL, q.number(key, 0)));
  };

  if (path == "/close") {
    echo_data_ = q.flag("echo");
    close_code_ =
        static_cast<std::uint16_t>(q.number("code", tether::protocol::close_code::normal));
    close_reason_ = q.get("reason");
    server_.schedule(id_, after("after_ms"), TimerKind::start_close);
  } else if (path == "/silent") {
    go_silent();
  } else if (path == "/silent_after") {
    server_.schedule(id_, after("ms"), TimerKind::go_silent);
  } else if (path == "/drop") {
    rst_ = q.flag("rst");
    if (q.number("after_ms", 0) <= 0) {
      after_flush_ = rst_ ? AfterFlush::reset : AfterFlush::close;
      closed_by_ = "server";
    } else {
      server_.schedule(id_, after("after_ms"), TimerKind::drop);
    }
  } else if (path == "/frames") {
    const std::string then = q.get("then", "silent");
    const bool drip = q.find("byte_ms") != nullptr && !frames.empty();
    if (drip) {
      drip_ = std::move(frames);
      drip_interval_ = after("byte_ms");
      server_.schedule(id_, Clock::duration::zero(), TimerKind::drip);
    } else {
      out_.append(frames);
    }
    if (then == "silent") {
      go_silent();
    } else if (then == "read") {
      echo_data_ = false;
      answer_control_ = false;
      write_allowed_ = false;
    } else if (then == "close") {
      write_allowed_ = false;
      if (drip) {
        close_after_drip_ = true;
      } else {
        closed_by_ = "server";
        after_flush_ = AfterFlush::shutdown;
      }
    }
  } else if (path == "/pings") {
    pings_left_ = static_cast<std::uint64_t>(std::max(0LL, q.number("count", 1000)));
    ping_payload_.assign(static_cast<std::size_t>(std::clamp(
                             q.number("size", 125), 0LL,
                             static_cast<long long>(tether::protocol::kMaxControlPayload))),
                         'p');
    pings_pending_ = true;
    read_enabled_ = false;  // nothing is read (the pongs back up) until every ping is out
    // A small fixed receive buffer: the client's pongs back up after 64 KiB instead of filling
    // an autotuned buffer of many megabytes.
    const int rcvbuf = 64 * 1024;
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
  } else if (path == "/send") {
    send_left_ = static_cast<std::uint64_t>(std::max(0LL, q.number("count", 1)));
    send_op_ = q.get("kind", "text") == "binary" ? Opcode::binary : Opcode::text;
    const auto size = static_cast<std::size_t>(std::max(0LL, q.number("size", 16)));
    send_template_.resize(size);
    for (std::size_t i = 0; i < size; ++i) send_template_[i] = static_cast<char>('a' + i % 26);
  } else if (path == "/app") {
    echo_data_ = false;
    apply_app(app_->on_open(Clock::now()));
  }
}

// /app: the scenario object, and the header or query auth of the upgrade. False when the request
// has been answered with an error instead.
bool Conn::start_app(const Request& req) {
  AppConfig config;
  std::string error;
  if (!parse_app_config(req.query, &config, &error)) {
    reject("bad_request", 400, error);
    return false;
  }
  config.log_requests = log_on();
  app_ = std::make_unique<AppScenario>(std::move(config));
  AppOutput out;
  const Header* authorization = req.header("Authorization");
  const std::string value = authorization != nullptr ? req.joined("Authorization") : std::string();
  const auto verdict = app_->on_upgrade(authorization != nullptr ? &value : nullptr, out);
  for (const LogEvent& event : out.logs) write_app_log(event);
  if (verdict.status == 0) return true;
  reject("auth_rejected", verdict.status, verdict.message, verdict.headers);
  return false;
}

void Conn::go_away() {
  if (dead_) return;
  if (phase_ != Phase::frames || !read_enabled_ || !write_allowed_ || draining_) {
    kill("server");
    return;
  }
  if (close_sent_) return;  // already closing: the handshake finishes as it is
  close_code_ = 1001;
  close_reason_ = "going away";
  on_timer(TimerKind::start_close);
}

void Conn::go_silent() {
  read_enabled_ = false;
  write_allowed_ = false;
  paused_ = false;
  update_interest();
}

void Conn::release_input() {
  hold_input_ = false;
  std::string input = std::move(stash_);
  stash_.clear();
  feed(reinterpret_cast<const std::uint8_t*>(input.data()), input.size());
}

void Conn::on_timer(TimerKind kind) {
  if (dead_) return;
  switch (kind) {
    case TimerKind::start_close: {
      if (close_sent_ || draining_ || !write_allowed_) return;
      // Built by hand rather than with encode_close_frame so a test can script any code and a
      // reason of any length (even one that makes the frame invalid).
      std::string payload;
      if (close_code_ != tether::protocol::close_code::no_status) {
        payload.push_back(static_cast<char>(close_code_ >> 8));
        payload.push_back(static_cast<char>(close_code_ & 0xFF));
        payload += close_reason_;
      }
      put_frame(Opcode::close, true, payload);
      close_sent_ = true;
      closed_by_ = "server";
      server_.schedule(id_, kCloseWait, TimerKind::close_wait);
      break;
    }
    case TimerKind::go_silent:
      go_silent();
      break;
    case TimerKind::drop:
      closed_by_ = "server";
      kill("server", rst_);
      return;
    case TimerKind::trickle:
      if (trickle_pos_ < trickle_.size()) out_.append(&trickle_[trickle_pos_++], 1);
      if (trickle_pos_ < trickle_.size()) {
        server_.schedule(id_, trickle_interval_, TimerKind::trickle);
      } else {
        std::string().swap(trickle_);
        release_input();
      }
      break;
    case TimerKind::drip:
      // Written even once silent or read-only: the script is what the server sends.
      if (drip_pos_ < drip_.size()) out_.append(&drip_[drip_pos_++], 1);
      if (drip_pos_ < drip_.size()) {
        server_.schedule(id_, drip_interval_, TimerKind::drip);
      } else {
        std::string().swap(drip_);
        if (close_after_drip_) {
          closed_by_ = "server";
          after_flush_ = AfterFlush::shutdown;
        }
      }
      break;
    case TimerKind::close_wait:
      if (close_received_ || draining_) return;
      log_error("close_timeout", "no close frame from the client within 2 s");
      kill("server");
      return;
    case TimerKind::drain:
      kill(closed_by_);
      return;
    case TimerKind::accept_resume:
      return;
    case TimerKind::app:
      if (app_ != nullptr) apply_app(app_->on_timer(Clock::now()));
      if (dead_) return;
      break;
  }
  flush();
}

// ------------------------------------------------------------------------------------------------
// Conn: frames in (FrameSink) and out

void Conn::on_message(Opcode op, std::string_view payload) {
  if (dead_) return;
  if (log_on()) {
    std::string line = EventLog::begin(id_, "message");
    json_field(line, "kind", op == Opcode::text ? "text" : "binary");
    json_field(line, "bytes", payload.size());
    if (op == Opcode::text) {
      json_field(line, "text", utf8_prefix(payload, kLogTextBytes));
    } else {
      json_field(line, "hex", hex_encode(payload.substr(0, kLogHexBytes)));
    }
    server_.log().write(std::move(line));
  }
  if (app_ != nullptr) {
    apply_app(op == Opcode::text ? app_->on_text(payload, Clock::now()) : app_->on_binary(payload));
    return;
  }
  if (echo_data_ && may_send_data()) echo(op, payload);
}

void Conn::on_ping(std::string_view payload) {
  if (dead_) return;
  if (log_on()) {
    std::string line = EventLog::begin(id_, "ping");
    json_field(line, "bytes", payload.size());
    json_field(line, "payload", payload);
    json_field(line, "hex", hex_encode(payload));
    server_.log().write(std::move(line));
  }
  if (answer_control_ && may_send_data()) put_frame(Opcode::pong, true, payload);
}

void Conn::on_pong(std::string_view payload) {
  if (dead_ || !log_on()) return;
  std::string line = EventLog::begin(id_, "pong");
  json_field(line, "bytes", payload.size());
  json_field(line, "payload", payload);
  json_field(line, "hex", hex_encode(payload));
  server_.log().write(std::move(line));
}

void Conn::on_close(std::uint16_t code, std::string_view reason) {
  if (dead_) return;
  close_received_ = true;
  if (log_on()) {
    std::string line = EventLog::begin(id_, "close");
    json_field(line, "code", code);
    json_field(line, "reason", reason);
    server_.log().write(std::move(line));
  }
  if (draining_) return;
  if (close_sent_) {
    // The client answered our close: the server ends the TCP connection.
    after_flush_ = AfterFlush::shutdown;
  } else if (answer_control_ && write_allowed_) {
    put_close(code, reason);
    close_sent_ = true;
    closed_by_ = "client";
    after_flush_ = AfterFlush::shutdown;
  }
}

void Conn::put_frame(Opcode op, bool fin, std::string_view payload) {
  std::uint8_t* p = out_.reserve(tether::protocol::kMaxFrameHeader + payload.size());
  const std::size_t h = tether::protocol::write_frame_header(p, op, fin, payload.size(), nullptr);
  if (!payload.empty()) std::memcpy(p + h, payload.data(), payload.size());
  out_.commit(h + payload.size());
}

void Conn::put_close(std::uint16_t code, std::string_view reason) {
  std::string frame;
  tether::protocol::encode_close_frame(frame, code, reason, nullptr);
  out_.append(frame);
}

void Conn::echo(Opcode op, std::string_view payload) {
  if (frag_ != 0 && payload.size() > frag_) {
    for (std::size_t offset = 0; offset < payload.size(); offset += frag_) {
      if (ping_each_fragment_) put_frame(Opcode::ping, true, "p");
      const std::string_view part = payload.substr(offset, frag_);
      put_frame(offset == 0 ? op : Opcode::continuation, offset + part.size() == payload.size(),
                part);
    }
    return;
  }
  if (ping_each_fragment_) put_frame(Opcode::ping, true, "p");
  if (ssl_ != nullptr || !out_.empty() || payload.size() < kDirectSendMin) {
    put_frame(op, true, payload);
    return;
  }
  // Nothing queued: hand the payload to the kernel from the decoder's buffer and copy only what
  // the socket did not take.
  std::uint8_t header[tether::protocol::kMaxFrameHeader];
  const std::size_t h =
      tether::protocol::write_frame_header(header, op, true, payload.size(), nullptr);
  iovec iov[2];
  iov[0].iov_base = header;
  iov[0].iov_len = h;
  iov[1].iov_base = const_cast<char*>(payload.data());
  iov[1].iov_len = payload.size();
  msghdr msg{};
  msg.msg_iov = iov;
  msg.msg_iovlen = 2;
  ssize_t n = ::sendmsg(fd_, &msg, MSG_NOSIGNAL);
  if (n < 0) {
    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
      io_error("send", errno);
      return;
    }
    n = 0;
  }
  auto sent = static_cast<std::size_t>(n);
  if (sent < h) {
    out_.append(header + sent, h - sent);
    sent = h;
  }
  out_.append(payload.substr(sent - h));
}

// /app: logs the scenario's events, then does what it asked for.
void Conn::apply_app(AppOutput out) {
  for (const LogEvent& event : out.logs) write_app_log(event);
  for (const auto& action : out.actions) {
    if (dead_) return;
    using Kind = tether::test_server::AppAction::Kind;
    switch (action.kind) {
      case Kind::text:
      case Kind::binary:
        if (may_send_data()) {
          echo(action.kind == Kind::text ? Opcode::text : Opcode::binary, action.payload);
        }
        break;
      case Kind::close:
        if (!may_send_data()) break;
        put_close(action.code, action.payload);
        close_sent_ = true;
        closed_by_ = "server";
        server_.schedule(id_, kCloseWait, TimerKind::close_wait);
        break;
      case Kind::drop:
        if (draining_) break;
        write_allowed_ = false;
        closed_by_ = "server";
        after_flush_ = AfterFlush::drop;
        break;
    }
  }
  for (const auto delay : out.timers) server_.schedule(id_, delay, TimerKind::app);
}

void Conn::write_app_log(const LogEvent& event) {
  if (!log_on()) return;
  std::string line = EventLog::begin(id_, event.event);
  for (const LogField& field : event.fields) {
    switch (field.kind) {
      case LogField::Kind::string:
        json_field(line, field.name, field.text);
        break;
      case LogField::Kind::number:
        json_field(line, field.name, field.number);
        break;
      case LogField::Kind::boolean:
        json_bool(line, field.name, field.flag);
        break;
      case LogField::Kind::json:
        line += ",\"";
        line += field.name;
        line += "\":";
        line += field.text;
        break;
    }
  }
  server_.log().write(std::move(line));
}

// Reads and drops what the client sent and the server has not read, so that closing the socket
// sends a FIN after the queued output instead of an RST that could destroy it.
void Conn::discard_input() {
  std::uint8_t* buf = server_.read_buffer();
  for (int round = 0; round < kReadRounds; ++round) {
    const ssize_t n = ::recv(fd_, buf, kReadBufferSize, MSG_DONTWAIT);
    if (n > 0) continue;
    if (n < 0 && errno == EINTR) continue;
    return;
  }
}

// /send: tops the output buffer up with generated messages, never past the high-water mark, so a
// push of any size streams at the pace the client reads.
void Conn::top_up() {
  const std::size_t hwm = server_.config().hwm;
  while (pings_left_ > 0 && out_.size() < hwm && may_send_data()) {
    put_frame(Opcode::ping, true, ping_payload_);
    if (--pings_left_ == 0) put_frame(Opcode::text, true, "done");
  }
  while (send_left_ > 0 && out_.size() < hwm && may_send_data()) {
    const std::size_t size = send_template_.size();
    std::uint8_t* p = out_.reserve(tether::protocol::kMaxFrameHeader + size);
    const std::size_t h = tether::protocol::write_frame_header(p, send_op_, true, size, nullptr);
    std::memcpy(p + h, send_template_.data(), size);
    char prefix[32];
    const int len = std::snprintf(prefix, sizeof(prefix), "%llu ",
                                  static_cast<unsigned long long>(send_index_));
    std::memcpy(p + h, prefix, std::min(size, static_cast<std::size_t>(len)));
    out_.commit(h + size);
    ++send_index_;
    --send_left_;
  }
  if (app_ != nullptr) {
    const auto now = Clock::now();
    while (out_.size() < hwm && may_send_data()) {
      AppOutput out;
      if (!app_->pull_stream(now, out)) break;
      apply_app(std::move(out));
    }
  }
}

void Conn::flush() {
  if (dead_) return;
  for (;;) {
    top_up();
    if (out_.empty()) break;
    const bool blocked = ssl_ != nullptr ? write_tls() : write_plain();
    if (dead_) return;
    if (blocked) break;
  }
  const std::size_t hwm = server_.config().hwm;
  if (!paused_ && out_.size() > hwm) {
    paused_ = true;
  } else if (paused_ && out_.size() <= hwm / 2) {
    paused_ = false;
    if (ssl_ != nullptr) server_.schedule_read(id_);
  }
  if (out_.empty() && after_flush_ != AfterFlush::none) {
    after_flush();
    if (dead_) return;
  }
  if (pings_pending_ && pings_left_ == 0 && out_.empty()) {
    // Every ping is out: from now on the client's pongs are read (and logged).
    pings_pending_ = false;
    read_enabled_ = true;
  }
  update_interest();
}

// Returns true when the socket cannot take more now.
bool Conn::write_plain() {
  while (!out_.empty()) {
    const ssize_t n = ::send(fd_, out_.data(), out_.size(), MSG_NOSIGNAL);
    if (n > 0) {
      out_.consume(static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
    io_error("send", n < 0 ? errno : EPIPE);
    return true;
  }
  return false;
}

bool Conn::write_tls() {
  while (!out_.empty()) {
    const std::size_t len = std::min(out_.size(), kTlsWriteChunk);
    ERR_clear_error();
    const int n = SSL_write(ssl_, out_.data(), static_cast<int>(len));
    if (n > 0) {
      out_.consume(static_cast<std::size_t>(n));
      continue;
    }
    const int err = SSL_get_error(ssl_, n);
    if (err == SSL_ERROR_WANT_WRITE) return true;
    if (err == SSL_ERROR_WANT_READ) {
      tls_write_wants_read_ = true;
      return true;
    }
    tls_error("SSL_write");
    return true;
  }
  return false;
}

void Conn::after_flush() {
  const AfterFlush what = after_flush_;
  after_flush_ = AfterFlush::none;
  switch (what) {
    case AfterFlush::none:
      break;
    case AfterFlush::shutdown:
      begin_drain();
      break;
    case AfterFlush::close:
      kill("server");
      break;
    case AfterFlush::reset:
      kill("server", true);
      break;
    case AfterFlush::drop:
      discard_input();
      kill("server");
      break;
  }
}

// The server closes first (RFC 6455 7.1.1) but keeps reading until the client closes too, so
// the client's last bytes never turn the close into an RST; 2 s at most.
void Conn::begin_drain() {
  if (draining_) return;
  draining_ = true;
  write_allowed_ = false;
  read_enabled_ = true;
  paused_ = false;
  if (std::string_view(closed_by_) != "client") closed_by_ = "server";
  if (ssl_ != nullptr) {
    ERR_clear_error();
    SSL_shutdown(ssl_);
  }
  ::shutdown(fd_, SHUT_WR);
  server_.schedule(id_, kCloseWait, TimerKind::drain);
  if (ssl_ != nullptr) server_.schedule_read(id_);
}

void Conn::update_interest() {
  if (dead_) return;
  std::uint32_t events = 0;
  if (phase_ == Phase::tls_handshake) {
    events = tls_handshake_events_;
  } else {
    if (reading() || tls_write_wants_read_) events |= EPOLLIN;
    if (!read_enabled_) events |= EPOLLRDHUP;
    if ((!out_.empty() && !tls_write_wants_read_) || tls_read_wants_write_) events |= EPOLLOUT;
  }
  if (events == events_) return;
  epoll_event ev{};
  ev.events = events;
  ev.data.ptr = this;
  ::epoll_ctl(server_.epoll_fd(), EPOLL_CTL_MOD, fd_, &ev);
  events_ = events;
}

void Conn::io_error(const char* what, int err) {
  // A peer resetting or vanishing is a client-side end, not a server error; log it all the same
  // so a test can tell an RST from an orderly close.
  log_error("io", std::string(what) + ": " + std::strerror(err));
  kill(draining_ ? closed_by_ : "client");
}

void Conn::tls_error(const char* what) {
  std::string message = what;
  const unsigned long code = ERR_get_error();
  if (code != 0) {
    char text[256];
    ERR_error_string_n(code, text, sizeof(text));
    message += ": ";
    message += text;
  } else if (errno != 0) {
    message += ": ";
    message += std::strerror(errno);
  }
  ERR_clear_error();
  log_error(phase_ == Phase::tls_handshake ? "tls_handshake" : "tls", message);
  kill(draining_ ? closed_by_ : "client");
}

void Conn::kill(const char* by, bool rst) {
  if (dead_) return;
  dead_ = true;
  if (rst) {
    linger lg{};
    lg.l_onoff = 1;
    lg.l_linger = 0;
    ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
  }
  if (ssl_ != nullptr) {
    SSL_free(ssl_);
    ssl_ = nullptr;
  }
  ::close(fd_);
  fd_ = -1;
  if (log_on()) {
    std::string line = EventLog::begin(id_, "disconnect");
    json_field(line, "by", by);
    json_bool(line, "close_received", close_received_);
    json_bool(line, "close_sent", close_sent_);
    json_bool(line, "rst", rst);
    server_.log().write(std::move(line));
  }
  server_.retire(id_);
}

// ------------------------------------------------------------------------------------------------
// Server

Server::~Server() {
  conns_.clear();
  if (tls_ != nullptr) SSL_CTX_free(tls_);
  if (listen_fd_ >= 0) ::close(listen_fd_);
  if (signal_fd_ >= 0) ::close(signal_fd_);
  if (epoll_fd_ >= 0) ::close(epoll_fd_);
}

bool Server::setup_tls() {
  tls_ = SSL_CTX_new(TLS_server_method());
  if (tls_ == nullptr) return false;
  SSL_CTX_set_min_proto_version(tls_, TLS1_2_VERSION);
  SSL_CTX_set_mode(tls_, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  // A TCP close without close_notify reads as end of stream, like a plain socket.
  SSL_CTX_set_options(tls_, SSL_OP_IGNORE_UNEXPECTED_EOF);
  SSL_CTX_set_read_ahead(tls_, 1);
  SSL_CTX_set_default_read_buffer_len(tls_, kReadBufferSize);
  if (SSL_CTX_use_certificate_chain_file(tls_, config_.tls_cert.c_str()) != 1 ||
      SSL_CTX_use_PrivateKey_file(tls_, config_.tls_key.c_str(), SSL_FILETYPE_PEM) != 1 ||
      SSL_CTX_check_private_key(tls_) != 1) {
    char text[256];
    ERR_error_string_n(ERR_get_error(), text, sizeof(text));
    std::fprintf(stderr, "tether_test_server: cannot load the TLS certificate or key: %s\n", text);
    return false;
  }
  return true;
}

bool Server::setup() {
  if (!config_.log_path.empty() && !log_.open(config_.log_path)) {
    std::fprintf(stderr, "tether_test_server: cannot open %s: %s\n", config_.log_path.c_str(),
                 std::strerror(errno));
    return false;
  }
  if (!config_.tls_cert.empty() && !setup_tls()) return false;

  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV;
  addrinfo* addrs = nullptr;
  const std::string port = std::to_string(config_.port);
  if (const int rc = ::getaddrinfo(config_.host.c_str(), port.c_str(), &hints, &addrs); rc != 0) {
    std::fprintf(stderr, "tether_test_server: bad --host %s: %s\n", config_.host.c_str(),
                 gai_strerror(rc));
    return false;
  }
  listen_fd_ = ::socket(addrs->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  const int one = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  const bool bound = listen_fd_ >= 0 &&
                     ::bind(listen_fd_, addrs->ai_addr, addrs->ai_addrlen) == 0 &&
                     ::listen(listen_fd_, 4096) == 0;
  ::freeaddrinfo(addrs);
  if (!bound) {
    std::fprintf(stderr, "tether_test_server: cannot listen on %s:%u: %s\n", config_.host.c_str(),
                 config_.port, std::strerror(errno));
    return false;
  }
  sockaddr_storage local{};
  socklen_t local_len = sizeof(local);
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&local), &local_len);
  const unsigned bound_port = local.ss_family == AF_INET6
                                  ? ntohs(reinterpret_cast<const sockaddr_in6*>(&local)->sin6_port)
                                  : ntohs(reinterpret_cast<const sockaddr_in*>(&local)->sin_port);

  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  ::sigprocmask(SIG_BLOCK, &signals, nullptr);
  signal_fd_ = ::signalfd(-1, &signals, SFD_NONBLOCK | SFD_CLOEXEC);
  epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  if (signal_fd_ < 0 || epoll_fd_ < 0) {
    std::perror("tether_test_server: signalfd/epoll");
    return false;
  }
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.ptr = &listen_tag_;
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, listen_fd_, &ev);
  ev.data.ptr = &signal_tag_;
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, signal_fd_, &ev);

  // The first SHA-1 loads OpenSSL's configuration and providers (milliseconds): done now, so a
  // freshly started server answers its first upgrade as fast as the next ones.
  (void)tether::protocol::compute_accept_key("dGhlIHNhbXBsZSBub25jZQ==");

  std::printf("LISTENING %u\n", bound_port);
  std::fflush(stdout);
  return true;
}

void Server::set_listening(bool on) {
  if (listening_ == on) return;
  listening_ = on;
  epoll_event ev{};
  ev.events = on ? static_cast<std::uint32_t>(EPOLLIN) : 0u;
  ev.data.ptr = &listen_tag_;
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, listen_fd_, &ev);
}

void Server::accept_all() {
  for (;;) {
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        // Out of descriptors: stop accepting for a moment instead of spinning on the listener.
        std::fprintf(stderr, "tether_test_server: accept: %s\n", std::strerror(errno));
        set_listening(false);
        schedule(0, kAcceptRetry, TimerKind::accept_resume);
      }
      return;
    }
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    SSL* ssl = nullptr;
    if (tls_ != nullptr) {
      ssl = SSL_new(tls_);
      SSL_set_fd(ssl, fd);
      SSL_set_accept_state(ssl);
    }
    const std::uint64_t id = next_id_++;
    auto conn = std::make_unique<Conn>(*this, id, fd, ssl);
    epoll_event ev{};
    ev.events = conn->initial_events();
    ev.data.ptr = conn.get();
    if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) != 0) continue;  // conn closes fd
    conns_.emplace(id, std::move(conn));
  }
}

int Server::next_timeout_ms() const {
  if (!ready_.empty()) return 0;
  if (timers_.empty()) return -1;
  const auto left = timers_.top().at - Clock::now();
  if (left <= Clock::duration::zero()) return 0;
  // Round up: waking early would only spin until the deadline.
  return static_cast<int>(std::chrono::ceil<std::chrono::milliseconds>(left).count());
}

void Server::fire_timers() {
  const auto now = Clock::now();
  while (!timers_.empty() && timers_.top().at <= now) {
    const Timer timer = timers_.top();
    timers_.pop();
    if (timer.kind == TimerKind::accept_resume) {
      if (!stopping_) set_listening(true);
      continue;
    }
    const auto it = conns_.find(timer.conn);
    if (it != conns_.end()) it->second->on_timer(timer.kind);
  }
}

int Server::run() {
  if (!setup()) return 1;
  epoll_event events[256];
  while (running_) {
    const int n = ::epoll_wait(epoll_fd_, events, 256, next_timeout_ms());
    if (n < 0 && errno != EINTR) {
      std::perror("tether_test_server: epoll_wait");
      return 1;
    }
    for (int i = 0; i < n; ++i) {
      void* tag = events[i].data.ptr;
      if (tag == &listen_tag_) {
        accept_all();
      } else if (tag == &signal_tag_) {
        signalfd_siginfo info{};
        while (::read(signal_fd_, &info, sizeof info) == static_cast<ssize_t>(sizeof info)) {
        }
        if (stopping_) {
          running_ = false;  // a second signal: at once
        } else {
          // Go away gracefully: every WebSocket is closed with 1001 and read until the client's
          // close frame (2 s at most), so nothing the client sent before it is lost.
          stopping_ = true;
          stop_deadline_ = Clock::now() + std::chrono::milliseconds(2500);
          set_listening(false);
          for (auto& [id, conn] : conns_) conn->go_away();
        }
      } else {
        static_cast<Conn*>(tag)->on_event(events[i].events);
      }
    }
    std::vector<std::uint64_t> ready;
    ready.swap(ready_);
    for (const std::uint64_t id : ready) {
      const auto it = conns_.find(id);
      if (it != conns_.end()) it->second->on_readable();
    }
    fire_timers();
    for (const std::uint64_t id : graveyard_) conns_.erase(id);
    graveyard_.clear();
    if (stopping_ && (conns_.empty() || Clock::now() >= stop_deadline_)) running_ = false;
  }
  return 0;
}

// ------------------------------------------------------------------------------------------------

void usage() {
  std::fprintf(stderr,
               "usage: tether_test_server [--host ADDR] [--port N] [--hwm BYTES] "
               "[--max-message BYTES] [--cpu N] [--log FILE] [--tls-cert FILE --tls-key FILE]\n");
}

}  // namespace

int main(int argc, char** argv) {
  Config config;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      usage();
      return 0;
    }
    if (i + 1 >= argc) {
      usage();
      return 2;
    }
    const char* value = argv[++i];
    std::uint64_t n = 0;
    bool ok = true;
    if (arg == "--host") {
      config.host = value;
    } else if (arg == "--port") {
      ok = parse_size(value, &n) && n <= 65535;
      config.port = static_cast<unsigned>(n);
    } else if (arg == "--hwm") {
      ok = parse_size(value, &n) && n > 0;
      config.hwm = static_cast<std::size_t>(n);
    } else if (arg == "--max-message") {
      ok = parse_size(value, &n);
      config.max_message = n;
    } else if (arg == "--cpu") {
      ok = parse_size(value, &n) && n < CPU_SETSIZE;
      config.cpu = static_cast<int>(n);
    } else if (arg == "--log") {
      config.log_path = value;
    } else if (arg == "--tls-cert") {
      config.tls_cert = value;
    } else if (arg == "--tls-key") {
      config.tls_key = value;
    } else {
      ok = false;
    }
    if (!ok) {
      std::fprintf(stderr, "tether_test_server: bad option %s %s\n", argv[i - 1], value);
      usage();
      return 2;
    }
  }
  if (config.tls_cert.empty() != config.tls_key.empty()) {
    std::fprintf(stderr, "tether_test_server: --tls-cert and --tls-key go together\n");
    return 2;
  }
  if (config.cpu >= 0) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(config.cpu, &set);
    if (::sched_setaffinity(0, sizeof(set), &set) != 0) {
      std::perror("tether_test_server: sched_setaffinity");
      return 1;
    }
  }
  // Thousands of concurrent connections need more than the usual 1024 descriptors.
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &limit);
  }
  // OpenSSL writes to the socket with write(2); a peer gone away must not kill the process.
  ::signal(SIGPIPE, SIG_IGN);

  Server server(std::move(config));
  return server.run();
}
