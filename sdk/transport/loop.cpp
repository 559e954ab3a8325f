#include "transport/loop.hpp"

#include <libwebsockets.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "transport/resolver.hpp"

namespace tether::transport {

namespace {

// lws's log level and function are process-wide; the most recent loop's settings apply.
std::mutex g_log_mutex;
LogFunction g_log;

void lws_log_bridge(int level, const char* line) {
  std::lock_guard<std::mutex> lock(g_log_mutex);
  if (!g_log) return;
  std::string text(line ? line : "");
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  LogLevel mapped = level & LLL_ERR      ? LogLevel::error
                    : level & LLL_WARN   ? LogLevel::warning
                    : level & LLL_NOTICE ? LogLevel::notice
                                         : LogLevel::debug;
  g_log(mapped, "libwebsockets: " + text);
}

int to_lws_levels(int mask) {
  int levels = 0;
  if (mask & static_cast<int>(LogLevel::error)) levels |= LLL_ERR;
  if (mask & static_cast<int>(LogLevel::warning)) levels |= LLL_WARN;
  if (mask & static_cast<int>(LogLevel::notice)) levels |= LLL_NOTICE;
  if (mask & static_cast<int>(LogLevel::debug)) levels |= LLL_INFO;
  return levels;
}

// Disables lws's own validity pings on raw sockets (tether runs its own heartbeat).
const uint32_t kRetryTable[] = {1000};
const lws_retry_bo_t kNoLwsPing = {kRetryTable, 1, 1, 0, 0, 0};

}  // namespace

struct LoopCallbacks {
  static int callback(lws* wsi, lws_callback_reasons reason, void* /*user*/, void* in, size_t len);
};

int LoopCallbacks::callback(lws* wsi, lws_callback_reasons reason, void* /*user*/, void* in,
                            size_t len) {
  switch (reason) {
    case LWS_CALLBACK_EVENT_WAIT_CANCELLED: {
      // Sent to every protocol of every vhost; an empty inbox is harmless.
      // Called while lws services the descriptors, after poll(2) returned.
      auto* loop = static_cast<Loop*>(lws_context_user(lws_get_context(wsi)));
      if (loop) loop->drain_inbox();
      return 0;
    }
    case LWS_CALLBACK_RAW_CONNECTED:
    case LWS_CALLBACK_RAW_RX:
    case LWS_CALLBACK_RAW_WRITEABLE:
    case LWS_CALLBACK_RAW_CLOSE:
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR: {
      auto* socket = static_cast<RawSocket*>(lws_get_opaque_user_data(wsi));
      if (!socket || socket->wsi_ != wsi) return 0;
      RawSocketHandler* handler = socket->handler_;
      if (reason == LWS_CALLBACK_RAW_CLOSE || reason == LWS_CALLBACK_CLIENT_CONNECTION_ERROR) {
        // A close may come from an lws timeout, run before poll(2): posts from it wake the loop.
        Loop::DispatchScope scope(*socket->loop_, Loop::PostWake::wake);
        const bool was_connected = socket->connected_;
        std::string why;
        if (reason == LWS_CALLBACK_CLIENT_CONNECTION_ERROR && in && len) {
          why.assign(static_cast<const char*>(in), strnlen(static_cast<const char*>(in), len));
        }
        lws_set_opaque_user_data(wsi, nullptr);
        socket->wsi_ = nullptr;
        socket->handler_ = nullptr;
        socket->connected_ = false;
        if (handler) handler->on_socket_closed(was_connected, why);
        return 0;
      }
      if (socket->close_requested_) return -1;
      // Data, writability and connects come from servicing a descriptor after poll(2) returned;
      // the loop drains the inbox before it polls again, so posts from here need no wake-up.
      Loop::DispatchScope scope(*socket->loop_, Loop::PostWake::covered);
      socket->in_callback_ = true;
      if (reason == LWS_CALLBACK_RAW_CONNECTED) {
        socket->connected_ = true;
        handler->on_socket_connected();
      } else if (reason == LWS_CALLBACK_RAW_RX) {
        handler->on_socket_data(static_cast<const std::uint8_t*>(in), len);
      } else if (socket->connected_) {
        handler->on_socket_writable();
      }
      // The handler may have been destroyed by its own callback only through close(), which
      // sets close_requested_ on this (still valid) socket object first.
      if (socket->wsi_ == wsi) socket->in_callback_ = false;
      return socket->close_requested_ ? -1 : 0;
    }
    default:
      return 0;
  }
}

namespace {
const lws_protocols kProtocols[] = {
    {"tether-raw", LoopCallbacks::callback, 0, 0, 0, nullptr, 0},
    {nullptr, nullptr, 0, 0, 0, nullptr, 0},
};
}  // namespace

long RawSocket::send(const std::uint8_t* data, std::size_t n, int& error) {
  const std::string_view part(reinterpret_cast<const char*>(data), n);
  return send(&part, 1, error);
}

long RawSocket::send(const std::string_view* parts, std::size_t count, int& error) {
  error = 0;
  if (!wsi_) {
    error = ENOTCONN;
    return -1;
  }
  iovec pieces[kMaxParts];
  std::size_t n = 0;
  for (std::size_t i = 0; i < count && n < kMaxParts; ++i) {
    if (parts[i].empty()) continue;
    pieces[n].iov_base = const_cast<char*>(parts[i].data());
    pieces[n].iov_len = parts[i].size();
    ++n;
  }
  msghdr message{};
  message.msg_iov = pieces;
  message.msg_iovlen = n;
  const int fd = lws_get_socket_fd(wsi_);
  for (;;) {
    // One piece (the common case) goes through send(2); several through sendmsg(2).
    const ssize_t sent =
        n == 1 ? ::send(fd, pieces[0].iov_base, pieces[0].iov_len, MSG_DONTWAIT | MSG_NOSIGNAL)
               : ::sendmsg(fd, &message, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (sent >= 0) return static_cast<long>(sent);
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
    error = errno;
    return -1;
  }
}

long RawSocket::recv(std::uint8_t* data, std::size_t n) {
  if (!wsi_) return -1;
  const int fd = lws_get_socket_fd(wsi_);
  for (;;) {
    const ssize_t got = ::recv(fd, data, n, MSG_DONTWAIT);
    if (got > 0) return static_cast<long>(got);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return 0;
    return -1;  // the end of the stream, or an error
  }
}

void RawSocket::request_writable() {
  if (wsi_) lws_callback_on_writable(wsi_);
}

void RawSocket::close() {
  if (!wsi_ || close_requested_) return;
  close_requested_ = true;
  if (in_callback_) return;  // the callback returns -1
  lws_set_timeout(wsi_, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_SYNC);
}

Loop::Loop(LoopOptions options) : options_(std::move(options)) {
  {
    std::lock_guard<std::mutex> lock(g_log_mutex);
    g_log = options_.log;
  }
  // Set before creating the context, or lws prints its banner to stderr.
  lws_set_log_level(options_.log ? to_lws_levels(options_.log_levels) : 0,
                    options_.log ? lws_log_bridge : nullptr);

  lws_context_creation_info info;
  std::memset(&info, 0, sizeof info);
  info.port = CONTEXT_PORT_NO_LISTEN;
  info.protocols = kProtocols;
  info.user = this;
  // Bigger reads: a RAW_RX delivers at most pt_serv_buf_size - LWS_PRE bytes.
  info.pt_serv_buf_size = 256 * 1024;
  // Port 0 means "no proxy": stops lws from routing raw sockets through $http_proxy.
  info.http_proxy_address = "0.0.0.0:0";
  info.retry_and_idle_policy = &kNoLwsPing;
  info.timeout_secs = 3600;  // tether runs its own millisecond connect timer
  info.connect_timeout_secs = 3600;
  context_ = lws_create_context(&info);
  if (!context_) throw std::runtime_error("tether: lws_create_context failed");
  resolver_ = std::make_unique<Resolver>(*this);
  if (options_.own_thread) {
    thread_ = std::thread([this] { run_thread(); });
    loop_thread_id_ = thread_.get_id();
  } else {
    loop_thread_id_ = std::this_thread::get_id();
  }
}

Loop::~Loop() {
  resolver_.reset();
  if (thread_.joinable()) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
      lws_cancel_service(context_);
    }
    thread_.join();
  }
  // Tasks posted during shutdown still run, so owners can release what they hold.
  drain_inbox();
  lws_context* context = nullptr;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    context = context_;
    context_ = nullptr;
  }
  lws_context_destroy(context);
  drain_inbox();
}

