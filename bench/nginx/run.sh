#!/usr/bin/env bash
# bench/nginx/run.sh - gwf inside nginx against nginx doing the same work
# natively, measured in the same run on the same machine, over loopback.
#
#   bash bench/nginx/run.sh BUILDDIR        (BUILDDIR: a meson build dir
#                                            configured with -Dnginx=enabled,
#                                            already built; nothing is built)
#
# It starts the system nginx (/usr/sbin/nginx, worker_processes 1,
# access_log off, keepalive on) from a temporary prefix with a generated
# configuration that loads BUILDDIR/host/nginx/ngx_http_gwf_module.so, and
# drives it with wrk (1 thread). nginx is pinned to one core and wrk to
# the other when the machine has two or more (taskset), so each gets a core.
#
#   directresponse  `return 200 "<32 bytes>"` (native) against
#                   `gwf_direct_response hello` (the DirectResponse plugin,
#                   the same 32-byte body and content type); target >= 0.95
#   proxy+noop      proxy_pass to a local upstream (a second server block in
#                   the same nginx, answering `return 200 "ok"`, reached
#                   through an upstream keepalive pool) against the same
#                   proxy_pass with a gwf chain of one no-op plugin
#                   (bench/noop.so, a GatewayExtension with
#                   spec.plugin.name: noop); target >= 0.97
#   memory          the worker's VmRSS before and after 1,000,000 requests
#                   to /gwf and then to /noop, counted by gwf_streams_total
#                   from a gwf_metrics location; target: growth < 1 MiB
#
# Each pair runs interleaved (baseline, gwf, baseline, gwf, ...) after a
# warm-up of both, and the median requests/s of each side gives the ratio.
# A second line gives the nginx worker's CPU time per request on each side
# and the ratio it implies: for a tiny local reply wrk's core is often the
# bottleneck, and then requests/s hide gwf's cost while CPU/request shows
# it. Each run also measures the user CPU that other processes took
# meanwhile ("other user load", in % of a core; a lower bound); a median
# of 10% or more prints a warning, since requests/s then say more about
# the neighbours than about gwf.
# A ratio under target prints MISS instead of PASS: this is a benchmark,
# not a test, so the exit status is 0 unless something failed to run
# (nginx did not start, wrk failed, a response was not 2xx).
#
# The memory part reads "before" after a first look at /metrics: reading
# the metrics zone maps its shared pages into the worker (about 4 MiB of
# VmRSS with fault-around), which is not growth. RssAnon (the heap) is
# printed next to VmRSS.
#
# Environment:
#   DURATION     wrk duration of each measured run (default 10s)
#   CONNECTIONS  wrk connections (default 32)
#   ROUNDS       measured runs of each side (default 3)
#   WARMUP       wrk duration of the warm-up of each side (default 3s)
#   BENCH_MEMORY 0 skips the memory part (default 1: about a minute on
#                the 2-core machine; the whole script takes about 3.5)
#   BENCH_RATIO  0 skips the two throughput pairs (default 1)
#   MEMORY_REQUESTS  requests per location for the memory part (1000000)
#   NGINX        the nginx binary (default /usr/sbin/nginx)
#   WRK          the wrk binary (default wrk)
#   KEEP_TMP=1   keep the temporary prefix (config, error.log) afterwards
set -uo pipefail
# shellcheck source=SCRIPTDIR/../lib.sh
. "$(dirname "$0")/../lib.sh"

