#!/usr/bin/env bash
# bench.sh - build a release tree once, run every gwf benchmark, print one
# table.
#
#   bash scripts/bench.sh [--quick] [--no-build] [NAME...]
#
#   --quick   each benchmark for a few seconds (DURATION=2s ROUNDS=1
#             WARMUP=1s, 100,000 requests per plugin for memory, shorter
#             in-process runs): a check that everything runs and a rough
#             figure, not a measurement; the table says so
#   --no-build  use BUILDDIR as it is (built already)
#   NAME...   only these benchmarks (the first column of the list below)
#
#   1. build-bench/ (BUILDDIR to use another): meson setup
#      --buildtype=release -Dnginx=enabled (reconfigured when it exists),
#      then ninja
#   2. every benchmark of the list below, one after the other; each
#      script's own output goes to the terminal and to BUILDDIR/bench-logs/
#   3. one table: benchmark, baseline (name and figure), gwf's figure, the
#      ratio, the target and PASS/MISS (blank when there is no target);
#      also written as Markdown to BUILDDIR/bench-logs/report.md
#
# Rows come from the scripts themselves: each calls bench_report
# (bench/lib.sh; bench_pair does it for every interleaved pair), which
# appends a line to $BENCH_REPORT when bench.sh set it. The programs that
# print their own figures (bench_chain, bench_jwt, bench_sigv4, the
# ext_authz latency probes) are read by a parse_NAME function here.
#
# Other processes: every benchmark runs in its own cgroup (cpuacct, or
# cgroup v2's cpu.stat), which holds all it starts, the daemonized nginx
# included. The CPU the whole machine was busy meanwhile (/proc/stat:
# user, nice, system, irq, softirq) minus the cgroup's is what others
# took; above BENCH_OTHER_MAX (5) % of one core a warning under the
# table says the figures of that benchmark are unreliable. Without a
# writable cgroup hierarchy (not root, or none mounted) the check is
# skipped and the table says so.
#
# Every figure is a ratio against a baseline measured in the same run on
# the same machine. The exit status is 0 unless something failed to build
# or run; a missed target is printed, not an error.
#
# Environment: BUILDDIR (build-bench), BENCH_OTHER_MAX (5), and whatever
# the scripts read (DURATION, ROUNDS, WARMUP, CONNECTIONS, NGINX, WRK,
# MEMORY_REQUESTS, ...: see each script's header), which pass through.
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root" || exit 1
# shellcheck source=../bench/lib.sh
. bench/lib.sh

# The benchmarks: NAME and the command that runs it (run by eval in the
# repository's root, "$dir" being the build directory). Adding one is one
# line here; its script reports through bench_report, or a parse_NAME
# function below reads its output.
read -r -d '' benchmark_list <<'LIST'
chain       run_chain
nginx       bash bench/nginx/run.sh "$dir"
gateway     bash bench/gateway/run.sh "$dir"
jwt         run_jwt
jwt-nginx   bash bench/jwt/nginx.sh "$dir"
cel         "$dir/bench/cel/bench_cel"
rate_limit  bash bench/rate_limit/run.sh "$dir"
rl-cluster  bash bench/rate_limit/cluster.sh "$dir"
ext_authz   bash bench/ext_authz/run.sh "$dir"
sigv4       run_sigv4
sigv4-nginx bash bench/sigv4/run_nginx.sh "$dir"
policies    bash bench/policies/run.sh "$dir"
memory      bash bench/memory/run.sh "$dir"
LIST

usage() {
    echo "usage: $0 [--quick] [--no-build] [NAME...]; NAME is one of:" \
        "$(awk '{ printf "%s ", $1 }' <<<"$benchmark_list")" >&2
    exit 2
}

quick=0
build=1
only=()
for arg in "$@"; do
    case $arg in
    --quick) quick=1 ;;
    --no-build) build=0 ;;
    -h | --help) usage ;;
    -*) usage ;;
    *)
        awk -v n="$arg" '$1 == n { f = 1 } END { exit !f }' \
            <<<"$benchmark_list" || usage
        only+=("$arg")
        ;;
    esac
done

dir=${BUILDDIR:-build-bench}
other_max=${BENCH_OTHER_MAX:-5}

