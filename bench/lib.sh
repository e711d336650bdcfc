# shellcheck shell=bash disable=SC2034,SC2154  # globals shared with the caller
# bench/lib.sh - shell pieces the nginx benchmarks share; sourced, not run.
#
# What lives here is what was copied, identical, from script to script:
# core pinning, loopback ports, starting and stopping the system nginx
# from a temporary prefix, interleaved rounds of a baseline and gwf with
# their medians, the median of the rounds' ratios and a PASS/MISS verdict, and the line each figure
# adds to scripts/bench.sh's one report (bench_report). What each
# benchmark measures (its wrk runs, which pairs, its other output) stays
# in its own script.
#
# The nginx helpers use the caller's globals: $nginx (the binary), $tmp
# (the prefix, holding nginx.conf, logs/ and nginx.pid), the pin_nginx
# array and a die() function, and set $master.

# bench_pin_cores: with two cores or more, nginx goes on the last core and
# wrk on the one before it (pin_nginx, pin_wrk: taskset prefixes, or empty).
bench_pin_cores() {
    local ncpu
    pin_nginx=()
    pin_wrk=()
    ncpu=$(nproc 2>/dev/null || echo 1)
    if [ "$ncpu" -ge 2 ] && command -v taskset >/dev/null; then
        pin_nginx=(taskset -c $((ncpu - 1)))
        pin_wrk=(taskset -c $((ncpu - 2)))
    fi
}

# bench_free_port [AVOID...]: a loopback port no TCP socket uses (listening
# or connected), other than the ports given (those picked already but not
# yet bound), from a random start below the ephemeral range: above it,
# wrk's and everyone else's outgoing connections take their local ports,
# and a bind there can fail with EADDRINUSE between the check and the
# listen.
bench_free_port() {
    local lo=10000 hi eph avoid taken p
    read -r eph _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null ||
        eph=32768
    hi=$((eph - 1))
    [ "$hi" -gt $((lo + 1000)) ] || { lo=20000; hi=30000; }
    p=$((lo + RANDOM % (hi - lo)))
    while :; do
        taken=
        [ -n "$(ss -Htan "sport = :$p" 2>/dev/null)" ] && taken=1
        for avoid in "$@"; do
            [ "$p" = "$avoid" ] && taken=1
        done
        [ -z "$taken" ] && break
        p=$((p + 1))
        [ "$p" -le "$hi" ] || p=$lo
    done
    echo "$p"
}

