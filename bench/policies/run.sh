#!/usr/bin/env bash
# bench/policies/run.sh - the TrafficPolicy plugins of issue 15 (cors,
# basic_auth, api_key_auth, rbac) inside nginx against nginx without them,
# measured in the same run on the same machine, over loopback.
#
#   bash bench/policies/run.sh BUILDDIR     (a meson build dir configured
#                                            with -Dnginx=enabled, built)
#
# It starts the system nginx (1 worker, access_log off, keepalive on) from
# a temporary prefix with a generated configuration that loads
# BUILDDIR/host/nginx/ngx_http_gwf_module.so, each plugin configured by a
# TrafficPolicy field and attached with `gwf_policy NAME;`, and drives it
# with wrk (1 thread, a Lua script giving the method and headers). nginx
# is pinned to one core and wrk to the other when there are two or more.
#
#   cors-preflight  an OPTIONS preflight (Origin, Access-Control-Request-
#                   Method, Access-Control-Request-Headers) answered by the
#                   cors plugin (spec.cors, allowed origin: 200, empty
#                   body, the Access-Control-* headers and Vary) against
#                   nginx's `return 204` with the same headers from
#                   `add_header ... always`; target >= 0.95 in requests/s
#                   and in worker CPU per request
#   basic-auth      a proxied location with spec.basicAuth (one {SHA}
#                   htpasswd user, a valid Authorization header on every
#                   request) against the same proxied location without
#                   auth, wrk sending the same header to both; target
#                   >= 0.95 (both)
#   api-key         the same with spec.apiKeyAuth (the key from a Secret,
#                   sent in x-api-key; the plugin removes it before the
#                   upstream) against no auth; target >= 0.95 (both)
#   rbac            the same with spec.rbac: an Allow policy of five CEL
#                   expressions of which only the last matches (so all
#                   five are evaluated: headers, method, path, a regex,
#                   the source address, a list) against no policy, wrk
#                   sending the same headers to both; target >= 0.95
#                   (both)
#
# Before anything is measured each pair's answers are checked: the
# preflight is 200 (gwf) / 204 (nginx) with the Access-Control-* headers
# and an empty body, both auth sides answer 200 with the right credential
# and the plugin side answers 401 once to a wrong one. A plugin that is
# not built is an error (exit 1), not a skip: a benchmark that cannot run
# has failed.
#
# Each pair runs interleaved (baseline, gwf, baseline, gwf, ...) after a
# warm-up of both; the median of the ROUNDS rounds' ratios gives the
# ratio. A second line gives the nginx worker's CPU time per request on
# each side (the upstream server block runs in the same worker, so a
# proxied request's figure holds both ends) and the ratio it implies:
# when wrk's core is the bottleneck, requests/s hide gwf's cost and CPU
# per request shows it; that figure is taken side by side, with a second
# nginx from the same configuration (bench_cpu_pair, bench/lib.sh). Each
# run also estimates the user CPU other
# processes took meanwhile ("other user load", % of a core; a lower
# bound); a median of 10% or more prints a warning, since requests/s then
# say more about the neighbours than about gwf. A ratio under target
# prints MISS; the exit status is 0 unless something failed to run.
#
# Environment:
#   DURATION     wrk duration of each measured run (default 3s)
#   CONNECTIONS  wrk connections (default 32)
#   ROUNDS       measured runs of each side (default 9)
#   WARMUP       wrk duration of the warm-up of each side (default 3s)
#   NGINX        the nginx binary (default /usr/sbin/nginx)
#   WRK          the wrk binary (default wrk)
#   KEEP_TMP=1   keep the temporary prefix (config, error.log) afterwards
set -uo pipefail
# shellcheck source=SCRIPTDIR/../lib.sh
. "$(dirname "$0")/../lib.sh"