if [ "$quick" = 1 ]; then
    export DURATION=2s ROUNDS=1 WARMUP=1s MEMORY_REQUESTS=100000
    export SECONDS_PER_CASE=1 BENCH_SIGV4_N=5000 TOTAL=50000
    chain_iterations=200000
else
    chain_iterations=1000000
fi

step() { printf '\n==> %s\n' "$*"; }

if [ "$build" = 0 ]; then
    [ -f "$dir/host/nginx/ngx_http_gwf_module.so" ] ||
        { echo "bench.sh: $dir is not built" >&2; exit 1; }
else
    step "build ($dir: release, nginx module)"
    if [ -f "$dir/meson-private/coredata.dat" ]; then
        meson setup --reconfigure "$dir" --buildtype=release -Dnginx=enabled ||
            meson setup --wipe "$dir" --buildtype=release -Dnginx=enabled ||
            exit 1
    else
        rm -rf "$dir"
        meson setup "$dir" --buildtype=release -Dnginx=enabled || exit 1
    fi
    ninja -C "$dir" || exit 1
fi

logs=$root/$dir/bench-logs
rm -rf "$logs"
mkdir -p "$logs" || exit 1
export BENCH_REPORT=$logs/report.tsv
: >"$BENCH_REPORT"
warnings=()
failures=()

# ----------------------------------------------------- in-process programs

# bench_chain: K no-op plugins against an empty chain, ns per hook call
# (target 30).
run_chain() {
    GWF_PLUGIN_PATH=$root/$dir/bench "$dir/bench/bench_chain" \
        "$chain_iterations"
}
parse_chain() {
    local base
    base=$(awk '/^baseline K=0:/ { print $3 }' "$1")
    awk '/^K=/ { sub(/^K=/, ""); print $1, $2, $4, $9 }' "$1" |
        while read -r k req hook target; do
            bench_report "K=$k per hook call" "K=0" "$base ns/req" \
                "K=$k" "$req ns/req" "$hook ns/hook" "<= $target ns/hook" \
                "$(awk -v h="$hook" -v t="$target" \
                    'BEGIN { print (h <= t) ? "PASS" : "MISS" }')"
        done
}

# bench/jwt/run.sh: verification cost against the bare OpenSSL verify
# (bench_jwt: "ratio R" is our time / OpenSSL's, target TARGET_RATIO),
# then a token-cache hit. It exits 1 when a ratio is above target.
run_jwt() { bash bench/jwt/run.sh "$dir"; }
parse_jwt() {
    local target
    target=$(awk '/^#define TARGET_RATIO/ { print $3 }' bench/jwt/bench_jwt.c)
    sed -n 's|^\([A-Za-z0-9]*\) *verify: ours *[0-9]*/s ( *\([0-9.]*\) us) *openssl-speed-like *[0-9]*/s ( *\([0-9.]*\) us) *ratio \([0-9.]*\)x.*|\1 \2 \3 \4|p' \
        "$1" |
        while read -r alg ours bare ratio; do
            bench_report "verify $alg" openssl-speed-like "$bare us/op" \
                jwt_auth "$ours us/op" "${ratio}x cost" "<= ${target}x cost" \
                "$(awk -v r="$ratio" -v t="$target" \
                    'BEGIN { print (r <= t) ? "PASS" : "MISS" }')"
        done
    sed -n 's|^cache hit.*( *\([0-9.]*\) us)$|\1|p' "$1" |
        while read -r us; do
            bench_report "token cache hit (RS256)" "" "" jwt_auth "$us us/op" \
                "" "" ""
        done
    # A ratio above target is a MISS in the table, not a failure.
    [ "$2" = 0 ] || { grep -q 'ABOVE TARGET' "$1" && grep -q '^cache hit' "$1"; }
}

# bench_cel: ns per CEL evaluation of bench/policies' five rbac
# expressions, each and all five as the plugin runs them (no target: the
# policies pair's throughput ratio is the target).
parse_cel() {
    sed -n 's|^  expr \([0-9]\) *\([0-9.]*\) ns.*|expr-\1 \2|p; s|^  all five *\([0-9.]*\) ns.*|all-five \1|p' \
        "$1" | while read -r what ns; do
        bench_report "rbac CEL ${what/-/ }" "" "" rbac "$ns ns/eval" "" "" ""
    done
    [ "$2" = 0 ]
}