# bench_nginx_conf_head: the start of nginx.conf every benchmark uses (on
# stdout): $module loaded, one daemonized worker, pid, error log and temp
# paths in $tmp, no access log, long-lived client keepalive; it leaves
# the http block open for the caller's upstreams and servers.
bench_nginx_conf_head() {
    cat <<CONF
load_module $module;
daemon on;
master_process on;
worker_processes 1;
pid $tmp/nginx.pid;
error_log $tmp/logs/error.log warn;
events {
    worker_connections 4096;
}
http {
    access_log off;
    client_body_temp_path $tmp/temp/client;
    proxy_temp_path $tmp/temp/proxy;
    fastcgi_temp_path $tmp/temp/fastcgi;
    uwsgi_temp_path $tmp/temp/uwsgi;
    scgi_temp_path $tmp/temp/scgi;
    keepalive_timeout 75s;
    keepalive_requests 100000000;
CONF
}

# nginx reads an environment variable NGINX as the sockets a binary
# upgrade hands over, and logs an [emerg] for anything else: the
# scripts' NGINX (the binary to run) is not passed to it.

# bench_nginx_test: nginx -t on $tmp/nginx.conf; dies if it fails.
bench_nginx_test() {
    env -u NGINX "$nginx" -t -q -p "$tmp" -e "$tmp/logs/error.log" -c "$tmp/nginx.conf" ||
        die "nginx -t failed on the generated configuration"
}

# bench_nginx_launch: starts nginx (pinned) on $tmp/nginx.conf; its
# stderr goes to the caller's. Returns nginx's status, so that a caller
# can retry on a bind error.
bench_nginx_launch() {
    "${pin_nginx[@]}" env -u NGINX "$nginx" -p "$tmp" \
        -e "$tmp/logs/error.log" -c "$tmp/nginx.conf"
}

# bench_nginx_wait_pid: waits up to 5 s for $tmp/nginx.pid (nginx
# daemonizes before writing it) and sets $master; dies without it.
bench_nginx_wait_pid() {
    for _ in $(seq 50); do
        [ -s "$tmp/nginx.pid" ] && break
        sleep 0.1
    done
    master=$(cat "$tmp/nginx.pid" 2>/dev/null) || die "nginx wrote no pid file"
}

# bench_nginx_start: test, launch and wait for the pid, dying on failure.
bench_nginx_start() {
    bench_nginx_test
    bench_nginx_launch || die "nginx did not start"
    bench_nginx_wait_pid
}

# bench_nginx_stop MASTER: graceful stop (QUIT, up to 5 s), then KILL of
# the master and its workers if it is still there. For the EXIT trap;
# does nothing for an empty or dead pid.
bench_nginx_stop() {
    local pid=$1 workers
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
    workers=$(pgrep -P "$pid")
    kill -QUIT "$pid" 2>/dev/null
    for _ in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        # shellcheck disable=SC2086  # one pid per word
        kill -KILL "$pid" $workers 2>/dev/null
    fi
    return 0
}

# bench_nginx_twin PATH: a second nginx, started (pinned as the first)
# from the first's $tmp/nginx.conf with every port it listens on moved
# to a free one (in its upstreams too) and its pid, error log and temp
# paths under $tmp/b; what it reads (manifests, plugins) is the first's.
# Sets master_b and base_b (the twin of $base, from $port) and waits for
# PATH to answer 2xx there. For bench_cpu_pair's side-by-side rounds;
# the caller's cleanup stops $master_b.
bench_nginx_twin() {
    local b=$tmp/b ports=() taken=() args=() p np attempt path=$1
    mkdir -p "$b/logs" "$b/temp"
    mapfile -t ports < <(grep -o 'listen 127\.0\.0\.1:[0-9]*' \
        "$tmp/nginx.conf" | sed 's/.*://' | sort -u)
    for attempt in 1 2 3 4 5; do
        args=(-e "s|$tmp/nginx.pid|$b/nginx.pid|"
            -e "s|$tmp/logs/|$b/logs/|g" -e "s|$tmp/temp/|$b/temp/|g")
        taken=("${ports[@]}")
        for p in "${ports[@]}"; do
            np=$(bench_free_port "${taken[@]}")
            taken+=("$np")
            args+=(-e "s|127\.0\.0\.1:$p\([^0-9]\)|127.0.0.1:$np\1|g")
            [ "$p" = "$port" ] && base_b=http://127.0.0.1:$np
        done
        sed "${args[@]}" "$tmp/nginx.conf" >"$b/nginx.conf"
        "${pin_nginx[@]}" env -u NGINX "$nginx" -p "$b" \
            -e "$b/logs/error.log" -c "$b/nginx.conf" 2>"$b/start.err" &&
            break
        if [ "$attempt" = 5 ] || ! grep -q 'bind()' "$b/start.err"; then
            cat "$b/start.err" >&2
            die "the second nginx did not start"
        fi
    done
    [ -n "${base_b:-}" ] || die "no 'listen 127.0.0.1:$port' in nginx.conf"
    for _ in $(seq 50); do
        [ -s "$b/nginx.pid" ] && break
        sleep 0.1
    done
    # Without its pid file, found by its configuration, for the cleanup.
    master_b=$(cat "$b/nginx.pid" 2>/dev/null) ||
        master_b=$(pgrep -o -f -- "-c $b/nginx.conf")
    [ -s "$b/nginx.pid" ] || die "the second nginx wrote no pid file"
    bench_wait_url "$base_b$path"
    curl -fsS -o /dev/null "$base_b$path" ||
        die "the second nginx does not answer $path"
}

# bench_remove_tmp DIR [TAG]: removes the temporary prefix, or with
# KEEP_TMP=1 keeps it and says where ("TAG: kept DIR" on stderr).
bench_remove_tmp() {
    if [ "${KEEP_TMP:-0}" = 1 ]; then
        echo "${2:+$2: }kept $1" >&2
    else
        rm -rf "$1"
    fi
}

# bench_wait_url URL: waits up to 5 s for URL to answer 2xx. Returns 0
# either way: the caller's own checks then say what is wrong.
bench_wait_url() {
    for _ in $(seq 50); do
        curl -fsS -o /dev/null "$1" 2>/dev/null && break
        sleep 0.1
    done
    return 0
}

# CPU accounting for nginx pairs (bench/nginx, bench/policies, jwt):
# bench_worker_ns PID - a process's CPU time so far (user + system, from
# the scheduler), in ns. bench_machine_user_ms, bench_process_user_ms PID,
# bench_children_user_ms - user-space CPU time so far, in ms: of the whole
# machine (/proc/stat, every core), of one process, and of this shell's
# waited-for children (wrk). Other processes' load is estimated from user
# time only: system and softirq time of loopback traffic is not always
# charged to the process that caused it, user time is.
bench_hz=$(getconf CLK_TCK 2>/dev/null || echo 100)
bench_worker_ns() { awk '{ print $1 }' "/proc/$1/schedstat"; }
bench_machine_user_ms() {
    awk -v hz="$bench_hz" '$1 == "cpu" { printf "%d", ($2 + $3) * 1000 / hz }' \
        /proc/stat
}
bench_process_user_ms() {
    awk -v hz="$bench_hz" '{ sub(/.*\) /, ""); printf "%d", $12 * 1000 / hz }' \
        "/proc/$1/stat"
}
bench_children_user_ms() {
    times | awk 'NR == 2 { split($1, t, "m"); printf "%d", (t[1] * 60 + t[2]) * 1000 }'
}

# bench_median N...: the median of integers; for an even count the
# integer mean of the middle two.
bench_median() {
    printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 }
    END { print (NR % 2) ? v[(NR + 1) / 2] : int((v[NR / 2] + v[NR / 2 + 1]) / 2) }'
}

