#pragma once

// Test PKI and an in-memory TLS server, so TLS tests need no network and no fixture files:
// certificates are made with OpenSSL's API at run time, and the server is an OpenSSL SSL object
// over memory BIOs that the test feeds by hand.

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdlib.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace tether::transport::tls_test {

struct KeyFree {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
struct CertFree {
  void operator()(X509* cert) const { X509_free(cert); }
};
using KeyPtr = std::unique_ptr<EVP_PKEY, KeyFree>;
using CertPtr = std::unique_ptr<X509, CertFree>;

inline void require(bool ok, const char* what) {
  if (!ok) {
    char buf[256];
    ERR_error_string_n(ERR_peek_last_error(), buf, sizeof buf);
    ERR_clear_error();
    throw std::runtime_error(std::string(what) + ": " + buf);
  }
}

/// A P-256 key: about a millisecond to make, against tens for RSA 2048.
inline KeyPtr make_key() {
  KeyPtr key(EVP_EC_gen("P-256"));
  require(key != nullptr, "EC key generation");
  return key;
}

struct CertSpec {
  std::string common_name;
  std::string san;  ///< "DNS:localhost,IP:127.0.0.1"; empty for none
  bool ca = false;
  bool client = false;  ///< clientAuth instead of serverAuth
  long valid_from_days = -1;
  long valid_until_days = 30;
};

/// Builds a v3 certificate for `key`, signed by `issuer`/`issuer_key`, or self-signed when
/// `issuer` is null.
inline CertPtr make_cert(const CertSpec& spec, EVP_PKEY* key, X509* issuer = nullptr,
                         EVP_PKEY* issuer_key = nullptr) {
  static long serial = 1;
  CertPtr cert(X509_new());
  X509* x = cert.get();
  require(x != nullptr, "X509_new");
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
  X509_gmtime_adj(X509_getm_notBefore(x), spec.valid_from_days * 86400L);
  X509_gmtime_adj(X509_getm_notAfter(x), spec.valid_until_days * 86400L);
  require(X509_set_pubkey(x, key) == 1, "X509_set_pubkey");
  X509_NAME* name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(spec.common_name.c_str()), -1,
                             -1, 0);
  X509_set_issuer_name(x, issuer != nullptr ? X509_get_subject_name(issuer) : name);

  X509V3_CTX v3;
  X509V3_set_ctx_nodb(&v3);
  X509V3_set_ctx(&v3, issuer != nullptr ? issuer : x, x, nullptr, nullptr, 0);
  auto add = [&](int nid, const std::string& value) {
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &v3, nid, value.c_str());
    require(ext != nullptr, "X509V3_EXT_conf_nid");
    X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
  };
  add(NID_basic_constraints, spec.ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
  if (spec.ca) {
    add(NID_key_usage, "critical,keyCertSign,cRLSign");
  } else if (issuer != nullptr) {
    add(NID_key_usage, "critical,digitalSignature");
    add(NID_ext_key_usage, spec.client ? "clientAuth" : "serverAuth");
  }
  add(NID_subject_key_identifier, "hash");
  if (issuer != nullptr) add(NID_authority_key_identifier, "keyid:always");
  if (!spec.san.empty()) add(NID_subject_alt_name, spec.san);

  require(X509_sign(x, issuer_key != nullptr ? issuer_key : key, EVP_sha256()) > 0, "X509_sign");
  return cert;
}

/// A directory under /tmp that removes itself.
class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/tether-tls-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

/// Writes certificates and/or a private key as PEM; returns `path`.
inline std::string write_pem(const std::string& path, const std::vector<X509*>& certs,
                             EVP_PKEY* key = nullptr) {
  std::FILE* file = std::fopen(path.c_str(), "wb");
  if (file == nullptr) throw std::runtime_error("cannot write " + path);
  bool ok = true;
  for (X509* cert : certs) ok = ok && PEM_write_X509(file, cert) == 1;
  if (key != nullptr) {
    ok = ok && PEM_write_PrivateKey(file, key, nullptr, nullptr, 0, nullptr, nullptr) == 1;
  }
  std::fclose(file);
  require(ok, "PEM write");
  return path;
}

/// A TLS server over memory BIOs. feed() takes the client's ciphertext and advances the server;
/// take_output() returns what it wants to send back.
class MemServer {
 public:
  struct Config {
    X509* cert = nullptr;
    EVP_PKEY* key = nullptr;
    X509* client_ca = nullptr;  ///< when set, a client certificate signed by it is required
    int max_version = 0;        ///< e.g. TLS1_2_VERSION; 0 for OpenSSL's maximum
    int min_version = 0;
    int security_level = -1;  ///< -1 keeps the default
  };

  explicit MemServer(const Config& config) {
    ctx_ = SSL_CTX_new(TLS_server_method());
    require(ctx_ != nullptr, "SSL_CTX_new");
    if (config.security_level >= 0) SSL_CTX_set_security_level(ctx_, config.security_level);
    if (config.min_version != 0) SSL_CTX_set_min_proto_version(ctx_, config.min_version);
    if (config.max_version != 0) SSL_CTX_set_max_proto_version(ctx_, config.max_version);
    require(SSL_CTX_use_certificate(ctx_, config.cert) == 1, "server certificate");
    require(SSL_CTX_use_PrivateKey(ctx_, config.key) == 1, "server key");
    if (config.client_ca != nullptr) {
      X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx_), config.client_ca);
      SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
    }
    ssl_ = SSL_new(ctx_);
    require(ssl_ != nullptr, "SSL_new");
    BIO* rbio = BIO_new(BIO_s_mem());
    BIO* wbio = BIO_new(BIO_s_mem());
    BIO_set_mem_eof_return(rbio, -1);
    SSL_set_bio(ssl_, rbio, wbio);
    SSL_set_accept_state(ssl_);
    ERR_clear_error();
  }
  ~MemServer() {
    SSL_free(ssl_);
    SSL_CTX_free(ctx_);
  }
  MemServer(const MemServer&) = delete;
  MemServer& operator=(const MemServer&) = delete;

  void feed(const std::string& ciphertext) {
    if (!ciphertext.empty()) {
      BIO_write(SSL_get_rbio(ssl_), ciphertext.data(), static_cast<int>(ciphertext.size()));
    }
    advance();
  }

  std::string take_output() {
    std::string out;
    BIO* wbio = SSL_get_wbio(ssl_);
    char buf[16384];
    int n;
    while ((n = BIO_read(wbio, buf, sizeof buf)) > 0) out.append(buf, static_cast<std::size_t>(n));
    return out;
  }

  void write(const std::string& data) {
    std::size_t written = 0;
    if (SSL_write_ex(ssl_, data.data(), data.size(), &written) != 1) failed("SSL_write");
  }

  void shutdown() { SSL_shutdown(ssl_); }

  bool handshake_done() const { return SSL_is_init_finished(ssl_) == 1; }
  bool got_close_notify() const { return got_close_notify_; }
  /// The server's own failure, if any (for example "peer did not return a certificate").
  const std::string& error() const { return error_; }
  std::string& received() { return received_; }
  SSL* ssl() { return ssl_; }

 private:
  void advance() {
    if (!error_.empty() || got_close_notify_) return;
    if (!handshake_done()) {
      const int rc = SSL_do_handshake(ssl_);
      if (rc != 1) {
        const int err = SSL_get_error(ssl_, rc);
        if (err != SSL_ERROR_WANT_READ) failed("handshake");
        return;
      }
    }
    char buf[16384];
    for (;;) {
      std::size_t got = 0;
      const int rc = SSL_read_ex(ssl_, buf, sizeof buf, &got);
      if (rc == 1) {
        received_.append(buf, got);
        continue;
      }
      const int err = SSL_get_error(ssl_, rc);
      if (err == SSL_ERROR_ZERO_RETURN) {
        got_close_notify_ = true;
      } else if (err != SSL_ERROR_WANT_READ) {
        failed("read");
      }
      return;
    }
  }

  void failed(const char* what) {
    char buf[256];
    ERR_error_string_n(ERR_peek_last_error(), buf, sizeof buf);
    ERR_clear_error();
    error_ = std::string(what) + ": " + buf;
  }

  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  std::string received_;
  std::string error_;
  bool got_close_notify_ = false;
};

}  // namespace tether::transport::tls_test
