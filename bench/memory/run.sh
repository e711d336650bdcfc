#!/usr/bin/env bash
# bench/memory/run.sh - an nginx worker's memory stays flat under load,
# through each plugin: its RSS after MEMORY_REQUESTS (1,000,000) requests
# must be within 64 KiB of its RSS after the first 10,000.
#
#   bash bench/memory/run.sh BUILDDIR [PLUGIN...]
#                       (a meson build dir configured with -Dnginx=enabled,
#                        built; nothing is built here. PLUGIN...: only
#                        these, from the list below)
#
# The system nginx (worker_processes 1, pinned to the last core when there
# are two or more; wrk on the one before) serves one location per plugin,
# each proxying to a server block of the same nginx through a keepalive
# pool unless it answers itself:
#
#   direct_response     gwf_direct_response of a 32-byte body
#   noop                a chain of one no-op plugin (bench/noop.so)
#   jwt_auth            an RS256 token (tests/plugins/jwt_auth/
#                       make_tokens.py), so every request after the first
#                       is a token-cache hit
#   rate_limit-local    a local token bucket never emptied
#   rate_limit-global   a global limit against a redis-server of its own,
#                       never reached (every request is an INCRBY); a
#                       timeout of 5 s, not 100 ms: on a loaded machine
#                       Redis is sometimes slower, and the 500 would stop
#                       the run
#   ext_authz           HTTP mode against an authz server block answering
#                       200 with x-user, headersToBackend [x-user]
#   lambda_signer       a Backend spec.aws (SigV4, Envoy payload, reply
#                       transform) whose endpointURL is a plain-HTTP server
#                       block standing in for Lambda; POSTs of 56 bytes
#
# Each plugin gets a fresh nginx (so that one plugin's freed memory does
# not hide another's growth), then wrk (1 thread, CONNECTIONS
# connections) whose Lua script counts the answers and stops at a given
# number: after 10,000 answers (besides one check request) the worker's
# memory is read, then after runs of a tenth of MEMORY_REQUESTS each
# until that many, again. A non-2xx answer stops the benchmark.
#
# Read from the worker: VmRSS (/proc/PID/status), the figure the target
# is on, and the anonymous memory (Anonymous: in /proc/PID/smaps_rollup,
# private heap and mmap pages), which is less noisy: VmRSS also moves
# with file and shared pages (the metrics zone's pages fault in as series
# are first touched; by 10,000 requests they all are). Printed per plugin:
#
#   memory PLUGIN: RSS after 10k N KiB, after 1M N KiB, growth N KiB
#   (target <= 64) PASS|MISS; anonymous N -> N KiB (growth N KiB)
#
# and a MISS does not change the exit status (0 unless something failed
# to run).
#
# Environment: MEMORY_REQUESTS (1000000), MEMORY_FIRST (10000),
# MEMORY_TARGET_KIB (64), CONNECTIONS (32), NGINX (/usr/sbin/nginx),
# WRK (wrk), KEEP_TMP=1.
set -uo pipefail
# shellcheck source=SCRIPTDIR/../lib.sh
. "$(dirname "$0")/../lib.sh"

all_plugins=(direct_response noop jwt_auth rate_limit-local
    rate_limit-global ext_authz lambda_signer)
