#!/usr/bin/env bash
# bench/ext_authz/run.sh - nginx with the gwf ext_authz plugin (HTTP mode)
# against nginx's own auth_request, asking the same authorization server,
# measured in the same run; then the gRPC mode against the HTTP mode.
#
#   bash bench/ext_authz/run.sh BUILDDIR    (a meson build dir configured
#                                            with -Dnginx=enabled, built;
#                                            nothing is built here)
#
# One nginx (worker_processes 1, pinned to the last core when there are
# two or more; wrk on the one before) serves three things over loopback:
#
#   /native-default/...  auth_request as nginx's documentation shows it:
#                an internal location proxying to the authz server (no
#                body), auth_request_set of x-user, then proxy_pass to the
#                upstream; nginx opens a connection to the authz server
#                per request (proxy_pass speaks HTTP/1.0 by default)
#   /native/...  the same with the authz connections kept alive (an
#                upstream{} keepalive pool and proxy_http_version 1.1):
#                auth_request at its best
#   /gwf/...     gwf_policy of a TrafficPolicy whose extAuth is the
#                ext_authz plugin in HTTP mode, headersToBackend [x-user],
#                then the same proxy_pass
#   authz        a server block answering 200 with x-user: bench
#   upstream     a server block answering 200 "ok"
#
# Each side does one authz round trip and one upstream round trip per
# request. Target: gwf >= 1.2x auth_request (no subrequest, connections
# to the authz server kept alive by the SDK's HTTP/1.1 client,
# gwf/sdk_http.h: one write per check, the answer parsed in place);
# printed against both baselines.
#
# Then (BENCH_GRPC=1) the gRPC mode against the HTTP mode, both against
# one C server (bench/ext_authz/authz_peer.c, built as
# BUILDDIR/bench/authz_peer): a single-threaded epoll program that
# answers h2c gRPC Check calls (libnghttp2) and HTTP/1.1 checks, told
# apart by a connection's first bytes, "allowed, x-user: bench" either
# way. One server process for both modes, so the server's costs are the
# same on both sides and the ratio says what the modes cost the gateway.
# Target: gRPC mode >= HTTP mode (1.0), printed as "gRPC vs HTTP mode".
# On a shared machine that ratio swings; bench/ext_authz/ir.sh counts
# the worker's instructions per check of either mode instead (callgrind).
#
# Then the latency of a worker's other requests under load, each with its
# own nginx, printing the probe's p99 against 50 ms and PASS/MISS:
# headers.py (BENCH_HEADERS=1: answers with the most header operations
# allowed) and timeouts.py (BENCH_TIMEOUTS=1: 10,000 checks timing out).
#
# Environment: DURATION (5s), CONNECTIONS (32), ROUNDS (3), WARMUP (2s),
# BENCH_GRPC (1), BENCH_HEADERS (1), BENCH_TIMEOUTS (1),
# NGINX (/usr/sbin/nginx), WRK (wrk), KEEP_TMP=1.
set -uo pipefail
# shellcheck source=SCRIPTDIR/../lib.sh
. "$(dirname "$0")/../lib.sh"

