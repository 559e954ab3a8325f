#pragma once

/// \file options.hpp
/// Everything a Client can be told, with the defaults of the CLI contract.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "tether/codec.hpp"
#include "tether/state.hpp"

namespace tether {

/// TLS settings for `wss://` URLs. Verification (chain and host name) is on by default.
struct TlsOptions {
  /// PEM bundle trusted in addition to the system store. A file that is missing or unreadable
  /// makes Client::start() fail with `invalid_argument`.
  std::string ca_file;
  /// Client certificate chain and key (PEM) for mutual TLS.
  std::string client_cert_file;
  /// The private key of `client_cert_file` (PEM, not encrypted); empty when that file holds
  /// the key too.
  std::string client_key_file;
  /// Accept any server certificate (chain and host name are not checked). Use only for
  /// testing.
  bool insecure = false;
};

/// Reconnection with exponential backoff and jitter. For retry number `attempt` (1, 2, ... within
/// one outage): base = min(max, initial * multiplier^(attempt-1)), delay = base * (1 - jitter * U)
/// with U uniform in [0, 1). The cap applies before the jitter, so the jitter survives at the cap.
struct ReconnectOptions {
  /// Reconnect at all. false: every "reconnect" decision becomes "fail".
  bool enabled = true;
  /// The base delay of retry 1.
  std::chrono::milliseconds initial{500};
  double multiplier = 2.0;  ///< >= 1
  /// The cap on the base delay (applied before the jitter).
  std::chrono::milliseconds max{30000};
  double jitter = 0.5;  ///< 0..1; 1 = full jitter in [0, base]
  int max_retries = -1;  ///< Retries per outage; -1 = forever.
  /// A connection must stay ready this long before the attempt counter resets.
  std::chrono::milliseconds min_uptime{5000};
  /// Overrides the default policy (see default_reconnect_decision); may call it.
  std::function<ReconnectDecision(const Cause&)> should_reconnect;
};

/// Dead-connection detection.
struct HeartbeatOptions {
  /// A ping goes out whenever nothing has been received for this long; 0 = off.
  std::chrono::milliseconds ping_interval{20000};
  /// No frame within this long after a ping: the connection is dead (`heartbeat_timeout`).
  std::chrono::milliseconds pong_timeout{10000};
  /// Application-level heartbeat for servers that ignore control frames: when not empty, this
  /// text message is sent instead of a protocol ping...
  std::string app_ping;
  /// ...and a text message equal to this one counts as its answer (and is not delivered).
  std::string app_pong;
};

/// Answers one token request: the token, or std::nullopt when there is none to give.
using TokenReply = std::function<void(std::optional<std::string> token)>;
/// Asked for a token before every connection attempt. `refresh` is true when the server rejected
/// the previous token: give a fresh one, or std::nullopt to give up (the client fails with
/// `auth_rejected`). Call `reply` exactly once, from any thread, now or later; the attempt waits
/// for it (within AuthOptions::timeout). Runs where callbacks run (ClientOptions::callback_mode).
using TokenProvider = std::function<void(bool refresh, TokenReply reply)>;

/// What the first-message auth request carries (AuthOptions::build_message).
struct AuthRequestInfo {
  std::string id;     ///< The request id; the server's response carries it back.
  std::string token;  ///< From AuthOptions::token or the token provider.
  /// With ResumeOptions::enabled: the last sequence number seen, once one has been seen.
  std::optional<std::uint64_t> resume_from;
};

/// Authentication on every (re)open. The token comes from `token_provider` (asked before each
/// attempt) or, without one, is the fixed `token`. It travels in any combination of a handshake
/// header, a URL query parameter and a first message; with a token and none of the three,
/// Client::start() fails with `invalid_argument`.
///
/// Rejection (an error response to the auth request, close code 4001/4003, or HTTP 401/403 on the
/// upgrade) asks the provider once for a fresh token (`refresh = true`) and reconnects at once; a
/// second rejection in a row, or a rejection with no provider, ends in `failed` with
/// `auth_rejected`. No response within `timeout` closes with 1000 "auth timeout" and reconnects
/// per the reconnect policy.
struct AuthOptions {
  std::string token;             ///< A fixed token, used when `token_provider` is empty.
  TokenProvider token_provider;  ///< Asked before every attempt (async).
  std::string header;            ///< A handshake header carrying the token, e.g. "Authorization"...
  std::string header_prefix = "Bearer ";  ///< ...with this before the token.
  std::string query_parameter;   ///< A URL query parameter carrying the token, e.g. "access_token".
  /// Send an auth request as the first message of every connection and hold everything else
  /// back (state `authenticating`) until its response: `{"id":ID,"payload":...}` is success,
  /// `{"id":ID,"error":...}` is a rejection.
  bool first_message = false;
  /// Builds the auth request; default `{"type":"auth","id":ID,"payload":{"token":T}}` (plus
  /// `"resume_from":N` in the payload when resuming).
  std::function<std::string(const AuthRequestInfo&)> build_message;
  /// The token provider's answer, and then the auth response, must arrive within this; 0 = no
  /// limit.
  std::chrono::milliseconds timeout{10000};

