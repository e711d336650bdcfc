#!/usr/bin/env bash
# bench/gateway/run.sh - HTTPRoutes translated by `gwf gateway render`
# against the same routes written by hand as nginx locations, measured in
# the same run on the same machine, over loopback.
#
#   bash bench/gateway/run.sh BUILDDIR      (a meson build dir configured
#                                            with -Dnginx=enabled, built;
#                                            nothing is built here)
#
# One nginx (worker_processes 1, pinned to the last core when there are
# two or more; wrk on the one before) serves, on three ports:
#
#   native    ROUTES x RULES `location /rN/sM/` blocks written by hand,
#             each proxy_pass to the upstream through a keepalive pool:
#             nginx's own prefix locations at their best
#   gateway   the same routes as HTTPRoutes (PathPrefix /rN/sM), rendered
#             with `gwf gateway render --http-include` and included
#   upstream  a server block answering 200 "ok"
#
# and, in the gateway's server block, the same number of routes again
# that also need a header, a query parameter and a method to match.
#
#   path-only        gateway vs native, a path in the middle of the table;
#                    target >= 0.95
#   header-matches   a route needing header + query + method matches vs a
#                    path-only route of the same table; target >= 0.9
#
# Then, with SCALE_ROUTES (1000) HTTPRoutes x SCALE_RULES (10) rules:
#
#   render           wall time of `gwf gateway render` (best of 3);
#                    target < 1 s
#   reload           from SIGHUP to nginx's master after a new route is
#                    added to the first answer of that route; target < 2 s
#   memory           VmRSS of nginx's master + worker serving them,
#                    beside the same nginx serving the hand-written
#                    equivalent (printed, no target)
#
# Environment: DURATION (3s), CONNECTIONS (32), ROUNDS (9), WARMUP (2s),
# ROUTES (50), RULES (4), SCALE_ROUTES (1000), SCALE_RULES (10),
# NGINX (/usr/sbin/nginx), WRK (wrk), KEEP_TMP=1.
set -uo pipefail
# shellcheck source=SCRIPTDIR/../lib.sh
. "$(dirname "$0")/../lib.sh"