usage() { echo "usage: $0 BUILDDIR" >&2; exit 2; }
[ $# -eq 1 ] || usage

duration=${DURATION:-3s}
connections=${CONNECTIONS:-32}
rounds=${ROUNDS:-9}
warmup=${WARMUP:-3s}
nginx=${NGINX:-/usr/sbin/nginx}
wrk=${WRK:-wrk}

die() { echo "bench/policies: $*" >&2; exit 1; }

builddir=$(cd "$1" 2>/dev/null && pwd) || die "no build directory $1"
module=$builddir/host/nginx/ngx_http_gwf_module.so
[ -f "$module" ] ||
    die "$module is missing (meson setup -Dnginx=enabled, then ninja)"
plugin_path=
for p in cors basic_auth api_key_auth rbac; do
    [ -f "$builddir/plugins/$p/$p.so" ] ||
        die "$builddir/plugins/$p/$p.so is missing: the $p pair cannot run"
    plugin_path+=${plugin_path:+:}$builddir/plugins/$p
done
[ -x "$nginx" ] || die "$nginx is not installed"
command -v "$wrk" >/dev/null || die "wrk is not installed (apt-get install wrk)"
command -v curl >/dev/null || die "curl is not installed"
command -v openssl >/dev/null || die "openssl is not installed"

bench_pin_cores

tmp=$(mktemp -d "${TMPDIR:-/tmp}/gwf-bench-policies.XXXXXX") ||
    die "mktemp failed"
master=
# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
    bench_nginx_stop "$master"
    bench_nginx_stop "${master_b:-}"
    bench_remove_tmp "$tmp" bench/policies
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# ------------------------------------------------------------ the policies
origin=https://app.example
acrm=POST
acrh="x-header-1, x-header-2"
# What the cors plugin answers to the preflight below, and what the
# native side sends with add_header (the allowed origin is the request's).
cors_allow_methods="GET, POST"
cors_allow_headers="x-header-1, x-header-2"
cors_expose_headers="x-header-3"
cors_max_age=3600

user=bench
password=s3cret-password
sha=$(printf '%s' "$password" | openssl dgst -sha1 -binary | openssl base64 -A)
basic="Basic $(printf '%s:%s' "$user" "$password" | openssl base64 -A)"
wrong_basic="Basic $(printf '%s:%s' "$user" wrong | openssl base64 -A)"
api_key=k-0123456789abcdef0123456789abcdef

mkdir -p "$tmp/logs" "$tmp/temp"
cat >"$tmp/gwf.yaml" <<YAML
apiVersion: gateway.kgateway.dev/v1alpha1
kind: TrafficPolicy
metadata: {name: cors}
spec:
  cors:
    allowOrigins: ["$origin"]
    allowMethods: [GET, POST]
    allowHeaders: [x-header-1, x-header-2]
    exposeHeaders: [x-header-3]
    allowCredentials: true
    maxAge: $cors_max_age
---
apiVersion: gateway.kgateway.dev/v1alpha1
kind: TrafficPolicy
metadata: {name: basic}
spec:
  basicAuth:
    users: ["$user:{SHA}$sha"]
---
apiVersion: v1
kind: Secret
metadata: {name: keys}
stringData:
  bench-client: "$api_key"
---
apiVersion: gateway.kgateway.dev/v1alpha1
kind: TrafficPolicy
metadata: {name: apikey}
spec:
  apiKeyAuth:
    secretRef: {name: keys}
    keySources: [{header: x-api-key}]
---
apiVersion: gateway.kgateway.dev/v1alpha1
kind: TrafficPolicy
metadata: {name: rbac}
spec:
  rbac:
    action: Allow
    policy:
      matchExpressions:
        - "request.headers['x-team'] == 'payments'"
        - "request.method == 'POST' && request.path.startsWith('/admin')"
        - "request.path.matches('^/internal/.*$')"
        - "source.address == '10.0.0.1'"
        - "request.headers['x-role'] in ['bench', 'admin'] && request.path == '/rbac'"
YAML

# wrk scripts: the request of each pair, the same on both sides.
cat >"$tmp/preflight.lua" <<LUA
wrk.method = "OPTIONS"
wrk.headers["Origin"] = "$origin"
wrk.headers["Access-Control-Request-Method"] = "$acrm"
wrk.headers["Access-Control-Request-Headers"] = "$acrh"
LUA
cat >"$tmp/basic.lua" <<LUA
wrk.headers["Authorization"] = "$basic"
LUA
cat >"$tmp/apikey.lua" <<LUA
wrk.headers["x-api-key"] = "$api_key"
LUA
cat >"$tmp/rbac.lua" <<LUA
wrk.headers["x-team"] = "web"
wrk.headers["x-role"] = "bench"
LUA

write_conf() {
    local proxy='proxy_pass http://up/;
            proxy_http_version 1.1;
            proxy_set_header Connection "";'
{ bench_nginx_conf_head; cat <<CONF; } >"$tmp/nginx.conf"

    gwf_manifests $tmp/gwf.yaml;
    gwf_plugin_path $plugin_path;

    upstream up {
        server 127.0.0.1:$up;
        keepalive 32;
        keepalive_requests 100000000;
    }

    server {
        listen 127.0.0.1:$port;
        location = /native-cors {
            add_header Access-Control-Allow-Origin "$origin" always;
            add_header Access-Control-Allow-Credentials true always;
            add_header Access-Control-Allow-Methods "$cors_allow_methods" always;
            add_header Access-Control-Allow-Headers "$cors_allow_headers" always;
            add_header Access-Control-Expose-Headers "$cors_expose_headers" always;
            add_header Access-Control-Max-Age $cors_max_age always;
            add_header Vary Origin always;
            return 204;
        }
        location = /cors {
            gwf_policy cors;
            $proxy
        }
        location = /plain {
            $proxy
        }
        location = /basic {
            gwf_policy basic;
            $proxy
        }
        location = /apikey {
            gwf_policy apikey;
            $proxy
        }
        location = /rbac {
            gwf_policy rbac;
            $proxy
        }
    }

    server {
        listen 127.0.0.1:$up;
        location / {
            default_type text/plain;
            add_header X-Upstream ok;
            return 200 "ok";
        }
    }
}
CONF
}

