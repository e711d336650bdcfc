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
#                   in requests/s, >= 0.98 in worker CPU per request
#   proxy+noop      proxy_pass to a local upstream (a second server block in
#                   the same nginx, answering `return 200 "ok"`, reached
#                   through an upstream keepalive pool) against the same
#                   proxy_pass with a gwf chain of one no-op plugin
#                   (bench/noop.so, a GatewayExtension with
#                   spec.plugin.name: noop); target >= 0.97 (both)
#
# Worker memory over 1,000,000 requests through each plugin is
# bench/memory/run.sh's.
#
# Each pair runs interleaved (baseline, gwf, baseline, gwf, ...) after a
# warm-up of both, and the median of the rounds' ratios gives the ratio.
# A second line gives the nginx worker's CPU time per request on each side
# and the ratio it implies: for a tiny local reply wrk's core is often the
# bottleneck, and then requests/s hide gwf's cost while CPU/request shows
# it. That figure is taken side by side: a second nginx from the same
# configuration (bench_nginx_twin) serves one side while the first
# serves the other, both workers on one core, for the same seconds
# (bench_cpu_pair, bench/lib.sh). Each run also measures the user CPU that other processes took
# meanwhile ("other user load", in % of a core; a lower bound); a median
# of 10% or more prints a warning, since requests/s then say more about
# the neighbours than about gwf.
# A ratio under target prints MISS instead of PASS: this is a benchmark,
# not a test, so the exit status is 0 unless something failed to run
# (nginx did not start, wrk failed, a response was not 2xx).
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
    bench_nginx_stop "${master_b:-}"
    bench_remove_tmp "$tmp" bench/nginx
}
trap cleanup EXIT
trap 'exit 1' INT TERM

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

# run PATH DURATION: one wrk run (bench_wrk_cpu): "requests/s
# worker-ns/request other-load-%".
run() { bench_wrk_cpu "$(worker_pid)" "$base$1" "$2" 0; }

# run_side PATH PATH-ON-TWIN DURATION: the two at once, for the CPU rows
# (bench_wrk_side).
bench_nginx_twin /native
run_side() {
    bench_wrk_side "$(worker_pid)" "$base$1" "$(pgrep -P "$master_b" | head -1)" \
        "$base_b$2" "$3" 0
}

# pair LABEL BASEPATH BASENAME GWFPATH TARGET CPUTARGET: requests/s and
# the worker's CPU time per request (bench_cpu_pair).
pair() { bench_cpu_pair "$1" "$2" "$3" "$4" gwf "$5" "$6"; }

echo "bench/nginx: nginx $("$nginx" -v 2>&1 | sed 's|.*/||'), 1 worker" \
    "${pin_nginx[*]:+(${pin_nginx[*]})}, wrk -t1 -c$connections -d$duration" \
    "${pin_wrk[*]:+(${pin_wrk[*]})}, $rounds rounds, median" >&2

pair directresponse /native native /gwf 0.95 0.98 || exit 1
pair proxy+noop /plain plain /noop 0.97 0.97 || exit 1

exit 0
