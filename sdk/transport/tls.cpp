#include "transport/tls.hpp"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <utility>

namespace tether::transport {
namespace {

// Each SSL_read_ex appends at most this much to plaintext(): one full TLS record.
constexpr std::size_t kReadChunk = 16 * 1024;

std::string openssl_error_string(unsigned long err) {
  char buf[256];
  ERR_error_string_n(err, buf, sizeof buf);
  return buf;
}

// The most specific error OpenSSL queued, then an empty queue so later calls start clean.
std::string take_openssl_error() {
  const unsigned long err = ERR_peek_last_error();
  ERR_clear_error();
  return err == 0 ? std::string() : openssl_error_string(err);
}

// For file loading: libssl wraps every PEM problem in a bare "PEM lib" error, so the cause is the
// last error queued by libcrypto ("no start line", "bad password read").
std::string take_file_error() {
  unsigned long last = 0;
  unsigned long cause = 0;
  while (const unsigned long err = ERR_get_error()) {
    last = err;
    if (ERR_GET_LIB(err) != ERR_LIB_SSL) cause = err;
  }
  if (cause == 0) cause = last;
  return cause == 0 ? std::string("unknown error") : openssl_error_string(cause);
}

// "CA file /x/ca.pem: No such file or directory": checked before OpenSSL sees the file, whose
// own reports for a missing file are less direct.
bool check_readable_file(const std::string& what, const std::string& path, std::string& message) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    message = what + " " + path + ": " + std::strerror(errno);
    return false;
  }
  if (S_ISDIR(st.st_mode)) {
    message = what + " " + path + ": " + std::strerror(EISDIR);
    return false;
  }
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (file == nullptr) {
    message = what + " " + path + ": " + std::strerror(errno);
    return false;
  }
  std::fclose(file);
  return true;
}

// Without this, an encrypted client key makes OpenSSL prompt for a pass phrase on the terminal.
int no_passphrase(char*, int, int, void*) {
  return -1;
}

// Where each SSL keeps a pointer to its TlsSession, for the verify callback.
int session_index() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

// Brackets are URL syntax ("[::1]"), not part of the address.
std::string strip_brackets(const std::string& host) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    return host.substr(1, host.size() - 2);
  }
  return host;
}

bool is_ip_literal(const std::string& host) {
  ASN1_OCTET_STRING* ip = a2i_IPADDRESS(host.c_str());
  if (ip == nullptr) return false;
  ASN1_OCTET_STRING_free(ip);
  return true;
}

}  // namespace

// --- TlsContext ----------------------------------------------------------------------------------

std::shared_ptr<TlsContext> TlsContext::create(const TlsOptions& options, tether::errc& code,
                                               std::string& message) {
  code = tether::errc::invalid_argument;
  ERR_clear_error();
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  if (ctx == nullptr) {
    message = "cannot create the TLS context: " + take_openssl_error();
    return nullptr;
  }
  // The context owns `ctx` from here on, so every early return frees it.
  std::shared_ptr<TlsContext> context(new TlsContext(ctx, options.insecure));

  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  // Renegotiation is TLS 1.2's way to re-handshake mid-stream; nothing tether talks to needs it,
  // and refusing it keeps SSL_write from ever waiting on a read.
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
  SSL_CTX_set_default_passwd_cb(ctx, no_passphrase);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, &TlsSession::on_verify);
  static const unsigned char kAlpn[] = "\x08http/1.1";
  SSL_CTX_set_alpn_protos(ctx, kAlpn, sizeof kAlpn - 1);

  if (options.use_system_store && SSL_CTX_set_default_verify_paths(ctx) != 1) {
    message = "cannot load the system CA store: " + take_openssl_error();
    return nullptr;
  }
  if (!options.ca_file.empty()) {
    if (!check_readable_file("CA file", options.ca_file, message)) return nullptr;
    ERR_clear_error();
    if (SSL_CTX_load_verify_locations(ctx, options.ca_file.c_str(), nullptr) != 1) {
      message = "CA file " + options.ca_file + ": no certificate could be loaded (" +
                take_file_error() + ")";
      return nullptr;
    }
  }

  if (!options.client_key_file.empty() && options.client_cert_file.empty()) {
    message = "client key " + options.client_key_file + " given without a client certificate";
    return nullptr;
  }
  if (!options.client_cert_file.empty()) {
    const std::string& cert = options.client_cert_file;
    const std::string& key = options.client_key_file.empty() ? cert : options.client_key_file;
    if (!check_readable_file("client certificate", cert, message)) return nullptr;
    if (!check_readable_file("client key", key, message)) return nullptr;
    ERR_clear_error();
    if (SSL_CTX_use_certificate_chain_file(ctx, cert.c_str()) != 1) {
      message = "client certificate " + cert + ": " + take_file_error();
      return nullptr;
    }
    // Loading the key also checks it against the certificate.
    if (SSL_CTX_use_PrivateKey_file(ctx, key.c_str(), SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1) {
      const unsigned long err = ERR_peek_last_error();
      if (ERR_GET_LIB(err) != ERR_LIB_X509 || ERR_GET_REASON(err) != X509_R_KEY_VALUES_MISMATCH) {
        message = "client key " + key + ": " + take_file_error();
        return nullptr;
      }
      message = "client key " + key + " does not match client certificate " + cert + ": " +
                take_file_error();
      return nullptr;
    }
  }
  ERR_clear_error();
  message.clear();
  return context;
}

