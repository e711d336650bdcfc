#!/usr/bin/env bash
# bench/rate_limit/cluster.sh - rate-limit decisions per second against a
# Redis Cluster of three primaries, against one Redis, in the same run on
# the same machine.
#
#   bash bench/rate_limit/cluster.sh BUILDDIR   (a meson build dir, built)
#
# It starts three cluster-enabled redis-server (free loopback ports below
# the ephemeral range, their cluster bus ports too; no replicas, no
# persistence) joined by `redis-cli --cluster create --cluster-replicas
# 0`, and one plain redis-server. bench_rl_decisions (the plugin on the
# in-process test host, one worker: CONCURRENCY requests in flight, one
# INCRBY + EXPIRE each) then goes round KEYS x-user values, so that on
# the cluster the keys spread over the three primaries' slots; the same
# KEYS against the one Redis, so that only where the keys live differs.
#
# A warm-up of each, then ROUNDS interleaved rounds (one Redis, cluster,
# ...); the medians give the ratio cluster / one Redis, of decisions/s
# and of the client's CPU time per decision (bench_rl_decisions' own,
# which other processes' load moves far less). There is no
# target: on a machine of two cores, shared by the client, the worker's
# loop and every redis-server, a cluster cannot add the cores that are
# what it is for; the figure shows the client's own cost of routing
# (slot of each key, one pipelined connection per primary, shorter
# pipelines). The exit status is 0 unless something failed to run.
#
# Environment: ROUNDS (3), TOTAL (decisions per run, 200000),
# CONCURRENCY (64), KEYS (1024), KEEP_TMP=1.
set -uo pipefail
# shellcheck source=SCRIPTDIR/../lib.sh
. "$(dirname "$0")/../lib.sh"