usage() { echo "usage: $0 BUILDDIR" >&2; exit 2; }
[ $# -eq 1 ] || usage

duration=${DURATION:-3s}
connections=${CONNECTIONS:-32}
rounds=${ROUNDS:-9}
warmup=${WARMUP:-2s}
routes=${ROUTES:-50}
rules=${RULES:-4}
scale_routes=${SCALE_ROUTES:-1000}
scale_rules=${SCALE_RULES:-10}
nginx=${NGINX:-/usr/sbin/nginx}
wrk=${WRK:-wrk}
here=$(cd "$(dirname "$0")" && pwd)

die() { echo "bench/gateway: $*" >&2; exit 1; }

builddir=$(cd "$1" 2>/dev/null && pwd) || die "no build directory $1"
module=$builddir/host/nginx/ngx_http_gwf_module.so
gwf=$builddir/host/cli/gwf
[ -f "$module" ] || die "$module is missing (meson setup -Dnginx=enabled)"
[ -x "$gwf" ] || die "$gwf is missing"
[ -x "$nginx" ] || die "$nginx is not installed"
command -v "$wrk" >/dev/null || die "wrk is not installed"
command -v curl >/dev/null || die "curl is not installed"

bench_pin_cores

tmp=$(mktemp -d "${TMPDIR:-/tmp}/gwf-bench-gateway.XXXXXX") ||
    die "mktemp failed"
master=
cleanup() {
    bench_nginx_stop "$master"
    bench_remove_tmp "$tmp" bench/gateway
}
trap cleanup EXIT
mkdir -p "$tmp/logs" "$tmp/temp" "$tmp/render" "$tmp/manifests"

native_port=$(bench_free_port)
gateway_port=$(bench_free_port "$native_port")
upstream_port=$(bench_free_port "$native_port" "$gateway_port")

# manifests DIR NROUTES NRULES PORT: a Gateway on PORT, a Service with
# an EndpointSlice for the upstream, and NROUTES HTTPRoutes of NRULES
# PathPrefix rules (/rN/sM), plus NROUTES more whose rules also need a
# header, a query parameter and a method (/hN/sM).
manifests() {
    python3 "$here/manifests.py" "$@" "$upstream_port" ||
        die "could not write the manifests"
}

# render DIR OUT: gwf gateway render --http-include of DIR into OUT.
render() {
    "$gwf" gateway render -f "$1" -o "$2" --http-include --module "$module" \
        >"$tmp/render.out" 2>&1 ||
        die "gwf gateway render failed:"$'\n'"$(cat "$tmp/render.out")"
}

# native_locations NROUTES NRULES: the hand-written equivalent.
native_locations() {
    local n m
    for n in $(seq 0 $(($1 - 1))); do
        for m in $(seq 0 $(($2 - 1))); do
            printf '        location /r%d/s%d/ { proxy_pass http://bench_up; }\n' \
                "$n" "$m"
            printf '        location = /r%d/s%d { proxy_pass http://bench_up; }\n' \
                "$n" "$m"
        done
    done
}

# write_conf RENDERED_DIR NROUTES NRULES
write_conf() {
    local include=
    [ -n "$1" ] && include="    include $1/*.conf;"
    {
        bench_nginx_conf_head
        cat <<CONF
    upstream bench_up {
        server 127.0.0.1:$upstream_port;
        keepalive 64;
    }
    server {
        listen 127.0.0.1:$upstream_port;
        location / { return 200 "ok"; }
    }
    server {
        listen 127.0.0.1:$native_port;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_set_header Host \$http_host;
CONF
        native_locations "$2" "$3"
        echo "    }"
        echo "$include"
        echo "}"
    } >"$tmp/nginx.conf"
}

manifests "$tmp/manifests" "$routes" "$rules" "$gateway_port"
render "$tmp/manifests" "$tmp/render"
write_conf "$tmp/render" "$routes" "$rules"
bench_nginx_start

mid_route=$((routes / 2))
mid_rule=$((rules / 2))
native_url=http://127.0.0.1:$native_port/r$mid_route/s$mid_rule/x
gateway_url=http://127.0.0.1:$gateway_port/r$mid_route/s$mid_rule/x
header_url="http://127.0.0.1:$gateway_port/h$mid_route/s$mid_rule/x?debug=1"
bench_wait_url "$native_url"
for url in "$native_url" "$gateway_url"; do
    got=$(curl -fsS "$url") || die "GET $url failed"
    [ "$got" = ok ] || die "GET $url answered '$got', expected 'ok'"
done
got=$(curl -fsS -H 'x-env: canary' "$header_url") ||
    die "GET $header_url with x-env: canary failed"
[ "$got" = ok ] || die "GET $header_url answered '$got'"
code=$(curl -s -o /dev/null -w '%{http_code}' "$header_url")
[ "$code" = 404 ] || die "GET $header_url without the header answered $code"

# wrk's Lua: the header-match side sends the header.
printf 'wrk.headers["x-env"] = "canary"\n' >"$tmp/header.lua"

run() {
    local out rps
    out=$("${pin_wrk[@]}" "$wrk" -t1 -c"$connections" -d"$2" $3 "$1" 2>&1) ||
        die "wrk failed on $1: $out"
    if grep -q 'Non-2xx\|Socket errors' <<<"$out"; then
        die "wrk on $1 saw errors:"$'\n'"$out"
    fi
    rps=$(awk '/^Requests\/sec:/ { print $2 }' <<<"$out")
    [ -n "$rps" ] || die "no Requests/sec from wrk on $1"
    echo "${rps%.*}"
}

echo "bench/gateway: nginx $("$nginx" -v 2>&1 | sed 's|.*/||'), 1 worker" \
    "${pin_nginx[*]:+(${pin_nginx[*]})}, wrk -t1 -c$connections" \
    "-d$duration, $rounds rounds, median; $routes routes x $rules rules" >&2
bench_pair path-only "$native_url" native-locations "" "$gateway_url" \
    gwf-httproutes "" 0.95 || exit 1
bench_pair header-matches "$gateway_url" path-only-route "-s $tmp/header.lua" \
    "$header_url" header+query+method-route "-s $tmp/header.lua" 0.9 || exit 1
if grep -q '\[alert\]\|\[crit\]\|\[emerg\]' "$tmp/logs/error.log"; then
    die "nginx logged problems:"$'\n'"$(grep '\[alert\]\|\[crit\]\|\[emerg\]' "$tmp/logs/error.log" | head)"
fi
bench_nginx_stop "$master"
master=

# -- Scale: SCALE_ROUTES x SCALE_RULES ---------------------------------------

rss_kib() { # the VmRSS of the master and its workers, in KiB
    local pid total=0 kb
    for pid in "$1" $(pgrep -P "$1"); do
        kb=$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status" 2>/dev/null)
        total=$((total + ${kb:-0}))
    done
    echo "$total"
}

now_ms() { date +%s%3N; }

rm -rf "$tmp/manifests" "$tmp/render"
mkdir -p "$tmp/manifests" "$tmp/render"
manifests "$tmp/manifests" "$scale_routes" "$scale_rules" "$gateway_port"
best=
for _ in 1 2 3; do
    rm -rf "$tmp/render"
    t0=$(now_ms)
    render "$tmp/manifests" "$tmp/render"
    t=$(($(now_ms) - t0))
    [ -z "$best" ] || [ "$t" -lt "$best" ] && best=$t
done
verdict=PASS
[ "$best" -lt 1000 ] || verdict=MISS
echo "render: $scale_routes HTTPRoutes x $scale_rules rules (x2: path-only" \
    "and header-matching) in $best ms (target < 1000 ms) $verdict"
bench_report "render ${scale_routes}x$scale_rules" "" "" "gwf gateway render" \
    "$best ms" "" "< 1000 ms" "$verdict"

# Memory: the hand-written equivalent first, then the rendered routes.
write_conf "" "$scale_routes" "$scale_rules"
bench_nginx_start
bench_wait_url "http://127.0.0.1:$native_port/r0/s0/x"
native_rss=$(rss_kib "$master")
bench_nginx_stop "$master"
master=
write_conf "$tmp/render" 0 0
bench_nginx_start
bench_wait_url "http://127.0.0.1:$gateway_port/r0/s0/x"
gateway_rss=$(rss_kib "$master")
echo "memory: nginx master+worker VmRSS with the hand-written locations" \
    "$((native_rss / 1024)) MiB, with the rendered routes" \
    "$((gateway_rss / 1024)) MiB (ratio $(bench_ratio "$gateway_rss" "$native_rss"))"
bench_report "nginx memory ${scale_routes}x$scale_rules" hand-written \
    "$((native_rss / 1024)) MiB" rendered "$((gateway_rss / 1024)) MiB" \
    "$(bench_ratio "$gateway_rss" "$native_rss")" "" ""

# Reload: one more route, rendered, reloaded, timed to its first answer.
new_url=http://127.0.0.1:$gateway_port/new-route/x
code=$(curl -s -o /dev/null -w '%{http_code}' "$new_url")
[ "$code" = 404 ] || die "GET $new_url answered $code before the reload"
python3 "$here/manifests.py" --extra "$tmp/manifests" "$upstream_port" ||
    die "could not add the new route"
render "$tmp/manifests" "$tmp/render"
bench_nginx_test
# SIGHUP to the master, as `gwf gateway run` reloads (`nginx -s reload`
# would first parse the whole configuration once more itself).
t0=$(now_ms)
kill -HUP "$master" || die "could not signal nginx"
reloaded=
for _ in $(seq 1000); do
    code=$(curl -s -o /dev/null -w '%{http_code}' "$new_url")
    if [ "$code" = 200 ]; then
        reloaded=$(($(now_ms) - t0))
        break
    fi
    sleep 0.01
done
[ -n "$reloaded" ] || die "the new route never answered after the reload"
verdict=PASS
[ "$reloaded" -lt 2000 ] || verdict=MISS
echo "reload: new route answering $reloaded ms after SIGHUP" \
    "(target < 2000 ms) $verdict"
bench_report "reload ${scale_routes}x$scale_rules" "" "" "SIGHUP to new route" \
    "$reloaded ms" "" "< 2000 ms" "$verdict"
if grep -q '\[alert\]\|\[crit\]\|\[emerg\]\|exited on signal' \
    "$tmp/logs/error.log"; then
    die "nginx logged problems:"$'\n'"$(grep '\[alert\]\|\[crit\]\|\[emerg\]\|exited on signal' "$tmp/logs/error.log" | head)"
fi