TlsContext::~TlsContext() {
  SSL_CTX_free(ctx_);
}

// --- TlsSession ----------------------------------------------------------------------------------

TlsSession::TlsSession(std::shared_ptr<TlsContext> context, const std::string& server_name)
    : context_(std::move(context)), server_name_(strip_brackets(server_name)) {}

TlsSession::~TlsSession() {
  SSL_free(ssl_);  // frees both BIOs too
}

TlsSession::Status TlsSession::start() {
  if (failed_) return Status::error;
  if (started_) return handshake_done_ ? Status::ok : Status::want_more;
  started_ = true;
  if (!context_) return fail(tether::errc::invalid_argument, "no TLS context");
  if (server_name_.empty() && !context_->insecure()) {
    // Without a name there is nothing to check the certificate against; refusing beats
    // silently accepting any host's certificate.
    return fail(tether::errc::invalid_argument, "no server name to verify the certificate against");
  }

  ERR_clear_error();
  ssl_ = SSL_new(context_->native());
  rbio_ = BIO_new(BIO_s_mem());
  wbio_ = BIO_new(BIO_s_mem());
  if (ssl_ == nullptr || rbio_ == nullptr || wbio_ == nullptr) {
    BIO_free(rbio_);
    BIO_free(wbio_);
    rbio_ = wbio_ = nullptr;
    return fail(tether::errc::tls_handshake_failed,
                "cannot create the TLS session: " + take_openssl_error());
  }
  // An empty read BIO means "no bytes yet", not EOF; EOF arrives through on_eof().
  BIO_set_mem_eof_return(rbio_, -1);
  SSL_set_bio(ssl_, rbio_, wbio_);
  SSL_set_connect_state(ssl_);
  SSL_set_ex_data(ssl_, session_index(), this);

  if (!server_name_.empty()) {
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl_);
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    int set;
    if (is_ip_literal(server_name_)) {
      // RFC 6066 forbids IP literals in SNI.
      set = X509_VERIFY_PARAM_set1_ip_asc(param, server_name_.c_str());
    } else {
      set = SSL_set_tlsext_host_name(ssl_, server_name_.c_str()) == 1 &&
            X509_VERIFY_PARAM_set1_host(param, server_name_.c_str(), 0) == 1;
    }
    if (set != 1) {
      return fail(tether::errc::invalid_argument,
                  "invalid TLS server name \"" + server_name_ + "\": " + take_openssl_error());
    }
  }
  return advance_handshake();
}

int TlsSession::on_verify(int preverify_ok, x509_store_ctx_st* store) {
  if (preverify_ok == 1) return 1;
  SSL* ssl =
      static_cast<SSL*>(X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx()));
  auto* self =
      ssl == nullptr ? nullptr : static_cast<TlsSession*>(SSL_get_ex_data(ssl, session_index()));
  if (self == nullptr) return 0;
  // Only the first problem is kept: later ones are usually consequences of it.
  if (self->verify_reason_.empty()) {
    const int err = X509_STORE_CTX_get_error(store);
    char subject[256] = "no certificate";
    if (X509* cert = X509_STORE_CTX_get_current_cert(store)) {
      X509_NAME_oneline(X509_get_subject_name(cert), subject, sizeof subject);
    }
    self->verify_reason_ =
        std::string(X509_verify_cert_error_string(err)) + " (X509_V_ERR " + std::to_string(err) +
        ", depth " + std::to_string(X509_STORE_CTX_get_error_depth(store)) + ", " + subject + ")";
  }
  return self->context_->insecure() ? 1 : 0;
}

TlsSession::Status TlsSession::on_ciphertext(const std::uint8_t* data, std::size_t n) {
  if (failed_) return Status::error;
  if (peer_closed_) return Status::closed;
  if (!started_) {
    const Status started = start();
    if (started == Status::error) return started;
  }
  if (n > 0) {
    std::size_t written = 0;
    if (BIO_write_ex(rbio_, data, n, &written) != 1 || written != n) {
      return fail(tether::errc::connection_lost, "out of memory buffering TLS input");
    }
  }
  if (!handshake_done_) {
    const Status status = advance_handshake();
    if (status != Status::ok) return status;
  }
  return read_records();
}

TlsSession::Status TlsSession::advance_handshake() {
  ERR_clear_error();
  const int rc = SSL_do_handshake(ssl_);
  if (rc == 1) {
    handshake_done_ = true;
    return flush_early_plaintext();
  }
  const int ssl_error = SSL_get_error(ssl_, rc);
  if (ssl_error == SSL_ERROR_WANT_READ || ssl_error == SSL_ERROR_WANT_WRITE) {
    return Status::want_more;
  }
  return fail_from_ssl(ssl_error, "handshake");
}

