#!/bin/sh
# make_certs.sh DIR - a test CA (ca.pem), a server certificate signed by it
# for authz.test and 127.0.0.1 (server.pem, server.key), and an unrelated
# CA (other-ca.pem). EC P-256 keys: fast to make. Valid for one day.
set -eu
dir=$1
cd "$dir"
ec="-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
openssl req -x509 $ec -keyout ca.key -out ca.pem -days 1 \
    -subj /CN=gwf-test-ca 2>/dev/null
openssl req -x509 $ec -keyout other-ca.key -out other-ca.pem -days 1 \
    -subj /CN=gwf-other-ca 2>/dev/null
openssl req $ec -keyout server.key -out server.csr \
    -subj /CN=authz.test 2>/dev/null
printf 'subjectAltName=DNS:authz.test,IP:127.0.0.1\n' > san.cnf
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
    -out server.pem -days 1 -extfile san.cnf 2>/dev/null
