#!/usr/bin/env bash
# bench/rate_limit/run.sh - the rate_limit plugin against its ceilings,
# measured in the same run on the same machine, over loopback.
#
#   bash bench/rate_limit/run.sh BUILDDIR   (a meson build dir configured
#                                            with -Dnginx=enabled, built)
#
# It starts its own redis-server (free loopback port, no persistence) and
# the system nginx (1 worker, access_log off) from a temporary prefix, and
# reports three ratios:
#
#   decisions   decisions/s of the plugin on the in-process test host
#               (bench_rl_decisions: CONCURRENCY requests in flight, one
#               INCRBY + EXPIRE each, pipelined on the worker's connection)
#               against redis-benchmark's ceiling for the same commands
#               (-P CONCURRENCY, one client): 1 / (1/INCRBY/s + 1/EXPIRE/s);
#               target >= 0.8
#   global      nginx requests/s through a global Redis limit that is never
#               reached, against the same proxy without it, and the
#               worker's CPU time per request (baseline / gwf); target
#               >= 0.9 for both
#   overcache   requests/s for a key over its limit, answered from the
#               over-limit cache (429, no Redis traffic), against a
#               DirectResponse 429, and the worker's CPU time per request
#               (baseline / gwf); target >= 0.98 for both
#
# All three are wall-clock rates: on a loaded machine they move by tens of
# percent from run to run (the decisions line most: bench_rl_decisions and
# redis-server share the cores with whatever else runs). Compare them on
# a quiet machine, or by CPU time per decision / request: the nginx
# rows' CPU time per request is taken side by side, with a second nginx
# from the same configuration (bench_cpu_pair, bench/lib.sh).
#
# Runs are interleaved (baseline, gwf, ...) after a warm-up; the median of
# the ROUNDS rounds' ratios gives the ratio. A ratio under target prints
# MISS instead of PASS; the exit status is 0 unless something failed to run.
#
# The decisions line runs DECISION_ROUNDS rounds, each the ceiling's
# redis-benchmark runs and the plugin's, in alternating order: the same
# Redis served both moments apart, where one measurement of each swung
# the ratio by 20% (the ceiling alone read 397k and 475k in two runs).
#
# Environment: DURATION (wrk run, default 3s), CONNECTIONS (wrk, 32),
# ROUNDS (9), WARMUP (2s), TOTAL (decisions, 200000), CONCURRENCY (64),
# DECISION_ROUNDS (5), NGINX (/usr/sbin/nginx), WRK (wrk), KEEP_TMP=1.
set -uo pipefail
# shellcheck source=SCRIPTDIR/../lib.sh
. "$(dirname "$0")/../lib.sh"