# bench_ratio GWF BASELINE: GWF / BASELINE to three decimals (0 when the
# baseline is 0).
bench_ratio() {
    awk -v g="$1" -v b="$2" 'BEGIN { printf "%.3f", b ? g / b : 0 }'
}

# bench_median_ratio "NUM..." "DEN...": the median of the per-round
# ratios NUM_i / DEN_i (two space-separated lists of one figure per
# round, in round order), to three decimals; 0 when a denominator is 0.
# A round's two runs are adjacent, so they share the machine's speed of
# that moment: on a virtual machine whose speed drifts by 10-20% between
# rounds, the median of the rounds' ratios moves far less than the ratio
# of the two medians, which may come from different rounds.
bench_median_ratio() {
    awk -v num="$1" -v den="$2" 'BEGIN {
        n = split(num, a, " "); m = split(den, b, " ")
        if (n != m || n == 0) { print "0.000"; exit }
        for (i = 1; i <= n; i++) {
            if (b[i] == 0) { print "0.000"; exit }
            r[i] = a[i] / b[i]
        }
        for (i = 2; i <= n; i++)
            for (j = i; j > 1 && r[j - 1] > r[j]; j--) {
                t = r[j]; r[j] = r[j - 1]; r[j - 1] = t
            }
        printf "%.3f", (n % 2) ? r[(n + 1) / 2] : (r[n / 2] + r[n / 2 + 1]) / 2
    }'
}

# bench_verdict RATIO TARGET: PASS when RATIO >= TARGET, else MISS; empty
# for a target of 0 (a comparison with no target).
bench_verdict() {
    awk -v r="$1" -v t="$2" \
        'BEGIN { print (t == 0) ? "" : (r >= t) ? "PASS" : "MISS" }'
}