void Loop::run_thread() {
  for (;;) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (stopping_) break;
    }
    // Runs what the last turn's callbacks posted without a wake-up, one batch per turn: tasks
    // that keep posting tasks share the thread with the sockets and timers.
    drain_inbox();
    // lws 4.1.6 polls with a zero timeout for a negative argument and blocks (until a socket, a
    // timer or lws_cancel_service) for any other: a non-empty inbox must not wait for an event.
    lws_service(context_, inbox_empty() ? 0 : -1);
  }
}

void Loop::post(std::function<void()> task) {
  // No-thread mode: poll() drains the inbox before it services and never blocks, so the thread
  // calling it needs no wake-up. Own thread: see DispatchScope.
  const bool covered = on_loop_thread() && (!options_.own_thread || dispatch_ == PostWake::covered);
  std::lock_guard<std::mutex> lock(mutex_);
  // A non-empty inbox already has a wake-up on its way, or a drain before the loop next blocks:
  // one lws_cancel_service per batch at most.
  const bool wake = inbox_.empty() && !covered;
  inbox_.push_back(std::move(task));
  if (wake && context_) lws_cancel_service(context_);
}

bool Loop::inbox_empty() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return inbox_.empty();
}

bool Loop::on_loop_thread() const noexcept {
  return std::this_thread::get_id() == loop_thread_id_.load(std::memory_order_relaxed);
}