usage() {
    echo "usage: $0 BUILDDIR [PLUGIN...]; PLUGIN: ${all_plugins[*]}" >&2
    exit 2
}
[ $# -ge 1 ] || usage

requests=${MEMORY_REQUESTS:-1000000}
first=${MEMORY_FIRST:-10000}
target_kib=${MEMORY_TARGET_KIB:-64}
connections=${CONNECTIONS:-32}
nginx=${NGINX:-/usr/sbin/nginx}
wrk=${WRK:-wrk}
src=$(cd "$(dirname "$0")/../.." && pwd)

die() { echo "bench/memory: $*" >&2; exit 1; }

builddir=$(cd "$1" 2>/dev/null && pwd) || die "no build directory $1"
shift
plugins=("$@")
[ ${#plugins[@]} -gt 0 ] || plugins=("${all_plugins[@]}")
for p in "${plugins[@]}"; do
    [[ " ${all_plugins[*]} " == *" $p "* ]] || usage
done

module=$builddir/host/nginx/ngx_http_gwf_module.so
[ -f "$module" ] || die "$module is missing (meson setup -Dnginx=enabled)"
plugin_path=$builddir/bench
for so in direct_response ext_authz jwt_auth lambda_signer rate_limit; do
    [ -f "$builddir/plugins/$so/$so.so" ] ||
        die "$builddir/plugins/$so/$so.so is missing"
    plugin_path+=:$builddir/plugins/$so
done
[ -f "$builddir/bench/noop.so" ] || die "$builddir/bench/noop.so is missing"
[ -x "$nginx" ] || die "$nginx is not installed"
[ -x /usr/bin/redis-server ] || die "redis-server is not installed"
command -v "$wrk" >/dev/null || die "wrk is not installed"
command -v curl >/dev/null || die "curl is not installed"

bench_pin_cores

tmp=$(mktemp -d "${TMPDIR:-/tmp}/gwf-bench-memory.XXXXXX") ||
    die "mktemp failed"
chmod 755 "$tmp"
master=
redis_pid=
# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
    bench_nginx_stop "$master"
    if [ -n "$redis_pid" ]; then
        kill "$redis_pid" 2>/dev/null
        wait "$redis_pid" 2>/dev/null
    fi
    bench_remove_tmp "$tmp" bench/memory
}
trap cleanup EXIT
trap 'exit 1' INT TERM

rport=$(bench_free_port)
port=$(bench_free_port "$rport")
up=$(bench_free_port "$rport" "$port")
authz=$(bench_free_port "$rport" "$port" "$up")
lambda=$(bench_free_port "$rport" "$port" "$up" "$authz")

/usr/bin/redis-server --port "$rport" --bind 127.0.0.1 --save '' \
    --appendonly no --dir "$tmp" >"$tmp/redis.log" 2>&1 &
redis_pid=$!
for _ in $(seq 50); do
    redis-cli -p "$rport" ping >/dev/null 2>&1 && break
    sleep 0.1
done
redis-cli -p "$rport" ping >/dev/null 2>&1 ||
    die "redis-server did not start: $(tail -3 "$tmp/redis.log")"

/usr/bin/python3 "$src/tests/plugins/jwt_auth/make_tokens.py" \
    "$(date +%s)" "$tmp/tokens.json" || die "make_tokens.py failed"
token=$(/usr/bin/python3 -c 'import json, sys
print(json.load(open(sys.argv[1]))["tokens"]["RS256"])' "$tmp/tokens.json")
jwks=$(/usr/bin/python3 -c 'import json, sys
print(json.dumps(json.dumps(json.load(open(sys.argv[1]))["jwks"])))' \
    "$tmp/tokens.json")

body=0123456789abcdef0123456789abcdef # 32 bytes
mkdir -p "$tmp/logs" "$tmp/temp"
cat >"$tmp/gwf.yaml" <<YAML
apiVersion: gateway.kgateway.dev/v1alpha1
kind: DirectResponse
metadata: {name: hello}
spec: {status: 200, body: "$body", contentType: text/plain}
---
apiVersion: gateway.kgateway.dev/v1alpha1
kind: GatewayExtension
metadata: {name: noop}
spec: {plugin: {name: noop}}
---
apiVersion: gateway.kgateway.dev/v1alpha1
kind: GatewayExtension
metadata: {name: jwt}
spec:
  jwt:
    providers:
      - name: idp
        issuer: https://issuer.example
        audiences: [api]
        claimsToHeaders: [{name: sub, header: x-sub}]
        jwks: {local: {inline: $jwks}}
---
apiVersion: gateway.kgateway.dev/v1alpha1
kind: TrafficPolicy
metadata: {name: jwt}
spec: {jwtAuth: {extensionRef: {name: jwt}}}
---
apiVersion: gateway.kgateway.dev/v1alpha1
kind: TrafficPolicy
metadata: {name: local}
spec:
  rateLimit:
    local:
      tokenBucket: {maxTokens: 1000000000, tokensPerFill: 1000000000, fillInterval: 1s}
---
apiVersion: gateway.kgateway.dev/v1alpha1
kind: GatewayExtension
metadata: {name: rl}
spec:
  rateLimit:
    domain: bench
    timeout: 5s
    redis: {address: "127.0.0.1:$rport"}
    descriptors:
      - {key: generic_key, value: open, rate_limit: {unit: hour, requests_per_unit: 4294967295}}
---
apiVersion: gateway.kgateway.dev/v1alpha1
kind: TrafficPolicy
metadata: {name: global}
spec:
  rateLimit:
    global:
      extensionRef: {name: rl}
      descriptors: [{entries: [{type: Generic, generic: {key: generic_key, value: open}}]}]
---
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
metadata: {name: authz}
spec: {extAuth: {extensionRef: {name: authz}}}
---
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
    lambda: {functionName: bench, endpointURL: "http://127.0.0.1:$lambda"}
YAML

proxy_up='proxy_pass http://up/; proxy_http_version 1.1;
            proxy_set_header Connection "";'
{ bench_nginx_conf_head; cat <<CONF; } >"$tmp/nginx.conf"

    gwf_manifests $tmp/gwf.yaml;
    gwf_plugin_path $plugin_path;

    upstream up {
        server 127.0.0.1:$up;
        keepalive 32;
        keepalive_requests 100000000;
    }
    upstream lambda {
        server 127.0.0.1:$lambda;
        keepalive 32;
        keepalive_requests 100000000;
    }

    server {
        listen 127.0.0.1:$port;
        location = /direct_response { gwf_direct_response hello; }
        location = /noop { gwf_extension noop; $proxy_up }
        location = /jwt_auth { gwf_policy jwt; $proxy_up }
        location = /rate_limit-local { gwf_policy local; $proxy_up }
        location = /rate_limit-global { gwf_policy global; $proxy_up }
        location = /ext_authz { gwf_policy authz; $proxy_up }
        location = /lambda_signer {
            gwf_backend fn;
            proxy_pass http://lambda;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
    server {
        listen 127.0.0.1:$up;
        location / { default_type text/plain; return 200 "ok"; }
    }
    server {
        listen 127.0.0.1:$authz;
        location / { add_header x-user bench; return 200; }
    }
    server {
        listen 127.0.0.1:$lambda;
        location / {
            default_type application/json;
            return 200 '{"body": "ok"}';
        }
    }
}
CONF

cat >"$tmp/post.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"order": 42, "items": ["a", "b"], "note": "benchmark"}'
wrk.headers["Content-Type"] = "application/json"
LUA

base=http://127.0.0.1:$port

# check PLUGIN: one request through it answers 200 with the right body.
check() {
    local url=$base/$1 want=ok got
    case $1 in
    direct_response) want=$body ;;
    esac
    case $1 in
    jwt_auth) got=$(curl -fsS -H "Authorization: Bearer $token" "$url") ;;
    lambda_signer) got=$(curl -fsS -X POST -H 'Content-Type: application/json' \
        -d '{"order": 42}' "$url") ;;
    *) got=$(curl -fsS "$url") ;;
    esac || die "$1: the first request failed: $(tail -3 "$tmp/logs/error.log")"
    [ "$got" = "$want" ] || die "$1 answered '$got', expected '$want'"
}

# load PLUGIN N: one wrk run that ends when N answers have come (its
# Lua counts them and exits; a non-2xx answer exits with an error). A run
# that does not get there within 300 s fails.
load() {
    local out args=(-s "$tmp/get-$2.lua")
    [ -f "$tmp/get-$2.lua" ] || write_lua "$2"
    case $1 in
    jwt_auth) args+=(-H "Authorization: Bearer $token") ;;
    lambda_signer) args=(-s "$tmp/post-$2.lua") ;;
    esac
    out=$("${pin_wrk[@]}" "$wrk" -t1 -c"$connections" -d300s "${args[@]}" \
        "$base/$1" 2>&1) ||
        die "wrk failed on /$1: $out"$'\n'"nginx's error.log ends:"$'\n'"$(tail -5 "$tmp/logs/error.log")"
    if grep -q ' requests in ' <<<"$out"; then
        die "wrk on /$1 did not get $2 answers in 300 s:"$'\n'"$out"
    fi
}

