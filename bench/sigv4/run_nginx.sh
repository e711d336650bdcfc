#!/usr/bin/env bash
# bench/sigv4/run_nginx.sh - nginx requests/s through the lambda_signer
# (Lambda invocation: Envoy payload, SigV4 signature, reply transform)
# against the same proxy unsigned, measured in the same run.
#
#   bash bench/sigv4/run_nginx.sh BUILDDIR   (configured with
#                                             -Dnginx=enabled, built)
#
# One nginx (worker_processes 1, access_log off) with two server blocks:
#   - the "Lambda": TLS (a throw-away CA and certificate made with
#     openssl), answering every request `return 200 '{"body": "ok"}'`
#     (a valid Envoy reply) without checking signatures: the point is the
#     gateway's cost, not the peer's;
#   - the front: /plain/ proxies to it over TLS (upstream keepalive), and
#     /signed/ does the same with `gwf_backend fn` (a Backend spec.aws).
# wrk (1 thread, POST with a 64-byte JSON body) drives each side in turn
# (plain, signed, plain, signed, ...) after a warm-up of both; the median
# of the rounds' ratios gives the ratio (bench_median_ratio). nginx and
# wrk are pinned to different cores when there are two or more.
#
# Environment: DURATION (default 5s), CONNECTIONS (16), ROUNDS (3),
# WARMUP (2s), NGINX (/usr/sbin/nginx), WRK (wrk), KEEP_TMP=1.
set -uo pipefail
# shellcheck source=SCRIPTDIR/../lib.sh
. "$(dirname "$0")/../lib.sh"

[ $# -eq 1 ] || { echo "usage: $0 BUILDDIR" >&2; exit 2; }
duration=${DURATION:-5s}
connections=${CONNECTIONS:-16}
rounds=${ROUNDS:-3}
warmup=${WARMUP:-2s}
nginx=${NGINX:-/usr/sbin/nginx}
wrk=${WRK:-wrk}

die() { echo "bench/sigv4: $*" >&2; exit 1; }
builddir=$(cd "$1" 2>/dev/null && pwd) || die "no build directory $1"
module=$builddir/host/nginx/ngx_http_gwf_module.so
plugin_dir=$builddir/plugins/lambda_signer
[ -f "$module" ] || die "$module is missing"
[ -f "$plugin_dir/lambda_signer.so" ] || die "lambda_signer.so is missing"
command -v "$wrk" >/dev/null || die "wrk is not installed"
command -v openssl >/dev/null || die "openssl is not installed"

bench_pin_cores

tmp=$(mktemp -d "${TMPDIR:-/tmp}/gwf-bench-sigv4.XXXXXX") || die "mktemp"
master=
# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
    bench_nginx_stop "$master"
    bench_remove_tmp "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

port=$(bench_free_port)
lambda_port=$(bench_free_port "$port")

(
    cd "$tmp" || exit 1
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -keyout ca.key -out ca.pem -days 2 -subj "/CN=bench CA" &&
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -keyout server.key -out server.csr -subj "/CN=localhost" &&
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >san.ext &&
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key \
        -CAcreateserial -out server.pem -days 2 -extfile san.ext
) >"$tmp/openssl.log" 2>&1 || die "openssl failed: $(tail -3 "$tmp/openssl.log")"

mkdir -p "$tmp/logs" "$tmp/temp"
cat >"$tmp/gwf.yaml" <<YAML
apiVersion: v1
kind: Secret
metadata: {name: aws}
stringData: {accessKey: AKIDBENCH, secretKey: benchSecretKeyBenchSecretKey0123456789}
---
apiVersion: gateway.kgateway.dev/v1alpha1
kind: Backend
metadata: {name: fn}
spec:
  aws:
    accountId: "123456789012"
    region: eu-west-3
    auth: {type: Secret, secretRef: {name: aws}}
    lambda: {functionName: bench, endpointURL: "https://127.0.0.1:$lambda_port"}
YAML
cat >"$tmp/nginx.conf" <<CONF
load_module $module;
worker_processes 1;
pid $tmp/nginx.pid;
error_log $tmp/logs/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $tmp/temp/body;
    proxy_temp_path $tmp/temp/proxy;
    fastcgi_temp_path $tmp/temp/fastcgi;
    uwsgi_temp_path $tmp/temp/uwsgi;
    scgi_temp_path $tmp/temp/scgi;
    gwf_manifests $tmp/gwf.yaml;
    gwf_plugin_path $plugin_dir;
    upstream lambda { server 127.0.0.1:$lambda_port; keepalive 32; }
    server {
        listen 127.0.0.1:$lambda_port ssl;
        ssl_certificate $tmp/server.pem;
        ssl_certificate_key $tmp/server.key;
        location / {
            default_type application/json;
            return 200 '{"body": "ok"}';
        }
    }
    server {
        listen 127.0.0.1:$port;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_ssl_trusted_certificate $tmp/ca.pem;
        proxy_ssl_verify on;
        proxy_ssl_name localhost;
        proxy_ssl_session_reuse on;
        location /plain/ { proxy_pass https://lambda; }
        location /signed/ { gwf_backend fn; proxy_pass https://lambda; }
    }
}
CONF
env -u NGINX "$nginx" -t -q -p "$tmp/" -c "$tmp/nginx.conf" -e "$tmp/logs/error.log" ||
    die "nginx -t failed: $(tail -5 "$tmp/logs/error.log")"
"${pin_nginx[@]}" env -u NGINX "$nginx" -p "$tmp/" -c "$tmp/nginx.conf" -e "$tmp/logs/error.log"
for _ in $(seq 50); do [ -s "$tmp/nginx.pid" ] && break; sleep 0.1; done
master=$(cat "$tmp/nginx.pid" 2>/dev/null) || die "nginx did not start"

cat >"$tmp/post.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"order": 42, "items": ["a", "b"], "note": "benchmark"}'
wrk.headers["Content-Type"] = "application/json"
LUA
for path in /plain/x /signed/x; do
    code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -d '{}' \
        "http://127.0.0.1:$port$path")
    [ "$code" = 200 ] || die "POST $path answered $code: $(tail -5 "$tmp/logs/error.log")"
done

run() { # path duration -> requests/s
    "${pin_wrk[@]}" "$wrk" -t1 -c"$connections" -d"$2" -s "$tmp/post.lua" \
        "http://127.0.0.1:$port$1" 2>&1 |
        awk '/Requests\/sec/ {print $2} /Non-2xx/ {bad=1} END {if (bad) print "non2xx"}'
}
run /plain/x "$warmup" >/dev/null
run /signed/x "$warmup" >/dev/null
plain=()
signed=()
for _ in $(seq "$rounds"); do
    p=$(run /plain/x "$duration"); s=$(run /signed/x "$duration")
    case "$p$s" in *non2xx*) die "a response was not 2xx";; esac
    plain+=("$p"); signed+=("$s")
done
mp=$(bench_median "${plain[@]%.*}")
ms=$(bench_median "${signed[@]%.*}")
printf 'unsigned proxy (TLS upstream)   %10.0f requests/s   (%s)\n' "$mp" "${plain[*]}"
printf 'lambda_signer  (TLS upstream)   %10.0f requests/s   (%s)\n' "$ms" "${signed[*]}"
ratio=$(bench_median_ratio "${signed[*]}" "${plain[*]}")
printf 'ratio signed/unsigned           %10s\n' "$ratio"
bench_report "lambda_signer (TLS upstream)" unsigned "${mp%.*} req/s" \
    lambda_signer "${ms%.*} req/s" "$ratio" "" ""