  /// True when there is a token or a token provider: auth is on.
  bool enabled() const noexcept { return !token.empty() || static_cast<bool>(token_provider); }
};

/// What to do with a message that does not fit in the outbound queue.
enum class OverflowPolicy {
  reject,       ///< Refuse it: send() returns `queue_full` (and a dropped event reports it).
  drop_oldest,  ///< Evict the oldest waiting messages (dropped: overflow) to make room.
  drop_newest,  ///< Accept it and drop it at once (dropped: overflow).
};

/// The outbound queue: every message accepted by send() and not yet taken by the socket, while
/// the client is not ready (connecting, authenticating, waiting to reconnect) or the socket is
/// not writable.
struct QueueOptions {
  /// Messages waiting (or being written); at least 1.
  std::size_t max_messages = 10000;
  std::size_t max_bytes = 16u * 1024 * 1024;  ///< Payload bytes.
  /// What to do with a message that does not fit.
  OverflowPolicy overflow = OverflowPolicy::reject;
  /// How long a message may wait before it is dropped (ttl); 0 = no limit. SendOptions::ttl
  /// overrides it per message.
  std::chrono::milliseconds ttl{0};
};

/// What a subscribe or unsubscribe request carries (SubscriptionOptions::build_message).
struct SubscribeRequestInfo {
  /// The request id; the server's response carries it back.
  std::string id;
  /// The channel.
  std::string channel;
  bool subscribe = true;  ///< false: unsubscribe.
  /// With ResumeOptions::enabled and no first-message auth: the last sequence number seen.
  std::optional<std::uint64_t> resume_from;
};

/// Subscriptions (Client::subscribe): how their requests are built.
struct SubscriptionOptions {
  /// Builds the request; default `{"type":"subscribe","id":ID,"payload":{"channel":C}}` (or
  /// "unsubscribe"; plus `"resume_from":N` in the payload when resuming).
  std::function<std::string(const SubscribeRequestInfo&)> build_message;
};

/// Resume after reconnect: the client remembers the highest sequence number seen on inbound
/// messages (a top-level unsigned integer field), sends it on every reconnect so the server can
/// replay what was missed, and drops inbound messages whose sequence number it has already seen.
/// The server contract is in docs/delivery.md.
struct ResumeOptions {
  /// Remember sequence numbers, send them back on reconnect, drop duplicates.
  bool enabled = false;
  std::string seq_field = "seq";             ///< The inbound field holding the sequence number.
  std::string resume_field = "resume_from";  ///< The request payload field that carries it back.
  bool drop_duplicates = true;               ///< Drop inbound messages with a seen sequence number.
};

/// Where callbacks run.
enum class CallbackMode {
  loop_thread,  ///< On the runtime's loop thread, as events happen (default).
  poll,         ///< Queued; run by Client::poll() on the caller's thread.
  executor,     ///< Callbacks are handed to ClientOptions::executor as tasks.
};

/// Everything a Client is configured with. Only `url` is required; docs/configuration.md lists
/// every option with its default.
struct ClientOptions {
  /// `ws://` or `wss://` URL: host name, IPv4 or bracketed IPv6, optional port, path and query.
  std::string url;
  /// Extra handshake headers, sent as given.
  std::vector<std::pair<std::string, std::string>> headers;
  /// Offered subprotocols; a server selecting one not offered fails the handshake.
  std::vector<std::string> subprotocols;
  /// Sent as the `Origin` header when not empty.
  std::string origin;
  /// TLS settings (wss:// only).
  TlsOptions tls;
  /// HTTP CONNECT proxy `http://[user:pass@]host[:port]`. Empty: taken from the environment
  /// (`http_proxy` for ws, `https_proxy` for wss, `no_proxy` honoured). `"direct"`: no proxy.
  std::string proxy;
  /// DNS + TCP + proxy + TLS + upgrade must finish within this; 0 = no limit.
  std::chrono::milliseconds connect_timeout{10000};
  /// How long a close waits for the server's close frame before closing the socket.
  std::chrono::milliseconds close_timeout{5000};
  /// Largest inbound message accepted (bytes); a larger one fails with `message_too_big` (1009).
  std::size_t max_message = 16u * 1024 * 1024;
  /// Follow an HTTP redirect (301, 302, 303, 307, 308 with a Location) answering the upgrade, up
  /// to `max_redirects` times. Off by default: a redirect is `handshake_rejected`.
  bool follow_redirects = false;
  /// The most redirects followed over the client's lifetime (the URL a redirect leads to is
  /// kept for later reconnects).
  int max_redirects = 5;
  /// Split outbound messages into frames of at most this many bytes; 0 = one frame each.
  std::size_t fragment_size = 0;

  /// Reconnection and backoff.
  ReconnectOptions reconnect;
  /// Dead-connection detection with pings.
  HeartbeatOptions heartbeat;
  /// How messages, requests and responses are encoded (docs/requests.md). Empty: the default
  /// envelope (envelope_codec()); json_rpc_codec() for JSON-RPC 2.0 servers; or your own.
  std::shared_ptr<const Codec> codec;
  /// Authentication on every (re)open (docs/delivery.md).
  AuthOptions auth;
  /// The outbound queue's limits (docs/delivery.md).
  QueueOptions queue;
  /// How subscribe requests are built.
  SubscriptionOptions subscriptions;
  /// Resume after reconnect (docs/delivery.md).
  ResumeOptions resume;

  /// Where callbacks run (docs/threading.md).
  CallbackMode callback_mode = CallbackMode::loop_thread;
  /// With CallbackMode::executor: receives tasks to run (e.g. post them to a UI thread); a task
  /// runs the callbacks queued until it starts, in event order. Tasks must run in the order given.
  std::function<void(std::function<void()>)> executor;
};

}  // namespace tether