usage() { echo "usage: $0 BUILDDIR" >&2; exit 2; }
[ $# -eq 1 ] || usage

duration=${DURATION:-10s}
connections=${CONNECTIONS:-32}
rounds=${ROUNDS:-3}
warmup=${WARMUP:-3s}
bench_memory=${BENCH_MEMORY:-1}
bench_ratio=${BENCH_RATIO:-1}
memory_requests=${MEMORY_REQUESTS:-1000000}
nginx=${NGINX:-/usr/sbin/nginx}
wrk=${WRK:-wrk}

die() { echo "bench/nginx: $*" >&2; exit 1; }

builddir=$(cd "$1" 2>/dev/null && pwd) || die "no build directory $1"
module=$builddir/host/nginx/ngx_http_gwf_module.so
noop_dir=$builddir/bench
dr_dir=$builddir/plugins/direct_response
[ -f "$module" ] ||
    die "$module is missing (meson setup -Dnginx=enabled, then ninja)"
[ -f "$noop_dir/noop.so" ] || die "$noop_dir/noop.so is missing"
[ -f "$dr_dir/direct_response.so" ] ||
    die "$dr_dir/direct_response.so is missing"
[ -x "$nginx" ] || die "$nginx is not installed"
command -v "$wrk" >/dev/null || die "wrk is not installed (apt-get install wrk)"
command -v curl >/dev/null || die "curl is not installed"

bench_pin_cores

tmp=$(mktemp -d "${TMPDIR:-/tmp}/gwf-bench-nginx.XXXXXX") ||
    die "mktemp failed"
master=
# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
    bench_nginx_stop "$master"
    bench_remove_tmp "$tmp" bench/nginx
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# A free loopback port: no TCP socket uses it, and it lies below the
# ephemeral range (where wrk's and everyone else's outgoing connections
# take theirs), from a random start.
read -r eph_lo _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null ||
    eph_lo=32768
port_taken() { [ -n "$(ss -Htan "sport = :$1" 2>/dev/null)" ]; }
free_port() {
    local lo=10000 hi=$((eph_lo - 1)) p
    [ "$hi" -gt $((lo + 1000)) ] || { lo=20000; hi=30000; }
    p=$((lo + RANDOM % (hi - lo)))
    while port_taken "$p" || [ "$p" = "${1:-}" ]; do
        p=$((p + 1))
        [ "$p" -le "$hi" ] || p=$lo
    done
    echo "$p"
}

body=0123456789abcdef0123456789abcdef   # 32 bytes, both sides

mkdir -p "$tmp/logs" "$tmp/temp"
cat >"$tmp/gwf.yaml" <<YAML
apiVersion: gateway.kgateway.dev/v1alpha1
kind: DirectResponse
metadata:
  name: hello
spec:
  status: 200
  body: "$body"
  contentType: text/plain
---
apiVersion: gateway.kgateway.dev/v1alpha1
kind: GatewayExtension
metadata:
  name: noop
spec:
  plugin:
    name: noop
YAML

write_conf() {
{ bench_nginx_conf_head; cat <<CONF; } >"$tmp/nginx.conf"

    gwf_manifests $tmp/gwf.yaml;
    gwf_plugin_path $noop_dir:$dr_dir;

    upstream up {
        server 127.0.0.1:$up;
        keepalive 32;
        keepalive_requests 100000000;
    }

    server {
        listen 127.0.0.1:$port;
        location = /native {
            default_type text/plain;
            return 200 "$body";
        }
        location = /gwf {
            gwf_direct_response hello;
        }
        location = /plain {
            proxy_pass http://up/;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
        location = /noop {
            gwf_extension noop;
            proxy_pass http://up/;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
        location = /metrics {
            gwf_metrics;
        }
    }

    server {
        listen 127.0.0.1:$up;
        location / {
            default_type text/plain;
            return 200 "ok";
        }
    }
}
CONF
}

# Start nginx; a port taken in the meantime (a bind error) means another
# try with new ports.
for attempt in 1 2 3 4 5; do
    port=$(free_port)
    up=$(free_port "$port")
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
bench_wait_url "$base/native"

# Both sides must answer 200 with the expected body before anything is
# measured.
check() {
    local path=$1 want=$2 got
    got=$(curl -fsS "$base$path") || die "GET $path failed"
    [ "$got" = "$want" ] || die "GET $path answered '$got', expected '$want'"
}
check /native "$body"
check /gwf "$body"
check /plain ok
check /noop ok

# The worker's CPU time so far, in ns (user + system, from the scheduler).
worker_ns() { awk '{ print $1 }' "/proc/$1/schedstat"; }

# User-space CPU time so far, in ms: of the whole machine (/proc/stat,
# every core), of one process (/proc/PID/stat), and of this shell's
# waited-for children (wrk). Other processes' load is estimated from user
# time only: system and softirq time of loopback traffic is not always
# charged to the process that caused it, user time is.
hz=$(getconf CLK_TCK 2>/dev/null || echo 100)
machine_user_ms() {
    awk -v hz="$hz" '$1 == "cpu" { printf "%d", ($2 + $3) * 1000 / hz }' \
        /proc/stat
}
process_user_ms() {
    awk -v hz="$hz" '{ sub(/.*\) /, ""); printf "%d", $12 * 1000 / hz }' \
        "/proc/$1/stat"
}
children_user_ms() {
    times | awk 'NR == 2 { split($1, t, "m"); printf "%d", (t[1] * 60 + t[2]) * 1000 }'
}

# run PATH DURATION: one wrk run; prints "requests/s worker-ns/request
# other-load-%": the last is the user CPU time used during the run by
# anything but the nginx worker and wrk (other processes on this machine),
# in % of one core. Fails on socket errors or non-2xx responses (the comparison
# would be meaningless).
run() {
    local path=$1 dur=$2 out rps n worker t0 t1 m0 m1 u0 u1 c0 c1 w0 w1 other
    worker=$(worker_pid)
    [ -n "$worker" ] || die "no nginx worker"
    c0=$(children_user_ms)
    m0=$(machine_user_ms)
    u0=$(process_user_ms "$worker")
    w0=$(date +%s%N)
    t0=$(worker_ns "$worker")
    out=$("${pin_wrk[@]}" "$wrk" -t1 -c"$connections" -d"$dur" \
        "$base$path" 2>&1) || die "wrk failed on $path: $out"
    t1=$(worker_ns "$worker")
    w1=$(date +%s%N)
    u1=$(process_user_ms "$worker")
    m1=$(machine_user_ms)
    c1=$(children_user_ms)
    if grep -q 'Non-2xx\|Socket errors' <<<"$out"; then
        die "wrk on $path saw errors:"$'\n'"$out"
    fi
    rps=$(awk '/^Requests\/sec:/ { print $2 }' <<<"$out")
    n=$(awk '/ requests in / { print $1 }' <<<"$out")
    if [ -z "$rps" ] || [ -z "$n" ] || [ "$n" -le 0 ]; then
        die "no Requests/sec from wrk on $path:"$'\n'"$out"
    fi
    other=$(((m1 - m0) - (u1 - u0) - (c1 - c0)))
    [ "$other" -ge 0 ] || other=0
    echo "${rps%.*} $(((t1 - t0) / n)) $((other * 100000000 / (w1 - w0)))"
}

# pair LABEL BASEPATH BASENAME GWFPATH TARGET
# Besides requests/s it prints the nginx worker's CPU time per request
# (median, user + system, from /proc/PID/schedstat) and the ratio it
# implies (baseline CPU / gwf CPU): when wrk's core rather than nginx's is
# the bottleneck (a tiny local reply costs the client about as much as the
# server), the requests/s ratio hides gwf's cost and this one shows it.
pair() {
    local label=$1 bpath=$2 bname=$3 gpath=$4 target=$5
    local b=() g=() bc=() gc=() o=() i r rps cpu other mb mg mbc mgc mo ratio verdict
    run "$bpath" "$warmup" >/dev/null || exit 1
    run "$gpath" "$warmup" >/dev/null || exit 1
    for i in $(seq "$rounds"); do
        r=$(run "$bpath" "$duration") || exit 1
        read -r rps cpu other <<<"$r"
        b+=("$rps"); bc+=("$cpu"); o+=("$other")
        echo "  $label round $i: $bname $rps req/s ($cpu ns CPU/req," \
            "other user load $other%)" >&2
        r=$(run "$gpath" "$duration") || exit 1
        read -r rps cpu other <<<"$r"
        g+=("$rps"); gc+=("$cpu"); o+=("$other")
        echo "  $label round $i: gwf $rps req/s ($cpu ns CPU/req," \
            "other user load $other%)" >&2
    done
    mb=$(bench_median "${b[@]}")
    mg=$(bench_median "${g[@]}")
    mbc=$(bench_median "${bc[@]}")
    mgc=$(bench_median "${gc[@]}")
    mo=$(bench_median "${o[@]}")
    if [ "$mo" -ge 10 ]; then
        echo "$label: warning: other processes used at least ${mo}% of a core" \
            "(user time, median) during the runs; requests/s are unreliable," \
            "CPU per request less so"
    fi
    ratio=$(bench_ratio "$mg" "$mb")
    verdict=$(bench_verdict "$ratio" "$target")
    echo "$label: $bname $mb req/s, gwf $mg req/s, ratio $ratio (target >= $target) $verdict"
    awk -v l="$label" -v n="$bname" -v b="$mbc" -v g="$mgc" -v t="$target" 'BEGIN {
        r = g ? b / g : 0
        printf "%s: worker CPU per request: %s %.2f us, gwf %.2f us (%+.2f us); " \
            "as a ratio when nginx is the bottleneck %.3f (target >= %s) %s\n",
            l, n, b / 1000, g / 1000, (g - b) / 1000, r, t, (r >= t) ? "PASS" : "MISS" }'
}

echo "bench/nginx: nginx $("$nginx" -v 2>&1 | sed 's|.*/||'), 1 worker" \
    "${pin_nginx[*]:+(${pin_nginx[*]})}, wrk -t1 -c$connections -d$duration" \
    "${pin_wrk[*]:+(${pin_wrk[*]})}, $rounds rounds, median" >&2

if [ "$bench_ratio" = 1 ]; then
    pair directresponse /native native /gwf 0.95 || exit 1
    pair proxy+noop /plain plain /noop 0.97 || exit 1
fi

# ---------------------------------------------------------------- memory
# metric NAME LOCATION: a gwf metric's value for one location (the
# runtime labels its own series with the route, instance="/gwf").
metric() {
    curl -fsS "$base/metrics" |
        awk -v k="$1{instance=\"$2\"}" '$1 == k { printf "%d", $2 }'
}
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
anon_kib() { awk '/^RssAnon:/ { print $2 }' "/proc/$1/status"; }

# soak PATH: warm-up, then wrk in chunks until gwf_streams_total has grown
# by MEMORY_REQUESTS; prints VmRSS and RssAnon (KiB) before and after, and
# the request count. "Before" is read after a first look at /metrics: that
# maps the metrics zone's shared pages (about 4 MiB with fault-around) into
# the worker, which would otherwise show up as growth.
soak() {
    local path=$1 worker start now before after abefore aafter
    worker=$(worker_pid)
    [ -n "$worker" ] || die "no nginx worker"
    run "$path" "$warmup" >/dev/null || exit 1
    start=$(metric gwf_streams_total "$path")
    [ -n "$start" ] || die "no gwf_streams_total for $path at /metrics"
    before=$(rss_kib "$worker")
    abefore=$(anon_kib "$worker")
    now=$start
    while [ $((now - start)) -lt "$memory_requests" ]; do
        run "$path" 5s >/dev/null || exit 1
        now=$(metric gwf_streams_total "$path")
        echo "  memory $path: $((now - start)) requests, VmRSS" \
            "$(rss_kib "$worker") KiB, RssAnon $(anon_kib "$worker") KiB" >&2
    done
    after=$(rss_kib "$worker")
    aafter=$(anon_kib "$worker")
    [ "$(worker_pid)" = "$worker" ] || die "the nginx worker restarted"
    echo "$before $after $abefore $aafter $((now - start))"
}

if [ "$bench_memory" = 1 ]; then
    for loc in gwf noop; do
        read -r before after abefore aafter n <<<"$(soak "/$loc")" || exit 1
        [ -n "${n:-}" ] || exit 1
        growth=$((after - before))
        verdict=$(awk -v g="$growth" 'BEGIN { print (g < 1024) ? "PASS" : "MISS" }')
        printf 'memory /%s: worker VmRSS %d KiB before, %d KiB after %d requests, growth %d KiB (heap RssAnon %+d KiB) (target < 1024 KiB) %s\n' \
            "$loc" "$before" "$after" "$n" "$growth" "$((aafter - abefore))" "$verdict"
    done
    for loc in gwf noop; do
        active=$(metric gwf_streams_active "/$loc")
        echo "memory /$loc: gwf_streams_active ${active:-?} after the runs" \
            "(0: no stream left behind)"
    done
fi
exit 0