usage() { echo "usage: $0 BUILDDIR" >&2; exit 2; }
[ $# -eq 1 ] || usage

duration=${DURATION:-3s}
connections=${CONNECTIONS:-32}
rounds=${ROUNDS:-9}
warmup=${WARMUP:-2s}
total=${TOTAL:-200000}
concurrency=${CONCURRENCY:-64}
decision_rounds=${DECISION_ROUNDS:-5}
nginx=${NGINX:-/usr/sbin/nginx}
wrk=${WRK:-wrk}

die() { echo "bench/rate_limit: $*" >&2; exit 1; }

builddir=$(cd "$1" 2>/dev/null && pwd) || die "no build directory $1"
module=$builddir/host/nginx/ngx_http_gwf_module.so
rl_dir=$builddir/plugins/rate_limit
dr_dir=$builddir/plugins/direct_response
decisions=${BENCH_DECISIONS:-$builddir/bench/rate_limit/bench_rl_decisions}
[ -f "$module" ] || die "$module is missing (meson setup -Dnginx=enabled)"
[ -f "$rl_dir/rate_limit.so" ] || die "$rl_dir/rate_limit.so is missing"
[ -f "$dr_dir/direct_response.so" ] || die "$dr_dir/direct_response.so is missing"
[ -x /usr/bin/redis-server ] || die "redis-server is not installed"
command -v redis-benchmark >/dev/null || die "redis-benchmark is not installed"
command -v "$wrk" >/dev/null || die "wrk is not installed"

bench_pin_cores

tmp=$(mktemp -d "${TMPDIR:-/tmp}/gwf-bench-rl.XXXXXX") || die "mktemp failed"
master=
redis_pid=
# shellcheck disable=SC2317
cleanup() {
    bench_nginx_stop "$master"
    bench_nginx_stop "${master_b:-}"
    [ -n "$redis_pid" ] && kill -KILL "$redis_pid" 2>/dev/null
    bench_remove_tmp "$tmp" bench/rate_limit
}
trap cleanup EXIT
trap 'exit 1' INT TERM

rport=$(bench_free_port)
port=$(bench_free_port "$rport")
up=$(bench_free_port "$rport" "$port")

# Redis runs on wrk's core, never on the worker's: the ratios are the
# gateway's cost, as with Redis on a machine of its own, not the share of
# the worker's core a local redis-server would take (about 6% of it at
# 30,000 requests/s when the scheduler puts it there).
"${pin_wrk[@]}" /usr/bin/redis-server --port "$rport" --bind 127.0.0.1 --save '' \
    --appendonly no --dir "$tmp" >"$tmp/redis.log" 2>&1 &
redis_pid=$!
disown "$redis_pid" 2>/dev/null
for _ in $(seq 50); do
    redis-cli -p "$rport" ping >/dev/null 2>&1 && break
    sleep 0.1
done
redis-cli -p "$rport" ping >/dev/null 2>&1 || die "redis-server did not start"

# ------------------------------------------------------------- decisions
if [ -x "$decisions" ]; then
    bench_rps() {  # redis-benchmark's requests/s for one command
        redis-benchmark -p "$rport" -c 1 -P "$concurrency" -n "$total" -q \
            "$@" 2>/dev/null | tr '\r' '\n' |
            sed -n 's/.*: \([0-9.]*\) requests per second.*/\1/p' | tail -1
    }
    # One round: the ceiling (INCRBY, then EXPIRE) and the plugin, in
    # turn; which goes first alternates, as in the other pairs.
    ceilings=() rates=()
    ceiling_round() {
        local incr expire
        incr=$(bench_rps INCRBY bench_key 1)
        expire=$(bench_rps EXPIRE bench_key 3600)
        ceilings+=("$(awk -v a="$incr" -v b="$expire" \
            'BEGIN { printf "%.0f", (a > 0 && b > 0) ? 1 / (1 / a + 1 / b) : 0 }')")
        echo "    redis-benchmark INCRBY $incr/s, EXPIRE $expire/s" >&2
    }
    plugin_round() {
        local got
        got=$(GWF_PLUGIN_PATH=$rl_dir "$decisions" "$rport" "$total" \
            "$concurrency") || die "bench_rl_decisions failed: $got"
        rates+=("$(awk '{ print $2 }' <<<"$got")")
    }
    for i in $(seq "$decision_rounds"); do
        if [ $((i % 2)) -eq 1 ]; then
            ceiling_round
            plugin_round
        else
            plugin_round
            ceiling_round
        fi
        echo "  round $i: ceiling ${ceilings[-1]} decisions/s, plugin" \
            "${rates[-1]} decisions/s" >&2
    done
    ceiling=$(bench_median "${ceilings[@]}")
    rate=$(bench_median "${rates[@]%.*}")
    host=$(GWF_PLUGIN_PATH=$rl_dir "$decisions" 0 "$total" "$concurrency" |
        awk '{ print $2 }')
    dratio=$(bench_median_ratio "${rates[*]}" "${ceilings[*]}")
    echo "decisions: plugin $rate decisions/s ($concurrency in flight);" \
        "redis-benchmark ceiling $ceiling decisions/s (medians of" \
        "$decision_rounds rounds); ratio $dratio (median of the rounds'" \
        "ratios, target >= 0.8) $(bench_verdict "$dratio" 0.8); the test" \
        "host alone (no Redis) runs $host requests/s"
    bench_report decisions redis-benchmark "$ceiling decisions/s" plugin \
        "$rate decisions/s" "$dratio" ">= 0.8" "$(bench_verdict "$dratio" 0.8)"
else
    echo "decisions: skipped ($decisions not built)"
fi

# ----------------------------------------------------------------- nginx
mkdir -p "$tmp/logs" "$tmp/temp"
cat >"$tmp/gwf.yaml" <<YAML
apiVersion: gateway.kgateway.dev/v1alpha1
kind: GatewayExtension
metadata: {name: rl}
spec:
  rateLimit:
    domain: bench
    redis: {address: "127.0.0.1:$rport"}
    descriptors:
      - {key: generic_key, value: open, rate_limit: {unit: hour, requests_per_unit: 4294967295}}
      - {key: generic_key, value: closed, rate_limit: {unit: hour, requests_per_unit: 0}}
---
apiVersion: gateway.kgateway.dev/v1alpha1
kind: TrafficPolicy
metadata: {name: open}
spec:
  rateLimit:
    global:
      extensionRef: {name: rl}
      descriptors: [{entries: [{type: Generic, generic: {key: generic_key, value: open}}]}]
---
apiVersion: gateway.kgateway.dev/v1alpha1
kind: TrafficPolicy
metadata: {name: closed}
spec:
  rateLimit:
    global:
      extensionRef: {name: rl}
      descriptors: [{entries: [{type: Generic, generic: {key: generic_key, value: closed}}]}]
---
apiVersion: gateway.kgateway.dev/v1alpha1
kind: DirectResponse
metadata: {name: too-many}
spec: {status: 429}
YAML

{ bench_nginx_conf_head; cat <<CONF; } >"$tmp/nginx.conf"
    gwf_manifests $tmp/gwf.yaml;
    gwf_plugin_path $rl_dir:$dr_dir;
    upstream up {
        server 127.0.0.1:$up;
        keepalive 32;
        keepalive_requests 100000000;
    }
    server {
        listen 127.0.0.1:$port;
        location = /plain {
            proxy_pass http://up/;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
        location = /limited {
            gwf_policy open;
            proxy_pass http://up/;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
        location = /dr429 { gwf_direct_response too-many; }
        location = /over {
            gwf_policy closed;
            proxy_pass http://up/;
        }
    }
    server {
        listen 127.0.0.1:$up;
        location / { default_type text/plain; return 200 "ok"; }
    }
}
CONF

bench_nginx_start
base=http://127.0.0.1:$port
bench_wait_url "$base/plain"

status() { curl -s -o /dev/null -w '%{http_code}' "$base$1"; }
[ "$(status /plain)" = 200 ] || die "GET /plain is not 200"
[ "$(status /limited)" = 200 ] || die "GET /limited is not 200"
[ "$(status /dr429)" = 429 ] || die "GET /dr429 is not 429"
[ "$(status /over)" = 429 ] || die "GET /over is not 429"

# run PATH DURATION: one wrk run (bench_wrk_cpu): "requests/s
# worker-ns/request other-load-%"; 429s are the point of /dr429 and /over.
worker_pid() { pgrep -P "$master" | head -1; }
run() {
    local allow=0
    case $1 in /dr429 | /over) allow=1 ;; esac
    bench_wrk_cpu "$(worker_pid)" "$base$1" "$2" "$allow"
}

# run_side PATH PATH-ON-TWIN DURATION: the two at once, for the CPU rows
# (bench_wrk_side).
bench_nginx_twin /plain
run_side() {
    local allow=0
    case $1$2 in */dr429* | */over*) allow=1 ;; esac
    bench_wrk_side "$(worker_pid)" "$base$1" "$(pgrep -P "$master_b" | head -1)" \
        "$base_b$2" "$3" "$allow"
}

bench_cpu_pair global /plain /plain /limited /limited 0.9 0.9
bench_cpu_pair overcache /dr429 /dr429 /over /over 0.98 0.98
echo "overcache: Redis INCRBY calls for the closed key:" \
    "$(redis-cli -p "$rport" get "bench_generic_key_closed_$(( $(date +%s) / 3600 * 3600 ))")" \
    "(those sent before each worker had its first over-limit answer:" \
    "every later request came from its cache)"
exit 0
