#!/usr/bin/env bash
# bench/ext_authz/ir.sh - the nginx worker's instructions per check in
# ext_authz's gRPC and HTTP modes, counted by callgrind: the figure that
# says what a change to either path costs, whatever else runs on the
# machine (wall-clock ratios on a shared machine swing by 2x; this does
# not move by 1%).
#
#   bash bench/ext_authz/ir.sh BUILDDIR   (configured with -Dnginx=enabled,
#                                          ext_authz.so, the module and
#                                          bench/authz_peer built)
#
# For each mode: nginx with master_process off under valgrind
# --tool=callgrind, checks against one authz_peer (authz_peer.c, both
# modes), N and then 5N requests over CONC keep-alive client connections
# (each run its own nginx); the difference of the two totals over 4N is
# the cost of one check, start-up and shutdown cancelled out. Prints
# "grpc Ir/check=..." and "http Ir/check=..."; the callgrind files stay in
# the temporary directory with KEEP_TMP=1 (callgrind_annotate them).
#
# Environment: N (300), CONC (1), PLUGIN_DIR (BUILDDIR/plugins/ext_authz:
# point it at another ext_authz.so to compare), NGINX (/usr/sbin/nginx),
# KEEP_TMP=1.
set -uo pipefail

die() { echo "bench/ext_authz/ir.sh: $*" >&2; exit 1; }
[ $# -eq 1 ] || { echo "usage: $0 BUILDDIR" >&2; exit 2; }
b=$(cd "$1" 2>/dev/null && pwd) || die "no build directory $1"
n=${N:-300}
conc=${CONC:-1}
plugin_dir=${PLUGIN_DIR:-$b/plugins/ext_authz}
nginx=${NGINX:-/usr/sbin/nginx}
command -v valgrind >/dev/null || die "valgrind is not installed"
[ -x "$b/bench/authz_peer" ] || die "$b/bench/authz_peer is missing"
[ -f "$plugin_dir/ext_authz.so" ] || die "$plugin_dir/ext_authz.so is missing"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/gwf-bench-ir.XXXXXX") || die "mktemp failed"
peer=
cleanup() {
    [ -z "$peer" ] || { kill "$peer" 2>/dev/null; wait "$peer" 2>/dev/null; }
    if [ "${KEEP_TMP:-0}" = 1 ]; then
        echo "kept $tmp" >&2
    else
        rm -rf "$tmp"
    fi
}
trap cleanup EXIT

mkfifo "$tmp/peer.in" "$tmp/peer.out"
"$b/bench/authz_peer" <"$tmp/peer.in" >"$tmp/peer.out" 2>/dev/null &
peer=$!
exec {hold}>"$tmp/peer.in"
read -r -t 10 line <"$tmp/peer.out" || die "authz_peer did not start"
peer_port=${line#PORT }
port=$((20000 + RANDOM % 20000))
up=$((port + 1))

# run MODE COUNT: callgrind's total for COUNT checks of MODE.
run() {
    local mode=$1 count=$2 dir=$tmp/$1_$2 vpid
    mkdir -p "$dir/logs" "$dir/temp"
    cat >"$dir/gwf.yaml" <<YAML
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
    cat >"$dir/nginx.conf" <<CONF
load_module $b/host/nginx/ngx_http_gwf_module.so;
daemon off;
master_process off;
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/logs/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $dir/temp/client;
    proxy_temp_path $dir/temp/proxy;
    fastcgi_temp_path $dir/temp/fastcgi;
    uwsgi_temp_path $dir/temp/uwsgi;
    scgi_temp_path $dir/temp/scgi;
    keepalive_requests 100000000;
    gwf_manifests $dir/gwf.yaml;
    gwf_plugin_path $plugin_dir;
    upstream up { server 127.0.0.1:$up; keepalive 32; }
    server {
        listen 127.0.0.1:$port;
        location /c-$mode/ { gwf_policy default/c-$mode;
            proxy_pass http://up/; proxy_http_version 1.1;
            proxy_set_header Connection ""; }
    }
    server {
        listen 127.0.0.1:$up;
        keepalive_requests 100000000;
        location / { default_type text/plain; return 200 "ok"; }
    }
}
CONF
    valgrind --tool=callgrind --callgrind-out-file="$dir/cg.out" \
        "$nginx" -p "$dir" -e "$dir/logs/error.log" -c "$dir/nginx.conf" \
        >"$dir/valgrind.log" 2>&1 &
    vpid=$!
    /usr/bin/python3 - "$port" "/c-$mode/allow" "$count" "$conc" <<'PY' ||
import http.client, sys, threading, time
port, path, n, k = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
for _ in range(300):
    try:
        c = http.client.HTTPConnection("127.0.0.1", port)
        c.request("GET", path)
        r = c.getresponse()
        r.read()
        if r.status != 200:
            sys.exit("first check answered %d" % r.status)
        break
    except (OSError, http.client.HTTPException):
        time.sleep(0.2)
failed = []
def client(m):
    c = http.client.HTTPConnection("127.0.0.1", port)
    for _ in range(m):
        c.request("GET", path)
        r = c.getresponse()
        r.read()
        if r.status != 200:
            failed.append(r.status)
threads = [threading.Thread(target=client, args=(n // k,)) for _ in range(k)]
for t in threads:
    t.start()
for t in threads:
    t.join()
sys.exit("answers other than 200: %s" % failed[:5] if failed else 0)
PY
        { kill -QUIT "$vpid"; die "$mode: the checks failed"; }
    kill -QUIT "$vpid"
    wait "$vpid" 2>/dev/null
    awk '/^(summary|totals):/ { print $2; exit }' "$dir/cg.out"
}

for mode in grpc http; do
    a=$(run "$mode" "$n") || exit 1
    c=$(run "$mode" $((5 * n))) || exit 1
    if [ -z "$a" ] || [ -z "$c" ]; then
        die "$mode: no callgrind total"
    fi
    echo "$mode Ir/check=$(((c - a) / (4 * n)))"
done
exec {hold}>&-
