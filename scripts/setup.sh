#!/usr/bin/env bash
# setup.sh - install every Debian 12 package gwf needs to build, test and
# run its demo. Idempotent: when everything is already installed it only
# says so; otherwise it runs `apt-get update` once and installs what is
# missing. Uses sudo only when not run as root.
#
#   bash scripts/setup.sh
set -euo pipefail

packages=(
    # build
    build-essential meson ninja-build pkg-config clang-format git
    # fuzzing (libFuzzer comes with clang's runtime libraries)
    clang libclang-rt-14-dev llvm
    # libraries
    libyaml-dev libjansson-dev libcmocka-dev libssl-dev libcurl4-openssl-dev
    libpcre2-dev libhiredis-dev libjwt-dev
    libprotobuf-c-dev protobuf-c-compiler libnghttp2-dev
    # data plane, peers and tools for tests, benchmarks and the demo
    nginx nginx-dev redis-server redis-tools wrk curl python3 ca-certificates
    openssl
    # independent implementations the plugin tests check against, and the
    # peers written for them (JWT makers, a gRPC authz server, botocore's
    # SigV4 signer for the Lambda stand-in)
    python3-jwt python3-jwcrypto python3-cryptography python3-grpcio
    python3-protobuf python3-botocore
)
# nginx's own test suite (tests/nginx-tests): the dynamic modules Debian's
# nginx says it has, the Perl modules and the daemons its tests use.
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
mapfile -t nginx_tests_packages < <(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' \
    -e 's/[[:space:]]//g' "$here/tests/nginx-tests/packages.txt")
packages+=("${nginx_tests_packages[@]}")

say() { printf 'setup: %s\n' "$*"; }

if [ "$(id -u)" -eq 0 ]; then
    as_root=()
elif command -v sudo >/dev/null 2>&1; then
    as_root=(sudo)
else
    as_root=()
fi

missing=()
for p in "${packages[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    [ "$status" = "install ok installed" ] || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
    say "all ${#packages[@]} Debian packages are installed"
    exit 0
fi

if [ "$(id -u)" -ne 0 ] && [ ${#as_root[@]} -eq 0 ]; then
    say "missing packages: ${missing[*]}" >&2
    say "not root and no sudo: install them as root and run this again" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
say "missing packages: ${missing[*]}"
say "running: ${as_root[*]:+${as_root[*]} }apt-get update"
"${as_root[@]}" apt-get update
say "running: ${as_root[*]:+${as_root[*]} }apt-get install -y ${missing[*]}"
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y "${missing[@]}"
say "installed ${#missing[@]} package(s)"