# write_lua N: wrk scripts that stop after N answers (GET, and the POST
# the lambda_signer location gets).
write_lua() {
    cat >"$tmp/get-$1.lua" <<LUA
local n = 0
function response(status, headers, body)
    if status < 200 or status > 299 then
        io.stderr:write("answer " .. status .. "\\n")
        os.exit(3)
    end
    n = n + 1
    if n >= $1 then os.exit(0) end
end
LUA
    { cat "$tmp/post.lua" "$tmp/get-$1.lua"; } >"$tmp/post-$1.lua"
}

rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
anon_kib() { awk '/^Anonymous:/ { print $2 }' "/proc/$1/smaps_rollup"; }

# soak PLUGIN DONE GOAL: wrk runs of up to a tenth of GOAL each until
# DONE answers reach GOAL, with a line on stderr after each.
soak() {
    local plugin=$1 done=$2 goal=$3 chunk n
    chunk=$((goal / 10))
    [ "$chunk" -ge "$first" ] || chunk=$first
    while [ "$done" -lt "$goal" ]; do
        n=$((goal - done))
        [ "$n" -le "$chunk" ] || n=$chunk
        load "$plugin" "$n"
        done=$((done + n))
        echo "  memory $plugin: $done requests, VmRSS $(rss_kib "$worker")" \
            "KiB, anonymous $(anon_kib "$worker") KiB" >&2
    done
}