# bench_sigv4: signatures/s of the C signer against the crypto floor for
# the same request (target: at most 2x the floor's time).
run_sigv4() {
    "$dir/bench/sigv4/bench_sigv4" "$logs/sigv4-requests.jsonl"
}
parse_sigv4() {
    awk 'NR > 1 && $NF ~ /x$/ { r = $NF; sub(/x$/, "", r); print $1, $2, $3, r }' \
        "$1" | while read -r shape sign floor ratio; do
        bench_report "sign $shape" "crypto floor" "$floor ops/s" \
            sigv4_sign "$sign sig/s" "${ratio}x cost" "<= 2x cost" \
            "$(awk -v r="$ratio" 'BEGIN { print (r <= 2) ? "PASS" : "MISS" }')"
    done
}

# bench/ext_authz/run.sh prints the pairs through bench_pair; its two
# latency probes (headers.py, timeouts.py, Python) print "probe p99 ..."
# and "target: p99 < 50 ms ...: PASS|MISS", read here. A MISS there makes
# its exit status 1: a MISS in the table, not a failure.
parse_ext_authz() {
    awk '/^bench\/ext_authz\/headers/ { part = "headers" }
        /^bench\/ext_authz\/timeouts/ { part = "timeouts"; mode = "" }
        /^  [a-z]+ mode:/ { mode = $1 }
        /probe p99 on the idle worker/ { idle = $(NF - 3) }
        /probe p99 while/ {
            for (i = 1; i <= NF; i++) if ($i == "ms") { p = $(i - 1); break }
        }
        /target: p99 </ {
            print part (mode ? "-" mode : ""), idle, p, $4, $NF
        }' "$1" |
        while read -r what idle p target verdict; do
            bench_report "p99 of other requests, $what" "idle worker" \
                "$idle ms" "under load" "$p ms" "" "< $target ms" "$verdict"
        done
    [ "$2" = 0 ] || { grep -q 'target: p99 <.*MISS' "$1" &&
        ! grep -q 'Traceback\|did not start\|failed' "$1"; }
}

# ------------------------------------------------------- CPU of the others

hz=$(getconf CLK_TCK 2>/dev/null || echo 100)
cg_kind=
cg_parent=
for d in /sys/fs/cgroup/cpuacct /sys/fs/cgroup/cpu,cpuacct; do
    if [ -f "$d/cpuacct.usage" ] && [ -w "$d" ]; then
        cg_kind=v1 cg_parent=$d
        break
    fi
done
if [ -z "$cg_kind" ]; then
    for d in /sys/fs/cgroup /sys/fs/cgroup/unified; do
        if [ -f "$d/cgroup.controllers" ] && [ -w "$d" ]; then
            cg_kind=v2 cg_parent=$d
            break
        fi
    done
fi

# An interrupted run leaves no cgroup behind (a benchmark's own EXIT trap
# stops its processes first).
[ -z "$cg_kind" ] ||
    trap 'rmdir "$cg_parent"/gwf-bench-$$-* 2>/dev/null' EXIT

# busy_ns: CPU time the whole machine spent busy so far (every core).
busy_ns() {
    awk -v hz="$hz" '$1 == "cpu" {
        printf "%.0f", ($2 + $3 + $4 + $7 + $8) * 1e9 / hz }' /proc/stat
}
# cg_usage_ns CGROUP: CPU time of the processes in it, living or gone.
cg_usage_ns() {
    if [ "$cg_kind" = v1 ]; then
        cat "$1/cpuacct.usage"
    else
        awk '$1 == "usage_usec" { printf "%.0f", $2 * 1000 }' "$1/cpu.stat"
    fi
}
# cg_remove CGROUP: removes it once its processes are gone (up to 5 s).
cg_remove() {
    for _ in $(seq 50); do
        rmdir "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    echo "bench.sh: $1 still holds processes: $(cat "$1/cgroup.procs")" >&2
}

