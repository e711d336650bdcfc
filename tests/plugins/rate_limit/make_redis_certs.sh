#!/bin/sh
# make_redis_certs.sh DIR - certificates for the Redis TLS tests, made at
# test time (EC P-256: fast; valid for one day):
#   ca.pem              the test CA
#   server.pem/.key     signed by it for localhost, 127.0.0.1 and ::1
#   elsewhere.pem/.key  signed by it for elsewhere.test only
#   client.pem/.key     a client certificate signed by it
#   other-ca.pem        an unrelated CA
#   self.pem/.key       a self-signed server certificate for 127.0.0.1
set -eu
dir=$1
cd "$dir"
ec="-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
openssl req -x509 $ec -keyout ca.key -out ca.pem -days 1 \
    -subj /CN=gwf-redis-test-ca 2>/dev/null
openssl req -x509 $ec -keyout other-ca.key -out other-ca.pem -days 1 \
    -subj /CN=gwf-other-ca 2>/dev/null
# name SAN: a certificate NAME.pem / NAME.key signed by the test CA.
signed() {
    openssl req $ec -keyout "$1.key" -out "$1.csr" -subj "/CN=$1" 2>/dev/null
    printf '%s\n' "$2" > "$1.cnf"
    openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial \
        -out "$1.pem" -days 1 -extfile "$1.cnf" 2>/dev/null
}
signed server 'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1'
signed elsewhere 'subjectAltName=DNS:elsewhere.test'
signed client 'extendedKeyUsage=clientAuth'
openssl req -x509 $ec -keyout self.key -out self.pem -days 1 \
    -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 2>/dev/null
chmod 644 ./*.key
