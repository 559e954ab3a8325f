#include "transport/tls.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <random>
#include <string>

#include "unit/tls_test_support.hpp"

namespace tether::transport {
namespace {

using tls_test::CertPtr;
using tls_test::CertSpec;
using tls_test::KeyPtr;
using tls_test::make_cert;
using tls_test::make_key;
using tls_test::MemServer;
using tls_test::TempDir;
using tls_test::write_pem;
using Status = TlsSession::Status;

const std::uint8_t* bytes(const std::string& s) {
  return reinterpret_cast<const std::uint8_t*>(s.data());
}

// Keys and certificates are made once for the whole suite.
struct Pki {
  KeyPtr ca_key = make_key();
  KeyPtr server_key = make_key();
  KeyPtr self_key = make_key();
  KeyPtr client_key = make_key();
  KeyPtr stray_key = make_key();
  CertPtr ca = make_cert({"tether test CA", "", true}, ca_key.get());
  CertPtr localhost = make_cert({"localhost", "DNS:localhost,IP:127.0.0.1,IP:::1"},
                                server_key.get(), ca.get(), ca_key.get());
  CertPtr other =
      make_cert({"other.example", "DNS:other.example"}, server_key.get(), ca.get(), ca_key.get());
  CertPtr wildcard =
      make_cert({"*.example.com", "DNS:*.example.com"}, server_key.get(), ca.get(), ca_key.get());
  CertPtr expired = make_cert({"localhost", "DNS:localhost,IP:127.0.0.1", false, false, -10, -1},
                              server_key.get(), ca.get(), ca_key.get());
  // Like `openssl req -x509`: its own issuer, CA:TRUE.
  CertPtr self_signed =
      make_cert({"localhost", "DNS:localhost,IP:127.0.0.1", true}, self_key.get());
  CertPtr client =
      make_cert({"tether-client", "", false, true}, client_key.get(), ca.get(), ca_key.get());

  TempDir dir;
  std::string ca_file = write_pem(dir.file("ca.pem"), {ca.get()});
  std::string client_cert_file = write_pem(dir.file("client.pem"), {client.get()});
  std::string client_key_file = write_pem(dir.file("client.key"), {}, client_key.get());
  std::string client_combined_file =
      write_pem(dir.file("client-combined.pem"), {client.get()}, client_key.get());
  std::string stray_key_file = write_pem(dir.file("stray.key"), {}, stray_key.get());
  std::string no_cert_file = write_pem(dir.file("no-cert.pem"), {}, stray_key.get());
};

class TlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { pki_ = new Pki(); }
  static void TearDownTestSuite() {
    delete pki_;
    pki_ = nullptr;
  }

  static const Pki& pki() { return *pki_; }

  // Trusts the test CA only: the system store costs 20-30 ms per context.
  static TlsOptions ca_options() {
    TlsOptions options;
    options.ca_file = pki().ca_file;
    options.use_system_store = false;
    return options;
  }

  static std::shared_ptr<TlsContext> context(const TlsOptions& options) {
    errc code{};
    std::string message;
    auto ctx = TlsContext::create(options, code, message);
    EXPECT_NE(ctx, nullptr) << message;
    return ctx;
  }

  static MemServer::Config server_config(X509* cert, EVP_PKEY* key = nullptr) {
    MemServer::Config config;
    config.cert = cert;
    config.key = key != nullptr ? key : pki().server_key.get();
    return config;
  }

  static std::string drain(TlsSession& client) {
    std::string out;
    std::uint8_t buf[4096];
    while (client.pending_ciphertext() > 0) {
      const std::size_t n = client.read_ciphertext(buf, sizeof buf);
      EXPECT_GT(n, 0u);
      if (n == 0) break;
      out.append(reinterpret_cast<const char*>(buf), n);
    }
    return out;
  }

