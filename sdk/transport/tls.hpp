#pragma once

// TLS client as a sans-IO engine: ciphertext in from the socket, plaintext out to the codec, and
// the reverse. libwebsockets 4.1.6 cannot run TLS on a raw client connection (it starts TLS before
// the socket exists), so tether runs OpenSSL itself over memory BIOs and lets lws move plain bytes.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "tether/error.hpp"

// OpenSSL's types, declared here so that only tls.cpp sees OpenSSL's headers.
struct ssl_ctx_st;
struct ssl_st;
struct bio_st;
struct x509_store_ctx_st;

namespace tether::transport {

struct TlsOptions {
  /// PEM bundle trusted in addition to the system store (or instead of it, see use_system_store).
  std::string ca_file;
  /// Client certificate chain (PEM) for mutual TLS. The key may be in the same file, in which case
  /// client_key_file can stay empty.
  std::string client_cert_file;
  std::string client_key_file;
  /// Accepts any certificate. The first problem found is still recorded (TlsSession::verify_reason)
  /// so the caller can warn about it.
  bool insecure = false;
  /// Trusts the operating system's CA store.
  bool use_system_store = true;
};

/// The shared half of TLS: trust store, client certificate, protocol limits. Build one per runtime
/// and share it; loading the system store costs 20-30 ms, far too much to pay per connection.
/// Thread-safe once built.
class TlsContext {
 public:
  /// Builds a context, or returns nullptr and sets `code` (errc::invalid_argument) and `message`
  /// (which names the file and the reason) when a file in `options` cannot be used: the CA file is
  /// missing, unreadable or holds no certificate, or the client certificate or key cannot be
  /// loaded or do not match.
  static std::shared_ptr<TlsContext> create(const TlsOptions& options, tether::errc& code,
                                            std::string& message);

  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  ssl_ctx_st* native() const { return ctx_; }
  bool insecure() const { return insecure_; }

 private:
  TlsContext(ssl_ctx_st* ctx, bool insecure) : ctx_(ctx), insecure_(insecure) {}

  ssl_ctx_st* ctx_;
  bool insecure_;
};

/// One TLS client connection, with no I/O of its own. The caller moves bytes:
///   - after start(), on_ciphertext(), write_plaintext() and close_notify(), send
///     pending_ciphertext() bytes (read_ciphertext) to the socket;
///   - pass every byte received from the socket to on_ciphertext(), and the socket's EOF to
///     on_eof();
///   - consume decrypted bytes from plaintext() (erase what was used).
/// Not thread-safe; the object must stay where it was built (OpenSSL holds a pointer to it).
class TlsSession {
 public:
  enum class Status {
    ok,         ///< The handshake is complete; plaintext() may have grown.
    want_more,  ///< The handshake needs more bytes from the peer.
    error,      ///< The session failed (sticky): see error_code() and error_message().
    closed,     ///< The peer sent close_notify (sticky); plaintext before it is in plaintext().
  };

  /// `server_name` is the host name or IP literal the caller dialled (or the Host it asked for):
  /// it is checked against the certificate, and sent as SNI when it is a name.
  TlsSession(std::shared_ptr<TlsContext> context, const std::string& server_name);
  ~TlsSession();
  TlsSession(const TlsSession&) = delete;
  TlsSession& operator=(const TlsSession&) = delete;

  /// Starts the handshake: the ClientHello becomes pending ciphertext. Returns want_more, or
  /// error when the session could not be set up.
  Status start();

  /// Feeds bytes received from the socket: advances the handshake and decrypts application data
  /// into plaintext(). May queue ciphertext (handshake messages, alerts, key update replies).
  ///
  /// Failures: a rejected certificate gives errc::tls_verify_failed with the reason ("certificate
  /// has expired (X509_V_ERR 10, depth 0, /CN=localhost)"); any other failure before the first
  /// application byte gives errc::tls_handshake_failed with OpenSSL's error ("error:0A00010B:SSL
  /// routines::wrong version number"). That includes alerts arriving just after the client
  /// finished, which is where TLS 1.3 servers reject a client certificate. Failures after
  /// application data give errc::connection_lost.
  Status on_ciphertext(const std::uint8_t* data, std::size_t n);

  /// The socket reached EOF. Returns closed when the peer had sent close_notify; otherwise the
  /// stream may have been cut short (truncated() becomes true) and the result is error: with
  /// errc::tls_handshake_failed during the handshake and errc::connection_lost after it. A caller
  /// whose own protocol already saw a clean end may ignore the truncation.
  Status on_eof();

  /// Encrypts `n` bytes into pending ciphertext. Bytes written before the handshake completes are
  /// kept and encrypted as soon as it does. Returns ok, closed after close_notify(), or error.
  Status write_plaintext(const std::uint8_t* data, std::size_t n);

  /// Ciphertext waiting for the socket. After a failure it may hold an alert for the peer; sending
  /// it is polite but optional.
  std::size_t pending_ciphertext() const;
  /// Moves up to `cap` bytes of pending ciphertext to `out`; returns how many.
  std::size_t read_ciphertext(std::uint8_t* out, std::size_t cap);

  /// Decrypted bytes the caller has not consumed yet; the caller erases what it uses.
  std::string& plaintext() { return plaintext_; }

  /// Queues a close_notify alert; later writes are refused. Receiving still works, so the peer's
  /// own close_notify (or remaining data) can be read. Does nothing before the handshake is done.
  void close_notify();

  bool handshake_done() const { return handshake_done_; }
  /// The peer sent close_notify.
  bool peer_closed() const { return peer_closed_; }
  /// The socket ended without close_notify.
  bool truncated() const { return truncated_; }

  tether::errc error_code() const { return error_code_; }
  const std::string& error_message() const { return error_message_; }

  /// The first certificate problem found, also in insecure mode where it was ignored ("hostname
  /// mismatch (X509_V_ERR 62, depth 0, /CN=other.example)"); empty when the certificate verified.
  const std::string& verify_reason() const { return verify_reason_; }

  /// "TLSv1.3", "TLSv1.2"; empty before the handshake is done.
  std::string protocol_version() const;
  /// The negotiated cipher suite ("TLS_AES_256_GCM_SHA384"); empty before the handshake is done.
  std::string cipher() const;

 private:
  friend class TlsContext;  // installs on_verify

  static int on_verify(int preverify_ok, x509_store_ctx_st* store);

  Status advance_handshake();
  Status read_records();
  Status flush_early_plaintext();
  Status encrypt(const std::uint8_t* data, std::size_t n);
  Status fail_from_ssl(int ssl_error, const char* during);
  Status fail(tether::errc code, std::string message);

  std::shared_ptr<TlsContext> context_;
  std::string server_name_;
  ssl_st* ssl_ = nullptr;
  bio_st* rbio_ = nullptr;  // owned by ssl_
  bio_st* wbio_ = nullptr;  // owned by ssl_
  std::string plaintext_;
  std::string early_plaintext_;  // written before the handshake completed
  std::string verify_reason_;
  std::string error_message_;
  tether::errc error_code_{};
  bool started_ = false;
  bool handshake_done_ = false;
  bool received_data_ = false;
  bool close_sent_ = false;
  bool peer_closed_ = false;
  bool truncated_ = false;
  bool failed_ = false;
};

}  // namespace tether::transport