TlsSession::Status TlsSession::read_records() {
  for (;;) {
    const std::size_t old_size = plaintext_.size();
    plaintext_.resize(old_size + kReadChunk);
    std::size_t got = 0;
    ERR_clear_error();
    const int rc = SSL_read_ex(ssl_, &plaintext_[old_size], kReadChunk, &got);
    plaintext_.resize(old_size + got);
    if (rc == 1) {
      received_data_ = true;
      continue;
    }
    const int ssl_error = SSL_get_error(ssl_, rc);
    switch (ssl_error) {
      case SSL_ERROR_WANT_READ:
        // Non-application records may have been answered (a TLS 1.2 renegotiation request gets a
        // refusal alert): the reply is visible through pending_ciphertext(). OpenSSL sends the
        // answer to a TLS 1.3 KeyUpdate with the next write instead.
        return Status::ok;
      case SSL_ERROR_ZERO_RETURN:
        peer_closed_ = true;
        ERR_clear_error();
        return Status::closed;
      default:
        return fail_from_ssl(ssl_error, "read");
    }
  }
}

TlsSession::Status TlsSession::on_eof() {
  if (peer_closed_) return Status::closed;
  if (failed_) return Status::error;
  truncated_ = true;
  if (!handshake_done_) {
    return fail(tether::errc::tls_handshake_failed,
                "the connection closed during the TLS handshake");
  }
  return fail(tether::errc::connection_lost,
              "the connection closed without a TLS close_notify (truncated)");
}

TlsSession::Status TlsSession::write_plaintext(const std::uint8_t* data, std::size_t n) {
  if (failed_) return Status::error;
  if (close_sent_) return Status::closed;
  if (!handshake_done_) {
    early_plaintext_.append(reinterpret_cast<const char*>(data), n);
    return Status::ok;
  }
  return encrypt(data, n);
}

TlsSession::Status TlsSession::flush_early_plaintext() {
  if (early_plaintext_.empty()) return Status::ok;
  std::string early;
  early.swap(early_plaintext_);
  return encrypt(reinterpret_cast<const std::uint8_t*>(early.data()), early.size());
}

TlsSession::Status TlsSession::encrypt(const std::uint8_t* data, std::size_t n) {
  // The write BIO grows as needed, so SSL_write_ex takes everything at once (no partial writes
  // without SSL_MODE_ENABLE_PARTIAL_WRITE), and without renegotiation it never waits on a read.
  if (n == 0) return Status::ok;
  std::size_t written = 0;
  ERR_clear_error();
  const int rc = SSL_write_ex(ssl_, data, n, &written);
  if (rc == 1) return Status::ok;
  return fail_from_ssl(SSL_get_error(ssl_, rc), "write");
}

std::size_t TlsSession::pending_ciphertext() const {
  return wbio_ == nullptr ? 0 : BIO_ctrl_pending(wbio_);
}

std::size_t TlsSession::read_ciphertext(std::uint8_t* out, std::size_t cap) {
  if (wbio_ == nullptr || cap == 0) return 0;
  std::size_t got = 0;
  if (BIO_read_ex(wbio_, out, cap, &got) != 1) return 0;
  return got;
}

void TlsSession::close_notify() {
  if (close_sent_) return;
  close_sent_ = true;
  early_plaintext_.clear();
  if (!handshake_done_ || failed_) return;
  ERR_clear_error();
  SSL_shutdown(ssl_);  // queues the alert; the peer's reply, if any, arrives via on_ciphertext
  ERR_clear_error();
}

std::string TlsSession::protocol_version() const {
  return handshake_done_ ? SSL_get_version(ssl_) : std::string();
}

std::string TlsSession::cipher() const {
  if (!handshake_done_) return {};
  const char* name = SSL_CIPHER_get_name(SSL_get_current_cipher(ssl_));
  return name == nullptr ? std::string() : name;
}

TlsSession::Status TlsSession::fail_from_ssl(int ssl_error, const char* during) {
  std::string reason = take_openssl_error();
  if (reason.empty()) {
    reason =
        std::string("TLS ") + during + " failed (SSL_get_error " + std::to_string(ssl_error) + ")";
  }
  if (!handshake_done_ && !verify_reason_.empty() && !context_->insecure()) {
    return fail(tether::errc::tls_verify_failed, verify_reason_);
  }
  // TLS 1.3 clients finish before the server has judged their certificate, so the server's
  // verdict arrives as an alert on the first read: still a handshake failure to the user.
  if (!received_data_) return fail(tether::errc::tls_handshake_failed, std::move(reason));
  return fail(tether::errc::connection_lost, "TLS " + std::string(during) + ": " + reason);
}

TlsSession::Status TlsSession::fail(tether::errc code, std::string message) {
  failed_ = true;
  error_code_ = code;
  error_message_ = std::move(message);
  return Status::error;
}

}  // namespace tether::transport