# bench_report LABEL BASENAME BASE GWFNAME GWF RATIO TARGET VERDICT: one
# row of scripts/bench.sh's table, appended to the file $BENCH_REPORT as
# tab-separated fields after $BENCH_NAME (the benchmark bench.sh is
# running); does nothing when BENCH_REPORT is unset, so that every
# run.sh also works alone and prints only its own lines. BASE and GWF
# carry their unit ("41234 req/s", "12.5 us/op", "2100 KiB"); RATIO is
# GWF / BASE unless the label says otherwise; TARGET is what the ratio
# or figure must meet (">= 0.95", "<= 64 KiB"), empty for none, and
# VERDICT PASS, MISS or empty. Tabs and newlines in a field become
# spaces.
bench_report() {
    [ -n "${BENCH_REPORT:-}" ] || return 0
    local _f _line=${BENCH_NAME:-$(basename "$(dirname "$0")")}
    for _f in "$1" "$2" "$3" "$4" "$5" "$6" "$7" "${8:-}"; do
        _f=${_f//$'\t'/ }
        _line+=$'\t'${_f//$'\n'/ }
    done
    printf '%s\n' "$_line" >>"$BENCH_REPORT"
}

# bench_pair LABEL BASE BNAME BEXTRA GWF GNAME GEXTRA TARGET: a warm-up
# ($warmup) of both sides, then $rounds interleaved rounds ($duration;
# the baseline first in odd rounds, gwf first in even ones, so that a
# machine speeding up or slowing down favours neither side) of
# the caller's `run WHAT DURATION EXTRA`, which prints requests/s; prints
# the rounds on stderr and "LABEL: BNAME N req/s, GNAME N req/s, ratio R
# (target >= T) PASS|MISS" (the medians; R is the median of the rounds'
# ratios; no verdict for target 0), and reports the same figures
# (bench_report). Exits on a failed run.
bench_pair() {
    # Locals are prefixed: bash scopes them dynamically, and the caller's
    # run() reads its own globals (such as $base).
    local _label=$1 _base=$2 _bname=$3 _bextra=$4 _gwf=$5 _gname=$6
    local _gextra=$7 _target=$8 _b=() _g=() _r _i
    run "$_base" "$warmup" "$_bextra" >/dev/null || exit 1
    run "$_gwf" "$warmup" "$_gextra" >/dev/null || exit 1
    for _i in $(seq "$rounds"); do
        if [ $((_i % 2)) -eq 0 ]; then # every other round gwf goes first
            _r=$(run "$_gwf" "$duration" "$_gextra") || exit 1
            _g+=("$_r")
            echo "  $_label round $_i: $_gname $_r req/s" >&2
        fi
        _r=$(run "$_base" "$duration" "$_bextra") || exit 1
        _b+=("$_r")
        echo "  $_label round $_i: $_bname $_r req/s" >&2
        if [ $((_i % 2)) -eq 1 ]; then
            _r=$(run "$_gwf" "$duration" "$_gextra") || exit 1
            _g+=("$_r")
            echo "  $_label round $_i: $_gname $_r req/s" >&2
        fi
    done
    bench_rps_row "$_label" "$_bname" "$(bench_median "${_b[@]}")" \
        "$_gname" "$(bench_median "${_g[@]}")" "$_target" \
        "$(bench_median_ratio "${_g[*]}" "${_b[*]}")"
}

# bench_rps_row LABEL BNAME BRPS GNAME GRPS TARGET [RATIO]: prints "LABEL:
# BNAME N req/s, GNAME N req/s, ratio R (target >= T) PASS|MISS" (no
# verdict for target 0) and reports the same row (bench_report). RATIO
# is the median of the rounds' ratios when given (bench_median_ratio),
# else GRPS / BRPS.
bench_rps_row() {
    local ratio verdict
    ratio=${7:-$(bench_ratio "$5" "$3")}
    verdict=$(bench_verdict "$ratio" "$6")
    echo "$1: $2 $3 req/s, $4 $5 req/s, ratio $ratio" \
        "${verdict:+(target >= $6) $verdict}"
    bench_report "$1" "$2" "$3 req/s" "$4" "$5 req/s" "$ratio" \
        "${verdict:+>= $6}" "$verdict"
}

# bench_wrk_cpu WORKER URL DURATION ALLOW_NON2XX [WRK-ARGS...]: one wrk run
# (pinned as bench_pin_cores says, -t1 -c$connections) against URL while
# watching the nginx worker WORKER; prints "requests/s
# worker-ns/request other-load-%": the worker's CPU time (user + system,
# from /proc/PID/schedstat) per request, and the user CPU time used
# meanwhile by anything but the worker and wrk (other processes on this
# machine), in % of one core. Fails (calling the caller's die) on socket
# errors, and on non-2xx answers unless ALLOW_NON2XX is 1 (the comparison
# would be meaningless), with the last lines of $tmp/logs/error.log.
bench_wrk_cpu() {
    local worker=$1 url=$2 dur=$3 allow=$4 out rps n t0 t1 m0 m1 u0 u1 c0 c1
    local w0 w1 other
    shift 4
    [ -n "$worker" ] || die "no nginx worker"
    c0=$(bench_children_user_ms)
    m0=$(bench_machine_user_ms)
    u0=$(bench_process_user_ms "$worker")
    w0=$(date +%s%N)
    t0=$(bench_worker_ns "$worker")
    out=$("${pin_wrk[@]}" "$wrk" -t1 -c"$connections" -d"$dur" "$@" \
        "$url" 2>&1) || die "wrk failed on $url: $out"
    t1=$(bench_worker_ns "$worker")
    w1=$(date +%s%N)
    u1=$(bench_process_user_ms "$worker")
    m1=$(bench_machine_user_ms)
    c1=$(bench_children_user_ms)
    if grep -q 'Socket errors' <<<"$out" ||
        { [ "$allow" != 1 ] && grep -q 'Non-2xx' <<<"$out"; }; then
        # What nginx and the plugins said meanwhile tells why.
        die "wrk on $url saw errors:"$'\n'"$out"$'\n'"nginx's error log" \
            "(last 20 lines):"$'\n'"$(tail -n 20 "$tmp/logs/error.log" \
            2>/dev/null)"
    fi
    rps=$(awk '/^Requests\/sec:/ { print $2 }' <<<"$out")
    n=$(awk '/ requests in / { print $1 }' <<<"$out")
    if [ -z "$rps" ] || [ -z "$n" ] || [ "$n" -le 0 ]; then
        die "no Requests/sec from wrk on $url:"$'\n'"$out"
    fi
    other=$(((m1 - m0) - (u1 - u0) - (c1 - c0)))
    [ "$other" -ge 0 ] || other=0
    echo "${rps%.*} $(((t1 - t0) / n)) $((other * 100000000 / (w1 - w0)))"
}

# bench_wrk_side WORKER_A URL_A WORKER_B URL_B DURATION ALLOW_NON2XX
# [WRK-ARGS...]: two wrk runs at once (both pinned to wrk's core, as
# bench_pin_cores says) against two nginx workers that share nginx's
# core (the first and its twin, bench_nginx_twin); prints "A-ns/request
# B-ns/request", each worker's CPU time (user + system) per request it
# served. Both workers see the same seconds of the machine, so a round's
# ratio no longer moves with the speed of the moment, as two runs one
# after the other do on a shared virtual machine. Fails as
# bench_wrk_cpu does.
bench_wrk_side() {
    local wa=$1 ua=$2 wb=$3 ub=$4 dur=$5 allow=$6 a0 a1 b0 b1 na nb pa pb
    local outa=$tmp/side-a.txt outb=$tmp/side-b.txt
    shift 6
    [ -n "$wa" ] && [ -n "$wb" ] || die "no nginx worker"
    a0=$(bench_worker_ns "$wa")
    b0=$(bench_worker_ns "$wb")
    "${pin_wrk[@]}" "$wrk" -t1 -c"$connections" -d"$dur" "$@" "$ua" \
        >"$outa" 2>&1 &
    pa=$!
    "${pin_wrk[@]}" "$wrk" -t1 -c"$connections" -d"$dur" "$@" "$ub" \
        >"$outb" 2>&1 &
    pb=$!
    if ! wait "$pa"; then
        kill "$pb" 2>/dev/null
        die "wrk failed on $ua: $(cat "$outa")"
    fi
    wait "$pb" || die "wrk failed on $ub: $(cat "$outb")"
    a1=$(bench_worker_ns "$wa")
    b1=$(bench_worker_ns "$wb")
    if grep -q 'Socket errors' "$outa" "$outb" ||
        { [ "$allow" != 1 ] && grep -q 'Non-2xx' "$outa" "$outb"; }; then
        die "wrk side by side on $ua and $ub saw errors:"$'\n'"$(cat \
            "$outa" "$outb")"
    fi
    na=$(awk '/ requests in / { print $1 }' "$outa")
    nb=$(awk '/ requests in / { print $1 }' "$outb")
    if [ -z "$na" ] || [ -z "$nb" ] || [ "$na" -le 0 ] || [ "$nb" -le 0 ]; then
        die "no requests counted by wrk side by side:"$'\n'"$(cat "$outa" \
            "$outb")"
    fi
    echo "$(((a1 - a0) / na)) $(((b1 - b0) / nb))"
}

# _cpu_pair_run PATH NAME RPS-ARRAY CPU-ARRAY: one of bench_cpu_pair's
# runs, its figures appended to the caller's arrays (and the other load
# to its _o), a line on stderr.
_cpu_pair_run() {
    local -n _rps_of=$3 _cpu_of=$4
    local _out _rps _cpu _other
    _out=$(run "$1" "$duration") || return 1
    read -r _rps _cpu _other <<<"$_out"
    _rps_of+=("$_rps"); _cpu_of+=("$_cpu"); _o+=("$_other")
    echo "  $_label round $_i: $2 $_rps req/s ($_cpu ns CPU/req," \
        "other user load $_other%)" >&2
}

# _cpu_pair_side BPATH GPATH: one side-by-side run of bench_cpu_pair
# (the caller's `run_side PATH-ON-FIRST PATH-ON-TWIN DURATION`, which
# prints what bench_wrk_side does); the baseline is on the first nginx
# in odd rounds and on the twin in even ones, so that neither instance's
# luck (its memory's placement) favours a side. The figures go to the
# caller's _sb and _sg, a line to stderr.
_cpu_pair_side() {
    local _out _x _y
    if [ $((_i % 2)) -eq 1 ]; then
        _out=$(run_side "$1" "$2" "$duration") || return 1
        read -r _x _y <<<"$_out"
    else
        _out=$(run_side "$2" "$1" "$duration") || return 1
        read -r _y _x <<<"$_out"
    fi
    _sb+=("$_x"); _sg+=("$_y")
    echo "  $_label round $_i: side by side $_bname $_x ns CPU/req," \
        "$_gname $_y ns CPU/req" >&2
}

# bench_cpu_pair LABEL BPATH BNAME GPATH GNAME TARGET CPUTARGET: a warm-up
# ($warmup) of both sides, then $rounds interleaved rounds ($duration;
# which side goes first alternates, as in bench_pair) of the caller's
# `run PATH DURATION`, which prints what bench_wrk_cpu does.
# Reports two rows: requests/s (medians, and the median of the rounds'
# ratios against TARGET) and "LABEL CPU/req", the worker's CPU time per
# request (medians, and the median of the rounds' ratios baseline CPU /
# gwf CPU against CPUTARGET): when wrk's core rather than
# nginx's is the bottleneck, or the machine's speed drifts between rounds
# (a shared virtual machine's does, by 10% and more), the requests/s
# ratio hides or blurs gwf's cost and this one shows it. When the caller
# has a twin nginx (bench_nginx_twin: $master_b set) and a `run_side`
# function, each round adds a side-by-side run (_cpu_pair_side) and the
# CPU row is taken from those: two runs one after the other read the
# machine at two moments, and their ratio moved by up to 10% from round
# to round here, side by side by about 1%. Warns when other processes
# took 10% of a core or more (median).
bench_cpu_pair() {
    local _label=$1 _bpath=$2 _bname=$3 _gpath=$4 _gname=$5 _target=$6
    local _ctarget=$7 _b=() _g=() _bc=() _gc=() _o=() _sb=() _sg=() _i _r
    local _rps _cpu _other _mb _mg _mbc _mgc _mo _bus _gus _cratio _cverdict
    local _side= _how="one after the other"
    if [ -n "${master_b:-}" ] && declare -F run_side >/dev/null; then
        _side=1 _how="side by side"
    fi
    run "$_bpath" "$warmup" >/dev/null || exit 1
    run "$_gpath" "$warmup" >/dev/null || exit 1
    if [ -n "$_side" ]; then # the twin's caches and pools too, both sides
        run_side "$_bpath" "$_gpath" "$warmup" >/dev/null || exit 1
        run_side "$_gpath" "$_bpath" "$warmup" >/dev/null || exit 1
    fi
    for _i in $(seq "$rounds"); do
        if [ $((_i % 2)) -eq 0 ]; then # every other round gwf goes first
            _cpu_pair_run "$_gpath" "$_gname" _g _gc || exit 1
        fi
        _cpu_pair_run "$_bpath" "$_bname" _b _bc || exit 1
        if [ $((_i % 2)) -eq 1 ]; then
            _cpu_pair_run "$_gpath" "$_gname" _g _gc || exit 1
        fi
        if [ -n "$_side" ]; then
            _cpu_pair_side "$_bpath" "$_gpath" || exit 1
        fi
    done
    _mb=$(bench_median "${_b[@]}")
    _mg=$(bench_median "${_g[@]}")
    _mo=$(bench_median "${_o[@]}")
    if [ "$_mo" -ge 10 ]; then
        echo "$_label: warning: other processes used at least ${_mo}% of a" \
            "core (user time, median) during the runs; requests/s are" \
            "unreliable, CPU per request less so"
    fi
    bench_rps_row "$_label" "$_bname" "$_mb" "$_gname" "$_mg" "$_target" \
        "$(bench_median_ratio "${_g[*]}" "${_b[*]}")"
    if [ -n "$_side" ]; then
        echo "$_label: info: worker CPU per request one after the other:" \
            "$_bname $(bench_median "${_bc[@]}") ns, $_gname" \
            "$(bench_median "${_gc[@]}") ns, ratio" \
            "$(bench_median_ratio "${_bc[*]}" "${_gc[*]}")"
        _bc=("${_sb[@]}") _gc=("${_sg[@]}")
    fi
    _mbc=$(bench_median "${_bc[@]}")
    _mgc=$(bench_median "${_gc[@]}")
    _cratio=$(bench_median_ratio "${_bc[*]}" "${_gc[*]}")
    _cverdict=$(bench_verdict "$_cratio" "$_ctarget")
    read -r _bus _gus < <(awk -v b="$_mbc" -v g="$_mgc" \
        'BEGIN { printf "%.2f %.2f\n", b / 1000, g / 1000 }')
    echo "$_label: worker CPU per request ($_how): $_bname $_bus us," \
        "$_gname $_gus us ($(awk -v b="$_bus" -v g="$_gus" \
        'BEGIN { printf "%+.2f", g - b }') us); as a ratio when nginx is" \
        "the bottleneck $_cratio (target >= $_ctarget) $_cverdict"
    bench_report "$_label CPU/req" "$_bname" "$_bus us/req" "$_gname" \
        "$_gus us/req" "$_cratio" ">= $_ctarget" "$_cverdict"
}