usage() { echo "usage: $0 BUILDDIR" >&2; exit 2; }
[ $# -eq 1 ] || usage

duration=${DURATION:-5s}
connections=${CONNECTIONS:-32}
rounds=${ROUNDS:-3}
warmup=${WARMUP:-2s}
bench_grpc=${BENCH_GRPC:-1}
bench_headers=${BENCH_HEADERS:-1}
bench_timeouts=${BENCH_TIMEOUTS:-1}
nginx=${NGINX:-/usr/sbin/nginx}
wrk=${WRK:-wrk}
here=$(cd "$(dirname "$0")" && pwd)

die() { echo "bench/ext_authz: $*" >&2; exit 1; }

builddir=$(cd "$1" 2>/dev/null && pwd) || die "no build directory $1"
module=$builddir/host/nginx/ngx_http_gwf_module.so
plugin_dir=$builddir/plugins/ext_authz
[ -f "$module" ] || die "$module is missing (meson setup -Dnginx=enabled)"
[ -f "$plugin_dir/ext_authz.so" ] || die "$plugin_dir/ext_authz.so is missing"
authz_peer=$builddir/bench/authz_peer
[ "$bench_grpc" != 1 ] || [ -x "$authz_peer" ] ||
    die "$authz_peer is missing (ninja -C BUILDDIR bench/authz_peer)"
[ -x "$nginx" ] || die "$nginx is not installed"
command -v "$wrk" >/dev/null || die "wrk is not installed"
command -v curl >/dev/null || die "curl is not installed"

bench_pin_cores

tmp=$(mktemp -d "${TMPDIR:-/tmp}/gwf-bench-extauthz.XXXXXX") ||
    die "mktemp failed"
master=
peer_pids=()
# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
    local pid
    bench_nginx_stop "$master"
    for pid in "${peer_pids[@]}"; do
        kill "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
    bench_remove_tmp "$tmp" bench/ext_authz
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# start_peer PROGRAM: start a peer that prints "PORT <n>" (in this shell,
# not in a command substitution, so that cleanup knows its pid); its port
# goes to $peer_port. Its stdin is a fifo we hold open: it exits when we
# do.
start_peer() {
    local name out line
    name=$(basename "$1" .py)
    out=$tmp/$name.out
    mkfifo "$tmp/$name.in" "$out"
    "$1" <"$tmp/$name.in" >"$out" 2>/dev/null &
    peer_pids+=($!)
    # shellcheck disable=SC2034  # held open, never written: EOF stops the peer
    exec {fd}>"$tmp/$name.in"
    read -r -t 10 line <"$out" || die "$1 did not start"
    peer_port=${line#PORT }
}

peer_port=0
if [ "$bench_grpc" = 1 ]; then
    start_peer "$authz_peer"
fi

# After the peers: their ports are taken by then.
port=$(bench_free_port)
up=$(bench_free_port "$port")
authz=$(bench_free_port "$port" "$up")

mkdir -p "$tmp/logs" "$tmp/temp"
cat >"$tmp/gwf.yaml" <<YAML
apiVersion: gateway.kgateway.dev/v1alpha1
kind: Backend
metadata: {name: authz}
spec: {static: {hosts: [{host: 127.0.0.1, port: $authz}]}}
---
apiVersion: gateway.kgateway.dev/v1alpha1
kind: GatewayExtension
metadata: {name: authz}
spec:
  extAuth:
    httpService:
      backendRef: {name: authz}
      requestTimeout: 2s
      authorizationResponse: {headersToBackend: [x-user]}
---
apiVersion: gateway.kgateway.dev/v1alpha1
kind: TrafficPolicy
metadata: {name: http}
spec: {extAuth: {extensionRef: {name: authz}}}
YAML

if [ "$bench_grpc" = 1 ]; then
    cat >>"$tmp/gwf.yaml" <<YAML
---
apiVersion: gateway.kgateway.dev/v1alpha1
kind: Backend
metadata: {name: c-authz}
spec: {static: {hosts: [{host: 127.0.0.1, port: $peer_port}]}}
---
apiVersion: gateway.kgateway.dev/v1alpha1
kind: GatewayExtension
metadata: {name: c-http}
spec:
  extAuth:
    httpService:
      backendRef: {name: c-authz}
      requestTimeout: 2s
      authorizationResponse: {headersToBackend: [x-user]}
---
apiVersion: gateway.kgateway.dev/v1alpha1
kind: GatewayExtension
metadata: {name: c-grpc}
spec:
  extAuth:
    grpcService: {backendRef: {name: c-authz}, requestTimeout: 2s}
---
apiVersion: gateway.kgateway.dev/v1alpha1
kind: TrafficPolicy
metadata: {name: c-http}
spec: {extAuth: {extensionRef: {name: c-http}}}
---
apiVersion: gateway.kgateway.dev/v1alpha1
kind: TrafficPolicy
metadata: {name: c-grpc}
spec: {extAuth: {extensionRef: {name: c-grpc}}}
YAML
fi
mode_locations=
if [ "$bench_grpc" = 1 ]; then
    mode_locations='location /c-http/ { gwf_policy default/c-http;
            proxy_pass http://up/; proxy_http_version 1.1;
            proxy_set_header Connection ""; }
        location /c-grpc/ { gwf_policy default/c-grpc;
            proxy_pass http://up/; proxy_http_version 1.1;
            proxy_set_header Connection ""; }'
fi

proxy_up='proxy_pass http://up/; proxy_http_version 1.1;
            proxy_set_header Connection "";'
{ bench_nginx_conf_head; cat <<CONF; } >"$tmp/nginx.conf"

    gwf_manifests $tmp/gwf.yaml;
    gwf_plugin_path $plugin_dir;

    upstream up {
        server 127.0.0.1:$up;
        keepalive 32;
        keepalive_requests 100000000;
    }
    upstream authz {
        server 127.0.0.1:$authz;
        keepalive 32;
        keepalive_requests 100000000;
    }

    server {
        listen 127.0.0.1:$port;
        location /native/ {
            auth_request /_auth;
            auth_request_set \$authz_user \$upstream_http_x_user;
            proxy_set_header x-user \$authz_user;
            $proxy_up
        }
        location /native-default/ {
            auth_request /_auth_default;
            auth_request_set \$authz_user \$upstream_http_x_user;
            proxy_set_header x-user \$authz_user;
            $proxy_up
        }
        location = /_auth_default {
            internal;
            proxy_pass http://127.0.0.1:$authz\$request_uri;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
        }
        location = /_auth {
            internal;
            proxy_pass http://authz\$request_uri;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
        location /gwf/ {
            gwf_policy default/http;
            $proxy_up
        }
        $mode_locations
    }
    server {
        listen 127.0.0.1:$authz;
        keepalive_requests 100000000;
        location / {
            add_header x-user bench;
            return 200;
        }
    }
    server {
        listen 127.0.0.1:$up;
        keepalive_requests 100000000;
        location / {
            default_type text/plain;
            return 200 "ok";
        }
    }
}
CONF

bench_nginx_start

base=http://127.0.0.1:$port
bench_wait_url "$base/native/x"
check() {
    local got
    got=$(curl -fsS "$base$1") || die "GET $1 failed"
    [ "$got" = ok ] || die "GET $1 answered '$got', expected 'ok'"
}
check /native/allow
check /gwf/allow
if [ "$bench_grpc" = 1 ]; then
    check /c-http/allow
    check /c-grpc/allow
fi

run() {
    local out rps
    out=$("${pin_wrk[@]}" "$wrk" -t1 -c"$3" -d"$2" "$base$1" 2>&1) ||
        die "wrk failed on $1: $out"
    if grep -q 'Non-2xx\|Socket errors' <<<"$out"; then
        die "wrk on $1 saw errors:"$'\n'"$out"
    fi
    rps=$(awk '/^Requests\/sec:/ { print $2 }' <<<"$out")
    [ -n "$rps" ] || die "no Requests/sec from wrk on $1"
    echo "${rps%.*}"
}

echo "bench/ext_authz: nginx $("$nginx" -v 2>&1 | sed 's|.*/||'), 1 worker" \
    "${pin_nginx[*]:+(${pin_nginx[*]})}, wrk -t1 -c$connections" \
    "-d$duration, $rounds rounds, median" >&2
c=$connections
bench_pair http-mode /native-default/allow auth_request "$c" /gwf/allow \
    gwf-ext_authz "$c" 1.2 || exit 1
bench_pair http-mode-vs-keepalive /native/allow auth_request+keepalive "$c" \
    /gwf/allow gwf-ext_authz "$c" 1.2 || exit 1
if [ "$bench_grpc" = 1 ]; then
    # Both modes against the same C server (authz_peer.c).
    bench_pair "gRPC vs HTTP mode" /c-http/allow http-mode "$c" \
        /c-grpc/allow grpc-mode "$c" 1.0 || exit 1
fi
if grep -q '\[alert\]\|\[crit\]\|\[emerg\]' "$tmp/logs/error.log"; then
    die "nginx logged problems:"$'\n'"$(grep '\[alert\]\|\[crit\]\|\[emerg\]' "$tmp/logs/error.log" | head)"
fi
# The latency benchmarks start their own nginx (and pin it themselves):
# this one is stopped first. A MISS there makes the exit status 1.
bench_nginx_stop "$master"
master=
status=0
if [ "$bench_headers" = 1 ]; then
    NGINX=$nginx /usr/bin/python3 "$here/headers.py" "$builddir" || status=1
fi
if [ "$bench_timeouts" = 1 ]; then
    NGINX=$nginx /usr/bin/python3 "$here/timeouts.py" "$builddir" || status=1
fi
exit "$status"