  // Moves bytes both ways until neither side has anything to send. With `rng`, bytes reach the
  // client in random pieces, so records are split across on_ciphertext calls.
  static Status pump(TlsSession& client, MemServer& server, std::mt19937* rng = nullptr) {
    for (int round = 0; round < 10000; ++round) {
      const std::string to_server = drain(client);
      server.feed(to_server);
      const std::string to_client = server.take_output();
      // No bytes: only asks for the current state.
      if (to_server.empty() && to_client.empty()) return client.on_ciphertext(nullptr, 0);
      std::size_t at = 0;
      while (at < to_client.size()) {
        std::size_t n = to_client.size() - at;
        if (rng != nullptr) {
          n = std::min<std::size_t>(n, std::uniform_int_distribution<std::size_t>(1, 20000)(*rng));
        }
        client.on_ciphertext(bytes(to_client) + at, n);
        at += n;
      }
    }
    ADD_FAILURE() << "pump did not settle";
    return Status::error;
  }

  // Connects a client built from `options` to `server` as `host`; returns the client's status.
  static Status connect(const TlsOptions& options, MemServer& server, const std::string& host,
                        std::unique_ptr<TlsSession>& client) {
    client = std::make_unique<TlsSession>(context(options), host);
    EXPECT_EQ(client->start(), Status::want_more);
    EXPECT_GT(client->pending_ciphertext(), 0u);  // the ClientHello
    return pump(*client, server);
  }