echo "bench/memory: nginx $("$nginx" -v 2>&1 | sed 's|.*/||'), 1 worker" \
    "${pin_nginx[*]:+(${pin_nginx[*]})}, wrk -t1 -c$connections" \
    "${pin_wrk[*]:+(${pin_wrk[*]})}; worker memory after $first and after" \
    "$requests requests per plugin, a fresh nginx each" >&2

label_n() { # 10000 -> 10k, 1000000 -> 1M
    awk -v n="$1" 'BEGIN { if (n % 1000000 == 0) printf "%dM", n / 1000000
        else if (n % 1000 == 0) printf "%dk", n / 1000; else printf "%d", n }'
}
first_l=$(label_n "$first")
req_l=$(label_n "$requests")

for plugin in "${plugins[@]}"; do
    bench_nginx_start
    bench_wait_url "$base/direct_response"
    worker=$(pgrep -P "$master" | head -1)
    [ -n "$worker" ] || die "no nginx worker"
    check "$plugin"
    soak "$plugin" 0 "$first"
    rss0=$(rss_kib "$worker")
    anon0=$(anon_kib "$worker")
    soak "$plugin" "$first" "$requests"
    rss1=$(rss_kib "$worker")
    anon1=$(anon_kib "$worker")
    [ "$(pgrep -P "$master" | head -1)" = "$worker" ] ||
        die "the nginx worker restarted during $plugin"
    if grep -q '\[alert\]\|\[crit\]\|\[emerg\]' "$tmp/logs/error.log"; then
        die "nginx logged problems during $plugin:"$'\n'"$(grep '\[alert\]\|\[crit\]\|\[emerg\]' "$tmp/logs/error.log" | head)"
    fi
    bench_nginx_stop "$master"
    master=
    growth=$((rss1 - rss0))
    verdict=PASS
    [ "$growth" -le "$target_kib" ] || verdict=MISS
    echo "memory $plugin: RSS after $first_l $rss0 KiB, after $req_l $rss1 KiB," \
        "growth $growth KiB (target <= $target_kib) $verdict;" \
        "anonymous $anon0 -> $anon1 KiB (growth $((anon1 - anon0)) KiB)"
    bench_report "$plugin" "after $first_l" "$rss0 KiB" \
        "after $req_l" "$rss1 KiB" "$(printf '%+d KiB' "$growth")" \
        "<= +$target_kib KiB" "$verdict"
    mv "$tmp/logs/error.log" "$tmp/logs/error-$plugin.log"
done
exit 0