# measure NAME COMMAND: runs one benchmark in its own cgroup, its output
# teed to $logs/NAME.log; records a failure or a warning about others.
measure() {
    local name=$1 cmd=$2 log=$logs/$1.log cg='' t0 t1 b0 b1 status parse
    local own other
    step "$name: $cmd"
    if [ -n "$cg_kind" ]; then
        cg=$cg_parent/gwf-bench-$$-$name
        mkdir "$cg" 2>/dev/null || cg=
    fi
    t0=$(date +%s%N)
    b0=$(busy_ns)
    (
        [ -z "$cg" ] || echo "$BASHPID" >"$cg/cgroup.procs"
        export BENCH_NAME=$name
        eval "$cmd" 2>&1 | tee "$log"
    )
    status=$?
    b1=$(busy_ns)
    t1=$(date +%s%N)
    parse=parse_${name//-/_}
    if declare -F "$parse" >/dev/null; then
        BENCH_NAME=$name "$parse" "$log" "$status" && status=0
    fi
    if [ "$status" != 0 ]; then
        failures+=("$name failed (exit status $status): see $log")
        printf '%s\t%s\t\t\t\t\t\t\tFAILED\n' "$name" "(did not run to its end)" \
            >>"$BENCH_REPORT"
    fi
    if [ -n "$cg" ]; then
        own=$(cg_usage_ns "$cg")
        cg_remove "$cg"
        other=$(awk -v b="$((b1 - b0))" -v o="$own" -v w="$((t1 - t0))" \
            'BEGIN { x = (b - o) * 100 / w; printf "%d", (x < 0) ? 0 : x + 0.5 }')
        echo "$name: $(((t1 - t0) / 1000000000)) s; others took $other% of a core" \
            "meanwhile (the benchmark $(awk -v o="$own" -v w="$((t1 - t0))" \
            'BEGIN { printf "%d", o * 100 / w + 0.5 }')%)"
        if [ "$other" -gt "$other_max" ]; then
            warnings+=("other processes took $other% of a core during $name: figures are unreliable")
        fi
    fi
    [ "$status" = 0 ]
}

status=0
started=$(date -u '+%Y-%m-%d %H:%M UTC')
while read -r name cmd; do
    [ -n "$name" ] || continue
    if [ ${#only[@]} -gt 0 ] && ! printf '%s\n' "${only[@]}" | grep -qx "$name"; then
        continue
    fi
    measure "$name" "$cmd" || status=1
done <<<"$benchmark_list"

# ------------------------------------------------------------------- table
cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
nginx_v=$(${NGINX:-/usr/sbin/nginx} -v 2>&1 | sed 's|.*/||')
{
    echo "gwf benchmarks, $started, $(hostname): $(nproc) x ${cpu:-?}," \
        "nginx $nginx_v, release build ($dir)" \
        "$([ "$quick" = 1 ] && echo '-- QUICK run (--quick: a few seconds each; rough figures)')"
    echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
} >"$logs/header.txt"

# print_table FORMAT: the report as aligned text (text) or Markdown (md).
print_table() {
    awk -F'\t' -v fmt="$1" '
    function cell(n, f) { return (n == "" || f == "") ? n f : n " " f }
    {
        r++
        c[r, 1] = ($2 == "") ? $1 : $1 ": " $2
        c[r, 2] = cell($3, $4); c[r, 3] = cell($5, $6)
        c[r, 4] = $7; c[r, 5] = $8; c[r, 6] = $9
    }
    END {
        split("benchmark|baseline|gwf|ratio|target|verdict", h, "|")
        for (j = 1; j <= 6; j++) { c[0, j] = h[j]; w[j] = length(h[j]) }
        for (i = 1; i <= r; i++)
            for (j = 1; j <= 6; j++)
                if (length(c[i, j]) > w[j]) w[j] = length(c[i, j])
        for (i = 0; i <= r; i++) {
            line = ""
            for (j = 1; j <= 6; j++) {
                if (fmt == "md")
                    line = line "| " c[i, j] " "
                else
                    line = line sprintf("%-" w[j] "s  ", c[i, j])
            }
            if (fmt == "md") line = line "|"
            sub(/ +$/, "", line)
            print line
            if (i == 0 && fmt == "md") print "|---|---|---:|---:|---|---|"
        }
    }' "$BENCH_REPORT"
}

notes() {
    local w f
    if [ -z "$cg_kind" ]; then
        echo "(no writable cgroup hierarchy: the load of other processes was not measured)"
    fi
    for w in "${warnings[@]}"; do echo "warning: $w"; done
    for f in "${failures[@]}"; do echo "error: $f"; done
}

{
    cat "$logs/header.txt"
    echo
    print_table md
    echo
    notes
} >"$logs/report.md"

step "report"
cat "$logs/header.txt"
echo
print_table text
echo
notes
echo "(Markdown: $logs/report.md)"
exit $status