usage() { echo "usage: $0 BUILDDIR" >&2; exit 2; }
[ $# -eq 1 ] || usage

rounds=${ROUNDS:-3}
total=${TOTAL:-200000}
concurrency=${CONCURRENCY:-64}
keys=${KEYS:-1024}
bus_offset=10000 # a cluster node's bus listens on its port + 10000

die() { echo "bench/rate_limit/cluster: $*" >&2; exit 1; }

builddir=$(cd "$1" 2>/dev/null && pwd) || die "no build directory $1"
rl_dir=$builddir/plugins/rate_limit
decisions=${BENCH_DECISIONS:-$builddir/bench/rate_limit/bench_rl_decisions}
[ -f "$rl_dir/rate_limit.so" ] || die "$rl_dir/rate_limit.so is missing"
[ -x "$decisions" ] || die "$decisions is not built"
[ -x /usr/bin/redis-server ] || die "redis-server is not installed"
command -v redis-cli >/dev/null || die "redis-cli is not installed"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/gwf-bench-rlc.XXXXXX") || die "mktemp failed"
pids=()
# shellcheck disable=SC2317
cleanup() {
    local p
    for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
    bench_remove_tmp "$tmp" bench/rate_limit/cluster
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# start_redis PORT NAME ARGS...: a redis-server in $tmp/NAME, waited for.
start_redis() {
    local port=$1 name=$2
    shift 2
    mkdir -p "$tmp/$name"
    /usr/bin/redis-server --port "$port" --bind 127.0.0.1 --save '' \
        --appendonly no --dir "$tmp/$name" "$@" >"$tmp/$name.log" 2>&1 &
    pids+=($!)
    disown $! 2>/dev/null
    for _ in $(seq 50); do
        redis-cli -p "$port" ping >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    die "redis-server $name (port $port) did not start:" \
        "$(tail -3 "$tmp/$name.log")"
}

# A node's port and its bus port (+10000) both free and below 65536,
# none of the ports in taken[] (the caller adds what it picked).
taken=()
cluster_port() {
    local p
    while :; do
        p=$(bench_free_port "${taken[@]}")
        [ $((p + bus_offset)) -le 65535 ] || continue
        [ -z "$(ss -Htan "sport = :$((p + bus_offset))" 2>/dev/null)" ] ||
            continue
        echo "$p"
        return
    done
}

nodes=()
for i in 1 2 3; do
    p=$(cluster_port)
    taken+=("$p" $((p + bus_offset)))
    start_redis "$p" "node$i" --cluster-enabled yes \
        --cluster-config-file "$tmp/node$i/nodes.conf"
    nodes+=("$p")
done
single=$(bench_free_port "${taken[@]}")
start_redis "$single" single

out=$(redis-cli --cluster create "${nodes[@]/#/127.0.0.1:}" \
    --cluster-replicas 0 --cluster-yes 2>&1) ||
    die "redis-cli --cluster create failed: $out"
for _ in $(seq 150); do
    ok=0
    for p in "${nodes[@]}"; do
        redis-cli -p "$p" cluster info 2>/dev/null |
            grep -q '^cluster_state:ok' && ok=$((ok + 1))
    done
    [ "$ok" = 3 ] && break
    sleep 0.1
done
[ "$ok" = 3 ] || die "the cluster did not reach cluster_state:ok in 15 s"
seeds=cluster:${nodes[0]},${nodes[1]}

# run REDIS COUNT: one bench_rl_decisions run; sets rate (decisions/s)
# and ns, its own CPU time (the plugin, the test host's loop, the client
# side of the sockets) per decision, which the load of other processes
# moves far less than the rate. Its stderr (the plugin's log) goes to
# $tmp/decisions.log.
run() {
    local got
    got=$(GWF_PLUGIN_PATH=$rl_dir "$decisions" "$1" "$2" "$concurrency" \
        "$keys" 2>"$tmp/decisions.log") ||
        die "bench_rl_decisions $1 failed: $got" \
            "$(tail -5 "$tmp/decisions.log")"
    read -r rate ns < <(awk '/^decisions\/s / { print $2, $NF }' <<<"$got")
    if [ -z "$rate" ] || [ -z "$ns" ]; then
        die "bench_rl_decisions $1 printed no figures: $got"
    fi
}

run "$single" $((total / 5))
run "$seeds" $((total / 5))
s=()
c=()
s_ns=()
c_ns=()
for i in $(seq "$rounds"); do
    run "$single" "$total"
    s+=("$rate")
    s_ns+=("$ns")
    run "$seeds" "$total"
    c+=("$rate")
    c_ns+=("$ns")
    echo "  cluster round $i: one Redis ${s[-1]} decisions/s" \
        "(${s_ns[-1]} ns CPU each), cluster ${c[-1]} decisions/s" \
        "(${c_ns[-1]} ns CPU each)" >&2
done
ms=$(bench_median "${s[@]}")
mc=$(bench_median "${c[@]}")
ratio=$(bench_ratio "$mc" "$ms")
ms_ns=$(bench_median "${s_ns[@]}")
mc_ns=$(bench_median "${c_ns[@]}")
ns_ratio=$(bench_ratio "$mc_ns" "$ms_ns")
run 0 "$total"
host=$rate
spread=$(for p in "${nodes[@]}"; do redis-cli -p "$p" dbsize; done | xargs)
echo "cluster: one Redis $ms decisions/s, cluster of 3 primaries" \
    "$mc decisions/s, ratio $ratio (no target); $keys keys, $concurrency" \
    "in flight; keys per primary: $spread; the test host alone (no Redis)" \
    "runs $host requests/s"
echo "cluster: client CPU per decision: one Redis $ms_ns ns," \
    "cluster $mc_ns ns, ratio $ns_ratio"
echo "cluster: note: $(nproc) cores shared by the client, its one worker and" \
    "every redis-server; a cluster is for spreading Redis's work over" \
    "machines (or free cores), which this run cannot show: it measures the" \
    "client's cost of routing keys to three primaries"
bench_report "cluster decisions (3 primaries)" "one Redis" "$ms decisions/s" \
    "cluster" "$mc decisions/s" "$ratio" "—" ""
bench_report "cluster client CPU per decision (cost ratio)" "one Redis" \
    "$ms_ns ns" "cluster" "$mc_ns ns" "$ns_ratio" "—" ""
exit 0