std::size_t Loop::drain_inbox() {
  std::size_t ran = 0;
  // Tasks may post more tasks: those run in the next batch, which the loop takes before it
  // blocks (run_thread, poll()) or on the wake-up that came with them.
  DispatchScope scope(*this, PostWake::covered);
  std::vector<std::function<void()>> tasks;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    tasks.swap(inbox_);
  }
  for (auto& task : tasks) {
    task();
    ++ran;
  }
  return ran;
}

std::size_t Loop::poll() {
  loop_thread_id_.store(std::this_thread::get_id(), std::memory_order_relaxed);
  std::size_t ran = drain_inbox();
  // -1: poll() with a zero timeout (a timeout >= 0 is ignored by 4.1.6 and blocks).
  lws_service(context_, -1);
  ran += drain_inbox();
  return ran;
}

bool Loop::connect(RawSocket& socket, const std::string& ip, std::uint16_t port,
                   RawSocketHandler* handler, std::string& error) {
  lws_client_connect_info ci;
  std::memset(&ci, 0, sizeof ci);
  ci.context = context_;
  ci.address = ip.c_str();
  ci.port = port;
  ci.host = ip.c_str();
  ci.method = "RAW";
  ci.local_protocol_name = kProtocols[0].name;
  ci.opaque_user_data = &socket;
  ci.retry_and_idle_policy = &kNoLwsPing;
  socket.handler_ = handler;
  socket.loop_ = this;
  socket.close_requested_ = false;
  socket.connected_ = false;
  socket.in_callback_ = false;
  // lws may call back (even CONNECTION_ERROR) inside the connect call; wsi_ must be set first so
  // the callback recognises the socket: pwsi is filled before any callback.
  ci.pwsi = &socket.wsi_;
  lws* wsi = lws_client_connect_via_info(&ci);
  if (!wsi) {
    // A NULL return means no callback will come; pwsi may point at a freed wsi.
    const bool already_reported = socket.handler_ == nullptr;
    socket.wsi_ = nullptr;
    socket.handler_ = nullptr;
    if (already_reported) return true;
    error = "could not start a connection to " + ip;
    return false;
  }
  return true;
}

Resolver& Loop::resolver() {
  return *resolver_;
}

void Loop::log(LogLevel level, const std::string& line) const {
  if (options_.log && (options_.log_levels & static_cast<int>(level))) options_.log(level, line);
}

// --- Timer
// ----------------------------------------------------------------------------------------

struct Timer::Sul {
  lws_sorted_usec_list_t sul;
  Timer* owner;
};

Timer::Timer(Loop& loop) : loop_(loop), sul_(std::make_unique<Sul>()) {
  std::memset(&sul_->sul, 0, sizeof sul_->sul);
  sul_->owner = this;
}

Timer::~Timer() {
  cancel();
}

void Timer::start(std::chrono::microseconds delay, std::function<void()> fire) {
  cancel();
  fire_ = std::move(fire);
  armed_ = true;
  lws_sul_schedule(
      loop_.context(), 0, &sul_->sul,
      [](lws_sorted_usec_list_t* s) {
        auto* holder = lws_container_of(s, Sul, sul);
        Timer* timer = holder->owner;
        // Timers run inside lws_service before it polls: posts from here must wake the loop.
        Loop::DispatchScope scope(timer->loop_, Loop::PostWake::wake);
        timer->armed_ = false;
        auto callback = std::move(timer->fire_);
        timer->fire_ = nullptr;
        if (callback) callback();
      },
      delay.count() < 0 ? 0 : static_cast<lws_usec_t>(delay.count()));
}

void Timer::cancel() {
  if (armed_ && loop_.context()) lws_sul_cancel(&sul_->sul);
  armed_ = false;
  fire_ = nullptr;
}

}  // namespace tether::transport