  static Pki* pki_;
};

Pki* TlsTest::pki_ = nullptr;

// --- Verification --------------------------------------------------------------------------------

TEST_F(TlsTest, CaFileAndDnsNameSucceed) {
  MemServer server(server_config(pki().localhost.get()));
  std::unique_ptr<TlsSession> client;
  EXPECT_EQ(connect(ca_options(), server, "localhost", client), Status::ok);
  EXPECT_TRUE(client->handshake_done());
  EXPECT_TRUE(server.handshake_done());
  EXPECT_EQ(client->verify_reason(), "");
  EXPECT_EQ(client->protocol_version(), "TLSv1.3");
  EXPECT_FALSE(client->cipher().empty());
  const char* sni = SSL_get_servername(server.ssl(), TLSEXT_NAMETYPE_host_name);
  ASSERT_NE(sni, nullptr);
  EXPECT_STREQ(sni, "localhost");
}

TEST_F(TlsTest, CaFileAndIpAddressSucceedWithoutSni) {
  MemServer server(server_config(pki().localhost.get()));
  std::unique_ptr<TlsSession> client;
  EXPECT_EQ(connect(ca_options(), server, "127.0.0.1", client), Status::ok);
  EXPECT_EQ(client->verify_reason(), "");
  EXPECT_EQ(SSL_get_servername(server.ssl(), TLSEXT_NAMETYPE_host_name), nullptr);
}

TEST_F(TlsTest, BracketedIpv6LiteralIsCheckedAsAnAddress) {
  for (const char* host : {"::1", "[::1]"}) {
    MemServer server(server_config(pki().localhost.get()));
    std::unique_ptr<TlsSession> client;
    EXPECT_EQ(connect(ca_options(), server, host, client), Status::ok) << host;
    EXPECT_EQ(client->verify_reason(), "") << host;
  }
}

TEST_F(TlsTest, SystemStoreAloneDoesNotTrustTheTestCa) {
  MemServer server(server_config(pki().localhost.get()));
  TlsOptions options;  // system store only
  std::unique_ptr<TlsSession> client;
  EXPECT_EQ(connect(options, server, "localhost", client), Status::error);
  EXPECT_EQ(client->error_code(), errc::tls_verify_failed);
  EXPECT_EQ(client->error_message(),
            "unable to get local issuer certificate (X509_V_ERR 20, depth 0, /CN=localhost)");
  EXPECT_FALSE(client->handshake_done());
}

TEST_F(TlsTest, WrongHostNameIsRejected) {
  MemServer server(server_config(pki().other.get()));
  std::unique_ptr<TlsSession> client;
  EXPECT_EQ(connect(ca_options(), server, "localhost", client), Status::error);
  EXPECT_EQ(client->error_code(), errc::tls_verify_failed);
  EXPECT_EQ(client->error_message(),
            "hostname mismatch (X509_V_ERR 62, depth 0, /CN=other.example)");
}

TEST_F(TlsTest, WrongIpAddressIsRejected) {
  MemServer server(server_config(pki().other.get()));
  std::unique_ptr<TlsSession> client;
  EXPECT_EQ(connect(ca_options(), server, "127.0.0.1", client), Status::error);
  EXPECT_EQ(client->error_code(), errc::tls_verify_failed);
  EXPECT_EQ(client->error_message(),
            "IP address mismatch (X509_V_ERR 64, depth 0, /CN=other.example)");
}

TEST_F(TlsTest, NameCheckUsesTheGivenNameNotTheDialledAddress) {
  MemServer server(server_config(pki().other.get()));
  std::unique_ptr<TlsSession> client;
  EXPECT_EQ(connect(ca_options(), server, "other.example", client), Status::ok);
}

TEST_F(TlsTest, WildcardCoversOneLabelOnly) {
  {
    MemServer server(server_config(pki().wildcard.get()));
    std::unique_ptr<TlsSession> client;
    EXPECT_EQ(connect(ca_options(), server, "api.example.com", client), Status::ok);
  }
  for (const char* host : {"a.b.example.com", "example.com"}) {
    MemServer server(server_config(pki().wildcard.get()));
    std::unique_ptr<TlsSession> client;
    EXPECT_EQ(connect(ca_options(), server, host, client), Status::error) << host;
    EXPECT_EQ(client->error_code(), errc::tls_verify_failed) << host;
    EXPECT_EQ(client->error_message().rfind("hostname mismatch", 0), 0u) << host;
  }
}

TEST_F(TlsTest, SelfSignedCertificateIsRejected) {
  MemServer server(server_config(pki().self_signed.get(), pki().self_key.get()));
  std::unique_ptr<TlsSession> client;
  EXPECT_EQ(connect(ca_options(), server, "localhost", client), Status::error);
  EXPECT_EQ(client->error_code(), errc::tls_verify_failed);
  EXPECT_EQ(client->error_message(),
            "self-signed certificate (X509_V_ERR 18, depth 0, /CN=localhost)");
}

TEST_F(TlsTest, ExpiredCertificateIsRejected) {
  MemServer server(server_config(pki().expired.get()));
  std::unique_ptr<TlsSession> client;
  EXPECT_EQ(connect(ca_options(), server, "localhost", client), Status::error);
  EXPECT_EQ(client->error_code(), errc::tls_verify_failed);
  EXPECT_EQ(client->error_message(),
            "certificate has expired (X509_V_ERR 10, depth 0, /CN=localhost)");
}

TEST_F(TlsTest, RejectedCertificateLeavesAnAlertForTheServer) {
  MemServer server(server_config(pki().self_signed.get(), pki().self_key.get()));
  auto client = std::make_unique<TlsSession>(context(ca_options()), "localhost");
  client->start();
  server.feed(drain(*client));
  const std::string reply = server.take_output();
  EXPECT_EQ(client->on_ciphertext(bytes(reply), reply.size()), Status::error);
  ASSERT_GT(client->pending_ciphertext(), 0u);
  server.feed(drain(*client));
  EXPECT_NE(server.error().find("alert"), std::string::npos) << server.error();
  // Sticky.
  EXPECT_EQ(client->on_ciphertext(bytes(reply), reply.size()), Status::error);
  EXPECT_EQ(client->write_plaintext(bytes(reply), 1), Status::error);
}

TEST_F(TlsTest, InsecureAcceptsEveryCertificateButRecordsWhy) {
  struct Case {
    X509* cert;
    EVP_PKEY* key;
    const char* host;
    bool with_ca;
    const char* reason;
  };
  const Case cases[] = {
      {pki().self_signed.get(), pki().self_key.get(), "localhost", true, "self-signed certificate"},
      {pki().expired.get(), nullptr, "localhost", true, "certificate has expired"},
      {pki().other.get(), nullptr, "localhost", true, "hostname mismatch"},
      {pki().other.get(), nullptr, "127.0.0.1", true, "IP address mismatch"},
      {pki().localhost.get(), nullptr, "localhost", false, "unable to get local issuer"},
      {pki().localhost.get(), nullptr, "localhost", true, nullptr},
  };
  for (const Case& c : cases) {
    MemServer server(server_config(c.cert, c.key));
    TlsOptions options;
    options.insecure = true;
    options.use_system_store = false;
    if (c.with_ca) options.ca_file = pki().ca_file;
    std::unique_ptr<TlsSession> client;
    EXPECT_EQ(connect(options, server, c.host, client), Status::ok) << client->error_message();
    EXPECT_TRUE(client->handshake_done());
    if (c.reason == nullptr) {
      EXPECT_EQ(client->verify_reason(), "");
    } else {
      EXPECT_EQ(client->verify_reason().rfind(c.reason, 0), 0u) << client->verify_reason();
    }
  }
}

TEST_F(TlsTest, EmptyServerNameIsRefusedUnlessInsecure) {
  TlsSession client(context(ca_options()), "");
  EXPECT_EQ(client.start(), Status::error);
  EXPECT_EQ(client.error_code(), errc::invalid_argument);

  TlsOptions options = ca_options();
  options.insecure = true;
  MemServer server(server_config(pki().localhost.get()));
  TlsSession insecure(context(options), "");
  EXPECT_EQ(insecure.start(), Status::want_more);
  EXPECT_EQ(pump(insecure, server), Status::ok);
}

// --- Mutual TLS ----------------------------------------------------------------------------------

TEST_F(TlsTest, ServerRequiringAClientCertificateRejectsAClientWithout) {
  for (int max_version : {TLS1_3_VERSION, TLS1_2_VERSION}) {
    MemServer::Config config = server_config(pki().localhost.get());
    config.client_ca = pki().ca.get();
    config.max_version = max_version;
    MemServer server(config);
    std::unique_ptr<TlsSession> client;
    EXPECT_EQ(connect(ca_options(), server, "localhost", client), Status::error);
    EXPECT_EQ(client->error_code(), errc::tls_handshake_failed) << max_version;
    // TLS 1.3 names the missing certificate; TLS 1.2 only has a generic alert for it.
    EXPECT_NE(client->error_message().find("alert"), std::string::npos) << client->error_message();
    if (max_version == TLS1_3_VERSION) {
      EXPECT_NE(client->error_message().find("certificate required"), std::string::npos)
          << client->error_message();
    }
  }
}

TEST_F(TlsTest, ServerRequiringAClientCertificateAcceptsOne) {
  TlsOptions separate = ca_options();
  separate.client_cert_file = pki().client_cert_file;
  separate.client_key_file = pki().client_key_file;
  TlsOptions combined = ca_options();
  combined.client_cert_file = pki().client_combined_file;
  for (const TlsOptions& options : {separate, combined}) {
    for (int max_version : {TLS1_3_VERSION, TLS1_2_VERSION}) {
      MemServer::Config config = server_config(pki().localhost.get());
      config.client_ca = pki().ca.get();
      config.max_version = max_version;
      MemServer server(config);
      std::unique_ptr<TlsSession> client;
      EXPECT_EQ(connect(options, server, "localhost", client), Status::ok)
          << client->error_message();
      const std::string hello = "GET / HTTP/1.1\r\n\r\n";
      EXPECT_EQ(client->write_plaintext(bytes(hello), hello.size()), Status::ok);
      EXPECT_EQ(pump(*client, server), Status::ok) << client->error_message();
      EXPECT_EQ(server.received(), hello) << server.error();
      X509* peer = SSL_get0_peer_certificate(server.ssl());
      ASSERT_NE(peer, nullptr);
      char subject[128];
      X509_NAME_oneline(X509_get_subject_name(peer), subject, sizeof subject);
      EXPECT_STREQ(subject, "/CN=tether-client");
    }
  }
}

// --- Context creation errors ---------------------------------------------------------------------

std::string create_error(const TlsOptions& options, errc expected_code = errc::invalid_argument) {
  errc code{};
  std::string message;
  auto ctx = TlsContext::create(options, code, message);
  EXPECT_EQ(ctx, nullptr);
  EXPECT_EQ(code, expected_code);
  return message;
}

TEST_F(TlsTest, MissingCaFileIsAClearError) {
  TlsOptions options;
  options.ca_file = pki().ca_file + ".missing";
  EXPECT_EQ(create_error(options), "CA file " + options.ca_file + ": No such file or directory");
}

TEST_F(TlsTest, CaFileThatIsADirectoryIsAClearError) {
  TlsOptions options;
  options.ca_file = "/tmp";
  EXPECT_EQ(create_error(options), "CA file /tmp: Is a directory");
}

TEST_F(TlsTest, CaFileWithoutCertificatesIsAClearError) {
  TlsOptions options;
  options.use_system_store = false;
  options.ca_file = pki().no_cert_file;
  const std::string message = create_error(options);
  EXPECT_EQ(message.rfind("CA file " + options.ca_file + ": no certificate could be loaded", 0), 0u)
      << message;
}

TEST_F(TlsTest, ClientCertificateProblemsAreClearErrors) {
  TlsOptions options = ca_options();
  options.client_cert_file = pki().client_cert_file + ".missing";
  options.client_key_file = pki().client_key_file;
  EXPECT_EQ(create_error(options),
            "client certificate " + options.client_cert_file + ": No such file or directory");

  options.client_cert_file = pki().client_cert_file;
  options.client_key_file = pki().stray_key_file;
  std::string message = create_error(options);
  EXPECT_EQ(message.rfind("client key " + pki().stray_key_file + " does not match", 0), 0u)
      << message;

  // A certificate file with no key in it, and no separate key.
  options.client_key_file.clear();
  message = create_error(options);
  EXPECT_EQ(message.rfind("client key " + pki().client_cert_file + ": error:", 0), 0u) << message;

  options.client_cert_file = pki().client_key_file;  // a key where a certificate belongs
  options.client_key_file = pki().client_key_file;
  message = create_error(options);
  EXPECT_EQ(message.rfind("client certificate " + pki().client_key_file + ": error:", 0), 0u)
      << message;

  options.client_cert_file.clear();
  message = create_error(options);
  EXPECT_NE(message.find("without a client certificate"), std::string::npos) << message;
}

// --- Other handshake failures --------------------------------------------------------------------

TEST_F(TlsTest, ServerLimitedToTls11IsAHandshakeFailure) {
  MemServer::Config config = server_config(pki().localhost.get());
  config.max_version = TLS1_1_VERSION;
  config.security_level = 0;  // OpenSSL 3 refuses TLS 1.1 at its default level
  MemServer server(config);
  std::unique_ptr<TlsSession> client;
  EXPECT_EQ(connect(ca_options(), server, "localhost", client), Status::error);
  EXPECT_EQ(client->error_code(), errc::tls_handshake_failed);
  EXPECT_EQ(client->error_message(), "error:0A00042E:SSL routines::tlsv1 alert protocol version");
}

TEST_F(TlsTest, PlainHttpServerIsAHandshakeFailure) {
  TlsSession client(context(ca_options()), "localhost");
  ASSERT_EQ(client.start(), Status::want_more);
  const std::string reply = "HTTP/1.1 400 Bad Request\r\n\r\n";
  EXPECT_EQ(client.on_ciphertext(bytes(reply), reply.size()), Status::error);
  EXPECT_EQ(client.error_code(), errc::tls_handshake_failed);
  EXPECT_EQ(client.error_message(), "error:0A00010B:SSL routines::wrong version number");
  EXPECT_EQ(ERR_peek_error(), 0u);  // the session leaves OpenSSL's error queue empty
}

// --- Application data ----------------------------------------------------------------------------

TEST_F(TlsTest, MebibyteRoundTripInRandomChunks) {
  std::mt19937 rng(1234);
  std::string up(1 << 20, '\0');
  std::string down(1 << 20, '\0');
  for (char& c : up) c = static_cast<char>(rng());
  for (char& c : down) c = static_cast<char>(rng());

  MemServer server(server_config(pki().localhost.get()));
  std::unique_ptr<TlsSession> client;
  ASSERT_EQ(connect(ca_options(), server, "localhost", client), Status::ok);

  std::uniform_int_distribution<std::size_t> chunk(1, 70000);
  std::size_t sent_up = 0;
  std::size_t sent_down = 0;
  std::string got_down;
  while (sent_up < up.size() || sent_down < down.size()) {
    if (sent_up < up.size()) {
      const std::size_t n = std::min(chunk(rng), up.size() - sent_up);
      ASSERT_EQ(client->write_plaintext(bytes(up) + sent_up, n), Status::ok);
      sent_up += n;
    }
    if (sent_down < down.size()) {
      const std::size_t n = std::min(chunk(rng), down.size() - sent_down);
      server.write(down.substr(sent_down, n));
      sent_down += n;
    }
    ASSERT_EQ(pump(*client, server, &rng), Status::ok) << client->error_message();
    // The caller consumes plaintext in its own pieces.
    std::string& plain = client->plaintext();
    const std::size_t take = std::min(plain.size(), chunk(rng));
    got_down.append(plain, 0, take);
    plain.erase(0, take);
  }
  got_down += client->plaintext();
  client->plaintext().clear();
  EXPECT_TRUE(server.error().empty()) << server.error();
  EXPECT_TRUE(server.received() == up);
  EXPECT_TRUE(got_down == down);
}

TEST_F(TlsTest, PlaintextWrittenDuringTheHandshakeIsSentAfterIt) {
  MemServer server(server_config(pki().localhost.get()));
  TlsSession client(context(ca_options()), "localhost");
  const std::string request = "GET /ws HTTP/1.1\r\nHost: localhost\r\n\r\n";
  EXPECT_EQ(client.write_plaintext(bytes(request), 10), Status::ok);  // before start()
  ASSERT_EQ(client.start(), Status::want_more);
  EXPECT_EQ(client.write_plaintext(bytes(request) + 10, request.size() - 10), Status::ok);
  EXPECT_EQ(pump(client, server), Status::ok);
  EXPECT_EQ(server.received(), request);
}

TEST_F(TlsTest, KeyUpdateFromTheServerDoesNotDisturbTheStream) {
  MemServer server(server_config(pki().localhost.get()));
  std::unique_ptr<TlsSession> client;
  ASSERT_EQ(connect(ca_options(), server, "localhost", client), Status::ok);
  ASSERT_EQ(SSL_key_update(server.ssl(), SSL_KEY_UPDATE_REQUESTED), 1);
  server.write("after update");
  const std::string update = server.take_output();
  EXPECT_EQ(client->on_ciphertext(bytes(update), update.size()), Status::ok);
  EXPECT_EQ(client->plaintext(), "after update");
  const std::string reply = "reply";
  EXPECT_EQ(client->write_plaintext(bytes(reply), reply.size()), Status::ok);
  EXPECT_EQ(pump(*client, server), Status::ok);
  EXPECT_EQ(server.received(), "reply");
  EXPECT_TRUE(server.error().empty()) << server.error();
}

TEST_F(TlsTest, CorruptRecordAfterDataIsAConnectionLoss) {
  MemServer server(server_config(pki().localhost.get()));
  std::unique_ptr<TlsSession> client;
  ASSERT_EQ(connect(ca_options(), server, "localhost", client), Status::ok);
  server.write("hello");
  EXPECT_EQ(pump(*client, server), Status::ok);
  EXPECT_EQ(client->plaintext(), "hello");
  server.write("world");
  std::string record = server.take_output();
  record.back() ^= 1;
  EXPECT_EQ(client->on_ciphertext(bytes(record), record.size()), Status::error);
  EXPECT_EQ(client->error_code(), errc::connection_lost);
  EXPECT_NE(client->error_message().find("bad record mac"), std::string::npos)
      << client->error_message();
}

// --- Closing -------------------------------------------------------------------------------------

TEST_F(TlsTest, ClientClosesFirst) {
  MemServer server(server_config(pki().localhost.get()));
  std::unique_ptr<TlsSession> client;
  ASSERT_EQ(connect(ca_options(), server, "localhost", client), Status::ok);
  client->close_notify();
  const std::string late = "late";
  EXPECT_EQ(client->write_plaintext(bytes(late), late.size()), Status::closed);
  server.feed(drain(*client));
  EXPECT_TRUE(server.got_close_notify());
  server.write("last words");
  server.shutdown();
  const std::string tail = server.take_output();
  EXPECT_EQ(client->on_ciphertext(bytes(tail), tail.size()), Status::closed);
  EXPECT_EQ(client->plaintext(), "last words");
  EXPECT_TRUE(client->peer_closed());
  EXPECT_EQ(client->on_eof(), Status::closed);
  EXPECT_FALSE(client->truncated());
}

TEST_F(TlsTest, ServerClosesFirst) {
  MemServer server(server_config(pki().localhost.get()));
  std::unique_ptr<TlsSession> client;
  ASSERT_EQ(connect(ca_options(), server, "localhost", client), Status::ok);
  server.write("bye");
  server.shutdown();
  EXPECT_EQ(pump(*client, server), Status::closed);
  EXPECT_TRUE(client->peer_closed());
  EXPECT_EQ(client->plaintext(), "bye");
  // Further bytes are ignored once the peer has closed.
  EXPECT_EQ(client->on_ciphertext(bytes("xx"), 2), Status::closed);
  client->close_notify();
  server.feed(drain(*client));
  EXPECT_TRUE(server.got_close_notify());
  EXPECT_EQ(client->on_eof(), Status::closed);
  EXPECT_FALSE(client->truncated());
}

TEST_F(TlsTest, EofWithoutCloseNotifyIsTruncation) {
  MemServer server(server_config(pki().localhost.get()));
  std::unique_ptr<TlsSession> client;
  ASSERT_EQ(connect(ca_options(), server, "localhost", client), Status::ok);
  server.write("partial");
  EXPECT_EQ(pump(*client, server), Status::ok);
  EXPECT_EQ(client->on_eof(), Status::error);
  EXPECT_TRUE(client->truncated());
  EXPECT_FALSE(client->peer_closed());
  EXPECT_EQ(client->error_code(), errc::connection_lost);
  EXPECT_NE(client->error_message().find("close_notify"), std::string::npos);
  EXPECT_EQ(client->plaintext(), "partial");  // what arrived stays readable
}

TEST_F(TlsTest, EofInsideARecordIsTruncation) {
  MemServer server(server_config(pki().localhost.get()));
  std::unique_ptr<TlsSession> client;
  ASSERT_EQ(connect(ca_options(), server, "localhost", client), Status::ok);
  server.write("this record is cut short");
  const std::string record = server.take_output();
  EXPECT_EQ(client->on_ciphertext(bytes(record), record.size() / 2), Status::ok);
  EXPECT_EQ(client->plaintext(), "");
  EXPECT_EQ(client->on_eof(), Status::error);
  EXPECT_TRUE(client->truncated());
  EXPECT_EQ(client->error_code(), errc::connection_lost);
}

TEST_F(TlsTest, EofDuringTheHandshakeIsAHandshakeFailure) {
  TlsSession client(context(ca_options()), "localhost");
  ASSERT_EQ(client.start(), Status::want_more);
  EXPECT_EQ(client.on_eof(), Status::error);
  EXPECT_TRUE(client.truncated());
  EXPECT_EQ(client.error_code(), errc::tls_handshake_failed);
}

}  // namespace
}  // namespace tether::transport