# Start nginx; a port taken in the meantime (a bind error) means another
# try with new ports.
for attempt in 1 2 3 4 5; do
    port=$(bench_free_port)
    up=$(bench_free_port "$port")
    write_conf
    bench_nginx_test
    bench_nginx_launch 2>"$tmp/start.err" && break
    if [ "$attempt" = 5 ] || ! grep -q 'bind()' "$tmp/start.err"; then
        cat "$tmp/start.err" >&2
        die "nginx did not start"
    fi
done
bench_nginx_wait_pid

worker_pid() { pgrep -P "$master" | head -1; }

base=http://127.0.0.1:$port
bench_wait_url "$base/plain"

# ------------------------------------------------- answers, before timing

# answer METHOD PATH HEADER...: "status" then the response headers
# (lower-case names, CR removed), then "body:<bytes>".
answer() {
    local method=$1 path=$2 args=() h out
    shift 2
    for h in "$@"; do args+=(-H "$h"); done
    out=$(curl -sS -X "$method" -D "$tmp/headers" -o "$tmp/body" \
        -w '%{http_code}' "${args[@]}" "$base$path") ||
        die "$method $path failed"
    echo "$out"
    tr -d '\r' <"$tmp/headers" | sed -n '2,$p' |
        awk -F': ' 'NF >= 2 { n = tolower($1); sub(/^[^:]*: /, ""); print n ": " $0 }'
    echo "body:$(wc -c <"$tmp/body")"
}
expect_line() {  # WHAT OUTPUT LINE
    grep -qxF -- "$3" <<<"$2" ||
        die "$1: no '$3' in the answer:"$'\n'"$2"
}

