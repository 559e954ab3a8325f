#!/bin/sh
# Generates the certificates the TLS tests use into DIR (created if missing), EC P-256 keys:
#   ca.pem / ca.key                  the test CA
#   server.pem / server.key          CN localhost, SAN localhost + 127.0.0.1 + ::1, signed by the CA
#   wrong_host.pem / wrong_host.key  SAN other.example only, signed by the CA
#   expired.pem / expired.key        localhost + 127.0.0.1 + ::1, signed by the CA, validity in 2020
#   self_signed.pem / self_signed.key  localhost + 127.0.0.1 + ::1, self-signed
#   client.pem / client.key          a client certificate (mutual TLS), signed by the CA
#   future.pem / future.key          localhost + 127.0.0.1 + ::1, signed by the CA, not valid before 2099
#   other_ca.pem                     another CA; foreign.pem / foreign.key: a localhost leaf it signed
# Usage: make_certs.sh DIR
set -eu

if [ $# -ne 1 ]; then
  echo "usage: $0 DIR" >&2
  exit 2
fi
dir=$1
mkdir -p "$dir"
cd "$dir"

OPENSSL=${OPENSSL:-openssl}
# Never read the system's openssl.cnf: everything below is explicit.
cat > openssl.cnf <<'EOF'
[req]
distinguished_name = dn
prompt = no
[dn]
CN = placeholder
[ca_ext]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server_ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1, IP:::1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[wrong_host_ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:other.example
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[self_signed_ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1, IP:::1
subjectKeyIdentifier = hash
[client_ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[ca]
default_ca = test_ca
[test_ca]
dir = .
database = ./ca_index.txt
new_certs_dir = ./ca_new
serial = ./ca_serial
default_md = sha256
policy = any_policy
unique_subject = no
copy_extensions = none
email_in_dn = no
[any_policy]
commonName = supplied
EOF
export OPENSSL_CONF="$PWD/openssl.cnf"

key() {
  "$OPENSSL" genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1"
}

# sign NAME CN EXTENSIONS: NAME.key + a CSR, signed by the CA for 10 years.
sign() {
  key "$1.key"
  "$OPENSSL" req -new -key "$1.key" -subj "/CN=$2" -out "$1.csr"
  "$OPENSSL" x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days 3650 \
    -sha256 -extfile openssl.cnf -extensions "$3" -out "$1.pem"
}

key ca.key
"$OPENSSL" req -x509 -new -key ca.key -subj "/CN=tether test CA" -days 3650 -sha256 \
  -extensions ca_ext -out ca.pem

sign server localhost server_ext
sign wrong_host other.example wrong_host_ext
sign client "tether test client" client_ext

key self_signed.key
"$OPENSSL" req -x509 -new -key self_signed.key -subj "/CN=localhost" -days 3650 -sha256 \
  -extensions self_signed_ext -out self_signed.pem

# Expired: `openssl x509 -req` (3.0) cannot set a past notBefore, `openssl ca` can.
key expired.key
"$OPENSSL" req -new -key expired.key -subj "/CN=localhost" -out expired.csr
rm -rf ca_new ca_index.txt ca_serial
mkdir ca_new
: > ca_index.txt
echo 1000 > ca_serial
"$OPENSSL" ca -batch -notext -cert ca.pem -keyfile ca.key -in expired.csr \
  -startdate 20200101000000Z -enddate 20200201000000Z -extfile openssl.cnf \
  -extensions server_ext -out expired.pem

# Not yet valid: likewise with `openssl ca`.
key future.key
"$OPENSSL" req -new -key future.key -subj "/CN=localhost" -out future.csr
"$OPENSSL" ca -batch -notext -cert ca.pem -keyfile ca.key -in future.csr \
  -startdate 20990101000000Z -enddate 20991231000000Z -extfile openssl.cnf \
  -extensions server_ext -out future.pem

# Another CA and a leaf it signed (trusted by nobody who trusts only ca.pem).
key other_ca.key
"$OPENSSL" req -x509 -new -key other_ca.key -subj "/CN=another test CA" -days 3650 -sha256 \
  -extensions ca_ext -out other_ca.pem
key foreign.key
"$OPENSSL" req -new -key foreign.key -subj "/CN=localhost" -out foreign.csr
"$OPENSSL" x509 -req -in foreign.csr -CA other_ca.pem -CAkey other_ca.key -CAcreateserial \
  -days 3650 -sha256 -extfile openssl.cnf -extensions server_ext -out foreign.pem

rm -rf ca_new ca_index.txt* ca_serial* ./*.csr ca.srl other_ca.srl other_ca.key
chmod 600 ./*.key

# Self-check: the set is only useful if each certificate fails (or passes) for its own reason.
"$OPENSSL" verify -CAfile ca.pem server.pem wrong_host.pem client.pem > /dev/null
"$OPENSSL" verify -CAfile ca.pem expired.pem 2>&1 | grep -q "certificate has expired"
"$OPENSSL" verify -CAfile ca.pem future.pem 2>&1 | grep -q "certificate is not yet valid"
if "$OPENSSL" verify -CAfile ca.pem foreign.pem > /dev/null 2>&1; then
  echo "foreign.pem unexpectedly verifies against the test CA" >&2
  exit 1
fi
if "$OPENSSL" verify -CAfile ca.pem self_signed.pem > /dev/null 2>&1; then
  echo "self_signed.pem unexpectedly verifies against the test CA" >&2
  exit 1
fi
"$OPENSSL" verify -CAfile ca.pem -verify_hostname localhost server.pem > /dev/null
"$OPENSSL" verify -CAfile ca.pem -verify_ip 127.0.0.1 server.pem > /dev/null
if "$OPENSSL" verify -CAfile ca.pem -verify_hostname localhost wrong_host.pem > /dev/null 2>&1; then
  echo "wrong_host.pem unexpectedly verifies for localhost" >&2
  exit 1
fi
echo "certificates written to $PWD"