check_preflight() {  # PATH STATUS
    local out
    out=$(answer OPTIONS "$1" "Origin: $origin" \
        "Access-Control-Request-Method: $acrm" \
        "Access-Control-Request-Headers: $acrh") || exit 1
    [ "$(head -1 <<<"$out")" = "$2" ] ||
        die "preflight $1: status $(head -1 <<<"$out"), expected $2:"$'\n'"$out"
    expect_line "preflight $1" "$out" "access-control-allow-origin: $origin"
    expect_line "preflight $1" "$out" "access-control-allow-credentials: true"
    expect_line "preflight $1" "$out" "access-control-allow-methods: $cors_allow_methods"
    expect_line "preflight $1" "$out" "access-control-allow-headers: $cors_allow_headers"
    expect_line "preflight $1" "$out" "access-control-expose-headers: $cors_expose_headers"
    expect_line "preflight $1" "$out" "access-control-max-age: $cors_max_age"
    expect_line "preflight $1" "$out" "body:0"
    ! grep -q '^x-upstream:' <<<"$out" ||
        die "preflight $1 reached the upstream:"$'\n'"$out"
}
check_status() {  # WHAT WANT METHOD PATH HEADER...
    local what=$1 want=$2 out got
    shift 2
    out=$(answer "$@") || exit 1
    got=$(head -1 <<<"$out")
    [ "$got" = "$want" ] || die "$what: status $got, expected $want"
}

check_preflight /native-cors 204
check_preflight /cors 200
check_status "GET /plain with credentials" 200 GET /plain "Authorization: $basic"
check_status "GET /basic with the right password" 200 GET /basic "Authorization: $basic"
check_status "GET /basic with a wrong password" 401 GET /basic "Authorization: $wrong_basic"
check_status "GET /basic without credentials" 401 GET /basic
check_status "GET /plain with a key" 200 GET /plain "x-api-key: $api_key"
check_status "GET /apikey with the key" 200 GET /apikey "x-api-key: $api_key"
check_status "GET /apikey with a wrong key" 401 GET /apikey "x-api-key: k-wrong"
check_status "GET /rbac with the role" 200 GET /rbac "x-team: web" "x-role: bench"
check_status "GET /rbac without the role" 403 GET /rbac "x-team: web"

# -------------------------------------------------------------- measuring

# run PATH DURATION: one wrk run with the Lua script $script
# (bench_wrk_cpu): "requests/s worker-ns/request other-load-%".
run() { bench_wrk_cpu "$(worker_pid)" "$base$1" "$2" 0 -s "$script"; }

# run_side PATH PATH-ON-TWIN DURATION: the two at once, for the CPU rows
# (bench_wrk_side).
bench_nginx_twin /plain
run_side() {
    bench_wrk_side "$(worker_pid)" "$base$1" "$(pgrep -P "$master_b" | head -1)" \
        "$base_b$2" "$3" 0 -s "$script"
}

# pair LABEL SCRIPT BASEPATH BASENAME GWFPATH GWFNAME TARGET: interleaved
# rounds; reports requests/s and worker CPU per request (ratio baseline
# CPU / gwf CPU), both against TARGET (bench_cpu_pair).
pair() {
    script=$2
    bench_cpu_pair "$1" "$3" "$4" "$5" "$6" "$7" "$7"
}

echo "bench/policies: nginx $("$nginx" -v 2>&1 | sed 's|.*/||'), 1 worker" \
    "${pin_nginx[*]:+(${pin_nginx[*]})}, wrk -t1 -c$connections -d$duration" \
    "${pin_wrk[*]:+(${pin_wrk[*]})}, $rounds rounds, median" >&2

pair cors-preflight "$tmp/preflight.lua" /native-cors "return 204" \
    /cors cors 0.95 || exit 1
pair basic-auth "$tmp/basic.lua" /plain "no auth" /basic basic_auth 0.95 ||
    exit 1
pair api-key "$tmp/apikey.lua" /plain "no auth" /apikey api_key_auth 0.95 ||
    exit 1
pair rbac "$tmp/rbac.lua" /plain "no policy" /rbac rbac 0.95 || exit 1

# A worker that died mid-run would have failed wrk; say so if one did.
if grep -qs 'exited on signal' "$tmp/logs/error.log" "$tmp/b/logs/error.log"; then
    die "an nginx worker died:"$'\n'"$(grep -s 'exited on signal' "$tmp/logs/error.log" "$tmp/b/logs/error.log")"
fi
exit 0
